"""``make run`` and ``make test`` never write into ``notebooks/`` or ``data/``.

The source notebooks and the bundled assets are only ever read; everything the series writes goes
below ``mlm_tutorial.paths.build_dir()``. These tests take a digest of both trees (every file's
relative path and SHA-256, every folder's name), run what writes (the notebook runner behind
``make run``, ``paths.record_metrics``, ``training.save_model``, ``training.CheckpointKeeper``) with
the build folder pointed at a temporary folder, and check that the digest is unchanged and that the
outputs landed in the build folder.

A test can only see what happened before it runs. :data:`AT_COLLECTION` is the digest taken when
pytest imports this module, which is during collection, before any test of the session runs; the
last test compares against it, and against the session-start snapshot that the root conftest
provides as the ``source_tree_snapshot`` fixture. Changes made by tests that run
later (the nbval checks of the notebooks run after ``tests/``) need a check at session end in conftest.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlm_tutorial.paths import BUILD_ENV, project_root, tree_changes, tree_digest

WATCHED = ("notebooks", "data")
WATCHED_TEXT = " or ".join(f"{name}/" for name in WATCHED)
NOTEBOOK = "01"  # the notebook the runner test executes (the quickest one)


def assert_unchanged(before: dict[str, str], after: dict[str, str], what: str) -> None:
    diff = tree_changes(before, after)
    assert not diff, f"{what} wrote into {WATCHED_TEXT}:\n" + "\n".join(diff)


#: Taken at import, i.e. while pytest collects, before any test of the session has run.
AT_COLLECTION = tree_digest()


# --------------------------------------------------------------------------- the digest itself


def test_the_digest_sees_names_contents_and_folders(tmp_path: Path) -> None:
    (tmp_path / "data" / "news").mkdir(parents=True)
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "data" / "news" / "train.csv").write_text("text,label\n", encoding="utf-8")
    (tmp_path / "notebooks" / "01_x.ipynb").write_text("{}", encoding="utf-8")
    (tmp_path / "elsewhere.txt").write_text("not watched", encoding="utf-8")
    start = tree_digest(tmp_path)
    assert set(start) == {"data", "data/news", "data/news/train.csv", "notebooks", "notebooks/01_x.ipynb"}

    (tmp_path / "elsewhere.txt").write_text("changed, but outside the watched folders", encoding="utf-8")
    assert tree_changes(start, tree_digest(tmp_path)) == []

    (tmp_path / "notebooks" / "01_x.ipynb").write_text('{"cells": []}', encoding="utf-8")
    assert tree_changes(start, tree_digest(tmp_path)) == ["changed notebooks/01_x.ipynb"]

    (tmp_path / "notebooks" / "01_x.ipynb").write_text("{}", encoding="utf-8")
    (tmp_path / "notebooks" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "data" / "news" / "train.csv").rename(tmp_path / "data" / "news" / "train_old.csv")
    assert tree_changes(start, tree_digest(tmp_path)) == [
        "added   data/news/train_old.csv",
        "added   notebooks/.ipynb_checkpoints",
        "removed data/news/train.csv",
    ]


def test_the_digest_sees_an_edit_that_keeps_the_size(tmp_path: Path) -> None:
    (tmp_path / "data" / "news").mkdir(parents=True)
    csv = tmp_path / "data" / "news" / "train.csv"
    csv.write_text("text,label\nan article,0\n", encoding="utf-8")
    before = tree_digest(tmp_path, folders=("data",))
    csv.write_text("text,label\nan article,4\n", encoding="utf-8")  # same length, another label
    assert tree_changes(before, tree_digest(tmp_path, folders=("data",))) == ["changed data/news/train.csv"]


def test_the_digest_sees_an_edit_past_the_first_mebibyte(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    weights = tmp_path / "data" / "tf_model.h5"
    weights.write_bytes(bytes(3 << 20))
    before = tree_digest(tmp_path, folders=("data",))
    with weights.open("r+b") as handle:
        handle.seek((3 << 20) - 1)
        handle.write(b"\x01")
    assert tree_changes(before, tree_digest(tmp_path, folders=("data",))) == ["changed data/tf_model.h5"]


@pytest.mark.skipif(os.name != "posix", reason="symbolic links need extra rights on Windows")
def test_the_digest_sees_where_a_link_points_even_when_nothing_is_there(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    link = tmp_path / "data" / "models"
    link.symlink_to("nowhere")  # dangling: nothing to read, but the link itself is part of the tree
    before = tree_digest(tmp_path, folders=("data",))
    assert before["data/models"] == "<link to nowhere>"
    link.unlink()
    link.symlink_to("elsewhere")
    assert tree_changes(before, tree_digest(tmp_path, folders=("data",))) == ["changed data/models"]


# --------------------------------------------------------------------------- what `make run` does


def test_the_notebook_runner_writes_only_into_the_build_folder(tmp_path: Path) -> None:
    import nbformat

    from mlm_tutorial.notebook_tools import SOLUTION_TAG

    root = project_root()
    build = tmp_path / "build"
    before = tree_digest(root)
    env = {
        **os.environ,
        BUILD_ENV: str(build),
        "HF_HUB_OFFLINE": "1",
        "TF_USE_LEGACY_KERAS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        # as in the Makefile: the venv first on PATH, so the notebook kernel is this interpreter
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "mlm_tutorial.notebook_tools", "run", NOTEBOOK],
        cwd=root, env=env, capture_output=True, text=True, timeout=900,
    )
    assert_unchanged(before, tree_digest(root), "the notebook runner")
    assert done.returncode == 0, f"the runner failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert f"into {build.resolve()}" in done.stdout
    assert "1 ok, 0 failed" in done.stdout

    source = next((root / "notebooks").glob(f"{NOTEBOOK}_*.ipynb"))
    name = source.stem
    outputs = {
        "executed notebook": build / "notebooks" / f"{name}.ipynb",
        "html": build / "html" / f"{name}.html",
        "slides": build / "slides" / f"{name}.slides.html",
        "student copy": build / "student" / f"{name}.ipynb",
    }
    for what, path in outputs.items():
        assert path.is_file() and path.stat().st_size > 0, f"no {what} at {path}"

    executed = nbformat.read(str(outputs["executed notebook"]), as_version=4)
    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code), "not every cell was executed"
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert "<html" in outputs["html"].read_text(encoding="utf-8").lower()
    assert "reveal" in outputs["slides"].read_text(encoding="utf-8").lower()

    student = nbformat.read(str(outputs["student copy"]), as_version=4)
    student_code = [cell for cell in student.cells if cell.cell_type == "code"]
    assert all(not cell.outputs for cell in student_code)
    solutions = [cell for cell in student.cells if SOLUTION_TAG in cell.metadata.get("tags", [])]
    assert solutions, "notebook 01 has solution cells; the student copy must keep them, emptied"
    originals = [cell for cell in executed.cells if SOLUTION_TAG in cell.metadata.get("tags", [])]
    assert all(s.source != o.source for s, o in zip(solutions, originals))


# --------------------------------------------------------------------------- helpers that write


def test_writing_helpers_write_only_into_the_build_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         mlm_model: Any, bert_tokenizer: Any) -> None:
    import tf_keras

    from mlm_tutorial.paths import build_dir, record_metrics
    from mlm_tutorial.resources import load_mlm_model
    from mlm_tutorial.training import CheckpointKeeper, save_model

    root = project_root()
    build = tmp_path / "build"
    monkeypatch.setenv(BUILD_ENV, str(build))
    before = tree_digest(root)

    metrics = record_metrics("unchanged_trees", {"perplexity": 12.5})
    saved = save_model(mlm_model, bert_tokenizer, build_dir() / "models" / "copy")
    # notebook 04's checkpoints (the shared model is only saved here, never trained)
    keeper = CheckpointKeeper(build_dir() / "checkpoints" / "run", mlm_model, tf_keras.optimizers.Adam(),
                              total_steps=2, every=1, verbose=False)
    assert keeper.restore() == 0
    keeper.save()

    assert_unchanged(before, tree_digest(root), "record_metrics, save_model or CheckpointKeeper")
    assert keeper.latest_step() == 0
    assert (build / "checkpoints" / "run" / "checkpoint").is_file()
    assert metrics == build.resolve() / "metrics.json" and metrics.is_file()
    assert saved == build.resolve() / "models" / "copy"
    assert (saved / "config.json").is_file() and (saved / "tokenizer.json").is_file()
    assert any((saved / name).is_file() for name in ("tf_model.h5", "model.safetensors"))
    # reading the saved model back touches nothing either
    load_mlm_model(str(saved))
    assert_unchanged(before, tree_digest(root), "loading the saved model")


# --------------------------------------------------------------------------- the session so far


def test_nothing_in_the_session_so_far_wrote_into_the_source_trees(source_tree_snapshot: dict[str, str]) -> None:
    now = tree_digest()
    assert_unchanged(AT_COLLECTION, now, "a test that ran before this one")
    assert isinstance(source_tree_snapshot, dict) and source_tree_snapshot, (
        "conftest's source_tree_snapshot must be a non-empty digest")
    assert_unchanged(source_tree_snapshot, now, "a test that ran before this one (session-start snapshot)")
