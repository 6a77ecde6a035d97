"""Tools around the notebooks themselves: run them headless, make lecture material, keep the
README table, the Colab install cells and the slide layout in step with the notebooks.

Used by ``make run`` (``python -m mlm_tutorial.notebook_tools run``), by maintainers
(``sync``, ``refresh``, ``readme``) and by the tests. ``run`` only reads the source notebooks and
``data/``; the maintainers' ``refresh`` (``make notebooks``) rewrites the source notebooks' outputs.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from mlm_tutorial.colab import INSTALL_TAG, colab_badge_url, install_cell_source
from mlm_tutorial.paths import build_dir, display_path, project_root, replace_file
from mlm_tutorial.setup import NATIVE_START_UP_LINES

SOLUTION_TAG = "solution"
CODE_PLACEHOLDER = "# Your answer here. (The solution is in the teacher's copy of this notebook.)\n"
MARKDOWN_PLACEHOLDER = "*Your answer here.*"
TABLE_START = "<!-- notebook-table:start -->"
TABLE_END = "<!-- notebook-table:end -->"
#: README.md's performance section, written by :func:`mlm_tutorial.benchmarking.readme_summary`.
SUMMARY_START = "<!-- bench-summary:start -->"
SUMMARY_END = "<!-- bench-summary:end -->"
_NOTEBOOK_NAME = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in kernel tracebacks


def notebook_paths(folder: Path | None = None) -> list[Path]:
    """The series' notebooks (``NN_name.ipynb``) in order.

    Used by `make run`, `make notebooks` and notebook 00's series map.
    """
    folder = folder if folder is not None else project_root() / "notebooks"
    if not folder.is_dir():
        raise FileNotFoundError(f"notebook folder {folder} does not exist.")
    return sorted(p for p in folder.iterdir() if _NOTEBOOK_NAME.match(p.name))


def read_notebook(path: Path) -> Any:
    """Read a notebook file (nbformat version 4).

    Used by `make run`, `make notebooks`, `make readme` and the tests; no notebook calls it.
    """
    import nbformat

    return nbformat.read(str(path), as_version=4)


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


# --------------------------------------------------------------------------- student copies


def student_copy(notebook: Any) -> Any:
    """A copy of ``notebook`` for students: ``solution`` cells emptied, all outputs cleared.

    A solution cell keeps only its tags and slide type: pasted images (``attachments``) and other
    metadata, such as a figure's ``alt`` description, could give the answer away.

    Part of `make run` (the build folder); no notebook calls it.
    """
    result = copy.deepcopy(notebook)
    for cell in result.cells:
        if SOLUTION_TAG in _tags(cell):
            cell.source = CODE_PLACEHOLDER if cell.cell_type == "code" else MARKDOWN_PLACEHOLDER
            cell.pop("attachments", None)
            cell.metadata = type(cell.metadata)(
                {key: value for key, value in cell.metadata.items() if key in ("tags", "slideshow")}
            )
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return result


# --------------------------------------------------------------------------- README table


@dataclass(frozen=True)
class NotebookInfo:
    """What the README table says about one notebook, read from its first markdown cell.

    What :func:`notebook_info` returns; used by `make readme` and notebook 00's series map.
    """

    path: str
    title: str
    teaches: str
    minutes: str


#: A notebook's title line in its first markdown cell, ``# NN · Title``; group 1 is the title.
_TITLE = re.compile(r"^#\s+(.+)$", re.M)


def _first_markdown_cell(notebook: Any) -> Any:
    """The first markdown cell of ``notebook`` (its header: title, summary, estimated time), or None."""
    return next((c for c in notebook.cells if c.cell_type == "markdown"), None)


def notebook_info(path: Path, root: Path | None = None) -> NotebookInfo:
    """Title (``# ...``), one-line summary (first ``> ...`` line) and ``Estimated time:`` of a notebook.

    Used by `make readme` and notebook 00's series map.
    """
    root = root if root is not None else project_root()
    notebook = read_notebook(path)
    first = _first_markdown_cell(notebook)
    if first is None:
        raise ValueError(f"{path.name} has no markdown cell; it must open with a title.")
    text = first.source
    title = _TITLE.search(text)
    teaches = re.search(r"^>\s*(.+)$", text, re.M)
    minutes = re.search(r"Estimated time:\**\s*(.+?)\s*$", text, re.M)
    missing = [n for n, m in (("'# title'", title), ("'> summary'", teaches), ("'Estimated time:'", minutes)) if not m]
    if missing:
        raise ValueError(f"{path.name}: the first markdown cell lacks {', '.join(missing)}.")
    return NotebookInfo(
        path=path.relative_to(root).as_posix(),
        title=title.group(1).strip(),
        teaches=teaches.group(1).strip(),
        minutes=minutes.group(1).strip(),
    )


def readme_table(root: Path | None = None) -> str:
    """The README's notebook table, generated from the notebooks. Part of `make readme`; no notebook calls it."""
    root = root if root is not None else project_root()
    rows = [
        "| # | notebook | what it teaches | time | Colab |",
        "|---|---|---|---|---|",
    ]
    for path in notebook_paths(root / "notebooks"):
        info = notebook_info(path, root)
        badge = (
            f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_badge_url(info.path)})"
        )
        rows.append(f"| {path.name[:2]} | [{info.title}]({info.path}) | {info.teaches} | {info.minutes} | {badge} |")
    return "\n".join(rows)


def readme_with_block(readme: str, text: str, start: str, end: str) -> str:
    """Replace what lies between the markers ``start`` and ``end`` of ``readme`` with ``text``.

    Part of `make readme`; no notebook calls it.
    """
    if readme.count(start) != 1 or readme.count(end) != 1 or readme.index(end) < readme.index(start):
        raise ValueError(f"README.md needs the markers {start} and {end}, once each and in that order.")
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{text}\n{end}{tail}"


def readme_with_table(readme: str, table: str) -> str:
    """Replace what lies between the table markers of ``readme`` with ``table``.

    Part of `make readme`; no notebook calls it.
    """
    return readme_with_block(readme, table, TABLE_START, TABLE_END)


def updated_readme(readme: str, root: Path | None = None) -> str:
    """``readme`` with its generated parts written afresh: the notebook table (from the notebooks) and the
    performance section (from the `make bench` run kept in ``benchmarks/reference_run.json``).

    Part of `make readme`; no notebook calls it.
    """
    from mlm_tutorial.benchmarking import readme_summary, reference_run

    readme = readme_with_table(readme, readme_table(root))
    return readme_with_block(readme, readme_summary(reference_run(root)), SUMMARY_START, SUMMARY_END)


# --------------------------------------------------------------------------- install cells


def first_code_cell(notebook: Any) -> Any:
    """The first code cell of ``notebook`` (where the Colab install cell belongs), or None.

    Part of `make notebooks` (``sync``); no notebook calls it.
    """
    return next((c for c in notebook.cells if c.cell_type == "code"), None)


def sync_install_cell(notebook: Any) -> bool:
    """Make the notebook's first code cell the Colab install cell. Returns True if it changed.

    Part of `make notebooks` (``sync``); no notebook calls it.
    """
    import nbformat

    cell = first_code_cell(notebook)
    wanted = install_cell_source()
    if cell is not None and INSTALL_TAG in _tags(cell):
        if cell.source == wanted:
            return False
        cell.source = wanted
        return True
    new = nbformat.v4.new_code_cell(wanted, metadata={"tags": [INSTALL_TAG]})
    index = 1 if notebook.cells and notebook.cells[0].cell_type == "markdown" else 0
    notebook.cells.insert(index, new)
    return True


#: Notebook metadata key with the notebook's title: nbconvert puts it in the ``<title>`` of an HTML page
#: (the browser tab), of the slides (with " slides") and on a PDF export's title page; without it they
#: say "Notebook" (the series' pages and slides) or the file name (a PDF export).
TITLE_KEY = "title"


def sync_title(notebook: Any) -> bool:
    """Set the notebook's ``title`` metadata to the ``# `` heading of its first markdown cell. True if it changed.

    Part of `make notebooks` (``sync``); no notebook calls it.
    """
    first = _first_markdown_cell(notebook)
    heading = _TITLE.search(first.source) if first is not None else None
    if heading is None:
        raise ValueError("the notebook's first markdown cell has no '# title' line to take its title from.")
    title = heading.group(1).strip()
    if notebook.metadata.get(TITLE_KEY) == title:
        return False
    notebook.metadata[TITLE_KEY] = title
    return True


# --------------------------------------------------------------------------- slides

#: First line of a code cell that is not part of the lesson proper (a lecturer can skip it).
EXTRA_CODE_MARK = "# extra code"
#: Size of a slide in reveal.js units: large enough for a prose paragraph, a code cell and a plot;
#: reveal.js scales it to the screen (about 1.15x on a 1920x1080 screen, 0.8x on 1366x768).
SLIDE_WIDTH, SLIDE_HEIGHT = 1200, 900
#: Slide style: once reveal.js runs (``.ready``), a slide taller than SLIDE_HEIGHT scrolls inside the
#: slide (without reveal.js the file stays one long page); in reveal.js's print view (``?print-pdf``,
#: which marks ``<html>`` with ``print-pdf``) it keeps its height, so a PDF continues it on the next page
#: instead of cutting it off; long code and output lines wrap instead of running off the right edge; an
#: output wider than the slide (a wide table) scrolls sideways.
_SLIDE_CSS = f"""<style type="text/css">
html:not(.print-pdf) .reveal.ready .slides section:not(.stack) {{
  box-sizing: border-box; max-height: {SLIDE_HEIGHT}px; overflow-y: auto; }}
.reveal pre, .reveal pre code {{ white-space: pre-wrap; overflow-wrap: anywhere; }}
.reveal .jp-InputArea-editor pre {{ box-sizing: border-box; }}
.reveal .jp-OutputArea-output {{ overflow-x: auto; }}
</style>
"""


def slide_types(notebook: Any) -> list[str]:
    """The reveal.js ``slide_type`` of every cell, by the series' rule (one idea per slide).

    The title cell and each ``## `` section start a new slide (left-right); every other markdown cell
    starts a sub-slide (up-down) that also holds the code cells right after it; a code cell that follows
    another shown code cell starts a sub-slide of its own, so an exercise's solution comes one slide
    after its answer cell. The Colab install cell, the setup cell (the first two code cells) and
    cells that open with ``# extra code`` are left out of the slides.

    Part of `make notebooks` (``sync``); no notebook calls it.
    """
    kinds: list[str] = []
    code_cells = 0
    previous = None  # type of the last cell that is shown
    for index, cell in enumerate(notebook.cells):
        text = cell.source.lstrip()
        if cell.cell_type == "code":
            code_cells += 1
            if code_cells <= 2 or text.startswith(EXTRA_CODE_MARK):
                kinds.append("skip")
                continue
            kinds.append("subslide" if previous == "code" else "-")
        elif index == 0 or text.startswith("## "):
            kinds.append("slide")
        else:
            kinds.append("subslide")
        previous = cell.cell_type
    return kinds


def sync_slide_types(notebook: Any) -> bool:
    """Set every cell's ``slideshow.slide_type`` to :func:`slide_types`. Returns True if any changed.

    Part of `make notebooks` (``sync``); no notebook calls it.
    """
    changed = False
    for cell, kind in zip(notebook.cells, slide_types(notebook)):
        slideshow = cell.metadata.setdefault("slideshow", {})
        if slideshow.get("slide_type") != kind:
            slideshow["slide_type"] = kind
            changed = True
    return changed


#: Cell metadata key that holds the text alternative of the figure a code cell draws (the key
#: nbconvert's classic HTML template reads; its lab and reveal templates, the series' exports, do not).
ALT_TEXT_KEY = "alt"
#: The ``alt`` nbconvert gives an image that has none.
NO_ALT_TEXT = "No description has been provided for this image"
_IMAGE_TYPES = ("image/png", "image/jpeg")
_IMG_TAG = re.compile(r"<img\b[^>]*>")
_IMG_DATA = re.compile(r'\bsrc="data:(' + "|".join(map(re.escape, _IMAGE_TYPES)) + r');base64,([^"]*)"')
_IMG_ALT = re.compile(r'\salt="[^"]*"')


def _image_key(mimetype: str, data: str) -> tuple[str, str]:
    return mimetype, "".join(str(data).split())


def figure_alt_texts(notebook: Any) -> dict[tuple[str, str], str]:
    """The text alternative of every image in ``notebook``'s outputs, keyed by (mimetype, base64 data):
    the ``alt`` metadata of the cell that drew it. Images of cells without one are left out.

    Part of `make run` (the build folder); no notebook calls it.
    """
    return {
        _image_key(mimetype, output["data"][mimetype]): str(cell.metadata[ALT_TEXT_KEY])
        for cell in notebook.cells
        if cell.cell_type == "code" and cell.metadata.get(ALT_TEXT_KEY)
        for output in cell.get("outputs", [])
        for mimetype in _IMAGE_TYPES
        if mimetype in output.get("data", {})
    }


def with_alt_text(html: str, notebook: Any) -> str:
    """``html`` exported from ``notebook`` with every embedded figure's ``alt`` set from
    :func:`figure_alt_texts`, so a screen reader reads what the figure shows instead of nbconvert's
    "no description". Images without a text alternative keep what nbconvert gave them.

    Part of `make run` (the build folder); no notebook calls it.
    """
    texts = figure_alt_texts(notebook)

    def described(match: re.Match[str]) -> str:
        tag = match.group(0)
        data = _IMG_DATA.search(tag)
        text = texts.get(_image_key(*data.groups())) if data else None
        if text is None:
            return tag
        alt = f' alt="{escape(text, quote=True)}"'
        if _IMG_ALT.search(tag):
            return _IMG_ALT.sub(lambda _: alt, tag, count=1)
        return tag.replace("<img", "<img" + alt, 1)

    return _IMG_TAG.sub(described, html)


#: Page style. Printed (and a browser's "Save as PDF"): code and output lines wrap at the page's edge,
#: where nbconvert's style would cut them off, and tables are set a little smaller, so that a table of
#: the series' width fits the page. On screen only a code name in the prose longer than the line (on a
#: phone) breaks; everything else stays as nbconvert draws it.
_PAGE_CSS = """<style type="text/css">
.jp-RenderedMarkdown :not(pre) > code { overflow-wrap: anywhere; }
@media print {
  pre, pre code { white-space: pre-wrap; overflow-wrap: anywhere; }
  .jp-InputArea-editor pre { box-sizing: border-box; }
  .jp-OutputArea-output table { font-size: 80%; }
}
</style>
"""


def _with_style(html: str, style: str, what: str) -> str:
    """``html`` with ``style`` added at the end of its one ``<head>``; ``what`` names the template in the error."""
    if html.count("</head>") != 1:
        raise ValueError(f"nbconvert's {what} template changed: expected one </head> to add the series' style to.")
    return html.replace("</head>", style + "</head>", 1)


def page_html(notebook: Any) -> str:
    """``notebook`` as one HTML page (nbconvert's lab template) with its figures described.

    Printed, long code and output lines wrap instead of being cut at the page's edge, and tables are
    set at 80%; on a phone-wide screen a long code name in the prose breaks instead of running past the
    edge (:data:`_PAGE_CSS`).

    Part of `make run` (the build folder); no notebook calls it.
    """
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_notebook_node(notebook)
    return _with_style(with_alt_text(html, notebook), _PAGE_CSS, "page")


def slides_html(notebook: Any, local_assets: bool = False) -> str:
    """``notebook`` as reveal.js slides (one HTML file), in the layout the series' decks use.

    Slides are ``SLIDE_WIDTH`` x ``SLIDE_HEIGHT``; a slide with more than that scrolls (in reveal.js's
    print view, ``?print-pdf``, it runs on over more pages), long code lines wrap, and a wide table
    scrolls sideways, so nothing is cut off. reveal.js, jQuery, RequireJS and
    MathJax load from their public CDNs when the file is opened (nbconvert's defaults), so presenting
    needs a network; offline the file shows as one long page. With ``local_assets``, reveal.js and
    RequireJS load from the folders :func:`copy_slide_assets` puts beside the slides instead, so the
    slides present without a network (jQuery and MathJax still come from their CDNs; the series' slides
    have no formulas, and jQuery only serves nbconvert's scrolling option, which they do not use).

    Part of `make run` (the build folder); no notebook calls it.
    """
    from nbconvert import SlidesExporter

    local = {"reveal_url_prefix": _REVEAL_FOLDER, "require_js_url": _REQUIRE_JS} if local_assets else {}
    exporter = SlidesExporter(reveal_width=str(SLIDE_WIDTH), reveal_height=str(SLIDE_HEIGHT), **local)
    html, _ = exporter.from_notebook_node(notebook)
    return _with_style(with_alt_text(html, notebook), _SLIDE_CSS, "slide")


# --------------------------------------------------------------------------- slides without a network

#: Environment variable naming a folder where :data:`SLIDE_ASSETS_NPM` ran (or its ``node_modules``).
SLIDE_ASSETS_ENV = "MLM_TUTORIAL_SLIDE_ASSETS"
#: The npm command that fetches reveal.js and RequireJS in the versions nbconvert's slides load online.
SLIDE_ASSETS_NPM = "npm install reveal.js@4.0.2 requirejs@2.1.10"
_REVEAL_FOLDER = "reveal.js"
_REQUIRE_JS = "requirejs/require.js"
#: The files the slides load (the ``simple`` theme is nbconvert's default), with reveal.js's licence;
#: paths inside ``node_modules``, and the same paths beside the slides.
SLIDE_ASSETS = (
    f"{_REVEAL_FOLDER}/dist/reveal.js",
    f"{_REVEAL_FOLDER}/dist/reveal.css",
    f"{_REVEAL_FOLDER}/dist/theme/simple.css",
    f"{_REVEAL_FOLDER}/plugin/notes/notes.js",
    f"{_REVEAL_FOLDER}/LICENSE",
    _REQUIRE_JS,
)


def slide_assets_folder() -> Path | None:
    """The ``node_modules`` folder named by ``MLM_TUTORIAL_SLIDE_ASSETS``; None when it is unset or empty.

    The variable may name the folder where :data:`SLIDE_ASSETS_NPM` ran or its ``node_modules``.
    Raises ``ValueError`` naming the first missing file and the command that fetches it, so `make run`
    stops before it runs any notebook. Part of `make run` (the build folder); no notebook calls it.
    """
    value = os.environ.get(SLIDE_ASSETS_ENV, "").strip()
    if not value:
        return None
    named = Path(value).expanduser()
    folder = named / "node_modules" if (named / "node_modules").is_dir() else named
    missing = [name for name in SLIDE_ASSETS if not (folder / name).is_file()]
    if missing:
        raise ValueError(
            f"{SLIDE_ASSETS_ENV}={value} should name a folder where `{SLIDE_ASSETS_NPM}` ran, but "
            f"{folder / missing[0]} is missing. Run that command in the folder (once, with a network), "
            f"or unset {SLIDE_ASSETS_ENV} to make slides that load reveal.js from its CDN."
        )
    return folder


def copy_slide_assets(packages: Path, slides: Path) -> None:
    """Copy :data:`SLIDE_ASSETS` from the ``node_modules`` folder ``packages`` into the folder ``slides``,
    under the same relative paths, so that slides made with ``slides_html(..., local_assets=True)``
    present without a network, also when the folder is copied to another machine.

    Part of `make run` (the build folder); no notebook calls it.
    """
    import shutil

    for name in SLIDE_ASSETS:
        target = slides / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(packages / name, target)


# --------------------------------------------------------------------------- library chatter on stderr

#: Library chatter that may reach a notebook's stderr and says nothing about the lesson.
#: Each pattern is matched against one line of a stderr stream output (``re.match``).
STDERR_NOISE: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        # TensorFlow/XLA C++ logs (notebook_setup already keeps those of TensorFlow's start-up out).
        *NATIVE_START_UP_LINES,
        # Python-side logger notes of TensorFlow, absl, Keras 2 and h5py that are routine: deprecations
        # by location ("WARNING:tensorflow:From /x.py:3: The name ... is deprecated") and SavedModel's
        # untraced functions. Other logger warnings ("Gradients do not exist for variables ...") stay.
        r"(?:INFO|WARNING):(?:tensorflow|absl|tf_keras|keras|h5py):(?:From \S+:\d+: |Found untraced functions )",
        # Deprecation notices raised inside installed libraries: "<...>/site-packages/x.py:12: FutureWarning: ..."
        # (their indented source line goes with them, see drop_stderr_noise). UserWarnings stay.
        r".*[/\\](?:site|dist)-packages[/\\].*:\d+: (?:Deprecation|PendingDeprecation|Future)Warning: ",
        # transformers 4.x on every TF model: "TensorFlow and JAX classes are deprecated ...".
        r"TensorFlow and JAX classes are deprecated and will be removed in Transformers v5\.",
        # transformers' confirmations that every weight was loaded (they name local paths). The warnings
        # "Some weights ... were not initialized/used" are not in this list: they are real news.
        r"All (?:model checkpoint layers|PyTorch model weights|TF 2\.0 model weights) were used when initializing ",
        r"All the (?:layers|weights) of \w+ were initialized from the ",
        r"If your task is similar to the task the model of the checkpoint was trained on, ",
        # tqdm progress bars with a total ("Map: 100%|##########| 240/240 [00:00<00:00, 9.1 examples/s]")
        # and without one ("Map: 240 examples [00:00, 9.1 examples/s]").
        r".*\d+%\|.*\| *[\d.]+[kMGT]?/[\d.]+[kMGT]? *\[[^\]]*\] *$",
        r".*\b[\d.]+[kMGT]?(?: [A-Za-z]+)? \[\d+:\d\d(?::\d\d)?, [^\]]*(?:/s|s/[A-Za-z]+)\] *$",
        # The tokenizers library after a fork (multi-line; its indented lines go with it).
        r"huggingface/tokenizers: The current process just got forked",
        r"To disable this warning, you can either:$",
    )
)


def is_noise_line(line: str) -> bool:
    """True when ``line`` (or every carriage-return segment of it) is known library chatter.

    Part of `make run` and `make notebooks`; no notebook calls it.
    """
    segments = [part for part in line.split("\r") if part.strip()]
    return bool(segments) and all(any(p.match(part) for p in STDERR_NOISE) for part in segments)


def _without_noise(text: str) -> str:
    """``text`` without noise lines; an indented or empty line right after a dropped line goes too."""
    kept: list[str] = []
    dropping = False
    for line in text.splitlines(keepends=True):
        if is_noise_line(line):
            dropping = True
            continue
        if dropping and (not line.strip() or line[0] in " \t"):
            continue
        dropping = False
        kept.append(line)
    return "".join(kept)


def drop_stderr_noise(outputs: Iterable[Any]) -> list[Any]:
    """A copy of a cell's ``outputs`` with the noise lines of its stderr streams removed.

    A stderr stream that holds only noise disappears; one with other lines keeps those lines.
    Outputs of every other kind (stdout, results, displays, errors) are returned unchanged. The
    given outputs are not modified.

    Part of `make run` and `make notebooks`; no notebook calls it.
    """
    from nbformat import NotebookNode

    result = []
    for output in outputs:
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            text = _without_noise(output.get("text", ""))
            if not text.strip():
                continue
            output = NotebookNode({**output, "text": text})
        result.append(output)
    return result


def merge_streams(outputs: Iterable[Any]) -> list[Any]:
    """A copy of a cell's ``outputs`` in which each run of consecutive stream outputs of the same name
    (stdout or stderr) is one output, as Jupyter shows them.

    A kernel sends what a cell prints in many pieces (Keras sends every line of a training log on its
    own); kept apart, the HTML and the slides show each piece as a separate block. The given outputs
    are not modified.

    Part of `make run` and `make notebooks`; no notebook calls it.
    """
    from nbformat import NotebookNode

    result: list[Any] = []
    for output in outputs:
        previous = result[-1] if result else None
        if (output.get("output_type") == "stream" and previous is not None
                and previous.get("output_type") == "stream" and previous.get("name") == output.get("name")):
            result[-1] = NotebookNode({**previous, "text": previous.get("text", "") + output.get("text", "")})
        else:
            result.append(output)
    return result


def tidy_notebook(notebook: Any) -> Any:
    """A copy of ``notebook`` as ``run`` and ``refresh`` write it: in every code cell, the known library
    chatter dropped from stderr (:func:`drop_stderr_noise`), then consecutive stream outputs merged
    (:func:`merge_streams`).

    So the committed notebooks, the HTML and the slides show the lesson's outputs without TensorFlow's
    start-up log lines, each printed output in one block. nbval compares cells through
    :func:`drop_stderr_noise` too and merges a cell's streams itself, so a fresh run's chatter does not
    fail the check and the merged committed outputs still match.

    Part of `make run` and `make notebooks`; no notebook calls it.
    """
    result = copy.deepcopy(notebook)
    for cell in result.cells:
        if cell.get("cell_type") == "code":
            cell.outputs = merge_streams(drop_stderr_noise(cell.get("outputs", [])))
    return result


# --------------------------------------------------------------------------- running


def execute(notebook: Any, cwd: Path, timeout: int = 1800, kernel_log: Path | None = None) -> Any:
    """Execute ``notebook`` (a copy is made) in the current Python environment.

    When a cell fails, the exception carries the partly executed copy as ``error.notebook`` (the
    cells that ran, with their outputs and the error), so the build output shows where it failed.
    On Linux and macOS the kernel talks to this process over Unix sockets in a private temporary
    folder (IPC transport) rather than over plain-text TCP ports on localhost. With ``kernel_log``, the
    kernel process's own standard error goes to that file instead of the terminal: what native code writes
    there (the notebook receives it as stderr output too), such as the last words of a crashing kernel.

    Part of `make run` and `make notebooks`; no notebook calls it.
    """
    from nbclient import NotebookClient
    from traitlets.config import Config

    result = copy.deepcopy(notebook)
    config = Config()
    launch: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        if os.name == "posix":
            sockets = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlm-kernel-")))
            config.KernelManager.transport = "ipc"
            config.KernelManager.ip = str(sockets / "kernel")
        if kernel_log is not None:
            kernel_log.parent.mkdir(parents=True, exist_ok=True)
            launch["stderr"] = stack.enter_context(kernel_log.open("wb"))
        client = NotebookClient(
            result,
            config=config,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(cwd)}},
        )
        try:
            client.execute(**launch)
        except Exception as error:
            error.notebook = result  # type: ignore[attr-defined]
            raise
    return result


def _execute_source(path: Path, log: Path) -> tuple[Any, str | None]:
    """Execute the source notebook at ``path`` in its own folder, the kernel's stderr going to ``log``.

    Returns the executed copy and ``None``; when a cell fails, the partly executed copy and the reason
    (the exception's last line without colour codes, and where the kernel log is).
    """
    notebook = read_notebook(path)
    try:
        return execute(notebook, cwd=path.parent, kernel_log=log), None
    except Exception as error:  # noqa: BLE001 - the callers report it and go on with the other notebooks
        message = _ANSI_ESCAPE.sub("", str(error)).strip()
        reason = message.splitlines()[-1] if message else type(error).__name__
        return getattr(error, "notebook", None) or notebook, f"{reason} (kernel log: {log})"


def _write_outputs(notebook: Any, name: str, out: Path, local_assets: bool = False) -> None:
    import nbformat

    for sub in ("notebooks", "html", "slides", "student"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    notebook = tidy_notebook(notebook)
    nbformat.write(notebook, str(out / "notebooks" / f"{name}.ipynb"))
    (out / "html" / f"{name}.html").write_text(page_html(notebook), encoding="utf-8")
    slides = slides_html(notebook, local_assets=local_assets)
    (out / "slides" / f"{name}.slides.html").write_text(slides, encoding="utf-8")
    nbformat.write(student_copy(notebook), str(out / "student" / f"{name}.ipynb"))


def run_all(selected: list[str] | None = None) -> int:
    """Execute every notebook into the build folder; return the number that failed."""
    root = project_root()
    out = build_dir()
    paths = notebook_paths(root / "notebooks")
    if selected:
        paths = [p for p in paths if any(s in p.name for s in selected)]
        if not paths:
            raise ValueError(f"no notebook matches {selected}.")
    assets = slide_assets_folder()
    print(f"Running {len(paths)} notebook(s) into {out} (HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '')!r})")
    if assets is not None:
        copy_slide_assets(assets, out / "slides")
        print(f"Slides load reveal.js and RequireJS from {out / 'slides'} (copied from {assets}): no network needed.")
    failures = 0
    total = time.perf_counter()
    for number, path in enumerate(paths, 1):
        print(f"[{number}/{len(paths)}] {path.name} ...", flush=True)
        start = time.perf_counter()
        executed, failure = _execute_source(path, out / "logs" / f"{path.stem}.log")
        _write_outputs(executed, path.stem, out, assets is not None)  # a failed one's copy shows where it failed
        status = "ok"
        if failure is not None:
            status = f"FAILED: {failure}"
            failures += 1
        print(f"[{number}/{len(paths)}] {path.name} {status} in {time.perf_counter() - start:.1f} s", flush=True)
    print(f"Done in {time.perf_counter() - total:.1f} s: {len(paths) - failures} ok, {failures} failed. "
          f"Executed notebooks, HTML, slides, student copies and kernel logs are in {out}.")
    return failures


#: The run time in a notebook's header, "(offline run: about 20 s on 2 CPU cores)"; group 1 is the text inside.
OFFLINE_RUN = re.compile(r"\(offline run:\s*([^)]*)\)")


def offline_run_text(seconds: float, cores: int | None = None) -> str:
    """``"offline run: about N s on C CPU cores"``: ``seconds`` to the nearest 5 s (at least 5 s).

    ``cores`` defaults to the CPU cores this process may use. Part of `make notebooks`
    (:func:`stamp_offline_run`); no notebook calls it.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"seconds must be a number, got {type(seconds).__name__}.")
    if not seconds >= 0:
        raise ValueError(f"seconds must be a number of seconds >= 0, got {seconds!r}.")
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    about = max(5, 5 * round(seconds / 5))
    return f"offline run: about {about} s on {cores} CPU cores"


def stamp_offline_run(notebook: Any, seconds: float, cores: int | None = None) -> bool:
    """Write a run's time into the ``(offline run: ...)`` of the notebook's first markdown cell.

    Part of `make notebooks` (:func:`refresh_sources`), so the run time that each header, notebook 00's
    series map and the README table state is the time of the run that made the committed outputs.
    Returns whether the header changed; a notebook whose first markdown cell has no
    ``(offline run: ...)`` is left as it is.
    """
    first = _first_markdown_cell(notebook)
    if first is None or not OFFLINE_RUN.search(first.source):
        return False
    stamped = OFFLINE_RUN.sub(f"({offline_run_text(seconds, cores)})", first.source, count=1)
    changed = stamped != first.source
    first.source = stamped
    return changed


def refuse_old_checkpoints() -> None:
    """Raise ``FileExistsError`` if the build folder holds training checkpoints of earlier runs.

    Part of `make notebooks` (``refresh``): notebook 04 would resume from them or report them, and the
    committed outputs must show what a first run shows. An empty checkpoint folder is no obstacle.
    """
    checkpoints = build_dir(create=False) / "checkpoints"
    if checkpoints.is_dir() and any(checkpoints.iterdir()):
        raise FileExistsError(
            f"{display_path(checkpoints)} holds training checkpoints of earlier runs, which notebook 04 would "
            "resume or report in its committed output. Move that folder elsewhere or delete it, then run "
            "again. No notebook was run or changed."
        )


def write_source_notebook(notebook: Any, path: Path) -> None:
    """Write ``notebook`` over the source notebook ``path`` in one step (:func:`mlm_tutorial.paths.replace_file`).

    Used by the maintainers' `make notebooks` (``sync`` and ``refresh``); the text is what ``nbformat.write``
    gives, ending in one newline.
    """
    import io

    import nbformat

    text = io.StringIO()
    nbformat.write(notebook, text)
    replace_file(path, text.getvalue())


def sync_sources() -> list[str]:
    """Write the Colab install cell, the slide types and the title into every source notebook.

    Part of `make notebooks` (``sync``, and ``refresh --sync`` before its runs); returns the names of the
    notebooks it changed. Only these generated parts are touched; a notebook already in step is not rewritten.
    """
    changed = []
    for path in notebook_paths():
        notebook = read_notebook(path)
        if sync_install_cell(notebook) | sync_slide_types(notebook) | sync_title(notebook):
            write_source_notebook(notebook, path)
            changed.append(path.name)
    return changed


def refresh_sources(sync: bool = False) -> int:
    """Re-execute source notebooks in place, for their committed outputs; return the number that failed.

    The maintainers' ``make notebooks`` (with ``sync=True``: :func:`sync_sources` first). Notebook 00 runs
    last because its map of the series reads the other notebooks. A notebook whose run fails is not
    written (its error is printed and its kernel's stderr is in ``build/logs/``), so a broken run never
    replaces good outputs; only ``sync`` may have changed its generated cells before.

    Each updated notebook's header gets the time its run took (:func:`stamp_offline_run`). Notebook 00
    shows that time for every notebook in its map, its own included, so when its own changes it runs
    once more to show the new one.

    Raises ``FileExistsError`` before changing or running anything if the build folder holds training
    checkpoints (:func:`refuse_old_checkpoints`).
    """
    refuse_old_checkpoints()
    if sync:
        for name in sync_sources():
            print(f"updated {name}", flush=True)
    paths = notebook_paths()
    ordered = [p for p in paths if not p.name.startswith("00_")] + [p for p in paths if p.name.startswith("00_")]
    logs = build_dir() / "logs"
    failures = 0
    for number, path in enumerate(ordered, 1):
        print(f"[{number}/{len(ordered)}] {path.name} ...", flush=True)
        start = time.perf_counter()
        executed, failure = _execute_source(path, logs / f"{path.stem}.log")
        seconds = time.perf_counter() - start
        if failure is not None:  # keep the old notebook, go on with the others
            print(f"[{number}/{len(ordered)}] {path.name} FAILED, left unchanged: {failure}", flush=True)
            failures += 1
            continue
        changed = stamp_offline_run(executed, seconds)
        write_source_notebook(tidy_notebook(executed), path)
        print(f"[{number}/{len(ordered)}] {path.name} updated in {seconds:.1f} s", flush=True)
        if changed and path.name.startswith("00_"):  # its map still shows its old time: once more
            executed, failure = _execute_source(path, logs / f"{path.stem}.log")
            if failure is not None:
                print(f"[{number}/{len(ordered)}] {path.name} second run FAILED, first kept: {failure}", flush=True)
                failures += 1
                continue
            first = _first_markdown_cell(executed)
            write_source_notebook(tidy_notebook(executed), path)
            print(f"[{number}/{len(ordered)}] {path.name} run again to show its new time in its map "
                  f"{OFFLINE_RUN.search(first.source).group(0)}", flush=True)
    return failures


def main(argv: list[str] | None = None) -> int:
    """The command line ``python -m mlm_tutorial.notebook_tools``: ``run`` (`make run`), ``sync`` and
    ``refresh`` (`make notebooks`), ``readme`` (`make readme`).
    """
    parser = argparse.ArgumentParser(prog="python -m mlm_tutorial.notebook_tools", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute the notebooks into the build folder")
    run.add_argument("only", nargs="*", help="run only notebooks whose name contains one of these")
    refresh = sub.add_parser("refresh", help="re-execute the source notebooks in place (maintainers)")
    refresh.add_argument("--sync", action="store_true", help="first write the generated cells, as the sync command "
                                                             "does (after the check for earlier checkpoints)")
    sub.add_parser("sync", help="write the Colab install cell, the slide types and the title into every source "
                                "notebook")
    sub.add_parser("readme", help="regenerate the notebook table and the performance section in README.md")
    args = parser.parse_args(argv)
    if args.command == "run":
        try:
            return 1 if run_all(args.only) else 0
        except ValueError as error:
            print(f"run: {error}", file=sys.stderr)
            return 2
    if args.command == "refresh":
        try:
            return 1 if refresh_sources(sync=args.sync) else 0
        except FileExistsError as error:
            print(f"refresh: {error}", file=sys.stderr)
            return 2
    if args.command == "sync":
        for name in sync_sources():
            print(f"updated {name}")
        return 0
    if args.command == "readme":
        readme = project_root() / "README.md"
        try:
            text = updated_readme(readme.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            print(f"readme: {error}", file=sys.stderr)
            return 2
        replace_file(readme, text)
        print(f"updated {readme}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
