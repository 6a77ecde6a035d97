"""mlm_tutorial.paths: where the data and the build output are."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from mlm_tutorial import paths
from mlm_tutorial.paths import (BUILD_ENV, ROOT_ENV, build_dir, checkout_of, data_dir, display_path, project_root,
                                record_metrics, replace_file, write_text_atomic)


@pytest.fixture
def no_root_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ROOT_ENV, raising=False)


def test_project_root_is_the_checkout(no_root_override: None) -> None:
    root = project_root()
    assert (root / "data" / "news" / "train.csv").is_file()
    assert (root / "src" / "mlm_tutorial" / "paths.py").is_file()
    assert data_dir() == root / "data"


def test_project_root_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    assert project_root() == tmp_path.resolve()
    assert data_dir() == tmp_path.resolve() / "data"


def test_project_root_env_without_data_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"MLM_TUTORIAL_ROOT=.*has no data/ folder"):
        project_root()


def test_display_path_is_relative_inside_the_checkout(no_root_override: None) -> None:
    root = project_root()
    assert display_path(root / "data" / "models" / "bert-mini-news") == "data/models/bert-mini-news"
    assert display_path(str(root / "build" / ".." / "data" / "news")) == "data/news"
    assert display_path(root) == "."


def test_display_path_is_absolute_outside_the_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "checkout" / "data").mkdir(parents=True)
    monkeypatch.setenv(ROOT_ENV, str(tmp_path / "checkout"))
    outside = tmp_path / "elsewhere" / "metrics.json"
    assert display_path(outside) == str(outside.resolve())
    assert display_path(tmp_path / "checkout" / "build" / "metrics.json") == "build/metrics.json"


def test_display_path_rejects_non_paths() -> None:
    with pytest.raises(TypeError, match="path must be a file path, got int"):
        display_path(3)  # type: ignore[arg-type]


def test_session_builds_into_a_temporary_folder() -> None:
    """conftest.py points the build folder away from the checkout for the whole session."""
    assert os.environ.get(BUILD_ENV)
    out = build_dir(create=False)
    assert out == Path(os.environ[BUILD_ENV]).resolve()
    assert project_root() not in out.parents


def test_started_processes_leave_their_temporary_files_in_the_session(tmp_path: Path) -> None:
    """A process the tests start and end abruptly, as nbval ends a kernel, litters only the session.

    The child runs a ``tf.function`` (autograph writes its generated code to a temporary file and
    removes it only in an exit handler) and ends with ``os._exit``, which skips the exit handlers.
    conftest.py points ``TMPDIR`` at a folder of the session, so the file must be there and not in
    the temporary folder this process uses.
    """
    import subprocess
    import sys
    import tempfile

    session_tmp = Path(os.environ["TMPDIR"])
    assert session_tmp.resolve() != Path(tempfile.gettempdir()).resolve()
    pattern = "__autograph_generated_file*.py"
    before = set(session_tmp.glob(pattern)), set(Path(tempfile.gettempdir()).glob(pattern))
    script = tmp_path / "child.py"  # autograph reads the function's source, so it must be in a file
    script.write_text(
        "import os\n"
        "import tensorflow as tf\n"
        "\n"
        "@tf.function\n"
        "def twice_or_negate(x):\n"
        "    return x * 2 if x > 0 else -x\n"
        "\n"
        "print(int(twice_or_negate(tf.constant(3))), flush=True)\n"
        "os._exit(0)\n"
    , encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "6\n"
    def the_childs(files: set[Path]) -> set[Path]:  # other TensorFlow processes on the machine may add files too
        return {path for path in files if "twice_or_negate" in path.read_text(encoding="utf-8", errors="replace")}

    left_here = the_childs(set(session_tmp.glob(pattern)) - before[0])
    left_in_system = the_childs(set(Path(tempfile.gettempdir()).glob(pattern)) - before[1])
    assert left_here, "the child's autograph file should be in the session's TMPDIR"
    assert not left_in_system, f"left in the system's temporary folder: {sorted(left_in_system)}"


def test_build_dir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "out"
    monkeypatch.setenv(BUILD_ENV, str(target))
    assert build_dir() == target.resolve()
    assert target.is_dir()


def test_build_dir_create_false_does_not_create(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "not-yet"
    monkeypatch.setenv(BUILD_ENV, str(target))
    assert build_dir(create=False) == target.resolve()
    assert not target.exists()


def test_build_dir_defaults_to_root_build(monkeypatch: pytest.MonkeyPatch, no_root_override: None) -> None:
    monkeypatch.delenv(BUILD_ENV)
    assert build_dir(create=False) == project_root() / "build"


def test_a_relative_build_dir_counts_from_the_checkout(monkeypatch: pytest.MonkeyPatch, no_root_override: None,
                                                      tmp_path: Path) -> None:
    monkeypatch.setenv(BUILD_ENV, "out-of-tests")
    monkeypatch.chdir(tmp_path)  # a kernel runs in notebooks/, make in the checkout: both must get one folder
    assert build_dir(create=False) == project_root() / "out-of-tests"
    assert not (project_root() / "out-of-tests").exists()


@pytest.mark.parametrize("value, words", [(".", "holds data/"), ("notebooks/out", "inside notebooks/"),
                                          ("data", "inside data/"), ("src", "inside src/"),
                                          ("tests/out", "inside tests/"), (".git", "inside .git/"),
                                          ("benchmarks", "inside benchmarks/")])
def test_build_dir_refuses_the_source_folders(monkeypatch: pytest.MonkeyPatch, no_root_override: None,
                                              value: str, words: str) -> None:
    monkeypatch.setenv(BUILD_ENV, value)
    with pytest.raises(ValueError, match=re.escape(words)):
        build_dir(create=False)
    assert not (project_root() / "notebooks" / "out").exists()


def test_metrics_and_results_are_never_written_into_the_sources(no_root_override: None) -> None:
    for folder in (data_dir(), project_root() / "notebooks"):
        with pytest.raises(ValueError, match=f"inside {folder.name}/, which the series never writes to"):
            record_metrics("nb04", {"x": 1}, path=folder / "metrics.json")
        assert not (folder / "metrics.json").exists()


def test_record_metrics_writes_below_build_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(BUILD_ENV, str(tmp_path))
    target = record_metrics("nb04", {"perplexity_before": 12.5})
    assert target == tmp_path.resolve() / "metrics.json"
    assert json.loads(target.read_text(encoding="utf-8")) == {"nb04": {"perplexity_before": 12.5}}


def test_record_metrics_merges_sections(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    record_metrics("nb03", {"masked": 0.15}, path=target)
    record_metrics("nb04", {"perplexity": 40.0}, path=target)
    record_metrics("nb04", {"perplexity": 30.0, "accuracy": 0.2}, path=target)
    assert json.loads(target.read_text(encoding="utf-8")) == {
        "nb03": {"masked": 0.15},
        "nb04": {"perplexity": 30.0, "accuracy": 0.2},  # a section is replaced as a whole
    }
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary file left behind


def test_record_metrics_accepts_a_string_path(tmp_path: Path) -> None:
    target = record_metrics("s", {"x": 1}, path=str(tmp_path / "m.json"))
    assert target == tmp_path / "m.json"
    assert json.loads(target.read_text(encoding="utf-8")) == {"s": {"x": 1}}


@pytest.mark.parametrize("old", [b"{not json", b"[1, 2]", b"\xff\xfe\x00 not utf-8"])
def test_record_metrics_sets_an_unreadable_file_aside(tmp_path: Path, old: bytes,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "metrics.json"
    target.write_bytes(old)
    record_metrics("nb04", {"loss": 1.0}, path=target)
    assert json.loads(target.read_text(encoding="utf-8")) == {"nb04": {"loss": 1.0}}
    assert (tmp_path / "metrics.json.unreadable-1").read_bytes() == old  # kept, not overwritten
    assert "moved it to metrics.json.unreadable-1" in capsys.readouterr().out
    target.write_bytes(old)
    record_metrics("nb04", {"loss": 2.0}, path=target)
    assert (tmp_path / "metrics.json.unreadable-2").read_bytes() == old


def _own_checkout(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout of its own in ``root`` (data/, notebooks/, README.md), made the project's: a regression in the
    tests below would harm this copy, not the real checkout. Returns its README."""
    for folder in ("data", "notebooks"):
        (root / folder).mkdir()
    readme = root / "README.md"
    readme.write_text("# The series\n", encoding="utf-8")
    monkeypatch.setenv(ROOT_ENV, str(root))
    return readme


def test_files_in_the_checkout_are_written_only_below_its_build_folder(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    _own_checkout(tmp_path, monkeypatch)
    monkeypatch.delenv(BUILD_ENV, raising=False)
    readme = project_root() / "README.md"
    before = readme.read_bytes()
    for target in (readme, project_root() / "metrics.json"):
        with pytest.raises(ValueError, match="inside the checkout but not in its build folder"):
            record_metrics("x", {"a": 1}, path=target)
    assert readme.read_bytes() == before and not (project_root() / "metrics.json").exists()


def test_a_build_folder_of_ones_own_inside_the_checkout_is_the_one_place_written(monkeypatch: pytest.MonkeyPatch,
                                                                                tmp_path: Path) -> None:
    readme = _own_checkout(tmp_path, monkeypatch)
    monkeypatch.setenv(BUILD_ENV, "out")  # relative: counted from the checkout
    (tmp_path / "out").mkdir()
    (tmp_path / "build").mkdir()
    assert write_text_atomic(tmp_path / "out" / "run.json", "{}\n").read_text(encoding="utf-8") == "{}\n"
    for target in (readme, tmp_path / "build" / "run.json", tmp_path / "run.json"):  # build/ is not the build folder now
        with pytest.raises(ValueError, match="inside the checkout but not in its build folder"):
            write_text_atomic(target, "x")
    assert readme.read_text(encoding="utf-8") == "# The series\n"
    assert sorted(p.name for p in tmp_path.rglob("*.json")) == ["run.json"]


def test_a_path_under_home_is_written_where_it_was_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)  # a folder named "~" here must not receive the file
    assert record_metrics("s", {"a": 1}, path="~/m.json") == home / "m.json"
    assert json.loads((home / "m.json").read_text(encoding="utf-8")) == {"s": {"a": 1}}
    assert write_text_atomic(Path("~/w.txt"), "w") == home / "w.txt"
    assert replace_file(Path("~/r.txt"), "r") == home / "r.txt"
    assert (home / "w.txt").read_text(encoding="utf-8") == "w" and (home / "r.txt").read_text(encoding="utf-8") == "r"
    assert list(work.iterdir()) == []


@pytest.mark.parametrize("value", ["", "   "])
def test_a_blank_build_setting_counts_as_unset(monkeypatch: pytest.MonkeyPatch, no_root_override: None,
                                               value: str) -> None:
    monkeypatch.setenv(BUILD_ENV, value)
    assert build_dir(create=False) == project_root() / "build"


def test_build_dir_refuses_a_file_an_unwritable_folder_and_an_unknown_home(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    monkeypatch.setenv(BUILD_ENV, str(tmp_path / "a-file"))
    with pytest.raises(ValueError, match="which is a file"):
        build_dir()
    monkeypatch.setenv(BUILD_ENV, "~no-such-user-here/out")
    with pytest.raises(ValueError, match="~no-such-user-here/out.*Write the folder's path out in full"):
        build_dir()
    monkeypatch.setenv(BUILD_ENV, str(tmp_path / "locked"))
    monkeypatch.setattr(paths.os, "access", lambda path, mode: False)  # as for a folder without write permission
    with pytest.raises(ValueError, match="locked cannot be written to.*MLM_TUTORIAL_BUILD"):
        build_dir()


def test_a_relative_root_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ROOT_ENV, ".")
    with pytest.raises(ValueError, match="relative path.*absolute path"):
        project_root()


def test_record_metrics_from_two_writers_at_once_leaves_a_whole_file(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    """A second kernel writes while the first is between writing its temporary file and renaming it."""
    target = tmp_path / "metrics.json"
    replace = os.replace
    interrupted = []

    def replace_after_another_write(src: object, dst: object) -> None:
        if not interrupted:
            interrupted.append(True)
            record_metrics("second", {"x": 2}, path=target)  # the other kernel, in between
        replace(src, dst)

    monkeypatch.setattr(paths.os, "replace", replace_after_another_write)
    record_metrics("first", {"x": 1}, path=target)
    assert json.loads(target.read_text(encoding="utf-8")) == {"first": {"x": 1}}  # the last complete write
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_record_metrics_crash_keeps_the_old_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    record_metrics("nb03", {"masked": 0.15}, path=target)
    before = target.read_text(encoding="utf-8")

    def crash(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(paths.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        record_metrics("nb04", {"perplexity": 30.0}, path=target)
    assert target.read_text(encoding="utf-8") == before
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_record_metrics_unserializable_values_keep_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    record_metrics("nb03", {"masked": 0.15}, path=target)
    before = target.read_text(encoding="utf-8")
    with pytest.raises(TypeError):
        record_metrics("nb04", {"ids": {1, 2}}, path=target)
    assert target.read_text(encoding="utf-8") == before


@pytest.mark.parametrize(
    ("section", "values", "error", "match"),
    [
        ("", {"a": 1}, ValueError, "section must be a non-empty string"),
        (None, {"a": 1}, ValueError, "section must be a non-empty string"),
        ("nb04", [("a", 1)], TypeError, "values must be a dict, got list"),
    ],
)
def test_record_metrics_validates(tmp_path: Path, section: object, values: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        record_metrics(section, values, path=tmp_path / "m.json")  # type: ignore[arg-type]
    assert not (tmp_path / "m.json").exists()


def test_record_metrics_rejects_a_bad_path(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="path must be a file path or None, got int"):
        record_metrics("s", {"x": 1}, path=3)  # type: ignore[arg-type]


def test_a_copy_installed_away_from_the_checkout_says_how_to_install(tmp_path: Path) -> None:
    """``pip install .`` copies the package into site-packages, where no data/ folder is: say so, not later
    that a tokenizer folder below site-packages is empty."""
    module = tmp_path / "lib" / "python3.11" / "site-packages" / "mlm_tutorial" / "paths.py"
    module.parent.mkdir(parents=True)
    module.write_text("", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match=r"not inside a checkout.*pip install --no-deps -e \.") as error:
        checkout_of(module)
    assert str(module.parent) in str(error.value) and ROOT_ENV in str(error.value)
    checkout = tmp_path / "series"
    (checkout / "data").mkdir(parents=True)
    (checkout / "src" / "mlm_tutorial").mkdir(parents=True)
    assert checkout_of(checkout / "src" / "mlm_tutorial" / "paths.py") == checkout.resolve()


def test_replace_file_leaves_the_old_file_whole_when_the_write_fails(tmp_path: Path) -> None:
    target = tmp_path / "README.md"
    target.write_text("old text\n", encoding="utf-8")
    target.chmod(0o640)
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate has no UTF-8 form: the write stops halfway
        replace_file(target, "new text, then \ud800 that cannot be written\n")
    assert target.read_text(encoding="utf-8") == "old text\n"
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]  # no temporary file left behind
    replace_file(target, "new text\n")
    assert target.read_text(encoding="utf-8") == "new text\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]
