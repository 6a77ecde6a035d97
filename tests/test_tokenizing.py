"""Tests for mlm_tutorial.tokenizing (notebook 01), with both bundled tokenizer families."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlm_tutorial import tokenizing
from mlm_tutorial.tokenizing import (
    Throughput,
    as_text_list,
    check_max_length,
    chunk_tradeoff,
    length_tradeoff,
    measure_throughput,
    model_limit,
    token_counts,
    tokenize_to_tf,
)

TEXTS = [
    "shares in the bank rose after its profits beat forecasts.",
    "the central bank kept interest rates on hold for a third month, citing weak demand.",
    "oil prices fell.",
]


# --------------------------------------------------------------------------- tokenize_to_tf


def test_tokenize_to_tf_gives_padded_tf_tensors(tokenizer):
    import tensorflow as tf

    batch = tokenize_to_tf(TEXTS, tokenizer, max_length=24)
    assert set(tokenizer.model_input_names) <= set(batch.keys())
    for key, value in batch.items():
        assert isinstance(value, tf.Tensor), key
        assert tuple(value.shape) == (3, 24), key
        assert value.dtype == tf.int32, key
    ids = batch["input_ids"].numpy()
    assert (ids[:, 0] == tokenizer.cls_token_id).all()
    assert (ids[2, -1] == tokenizer.pad_token_id)  # the short text is padded
    np.testing.assert_array_equal(batch["attention_mask"].numpy(), (ids != tokenizer.pad_token_id).astype(np.int32))


def test_tokenize_to_tf_truncates_to_max_length(tokenizer):
    long_text = " ".join(["markets"] * 300)
    batch = tokenize_to_tf([long_text], tokenizer, max_length=16)
    ids = batch["input_ids"].numpy()
    assert ids.shape == (1, 16)
    assert ids[0, -1] == tokenizer.sep_token_id
    assert (batch["attention_mask"].numpy() == 1).all()
    assert tokenize_to_tf([long_text], tokenizer)["input_ids"].shape == (1, 128)  # the lessons' default length


def test_tokenize_to_tf_matches_the_tokenizer_called_directly(tokenizer):
    batch = tokenize_to_tf(TEXTS, tokenizer, max_length=20)
    direct = tokenizer(TEXTS, max_length=20, truncation=True, padding="max_length")
    assert batch["input_ids"].numpy().tolist() == direct["input_ids"]


def test_a_single_string_is_a_list_of_one(tokenizer):
    one = tokenize_to_tf(TEXTS[0], tokenizer, max_length=16)
    many = tokenize_to_tf([TEXTS[0]], tokenizer, max_length=16)
    assert tuple(one["input_ids"].shape) == (1, 16)
    np.testing.assert_array_equal(one["input_ids"].numpy(), many["input_ids"].numpy())


def test_extra_keyword_arguments_reach_the_tokenizer(tokenizer):
    batch = tokenize_to_tf(TEXTS, tokenizer, max_length=16, return_special_tokens_mask=True)
    mask = batch["special_tokens_mask"].numpy()
    assert mask.shape == (3, 16)
    assert (mask[:, 0] == 1).all()


def test_pandas_series_and_tuples_are_accepted(tokenizer):
    from_series = tokenize_to_tf(pd.Series(TEXTS), tokenizer, max_length=16)
    from_tuple = tokenize_to_tf(tuple(TEXTS), tokenizer, max_length=16)
    np.testing.assert_array_equal(from_series["input_ids"].numpy(), from_tuple["input_ids"].numpy())


@pytest.mark.parametrize(
    "texts, error, words",
    [
        ([], ValueError, ["texts", "empty"]),
        (["fine", None], TypeError, ["texts[1]", "None", "dropna"]),
        (["fine", "also fine", float("nan")], TypeError, ["texts[2]", "nan", "missing"]),
        ([42, "fine"], TypeError, ["texts[0]", "42", "int", "str()"]),
        (b"bytes", TypeError, ["texts", "bytes", "decode"]),
        (7, TypeError, ["texts", "int", "list of strings"]),
        ({"text": "a"}, TypeError, ["texts", "dict"]),
    ],
)
def test_bad_texts_raise_clear_errors(tokenizer, texts, error, words):
    with pytest.raises(error) as caught:
        tokenize_to_tf(texts, tokenizer)
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize(
    "max_length, error, words",
    [
        (1, ValueError, ["max_length", "at least 2", "got 1"]),
        (0, ValueError, ["max_length", "got 0"]),
        (-5, ValueError, ["max_length", "got -5"]),
        ("128", TypeError, ["max_length", "'128'", "str"]),
        (12.5, TypeError, ["max_length", "12.5", "float"]),
        (True, TypeError, ["max_length", "True"]),
        (None, TypeError, ["max_length", "None"]),
    ],
)
def test_bad_max_length_raises_clear_errors(tokenizer, max_length, error, words):
    with pytest.raises(error) as caught:
        tokenize_to_tf(TEXTS, tokenizer, max_length=max_length)
    for word in words:
        assert word in str(caught.value)


def test_max_length_above_the_model_limit_is_refused(tokenizer):
    limit = tokenizer.model_max_length
    assert tokenize_to_tf(TEXTS, tokenizer, max_length=limit)["input_ids"].shape[1] == limit
    with pytest.raises(ValueError) as caught:
        tokenize_to_tf(TEXTS, tokenizer, max_length=limit + 1)
    message = str(caught.value)
    assert f"max_length={limit + 1}" in message and "model_max_length" in message and f"<= {limit}" in message


def test_max_length_two_is_the_smallest_allowed(tokenizer):
    ids = tokenize_to_tf(TEXTS, tokenizer, max_length=2)["input_ids"].numpy()
    assert (ids[:, 0] == tokenizer.cls_token_id).all() and (ids[:, 1] == tokenizer.sep_token_id).all()


@pytest.mark.parametrize("key", ["padding", "truncation", "return_tensors"])
def test_arguments_it_sets_itself_cannot_be_overridden(tokenizer, key):
    with pytest.raises(ValueError, match=key):
        tokenize_to_tf(TEXTS, tokenizer, 16, **{key: "x"})


def test_something_that_is_not_a_tokenizer_is_refused():
    with pytest.raises(TypeError, match="load_tokenizer"):
        tokenize_to_tf(TEXTS, "bert-base-uncased")


def test_as_text_list_keeps_strings():
    assert as_text_list("one") == ["one"]
    assert as_text_list(np.array(["a", "b"])) == ["a", "b"]
    assert as_text_list(t for t in ["x", "y"]) == ["x", "y"]
    assert as_text_list(["", "b"]) == ["", "b"]


def test_model_limit_and_check_max_length(tokenizer):
    assert model_limit(tokenizer) == tokenizer.model_max_length
    assert check_max_length(np.int64(32), tokenizer) == 32

    class Unlimited:
        model_max_length = int(1e30)

    assert model_limit(Unlimited()) is None
    assert check_max_length(100_000, Unlimited()) == 100_000


# --------------------------------------------------------------------------- counts and trade-offs


def test_token_counts_match_the_tokenizer(tokenizer):
    counts = token_counts(TEXTS, tokenizer)
    expected = [len(ids) for ids in tokenizer(TEXTS)["input_ids"]]
    assert counts.tolist() == expected
    assert counts.dtype == np.int64
    bare = token_counts(TEXTS, tokenizer, add_special_tokens=False)
    assert (counts - bare == 2).all()


def test_token_counts_are_not_truncated(tokenizer):
    long_text = " ".join(["markets"] * (tokenizer.model_max_length + 10))
    assert token_counts(long_text, tokenizer)[0] > tokenizer.model_max_length


def test_token_counts_validate_their_input(tokenizer):
    with pytest.raises(TypeError, match=r"texts\[0\]"):
        token_counts([None], tokenizer)
    with pytest.raises(TypeError, match="add_special_tokens"):
        token_counts(TEXTS, tokenizer, add_special_tokens="yes")


def test_length_tradeoff_by_hand():
    table = length_tradeoff([5, 10, 20], [8, 10, 30])
    assert list(table.columns) == [
        "max_length", "rows", "truncated_articles", "lost_tokens", "lost_share", "padding_tokens", "padding_share",
    ]
    row8, row10, row30 = (table.iloc[i] for i in range(3))
    assert row8["truncated_articles"] == 2 and row8["lost_tokens"] == 2 + 12 and row8["padding_tokens"] == 3
    assert row8["lost_share"] == pytest.approx(14 / 35)
    assert row8["padding_share"] == pytest.approx(3 / 24)
    assert row10["truncated_articles"] == 1 and row10["lost_tokens"] == 10 and row10["padding_tokens"] == 5
    assert row30["lost_tokens"] == 0 and row30["padding_tokens"] == 25 + 20 + 10
    assert row30["padding_share"] == pytest.approx(55 / 90)
    assert (table["rows"] == 3).all()


def test_length_tradeoff_agrees_with_real_batches(tokenizer):
    counts = token_counts(TEXTS, tokenizer)
    table = length_tradeoff(counts, [8, 16]).set_index("max_length")
    for length in (8, 16):
        mask = tokenize_to_tf(TEXTS, tokenizer, max_length=length)["attention_mask"].numpy()
        assert table.at[length, "padding_tokens"] == int((mask == 0).sum())
        kept = int(mask.sum())
        assert table.at[length, "lost_tokens"] == int(counts.sum()) - kept


@pytest.mark.parametrize(
    "counts, lengths, error, message",
    [
        ([], [8], ValueError, r"counts must be a non-empty 1-D list of token counts, got shape \(0,\)"),
        ([[1, 2]], [8], ValueError, r"counts must be a non-empty 1-D list .* got shape \(1, 2\)"),
        ([1.5, 2.0], [8], ValueError, r"counts must hold non-negative integers, got \[1.5, 2.0\]"),
        ([-1, 4], [8], ValueError, r"counts must hold non-negative integers, got \[-1, 4\]"),
        ("12", [8], TypeError, r"counts must be a list or array of token counts, got str"),
        ([3, 4], [], ValueError, r"max_lengths is empty: pass at least one length"),
        ([3, 4], [1], ValueError, r"max_lengths\[0\] is 1; every length must be an int of at least 2"),
        ([3, 4], ["8"], ValueError, r"max_lengths\[0\] is '8'; every length must be an int of at least 2"),
        ([3, 4], "8", TypeError, r"max_lengths must be an int or a list of ints, got '8'"),
    ],
)
def test_length_tradeoff_rejects_bad_input(counts, lengths, error, message):
    with pytest.raises(error, match=message):
        length_tradeoff(counts, lengths)


def test_length_tradeoff_accepts_one_length():
    assert length_tradeoff(np.array([3, 4]), 4)["padding_tokens"].tolist() == [1]


def test_chunk_tradeoff_has_no_padding_and_loses_only_the_tail(tokenizer):
    texts = TEXTS * 6
    table = chunk_tradeoff(texts, tokenizer, [8, 16])
    assert list(table.columns) == ["chunk_size", "rows", "lost_tokens", "lost_share", "padding_tokens", "padding_share"]
    assert table["chunk_size"].tolist() == [8, 16]  # one row per size asked for
    assert (table["padding_tokens"] == 0).all()
    body = int(token_counts(texts, tokenizer, add_special_tokens=False).sum())
    for _, row in table.iterrows():
        size = int(row["chunk_size"])
        # the stream holds every text token plus one separator per text; less than one chunk body is dropped
        stream = body + len(texts)
        assert row["rows"] == stream // (size - 2)
        assert 0 <= row["lost_tokens"] < size - 2
        assert row["lost_share"] == pytest.approx(row["lost_tokens"] / token_counts(texts, tokenizer).sum())


def test_chunk_tradeoff_counts_literal_special_token_text_as_text(tokenizer):
    # A text that spells out the separator or the padding token is tokenized to their ids; those ids are text.
    texts = [f"profits rose {tokenizer.sep_token} shares fell {tokenizer.pad_token} again", *TEXTS] * 5
    pieces = tokenizer(texts, add_special_tokens=False)["input_ids"]
    assert tokenizer.sep_token_id in pieces[0] and tokenizer.pad_token_id in pieces[0]  # the case this test is about
    # The stream as (id, is_text) pairs, built here from the tokenizer's own output.
    stream = [pair for ids in pieces for pair in [*((i, True) for i in ids), (tokenizer.sep_token_id, False)]]
    body = sum(len(ids) for ids in pieces)
    for size in (8, 13, 16):
        row = chunk_tradeoff(texts, tokenizer, [size]).iloc[0]
        streamed = int(row["rows"]) * (size - 2)
        kept = sum(is_text for _, is_text in stream[:streamed])
        assert row["lost_tokens"] == body - kept
        assert 0 <= row["lost_tokens"] < size - 2
        assert row["padding_tokens"] == 0


def test_chunk_tradeoff_validates(tokenizer):
    with pytest.raises(ValueError, match="chunk_sizes"):
        chunk_tradeoff(TEXTS, tokenizer, [])
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        chunk_tradeoff(["a", None], tokenizer, [16])


# --------------------------------------------------------------------------- throughput


def test_measure_throughput_counts_every_token(tokenizer):
    result = measure_throughput(TEXTS * 4, tokenizer, batch_size=5, repeats=2)
    assert isinstance(result, Throughput)
    assert result.texts == 12 and result.batch_size == 5
    assert result.tokens == int(token_counts(TEXTS * 4, tokenizer).sum())
    assert result.seconds > 0 and result.tokens_per_second > 0
    assert "tokens/s" in str(result)


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"repeats": 0}, {"batch_size": 2.5}, {"repeats": True}])
def test_measure_throughput_validates(tokenizer, kwargs):
    [(name, value)] = kwargs.items()
    with pytest.raises(ValueError, match=rf"^{name} must be a positive int, got {value!r}\. Pass e\.g\. {name}="):
        measure_throughput(TEXTS, tokenizer, **kwargs)


def test_a_0d_numpy_string_is_one_text_not_its_characters(bert_tokenizer: Any) -> None:
    text = np.array("markets rose")  # what np.asarray gives for a single string
    assert text.ndim == 0
    assert as_text_list(text) == ["markets rose"]
    assert tuple(tokenize_to_tf(text, bert_tokenizer, max_length=8)["input_ids"].shape) == (1, 8)


def test_measure_throughput_reports_the_fastest_run(bert_tokenizer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # One start and one stop reading per run: the runs take 5 s, 1 s and 3 s.
    readings = iter([0.0, 5.0, 10.0, 11.0, 20.0, 23.0])
    monkeypatch.setattr(tokenizing, "time", types.SimpleNamespace(perf_counter=lambda: next(readings)))
    result = measure_throughput(["markets rose", "oil prices fell"], bert_tokenizer, batch_size=2, repeats=3)
    assert result.seconds == pytest.approx(1.0)


def test_tokenizer_without_padding_token_gets_the_tutorials_message() -> None:
    from transformers import PreTrainedTokenizerFast

    from mlm_tutorial.resources import bundled_tokenizer_dir

    plain = PreTrainedTokenizerFast(tokenizer_file=str(bundled_tokenizer_dir("roberta") / "tokenizer.json"))
    assert plain.pad_token_id is None
    with pytest.raises(ValueError, match="has no padding token") as caught:
        tokenize_to_tf(["markets rose"], plain, max_length=8)
    assert "tokenizer.pad_token = tokenizer.eos_token" in str(caught.value)


def test_a_whole_table_is_refused_with_its_text_column_named(bert_tokenizer: Any, news_corpus: Any) -> None:
    frame = pd.DataFrame({"text": ["shares rose .", "profits fell ."], "label": [1, 1]})
    with pytest.raises(TypeError, match=r"whole table \(DataFrame\).*frame\['text'\]"):
        tokenize_to_tf(frame, bert_tokenizer, max_length=8)
    with pytest.raises(TypeError, match=r"whole table \(Dataset\).*dataset\['text'\]"):
        tokenize_to_tf(news_corpus["train"], bert_tokenizer, max_length=8)
    with pytest.raises(TypeError, match=r"texts\[0\] is a record \(\{'text': .*\.\.\.\), not a string"):
        tokenize_to_tf(list(news_corpus["train"])[:2], bert_tokenizer, max_length=8)
    assert tokenize_to_tf(frame["text"], bert_tokenizer, max_length=8)["input_ids"].shape == (2, 8)
