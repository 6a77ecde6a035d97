"""Checkers for the exercises of notebook 05 (faster fine-tuning on a CPU).

Each ``check_*`` function takes the learner's answer and returns a
:class:`~mlm_tutorial.exercises.feedback.Feedback` naming what is right and what is wrong.
The constants below fix the setting of each exercise, so the notebook can quote them.
Numbers may be Python numbers, NumPy scalars or 0-d TensorFlow tensors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mlm_tutorial.exercises.feedback import (Feedback, as_number, as_pair, describe, describe_non_number,
                                             missing_answer)

IGNORE_INDEX = -100

#: Exercise 1: one training batch of a DistilBERT-size model and how many of its positions are masked.
HEAD_QUESTION = {"hidden": 768, "vocab": 30522, "batch_size": 32, "seq_len": 128, "masked": 597}

#: Exercise 2: articles in batches of this many, each batch padded to its longest article, cut at this length.
SORTED_BATCH_SIZE = 32
SORTED_MAX_LENGTH = 512


#: Exercise 1: relative tolerance of a right count (4 significant digits are within it) and the band in which
#: an answer counts as "close" (a rounded input or result rather than a wrong formula).
FLOPS_TOLERANCE = 1e-3
FLOPS_CLOSE = 0.05

#: Exercise 2: relative tolerance of an exact share, and of a share rounded to 3 significant digits (accepted
#: only when it is nearer the answer than every mistake diagnosed below); "close" band for the rest.
SHARE_TOLERANCE = 1e-3
SHARE_ROUNDED_TOLERANCE = 5e-3
SHARE_CLOSE = 0.05


def _relative(value: float, target: float) -> float:
    return abs(value - target) / abs(target) if target else math.inf


# --------------------------------------------------------------------------- exercise 1: the decoder's FLOPs


def decoder_training_flops() -> tuple[int, int]:
    """The reference answer of notebook 05's exercise 1: ``(stock, fast)`` training FLOPs of the decoder for
    one batch."""
    q = HEAD_QUESTION
    per_row = 3 * 2 * q["hidden"] * q["vocab"]
    return per_row * q["batch_size"] * q["seq_len"], per_row * q["masked"]


def check_decoder_flops(answer: Any) -> Feedback:
    """Notebook 05, exercise 1: training FLOPs of the decoder (hidden -> vocabulary) for :data:`HEAD_QUESTION`'s batch.

    ``answer`` is ``(stock_flops, fast_flops)``: the stock head runs at every position, the fast head at the
    masked ones only; one multiply-add is 2 FLOPs and training costs about 3 forward passes. A count within
    :data:`FLOPS_TOLERANCE` (relative) passes, so ``5.761e11`` (4 significant digits) does; the mistakes
    diagnosed below are all further away than that.
    """
    feedback = Feedback("Exercise 1 (the decoder's FLOPs)")
    if missing_answer(feedback, answer):
        return feedback
    answer = as_pair(answer)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        size = f" of {len(answer)} value{'' if len(answer) == 1 else 's'}" if isinstance(answer, (tuple, list)) else ""
        got = describe(answer) + size
        return feedback.bad(f"answer must be a pair of numbers: (stock_flops, fast_flops), got {got}.")
    values = [as_number(value) for value in answer]
    for value, number in zip(answer, values):
        if number is None:
            return feedback.bad(f"answer must be a pair of numbers: (stock_flops, fast_flops); got "
                                f"{describe_non_number(value)} in it.")
        if not math.isfinite(number):
            return feedback.bad(f"answer must be a pair of finite numbers: (stock_flops, fast_flops); got {number}.")
    q = HEAD_QUESTION
    stock, fast = decoder_training_flops()
    positions = q["batch_size"] * q["seq_len"]
    got_stock, got_fast = float(values[0]), float(values[1])

    def near(value: float, target: float) -> bool:
        return math.isclose(value, target, rel_tol=FLOPS_TOLERANCE)

    def close(value: float, target: float, which: str) -> str:
        return (f"{which}: close to the count ({_relative(value, target):.1%} off) but not it: work it out from "
                "HEAD_QUESTION's exact numbers and give the count itself (or at least 4 significant digits), "
                "not a rounded value.")

    if near(got_stock, stock):
        feedback.good(f"stock: 3 x 2 x {q['hidden']} x {q['vocab']:,} x {positions:,} positions = {stock:.3e} FLOPs.")
    elif near(got_stock, stock / 3):
        feedback.bad("stock: that is the forward pass only; a training step costs about 3 forward passes.")
    elif near(got_stock, stock / 2):
        feedback.bad("stock: count 2 FLOPs per multiply-add (one multiplication and one addition).")
    elif near(got_stock, stock / 6):
        feedback.bad("stock: count 2 FLOPs per multiply-add, and 3 forward passes per training step.")
    elif _relative(got_stock, stock) <= FLOPS_CLOSE:
        feedback.bad(close(got_stock, stock, "stock"))
    else:
        feedback.bad(f"stock: the decoder multiplies every one of the {positions:,} hidden states by a "
                     f"{q['hidden']} x {q['vocab']:,} matrix.")
    if near(got_fast, fast):
        feedback.good(f"fast: only the {q['masked']} masked positions, {fast:.3e} FLOPs "
                      f"({fast / stock:.1%} of the stock head).")
    elif near(got_fast, 3 * 2 * q["hidden"] * q["vocab"] * 0.15 * positions):
        feedback.bad(f"fast: that assumes exactly 15% of the positions; count the masked ones: {q['masked']}.")
    elif near(got_fast, got_stock) or near(got_fast, stock):
        feedback.bad("fast: the fast head runs only where a token is masked, not at every position.")
    elif near(got_fast, fast / 3) or near(got_fast, fast / 2) or near(got_fast, fast / 6):
        feedback.bad("fast: use the same rule as for the stock head (2 FLOPs per multiply-add, 3 passes).")
    elif _relative(got_fast, fast) <= FLOPS_CLOSE:
        feedback.bad(close(got_fast, fast, "fast"))
    else:
        feedback.bad("fast: the same count as the stock head, for the masked positions only.")
    return feedback


# --------------------------------------------------------------------------- exercise 2: sorting by length


def sorted_padding_share(text_lengths: Any) -> float:
    """The reference answer of notebook 05's exercise 2: padding share of length-sorted batches padded to
    their longest."""
    from mlm_tutorial.benchmarking import layout_cost

    lengths = np.sort(np.asarray(text_lengths))
    return layout_cost(lengths, "pad_to_longest", SORTED_MAX_LENGTH, SORTED_BATCH_SIZE).padding_share


def _share_without_special_tokens(ordered: np.ndarray) -> float:
    """A by-hand padding share that forgets the classifier and separator tokens of every row."""
    padding = positions = 0
    for start in range(0, len(ordered), SORTED_BATCH_SIZE):
        block = ordered[start:start + SORTED_BATCH_SIZE]
        width = min(int(block.max()), SORTED_MAX_LENGTH)
        padding += int((width - np.minimum(block, width)).sum())
        positions += width * len(block)
    return padding / positions if positions else math.nan


def check_sorted_padding(answer: Any, text_lengths: Any) -> Feedback:
    """Notebook 05, exercise 2: the share of padding positions when the articles are sorted by length before batching.

    ``text_lengths`` are the articles' ordinary-token counts (the notebook's ``text_lengths``); every row also
    holds the two special tokens, as in ``layout_cost``. ``answer`` passes within :data:`SHARE_TOLERANCE`
    (relative) of the reference, or rounded to 3 significant digits (within :data:`SHARE_ROUNDED_TOLERANCE`)
    when it is still nearer the reference than every mistake diagnosed here; in the notebook's corpus the
    nearest one, forgetting the special tokens, is 0.7% away.
    """
    from mlm_tutorial.benchmarking import layout_cost

    lengths = np.asarray(text_lengths)
    if lengths.ndim != 1 or lengths.size < 2 or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError("text_lengths must be the 1-D integer array of article lengths from the notebook.")
    feedback = Feedback("Exercise 2 (sorting by length)")
    if missing_answer(feedback, answer):
        return feedback
    value = as_number(answer)
    if value is None:
        return feedback.bad(f"answer must be a number (a share between 0 and 1), got {describe_non_number(answer)}.")
    value = float(value)
    if not math.isfinite(value):
        return feedback.bad(f"the answer is {value}, not a share: a share between 0 and 1 is a finite number.")
    truth = sorted_padding_share(lengths)
    ordered = np.sort(lengths)
    cost = layout_cost(ordered, "pad_to_longest", SORTED_MAX_LENGTH, SORTED_BATCH_SIZE)
    unsorted = layout_cost(lengths, "pad_to_longest", SORTED_MAX_LENGTH, SORTED_BATCH_SIZE).padding_share
    if math.isclose(value, truth, rel_tol=SHARE_TOLERANCE, abs_tol=1e-6):
        return feedback.good(f"sorted batches are {truth:.1%} padding, against {unsorted:.1%} in corpus order: "
                             "neighbours in a sorted list have almost the same length.")
    real = cost.positions - cost.padding
    left_over = len(lengths) % SORTED_BATCH_SIZE
    mistakes = [
        (100 * truth, "that is a percentage; give the share as a fraction between 0 and 1."),
        (unsorted, "that is the share in corpus order; sort the lengths first (np.sort)."),
        (cost.padding / real if real else math.nan,
         "that divides the padding by the real tokens; divide by all positions computed."),
        (_share_without_special_tokens(ordered),
         "close, but every row also holds the classifier and separator tokens ([CLS] and [SEP]) besides its "
         "text: each row is 2 positions longer than its article, and those 2 positions are not padding."),
    ]
    descending = layout_cost(ordered[::-1], "pad_to_longest", SORTED_MAX_LENGTH, SORTED_BATCH_SIZE).padding_share
    if not math.isclose(descending, truth, rel_tol=SHARE_TOLERANCE, abs_tol=1e-6):
        mistakes.append((descending, f"that sorts longest first; sort shortest first. With {len(lengths)} articles "
                                     f"the last batch holds only {left_over}, so which articles end up in it "
                                     "changes the share."))
    for target, note in mistakes:
        if math.isclose(value, target, rel_tol=SHARE_TOLERANCE):
            return feedback.bad(note)
    if _relative(value, truth) <= SHARE_ROUNDED_TOLERANCE and \
            all(abs(value - truth) < abs(value - target) for target, _ in mistakes if math.isfinite(target)):
        return feedback.good(f"sorted batches are {truth:.1%} padding, against {unsorted:.1%} in corpus order: "
                             "neighbours in a sorted list have almost the same length.")
    if not 0.0 <= value <= 1.0:
        return feedback.bad("a share of positions must lie between 0 and 1.")
    if _relative(value, truth) <= SHARE_CLOSE:
        return feedback.bad(f"close ({_relative(value, truth):.1%} off) but not the share: if you rounded, give the "
                            "unrounded value (round(x, 3) keeps 3 decimals, not 3 significant digits); if you "
                            "counted by hand, check each batch's width and that every position of a row counts.")
    return feedback.bad("not yet: sort the lengths first (shortest first), cut them into batches of "
                        "SORTED_BATCH_SIZE in that order, make each batch as wide as its own longest row (special "
                        "tokens included), and divide the padding positions by all the positions of all batches.")


# --------------------------------------------------------------------------- exercise 3: the gather


#: (hidden shape, labels) cases the learner's ``gather_masked`` is run on.
_GATHER_CASES: tuple[tuple[tuple[int, int, int], list[list[int]]], ...] = (
    ((2, 5, 3), [[-100, 7, -100, -100, 9], [4, -100, -100, 5, -100]]),
    ((1, 4, 2), [[-100, -100, 11, -100]]),
    ((3, 2, 4), [[-100, -100], [8, 30521], [-100, 2]]),  # 30521: targets need a dtype that holds real ids
)


def _case(shape: tuple[int, int, int], labels: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    hidden = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) / 10.0
    return hidden, np.asarray(labels, dtype=np.int32)


def check_gather_masked(answer: Callable[[Any, Any], Any] | None) -> Feedback:
    """Notebook 05, exercise 3: ``answer(hidden, labels)`` returns ``(rows, targets)``: the hidden states and
    labels of the masked positions (``labels != -100``), in reading order (row by row, left to right).

    It is run on small TensorFlow tensors; ``rows`` must have shape ``(masked positions, hidden size)``.
    """
    import tensorflow as tf

    feedback = Feedback("Exercise 3 (gather the masked rows)")
    if missing_answer(feedback, answer):
        return feedback
    if not callable(answer):
        return feedback.bad(f"answer must be a function gather_masked(hidden, labels), got {type(answer).__name__}.")
    for shape, label_list in _GATHER_CASES:
        hidden, labels = _case(shape, label_list)
        where = labels != IGNORE_INDEX
        want_rows, want_targets = hidden[where], labels[where]
        try:
            result = answer(tf.constant(hidden), tf.constant(labels))
        except Exception as error:  # the learner's code may fail in any way; report it
            return feedback.bad(f"calling it on hidden {shape} raised {type(error).__name__}: {error}")
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            return feedback.bad("it must return a pair (rows, targets).")
        if any(isinstance(part, tf.RaggedTensor) for part in result):
            return feedback.bad(f"for hidden {shape} the result is ragged (one list per sequence, as "
                                "tf.ragged.boolean_mask gives): the head wants one flat list of masked positions, "
                                "so select over the batch and position axes together, or merge the two axes "
                                "first.")
        try:
            rows, targets = (np.asarray(part) for part in result)
            rows_numeric = rows.dtype != object and np.issubdtype(rows.dtype, np.number)
        except Exception as error:  # ragged lists, symbolic tensors: not arrays
            return feedback.bad(f"for hidden {shape} rows and targets must be arrays or tensors; converting them "
                                f"raised {type(error).__name__}: {error}")
        if not rows_numeric:
            got = describe_non_number(result[0])
            return feedback.bad(f"for hidden {shape} rows must be a float array or tensor of hidden vectors, "
                                f"got {got}.")
        if rows.shape == hidden.shape:
            return feedback.bad("rows still has the shape of hidden: the masked positions must be selected, not "
                                "zeroed or kept in place. rows has one row per masked position: shape "
                                "(masked positions, hidden size).")
        if rows.shape != want_rows.shape:
            inverted = hidden[~where]
            if rows.shape == inverted.shape and np.allclose(rows, inverted):
                return feedback.bad("those are the positions that are NOT masked; keep labels != -100.")
            return feedback.bad(f"for hidden {shape} and {int(where.sum())} masked positions rows should have shape "
                                f"{want_rows.shape}, got {rows.shape}.")
        if not np.allclose(rows, want_rows):
            return feedback.bad(f"for hidden {shape} the rows are not the hidden states of the masked positions "
                                "in reading order.")
        if targets.shape != want_targets.shape or targets.dtype == object or \
                not np.array_equal(targets, want_targets):
            return feedback.bad(f"for hidden {shape} the targets should be the labels of the masked positions, "
                                f"{want_targets.tolist()}, got {targets.tolist()}.")
    feedback.good(f"right rows and targets for all {len(_GATHER_CASES)} cases, including a row with nothing masked: "
                  "the head now sees only the masked positions.")
    return feedback
