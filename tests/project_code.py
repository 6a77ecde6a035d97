"""The project's own Python code, for the tests that read it as source rather than run it.

``package_files()`` lists the package's modules; ``python_files()`` adds the benchmarks, the tools, the
tests and conftest.py; ``notebook_code(path)`` gives a notebook's code cells as plain Python. The security
scan (test_security.py), the text-encoding scan (test_text_encoding.py), the docstring checks
(test_docstrings.py) and the README checks (test_lecture_material.py) read the files through them.
``output_text(output)`` and ``output_html(output)`` are what a notebook output shows as plain text and as
HTML, for the tests that read outputs; ``heading_index(notebook, heading)`` finds a ``## `` section and
``CHECK_CALL`` an exercise checker's call, for the tests that read a notebook's exercises
(test_lecture_material.py, test_student_copies.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mlm_tutorial.paths import project_root

ROOT = project_root()
PACKAGE = ROOT / "src" / "mlm_tutorial"


def package_files() -> list[Path]:
    """Every module of mlm_tutorial, its exercises included, in a fixed order."""
    return sorted(PACKAGE.rglob("*.py"))


def python_files() -> list[Path]:
    """Every Python file the project wrote, in a fixed order."""
    files = [*package_files(), *sorted((ROOT / "benchmarks").glob("*.py")),
             *sorted((ROOT / "tools").rglob("*.py")), *sorted((ROOT / "tests").glob("*.py")), ROOT / "conftest.py"]
    return [path for path in files if path.is_file()]


def notebook_code(path: Path) -> list[tuple[str, str]]:
    """``(where, python source)`` per code cell, with IPython magics turned into plain Python."""
    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    notebook = nbformat.read(str(path), as_version=4)
    transform = TransformerManager().transform_cell
    return [(f"{path.name} cell {index}", transform(cell.source))
            for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]


def output_text(output: Any) -> str:
    """A cell output's plain text: a stream's text, or the ``text/plain`` copy of a result or display."""
    if output.get("output_type") == "stream":
        return str(output.get("text", ""))
    return str(output.get("data", {}).get("text/plain", ""))


def output_html(output: Any) -> str:
    """A cell output's ``text/html`` copy, or "" when it has none (a stream, a plain result)."""
    return str(output.get("data", {}).get("text/html", ""))


CHECK_CALL = re.compile(r"\b(check_\w+)\(")
"""A call of an exercise checker, ``check_...(``; group 1 is the checker's name."""


def heading_index(notebook: Any, heading: str) -> int | None:
    """Index of the first markdown cell with the line ``## <heading>``, or None when there is none."""
    pattern = re.compile(rf"^##\s+{re.escape(heading)}\s*$", re.M)
    return next((i for i, c in enumerate(notebook.cells) if c.cell_type == "markdown" and pattern.search(c.source)),
                None)


NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PYTHON_FILES = python_files()
