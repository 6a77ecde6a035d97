"""The project's own Python code, for the tests that read it as source rather than run it.

``python_files()`` lists every module of the package, the benchmarks, the tools, the tests and
conftest.py; ``notebook_code(path)`` gives a notebook's code cells as plain Python. The security scan
(test_security.py) and the text-encoding scan (test_text_encoding.py) read the same files through them.
"""

from __future__ import annotations

from pathlib import Path

from mlm_tutorial.paths import project_root

ROOT = project_root()


def python_files() -> list[Path]:
    """Every Python file the project wrote, in a fixed order."""
    files = [*sorted((ROOT / "src" / "mlm_tutorial").rglob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py")),
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


NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PYTHON_FILES = python_files()
