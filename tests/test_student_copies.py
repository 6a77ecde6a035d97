"""A student copy (what `make run` writes to ``build/student/``) runs from top to bottom.

In a student copy every solution cell is empty, so each exercise's check answers "not yet" and the
lesson cells after it must run all the same: no later cell may need what only a solution computes.
The lecture-material checks look for that in the code; these tests run the copies in a kernel, the
way a student who presses "Run all" before solving anything does.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlm_tutorial.notebook_tools import execute, notebook_paths, read_notebook, student_copy
from mlm_tutorial.paths import BUILD_ENV, project_root
from project_code import CHECK_CALL, heading_index, output_text

NOTEBOOKS = notebook_paths(project_root() / "notebooks")
_VERDICT = re.compile(r"^(Exercise \d+\b[^\n]*?): (correct|not yet)$", re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_copy_runs_to_the_end_and_every_exercise_says_not_yet(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BUILD_ENV, str(tmp_path / "build"))  # the kernel inherits it: nothing lands in build/
    copy = student_copy(read_notebook(path))
    start = heading_index(copy, "Exercises")
    assert start is not None, f"{path.name}: the student copy has no '## Exercises' section"
    checks = sum(1 for cell in copy.cells[start:] if cell.cell_type == "code" and CHECK_CALL.search(cell.source))
    assert checks >= 1, f"{path.name}: the student copy has no exercise check"
    executed = execute(copy, cwd=path.parent, kernel_log=tmp_path / "kernel.log")  # raises if a cell fails
    verdicts = _VERDICT.findall("\n".join(output_text(output) for cell in executed.cells
                                          for output in cell.get("outputs", [])))
    assert len(verdicts) == checks, f"{path.name}: {checks} checks, verdicts {verdicts}"
    assert {verdict for _, verdict in verdicts} == {"not yet"}, verdicts
    assert len({exercise for exercise, _ in verdicts}) == checks  # each exercise answers once
