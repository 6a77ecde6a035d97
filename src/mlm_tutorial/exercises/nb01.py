"""Checkers for the exercises of notebook 01 (tokenizing into TF tensors).

Each checker takes the learner's answer plus what it needs to recompute the right one (texts,
tokenizer, counts) and returns a :class:`~mlm_tutorial.exercises.feedback.Feedback`.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from mlm_tutorial.exercises.feedback import Feedback


def _is_tf_tensor(value: Any) -> bool:
    import tensorflow as tf

    return isinstance(value, tf.Tensor)


def check_tokenized_batch(answer: Any, texts: list[str], tokenizer: Any, max_length: int = 64) -> Feedback:
    """Exercise 1: ``texts`` tokenized into TF tensors of shape ``(len(texts), max_length)``.

    The reference is ``tokenize_to_tf(texts, tokenizer, max_length)``: padded to ``max_length``,
    truncated, ``return_tensors="tf"``.
    """
    from mlm_tutorial.tokenizing import tokenize_to_tf

    feedback = Feedback("Exercise 1 (a batch of TF tensors)")
    expected = tokenize_to_tf(texts, tokenizer, max_length=max_length)
    if answer is None:
        return feedback.bad("answer is None: assign the tokenizer's output to `answer`.")
    if not hasattr(answer, "keys") or "input_ids" not in answer:
        return feedback.bad(
            f"answer should be the tokenizer's output (a BatchEncoding with 'input_ids'), got {type(answer).__name__}."
        )
    feedback.good("it is a tokenizer output with input_ids")
    missing = [key for key in expected.keys() if key not in answer]
    if missing:
        feedback.bad(f"fields {missing} are missing; call the tokenizer with its defaults.")
    ids = answer["input_ids"]
    if not _is_tf_tensor(ids):
        return feedback.bad(
            f"input_ids is a {type(ids).__name__}, not a tf.Tensor: pass return_tensors='tf'."
        )
    feedback.good("the fields are tf.Tensors")
    want_shape = tuple(expected["input_ids"].shape)
    got_shape = tuple(ids.shape)
    if got_shape != want_shape:
        if got_shape[:1] != want_shape[:1]:
            return feedback.bad(f"{got_shape[0]} rows instead of {want_shape[0]}: tokenize all of the given texts.")
        return feedback.bad(
            f"shape {got_shape} instead of {want_shape}: pad and truncate to max_length={max_length} "
            "(padding='max_length', truncation=True)."
        )
    feedback.good(f"shape {got_shape}")
    if ids.dtype != expected["input_ids"].dtype:
        wanted = expected["input_ids"].dtype.name
        feedback.bad(f"dtype {ids.dtype.name} instead of {wanted}; keep the tokenizer's dtype.")
    else:
        feedback.good(f"dtype {ids.dtype.name}")
    if not np.array_equal(np.asarray(ids), expected["input_ids"].numpy()):
        feedback.bad(
            "the ids differ from the reference: tokenize exactly the given texts, in order, with this tokenizer."
        )
    else:
        feedback.good("the ids match the reference, row by row")
    return feedback


def check_max_length_choice(
    answer: Any, counts: Any, candidates: Any, max_lost_share: float = 0.05
) -> Feedback:
    """Exercise 2: the smallest length in ``candidates`` that throws away at most ``max_lost_share`` of the tokens.

    When no candidate is good enough (very long texts), the right answer is the longest candidate,
    which throws away the least.
    """
    from mlm_tutorial.tokenizing import length_tradeoff

    feedback = Feedback("Exercise 2 (choosing max_length)")
    table = length_tradeoff(counts, candidates).set_index("max_length")
    fine = table.index[table["lost_share"] <= max_lost_share]
    if len(fine) == 0:
        longest = int(table.index.max())
        if isinstance(answer, numbers.Integral) and not isinstance(answer, bool) and int(answer) == longest:
            return feedback.good(f"no candidate stays within {max_lost_share:.0%}; the longest, {longest}, loses least")
        return feedback.bad(
            f"no candidate stays within {max_lost_share:.0%} here, so take the longest one, which loses least."
        )
    best = int(min(fine))
    if isinstance(answer, bool) or not isinstance(answer, numbers.Integral):
        return feedback.bad(f"answer should be one int (a max_length), got {answer!r}.")
    answer = int(answer)
    if answer not in table.index:
        return feedback.bad(f"{answer} is not one of the candidates {list(table.index)}.")
    lost = float(table.at[answer, "lost_share"])
    if lost > max_lost_share:
        return feedback.bad(
            f"max_length={answer} throws away {lost:.1%} of the tokens, more than {max_lost_share:.0%}: go longer."
        )
    feedback.good(f"max_length={answer} throws away {lost:.1%} of the tokens (at most {max_lost_share:.0%})")
    if answer != best:
        return feedback.bad(
            f"a shorter candidate also stays within {max_lost_share:.0%}; the smallest one wastes less on padding."
        )
    padding = float(table.at[answer, "padding_share"])
    return feedback.good(f"it is the smallest such candidate; {padding:.1%} of that batch is padding")


def check_padding_share(answer: Any, encoding: Any) -> Feedback:
    """Exercise 3: the share of the batch's positions that are padding, from its attention mask."""
    feedback = Feedback("Exercise 3 (padding share)")
    mask = encoding["attention_mask"]
    mask = np.asarray(mask.numpy() if hasattr(mask, "numpy") else mask)
    expected = float((mask == 0).mean())
    if hasattr(answer, "numpy"):
        answer = answer.numpy()
    if isinstance(answer, np.ndarray) and answer.size == 1:
        answer = answer.item()
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        return feedback.bad(f"answer should be one number (a share between 0 and 1), got {type(answer).__name__}.")
    value = float(answer)
    tolerance = 1e-6
    if abs(value - expected) <= tolerance:
        feedback.good(f"{value:.4f} of the positions are padding")
        return feedback.good("computed from the attention mask: 0 marks padding")
    if abs(value - (1 - expected)) <= tolerance:
        return feedback.bad("that is the share of real tokens (mask 1); padding is where the mask is 0.")
    if abs(value - 100 * expected) <= 100 * tolerance:
        return feedback.bad("that looks like a percentage; give a fraction between 0 and 1.")
    if abs(value - float((mask == 0).sum())) <= tolerance:
        return feedback.bad("that is the number of padding positions; divide by the number of positions.")
    return feedback.bad("not the share of positions where attention_mask is 0; average (mask == 0) over the batch.")
