"""The checks the Makefile runs before it installs .venv/: Python version and free disk space."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from collections import namedtuple
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


def test_supported_range_is_the_one_pyproject_declares():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    low_major, low_minor, high_major, high_minor = map(
        int, re.fullmatch(r">=(\d+)\.(\d+),<(\d+)\.(\d+)", declared).groups()
    )
    assert preflight.OLDEST_PYTHON == (low_major, low_minor)
    # "<3.14" admits 3.13 as the newest minor release
    assert preflight.NEWEST_PYTHON == (high_major, high_minor - 1)


def test_new_venv_needs_more_room_than_an_update(tmp_path):
    new = preflight.space_needs(tmp_path / ".venv", tmp_path / "tmp")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
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
    source = (ROOT / "src" / "mlm_tutorial" / "preflight.py").read_text()
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
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("$(VENV)/.installed:", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    assert recipe[0].strip() == "$(PYTHON) src/mlm_tutorial/preflight.py --venv $(VENV)"
    assert recipe[1].strip() == "$(PYTHON) -m venv $(VENV)"
