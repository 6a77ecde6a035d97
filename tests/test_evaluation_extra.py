"""Tests of the before/after views added to mlm_tutorial.evaluation for notebook 04."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlm_tutorial.setup import notebook_setup

notebook_setup(verbose=False)

from mlm_tutorial import evaluation as E  # noqa: E402
from mlm_tutorial.resources import load_mlm_model, load_news_corpus  # noqa: E402
from mlm_tutorial.training import category_chunks  # noqa: E402

TEMPLATES = ["shares in the bank {mask} sharply on monday .", "the company said profits would {mask} this year ."]


@pytest.fixture(scope="module")
def tokenizer(bert_tokenizer):
    """The bundled WordPiece tokenizer, the one the bundled model was trained with."""
    return bert_tokenizer


@pytest.fixture(scope="module")
def model():
    return load_mlm_model("auto")


def test_masked_sentences_use_the_tokenizers_mask(tokenizer, roberta_tokenizer):
    bert = E.masked_sentences(TEMPLATES, tokenizer)
    assert bert[0] == "shares in the bank [MASK] sharply on monday ."
    assert E.masked_sentences(TEMPLATES[0], roberta_tokenizer) == ["shares in the bank <mask> sharply on monday ."]
    with pytest.raises(ValueError, match=r"templates\[0\].*exactly once"):
        E.masked_sentences(["no mask here"], tokenizer)
    with pytest.raises(ValueError, match="non-empty"):
        E.masked_sentences([], tokenizer)


def test_fill_mask_predictions_table(model, tokenizer):
    sentences = E.masked_sentences(TEMPLATES, tokenizer)
    table = E.fill_mask_predictions(model, tokenizer, sentences, top_k=4)
    assert list(table.columns) == ["sentence", "rank", "token", "score"]
    assert len(table) == 8 and table["rank"].tolist() == [1, 2, 3, 4] * 2
    for _, group in table.groupby("sentence"):
        scores = group["score"].to_numpy()
        assert (np.diff(scores) <= 0).all() and 0 < scores.sum() <= 1.0 + 1e-6
    again = E.fill_mask_predictions(model, tokenizer, sentences, top_k=4)
    assert table.equals(again)
    with pytest.raises(ValueError, match=r"sentences\[0\].*\[MASK\]"):
        E.fill_mask_predictions(model, tokenizer, ["no mask"])


def test_fill_mask_predictions_of_roberta_are_words_without_their_leading_space(roberta_tokenizer):
    roberta = load_mlm_model("auto", family="roberta")  # byte-level BPE: a word's token carries its space
    table = E.fill_mask_predictions(roberta, roberta_tokenizer, E.masked_sentences(TEMPLATES[0], roberta_tokenizer))
    raw = [roberta_tokenizer.decode([i]) for i in roberta_tokenizer(" up down", add_special_tokens=False)["input_ids"]]
    assert any(token.startswith(" ") for token in raw)  # what the pipeline returns before the table strips it
    assert len(table) == 5 and all(token == token.strip() and token for token in table["token"])


def test_compare_fill_mask(model, tokenizer):
    sentences = E.masked_sentences(TEMPLATES, tokenizer)
    before = E.fill_mask_predictions(model, tokenizer, sentences, top_k=3)
    after = before.assign(score=before["score"] / 2)
    table = E.compare_fill_mask(before, after)
    assert list(table.columns) == ["sentence", "rank", "before", "p_before", "after", "p_after"]
    assert len(table) == 6
    np.testing.assert_allclose(table["p_after"], table["p_before"] / 2)
    with pytest.raises(ValueError, match="different sentences"):
        E.compare_fill_mask(before, after.assign(sentence="x"))
    with pytest.raises(TypeError, match="after"):
        E.compare_fill_mask(before, [1, 2])
    twice = pd.concat([before, before], ignore_index=True)
    with pytest.raises(ValueError, match="holds a sentence twice"):
        E.compare_fill_mask(twice, twice)  # the merge would have doubled every row
    with pytest.raises(ValueError, match="different ranks .another top_k"):
        E.compare_fill_mask(before, before[before["rank"] <= 2])


def test_masked_lm_score_and_masked_sentences_refuse_bad_arguments(model, tokenizer):
    rows = category_chunks(load_news_corpus("auto"), tokenizer, "test", chunk_size=32, max_chunks=2)["sport"]
    masked, labels = E.fixed_masks(rows, tokenizer, seed=1)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match=f"batch_size must be a positive int, got {bad!r}"):
            E.masked_lm_score(model, masked, labels, batch_size=bad)
    with pytest.raises(ValueError, match=r"one '<blank>' each"):
        E.masked_sentences([], tokenizer, placeholder="<blank>")


def test_perplexity_by_category_and_adaptation_table(model, tokenizer):
    rows = category_chunks(load_news_corpus("auto"), tokenizer, "test", chunk_size=64, max_chunks=4)
    scores = E.perplexity_by_category(model, tokenizer, rows)
    assert list(scores) == list(rows)
    masked, labels = E.fixed_masks(rows["sport"], tokenizer)
    assert scores["sport"].perplexity == pytest.approx(E.masked_lm_score(model, masked, labels).perplexity)
    better = {name: E.MaskedLMScore(s.loss - 0.1, s.perplexity * 0.5, s.accuracy, s.masked_tokens)
              for name, s in scores.items()}
    table = E.adaptation_table(scores, better, "business")
    assert table["category"].iloc[0] == "business" and table["domain"].tolist() == [True] + [False] * 4
    np.testing.assert_allclose(table["ratio"], 0.5)
    with pytest.raises(ValueError, match="'finance' is not among"):
        E.adaptation_table(scores, better, "finance")
    with pytest.raises(ValueError, match="rows_by_category"):
        E.perplexity_by_category(model, tokenizer, {})


def test_plot_fill_mask(model, tokenizer):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sentences = E.masked_sentences(TEMPLATES, tokenizer)
    before = E.fill_mask_predictions(model, tokenizer, sentences, top_k=3)
    figure = E.plot_fill_mask(E.compare_fill_mask(before, before), columns=2)
    first = figure.axes[0]
    assert len(first.patches) == 6
    assert [t.get_text() for t in first.get_yticklabels()] == list(before["token"][:3]) * 2
    plt.close("all")
    with pytest.raises(TypeError, match="compare_fill_mask"):
        E.plot_fill_mask(before)
