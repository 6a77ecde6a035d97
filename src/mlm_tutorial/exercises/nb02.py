"""Checkers for the exercises of notebook 02 (special tokens and padding).

Each checker takes the learner's answer plus what it needs to recompute the right one and
returns a :class:`~mlm_tutorial.exercises.feedback.Feedback`. No id is hard-coded here either:
the right answers come from the tokenizers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mlm_tutorial.exercises.feedback import Feedback


def _array(value: Any) -> np.ndarray | None:
    """The answer as a NumPy array, or None when it cannot be one."""
    if hasattr(value, "numpy"):
        value = value.numpy()
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        return None
    if array.dtype == object:
        return None
    return array


def _ids(encoding: Any, key: str) -> np.ndarray:
    value = encoding[key]
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


def check_sep_positions(answer: Any, encoding: Any, tokenizer: Any) -> Feedback:
    """Exercise 1: for each row, the position of the separator token that ends its text."""
    feedback = Feedback("Exercise 1 (where each text ends)")
    ids = _ids(encoding, "input_ids")
    real = ids != tokenizer.pad_token_id
    lengths = real.sum(axis=1)
    if getattr(tokenizer, "padding_side", "right") == "left":
        expected = np.full(ids.shape[0], ids.shape[1] - 1)
    else:
        expected = lengths - 1
    if answer is None:
        return feedback.bad("answer is None: assign one position per row to `answer`.")
    got = _array(answer)
    if got is None or not np.issubdtype(got.dtype, np.integer):
        return feedback.bad("answer should be integer positions, one per row (a list, NumPy array or tensor).")
    got = got.reshape(-1)
    if got.size != ids.shape[0]:
        return feedback.bad(f"{got.size} positions for {ids.shape[0]} rows: give one position per row.")
    feedback.good("one integer position per row")
    if np.array_equal(got, expected):
        rows = np.arange(ids.shape[0])
        if not (ids[rows, expected] == tokenizer.sep_token_id).all():
            raise ValueError("the encoding's texts do not end with the separator token; pass the notebook's batch.")
        return feedback.good(
            f"each position holds {tokenizer.sep_token!r} (id {tokenizer.sep_token_id}), the end of the text"
        )
    if np.array_equal(got, lengths):
        return feedback.bad("these are the text lengths; positions count from 0, so the last token is at length - 1.")
    if np.array_equal(got, np.zeros_like(got)):
        return feedback.bad(f"position 0 holds the classifier token {tokenizer.cls_token!r}, not the separator.")
    return feedback.bad(
        f"some positions do not hold the separator {tokenizer.sep_token!r}: find the last position where the id "
        "is tokenizer.sep_token_id, or where attention_mask is 1."
    )


def check_attention_mask(answer: Any, encoding: Any, tokenizer: Any) -> Feedback:
    """Exercise 2: the attention mask rebuilt from ``input_ids`` and ``tokenizer.pad_token_id``."""
    feedback = Feedback("Exercise 2 (an attention mask from the ids)")
    ids = _ids(encoding, "input_ids")
    expected = (ids != tokenizer.pad_token_id).astype(np.int64)
    if answer is None:
        return feedback.bad("answer is None: assign your mask to `answer`.")
    got = _array(answer)
    if got is None or not (np.issubdtype(got.dtype, np.integer) or got.dtype == bool):
        return feedback.bad("answer should be an array or tensor of 0/1 (or True/False), one value per position.")
    if got.shape != ids.shape:
        return feedback.bad(f"shape {got.shape} instead of {ids.shape}: one value per position of input_ids.")
    got = got.astype(np.int64)
    feedback.good(f"shape {got.shape}")
    if np.array_equal(got, expected):
        return feedback.good("1 for every real token (special tokens included), 0 for padding, as the tokenizer's mask")
    if np.array_equal(got, 1 - expected):
        return feedback.bad("the mask is inverted: 1 must mark real tokens and 0 padding.")
    special = np.isin(ids, np.array(tokenizer.all_special_ids))
    if np.array_equal(got, (~special).astype(np.int64)):
        return feedback.bad(
            f"the classifier and separator tokens ({tokenizer.cls_token!r}, {tokenizer.sep_token!r}) are attended "
            "to as well; only padding gets 0. Compare with tokenizer.pad_token_id alone."
        )
    return feedback.bad(
        "some positions differ from the tokenizer's attention_mask: compare input_ids with tokenizer.pad_token_id."
    )


def _reference_batch(tokenizer: Any, texts: list[str]) -> Any:
    return tokenizer(texts, padding=True, return_tensors="np")


def check_special_finder(answer: Any, tokenizers: Mapping[str, Any], texts: list[str]) -> Feedback:
    """Exercise 3: a function ``answer(input_ids, tokenizer)`` that flags special tokens for any tokenizer.

    It is run on a padded batch of ``texts`` for every tokenizer in ``tokenizers`` and must return
    True exactly where the id is one of ``tokenizer.all_special_ids`` (padding included).
    """
    feedback = Feedback("Exercise 3 (finding special tokens in any family)")
    if not callable(answer):
        return feedback.bad(f"answer should be a function f(input_ids, tokenizer), got {type(answer).__name__}.")
    if not isinstance(tokenizers, Mapping) or not tokenizers:
        raise TypeError("tokenizers must be a non-empty dict {name: tokenizer}.")
    for name, tokenizer in tokenizers.items():
        ids = _reference_batch(tokenizer, texts)["input_ids"]
        expected = np.isin(ids, np.array(tokenizer.all_special_ids))
        try:
            got = _array(answer(ids, tokenizer))
        except Exception as error:  # noqa: BLE001 - report the learner's error as feedback
            feedback.bad(f"{name}: the function raised {type(error).__name__}: {error}")
            continue
        if got is None or got.shape != ids.shape:
            shape = None if got is None else got.shape
            feedback.bad(f"{name}: the result has shape {shape}, not {ids.shape}; return one flag per position.")
            continue
        got = got.astype(bool)
        if np.array_equal(got, expected):
            feedback.good(f"{name}: flags exactly the special tokens and the padding")
            continue
        missed = sorted({int(i) for i in ids[expected & ~got]})
        extra = sorted({int(i) for i in ids[got & ~expected]})
        notes = []
        if missed:
            notes.append(f"misses ids {missed} ({', '.join(tokenizer.convert_ids_to_tokens(missed))})")
        if extra:
            notes.append(f"flags ordinary ids such as {extra[:5]}")
        feedback.bad(
            f"{name}: {'; '.join(notes)}. Read the ids from tokenizer.all_special_ids instead of writing them down."
        )
    return feedback
