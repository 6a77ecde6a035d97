"""Every public helper says where a learner meets it: the notebook that introduces it, or the command it serves.

A helper that claims "Introduced in notebook NN" must be called in notebook NN's code and in no earlier
notebook's, so the claim stays true when notebooks change.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from mlm_tutorial.notebook_tools import notebook_paths, read_notebook
from mlm_tutorial.paths import project_root
from project_code import NOTEBOOKS, PACKAGE, package_files

PLACE = re.compile(r"\b[Nn]otebooks? \d\d\b|`make (?:run|test|bench|assets|notebooks|readme)`|every notebook")
INTRODUCED = re.compile(r"Introduced in notebook (\d\d)\b")


def public_definitions(path: Path) -> list[tuple[str, str]]:
    """(name, docstring with its lines joined) of every top-level public function and class in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.name, " ".join((ast.get_docstring(node) or "").split())) for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_")]


def notebook_code() -> dict[str, str]:
    """The code cells of each notebook, joined, keyed by the notebook's number ("00", "01", ...)."""
    code = {}
    for path in notebook_paths(project_root() / "notebooks"):
        notebook = read_notebook(path)
        code[path.name[:2]] = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    return code


MODULES = package_files()


def place_problems(definitions: list[tuple[str, str]]) -> list[str]:
    return [f"{name}: its docstring names no notebook ('notebook NN') and no make target"
            for name, doc in definitions if not PLACE.search(doc)]


def introduction_problems(definitions: list[tuple[str, str]], code: dict[str, str]) -> list[str]:
    problems = []
    for name, doc in definitions:
        found = INTRODUCED.search(doc)
        if found is None:
            continue
        number, uses = found.group(1), re.compile(rf"\b{re.escape(name)}\b")
        if number not in code:
            problems.append(f"{name}: introduced in notebook {number}, which does not exist")
            continue
        if not uses.search(code[number]):
            problems.append(f"{name}: introduced in notebook {number}, but that notebook's code never uses it")
        earlier = [n for n in sorted(code) if n < number and uses.search(code[n])]
        if earlier:
            problems.append(f"{name}: introduced in notebook {number}, but notebook {earlier[0]} uses it first")
    return problems


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_every_public_helper_says_where_it_is_used(path: Path) -> None:
    assert place_problems(public_definitions(path)) == []


@pytest.fixture(scope="module")
def code() -> dict[str, str]:
    return notebook_code()  # read once for all modules


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_introduced_in_names_the_first_notebook_that_uses_it(path: Path, code: dict[str, str]) -> None:
    assert introduction_problems(public_definitions(path), code) == []


def test_exercise_checkers_name_their_own_notebook() -> None:
    paths = sorted((PACKAGE / "exercises").glob("nb[0-9][0-9].py"))
    assert len(paths) == len(NOTEBOOKS), "one checker module per notebook"
    for path in paths:
        named = [(name, number) for name, doc in public_definitions(path)
                 for number in re.findall(r"\b[Nn]otebook (\d\d)\b", doc)]
        assert named, f"{path.name}: no docstring names its notebook"
        for name, number in named:
            assert number == path.stem[2:], f"{path.name}: {name} names notebook {number}"


def test_the_checks_catch_what_they_are_for() -> None:
    code = {"00": "x = helper()", "01": "y = later()\nz = helper()"}
    definitions = [("helper", "Does a thing. Introduced in notebook 01."),
                   ("later", "Another. Introduced in notebook 00."),
                   ("ghost", "Gone. Introduced in notebook 07."),
                   ("bench_only", "Part of `make bench`."),
                   ("silent", "Says nothing about where it is used.")]
    assert place_problems(definitions) == ["silent: its docstring names no notebook ('notebook NN') and no make target"]
    assert introduction_problems(definitions, code) == [
        "helper: introduced in notebook 01, but notebook 00 uses it first",
        "later: introduced in notebook 00, but that notebook's code never uses it",
        "ghost: introduced in notebook 07, which does not exist",
    ]
