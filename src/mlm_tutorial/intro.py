"""The first look at masked language modeling: who sees which context, fill-mask results, the series map.

Introduced in notebook 00 (what is masked language modeling). Nothing here imports TensorFlow:
the helpers draw, tabulate and read notebooks; the models come from :mod:`mlm_tutorial.resources`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    import pandas as pd
    from matplotlib.figure import Figure

#: The two kinds of language model notebook 00 compares.
KINDS = ("masked", "causal")

_MINUTES = re.compile(r"^\s*(\d+)\s*min(?:ute)?s?\b")


# --------------------------------------------------------------------------- who sees what


def _check_position(length: Any, target: Any) -> None:
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"length must be a positive int (the number of tokens), got {length!r}.")
    if isinstance(target, bool) or not isinstance(target, int):
        raise TypeError(f"target must be an int position, got {type(target).__name__}.")
    if not 0 <= target < length:
        raise ValueError(f"target={target} is outside the sequence: use a position from 0 to {length - 1}.")


def context_positions(length: int, target: int, kind: str) -> list[int]:
    """The positions a model may look at to predict the token at ``target``.

    Introduced in notebook 00. ``kind="masked"``: every other position, left and right of the
    hidden token. ``kind="causal"``: only the positions before it, because a causal LM reads
    left to right and must not see what it is about to predict.
    """
    _check_position(length, target)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    if kind == "masked":
        return [position for position in range(length) if position != target]
    return list(range(target))


def plot_context(tokens: Sequence[str], target: int, mask_token: str) -> Figure:
    """Two rows of tokens: what a masked LM and a causal LM see when they predict ``tokens[target]``.

    Introduced in notebook 00. In the masked LM's row the target is shown as ``mask_token`` (pass
    ``tokenizer.mask_token``) and arcs run to it from both sides; in the causal LM's row the target
    is a question mark, arcs come only from the left, and the tokens after it are greyed out because
    the model has not read them yet. Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    if isinstance(tokens, str) or not isinstance(tokens, Sequence) or not tokens:
        raise ValueError("tokens must be a non-empty list of strings, e.g. tokenizer.tokenize(sentence).")
    if not all(isinstance(token, str) for token in tokens):
        raise TypeError("tokens must all be strings; convert ids with tokenizer.convert_ids_to_tokens(ids).")
    _check_position(len(tokens), target)
    if not isinstance(mask_token, str) or not mask_token:
        raise ValueError(f"mask_token must be the tokenizer's mask token (tokenizer.mask_token), got {mask_token!r}.")

    length = len(tokens)
    figure, axes = plt.subplots(2, 1, figsize=(max(6.0, 1.1 * length), 4.2))
    rows = (
        ("masked", "masked LM: predicts the hidden token from both sides", mask_token, "#1f4e79"),
        ("causal", "causal LM: predicts the next token from the left only", "?", "#c55a11"),
    )
    for ax, (kind, title, shown, colour) in zip(axes, rows):
        seen = set(context_positions(length, target, kind))
        for position, token in enumerate(tokens):
            if position == target:
                text, face, edge, weight = shown, colour, colour, "bold"
                font_colour = "white"
            elif position in seen:
                text, face, edge, weight, font_colour = token, "white", colour, "normal", "black"
            else:
                text, face, edge, weight, font_colour = token, "#eeeeee", "#bbbbbb", "normal", "#999999"
            ax.text(position, 0, text, ha="center", va="center", fontsize=10, fontweight=weight,
                    color=font_colour, bbox={"boxstyle": "round,pad=0.35", "facecolor": face, "edgecolor": edge})
        for position in sorted(seen):
            # flatter arcs for far tokens, so that every arc stays inside its row
            bend = min(0.5, 1.6 / abs(target - position)) * (-1 if position < target else 1)
            ax.add_patch(FancyArrowPatch((position, 0.18), (target, 0.18), connectionstyle=f"arc3,rad={bend}",
                                         arrowstyle="-|>", mutation_scale=10, color=colour, alpha=0.7, lw=1.2))
        ax.set_title(f"{title} ({len(seen)} of {length - 1} other tokens)", fontsize=10, loc="left")
        ax.set_xlim(-0.7, length - 0.3)
        ax.set_ylim(-0.5, 1.6)
        ax.axis("off")
    figure.tight_layout()
    return figure


# --------------------------------------------------------------------------- fill-mask results


def guesses_table(guesses: Any, decimals: int = 3) -> pd.DataFrame:
    """The fill-mask pipeline's answer for one sentence as a table: ``rank``, ``token``, ``score``.

    Introduced in notebook 00. ``guesses`` is what ``fill_mask(sentence)`` returns: a list of dicts
    with ``token_str`` and ``score``, best first. Tokens lose the leading space that byte-level BPE
    tokenizers put on them; scores are rounded to ``decimals`` places so that printed tables do not
    change with float noise.
    """
    import pandas as pd

    if isinstance(decimals, bool) or not isinstance(decimals, int) or decimals < 0:
        raise ValueError(f"decimals must be a non-negative int, got {decimals!r}.")
    if not isinstance(guesses, (list, tuple)) or not guesses:
        raise ValueError(
            f"guesses must be the non-empty list that fill_mask(sentence) returns, got {type(guesses).__name__}."
        )
    if isinstance(guesses[0], (list, tuple)):
        raise ValueError(
            "guesses holds one list per sentence or per mask token: pass one sentence's list, e.g. guesses[0]."
        )
    rows = []
    for rank, guess in enumerate(guesses, 1):
        if not isinstance(guess, Mapping) or "token_str" not in guess or "score" not in guess:
            raise TypeError(
                f"guesses[{rank - 1}] must be a dict with 'token_str' and 'score' (the pipeline's format), got {guess!r}."
            )
        rows.append({"rank": rank, "token": str(guess["token_str"]).strip(), "score": round(float(guess["score"]), decimals)})
    return pd.DataFrame(rows, columns=["rank", "token", "score"])


def plot_guesses(tables: Mapping[str, pd.DataFrame]) -> Figure:
    """Horizontal bars of the top-k scores, one panel per entry of ``tables`` (notebook 00).

    ``tables`` maps a panel title (e.g. the model's name and the sentence) to a
    :func:`guesses_table`. The best guess is at the top. Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    if not isinstance(tables, Mapping) or not tables:
        raise ValueError("tables must be a non-empty dict {title: guesses_table(...)}.")
    for title, table in tables.items():
        if not isinstance(table, pd.DataFrame) or not {"rank", "token", "score"} <= set(table.columns):
            raise TypeError(f"tables[{title!r}] must be a table from guesses_table(), got {type(table).__name__}.")
        if table.empty:
            raise ValueError(f"tables[{title!r}] is empty: the pipeline returned no guesses.")
    count = len(tables)
    figure, axes = plt.subplots(1, count, figsize=(4.6 * count, 0.45 * max(len(t) for t in tables.values()) + 1.2),
                                squeeze=False)
    for ax, (title, table) in zip(axes[0], tables.items()):
        part = table.sort_values("rank")
        ax.barh(range(len(part)), part["score"], color="#1f4e79")
        ax.set_yticks(range(len(part)))
        ax.set_yticklabels(part["token"])
        ax.invert_yaxis()
        for y, score in enumerate(part["score"]):
            ax.annotate(f"{score:.3f}", (score, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
        ax.set_xlim(0, max(float(part["score"].max()) * 1.3, 1e-3))
        ax.set_xlabel("probability")
        ax.set_title(title if len(title) <= 50 else title[:47] + "...", fontsize=9)
    figure.tight_layout()
    return figure


# --------------------------------------------------------------------------- the series map

#: The columns of :func:`series_map`'s table, in order.
SERIES_MAP_COLUMNS = ["#", "notebook", "what you will be able to do", "minutes", "offline run"]


def estimated_minutes(time_text: str) -> int:
    """The minutes in an ``Estimated time:`` text such as ``"35 minutes (offline run: about 25 s ...)"``.

    Notebook 00's series map reads each notebook's time with it.
    """
    if not isinstance(time_text, str):
        raise TypeError(f"time_text must be a string, got {type(time_text).__name__}.")
    match = _MINUTES.match(time_text)
    if match is None:
        raise ValueError(
            f"cannot read minutes from {time_text!r}: the first markdown cell should say "
            "'**Estimated time:** N minutes (offline run: ...)'."
        )
    return int(match.group(1))


def series_map(root: Path | None = None) -> pd.DataFrame:
    """What each notebook of the series teaches and how long it takes, read from the notebooks.

    Introduced in notebook 00. One row per ``notebooks/NN_*.ipynb`` with columns ``#``,
    ``notebook`` (its title), ``what you will be able to do`` (its ``>`` line), ``minutes``
    (its estimated time) and ``offline run`` (how long executing it takes). Built with
    :func:`mlm_tutorial.notebook_tools.notebook_info`, like the README's table, so neither can
    disagree with the notebooks.
    """
    import pandas as pd

    from mlm_tutorial.notebook_tools import OFFLINE_RUN, notebook_info, notebook_paths
    from mlm_tutorial.paths import project_root

    if root is not None and not isinstance(root, (str, Path)):
        raise TypeError(f"root must be a folder path or None, got {type(root).__name__}.")
    root = Path(root) if root is not None else project_root()
    rows = []
    for path in notebook_paths(root / "notebooks"):
        info = notebook_info(path, root)
        offline = OFFLINE_RUN.search(info.minutes)
        title = info.title.split("·", 1)[-1].strip()
        rows.append({
            "#": path.name[:2],
            "notebook": title,
            "what you will be able to do": info.teaches,
            "minutes": estimated_minutes(info.minutes),
            "offline run": offline.group(1) if offline else "",
        })
    if not rows:
        raise FileNotFoundError(f"{root / 'notebooks'} holds no NN_name.ipynb notebook.")
    return pd.DataFrame(rows, columns=SERIES_MAP_COLUMNS)


def _check_series_map(table: Any) -> None:
    columns = list(getattr(table, "columns", []))
    if not hasattr(table, "itertuples") or columns != SERIES_MAP_COLUMNS:
        raise TypeError(f"expected the table series_map() returns (columns {SERIES_MAP_COLUMNS}), got "
                        f"{type(table).__name__} with columns {columns}.")


def series_map_text(table: pd.DataFrame, width: int = 80) -> str:
    """:func:`series_map`'s table as plain text no wider than ``width`` characters.

    One entry per notebook: ``NN · title``, then, indented, its estimated time and the sentence of what it
    teaches, wrapped at spaces. A table with the sentence as one column would be 200 characters wide, which
    a PDF export (80 characters a line) and a terminal break in the middle of the columns. Used by
    :func:`show_series_map` (notebook 00).
    """
    import textwrap

    _check_series_map(table)
    if isinstance(width, bool) or not isinstance(width, int) or width < 30:
        raise ValueError(f"width must be an int of at least 30 (characters per line), got {width!r}.")
    indent = " " * 5
    wrap = textwrap.TextWrapper(width, subsequent_indent=indent, break_on_hyphens=False)
    entries = []
    for number, title, teaches, minutes, run in table.itertuples(index=False):
        time = f"{minutes} minutes" + (f" (offline run: {run})" if run else "")
        entries.append("\n".join([*wrap.wrap(f"{number} · {title}"), *wrap.wrap(indent + time),
                                  *wrap.wrap(indent + str(teaches))]))
    return "\n\n".join(entries)


#: The columns of :func:`series_map`'s table that hold words: left-aligned in its HTML (Jupyter right-aligns
#: every table cell, which leaves a sentence ragged on the left and hard to read).
SERIES_MAP_TEXT_COLUMNS = ["notebook", "what you will be able to do", "offline run"]


def series_map_html(table: pd.DataFrame) -> str:
    """:func:`series_map`'s table as HTML: no index column ("#" numbers the notebooks), words left-aligned,
    each row's cells aligned at the top, and `code` in the sentences shown as code.

    Used by :func:`show_series_map` (notebook 00).
    """
    import html

    _check_series_map(table)

    def words(value: Any) -> str:
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(str(value)))

    left = [("text-align", "left")]
    styler = table.style.hide(axis="index").format(words, subset=SERIES_MAP_TEXT_COLUMNS).set_uuid("series_map")
    styler = styler.set_table_styles({column: [{"selector": "th", "props": left}, {"selector": "td", "props": left}]
                                      for column in SERIES_MAP_TEXT_COLUMNS})
    styler = styler.set_table_styles([{"selector": "td", "props": [("vertical-align", "top")]}], overwrite=False)
    return styler.to_html()


def show_series_map(table: pd.DataFrame) -> None:
    """Display :func:`series_map`'s table: as an HTML table in Jupyter (:func:`series_map_html`), and as
    :func:`series_map_text` wherever only plain text is shown (a PDF export, a terminal, a text-only
    notebook viewer).

    Introduced in notebook 00.
    """
    from IPython.display import display

    text = series_map_text(table)  # checks the table first
    display({"text/html": series_map_html(table), "text/plain": text}, raw=True)
