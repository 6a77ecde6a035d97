"""Every notebook is usable as lecture material: its shape, its executed outputs, its student copy,
its slides, and the README table that lists it.

Each check is a function that returns the problems it found (empty when the notebook is fine), so a
failing test names every problem at once, and the last tests show on a broken notebook that each
check does find what it looks for.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from dataclasses import asdict
from html import escape
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mlm_tutorial.colab import INSTALL_TAG, install_cell_source
from mlm_tutorial.notebook_tools import (
    ALT_TEXT_KEY,
    NO_ALT_TEXT,
    SOLUTION_TAG,
    SUMMARY_END,
    SUMMARY_START,
    TABLE_END,
    TABLE_START,
    TITLE_KEY,
    merge_streams,
    notebook_info,
    notebook_paths,
    page_html,
    read_notebook,
    readme_table,
    slide_types,
    slides_html,
    student_copy,
)
from mlm_tutorial.paths import project_root
from project_code import CHECK_CALL, heading_index, output_html, output_text, package_files

NOTEBOOKS = notebook_paths(project_root() / "notebooks")
SLIDE_TYPES = {"slide", "subslide", "fragment", "skip", "notes", "-"}
PASSED = ": correct"
NOT_PASSED = ": not yet"


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _slide_type(cell: Any) -> str | None:
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type")


def _code_cells(notebook: Any) -> list[Any]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _is_section(cell: Any) -> bool:
    return cell.cell_type == "markdown" and cell.source.lstrip().startswith("## ")


# --------------------------------------------------------------------------- the checks


def header_problems(notebook: Any, number: str) -> list[str]:
    """The title cell: '# NN · Title', '> summary', 'Estimated time:'; the next cell: '## Learning goals' with items.

    Two cells, so that the title and the goals are two slides.
    """
    first = next((c for c in notebook.cells if c.cell_type == "markdown"), None)
    if first is None or notebook.cells[0] is not first:
        return ["the notebook does not open with a markdown cell"]
    text = first.source
    problems = []
    if not re.search(rf"^# {number} · \S.*$", text, re.M):
        problems.append(f"no title line '# {number} · Title'")
    if not re.search(r"^> \S.*$", text, re.M):
        problems.append("no one-sentence summary line '> ...'")
    if not re.search(r"^\*\*Estimated time:\*\* \d+ minutes", text, re.M):
        problems.append("no '**Estimated time:** N minutes' line")
    second = notebook.cells[1] if len(notebook.cells) > 1 else None
    goals = second is not None and second.cell_type == "markdown" and re.fullmatch(
        r"## Learning goals\s*\n(?:- .*\n?(?:  .*\n?)*)+", second.source.strip())
    if not goals:
        problems.append("the second cell is not '## Learning goals' with '- ' items")
    return problems


def structure_problems(notebook: Any) -> list[str]:
    """'## Summary', then '## Exercises' with solution cells after it whose checks pass."""
    problems = []
    summary, exercises = heading_index(notebook, "Summary"), heading_index(notebook, "Exercises")
    if summary is None:
        problems.append("no '## Summary' markdown cell")
    if exercises is None:
        return problems + ["no '## Exercises' markdown cell"]
    if summary is not None and summary > exercises:
        problems.append("'## Summary' comes after '## Exercises'")
    solutions = [c for c in notebook.cells[exercises:] if SOLUTION_TAG in _tags(c)]
    if not any(c.cell_type == "code" for c in solutions):
        problems.append("no code cell tagged 'solution' in the exercises")
    stray = [i for i, c in enumerate(notebook.cells[:exercises]) if SOLUTION_TAG in _tags(c)]
    if stray:
        problems.append(f"cells {stray} are tagged 'solution' but come before '## Exercises'")
    for cell in solutions:
        if cell.cell_type != "code":
            continue
        text = "".join(output_text(o) for o in cell.get("outputs", []))
        if PASSED not in text or NOT_PASSED in text:
            problems.append(f"solution cell {cell.source.splitlines()[0]!r}... does not show a passing check")
    return problems


_UNNUMBERED = {"Learning goals", "Summary", "Exercises"}


def section_problems(notebook: Any) -> list[str]:
    """Every '## ' heading but the goals, summary and exercises reads '## N · Title', numbered 1, 2, 3 ... in order."""
    problems, expected = [], 1
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        for heading in re.findall(r"^## (.+?)\s*$", cell.source, re.M):
            if heading in _UNNUMBERED:
                continue
            number = re.match(r"(\d+) · \S", heading)
            if number is None:
                problems.append(f"markdown cell {index}: '## {heading}' is not '## {expected} · Title'")
            elif int(number.group(1)) != expected:
                problems.append(f"markdown cell {index}: '## {heading}' is numbered {number.group(1)}, "
                                f"the sections so far make it {expected}")
            expected += 1
    return problems


def setup_cell_problems(notebook: Any) -> list[str]:
    """First code cell: the Colab install cell, tagged; second: notebook_setup(); both 'skip' slides."""
    code = _code_cells(notebook)
    if len(code) < 2:
        return ["fewer than two code cells (install and setup)"]
    install, setup = code[0], code[1]
    problems = []
    if install.source != install_cell_source():
        problems.append("the first code cell is not mlm_tutorial.colab.install_cell_source()")
    if INSTALL_TAG not in _tags(install):
        problems.append(f"the install cell lacks the tag {INSTALL_TAG!r}")
    if "notebook_setup(" not in setup.source:
        problems.append("the second code cell does not call notebook_setup()")
    for name, cell in (("install", install), ("setup", setup)):
        if _slide_type(cell) != "skip":
            problems.append(f"the {name} cell's slide_type is {_slide_type(cell)!r}, not 'skip'")
    return problems


def execution_problems(notebook: Any) -> list[str]:
    """Every code cell executed, in order, in one run (counts 1..n), no error output, streams merged as
    ``make notebooks`` writes them."""
    code = _code_cells(notebook)
    counts = [cell.get("execution_count") for cell in code]
    problems = []
    if counts != list(range(1, len(code) + 1)):
        problems.append(f"execution counts are {counts}, not 1..{len(code)} in order: run the whole notebook once")
    for index, cell in enumerate(code, 1):
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            problems.append(f"code cell {index} has an error output: {errors[0].get('ename')}: {errors[0].get('evalue')}")
        if len(merge_streams(cell.get("outputs", []))) != len(cell.get("outputs", [])):
            problems.append(f"code cell {index} has its printed output in pieces: write it with `make notebooks`")
    return problems


def slide_problems(notebook: Any) -> list[str]:
    """Every cell has a valid slide_type; the title and the '##' section cells start a slide; and the types
    are those of the series' rule (notebook_tools.slide_types: one prose cell and its code per slide)."""
    problems = []
    for index, (cell, wanted) in enumerate(zip(notebook.cells, slide_types(notebook))):
        kind = _slide_type(cell)
        if kind not in SLIDE_TYPES:
            problems.append(f"cell {index} has slide_type {kind!r}")
        elif (index == 0 or _is_section(cell)) and kind != "slide":
            problems.append(f"cell {index} ({cell.source.splitlines()[0]!r}) should be a 'slide', is {kind!r}")
        elif kind != wanted:
            problems.append(f"cell {index} has slide_type {kind!r}, the rule says {wanted!r}: run "
                            "`python -m mlm_tutorial.notebook_tools sync`")
    return problems


def figure_problems(notebook: Any) -> list[str]:
    """Every code cell that draws a figure says in words what it shows (cell metadata ``alt``), so the
    HTML pages and slides describe it to a screen reader instead of nbconvert's "no description"."""
    problems = []
    for index, cell in enumerate(notebook.cells):
        images = [o for o in cell.get("outputs", []) if any(k.startswith("image/") for k in o.get("data", {}))]
        if cell.cell_type != "code" or not images:
            continue
        text = cell.metadata.get(ALT_TEXT_KEY)
        if not isinstance(text, str) or len(text.split()) < 8:
            problems.append(f"cell {index} draws a figure but has no text alternative: add a sentence or two on "
                            f"what it shows as the cell's {ALT_TEXT_KEY!r} metadata")
    return problems


_OBJECT_REPR = re.compile(r"<[\w.]+ object(?: at 0x[0-9a-f]+)?>")


def plain_text_problems(notebook: Any) -> list[str]:
    """Every HTML output has a plain-text copy that shows its content, not Python's "<... object>".

    A PDF export (nbconvert's LaTeX) and a terminal show the text/plain copy and drop the HTML."""
    problems = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            text = output_text(output).strip()
            if "text/html" in output.get("data", {}) and (not text or _OBJECT_REPR.fullmatch(text)):
                problems.append(f"cell {index} shows HTML whose plain-text copy is {text!r}: display a dict with "
                                "'text/html' and a 'text/plain' version of the same content (raw=True)")
    return problems


PDF_PAGE_COLUMNS = 80  # an output line this long stays whole on a page of nbconvert's PDF export; longer ones wrap
_PANDAS_WIDTH = re.compile(r"""display\.width(?:["']\s*,|\s*=)\s*(\d+)""")


def pdf_page_problems(notebook: Any) -> list[str]:
    """A table's plain-text copy fits a page of a PDF export, where longer lines wrap at a space and scramble columns.

    The series' own tables are at most PDF_PAGE_COLUMNS characters wide. pandas splits a wide frame into blocks of
    columns at its ``display.width`` (80 unless a notebook raises it), so no notebook raises it above the page; a
    frame with one column wider than that (long sentences) needs a plain-text copy of its own."""
    problems = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            problems += [f"cell {index} sets pandas' display.width to {width}: keep it at most {PDF_PAGE_COLUMNS}, "
                         "so pandas cuts wide tables into blocks that fit a page"
                         for width in _PANDAS_WIDTH.findall(cell.source) if int(width) > PDF_PAGE_COLUMNS]
        for output in cell.get("outputs", []):
            html = output_html(output)
            widest = max(map(len, output_text(output).splitlines()), default=0)
            if "<table" in html and widest > PDF_PAGE_COLUMNS:
                problems.append(f"cell {index} shows a table whose plain-text copy is {widest} characters wide: a PDF "
                                f"page holds {PDF_PAGE_COLUMNS}, so cut it into blocks of columns or wrap its long "
                                "cells")
    return problems


_STYLE_ATTRIBUTE = re.compile(r"""style=["']([^"']*)["']""")
_SETS_BACKGROUND = re.compile(r"(?:^|;)\s*background(?:-color)?\s*:")
_SETS_TEXT_COLOUR = re.compile(r"(?:^|;)\s*color\s*:")


def dark_theme_problems(notebook: Any) -> list[str]:
    """An HTML output that gives an element a background colour also gives its text a colour.

    A dark theme (JupyterLab, VS Code, Colab) makes the inherited text light; on a light background
    colour that text can hardly be read."""
    problems = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            html = output_html(output)
            styles = {style for style in _STYLE_ATTRIBUTE.findall(html)
                      if _SETS_BACKGROUND.search(style) and not _SETS_TEXT_COLOUR.search(style)}
            problems += [f"cell {index} sets {style!r} without a text colour: add '; color:black' (or another "
                         "colour that reads on that background)" for style in sorted(styles)]
    return problems


_CODE_SPAN = re.compile(r"`[^`\n]*`")
_TEX_MATH = re.compile(r"\$\$?[^$\n]+\$\$?")


def offline_math_problems(notebook: Any) -> list[str]:
    """No TeX math in the prose: the HTML pages and slides typeset it with MathJax from a CDN, so without a
    network it would show as raw TeX. Plain text with Unicode (√, ·) reads the same everywhere."""
    problems = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        found = _TEX_MATH.search(_CODE_SPAN.sub("", cell.source))
        if found:
            problems.append(f"markdown cell {index} has TeX math {found.group(0)!r}: write it in plain text")
    return problems


def exercise_problems(notebook: Any) -> list[str]:
    """Each code solution has an answer cell right before it that calls the same checkers and shows 'not yet'.

    The student copy empties the solution cells, so the answer cell is where a learner's check must be.
    """
    problems = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or SOLUTION_TAG not in _tags(cell):
            continue
        checkers = set(CHECK_CALL.findall(cell.source))
        if not checkers:
            problems.append(f"solution cell {index} calls no check_... function")
        answer = notebook.cells[index - 1]
        if answer.cell_type != "code" or SOLUTION_TAG in _tags(answer):
            problems.append(f"solution cell {index} has no answer cell right before it")
            continue
        missing = sorted(checkers - set(CHECK_CALL.findall(answer.source)))
        if missing:
            problems.append(f"answer cell {index - 1} does not call {', '.join(missing)}: the student copy cannot check")
        if NOT_PASSED not in "".join(output_text(o) for o in answer.get("outputs", [])):
            problems.append(f"answer cell {index - 1} does not show its check's {NOT_PASSED.strip(': ')!r} verdict")
    return problems


def _bound_and_loaded(source: str) -> tuple[set[str], set[str]]:
    """The names a cell binds (assignments, defs, imports, loop and with targets) and the names it reads."""
    bound, loaded = set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return bound, loaded


def solution_dependency_problems(notebook: Any) -> list[str]:
    """No cell after a solution reads a name that only solution cells define: the student copy would fail there."""
    cells = [(i, c, *_bound_and_loaded(c.source)) for i, c in enumerate(notebook.cells) if c.cell_type == "code"]
    bound_outside = set().union(*(bound for _, c, bound, _ in cells if SOLUTION_TAG not in _tags(c)))
    problems = []
    for index, cell, bound, _ in cells:
        if SOLUTION_TAG not in _tags(cell):
            continue
        only_here = bound - bound_outside
        for later, other, _, loaded in cells:
            used = sorted(only_here & loaded) if later > index and SOLUTION_TAG not in _tags(other) else []
            if used:
                problems.append(f"cell {later} reads {', '.join(used)}, which only solution cell {index} defines")
    return problems


def student_copy_problems(notebook: Any, make_copy: Callable[[Any], Any] = student_copy) -> list[str]:
    """The student copy (``make_copy(notebook)``) holds no outputs and none of the solution cells' own lines."""
    copy = make_copy(notebook)
    problems = []
    if any(cell.get("outputs") or cell.get("execution_count") is not None for cell in _code_cells(copy)):
        problems.append("the student copy still has outputs or execution counts")
    # Lines that also occur outside the solutions (e.g. the call of a checker) may stay.
    elsewhere = {line.strip() for c in notebook.cells if SOLUTION_TAG not in _tags(c) for line in c.source.splitlines()}
    own_lines = {line.strip() for c in notebook.cells if SOLUTION_TAG in _tags(c) for line in c.source.splitlines()}
    own_lines = {line for line in own_lines if line and line not in elsewhere}
    copied = {line.strip() for c in copy.cells for line in c.source.splitlines()}
    leaked = sorted(own_lines & copied)
    if leaked:
        problems.append(f"the student copy still holds solution lines, e.g. {leaked[0]!r}")
    if not own_lines and any(SOLUTION_TAG in _tags(c) for c in notebook.cells):
        problems.append("the solution cells hold nothing of their own")
    return problems


# --------------------------------------------------------------------------- every notebook


def test_the_series_has_notebooks() -> None:
    assert [p.name[:2] for p in NOTEBOOKS] == sorted({p.name[:2] for p in NOTEBOOKS})
    assert NOTEBOOKS and NOTEBOOKS[0].name.startswith("00_")


@pytest.fixture(scope="module", params=NOTEBOOKS, ids=lambda p: p.name)
def notebook(request: pytest.FixtureRequest) -> tuple[Path, Any]:
    return request.param, read_notebook(request.param)


def test_header(notebook: tuple[Path, Any]) -> None:
    path, nb = notebook
    assert header_problems(nb, path.name[:2]) == []


def test_summary_and_exercises(notebook: tuple[Path, Any]) -> None:
    assert structure_problems(notebook[1]) == []


def test_every_exercise_can_be_checked_in_the_student_copy(notebook: tuple[Path, Any]) -> None:
    assert exercise_problems(notebook[1]) == []


def test_no_cell_needs_what_only_a_solution_defines(notebook: tuple[Path, Any]) -> None:
    assert solution_dependency_problems(notebook[1]) == []


def test_sections_are_numbered_in_order(notebook: tuple[Path, Any]) -> None:
    assert section_problems(notebook[1]) == []


def test_install_and_setup_cells(notebook: tuple[Path, Any]) -> None:
    assert setup_cell_problems(notebook[1]) == []


def test_executed_in_order_without_errors(notebook: tuple[Path, Any]) -> None:
    assert execution_problems(notebook[1]) == []


def test_slide_metadata(notebook: tuple[Path, Any]) -> None:
    assert slide_problems(notebook[1]) == []


def test_student_copy_has_no_solutions_or_outputs(notebook: tuple[Path, Any]) -> None:
    path, nb = notebook
    assert student_copy_problems(nb) == []
    assert nbformat.read(str(path), as_version=4) == nb  # making the copy left the notebook alone


def test_figures_are_described(notebook: tuple[Path, Any]) -> None:
    assert figure_problems(notebook[1]) == []


def test_html_outputs_read_as_plain_text_too(notebook: tuple[Path, Any]) -> None:
    assert plain_text_problems(notebook[1]) == []


def test_tables_fit_a_page_of_a_pdf_export(notebook: tuple[Path, Any]) -> None:
    assert pdf_page_problems(notebook[1]) == []


def test_coloured_html_reads_in_dark_themes(notebook: tuple[Path, Any]) -> None:
    assert dark_theme_problems(notebook[1]) == []


def test_prose_reads_the_same_offline(notebook: tuple[Path, Any]) -> None:
    assert offline_math_problems(notebook[1]) == []


def test_kernel_metadata(notebook: tuple[Path, Any]) -> None:
    kernelspec = notebook[1].metadata.get("kernelspec", {})
    assert (kernelspec.get("name"), kernelspec.get("display_name")) == ("python3", "Python 3")


def test_title_metadata_is_the_heading(notebook: tuple[Path, Any]) -> None:
    """Browser tabs of the pages and slides, and a PDF export's title page, name the notebook (`make notebooks`)."""
    path, nb = notebook
    assert nb.metadata.get(TITLE_KEY) == notebook_info(path).title


# --------------------------------------------------------------------------- README and slides


def _package_sources() -> str:
    """The text of every module of mlm_tutorial, for tests of what the README quotes from them."""
    return "\n".join(path.read_text(encoding="utf-8") for path in package_files())


def test_readme_table_matches_the_notebooks() -> None:
    readme = (project_root() / "README.md").read_text(encoding="utf-8")
    assert readme.count(TABLE_START) == 1 and readme.count(TABLE_END) == 1
    between = readme.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0].strip()
    assert between == readme_table(), (
        "README.md's notebook table disagrees with the notebooks: run `python -m mlm_tutorial.notebook_tools readme`."
    )


def test_readme_performance_section_quotes_the_reference_run() -> None:
    """The README's benchmark numbers are those of the run kept in benchmarks/, a full run with the defaults."""
    from mlm_tutorial.benchmarking import BenchSettings, readme_summary, reference_run, target_checks

    readme = (project_root() / "README.md").read_text(encoding="utf-8")
    assert readme.count(SUMMARY_START) == 1 and readme.count(SUMMARY_END) == 1
    between = readme.split(SUMMARY_START, 1)[1].split(SUMMARY_END, 1)[0].strip()
    results = reference_run()
    assert between == readme_summary(results), (
        "README.md's performance section disagrees with benchmarks/reference_run.json: run `make readme`."
    )
    assert results["settings"] == json.loads(json.dumps(asdict(BenchSettings())))  # the defaults of `make bench`
    assert results["targets"] == target_checks(results)  # what the run printed follows from its numbers


def test_readme_troubleshooting_quotes_messages_the_series_prints() -> None:
    """Each row of "When something goes wrong" quotes a message that the package's code still contains."""
    readme = (project_root() / "README.md").read_text(encoding="utf-8")
    section = readme.split("## When something goes wrong", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| you see")]
    assert len(rows) >= 6
    sources = _package_sources()
    for row in rows:
        seen = row.split(" | ")[0]
        quoted = re.findall(r'"([^"]+)"', seen)
        assert quoted, f"the row {row!r} quotes no message"
        for message in quoted:
            assert message in sources, f"README quotes {message!r}, which no module of mlm_tutorial prints any more"


def test_readme_documents_every_environment_variable_the_package_reads() -> None:
    readme = (project_root() / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(MLM_TUTORIAL_\w+)` \|", section, re.M))
    sources = _package_sources()
    read = set(re.findall(r'"(MLM_TUTORIAL_[A-Z_]+)"', sources))
    assert "MLM_TUTORIAL_SLIDE_ASSETS" in read
    assert documented == read, f"README's table misses {sorted(read - documented)}, or lists gone {sorted(documented - read)}"


def test_the_licence_a_lecturer_reuses_the_material_under_is_in_the_repository() -> None:
    """LICENSE holds the licence pyproject.toml declares, and the README's Licence section points to it and
    to the data's own licence, which every data README repeats."""
    root = project_root()
    declared = re.search(r'^license = "([^"]+)"$', (root / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    assert declared, "pyproject.toml declares no licence"
    declared = declared.group(1)
    text = (root / "LICENSE").read_text(encoding="utf-8")
    assert text.splitlines()[0] == f"{declared} License" and "Permission is hereby granted" in text
    section = (root / "README.md").read_text(encoding="utf-8").split("## Licence", 1)[1].split("\n## ", 1)[0]
    assert "`LICENSE`" in section and declared in section and "CC BY 4.0" in section
    for card in sorted((root / "data").rglob("README.md")):
        assert "CC BY 4.0" in card.read_text(encoding="utf-8"), f"{card.relative_to(root)} names no licence"


def test_slides_have_reveal_sections_and_no_skipped_cells() -> None:
    nb = read_notebook(NOTEBOOKS[0])
    html = slides_html(nb)
    assert "reveal" in html.lower()
    starts = sum(_slide_type(c) in ("slide", "subslide") for c in nb.cells)
    assert html.count("<section") >= starts > 0
    skipped = [c for c in nb.cells if _slide_type(c) == "skip"]
    shown = [c for c in nb.cells if _slide_type(c) not in ("skip", "notes")]
    assert skipped and shown
    for cell in skipped:
        assert f'id="cell-id={cell.id}"' not in html, f"skipped cell {cell.id} is in the slides"
    for cell in shown:
        assert f'id="cell-id={cell.id}"' in html, f"cell {cell.id} is missing from the slides"


def test_pages_and_slides_describe_every_figure() -> None:
    nb = read_notebook(NOTEBOOKS[0])
    described = [c.metadata[ALT_TEXT_KEY] for c in nb.cells if ALT_TEXT_KEY in c.metadata]
    assert len(described) >= 2
    for html in (page_html(nb), slides_html(nb)):
        assert NO_ALT_TEXT not in html
        for text in described:
            assert f'alt="{escape(text, quote=True)}"' in html


# --------------------------------------------------------------------------- the checks find problems


def _broken_notebook() -> Any:
    header = "# 07 · Broken\nNo summary here.\n\n## Learning goals\n"
    install = new_code_cell("print('not the install cell')", execution_count=2)
    setup = new_code_cell("x = 1", execution_count=1, metadata={"slideshow": {"slide_type": "skip"}})
    setup.outputs = [new_output("error", ename="NameError", evalue="name 'y' is not defined", traceback=[])]
    section = new_markdown_cell("## 1 · A section", metadata={"slideshow": {"slide_type": "-"}})
    prose = new_markdown_cell("Prose that should open a sub-slide.", metadata={"slideshow": {"slide_type": "-"}})
    exercises = new_markdown_cell("## Exercises\nWhat is 2 + 2?", metadata={"slideshow": {"slide_type": "slide"}})
    solution = new_code_cell("answer = 2 + 2\ncheck_sum(answer)", execution_count=3, metadata={"tags": [SOLUTION_TAG]})
    solution.outputs = [new_output("stream", name="stdout", text="checking\n"),
                        new_output("stream", name="stdout", text="Exercise 1: not yet\n")]
    return new_notebook(cells=[new_markdown_cell(header), install, setup, section, prose, exercises, solution])


def test_each_check_finds_the_problems_of_a_broken_notebook() -> None:
    nb = _broken_notebook()
    header = header_problems(nb, "07")
    assert any("summary" in p for p in header) and any("Estimated time" in p for p in header)
    assert any("Learning goals" in p for p in header) and not any("title" in p for p in header)
    assert header_problems(nb, "08") and any("title" in p for p in header_problems(nb, "08"))
    structure = structure_problems(nb)
    assert any("Summary" in p for p in structure) and any("passing check" in p for p in structure)
    setup = setup_cell_problems(nb)
    assert any("install_cell_source" in p for p in setup) and any(INSTALL_TAG in p for p in setup)
    assert any("notebook_setup" in p for p in setup) and any("install cell's slide_type" in p for p in setup)
    execution = execution_problems(nb)
    assert any("[2, 1, 3]" in p for p in execution) and any("NameError" in p for p in execution)
    assert any("code cell 3 has its printed output in pieces" in p for p in execution)
    slides = slide_problems(nb)
    assert any("cell 0" in p for p in slides) and any("A section" in p for p in slides)
    assert any("cell 4 has slide_type '-', the rule says 'subslide'" in p for p in slides)
    assert exercise_problems(nb) == ["solution cell 6 has no answer cell right before it"]
    assert figure_problems(nb) == [] and offline_math_problems(nb) == []
    assert section_problems(nb) == []
    nb.cells[4].source = "## 2. Another section\n\n## 4 · A third"
    assert section_problems(nb) == ["markdown cell 4: '## 2. Another section' is not '## 2 · Title'",
                                    "markdown cell 4: '## 4 · A third' is numbered 4, the sections so far make it 3"]
    nb.cells[4].source = "Prose that should open a sub-slide."
    nb.cells[4].source += " The mean is $0.15\\,n$; `$HOME` and `a$b$c` in code are fine."
    assert offline_math_problems(nb) == ["markdown cell 4 has TeX math '$0.15\\\\,n$': write it in plain text"]
    nb.cells[4].source = nb.cells[4].source.replace("$0.15\\,n$", "0.15·n")
    assert offline_math_problems(nb) == []
    nb.cells[2].outputs.append(new_output("display_data", data={"image/png": "iVBORw0KGgo="}))
    assert figure_problems(nb) == ["cell 2 draws a figure but has no text alternative: add a sentence or two on "
                                   "what it shows as the cell's 'alt' metadata"]
    nb.cells[2].metadata[ALT_TEXT_KEY] = "A plot."  # too short to say what it shows
    assert len(figure_problems(nb)) == 1
    nb.cells[2].metadata[ALT_TEXT_KEY] = "Line chart of the loss against the step, falling as training goes on."
    assert figure_problems(nb) == []
    nb.cells[2].outputs.pop()
    del nb.cells[2].metadata[ALT_TEXT_KEY]
    assert plain_text_problems(nb) == []
    table = new_output("display_data", data={"text/html": "<table><tr><td>[MASK]</td></tr></table>",
                                             "text/plain": "<IPython.core.display.HTML object>"})
    nb.cells[2].outputs.append(table)
    assert plain_text_problems(nb) == [
        "cell 2 shows HTML whose plain-text copy is '<IPython.core.display.HTML object>': display a dict with "
        "'text/html' and a 'text/plain' version of the same content (raw=True)"]
    table.data["text/plain"] = ""
    assert len(plain_text_problems(nb)) == 1
    table.data["text/plain"] = "[MASK]"
    assert plain_text_problems(nb) == [] and dark_theme_problems(nb) == [] and pdf_page_problems(nb) == []
    table.data["text/plain"] = "token " + "[MASK] " * 13
    assert pdf_page_problems(nb) == ["cell 2 shows a table whose plain-text copy is 97 characters wide: a PDF page "
                                     "holds 80, so cut it into blocks of columns or wrap its long cells"]
    table.data["text/html"] = '<table border="1" class="dataframe"><tr><td>[MASK]</td></tr></table>'
    assert len(pdf_page_problems(nb)) == 1  # a pandas frame too: one column of long sentences outgrows its blocks
    table.data["text/plain"] = "token " + "[MASK] " * 10
    assert pdf_page_problems(nb) == []  # pandas' own blocks, kept within the page by the display.width rule
    nb.cells[2].source = 'pd.set_option("display.width", 120)\npd.options.display.width = 80'
    assert pdf_page_problems(nb) == ["cell 2 sets pandas' display.width to 120: keep it at most 80, so pandas cuts "
                                     "wide tables into blocks that fit a page"]
    nb.cells[2].source = "pd.options.display.width=81"
    assert len(pdf_page_problems(nb)) == 1
    nb.cells[2].source = "x = 1"
    table.data["text/html"] = '<td style="background:#f6b26b">[MASK]</td><td style="color:red">x</td>'
    assert dark_theme_problems(nb) == ["cell 2 sets 'background:#f6b26b' without a text colour: add '; color:black' "
                                       "(or another colour that reads on that background)"]
    table.data["text/html"] = "<td style='background-color: #f6b26b; color: black'>[MASK]</td>"
    assert dark_theme_problems(nb) == []
    nb.cells[2].outputs.pop()
    assert solution_dependency_problems(nb) == []
    nb.cells.append(new_code_cell("print(answer + 1)\nimport math", execution_count=4))
    assert solution_dependency_problems(nb) == ["cell 7 reads answer, which only solution cell 6 defines"]
    nb.cells.pop()
    silent = new_code_cell("answer = None", execution_count=3)  # an answer cell without its check
    nb.cells.insert(6, silent)
    assert exercise_problems(nb) == ["answer cell 6 does not call check_sum: the student copy cannot check",
                                     "answer cell 6 does not show its check's 'not yet' verdict"]


def test_student_copy_check_notices_leaks() -> None:
    nb = _broken_notebook()
    assert student_copy_problems(nb) == []

    def leaky_copy(notebook: Any) -> Any:  # a faulty copier that keeps the solution and its output
        result = student_copy(notebook)
        result.cells[6] = notebook.cells[6]
        return result

    problems = student_copy_problems(nb, make_copy=leaky_copy)
    assert any("solution lines" in p and "answer = 2 + 2" in p for p in problems)
    assert any("outputs" in p for p in problems)
