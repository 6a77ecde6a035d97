"""Text to TensorFlow tensors, and the numbers behind choosing ``max_length``.

Introduced in notebook 01 (tokenizing into TF tensors); ``tokenize_to_tf`` is reused by
notebook 02. TensorFlow and transformers are imported inside the functions, so
importing this module does no work.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    import pandas as pd
    from transformers import BatchEncoding

#: Tokenizers report a huge ``model_max_length`` (about 1e30) when they know no limit.
_NO_LIMIT = 10**6
#: Arguments ``tokenize_to_tf`` sets itself; passing them would contradict what it promises.
_FIXED_ARGUMENTS = ("padding", "truncation", "return_tensors")


def _short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters: an error message shows a whole article otherwise."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def as_text_list(texts: Any, name: str = "texts") -> list[str]:
    """Return ``texts`` as a non-empty list of strings, or raise a clear error.

    A single string becomes a list of one. Lists, tuples, pandas Series, NumPy arrays, columns of
    a ``datasets.Dataset`` and other iterables are accepted. An empty input raises ``ValueError``;
    an element that is not a string (``None``, NaN, a number) raises ``TypeError`` naming its index.
    Every helper of notebook 01 that takes texts checks them with it.
    """
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (bytes, bytearray)):
        raise TypeError(f"{name} is bytes, not text. Decode it first, e.g. {name}.decode('utf-8').")
    if hasattr(texts, "columns") or hasattr(texts, "column_names"):  # a DataFrame or a datasets.Dataset
        raise TypeError(f"{name} is a whole table ({type(texts).__name__}); pass its text column instead, "
                        f"e.g. frame['text'] or dataset['text'].")
    if isinstance(texts, Mapping) or not isinstance(texts, Iterable):
        raise TypeError(
            f"{name} must be a string or a list of strings, got {type(texts).__name__}. "
            f"For a DataFrame pass its text column, e.g. frame['text'].tolist()."
        )
    items = texts.tolist() if hasattr(texts, "tolist") else list(texts)
    if not isinstance(items, list):  # a 0-d NumPy array gives back a scalar
        items = [items]
    if len(items) == 0:
        raise ValueError(f"{name} is empty: pass at least one text (a string or a non-empty list of strings).")
    for index, item in enumerate(items):
        if isinstance(item, str):
            continue
        if item is None or (isinstance(item, float) and math.isnan(item)):
            raise TypeError(
                f"{name}[{index}] is {item!r}, a missing value, not a string. Drop missing rows first, "
                f"e.g. frame.dropna(subset=['text'])."
            )
        shown = _short_repr(item)
        if isinstance(item, Mapping):
            raise TypeError(f"{name}[{index}] is a record ({shown}), not a string: pass the text column, "
                            f"e.g. dataset['text'].")
        raise TypeError(
            f"{name}[{index}] is {shown} ({type(item).__name__}), not a string. Convert it with str() "
            "or drop that row."
        )
    return items


def model_limit(tokenizer: Any) -> int | None:
    """The tokenizer's ``model_max_length``, or ``None`` when it states no real limit (notebook 01)."""
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < _NO_LIMIT:
        return limit
    return None


def _check_tokenizer(tokenizer: Any) -> None:
    if not callable(tokenizer) or not hasattr(tokenizer, "pad_token_id") or not hasattr(tokenizer, "decode"):
        raise TypeError(
            f"tokenizer must be a transformers tokenizer, got {type(tokenizer).__name__}. "
            "Load one with mlm_tutorial.resources.load_tokenizer('auto')."
        )
    if tokenizer.pad_token_id is None:
        raise ValueError(
            f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r} has no padding token, so rows cannot be "
            "padded to one length. Set one, e.g. tokenizer.pad_token = tokenizer.eos_token."
        )


def check_max_length(max_length: Any, tokenizer: Any, name: str = "max_length") -> int:
    """Validate a sequence length: an int of at least 2 and at most the model's limit.

    Two is the least that holds a classifier and a separator token. Returns the length.
    Used by :func:`tokenize_to_tf` (notebook 01).
    """
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)):
        raise TypeError(
            f"{name} must be an int, got {max_length!r} ({type(max_length).__name__}). Pass e.g. {name}=128."
        )
    max_length = int(max_length)
    if max_length < 2:
        raise ValueError(
            f"{name} must be at least 2 (room for the classifier and separator tokens), got {max_length}. "
            f"Pass e.g. {name}=128."
        )
    limit = model_limit(tokenizer)
    if limit is not None and max_length > limit:
        raise ValueError(
            f"{name}={max_length} is above the model's limit, tokenizer.model_max_length={limit}: the model "
            f"has no position embeddings beyond it. Use {name} <= {limit}."
        )
    return max_length


def tokenize_to_tf(texts: Any, tokenizer: Any, max_length: int = 128, **kwargs: Any) -> "BatchEncoding":
    """Tokenize ``texts`` into a ``BatchEncoding`` of ``tf.Tensor``s of shape ``(len(texts), max_length)``.

    Every row is truncated to ``max_length`` tokens and padded up to it, so the batch is
    rectangular. ``texts`` may be one string (treated as a list of one) or a list of strings.
    Further keyword arguments go to the tokenizer (e.g. ``return_special_tokens_mask=True``);
    ``padding``, ``truncation`` and ``return_tensors`` are set here and cannot be overridden.
    Introduced in notebook 01.
    """
    items = as_text_list(texts)
    _check_tokenizer(tokenizer)
    max_length = check_max_length(max_length, tokenizer)
    fixed = sorted(set(kwargs) & set(_FIXED_ARGUMENTS))
    if fixed:
        raise ValueError(
            f"tokenize_to_tf sets {', '.join(fixed)} itself (padding='max_length', truncation=True, "
            "return_tensors='tf'); remove it from the call, or call the tokenizer directly for other settings."
        )
    return tokenizer(
        items,
        max_length=max_length,
        truncation=True,
        padding="max_length",
        return_tensors="tf",
        **kwargs,
    )


def token_counts(texts: Any, tokenizer: Any, add_special_tokens: bool = True) -> np.ndarray:
    """Number of tokens in each text, untruncated (special tokens included unless told otherwise).

    Returns an ``int64`` array with one count per text. Introduced in notebook 01 to choose
    ``max_length``.
    """
    items = as_text_list(texts)
    _check_tokenizer(tokenizer)
    if not isinstance(add_special_tokens, bool):
        raise TypeError(f"add_special_tokens must be True or False, got {add_special_tokens!r}.")
    ids = tokenizer(items, add_special_tokens=add_special_tokens, truncation=False, verbose=False)["input_ids"]
    return np.array([len(row) for row in ids], dtype=np.int64)


def _as_counts(counts: Any) -> np.ndarray:
    is_array_like = isinstance(counts, (Sequence, np.ndarray)) or hasattr(counts, "tolist")
    if isinstance(counts, (str, bytes)) or not is_array_like:
        raise TypeError(
            f"counts must be a list or array of token counts, got {type(counts).__name__}. "
            "Compute it with token_counts(texts, tokenizer)."
        )
    values = np.asarray(counts.tolist() if hasattr(counts, "tolist") else list(counts))
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"counts must be a non-empty 1-D list of token counts, got shape {values.shape}. "
            "Compute it with token_counts(texts, tokenizer)."
        )
    if not np.issubdtype(values.dtype, np.integer) or (values < 0).any():
        raise ValueError(
            f"counts must hold non-negative integers, got {values[:5].tolist()}... "
            "Compute it with token_counts(texts, tokenizer)."
        )
    return values.astype(np.int64)


def _as_lengths(lengths: Any, name: str) -> list[int]:
    if isinstance(lengths, (int, np.integer)) and not isinstance(lengths, bool):
        lengths = [lengths]
    if isinstance(lengths, (str, bytes)) or not isinstance(lengths, Iterable):
        raise TypeError(f"{name} must be an int or a list of ints, got {lengths!r}. Pass e.g. {name}=[64, 128, 256].")
    values = list(lengths)
    if not values:
        raise ValueError(f"{name} is empty: pass at least one length, e.g. {name}=[64, 128, 256].")
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
            raise ValueError(f"{name}[{index}] is {value!r}; every length must be an int of at least 2.")
    return [int(v) for v in values]


def length_tradeoff(counts: Any, max_lengths: Any) -> "pd.DataFrame":
    """What padding and truncation to each length in ``max_lengths`` does to texts of ``counts`` tokens.

    One row per length with: ``rows`` (texts), ``truncated_articles`` (texts longer than the
    length), ``lost_tokens`` and ``lost_share`` (tokens truncation throws away, as a share of all
    tokens), ``padding_tokens`` and ``padding_share`` (padding positions, as a share of the
    ``rows x max_length`` batch). ``counts`` come from :func:`token_counts` (special tokens
    included, which truncation keeps). Introduced in notebook 01.
    """
    import pandas as pd

    values = _as_counts(counts)
    total = int(values.sum())
    records = []
    for length in _as_lengths(max_lengths, "max_lengths"):
        lost = int(np.clip(values - length, 0, None).sum())
        padding = int(np.clip(length - values, 0, None).sum())
        records.append(
            {
                "max_length": length,
                "rows": int(values.size),
                "truncated_articles": int((values > length).sum()),
                "lost_tokens": lost,
                "lost_share": lost / total if total else 0.0,
                "padding_tokens": padding,
                "padding_share": padding / (values.size * length),
            }
        )
    return pd.DataFrame.from_records(records)


def chunk_tradeoff(texts: Any, tokenizer: Any, chunk_sizes: Any) -> "pd.DataFrame":
    """The same numbers as :func:`length_tradeoff` for concatenating texts and cutting chunks.

    Uses :func:`mlm_tutorial.chunking.chunk_texts` for each size and counts the text tokens that
    made it into a chunk: the stream it cuts holds each text's tokens followed by one separator,
    and its rows keep the first ``rows x (chunk_size - 2)`` ids of that stream. The count comes from
    those positions, not from the ids, so a text that contains the literal "[SEP]" or "[PAD]" (which
    the tokenizer turns into the special id) is counted as text. ``lost_tokens`` is what the
    dropped, incomplete last piece of the stream held; ``lost_share`` uses the same denominator as
    :func:`length_tradeoff` (all tokens of the texts, special tokens included). Introduced in
    notebook 01.
    """
    import pandas as pd

    from mlm_tutorial.chunking import chunk_texts

    items = as_text_list(texts)
    _check_tokenizer(tokenizer)
    sizes = _as_lengths(chunk_sizes, "chunk_sizes")
    total = int(token_counts(items, tokenizer).sum())
    lengths = token_counts(items, tokenizer, add_special_tokens=False)
    body = int(lengths.sum())
    # Where each text's separator sits in the stream: after its own tokens and all earlier texts'.
    separators = np.cumsum(lengths + 1) - 1
    records = []
    for size in sizes:
        chunks = chunk_texts(items, tokenizer, chunk_size=size)
        rows = int(chunks.shape[0])
        streamed = rows * (size - 2)  # each row: [CLS], a slice of the stream, [SEP]
        kept = streamed - int((separators < streamed).sum())
        padding = int(chunks.size) - 2 * rows - streamed  # positions holding neither frame nor stream
        records.append(
            {
                "chunk_size": size,
                "rows": rows,
                "lost_tokens": body - kept,
                "lost_share": (body - kept) / total,
                "padding_tokens": padding,
                "padding_share": padding / chunks.size,
            }
        )
    return pd.DataFrame.from_records(records)


@dataclass(frozen=True)
class Throughput:
    """How fast a tokenizer got through some texts (the best of several timed runs); notebook 01."""

    texts: int
    tokens: int
    seconds: float
    batch_size: int

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else math.inf

    def __str__(self) -> str:
        return (
            f"{self.texts} texts, {self.tokens:,} tokens in {self.seconds * 1000:.1f} ms "
            f"(batches of {self.batch_size}): {self.tokens_per_second:,.0f} tokens/s"
        )


def measure_throughput(texts: Any, tokenizer: Any, batch_size: int = 64, repeats: int = 3) -> Throughput:
    """Time tokenizing ``texts`` in calls of ``batch_size`` texts; keep the fastest of ``repeats`` runs.

    No padding or truncation, so ``tokens`` is the corpus's true token count. ``batch_size=1``
    shows the cost of one call per text. Timings vary from run to run: print them, never assert
    them. Introduced in notebook 01.
    """
    items = as_text_list(texts)
    _check_tokenizer(tokenizer)
    for name, value in (("batch_size", batch_size), ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}. Pass e.g. {name}=64.")
    best = math.inf
    tokens = 0
    for _ in range(repeats):
        start = time.perf_counter()
        tokens = 0
        for first in range(0, len(items), batch_size):
            ids = tokenizer(items[first : first + batch_size], truncation=False, verbose=False)["input_ids"]
            tokens += sum(len(row) for row in ids)
        best = min(best, time.perf_counter() - start)
    return Throughput(texts=len(items), tokens=tokens, seconds=best, batch_size=batch_size)
