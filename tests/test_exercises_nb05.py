"""The checkers of notebook 05's exercises accept the worked answers and explain typical mistakes."""

from __future__ import annotations

import numpy as np
import pytest

from mlm_tutorial.benchmarking import layout_cost
from mlm_tutorial.exercises import nb05
from exercise_asserts import assert_fails_with


# --------------------------------------------------------------------------- exercise 1


def test_decoder_flops_solution_passes():
    q = nb05.HEAD_QUESTION
    stock = 3 * 2 * q["hidden"] * q["vocab"] * q["batch_size"] * q["seq_len"]
    fast = 3 * 2 * q["hidden"] * q["vocab"] * q["masked"]
    assert nb05.decoder_training_flops() == (stock, fast)
    feedback = nb05.check_decoder_flops((stock, fast))
    assert feedback.passed, str(feedback)
    assert "597 masked positions" in str(feedback)
    assert nb05.check_decoder_flops([float(stock), np.int64(fast)]).passed


@pytest.mark.parametrize("scale, phrase", [
    (1 / 3, "forward pass only"),
    (1 / 2, "2 FLOPs per multiply-add"),
    (1 / 6, "and 3 forward passes"),
    (7, "every one of the"),
])
def test_decoder_flops_stock_mistakes(scale, phrase):
    stock, fast = nb05.decoder_training_flops()
    assert_fails_with(nb05.check_decoder_flops((stock * scale, fast)), phrase)


def test_decoder_flops_fast_mistakes():
    q = nb05.HEAD_QUESTION
    stock, fast = nb05.decoder_training_flops()
    fifteen = 3 * 2 * q["hidden"] * q["vocab"] * 0.15 * q["batch_size"] * q["seq_len"]
    assert_fails_with(nb05.check_decoder_flops((stock, fifteen)), "exactly 15%")
    assert_fails_with(nb05.check_decoder_flops((stock, stock)), "only where a token is masked")
    assert_fails_with(nb05.check_decoder_flops((stock, fast / 3)), "same rule")
    assert_fails_with(nb05.check_decoder_flops((stock, fast * 1.01)), "masked positions only")


def test_decoder_flops_bad_shapes():
    assert_fails_with(nb05.check_decoder_flops(None), "still None")
    assert_fails_with(nb05.check_decoder_flops(5.0), "pair of numbers")
    assert_fails_with(nb05.check_decoder_flops((True, 1)), "pair of numbers")
    assert_fails_with(nb05.check_decoder_flops(("1", "2")), "pair of numbers")


# --------------------------------------------------------------------------- exercise 2

LENGTHS = np.array([300, 120, 310, 90, 250, 100, 280, 95] * 8)


def test_sorted_padding_solution_passes():
    answer = layout_cost(np.sort(LENGTHS), "pad_to_longest", nb05.SORTED_MAX_LENGTH,
                         batch_size=nb05.SORTED_BATCH_SIZE).padding_share
    # By hand: sorted, the 32 shortest (8 each of 90, 95, 100, 120 tokens) form one batch padded to
    # 120 + 2 positions, the 32 longest (250, 280, 300, 310) the other, padded to 310 + 2.
    padding = 8 * ((120 - 90) + (120 - 95) + (120 - 100) + (310 - 250) + (310 - 280) + (310 - 300))
    expected = padding / (32 * 122 + 32 * 312)
    assert (nb05.SORTED_BATCH_SIZE, nb05.SORTED_MAX_LENGTH) == (32, 512)  # the sizes the hand count assumes
    assert answer == pytest.approx(expected)
    assert nb05.sorted_padding_share(LENGTHS) == pytest.approx(expected)
    feedback = nb05.check_sorted_padding(answer, LENGTHS)
    assert feedback.passed, str(feedback)
    assert "corpus order" in str(feedback)


def test_sorted_padding_mistakes():
    truth = nb05.sorted_padding_share(LENGTHS)
    unsorted = layout_cost(LENGTHS, "pad_to_longest", 512, batch_size=32).padding_share
    assert unsorted > truth  # the exercise's point holds for this data
    assert_fails_with(nb05.check_sorted_padding(unsorted, LENGTHS), "sort the lengths first")
    assert_fails_with(nb05.check_sorted_padding(100 * truth, LENGTHS), "percentage")
    cost = layout_cost(np.sort(LENGTHS), "pad_to_longest", 512, batch_size=32)
    assert_fails_with(nb05.check_sorted_padding(cost.padding / (cost.positions - cost.padding), LENGTHS),
                      "divides the padding by the real tokens")
    assert_fails_with(nb05.check_sorted_padding(1.7, LENGTHS), "between 0 and 1")
    assert_fails_with(nb05.check_sorted_padding(0.5, LENGTHS), "not yet")
    assert_fails_with(nb05.check_sorted_padding(None, LENGTHS), "still None")
    assert_fails_with(nb05.check_sorted_padding("0.01", LENGTHS), "must be a number")
    with pytest.raises(ValueError, match="text_lengths"):
        nb05.check_sorted_padding(0.1, [1.5, 2.5])


# --------------------------------------------------------------------------- exercise 3


def solution(hidden, labels):
    import tensorflow as tf

    where = labels != -100
    return tf.boolean_mask(hidden, where), tf.boolean_mask(labels, where)


def test_gather_masked_solution_passes():
    feedback = nb05.check_gather_masked(solution)
    assert feedback.passed, str(feedback)
    assert "all 3 cases" in str(feedback)


def test_gather_masked_accepts_numpy():
    feedback = nb05.check_gather_masked(lambda h, l: (np.asarray(h)[np.asarray(l) != -100],
                                                      np.asarray(l)[np.asarray(l) != -100]))
    assert feedback.passed, str(feedback)


def test_gather_masked_mistakes():
    import tensorflow as tf

    assert_fails_with(nb05.check_gather_masked(lambda h, l: (h, l)), "still has the shape of hidden")
    inverted = lambda h, l: (tf.boolean_mask(h, l == -100), tf.boolean_mask(l, l == -100))  # noqa: E731
    assert_fails_with(nb05.check_gather_masked(inverted), "NOT masked")
    wrong_targets = lambda h, l: (solution(h, l)[0], tf.zeros_like(solution(h, l)[1]))  # noqa: E731
    assert_fails_with(nb05.check_gather_masked(wrong_targets), "targets should be")
    reversed_rows = lambda h, l: (tf.reverse(solution(h, l)[0], [0]), solution(h, l)[1])  # noqa: E731
    assert_fails_with(nb05.check_gather_masked(reversed_rows), "reading order")
    assert_fails_with(nb05.check_gather_masked(lambda h, l: solution(h, l)[0]), "pair (rows, targets)")
    assert_fails_with(nb05.check_gather_masked(lambda h, l: 1 / 0), "ZeroDivisionError")
    assert_fails_with(nb05.check_gather_masked(lambda h, l: (tf.reshape(h, [-1, h.shape[-1]])[:1], l)), "shape")
    assert_fails_with(nb05.check_gather_masked(None), "still None")
    assert_fails_with(nb05.check_gather_masked("tf.boolean_mask"), "must be a function")
