"""The checks the Makefile runs before it installs .venv/: Python version and free disk space."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import namedtuple
from collections.abc import Callable
from pathlib import Path

import pytest

from mlm_tutorial import preflight

ROOT = Path(__file__).resolve().parents[1]
Usage = namedtuple("Usage", "total used free")


@pytest.mark.parametrize("version", [(3, 10), (3, 11), (3, 12), (3, 13)])
def test_supported_pythons_pass(version):
    assert preflight.python_problem(version) is None


@pytest.mark.parametrize("version", [(3, 9), (3, 14), (2, 7), (4, 0)])
def test_unsupported_python_is_named_with_the_fix(version):
    message = preflight.python_problem(version)
    assert message is not None
    assert f"Python {version[0]}.{version[1]}" in message
    assert "3.10 to 3.13" in message
    assert "PYTHON=" in message
    assert "uv python install 3.13" in message and '$(uv python find 3.13)' in message


def test_supported_range_is_the_one_pyproject_declares():
    # A pattern, not tomllib: the tests run on Python 3.10 too, which has no tomllib.
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    declared = re.search(r'^requires-python = "([^"]+)"$', pyproject, re.M).group(1)
    low_major, low_minor, high_major, high_minor = map(
        int, re.fullmatch(r">=(\d+)\.(\d+),<(\d+)\.(\d+)", declared).groups()
    )
    assert preflight.OLDEST_PYTHON == (low_major, low_minor)
    # "<3.14" admits 3.13 as the newest minor release
    assert preflight.NEWEST_PYTHON == (high_major, high_minor - 1)


def _supported_pythons() -> list[str]:
    return [f"{preflight.OLDEST_PYTHON[0]}.{minor}"
            for minor in range(preflight.OLDEST_PYTHON[1], preflight.NEWEST_PYTHON[1] + 1)]


def pin_problems(requirements: str, requires_python: Callable[[str], str | None]) -> list[str]:
    """Pins of ``requirements`` whose release does not run on every supported Python.

    ``requires_python(name)`` gives the ``Requires-Python`` of the installed release of a pinned
    package (None: not installed here). A line limited by a ``python_version`` marker is checked on
    the Pythons its marker admits only; a line whose marker excludes this interpreter is skipped, as
    its release is not installed here.
    """
    from packaging.markers import Marker
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    problems = []
    for line in requirements.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        marker: Marker | None = requirement.marker
        if marker is not None and not marker.evaluate():
            continue
        declared = requires_python(requirement.name)
        if declared is None:
            problems.append(f"{requirement.name} is pinned but not installed")
            continue
        wanted = [v for v in _supported_pythons()
                  if marker is None or marker.evaluate({"python_version": v, "python_full_version": f"{v}.0"})]
        refused = [v for v in wanted if f"{v}.0" not in SpecifierSet(declared)]
        if refused:
            problems.append(f"{line}: its release needs Python {declared}, so Python {', '.join(refused)} cannot "
                            "install requirements.txt; pin an older release for those with a python_version marker")
    return problems


def _installed_requires_python(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.distribution(name).metadata.get("Requires-Python") or ""
    except metadata.PackageNotFoundError:
        return None


def test_every_pin_installs_on_every_supported_python():
    """requirements.txt installs on each Python that preflight accepts: a pin whose release needs Python 3.11
    would leave the advertised 3.10 unable to install the stack."""
    assert pin_problems((ROOT / "requirements.txt").read_text(encoding="utf-8"), _installed_requires_python) == []


def test_pin_check_finds_a_release_that_leaves_out_a_supported_python():
    releases = {"hypothesis": ">=3.11", "numpy": ">=3.10"}
    assert pin_problems("numpy==2.2.6\nhypothesis==6.170.15\n", releases.get) == [
        "hypothesis==6.170.15: its release needs Python >=3.11, so Python 3.10 cannot install requirements.txt; "
        "pin an older release for those with a python_version marker"]
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    limited = f'hypothesis==6.170.15; python_version >= "{here}"\n'
    assert pin_problems(limited, lambda name: f">={here}") == []
    assert pin_problems("tensorflow==2.21.0\n", {}.get) == ["tensorflow is pinned but not installed"]


def test_new_venv_needs_more_room_than_an_update(tmp_path):
    new = preflight.space_needs(tmp_path / ".venv", tmp_path / "tmp")
    (tmp_path / ".venv").mkdir()  # a folder an interrupted `python -m venv` left: still a new install
    assert preflight.space_needs(tmp_path / ".venv", tmp_path / "tmp")[tmp_path / ".venv"] == preflight.NEW_VENV_BYTES
    (tmp_path / ".venv" / "bin").mkdir()
    update = preflight.space_needs(tmp_path / ".venv", tmp_path / "tmp")
    assert new[tmp_path / ".venv"] == preflight.NEW_VENV_BYTES
    assert update[tmp_path / ".venv"] == preflight.VENV_UPDATE_BYTES < preflight.NEW_VENV_BYTES
    assert new[tmp_path / "tmp"] == update[tmp_path / "tmp"] == preflight.DOWNLOAD_BYTES


def test_places_on_one_disk_add_up():
    needs = {Path("/a/.venv"): 3 * preflight.GB, Path("/tmp"): 1 * preflight.GB}
    same_disk = lambda path: 1  # noqa: E731
    # 3.5 GB would do for either place alone, not for both together
    problems = preflight.space_problems(needs, lambda path: int(3.5 * preflight.GB), same_disk)
    assert len(problems) == 1
    assert "3.5 GB free" in problems[0] and "4.0 GB needed" in problems[0]
    assert "/a/.venv and /tmp" in problems[0] and "TMPDIR" in problems[0]
    assert preflight.space_problems(needs, lambda path: 4 * preflight.GB, same_disk) == []


def test_places_not_made_yet_are_measured_on_the_disk_of_their_nearest_folder(tmp_path):
    needs = {tmp_path / "a" / "b" / ".venv": 1, tmp_path / "c" / "tmp": 1}  # several levels missing
    assert preflight.space_problems(needs) == []  # the real disk check, on tmp_path's disk
    assert preflight.space_problems({tmp_path / "a" / "b" / ".venv": 1 << 62}) != []


def test_places_on_separate_disks_are_checked_separately():
    needs = {Path("/a/.venv"): 3 * preflight.GB, Path("/tmp"): 1 * preflight.GB}
    disk = {Path("/a/.venv"): 1, Path("/tmp"): 2}
    free = {Path("/a/.venv"): 3 * preflight.GB, Path("/tmp"): preflight.GB // 2}
    problems = preflight.space_problems(needs, free.__getitem__, disk.__getitem__)
    assert len(problems) == 1
    assert "holds /tmp," in problems[0] and "0.5 GB free" in problems[0]


def test_main_fails_with_a_message_when_the_disk_is_full(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda path: Usage(10**12, 10**12 - 10**8, 10**8))
    assert preflight.main(["--venv", str(tmp_path / ".venv")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Not enough free disk space") and "0.1 GB free" in err


def test_main_passes_with_room(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda path: Usage(10**12, 0, 10**12))
    assert preflight.main(["--venv", str(tmp_path / ".venv")]) == 0
    assert capsys.readouterr().err == ""


def test_older_interpreters_can_parse_it():
    # an interpreter too old for the stack must still get as far as printing the message
    source = (ROOT / "src" / "mlm_tutorial" / "preflight.py").read_text(encoding="utf-8")
    ast.parse(source, feature_version=(3, 7))
    with pytest.raises(SyntaxError):  # the check can fail: 3.10's match statement is refused
        ast.parse("match x:\n    case 1:\n        pass\n", feature_version=(3, 7))


def test_runs_by_path_without_the_package_installed(tmp_path):
    # -I: isolated mode, so neither the editable install nor the current folder is on sys.path
    result = subprocess.run(
        [sys.executable, "-I", str(ROOT / "src" / "mlm_tutorial" / "preflight.py"), "--help"],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--venv" in result.stdout


def test_makefile_checks_before_it_creates_the_venv():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("$(VENV)/.installed:", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    assert recipe[0].strip() == "$(PYTHON) src/mlm_tutorial/preflight.py --venv $(VENV)"
    assert recipe[1].strip() == "$(PYTHON) -m venv $(VENV)"
