"""Checkers for the exercises of notebook 05 (faster fine-tuning on a CPU).

Each ``check_*`` function takes the learner's answer and returns a
:class:`~mlm_tutorial.exercises.feedback.Feedback` naming what is right and what is wrong.
The constants below fix the setting of each exercise, so the notebook can quote them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mlm_tutorial.exercises.feedback import Feedback, missing_answer

IGNORE_INDEX = -100

#: Exercise 1: one training batch of a DistilBERT-size model and how many of its positions are masked.
HEAD_QUESTION = {"hidden": 768, "vocab": 30522, "batch_size": 32, "seq_len": 128, "masked": 597}

#: Exercise 2: articles in batches of this many, each batch padded to its longest article, cut at this length.
SORTED_BATCH_SIZE = 32
SORTED_MAX_LENGTH = 512


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


# --------------------------------------------------------------------------- exercise 1: the decoder's FLOPs


def decoder_training_flops() -> tuple[int, int]:
    """The reference answer of exercise 1: ``(stock, fast)`` training FLOPs of the decoder for one batch."""
    q = HEAD_QUESTION
    per_row = 3 * 2 * q["hidden"] * q["vocab"]
    return per_row * q["batch_size"] * q["seq_len"], per_row * q["masked"]


def check_decoder_flops(answer: Any) -> Feedback:
    """Exercise 1: training FLOPs of the decoder (hidden -> vocabulary) for :data:`HEAD_QUESTION`'s batch.

    ``answer`` is ``(stock_flops, fast_flops)``: the stock head runs at every position, the fast head at the
    masked ones only; one multiply-add is 2 FLOPs and training costs about 3 forward passes.
    """
    feedback = Feedback("Exercise 1 (the decoder's FLOPs)")
    if missing_answer(feedback, answer):
        return feedback
    if not isinstance(answer, (tuple, list)) or len(answer) != 2 or not all(_is_number(v) for v in answer):
        return feedback.bad("answer must be a pair of numbers: (stock_flops, fast_flops).")
    q = HEAD_QUESTION
    stock, fast = decoder_training_flops()
    positions = q["batch_size"] * q["seq_len"]
    got_stock, got_fast = float(answer[0]), float(answer[1])

    def near(value: float, target: float) -> bool:
        return math.isclose(value, target, rel_tol=1e-9)

    if near(got_stock, stock):
        feedback.good(f"stock: 3 x 2 x {q['hidden']} x {q['vocab']:,} x {positions:,} positions = {stock:.3e} FLOPs.")
    elif near(got_stock, stock / 3):
        feedback.bad("stock: that is the forward pass only; a training step costs about 3 forward passes.")
    elif near(got_stock, stock / 2):
        feedback.bad("stock: count 2 FLOPs per multiply-add (one multiplication and one addition).")
    elif near(got_stock, stock / 6):
        feedback.bad("stock: count 2 FLOPs per multiply-add, and 3 forward passes per training step.")
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
    else:
        feedback.bad("fast: the same count as the stock head, for the masked positions only.")
    return feedback


# --------------------------------------------------------------------------- exercise 2: sorting by length


def sorted_padding_share(text_lengths: Any) -> float:
    """The reference answer of exercise 2: padding share of length-sorted batches padded to their longest."""
    from mlm_tutorial.benchmarking import layout_cost

    lengths = np.sort(np.asarray(text_lengths))
    return layout_cost(lengths, "pad_to_longest", SORTED_MAX_LENGTH, SORTED_BATCH_SIZE).padding_share


def check_sorted_padding(answer: Any, text_lengths: Any) -> Feedback:
    """Exercise 2: the share of padding positions when the articles are sorted by length before batching.

    ``text_lengths`` are the articles' ordinary-token counts (the notebook's ``text_lengths``).
    """
    from mlm_tutorial.benchmarking import layout_cost

    lengths = np.asarray(text_lengths)
    if lengths.ndim != 1 or lengths.size < 2 or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError("text_lengths must be the 1-D integer array of article lengths from the notebook.")
    feedback = Feedback("Exercise 2 (sorting by length)")
    if missing_answer(feedback, answer):
        return feedback
    if not _is_number(answer):
        return feedback.bad(f"answer must be a number (a share between 0 and 1), got {type(answer).__name__}.")
    value = float(answer)
    truth = sorted_padding_share(lengths)
    ordered = np.sort(lengths)
    cost = layout_cost(ordered, "pad_to_longest", SORTED_MAX_LENGTH, SORTED_BATCH_SIZE)
    unsorted = layout_cost(lengths, "pad_to_longest", SORTED_MAX_LENGTH, SORTED_BATCH_SIZE).padding_share
    if math.isclose(value, truth, rel_tol=1e-3, abs_tol=1e-6):
        return feedback.good(f"sorted batches are {truth:.1%} padding, against {unsorted:.1%} in corpus order: "
                             "neighbours in a sorted list have almost the same length.")
    if math.isclose(value, 100 * truth, rel_tol=1e-3):
        return feedback.bad("that is a percentage; give the share as a fraction between 0 and 1.")
    if math.isclose(value, unsorted, rel_tol=1e-3):
        return feedback.bad("that is the share in corpus order; sort the lengths first (np.sort).")
    real = cost.positions - cost.padding
    if real and math.isclose(value, cost.padding / real, rel_tol=1e-3):
        return feedback.bad("that divides the padding by the real tokens; divide by all positions computed.")
    if not 0.0 <= value <= 1.0:
        return feedback.bad("a share of positions must lie between 0 and 1.")
    return feedback.bad("not yet: sort the lengths, then layout_cost(..., 'pad_to_longest', 512, 32).padding_share.")


# --------------------------------------------------------------------------- exercise 3: the gather


#: (hidden shape, labels) cases the learner's ``gather_masked`` is run on.
_GATHER_CASES: tuple[tuple[tuple[int, int, int], list[list[int]]], ...] = (
    ((2, 5, 3), [[-100, 7, -100, -100, 9], [4, -100, -100, 5, -100]]),
    ((1, 4, 2), [[-100, -100, 11, -100]]),
    ((3, 2, 4), [[-100, -100], [8, 6], [-100, 2]]),
)


def _case(shape: tuple[int, int, int], labels: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    hidden = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) / 10.0
    return hidden, np.asarray(labels, dtype=np.int32)


def check_gather_masked(answer: Callable[[Any, Any], Any] | None) -> Feedback:
    """Exercise 3: ``answer(hidden, labels)`` returns ``(rows, targets)``: the hidden states and labels of the
    masked positions (``labels != -100``), in reading order (row by row, left to right).

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
        rows, targets = (np.asarray(part) for part in result)
        if rows.shape == hidden.shape:
            return feedback.bad("rows still has the shape of hidden: keep only the masked positions "
                                "(tf.boolean_mask(hidden, labels != -100)).")
        if rows.shape != want_rows.shape:
            inverted = hidden[~where]
            if rows.shape == inverted.shape and np.allclose(rows, inverted):
                return feedback.bad("those are the positions that are NOT masked; keep labels != -100.")
            return feedback.bad(f"for hidden {shape} and {int(where.sum())} masked positions rows should have shape "
                                f"{want_rows.shape}, got {rows.shape}.")
        if not np.allclose(rows, want_rows):
            return feedback.bad(f"for hidden {shape} the rows are not the hidden states of the masked positions "
                                "in reading order.")
        if targets.shape != want_targets.shape or not np.array_equal(targets, want_targets):
            return feedback.bad(f"for hidden {shape} the targets should be the labels of the masked positions, "
                                f"{want_targets.tolist()}, got {targets.tolist()}.")
    feedback.good(f"right rows and targets for all {len(_GATHER_CASES)} cases, including a row with nothing masked: "
                  "the head now sees only the masked positions.")
    return feedback
