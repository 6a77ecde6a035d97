"""mlm_tutorial.chunking.chunk_texts: articles joined end to end and cut into equal rows."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest

from mlm_tutorial.chunking import chunk_texts


@pytest.fixture(scope="module")
def articles(news_corpus: Any) -> list[str]:
    return list(news_corpus["train"]["text"][:12])


def _stream(texts: list[str], tokenizer: Any) -> list[int]:
    """The token stream chunk_texts cuts, built independently: each article's ids, then the separator."""
    ids: list[int] = []
    for text in texts:
        ids += tokenizer.encode(text, add_special_tokens=False) + [tokenizer.sep_token_id]
    return ids


@pytest.mark.parametrize("chunk_size", [16, 64, 128])
def test_shape_and_frame(articles: list[str], bert_tokenizer: Any, chunk_size: int) -> None:
    chunks = chunk_texts(articles, bert_tokenizer, chunk_size=chunk_size)
    stream = _stream(articles, bert_tokenizer)
    assert chunks.dtype == np.int32
    assert chunks.shape == (len(stream) // (chunk_size - 2), chunk_size)
    assert (chunks[:, 0] == bert_tokenizer.cls_token_id).all()
    assert (chunks[:, -1] == bert_tokenizer.sep_token_id).all()
    assert bert_tokenizer.pad_token_id not in chunks  # no padding anywhere
    if chunk_size == 128:  # the lessons' default
        assert np.array_equal(chunk_texts(articles, bert_tokenizer), chunks)


def test_bodies_are_the_stream_in_order(articles: list[str], bert_tokenizer: Any) -> None:
    chunks = chunk_texts(articles, bert_tokenizer, chunk_size=64)
    stream = _stream(articles, bert_tokenizer)
    bodies = chunks[:, 1:-1].ravel().tolist()
    assert bodies == stream[: len(bodies)]  # nothing reordered or lost except the incomplete tail
    assert len(stream) - len(bodies) < 62


def test_each_article_ends_with_a_separator(bert_tokenizer: Any) -> None:
    texts = ["markets rose on monday.", "the match ended in a draw.", "a new phone was launched."] * 4
    lengths = [len(bert_tokenizer.encode(t, add_special_tokens=False)) for t in texts]
    body = sum(lengths) + len(texts)
    chunks = chunk_texts(texts, bert_tokenizer, chunk_size=body + 2)  # exactly one row holds everything
    assert chunks.shape == (1, body + 2)
    separators = np.flatnonzero(chunks[0, 1:-1] == bert_tokenizer.sep_token_id)
    assert separators.tolist() == (np.cumsum(np.array(lengths) + 1) - 1).tolist()


def test_roberta_tokenizer_uses_its_own_specials(articles: list[str], roberta_tokenizer: Any) -> None:
    chunks = chunk_texts(articles, roberta_tokenizer, chunk_size=32)
    assert (chunks[:, 0] == roberta_tokenizer.cls_token_id).all()  # <s>
    assert (chunks[:, -1] == roberta_tokenizer.sep_token_id).all()  # </s>
    assert chunks[:, 1:-1].ravel().tolist() == _stream(articles, roberta_tokenizer)[: chunks[:, 1:-1].size]


def test_accepts_one_string_and_other_iterables(articles: list[str], bert_tokenizer: Any, news_corpus: Any) -> None:
    import pandas as pd

    expected = chunk_texts(articles, bert_tokenizer, chunk_size=32)
    np.testing.assert_array_equal(chunk_texts(pd.Series(articles), bert_tokenizer, chunk_size=32), expected)
    np.testing.assert_array_equal(chunk_texts(iter(articles), bert_tokenizer, chunk_size=32), expected)
    np.testing.assert_array_equal(chunk_texts(tuple(articles), bert_tokenizer, chunk_size=32), expected)
    column = news_corpus["train"].select(range(12))["text"]  # a datasets Column
    np.testing.assert_array_equal(chunk_texts(column, bert_tokenizer, chunk_size=32), expected)
    single = chunk_texts(articles[0], bert_tokenizer, chunk_size=16)
    np.testing.assert_array_equal(single, chunk_texts([articles[0]], bert_tokenizer, chunk_size=16))


def test_empty_texts(bert_tokenizer: Any) -> None:
    with pytest.raises(ValueError, match="texts is empty"):
        chunk_texts([], bert_tokenizer)


@pytest.mark.parametrize("texts", [{"text": ["an article"]}, 42, None])
def test_texts_must_be_strings_not_a_batch(bert_tokenizer: Any, texts: Any) -> None:
    with pytest.raises(TypeError, match="texts must be a list of strings"):
        chunk_texts(texts, bert_tokenizer)


def test_non_string_row(bert_tokenizer: Any) -> None:
    with pytest.raises(TypeError, match=r"texts\[1\] is None \(NoneType\), not a string"):
        chunk_texts(["fine", None, "fine"], bert_tokenizer)


def test_numpy_integer_chunk_size(articles: list[str], bert_tokenizer: Any) -> None:
    expected = chunk_texts(articles, bert_tokenizer, chunk_size=32)
    for size in np.array([32, 64]):  # looping over an array gives np.int64, not int
        got = chunk_texts(articles, bert_tokenizer, chunk_size=size)
        assert got.shape[1] == size
        np.testing.assert_array_equal(got, chunk_texts(articles, bert_tokenizer, chunk_size=int(size)))
    np.testing.assert_array_equal(chunk_texts(articles, bert_tokenizer, chunk_size=np.int32(32)), expected)


@pytest.mark.parametrize("chunk_size", [4, 7, 0, -8, True, np.bool_(True), np.int64(7), 64.0, "64"])
def test_bad_chunk_size(articles: list[str], bert_tokenizer: Any, chunk_size: Any) -> None:
    with pytest.raises(ValueError, match="chunk_size must be an int of at least 8"):
        chunk_texts(articles, bert_tokenizer, chunk_size=chunk_size)


def test_chunk_size_above_model_limit(articles: list[str], bert_tokenizer: Any) -> None:
    limit = bert_tokenizer.model_max_length
    assert limit < 10**6
    with pytest.raises(ValueError, match=f"above the tokenizer's model_max_length {limit}"):
        chunk_texts(articles, bert_tokenizer, chunk_size=limit + 1)
    assert chunk_texts(articles * 3, bert_tokenizer, chunk_size=limit).shape[1] == limit


def test_too_little_text(bert_tokenizer: Any) -> None:
    with pytest.raises(ValueError, match="fewer than one chunk of 128"):
        chunk_texts(["a short article."], bert_tokenizer, chunk_size=128)


def test_tokenizer_without_classifier_token(bert_tokenizer: Any) -> None:
    # A GPT-style tokenizer has no [CLS]; the check comes before any tokenizing, so a stand-in
    # with the attributes chunk_texts reads is enough.
    no_cls = types.SimpleNamespace(model_max_length=512, cls_token_id=None,
                                   sep_token_id=bert_tokenizer.sep_token_id, pad_token_id=bert_tokenizer.pad_token_id,
                                   all_special_ids=bert_tokenizer.all_special_ids,
                                   convert_ids_to_tokens=bert_tokenizer.convert_ids_to_tokens)
    with pytest.raises(ValueError, match="needs a classifier and a separator token"):
        chunk_texts(["some text"], no_cls)


def test_chunk_texts_refuses_a_table_and_a_missing_tokenizer(bert_tokenizer: Any) -> None:
    import pandas as pd

    frame = pd.DataFrame({"text": ["shares rose sharply on monday ."] * 50})
    with pytest.raises(TypeError, match=r"got DataFrame.*dataset\['text'\]"):
        chunk_texts(frame, bert_tokenizer, chunk_size=8)
    with pytest.raises(TypeError, match="tokenizer must be a transformers tokenizer.*got NoneType"):
        chunk_texts(frame["text"], None, chunk_size=8)
    assert chunk_texts(frame["text"], bert_tokenizer, chunk_size=8).shape[1] == 8
