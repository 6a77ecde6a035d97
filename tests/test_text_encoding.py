"""Text files are read and written as UTF-8, whatever the computer's locale says.

Python 3.10-3.13 open a text file in the locale's encoding unless the call names one: on Windows that is
the ANSI code page (cp1252 in Western Europe and the Americas), under a bare POSIX locale it is ASCII.
README.md and the notebooks hold characters outside ASCII (the titles' "·", "×", "é"), so a read
without ``encoding=`` garbles them there or stops with a UnicodeDecodeError, and a write stores bytes
that are not UTF-8.

1. A scanner reads every Python file of the project and every notebook's code cells and reports each
   text-mode ``open``, ``read_text``, ``write_text`` and temporary file that names no encoding.
   (Pipes to child processes are left alone: parent and child share the locale, so both sides agree.)
2. ``python -m mlm_tutorial.notebook_tools readme`` (``make readme``) runs under an ASCII locale and
   leaves the text of a README that is already up to date as it was.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlm_tutorial.paths import ROOT_ENV
from project_code import NOTEBOOKS, PYTHON_FILES, ROOT, notebook_code

TEXT_FILE_METHODS = {"read_text", "write_text"}
TEMPORARY_FILES = {"tempfile.TemporaryFile", "tempfile.NamedTemporaryFile", "tempfile.SpooledTemporaryFile"}
NOT_FILES = {"os.open", "webbrowser.open"}  # a file descriptor; a web page


def _mode(node: ast.Call, position: int, default: str) -> str | None:
    """The call's mode argument if it is written as a string, the default if absent, else None."""
    for keyword in node.keywords:
        if keyword.arg == "mode":
            value = keyword.value
            return value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else None
    if len(node.args) > position:
        value = node.args[position]
        return value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else None
    return default


def unnamed_encodings(source: str, where: str) -> list[str]:
    """``where:line: code`` for every call in ``source`` that opens a text file without naming its encoding."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source, filename=where)):
        if not isinstance(node, ast.Call) or any(keyword.arg == "encoding" for keyword in node.keywords):
            continue
        function = node.func
        name = ast.unparse(function)
        if isinstance(function, ast.Attribute) and function.attr in TEXT_FILE_METHODS:
            text = True
        elif name in ("open", "io.open"):  # open(file, mode="r")
            text = "b" not in (_mode(node, 1, "r") or "")
        elif isinstance(function, ast.Attribute) and function.attr == "open" and name not in NOT_FILES:
            text = "b" not in (_mode(node, 0, "r") or "")  # Path.open(mode="r")
        elif name in TEMPORARY_FILES:
            text = "b" not in (_mode(node, 0, "w+b") or "")
        else:
            continue
        if text:
            found.append(f"{where}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return found


# --------------------------------------------------------------------------- the scanner finds what it must


MUST_FLAG = [
    "text = path.read_text()",
    "(folder / 'README.md').write_text(table)",
    "handle = open('notes.txt')",
    "handle = open(name, 'a')",
    "handle = open(name, mode='w')",
    "handle = open(name, chosen_mode)",
    "handle = io.open(name)",
    "with path.open() as handle:\n    pass",
    "with path.open('w') as handle:\n    pass",
    "scratch = tempfile.NamedTemporaryFile('w', suffix='.txt')",
    "data = json.load(open('00_setup.ipynb'))",
]

MUST_PASS = [
    "text = path.read_text(encoding='utf-8')",
    "path.write_text(table, encoding='utf-8')",
    "handle = open('notes.txt', encoding='utf-8')",
    "handle = open(name, 'rb')",
    "handle = open(name, mode='wb')",
    "with path.open('rb') as handle:\n    pass",
    "with path.open('w', encoding='utf-8') as handle:\n    pass",
    "blob = path.read_bytes()",
    "scratch = tempfile.TemporaryFile()",
    "descriptor = os.open(name, os.O_RDONLY)",
    "webbrowser.open(url)",
    "print('path.read_text() is how not to do it')",
]


@pytest.mark.parametrize("source", MUST_FLAG)
def test_the_scanner_reports_a_text_file_without_encoding(source: str) -> None:
    assert len(unnamed_encodings(source, "example.py")) == 1, source


@pytest.mark.parametrize("source", MUST_PASS)
def test_the_scanner_accepts_named_encodings_and_binary_files(source: str) -> None:
    assert unnamed_encodings(source, "example.py") == []


# --------------------------------------------------------------------------- the project's code names them


@pytest.mark.parametrize("path", PYTHON_FILES, ids=[p.relative_to(ROOT).as_posix() for p in PYTHON_FILES])
def test_python_file_names_the_encoding_of_every_text_file(path: Path) -> None:
    found = unnamed_encodings(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    assert not found, "text files opened in the locale's encoding; add encoding=\"utf-8\":\n" + "\n".join(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_code_names_the_encoding_of_every_text_file(path: Path) -> None:
    found = [line for where, source in notebook_code(path) for line in unnamed_encodings(source, where)]
    assert not found, "text files opened in the locale's encoding; add encoding=\"utf-8\":\n" + "\n".join(found)


# --------------------------------------------------------------------------- a run under an ASCII locale


def test_make_readme_under_an_ascii_locale_keeps_the_readme_intact(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert not readme.isascii(), "the check needs a README with characters outside ASCII"
    (tmp_path / "data").mkdir()
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns(".*"))
    shutil.copyfile(ROOT / "README.md", tmp_path / "README.md")
    (tmp_path / "benchmarks").mkdir()
    shutil.copyfile(ROOT / "benchmarks" / "reference_run.json", tmp_path / "benchmarks" / "reference_run.json")
    # On Linux, a child Python with this environment opens text files as ASCII.
    env = dict(os.environ, LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0", **{ROOT_ENV: str(tmp_path)})
    if sys.platform.startswith("linux"):  # elsewhere LC_ALL does not choose Python's file encoding
        probe = subprocess.run([sys.executable, "-c", "import locale; print(locale.getpreferredencoding(False))"],
                               capture_output=True, text=True, env=env, timeout=60)
        encoding = probe.stdout.strip()
        assert encoding and "utf" not in encoding.lower(), f"the child opens files as {encoding!r}: {probe.stderr}"

    done = subprocess.run([sys.executable, "-m", "mlm_tutorial.notebook_tools", "readme"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == readme  # line ends aside, as Windows writes them
