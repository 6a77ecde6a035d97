"""mlm_tutorial.notebook_tools (with its stderr filter, which nbval also uses) and mlm_tutorial.colab."""

from __future__ import annotations

import builtins
import copy
import io
import os
import re
import shutil
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mlm_tutorial import colab, notebook_tools
from mlm_tutorial.colab import INSTALL_TAG, REPOSITORY_URL, colab_badge_url, install_cell_source
from mlm_tutorial.notebook_tools import (
    ALT_TEXT_KEY,
    CODE_PLACEHOLDER,
    EXTRA_CODE_MARK,
    MARKDOWN_PLACEHOLDER,
    NO_ALT_TEXT,
    SLIDE_ASSETS,
    SLIDE_ASSETS_ENV,
    SLIDE_ASSETS_NPM,
    SLIDE_HEIGHT,
    SLIDE_WIDTH,
    SUMMARY_END,
    SUMMARY_START,
    TABLE_END,
    TABLE_START,
    TITLE_KEY,
    NotebookInfo,
    copy_slide_assets,
    drop_stderr_noise,
    figure_alt_texts,
    first_code_cell,
    merge_streams,
    notebook_info,
    notebook_paths,
    page_html,
    read_notebook,
    readme_table,
    readme_with_block,
    readme_with_table,
    slide_assets_folder,
    slide_types,
    slides_html,
    student_copy,
    sync_install_cell,
    sync_slide_types,
    sync_title,
    tidy_notebook,
    with_alt_text,
    write_source_notebook,
)
from mlm_tutorial.benchmarking import REFERENCE_RUN, readme_summary, reference_run
from mlm_tutorial.paths import BUILD_ENV, ROOT_ENV, project_root


#: A TensorFlow C++ start-up line, as notebook kernels print it on stderr, and code that prints it
#: (in two pieces, so that the whole line appears only in an output, never in a cell's source).
NOISE_LINE = "I0000 00:00:1795449715.281354   13237 cudart_stub.cc:31] Could not find cuda drivers.\n"
PRINT_NOISE = f"import sys\nsys.stderr.write({NOISE_LINE[:44]!r} + {NOISE_LINE[44:]!r})\n"


def _header(number: str, title: str, teaches: str, minutes: int) -> str:
    return (
        f"# {number} · {title}\n"
        f"> {teaches}\n\n"
        f"**Estimated time:** {minutes} minutes (offline run: about 20 s on 2 CPU cores)\n\n"
        "## Learning goals\n- one\n- two"
    )


def _notebook(*cells: Any) -> NotebookNode:
    notebook = new_notebook(cells=list(cells))
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def _executed_code(source: str, text: str, tags: list[str] | None = None) -> NotebookNode:
    cell = new_code_cell(source, metadata={"tags": tags or []}, execution_count=1)
    cell.outputs = [new_output("stream", name="stdout", text=text)]
    return cell


@pytest.fixture
def series_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A miniature checkout: data/, notebooks/ with two notebooks and a stray file, a README."""
    (tmp_path / "data").mkdir()
    folder = tmp_path / "notebooks"
    folder.mkdir()
    first = _notebook(new_markdown_cell(_header("00", "Setup", "Load the corpus offline.", 10)),
                      new_code_cell("x = 1"))
    second = _notebook(new_markdown_cell(_header("01", "Tokens", "Turn text into ids.", 25)),
                       new_code_cell("y = 2"))
    nbformat.write(first, str(folder / "00_setup.ipynb"))
    nbformat.write(second, str(folder / "01_tokens.ipynb"))
    nbformat.write(second, str(folder / "scratch.ipynb"))  # not part of the series
    (tmp_path / "README.md").write_text(f"# Series\n\nIntro.\n\n{TABLE_START}\nold table\n{TABLE_END}\n\n"
                                        f"{SUMMARY_START}\nold numbers\n{SUMMARY_END}\n\nFooter.\n", encoding="utf-8")
    (tmp_path / "benchmarks").mkdir()
    shutil.copyfile(project_root() / REFERENCE_RUN, tmp_path / REFERENCE_RUN)
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    return tmp_path


# --------------------------------------------------------------------------- student copies


def test_student_copy_empties_solutions_and_clears_outputs() -> None:
    notebook = _notebook(
        new_markdown_cell("## Exercises\nWhat is 2 + 2?"),
        _executed_code("print('lesson')", "lesson\n"),
        new_code_cell("answer = None  # your code", metadata={"tags": []}),
        _executed_code("answer = 4\nprint(check(answer))", "Correct\n", tags=["solution"]),
        new_markdown_cell("The answer is 4 because ...", metadata={"tags": ["solution"]}),
    )
    original = copy.deepcopy(notebook)
    student = student_copy(notebook)
    cells = student.cells
    assert cells[0].source == original.cells[0].source
    assert cells[1].source == "print('lesson')"
    assert cells[3].source == CODE_PLACEHOLDER
    assert cells[3].metadata["tags"] == ["solution"]
    assert cells[4].source == MARKDOWN_PLACEHOLDER
    for cell in cells:
        if cell.cell_type == "code":
            assert cell.outputs == []
            assert cell.execution_count is None
    nbformat.validate(student)
    assert notebook == original  # the teacher's notebook is untouched


@pytest.mark.parametrize("tags", [["exercise", "solution"], ["solution", "hide-input"]])
def test_student_copy_empties_a_solution_that_has_other_tags_too(tags: list[str]) -> None:
    notebook = _notebook(
        new_code_cell("answer = None  # your code"),
        new_code_cell("answer = 42  # the secret", metadata={"tags": list(tags)}),
        new_markdown_cell("Because 6 * 7 = 42.", metadata={"tags": list(reversed(tags))}),
    )
    cells = student_copy(notebook).cells
    assert (cells[1].source, cells[2].source) == (CODE_PLACEHOLDER, MARKDOWN_PLACEHOLDER)
    assert "42" not in "".join(cell.source for cell in cells)


def test_student_copy_drops_what_a_solution_cell_carries_besides_its_text() -> None:
    figure = new_markdown_cell("![the answer](attachment:answer.png)",
                               metadata={"tags": ["solution"], "alt": "The curve peaks at step 42.",
                                         "slideshow": {"slide_type": "fragment"}})
    figure["attachments"] = {"answer.png": {"image/png": "iVBORw0KGgo="}}
    lesson = new_markdown_cell("![a chart](attachment:chart.png)", metadata={"alt": "A chart of the lesson."})
    lesson["attachments"] = {"chart.png": {"image/png": "iVBORw0KGgo="}}
    student = student_copy(_notebook(lesson, figure))
    kept, emptied = student.cells
    assert "attachments" not in emptied and "step 42" not in str(emptied)
    assert emptied.metadata == {"tags": ["solution"], "slideshow": {"slide_type": "fragment"}}
    assert kept == lesson  # the lesson's own figure stays as it was
    nbformat.validate(student)


# --------------------------------------------------------------------------- README table


def test_notebook_paths_lists_the_series_in_order(series_root: Path) -> None:
    folder = series_root / "notebooks"
    nbformat.write(_notebook(), str(folder / "10_later.ipynb"))
    nbformat.write(_notebook(), str(folder / "2_short.ipynb"))
    nbformat.write(_notebook(), str(folder / "03_Upper.ipynb"))
    for copy in ("01_tokens.ipynb~", "01_tokens.ipynb.orig"):  # an editor's backup, a merge's leftover
        nbformat.write(_notebook(), str(folder / copy))
    assert [p.name for p in notebook_paths(folder)] == ["00_setup.ipynb", "01_tokens.ipynb", "10_later.ipynb"]
    assert notebook_paths() == notebook_paths(folder)  # default: <root>/notebooks


def test_notebook_paths_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        notebook_paths(tmp_path / "nope")


def test_notebook_info_reads_the_first_markdown_cell(series_root: Path) -> None:
    info = notebook_info(series_root / "notebooks" / "01_tokens.ipynb")
    assert info == NotebookInfo(
        path="notebooks/01_tokens.ipynb",
        title="01 · Tokens",
        teaches="Turn text into ids.",
        minutes="25 minutes (offline run: about 20 s on 2 CPU cores)",
    )


def test_notebook_info_without_markdown(tmp_path: Path) -> None:
    path = tmp_path / "05_x.ipynb"
    nbformat.write(_notebook(new_code_cell("1")), str(path))
    with pytest.raises(ValueError, match="05_x.ipynb has no markdown cell"):
        notebook_info(path, root=tmp_path)


def test_notebook_info_names_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "05_x.ipynb"
    nbformat.write(_notebook(new_markdown_cell("# 05 · Title only\n\nSome prose.")), str(path))
    with pytest.raises(ValueError, match=r"lacks '> summary', 'Estimated time:'"):
        notebook_info(path, root=tmp_path)


@pytest.mark.parametrize("drop, named", [("# 05 · Title\n", "'# title'"), ("> Learn a thing.\n", "'> summary'"),
                                         ("**Estimated time:** 5 minutes\n", "'Estimated time:'")])
def test_notebook_info_names_a_single_missing_part(tmp_path: Path, drop: str, named: str) -> None:
    header = "# 05 · Title\n> Learn a thing.\n**Estimated time:** 5 minutes\n".replace(drop, "")
    path = tmp_path / "05_x.ipynb"
    nbformat.write(_notebook(new_markdown_cell(header)), str(path))
    with pytest.raises(ValueError, match=f"lacks {re.escape(named)}.$"):
        notebook_info(path, root=tmp_path)


def test_make_readme_reports_a_notebook_without_its_header_and_changes_nothing(
        series_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (series_root / "README.md").read_text(encoding="utf-8")
    path = series_root / "notebooks" / "01_tokens.ipynb"
    nbformat.write(_notebook(new_markdown_cell("Prose without a title.")), str(path))
    assert notebook_tools.main(["readme"]) == 2
    assert capsys.readouterr().err.startswith("readme: 01_tokens.ipynb: the first markdown cell lacks '# title'")
    assert (series_root / "README.md").read_text(encoding="utf-8") == before


def test_readme_table(series_root: Path) -> None:
    lines = readme_table().splitlines()
    assert lines[0] == "| # | notebook | what it teaches | time | Colab |"
    assert len(lines) == 4  # header, rule, two notebooks (scratch.ipynb is not in the series)
    assert lines[2].startswith("| 00 | [00 · Setup](notebooks/00_setup.ipynb) | Load the corpus offline. | 10 minutes")
    assert f"({colab_badge_url('notebooks/01_tokens.ipynb')})" in lines[3]
    assert readme_table(series_root) == readme_table()


def test_readme_with_table_replaces_only_the_table() -> None:
    readme = f"head\n{TABLE_START}\nold\n{TABLE_END}\ntail\n"
    once = readme_with_table(readme, "| new |")
    assert once == f"head\n{TABLE_START}\n| new |\n{TABLE_END}\ntail\n"
    assert readme_with_table(once, "| new |") == once


def test_readme_with_table_needs_markers() -> None:
    with pytest.raises(ValueError, match="needs the markers"):
        readme_with_table("# README without markers\n", "| t |")
    for broken in (f"{TABLE_END}\n{TABLE_START}\n", f"{TABLE_START}\n{TABLE_END}\n{TABLE_START}\n{TABLE_END}\n",
                   f"{TABLE_START}\n{TABLE_START}\n{TABLE_END}\n", f"{TABLE_START}\n{TABLE_END}\n{TABLE_END}\n"):
        with pytest.raises(ValueError, match="once each and in that order"):
            readme_with_table(broken, "| t |")


def test_readme_with_block_leaves_the_other_block_alone() -> None:
    readme = f"{TABLE_START}\nt\n{TABLE_END}\n{SUMMARY_START}\ns\n{SUMMARY_END}\n"
    assert (readme_with_block(readme, "new", SUMMARY_START, SUMMARY_END)
            == f"{TABLE_START}\nt\n{TABLE_END}\n{SUMMARY_START}\nnew\n{SUMMARY_END}\n")


def test_cli_readme_and_sync(series_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert notebook_tools.main(["readme"]) == 0
    readme = (series_root / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# Series\n\nIntro.\n\n")
    assert readme.endswith("\n\nFooter.\n")
    assert "old table" not in readme and "old numbers" not in readme
    assert readme_table() in readme
    assert f"{SUMMARY_START}\n{readme_summary(reference_run())}\n{SUMMARY_END}" in readme
    old = f"# Series\n\n{TABLE_START}\nold table\n{TABLE_END}\n\n{SUMMARY_START}\nold\n{SUMMARY_END}\n"
    (series_root / "README.md").write_text(old, encoding="utf-8")
    (series_root / REFERENCE_RUN).unlink()
    capsys.readouterr()
    assert notebook_tools.main(["readme"]) == 2
    assert "reference_run.json is missing: copy the build/bench.json" in capsys.readouterr().err
    assert (series_root / "README.md").read_text(encoding="utf-8") == old  # not even the table was written

    assert notebook_tools.main(["sync"]) == 0
    assert notebook_tools.main(["sync"]) == 0  # second run: nothing to do
    printed = capsys.readouterr().out
    assert printed.count("updated 00_setup.ipynb") == 1
    assert printed.count("updated 01_tokens.ipynb") == 1
    synced = nbformat.read(str(series_root / "notebooks" / "00_setup.ipynb"), as_version=4)
    assert synced.cells[1].source == install_cell_source()
    assert [c.metadata["slideshow"]["slide_type"] for c in synced.cells] == ["slide", "skip", "skip"]
    assert synced.metadata[TITLE_KEY] == "00 · Setup"
    scratch = nbformat.read(str(series_root / "notebooks" / "scratch.ipynb"), as_version=4)
    assert INSTALL_TAG not in str(scratch)  # only the series is touched


def test_make_readme_and_sync_replace_their_files_in_one_step(series_root: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    replaced: list[str] = []
    real = notebook_tools.replace_file

    def recording(path: Path, text: str) -> None:
        replaced.append(Path(path).relative_to(series_root).as_posix())
        real(path, text)

    monkeypatch.setattr(notebook_tools, "replace_file", recording)
    assert notebook_tools.main(["readme"]) == 0
    assert notebook_tools.main(["sync"]) == 0
    assert replaced == ["README.md", "notebooks/00_setup.ipynb", "notebooks/01_tokens.ipynb"]


def test_write_source_notebook_writes_the_bytes_nbformat_writes(tmp_path: Path) -> None:
    notebook = _notebook(new_markdown_cell("# 00 · Título"), new_code_cell("x = 'é'"))
    nbformat.write(notebook, str(tmp_path / "direct.ipynb"))
    (tmp_path / "replaced.ipynb").write_text("{}", encoding="utf-8")
    write_source_notebook(notebook, tmp_path / "replaced.ipynb")
    assert (tmp_path / "replaced.ipynb").read_bytes() == (tmp_path / "direct.ipynb").read_bytes()
    assert (tmp_path / "replaced.ipynb").read_bytes().endswith(b"}\n")


# --------------------------------------------------------------------------- install cells


def test_sync_install_cell_inserts_after_the_title_and_is_idempotent() -> None:
    notebook = _notebook(new_markdown_cell("# 00 · T"), new_code_cell("x = 1"))
    assert sync_install_cell(notebook) is True
    assert [c.cell_type for c in notebook.cells] == ["markdown", "code", "code"]
    install = notebook.cells[1]
    assert install.source == install_cell_source()
    assert install.metadata["tags"] == [INSTALL_TAG]
    assert first_code_cell(notebook) is install
    snapshot = copy.deepcopy(notebook)
    assert sync_install_cell(notebook) is False
    assert notebook == snapshot
    nbformat.validate(notebook)


def test_install_cell_outside_colab_names_the_fix_when_the_kernel_lacks_the_package(tmp_path: Path) -> None:
    """A kernel from another environment stops at the install cell with what to run, not at the next import."""
    cell = tmp_path / "install_cell.py"
    cell.write_text(install_cell_source(), encoding="utf-8")
    ours = subprocess.run([sys.executable, str(cell)], capture_output=True, text=True, timeout=120)
    assert ours.returncode == 0, ours.stderr  # this environment has the package: nothing to do
    assert ours.stdout == ""
    # -S leaves out site-packages, where the package is installed: like a Python without it.
    other = subprocess.run([sys.executable, "-S", str(cell)], capture_output=True, text=True, timeout=120)
    assert other.returncode != 0
    last = other.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ModuleNotFoundError: this kernel ({sys.executable}) has no mlm_tutorial package.")
    assert "`.venv/bin/jupyter lab notebooks/`" in last and "make run" in last
    assert "README's install steps" in last and "on Windows .venv\\Scripts\\ instead of .venv/bin/" in last


def test_sync_install_cell_repairs_an_edited_cell() -> None:
    notebook = _notebook(new_markdown_cell("# 00 · T"))
    sync_install_cell(notebook)
    notebook.cells[1].source = "# edited by hand\n"
    assert sync_install_cell(notebook) is True
    assert notebook.cells[1].source == install_cell_source()
    assert len(notebook.cells) == 2


def test_sync_install_cell_without_title_or_install_tag() -> None:
    notebook = _notebook(new_code_cell("x = 1"))
    assert sync_install_cell(notebook) is True
    assert notebook.cells[0].metadata["tags"] == [INSTALL_TAG]
    assert notebook.cells[1].source == "x = 1"  # an untagged first code cell is kept, not overwritten
    assert first_code_cell(_notebook(new_markdown_cell("only prose"))) is None


# --------------------------------------------------------------------------- titles


def test_sync_title_takes_the_heading_and_the_pages_and_slides_show_it() -> None:
    notebook = _notebook(new_markdown_cell("Prose first.\n\n# 07 · Masks & <tags>\n> summary"), new_code_cell("x = 1"))
    assert sync_title(notebook) is True
    assert notebook.metadata[TITLE_KEY] == "07 · Masks & <tags>"
    assert sync_title(notebook) is False
    nbformat.validate(notebook)
    assert "<title>07 · Masks &amp; &lt;tags&gt;</title>" in page_html(notebook)
    assert "<title>07 · Masks &amp; &lt;tags&gt; slides</title>" in slides_html(notebook)
    notebook.cells[0].source = "# 08 · Renamed"
    assert sync_title(notebook) is True and notebook.metadata[TITLE_KEY] == "08 · Renamed"
    with pytest.raises(ValueError, match="no '# title' line"):
        sync_title(_notebook(new_markdown_cell("## Only a section"), new_code_cell("x = 1")))
    with pytest.raises(ValueError, match="no '# title' line"):
        sync_title(_notebook(new_code_cell("x = 1")))


# --------------------------------------------------------------------------- slides


def _lesson() -> NotebookNode:
    """Title, goals, install and setup cells, then every case the slide rule distinguishes."""
    return _notebook(
        new_markdown_cell("# 07 · Title"),                      # slide
        new_markdown_cell("## Learning goals\n- one"),          # slide
        new_code_cell(install_cell_source()),                  # skip: install
        new_code_cell("setup()"),                              # skip: setup
        new_markdown_cell("## 1 · A section"),                 # slide
        new_markdown_cell("Prose before code."),               # subslide
        new_code_cell("x = 1"),                                # -: goes with its prose
        new_code_cell("y = 2"),                                # subslide: code after code
        new_markdown_cell("### A subsection"),                 # subslide
        new_code_cell(f"{EXTRA_CODE_MARK} – a helper\ndef f(): pass"),  # skip
        new_code_cell("f()"),                                  # -: the last shown cell is prose
        new_markdown_cell("## Exercises"),                     # slide
        new_markdown_cell("**Exercise 1.** Compute it."),      # subslide
        new_code_cell("answer = None"),                        # -
        new_code_cell("answer = 42", metadata={"tags": ["solution"]}),  # subslide: one slide after the answer
    )


def test_slide_types_give_each_idea_its_own_slide() -> None:
    assert slide_types(_lesson()) == [
        "slide", "slide", "skip", "skip", "slide", "subslide", "-", "subslide", "subslide", "skip", "-",
        "slide", "subslide", "-", "subslide",
    ]


def test_sync_slide_types_writes_the_rule_and_is_idempotent() -> None:
    notebook = _lesson()
    notebook.cells[6].metadata["slideshow"] = {"slide_type": "fragment"}
    assert sync_slide_types(notebook) is True
    assert [c.metadata["slideshow"]["slide_type"] for c in notebook.cells] == slide_types(notebook)
    snapshot = copy.deepcopy(notebook)
    assert sync_slide_types(notebook) is False
    assert notebook == snapshot
    nbformat.validate(notebook)


def test_slides_html_has_the_series_layout_and_leaves_out_skipped_cells() -> None:
    notebook = _lesson()
    sync_slide_types(notebook)
    notebook.cells[6].outputs = [new_output("stream", name="stdout", text="x is one\n")]
    html = slides_html(notebook)
    assert f"width: {SLIDE_WIDTH}" in html and f"height: {SLIDE_HEIGHT}" in html
    assert f"max-height: {SLIDE_HEIGHT}px; overflow-y: auto" in html  # a tall slide scrolls
    # once reveal.js runs (offline: one long page), and not in its print view, where a PDF page follows the slide
    assert "html:not(.print-pdf) .reveal.ready .slides section:not(.stack)" in html
    assert "white-space: pre-wrap" in html  # long code lines wrap
    assert html.index("white-space: pre-wrap") < html.index("</head>")
    # the code's padding inside its box's width, so a line wraps before the editor's clipped edge, not after it
    assert ".reveal .jp-InputArea-editor pre { box-sizing: border-box; }" in html
    assert "x is one" in html and "Exercise 1." in html
    assert "def f(): pass" not in html and "setup()" not in html  # extra code and setup are skipped
    assert html.count("<section") >= sum(k in ("slide", "subslide") for k in slide_types(notebook))


def test_slides_html_refuses_a_template_it_cannot_style(monkeypatch: pytest.MonkeyPatch) -> None:
    from nbconvert import SlidesExporter

    monkeypatch.setattr(SlidesExporter, "from_notebook_node", lambda self, nb, **kw: ("<html>no head</html>", {}))
    with pytest.raises(ValueError, match="slide template changed: expected one </head>"):
        slides_html(_lesson())


def test_page_html_wraps_long_lines_when_printed_and_long_names_in_the_prose(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbconvert import HTMLExporter

    html = page_html(_lesson())
    head = html[:html.index("</head>")]
    style = head[head.rindex("<style"):]
    printed = head[head.rindex("@media print {"):]
    # on screen too: a code name longer than a phone's line breaks (inline code only, not code blocks)
    assert ".jp-RenderedMarkdown :not(pre) > code { overflow-wrap: anywhere; }" in style[:style.index("@media")]
    assert "pre, pre code { white-space: pre-wrap; overflow-wrap: anywhere; }" in printed  # cut off at the edge before
    assert ".jp-InputArea-editor pre { box-sizing: border-box; }" in printed
    assert ".jp-OutputArea-output table { font-size: 80%; }" in printed  # a table of the series' width fits A4
    assert printed.rstrip().endswith("}\n}\n</style>")  # the rest only in the print query
    monkeypatch.setattr(HTMLExporter, "from_notebook_node", lambda self, nb, **kw: ("<html>no head</html>", {}))
    with pytest.raises(ValueError, match="page template changed: expected one </head>"):
        page_html(_lesson())


def _npm_folder(root: Path) -> Path:
    """A folder as `npm install reveal.js@4.0.2 requirejs@2.1.10` leaves it (the files the slides use)."""
    for name in SLIDE_ASSETS:
        (root / "node_modules" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "node_modules" / name).write_text(f"/* {name} */\n", encoding="utf-8")
    return root


#: Where a slide file loads scripts and styles from: src and href attributes, and RequireJS's module list.
_LOADED = re.compile(r'\b(?:src|href)="([^"#][^"]*)"')
_REQUIRED = re.compile(r"require\(\s*\{[^}]*\},\s*\[([^\]]*)\]")


def _loaded_urls(html: str) -> set[str]:
    required = _REQUIRED.search(html)
    assert required, "the slide template's require([...]) of reveal.js was not found"
    return set(_LOADED.findall(html)) | set(re.findall(r'"([^"]+)"', required.group(1)))


def test_slide_assets_folder_reads_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    npm = _npm_folder(tmp_path / "web assets")
    monkeypatch.delenv(SLIDE_ASSETS_ENV, raising=False)
    assert slide_assets_folder() is None
    monkeypatch.setenv(SLIDE_ASSETS_ENV, " ")
    assert slide_assets_folder() is None
    monkeypatch.setenv(SLIDE_ASSETS_ENV, str(npm))  # where npm ran
    assert slide_assets_folder() == npm / "node_modules"
    monkeypatch.setenv(SLIDE_ASSETS_ENV, str(npm / "node_modules"))  # or its node_modules
    assert slide_assets_folder() == npm / "node_modules"


@pytest.mark.parametrize("missing", [SLIDE_ASSETS[0], "requirejs/require.js"])
def test_slide_assets_folder_names_a_missing_file_and_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  missing: str) -> None:
    npm = _npm_folder(tmp_path)
    (npm / "node_modules" / missing).unlink()
    monkeypatch.setenv(SLIDE_ASSETS_ENV, str(npm))
    with pytest.raises(ValueError) as error:
        slide_assets_folder()
    message = str(error.value)
    assert str(npm / "node_modules" / missing) in message
    assert f"`{SLIDE_ASSETS_NPM}`" in message and f"unset {SLIDE_ASSETS_ENV}" in message
    monkeypatch.setenv(SLIDE_ASSETS_ENV, str(tmp_path / "no such folder"))
    with pytest.raises(ValueError, match="no such folder"):
        slide_assets_folder()


def test_local_slides_load_reveal_and_requirejs_from_the_copies_beside_them(tmp_path: Path) -> None:
    notebook = _notebook(new_markdown_cell("# 07 · Title"), new_markdown_cell("## A section\nProse."))
    online = _loaded_urls(slides_html(notebook))
    assert any("reveal.js" in url and url.startswith("https://") for url in online)  # the CDN by default

    slides = tmp_path / "slides"
    copy_slide_assets(_npm_folder(tmp_path / "npm") / "node_modules", slides)
    html = slides_html(notebook, local_assets=True)
    loaded = _loaded_urls(html)
    local = {url for url in loaded if not re.match(r"[a-z]+:", url)}
    # every file the slides load from beside them was copied there, and the copies are all they load
    assert local == set(SLIDE_ASSETS) - {"reveal.js/LICENSE"}
    assert all((slides / url).is_file() for url in local)
    assert (slides / "reveal.js" / "LICENSE").is_file()  # reveal.js's licence goes with its copy
    remote = loaded - local
    assert not [url for url in remote if "reveal" in url or "require" in url]
    assert f"width: {SLIDE_WIDTH}" in html and ".reveal.ready" in html  # the same layout as online


# A 1x1 PNG (what matplotlib draws does not matter here, only that each image is told apart by its data).
_PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
_OTHER_PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def _figures() -> Any:
    """Three figure cells: two described by their cell's metadata, one not described."""
    first = new_code_cell("plot()", execution_count=1, metadata={ALT_TEXT_KEY: 'Bars of "chosen" & <masked> rates.'})
    first.outputs = [new_output("display_data", data={"image/png": _PIXEL + "\n", "text/plain": "<Figure>"})]
    second = new_code_cell("plot_again()", execution_count=2, metadata={ALT_TEXT_KEY: "the cell's own text"})
    second.outputs = [new_output("display_data", data={"image/png": _OTHER_PIXEL})]
    silent = new_code_cell("plot_more()", execution_count=3)
    silent.outputs = [new_output("display_data", data={"image/png": _OTHER_PIXEL[:-4] + "AAA="})]
    return new_notebook(cells=[new_markdown_cell("# 00 · Figures"), first, second, silent])


def test_figure_alt_texts_reads_each_figure_cell() -> None:
    texts = figure_alt_texts(_figures())
    assert texts == {("image/png", _PIXEL): 'Bars of "chosen" & <masked> rates.',
                     ("image/png", _OTHER_PIXEL): "the cell's own text"}


def test_with_alt_text_sets_the_description_of_each_image() -> None:
    notebook = _figures()
    html = (f'<p><img alt="{NO_ALT_TEXT}" class="x" src="data:image/png;base64,{_PIXEL}\n"/></p>'
            f'<img src="data:image/png;base64,{_OTHER_PIXEL}">'
            f'<img alt="{NO_ALT_TEXT}" src="data:image/png;base64,{_OTHER_PIXEL[:-4]}AAA="/>'
            '<img alt="a logo" src="logo.png"/>')
    result = with_alt_text(html, notebook)
    assert 'alt="Bars of &quot;chosen&quot; &amp; &lt;masked&gt; rates." class="x"' in result
    assert "<img alt=\"the cell&#x27;s own text\" src=" in result  # an image without alt gets one
    assert result.count(NO_ALT_TEXT) == 1  # the undescribed image keeps nbconvert's note
    assert '<img alt="a logo" src="logo.png"/>' in result  # images not drawn by the notebook are left alone
    assert with_alt_text(html, new_notebook()) == html


def test_with_alt_text_describes_jpeg_figures_too() -> None:
    cell = new_code_cell("show()", execution_count=1, metadata={ALT_TEXT_KEY: "A photo of a newsroom."})
    cell.outputs = [new_output("display_data", data={"image/jpeg": _PIXEL})]
    html = f'<img alt="{NO_ALT_TEXT}" src="data:image/jpeg;base64,{_PIXEL}"/>'
    described = with_alt_text(html, new_notebook(cells=[cell]))
    assert described == f'<img alt="A photo of a newsroom." src="data:image/jpeg;base64,{_PIXEL}"/>'


def test_exports_describe_the_figures() -> None:
    notebook = _figures()
    for html in (page_html(notebook), slides_html(notebook)):
        assert 'alt="Bars of &quot;chosen&quot; &amp; &lt;masked&gt; rates."' in html
        assert 'alt="the cell&#x27;s own text"' in html
        assert html.count(NO_ALT_TEXT) == 1, "only the image without a description keeps nbconvert's note"


# --------------------------------------------------------------------------- running notebooks


def test_run_all_writes_every_format_and_counts_failures(series_root: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "build"
    monkeypatch.setenv(BUILD_ENV, str(out))
    folder = series_root / "notebooks"
    for path in folder.glob("*.ipynb"):
        path.unlink()
    good = _notebook(new_markdown_cell(_header("00", "Ok", "Print.", 1)),
                     new_code_cell(PRINT_NOISE + "print(6 * 7)"),
                     new_code_cell("answer = 42", metadata={"tags": ["solution"]}))
    bad = _notebook(new_markdown_cell(_header("01", "Broken", "Fail.", 1)), new_code_cell("1 / 0"))
    nbformat.write(good, str(folder / "00_ok.ipynb"))
    nbformat.write(bad, str(folder / "01_broken.ipynb"))
    before = {p: p.read_bytes() for p in folder.iterdir()}

    assert notebook_tools.run_all() == 1
    executed = nbformat.read(str(out / "notebooks" / "00_ok.ipynb"), as_version=4)
    assert _texts(executed.cells[1].outputs) == [("stdout", "42\n")]  # the log line on stderr is left out
    assert "cudart_stub" not in (out / "html" / "00_ok.html").read_text(encoding="utf-8")
    student = nbformat.read(str(out / "student" / "00_ok.ipynb"), as_version=4)
    assert student.cells[2].source == CODE_PLACEHOLDER
    assert student.cells[1].outputs == []
    for name in ("00_ok", "01_broken"):
        assert (out / "logs" / f"{name}.log").is_file()
        assert (out / "html" / f"{name}.html").stat().st_size > 0
        assert f"height: {SLIDE_HEIGHT}" in (out / "slides" / f"{name}.slides.html").read_text(encoding="utf-8")
    broken = nbformat.read(str(out / "notebooks" / "01_broken.ipynb"), as_version=4)
    assert broken.cells[1].outputs[-1]["ename"] == "ZeroDivisionError"  # the build copy shows where it failed
    printed = capsys.readouterr().out
    assert "00_ok.ipynb ok in" in printed
    assert (f"01_broken.ipynb FAILED: ZeroDivisionError: division by zero (kernel log: "
            f"{out / 'logs' / '01_broken.log'}) in") in printed  # no colour codes
    assert "1 ok, 1 failed" in printed
    assert {p: p.read_bytes() for p in folder.iterdir()} == before  # sources only read


@pytest.mark.skipif(os.name != "posix", reason="IPC transport needs Unix sockets")
def test_execute_talks_to_the_kernel_over_private_sockets(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    source = _notebook(new_code_cell("import os\nprint(os.getcwd())\nprint(os.getpid())"))
    executed = notebook_tools.execute(source, tmp_path)
    folder, pid = executed.cells[0].outputs[0]["text"].splitlines()
    assert folder == str(tmp_path)  # runs in the folder it was given
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid), 0)  # the kernel was shut down, not left running
    assert source.cells[0].outputs == []  # the notebook passed in is not modified
    assert list(tmp_path.iterdir()) == []  # no socket files left in the working folder
    assert "without encryption" not in capfd.readouterr().err  # the kernel's warning about TCP


def test_execute_sends_the_kernels_own_stderr_to_the_log(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "logs" / "nb.log"
    source = _notebook(new_code_cell("import os\nwritten = os.write(2, b'written below Python\\n')"))
    executed = notebook_tools.execute(source, tmp_path, kernel_log=log)
    assert "written below Python" in log.read_text(encoding="utf-8")  # what the kernel process wrote to its stderr
    assert executed.cells[0].execution_count == 1
    assert "written below Python" not in capfd.readouterr().err  # and the terminal does not


def test_refresh_updates_sources_in_place_keeps_failures_and_runs_00_last(
        series_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(BUILD_ENV, str(tmp_path / "build"))
    folder = series_root / "notebooks"
    order = tmp_path / "order.txt"  # each notebook appends its name when it runs
    record = f"open({str(order)!r}, 'a', encoding='utf-8').write('{{}}\\n')"
    for path in folder.glob("*.ipynb"):
        path.unlink()
    nbformat.write(_notebook(new_code_cell(record.format("00") + "\nprint('map')")), str(folder / "00_map.ipynb"))
    ok = record.format("01") + "\n" + PRINT_NOISE + "sys.stderr.write('kept\\n')\nprint(6 * 7)"
    nbformat.write(_notebook(new_code_cell(ok)), str(folder / "01_ok.ipynb"))
    nbformat.write(_notebook(new_code_cell(record.format("02") + "\n1 / 0")), str(folder / "02_broken.ipynb"))
    broken_before = (folder / "02_broken.ipynb").read_bytes()

    assert notebook_tools.main(["refresh"]) == 1  # one failure: the command fails
    assert order.read_text(encoding="utf-8").split() == ["01", "02", "00"]
    updated = nbformat.read(str(folder / "01_ok.ipynb"), as_version=4)
    assert sorted(_texts(updated.cells[0].outputs)) == [("stderr", "kept\n"), ("stdout", "42\n")]
    assert updated.cells[0].execution_count == 1
    assert nbformat.read(str(folder / "00_map.ipynb"), as_version=4).cells[0].outputs[0]["text"] == "map\n"
    assert (folder / "02_broken.ipynb").read_bytes() == broken_before  # good outputs never replaced by a failure
    assert (tmp_path / "build" / "logs" / "02_broken.log").is_file()
    printed = capsys.readouterr().out
    assert "01_ok.ipynb updated in" in printed
    assert ("02_broken.ipynb FAILED, left unchanged: ZeroDivisionError: division by zero (kernel log: "
            f"{tmp_path / 'build' / 'logs' / '02_broken.log'})") in printed


def _usable_cores() -> int:
    """The cores this process may use (Linux knows its affinity; macOS and Windows count them all)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def test_offline_run_text_rounds_to_five_seconds() -> None:
    assert notebook_tools.offline_run_text(21.4, cores=2) == "offline run: about 20 s on 2 CPU cores"
    assert notebook_tools.offline_run_text(7.6, cores=2) == "offline run: about 10 s on 2 CPU cores"
    assert notebook_tools.offline_run_text(1.2, cores=8) == "offline run: about 5 s on 8 CPU cores"  # at least 5 s
    assert notebook_tools.offline_run_text(0.0).endswith(f" on {_usable_cores()} CPU cores")
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="seconds must be a number of seconds >= 0"):
            notebook_tools.offline_run_text(bad)
    for wrong in ("20", True):
        with pytest.raises(TypeError, match="seconds must be a number, got"):
            notebook_tools.offline_run_text(wrong)  # type: ignore[arg-type]


def test_stamp_offline_run_rewrites_only_the_run_time_of_the_header() -> None:
    header = _header("04", "Fine-tuning", "Adapt a model.", 60)
    notebook = _notebook(new_code_cell("x = 1"), new_markdown_cell(header),
                         new_markdown_cell("Later: (offline run: about 20 s on 2 CPU cores) stays."))
    assert notebook_tools.stamp_offline_run(notebook, 33.0, cores=2)
    assert notebook.cells[1].source == header.replace("about 20 s on 2 CPU cores", "about 35 s on 2 CPU cores")
    assert notebook.cells[2].source == "Later: (offline run: about 20 s on 2 CPU cores) stays."
    assert not notebook_tools.stamp_offline_run(notebook, 36.0, cores=2)  # same text: no change
    plain = _notebook(new_markdown_cell("# 09 · No time here"))
    assert not notebook_tools.stamp_offline_run(plain, 12.0)
    assert plain.cells[0].source == "# 09 · No time here"


def test_refresh_writes_each_run_time_into_the_header_and_reruns_00_for_its_map(
        series_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(BUILD_ENV, str(tmp_path / "build"))
    folder = series_root / "notebooks"
    order = tmp_path / "order.txt"
    stale = "offline run: about 95 s on 2 CPU cores"
    # 00's only code cell prints the run time that its own header states when it runs, as its map does.
    show = ("import json, re\n"
            f"open({str(order)!r}, 'a', encoding='utf-8').write('00\\n')\n"
            "cells = json.load(open('00_setup.ipynb', encoding='utf-8'))['cells']\n"
            "print(re.search(r'offline run: [^)]*', ''.join(cells[0]['source'])).group(0))")
    for name, code in (("00_setup.ipynb", show), ("01_tokens.ipynb", "y = 2")):
        notebook = nbformat.read(str(folder / name), as_version=4)
        notebook.cells[0].source = notebook.cells[0].source.replace("offline run: about 20 s on 2 CPU cores", stale)
        notebook.cells[1].source = code
        nbformat.write(notebook, str(folder / name))

    began = time.perf_counter()
    assert notebook_tools.main(["refresh"]) == 0
    elapsed = time.perf_counter() - began
    printed = capsys.readouterr().out
    assert order.read_text(encoding="utf-8").split() == ["00", "00"]  # its header changed, so 00 ran a second time
    for name in ("00_setup.ipynb", "01_tokens.ipynb"):
        header = nbformat.read(str(folder / name), as_version=4).cells[0].source
        assert stale not in header
        stamped = re.search(r"offline run: about (\d+) s on (\d+) CPU cores", header)
        seconds = float(re.search(rf"{name} updated in ([\d.]+) s", printed).group(1))
        assert 0 < seconds <= elapsed  # the notebook's own run, within the whole refresh
        assert int(stamped.group(1)) in {max(5, 5 * round((seconds + d) / 5)) for d in (-0.05, 0.05)}
        assert int(stamped.group(2)) == _usable_cores()
    again = nbformat.read(str(folder / "00_setup.ipynb"), as_version=4)
    assert again.cells[1].outputs[0]["text"] == re.search(r"offline run: [^)]*", again.cells[0].source).group(0) + "\n"
    assert "00_setup.ipynb run again to show its new time in its map" in printed


def test_refresh_refuses_a_build_folder_with_earlier_checkpoints(
        series_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(BUILD_ENV, str(tmp_path / "build"))
    folder = series_root / "notebooks"
    ran = tmp_path / "ran.txt"
    for path in folder.glob("*.ipynb"):
        path.unlink()
    write_ran = f"open({str(ran)!r}, 'w', encoding='utf-8').write('ran')"
    nbformat.write(_notebook(new_code_cell(write_ran)), str(folder / "01_ok.ipynb"))
    (tmp_path / "build" / "checkpoints").mkdir(parents=True)
    assert notebook_tools.main(["refresh"]) == 0  # an empty checkpoint folder is no obstacle
    assert ran.read_text(encoding="utf-8") == "ran"

    ran.unlink()
    before = (folder / "01_ok.ipynb").read_bytes()
    earlier = tmp_path / "build" / "checkpoints" / "04_model_business_quick_fast_seed42"
    earlier.mkdir()
    (earlier / "checkpoint").write_text("an earlier run", encoding="utf-8")
    assert notebook_tools.main(["refresh"]) == 2
    error = capsys.readouterr().err
    # named relative to the checkout (the series root here is tmp_path)
    assert "refresh: build/checkpoints holds training checkpoints of earlier runs" in error
    assert "Move that folder elsewhere or delete it" in error
    assert not ran.exists()  # no notebook ran
    assert (folder / "01_ok.ipynb").read_bytes() == before
    assert (earlier / "checkpoint").read_text(encoding="utf-8") == "an earlier run"  # nothing deleted


def test_refresh_sync_writes_the_generated_cells_only_after_the_checkpoint_check(
        series_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(BUILD_ENV, str(tmp_path / "build"))
    folder = series_root / "notebooks"
    before = {path.name: path.read_bytes() for path in folder.glob("*.ipynb")}
    ran: list[str] = []

    def fail(path: Path, log: Path) -> tuple[None, str]:
        ran.append(path.name)
        return None, "not run in this test"

    monkeypatch.setattr(notebook_tools, "_execute_source", fail)
    earlier = tmp_path / "build" / "checkpoints" / "04_model_business_quick_fast_seed42"
    earlier.mkdir(parents=True)
    (earlier / "checkpoint").write_text("an earlier run", encoding="utf-8")
    assert notebook_tools.main(["refresh", "--sync"]) == 2
    assert "No notebook was run or changed" in capsys.readouterr().err
    assert {path.name: path.read_bytes() for path in folder.glob("*.ipynb")} == before  # not synced either
    assert ran == []

    (earlier / "checkpoint").unlink()
    earlier.rmdir()
    assert notebook_tools.main(["refresh", "--sync"]) == 1  # synced, then every (stubbed) run failed
    printed = capsys.readouterr().out
    assert printed.count("updated 00_setup.ipynb") == 1 and printed.count("updated 01_tokens.ipynb") == 1
    assert sorted(ran) == sorted(path.name for path in notebook_tools.notebook_paths())  # numbered ones only
    synced = nbformat.read(str(folder / "00_setup.ipynb"), as_version=4)
    assert synced.cells[1].source == install_cell_source()
    assert synced.metadata[TITLE_KEY] == "00 · Setup"
    assert notebook_tools.main(["sync"]) == 0
    assert "updated" not in capsys.readouterr().out  # refresh --sync left nothing for sync to do


@pytest.fixture
def no_kernel(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the runner's execute and write steps; collects the names of the notebooks it runs."""
    ran: list[str] = []

    def execute(path: Path, log: Path) -> tuple[Any, None]:
        ran.append(path.stem)
        return read_notebook(path), None

    monkeypatch.setattr(notebook_tools, "_execute_source", execute)
    monkeypatch.setattr(notebook_tools, "_write_outputs", lambda notebook, name, out, local_assets=False: None)
    return ran


def test_run_all_runs_every_selected_notebook(series_root: Path, tmp_path_factory: pytest.TempPathFactory,
                                              monkeypatch: pytest.MonkeyPatch, no_kernel: list[str]) -> None:
    monkeypatch.setenv(BUILD_ENV, str(tmp_path_factory.mktemp("build")))
    assert notebook_tools.run_all(["00", "01"]) == 0
    assert no_kernel == ["00_setup", "01_tokens"]


def test_run_all_copies_slide_assets_and_makes_local_slides(
        series_root: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
        no_kernel: list[str]) -> None:
    out = tmp_path_factory.mktemp("build")
    monkeypatch.setenv(BUILD_ENV, str(out))
    monkeypatch.setenv(SLIDE_ASSETS_ENV, str(_npm_folder(tmp_path_factory.mktemp("npm"))))
    written: list[tuple[str, bool]] = []
    monkeypatch.setattr(notebook_tools, "_write_outputs",
                        lambda notebook, name, out, local_assets=False: written.append((name, local_assets)))
    assert notebook_tools.run_all() == 0
    assert written == [("00_setup", True), ("01_tokens", True)]
    assert all((out / "slides" / name).is_file() for name in SLIDE_ASSETS)
    monkeypatch.delenv(SLIDE_ASSETS_ENV)
    written.clear()
    assert notebook_tools.run_all(["00"]) == 0
    assert written == [("00_setup", False)]


def test_run_stops_before_any_notebook_when_the_slide_assets_are_missing(
        series_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_kernel: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(BUILD_ENV, str(tmp_path / "build"))
    monkeypatch.setenv(SLIDE_ASSETS_ENV, str(tmp_path / "empty"))
    assert notebook_tools.main(["run"]) == 2
    assert no_kernel == []
    error = capsys.readouterr().err
    assert error.startswith(f"run: {SLIDE_ASSETS_ENV}=") and SLIDE_ASSETS_NPM in error
    assert not (tmp_path / "build" / "slides").exists()


def test_cli_run_fails_when_a_notebook_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    # `make run` (and CI) must see a failed notebook in the exit status, not only in the printed summary
    monkeypatch.setattr(notebook_tools, "run_all", lambda selected=None: 1)
    assert notebook_tools.main(["run"]) == 1
    monkeypatch.setattr(notebook_tools, "run_all", lambda selected=None: 0)
    assert notebook_tools.main(["run"]) == 0


def test_refresh_looks_for_checkpoints_in_the_build_folder_the_environment_names(
        series_root: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
        no_kernel: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    build = tmp_path_factory.mktemp("elsewhere") / "build"  # outside the checkout
    monkeypatch.setenv(BUILD_ENV, str(build))
    (build / "checkpoints" / "04_run").mkdir(parents=True)
    (build / "checkpoints" / "04_run" / "checkpoint").write_text("an earlier run", encoding="utf-8")
    assert not (series_root / "build").exists()
    assert notebook_tools.main(["refresh"]) == 2
    assert no_kernel == []
    assert "holds training checkpoints of earlier runs" in capsys.readouterr().err


def test_run_all_unknown_selection(series_root: Path) -> None:
    with pytest.raises(ValueError, match=r"no notebook matches \['99_'\]"):
        notebook_tools.run_all(["99_"])


# --------------------------------------------------------------------------- Colab


CHECKOUT = colab.COLAB_CHECKOUT
PARTIAL = CHECKOUT + ".partial"
MARKER = f"{CHECKOUT}/{colab.INSTALLED_MARKER}"


def _run_install_cell(monkeypatch: pytest.MonkeyPatch, on_colab: bool, files: set[str] | None = None,
                      fails: str | None = None) -> tuple[list[list[str]], list[str]]:
    """Run the install cell, on Colab or not, on a pretend file system: ``files`` holds which of the clone,
    its ``.partial`` folder and the marker of a finished install exist, and the cell's commands change it as
    the real ones would. ``fails`` ("git" or "pip") makes that command exit with status 1 (a clone that fails
    leaves its half-made folder behind). Returns the commands run and the files written."""
    files = set() if files is None else files
    calls: list[list[str]] = []
    written: list[str] = []
    real_isdir, real_isfile, real_open = os.path.isdir, os.path.isfile, builtins.open
    real_rmtree, real_rename = shutil.rmtree, os.rename
    monkeypatch.setattr(os.path, "isdir", lambda path: path in files if path in (CHECKOUT, PARTIAL) else real_isdir(path))
    monkeypatch.setattr(os.path, "isfile", lambda path: path in files if path == MARKER else real_isfile(path))

    def fake_rmtree(path: Any, ignore_errors: bool = False) -> None:
        if path != PARTIAL:
            return real_rmtree(path, ignore_errors=ignore_errors)
        if path not in files and not ignore_errors:
            raise FileNotFoundError(path)
        files.discard(path)

    def fake_rename(source: Any, target: Any) -> None:
        if source != PARTIAL:
            return real_rename(source, target)
        assert source in files and target not in files, "renamed a folder that is not there, or over one"
        files.remove(source)
        files.add(target)

    def fake_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        if path == MARKER:
            assert CHECKOUT in files, "wrote the marker into a clone that is not there"
            files.add(path)
            written.append(path)
            return io.StringIO()
        return real_open(path, *args, **kwargs)

    def fake_run(args: list[str], check: bool = False, **kwargs: Any) -> subprocess.CompletedProcess:
        calls.append(list(args))
        if args[:2] == ["git", "clone"]:
            assert args[-1] not in files, "git clone refuses a folder that exists"
            files.add(args[-1])  # made at once; a failed clone may leave it half-filled
        failed = fails is not None and fails in args
        if failed and check:
            raise subprocess.CalledProcessError(1, args)
        return subprocess.CompletedProcess(args, 1 if failed else 0)

    monkeypatch.setattr(shutil, "rmtree", fake_rmtree)
    monkeypatch.setattr(os, "rename", fake_rename)
    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(subprocess, "run", fake_run)
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setenv(ROOT_ENV, str(project_root()))  # so that the next line is undone after the test
    monkeypatch.delenv(ROOT_ENV)
    exec(compile(install_cell_source(), "install-cell", "exec"), {})
    return calls, written


def test_install_cell_does_nothing_off_colab(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run_install_cell(monkeypatch, on_colab=False) == ([], [])
    assert ROOT_ENV not in os.environ


def test_install_cell_on_colab_clones_and_installs(monkeypatch: pytest.MonkeyPatch) -> None:
    files: set[str] = set()
    (clone, install), written = _run_install_cell(monkeypatch, on_colab=True, files=files)
    assert clone[:2] == ["git", "clone"]
    assert REPOSITORY_URL in clone and clone[-1] == PARTIAL
    assert install[:4] == [sys.executable, "-m", "pip", "install"]
    assert f"{CHECKOUT}/requirements-colab.txt" in install and CHECKOUT in install
    assert written == [MARKER]  # after pip succeeded
    assert files == {CHECKOUT, MARKER}  # the finished clone under its own name, marked as installed
    assert os.environ[ROOT_ENV] == CHECKOUT


def test_install_cell_run_again_on_colab_only_sets_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # Running the cell again in the same runtime (or after a kernel restart) finds the finished install: no
    # second clone or install.
    assert _run_install_cell(monkeypatch, on_colab=True, files={CHECKOUT, MARKER}) == ([], [])
    assert os.environ[ROOT_ENV] == CHECKOUT


def test_install_cell_on_colab_installs_again_after_a_failed_install(monkeypatch: pytest.MonkeyPatch) -> None:
    files: set[str] = set()
    with pytest.raises(subprocess.CalledProcessError):  # pip exits with status 1: the cell stops there
        _run_install_cell(monkeypatch, on_colab=True, files=files, fails="pip")
    assert files == {CHECKOUT}  # the clone is there, the marker is not: nothing is taken as installed ...
    monkeypatch.undo()
    # ... and the next run of the cell installs instead of skipping to a kernel without the pins.
    (install,), written = _run_install_cell(monkeypatch, on_colab=True, files=files)
    assert install[:4] == [sys.executable, "-m", "pip", "install"] and written == [MARKER]
    assert files == {CHECKOUT, MARKER}


def test_install_cell_on_colab_clones_again_after_a_stopped_clone(monkeypatch: pytest.MonkeyPatch) -> None:
    files: set[str] = set()
    with pytest.raises(subprocess.CalledProcessError):
        _run_install_cell(monkeypatch, on_colab=True, files=files, fails="git")
    assert files == {PARTIAL}  # a half-made clone, not under the checkout's name
    monkeypatch.undo()
    (clone, install), written = _run_install_cell(monkeypatch, on_colab=True, files=files)
    assert clone[:2] == ["git", "clone"] and install[:4] == [sys.executable, "-m", "pip", "install"]
    assert files == {CHECKOUT, MARKER} and written == [MARKER]


def test_colab_requirements_keep_transformers_4() -> None:
    pins = (project_root() / "requirements-colab.txt").read_text(encoding="utf-8").splitlines()
    transformers = [line for line in pins if line.startswith("transformers")]
    assert len(transformers) == 1
    assert transformers[0].startswith("transformers==4.")


def test_colab_badge_url() -> None:
    url = colab_badge_url("notebooks/03_masking.ipynb")
    assert url == (f"https://colab.research.google.com/github/{colab.REPOSITORY}/blob/{colab.BRANCH}/"
                   "notebooks/03_masking.ipynb")


# --------------------------------------------------------------------------- stderr filter (written notebooks, nbval)

TF_STARTUP = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1795449715.281354   13237 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
    "GPU will not be used.\n"
)
LIBRARY_DEPRECATION = (
    "/work/main/.venv/lib/python3.11/site-packages/tf_keras/src/losses.py:2976: DeprecationWarning: "
    "The name tf.losses.sparse_softmax_cross_entropy is deprecated.\n"
    "  warnings.warn(\n"
)


def _stderr(text: str) -> NotebookNode:
    return new_output("stream", name="stderr", text=text)


def _texts(outputs: list[Any]) -> list[tuple[str, str]]:
    return [(o.get("name", o["output_type"]), o.get("text", "")) for o in outputs]


def test_noise_only_stderr_is_dropped() -> None:
    outputs = [_stderr(TF_STARTUP), new_output("stream", name="stdout", text="ids: [101, 102]\n")]
    assert _texts(drop_stderr_noise(outputs)) == [("stdout", "ids: [101, 102]\n")]


def test_real_stderr_line_is_kept() -> None:
    real = "ValueError: chunk_size must be an int of at least 8, got 4.\n"
    outputs = [_stderr(TF_STARTUP + real + LIBRARY_DEPRECATION)]
    assert _texts(drop_stderr_noise(outputs)) == [("stderr", real)]


@pytest.mark.parametrize(
    "line",
    [
        "2026-11-23 15:47:00.123456: I tensorflow/core/platform/cpu_feature_guard.cc:210] This TensorFlow binary "
        "is optimized to use available CPU instructions.\n",
        "WARNING:tensorflow:From /tmp/x.py:3: The name tf.losses is deprecated.\n",
        "WARNING:absl:Found untraced functions such as _update_step_xla.\n",
        "TensorFlow and JAX classes are deprecated and will be removed in Transformers v5. We recommend migrating "
        "to PyTorch classes or pinning your version of Transformers.\n",
        "All PyTorch model weights were used when initializing TFBertForMaskedLM.\n\n",
        "All the weights of TFBertForMaskedLM were initialized from the PyTorch model.\n",
        "All the layers of TFBertForMaskedLM were initialized from the model checkpoint at /home/x/model.\n",
        "If your task is similar to the task the model of the checkpoint was trained on, you can already use "
        "TFBertForMaskedLM for predictions without further training.\n",
        "Map: 100%|██████████| 240/240 [00:00<00:00, 2150.31 examples/s]\n",
        "Map: 240 examples [00:00, 2150.31 examples/s]\n",
        "huggingface/tokenizers: The current process just got forked, after parallelism has already been used. "
        "Disabling parallelism to avoid deadlocks...\nTo disable this warning, you can either:\n"
        "\t- Avoid using `tokenizers` before the fork if possible\n"
        "\t- Explicitly set the environment variable TOKENIZERS_PARALLELISM=(true | false)\n",
    ],
)
def test_known_library_chatter_is_noise(line: str) -> None:
    assert drop_stderr_noise([_stderr(line)]) == []


@pytest.mark.parametrize(
    "line",
    [
        "Some weights of TFBertForMaskedLM were not initialized from the model checkpoint and are newly "
        "initialized: ['mlm___cls']\n",
        "/tmp/ipykernel_1/123.py:3: UserWarning: the masking rate is above 0.5\n  warnings.warn(\n",
        "/work/main/src/mlm_tutorial/setup.py:60: RuntimeWarning: TensorFlow was imported before notebook_setup()\n",
        "WARNING:mlm_tutorial:something the learner must see\n",
        "WARNING:tensorflow:Gradients do not exist for variables ['mlm___cls/predictions/bias:0'] when minimizing "
        "the loss.\n",
        "WARNING:tf_keras:Model was constructed with shape (None, 128) but it was called on an input with "
        "incompatible shape (None, 64).\n",
        "ERROR:tensorflow:the graph could not be built\n",
        "Traceback (most recent call last):\n",
        "Map: done\n",
    ],
)
def test_other_stderr_is_not_noise(line: str) -> None:
    kept = drop_stderr_noise([_stderr(line)])
    assert len(kept) == 1
    assert kept[0]["text"].splitlines()[0] == line.splitlines()[0]


def test_a_real_tqdm_bar_is_noise() -> None:
    from nbval.plugin import coalesce_streams
    from tqdm import tqdm

    stream = io.StringIO()
    for _ in tqdm(range(240), desc="Map", unit=" examples", file=stream, mininterval=0, ascii=False):
        pass
    raw = stream.getvalue()
    assert "\r" in raw and "100%" in raw
    merged = coalesce_streams([_stderr(raw)])  # what nbval does before comparing
    assert drop_stderr_noise(merged) == []
    assert drop_stderr_noise([_stderr(raw)]) == []  # also without nbval's carriage-return handling


def test_errors_stdout_and_results_pass_through() -> None:
    error = new_output("error", ename="ValueError", evalue="bad", traceback=["ValueError: bad"])
    stdout = new_output("stream", name="stdout", text=TF_STARTUP)  # stdout is never filtered
    result = new_output("execute_result", data={"text/plain": "42"}, execution_count=1)
    outputs = [error, stdout, result]
    assert drop_stderr_noise(outputs) == outputs


def test_filter_does_not_modify_its_input() -> None:
    outputs = [_stderr(TF_STARTUP + "real\n")]
    snapshot = copy.deepcopy(outputs)
    drop_stderr_noise(outputs)
    assert outputs == snapshot


def test_tidy_notebook_cleans_every_code_cell_of_a_copy() -> None:
    real = "UserWarning: the masking rate is above 0.5\n"
    noisy = _notebook(new_markdown_cell(TF_STARTUP), new_code_cell("import tensorflow"),
                      new_code_cell("mask()"))
    noisy.cells[1].outputs = [_stderr(TF_STARTUP), new_output("stream", name="stdout", text="2.21\n")]
    noisy.cells[2].outputs = [_stderr(TF_STARTUP + real)]
    snapshot = copy.deepcopy(noisy)
    clean = tidy_notebook(noisy)
    assert _texts(clean.cells[1].outputs) == [("stdout", "2.21\n")]
    assert _texts(clean.cells[2].outputs) == [("stderr", real)]
    assert clean.cells[0].source == TF_STARTUP  # markdown is not output: untouched
    assert noisy == snapshot


def test_merge_streams_joins_consecutive_pieces_of_one_stream() -> None:
    result = new_output("execute_result", data={"text/plain": "42"}, execution_count=1)
    outputs = [new_output("stream", name="stdout", text="Epoch 1/2\n"),
               new_output("stream", name="stdout", text="loss 5.9\n"),
               _stderr("UserWarning: slow\n"), new_output("stream", name="stdout", text="Epoch 2/2\n"), result]
    snapshot = copy.deepcopy(outputs)
    merged = merge_streams(outputs)
    assert _texts(merged) == [("stdout", "Epoch 1/2\nloss 5.9\n"), ("stderr", "UserWarning: slow\n"),
                              ("stdout", "Epoch 2/2\n"), ("execute_result", "")]
    assert merged[-1] == result
    assert outputs == snapshot
    assert merge_streams([]) == []


def test_tidy_notebook_drops_noise_before_merging() -> None:
    noisy = _notebook(new_code_cell("fit()"))
    noisy.cells[0].outputs = [new_output("stream", name="stdout", text="Epoch 1/2\n"), _stderr(TF_STARTUP),
                              new_output("stream", name="stdout", text="Epoch 2/2\n")]
    snapshot = copy.deepcopy(noisy)
    assert _texts(tidy_notebook(noisy).cells[0].outputs) == [("stdout", "Epoch 1/2\nEpoch 2/2\n")]
    assert noisy == snapshot


def _nbval_cell() -> Any:
    """Just enough of an nbval cell item to run nbval's own ``compare_outputs``."""
    from nbval.plugin import IPyNbCell, nocolors

    cell = types.SimpleNamespace(
        parent=types.SimpleNamespace(skip_compare=("metadata", "traceback", "output_type", "name", "execution_count")),
        colors=nocolors,
        sanitize=lambda text: text,
        format_output_compare=lambda key, left, right: None,
    )
    cell.compare_outputs = lambda test, ref, skip_compare=None: IPyNbCell.compare_outputs(cell, test, ref, skip_compare)
    return cell


def test_nbval_comparison_ignores_noise_but_not_errors(ignore_stderr_noise: Callable[[Any], None]) -> None:
    stored = [new_output("stream", name="stdout", text="vocab 6000\n")]
    fresh_noisy = [_stderr(TF_STARTUP), new_output("stream", name="stdout", text="vocab 6000\n")]
    fresh_real = [_stderr(TF_STARTUP + "Exception ignored in: <function f>\n"),
                  new_output("stream", name="stdout", text="vocab 6000\n")]

    plain = _nbval_cell()
    assert plain.compare_outputs(fresh_noisy, stored) is False  # nbval alone fails on the noise

    cell = _nbval_cell()
    ignore_stderr_noise(cell)
    assert cell.compare_outputs(fresh_noisy, stored) is True
    assert cell.compare_outputs(stored, fresh_noisy) is True  # noise stored in the notebook is ignored too
    assert cell.compare_outputs(fresh_real, stored) is False
    assert cell.compare_outputs([new_output("stream", name="stdout", text="vocab 5999\n")], stored) is False

