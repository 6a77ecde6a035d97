"""Concatenate articles and cut them into fixed-size chunks: no padding, and only the
last incomplete piece of the stream is dropped.

Introduced in notebook 01 (as the alternative to padding and truncation); notebook 03 masks chunks,
notebooks 04 and 05 train and evaluate on them, and the bundled models were built from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from mlm_tutorial.inspect import _check_tokenizer
from mlm_tutorial.tokenizing import _short_repr


class TooLittleText(ValueError):
    """Raised by :func:`chunk_texts` when the texts hold fewer tokens than one chunk (notebook 04 skips such a category)."""


def chunk_texts(texts: Sequence[str] | Iterable[str], tokenizer: Any, chunk_size: int = 128) -> np.ndarray:
    """Tokenize ``texts``, join them end to end and cut the stream into rows of ``chunk_size`` ids.

    Each article ends with the separator token (``[SEP]``, ``</s>``) so the model sees where one
    stops; each row starts with the classifier token (``[CLS]``, ``<s>``) and ends with the
    separator, like a single-sentence input. The last, incomplete piece of the stream is
    dropped. Returns an ``int32`` array of shape ``(rows, chunk_size)``.

    Introduced in notebook 01; notebooks 03 to 05 mask, train and evaluate on its chunks.
    """
    if isinstance(texts, str):
        texts = [texts]
    elif isinstance(texts, Mapping) or not isinstance(texts, Iterable) or hasattr(texts, "columns") \
            or hasattr(texts, "column_names"):
        raise TypeError(
            f"texts must be a list of strings (or one string), got {type(texts).__name__}. "
            "For a dataset or a batch, pass its text column, e.g. dataset['text']."
        )
    texts = list(texts)  # any iterable of strings: list, dataset column, pandas Series, generator
    if len(texts) == 0:
        raise ValueError("texts is empty: pass a non-empty list of articles.")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] is {_short_repr(text)} ({type(text).__name__}), not a string. Drop or "
                            "fix that row; for a dataset, pass its text column, e.g. dataset['text'].")
    if isinstance(chunk_size, (bool, np.bool_)) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 8:
        raise ValueError(f"chunk_size must be an int of at least 8, got {chunk_size!r}.")
    chunk_size = int(chunk_size)  # a NumPy integer, e.g. from looping over np.array([64, 128]), works too
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and limit < 10**6 and chunk_size > limit:
        raise ValueError(f"chunk_size {chunk_size} is above the tokenizer's model_max_length {limit}; use at most {limit}.")
    _check_tokenizer(tokenizer)
    start, end = tokenizer.cls_token_id, tokenizer.sep_token_id
    if start is None or end is None:
        raise ValueError("the tokenizer needs a classifier and a separator token to build chunks.")
    pieces = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
    stream = np.fromiter((i for ids in pieces for i in (*ids, end)), dtype=np.int64)
    body = chunk_size - 2
    rows = len(stream) // body
    if rows == 0:
        raise TooLittleText(
            f"the texts hold {len(stream)} tokens, fewer than one chunk of {chunk_size}. "
            "Pass more text or a smaller chunk_size."
        )
    grid = stream[: rows * body].reshape(rows, body)
    out = np.empty((rows, chunk_size), dtype=np.int32)
    out[:, 0] = start
    out[:, 1:-1] = grid
    out[:, -1] = end
    return out
