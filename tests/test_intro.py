"""mlm_tutorial.intro: who sees which context, fill-mask tables and charts, the series map (notebook 00)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook  # noqa: E402

from mlm_tutorial.intro import (  # noqa: E402
    context_positions,
    estimated_minutes,
    guesses_table,
    plot_context,
    plot_guesses,
    series_map,
    series_map_html,
    series_map_text,
    show_series_map,
)
from mlm_tutorial.notebook_tools import notebook_info, notebook_paths  # noqa: E402
from mlm_tutorial.paths import project_root  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures() -> Any:
    yield
    plt.close("all")


def fake_guesses(*pairs: tuple[str, float]) -> list[dict[str, Any]]:
    """What a fill-mask pipeline returns for one sentence, best first."""
    return [{"score": score, "token": 1000 + i, "token_str": token, "sequence": f"... {token} ..."}
            for i, (token, score) in enumerate(pairs)]


# --------------------------------------------------------------------------- context_positions


def test_masked_lm_sees_both_sides() -> None:
    assert context_positions(6, 2, "masked") == [0, 1, 3, 4, 5]


def test_causal_lm_sees_only_the_left() -> None:
    assert context_positions(6, 2, "causal") == [0, 1]
    assert context_positions(6, 0, "causal") == []
    assert context_positions(6, 5, "causal") == [0, 1, 2, 3, 4]


def test_at_the_last_position_both_see_the_same() -> None:
    assert context_positions(4, 3, "masked") == context_positions(4, 3, "causal")


@pytest.mark.parametrize(
    ("length", "target", "kind", "error", "phrase"),
    [
        (0, 0, "masked", ValueError, "length"),
        (True, 0, "masked", ValueError, "length"),
        (5, 5, "masked", ValueError, "0 to 4"),
        (5, -1, "causal", ValueError, "outside"),
        (5, 1.0, "causal", TypeError, "target"),
        (5, 1, "bidirectional", ValueError, "kind"),
    ],
)
def test_context_positions_rejects_bad_input(length: Any, target: Any, kind: str, error: type, phrase: str) -> None:
    with pytest.raises(error, match=phrase):
        context_positions(length, target, kind)


# --------------------------------------------------------------------------- plot_context


def _texts(ax: Any) -> list[str]:
    return [text.get_text() for text in ax.texts]


def test_plot_context_draws_one_arrow_per_visible_token() -> None:
    tokens = ["the", "bank", "raised", "interest", "rates", "today"]
    figure = plot_context(tokens, 3, "[MASK]")
    masked_ax, causal_ax = figure.axes
    assert _texts(masked_ax) == ["the", "bank", "raised", "[MASK]", "rates", "today"]
    assert _texts(causal_ax) == ["the", "bank", "raised", "?", "rates", "today"]
    arrows = [sum(isinstance(p, FancyArrowPatch) for p in ax.patches) for ax in (masked_ax, causal_ax)]
    assert arrows == [len(context_positions(6, 3, "masked")), len(context_positions(6, 3, "causal"))] == [5, 3]
    assert "5 of 5" in masked_ax.get_title(loc="left") and "3 of 5" in causal_ax.get_title(loc="left")


def test_plot_context_greys_only_the_tokens_the_causal_lm_has_not_read() -> None:
    from matplotlib.colors import to_hex

    figure = plot_context(["the", "bank", "raised", "interest", "rates", "today"], 2, "[MASK]")
    masked_ax, causal_ax = figure.axes
    colours = [[to_hex(text.get_color()) for text in ax.texts] for ax in (masked_ax, causal_ax)]
    assert colours[0] == ["#000000", "#000000", "#ffffff", "#000000", "#000000", "#000000"]
    assert colours[1] == ["#000000", "#000000", "#ffffff", "#999999", "#999999", "#999999"]


def test_plot_context_shows_the_tokenizers_own_mask_token() -> None:
    figure = plot_context(["a", "b", "c"], 0, "<mask>")
    assert _texts(figure.axes[0])[0] == "<mask>"
    assert sum(isinstance(p, FancyArrowPatch) for p in figure.axes[1].patches) == 0


@pytest.mark.parametrize(
    ("tokens", "target", "mask", "error", "phrase"),
    [
        ("the bank", 0, "[MASK]", ValueError, "list of strings"),
        ([], 0, "[MASK]", ValueError, "non-empty"),
        (["a", 3], 0, "[MASK]", TypeError, "strings"),
        (["a", "b"], 2, "[MASK]", ValueError, "outside"),
        (["a", "b"], 1, "", ValueError, "mask_token"),
    ],
)
def test_plot_context_rejects_bad_input(tokens: Any, target: Any, mask: Any, error: type, phrase: str) -> None:
    with pytest.raises(error, match=phrase):
        plot_context(tokens, target, mask)


# --------------------------------------------------------------------------- guesses_table and plot_guesses


def test_guesses_table_ranks_strips_and_rounds() -> None:
    table = guesses_table(fake_guesses((" rates", 0.41234), ("Ġx", 0.2), ("profits ", 0.00049)))
    assert list(table.columns) == ["rank", "token", "score"]
    assert table["rank"].tolist() == [1, 2, 3]
    assert table["token"].tolist() == ["rates", "Ġx", "profits"]
    assert table["score"].tolist() == [0.412, 0.2, 0.0]
    assert guesses_table(fake_guesses(("a", 0.41234)), decimals=1)["score"].tolist() == [0.4]


@pytest.mark.parametrize(
    ("guesses", "decimals", "error", "phrase"),
    [
        ([], 3, ValueError, "non-empty"),
        ("rates", 3, ValueError, "list"),
        ([fake_guesses(("a", 0.5)), fake_guesses(("b", 0.5))], 3, ValueError, r"guesses\[0\]"),
        ([{"token_str": "a"}], 3, TypeError, "'score'"),
        (fake_guesses(("a", 0.5)), -1, ValueError, "decimals"),
        (fake_guesses(("a", 0.5)), 2.0, ValueError, "decimals"),
    ],
)
def test_guesses_table_rejects_bad_input(guesses: Any, decimals: Any, error: type, phrase: str) -> None:
    with pytest.raises(error, match=phrase):
        guesses_table(guesses, decimals=decimals)


def test_plot_guesses_one_panel_per_table_best_on_top() -> None:
    tables = {
        "BERT-style": guesses_table(fake_guesses(("rates", 0.4), ("costs", 0.1))),
        "RoBERTa-style": guesses_table(fake_guesses(("prices", 0.3), ("fees", 0.2), ("taxes", 0.1))),
    }
    figure = plot_guesses(tables)
    assert [ax.get_title() for ax in figure.axes] == ["BERT-style", "RoBERTa-style"]
    labels = [[label.get_text() for label in ax.get_yticklabels()] for ax in figure.axes]
    assert labels == [["rates", "costs"], ["prices", "fees", "taxes"]]
    assert [len(ax.patches) for ax in figure.axes] == [2, 3]
    assert figure.axes[0].yaxis_inverted()


def test_plot_guesses_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_guesses({})
    with pytest.raises(TypeError, match="guesses_table"):
        plot_guesses({"x": fake_guesses(("a", 0.5))})
    with pytest.raises(ValueError, match="empty"):
        plot_guesses({"x": pd.DataFrame(columns=["rank", "token", "score"])})


# --------------------------------------------------------------------------- the series map


def test_estimated_minutes() -> None:
    assert estimated_minutes("35 minutes (offline run: about 25 s on 2 CPU cores)") == 35
    assert estimated_minutes("5 min") == 5
    with pytest.raises(ValueError, match="cannot read minutes"):
        estimated_minutes("about half an hour")
    with pytest.raises(TypeError, match="string"):
        estimated_minutes(35)


def _header(number: str, title: str, teaches: str, minutes: int, run: str | None) -> str:
    time = f"{minutes} minutes" + (f" (offline run: {run})" if run else "")
    return f"# {number} · {title}\n> {teaches}\n\n**Estimated time:** {time}\n\n## Learning goals\n- one"


def test_series_map_reads_every_notebook_in_order(tmp_path: Path) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name, header in (
        ("01_tokens.ipynb", _header("01", "Tokens", "Turn text into ids.", 25, "about 9 s on 2 CPU cores")),
        ("00_intro.ipynb", _header("00", "Intro", "Say what MLM is.", 20, None)),
    ):
        notebook = new_notebook(cells=[new_markdown_cell(header), new_code_cell("x = 1")])
        nbformat.write(notebook, str(folder / name))
    nbformat.write(new_notebook(cells=[new_markdown_cell("# scratch")]), str(folder / "scratch.ipynb"))
    table = series_map(tmp_path)
    assert list(table.columns) == ["#", "notebook", "what you will be able to do", "minutes", "offline run"]
    assert table.to_dict("records") == [
        {"#": "00", "notebook": "Intro", "what you will be able to do": "Say what MLM is.", "minutes": 20,
         "offline run": ""},
        {"#": "01", "notebook": "Tokens", "what you will be able to do": "Turn text into ids.", "minutes": 25,
         "offline run": "about 9 s on 2 CPU cores"},
    ]


def test_series_map_of_this_checkout_agrees_with_notebook_info() -> None:
    root = project_root()
    table = series_map()
    paths = notebook_paths(root / "notebooks")
    assert table["#"].tolist() == [p.name[:2] for p in paths]
    for row, path in zip(table.itertuples(index=False), paths):
        info = notebook_info(path, root)
        assert info.title.endswith(row.notebook)
        assert row[2] == info.teaches
        assert info.minutes.startswith(f"{row.minutes} minutes")


def test_series_map_needs_notebooks(tmp_path: Path) -> None:
    (tmp_path / "notebooks").mkdir()
    with pytest.raises(FileNotFoundError, match="no NN_name.ipynb"):
        series_map(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        series_map(tmp_path / "elsewhere")
    with pytest.raises(TypeError, match="root"):
        series_map(42)  # type: ignore[arg-type]


def _small_map() -> pd.DataFrame:
    return pd.DataFrame([["00", "Intro", "Say what a masked language model predicts and from which context.", 20, ""],
                         ["01", "Tokens", "Turn text into ids.", 25, "about 9 s on 2 CPU cores"]],
                        columns=["#", "notebook", "what you will be able to do", "minutes", "offline run"])


def test_series_map_text_gives_each_notebook_an_indented_entry() -> None:
    assert series_map_text(_small_map(), width=40) == (
        "00 · Intro\n"
        "     20 minutes\n"
        "     Say what a masked language model\n"
        "     predicts and from which context.\n"
        "\n"
        "01 · Tokens\n"
        "     25 minutes (offline run: about 9 s\n"
        "     on 2 CPU cores)\n"
        "     Turn text into ids."
    )


@pytest.mark.parametrize("width", [80, 50])
def test_series_map_text_of_this_checkout_fits_the_width_and_keeps_every_word(width: int) -> None:
    table = series_map()
    text = series_map_text(table, width)
    assert max(map(len, text.splitlines())) <= width
    entries = text.split("\n\n")
    assert len(entries) == len(table)
    for entry, row in zip(entries, table.itertuples(index=False)):
        assert entry.startswith(f"{row[0]} · ")
        assert " ".join(entry.split()).endswith(" ".join(row[2].split()))  # wrapped at spaces, no word cut


def test_series_map_text_and_show_refuse_other_tables() -> None:
    with pytest.raises(TypeError, match="the table series_map\\(\\) returns"):
        series_map_text(pd.DataFrame({"a": [1]}))
    with pytest.raises(TypeError, match="the table series_map"):
        show_series_map([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="width must be an int of at least 30"):
        series_map_text(_small_map(), width=10)


def test_show_series_map_displays_html_and_the_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    shown: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.append((objs, kw)))
    table = _small_map()
    show_series_map(table)
    [((bundle,), options)] = shown
    assert options == {"raw": True}
    assert bundle["text/plain"] == series_map_text(table)
    assert "<table" in bundle["text/html"] and "Turn text into ids." in bundle["text/html"]
    assert bundle["text/html"] == series_map_html(table)


def test_series_map_html_left_aligns_the_words_and_shows_code() -> None:
    from html.parser import HTMLParser

    table = _small_map()
    table.loc[1, "what you will be able to do"] = "Turn text into ids with `tokenizer(texts)` & <b>care</b>."
    page = series_map_html(table)

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.rows: list[list[str]] = []
            self.cell: list[str] | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self.cell = []
            elif self.cell is not None:
                self.cell.append(f"<{tag}>")

        def handle_endtag(self, tag: str) -> None:
            if tag in ("td", "th") and self.cell is not None:
                self.rows[-1].append("".join(self.cell).strip())
                self.cell = None
            elif self.cell is not None:
                self.cell.append(f"</{tag}>")

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell.append(data)

    parser = Cells()
    parser.feed(page)
    # no index column: "#" numbers the notebooks; every value kept in its place
    assert parser.rows[0] == ["#", "notebook", "what you will be able to do", "minutes", "offline run"]
    assert parser.rows[1] == ["00", "Intro", "Say what a masked language model predicts and from which context.", "20", ""]
    # code shown as code; the learner's text is escaped, not read as HTML
    assert parser.rows[2][2] == "Turn text into ids with <code>tokenizer(texts)</code> & <b>care</b>."
    assert "&lt;b&gt;care&lt;/b&gt;" in page and "<b>care" not in page
    # the word columns (and only they) are left-aligned, by selectors more specific than Jupyter's "td"
    for index, column in enumerate(table.columns):
        for tag in ("th", "td"):
            rule = f"#T_series_map {tag}.col{index} {{\n  text-align: left;\n}}"
            assert (rule in page) == (column in ("notebook", "what you will be able to do", "offline run")), rule
    assert '<table id="T_series_map">' in page
    assert series_map_html(table) == page  # the same table gives the same HTML (no random ids)
    with pytest.raises(TypeError, match="expected the table series_map"):
        series_map_html(table.drop(columns="minutes"))


# --------------------------------------------------------------------------- with the bundled model


def test_guesses_table_of_the_bundled_model(mlm_model: Any, bert_tokenizer: Any) -> None:
    from mlm_tutorial.resources import fill_mask_pipeline

    fill_mask = fill_mask_pipeline(mlm_model, bert_tokenizer, top_k=5)
    sentence = f"the bank raised interest {bert_tokenizer.mask_token} on thursday."
    table = guesses_table(fill_mask(sentence))
    assert table["rank"].tolist() == [1, 2, 3, 4, 5]
    assert table["score"].between(0, 1).all()
    assert table["score"].is_monotonic_decreasing
    assert table["token"].str.len().gt(0).all()
    assert table.equals(guesses_table(fill_mask(sentence)))  # the same model gives the same table
