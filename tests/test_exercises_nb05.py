"""The checkers of notebook 05's exercises accept the worked answers and explain typical mistakes."""

from __future__ import annotations

import numpy as np
import pytest

from mlm_tutorial.benchmarking import layout_cost
from mlm_tutorial.exercises import nb05
from exercise_asserts import ODD_ANSWERS, assert_fails_with


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


def test_decoder_flops_accepts_rounded_and_tensor_answers():
    import tensorflow as tf

    stock, fast = nb05.decoder_training_flops()
    assert (f"{stock:.4g}", f"{fast:.4g}") == ("5.761e+11", "8.397e+10")
    for answer in [(5.761e11, 8.397e10), (tf.constant(stock, tf.int64), tf.constant(fast, tf.int64)),
                   (tf.constant(float(stock)), np.float32(fast)), (np.array(stock), np.array(fast)),
                   np.array([stock, fast]), tf.constant([float(stock), float(fast)], tf.float64)]:
        feedback = nb05.check_decoder_flops(answer)
        assert feedback.passed, (answer, str(feedback))


def test_decoder_flops_tolerance_keeps_diagnosed_mistakes_out():
    q = nb05.HEAD_QUESTION
    stock, fast = nb05.decoder_training_flops()
    per_row = 3 * 2 * q["hidden"] * q["vocab"]
    positions = q["batch_size"] * q["seq_len"]
    # Rounding to 4 significant digits moves a count by at most 0.05%; the tolerance is twice that ...
    assert nb05.FLOPS_TOLERANCE >= 2 * 5e-4
    # ... and every mistake the checker names, or a neighbouring count, lies further away.
    wrong_stock = [stock / 2, stock / 3, stock / 6, per_row * positions * 127 / 128]
    wrong_fast = [fast / 2, fast / 3, fast / 6, per_row * 0.15 * positions, per_row * (q["masked"] + 1),
                  per_row * (q["masked"] - 1)]
    for wrong, right in [(w, stock) for w in wrong_stock] + [(w, fast) for w in wrong_fast]:
        assert abs(wrong - right) / right > nb05.FLOPS_TOLERANCE, wrong
    assert not nb05.check_decoder_flops((stock, per_row * (q["masked"] + 1))).passed


def test_decoder_flops_exercise_states_the_checkers_tolerance():
    import nbformat

    from project_code import NOTEBOOKS

    notebook = nbformat.read(str(next(p for p in NOTEBOOKS if p.name.startswith("05_"))), as_version=4)
    exercise = next(c.source for c in notebook.cells if "**Exercise 1.**" in c.source)
    assert f"within {nb05.FLOPS_TOLERANCE:.1%} of them" in exercise  # what the checker accepts, said as it is
    stock, fast = nb05.decoder_training_flops()
    assert nb05.check_decoder_flops((stock * (1 + 0.99 * nb05.FLOPS_TOLERANCE), fast)).passed
    assert not nb05.check_decoder_flops((stock * (1 + 1.01 * nb05.FLOPS_TOLERANCE), fast)).passed


def test_decoder_flops_close_answers_are_told_they_are_close():
    stock, fast = nb05.decoder_training_flops()
    feedback = nb05.check_decoder_flops((5.8e11, 8.4e10))  # 2 significant digits: 0.7% off for stock
    assert_fails_with(feedback, "stock: close to the count (0.7% off)", "give the count itself")
    assert "every one of the" not in str(feedback)
    assert "fast: only the 597 masked positions" in str(feedback)  # 8.4e10 is within 0.1%
    assert_fails_with(nb05.check_decoder_flops((stock, fast * 1.01)), "fast: close to the count (1.0% off)")
    q = nb05.HEAD_QUESTION
    vocab_rounded = 3 * 2 * q["hidden"] * 30_000 * q["batch_size"] * q["seq_len"]
    assert_fails_with(nb05.check_decoder_flops((vocab_rounded, fast)), "stock: close", "HEAD_QUESTION's exact")


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
    assert_fails_with(nb05.check_decoder_flops((stock, fast * 1.5)), "masked positions only")


def test_decoder_flops_bad_shapes():
    assert_fails_with(nb05.check_decoder_flops(None), "still None")
    assert_fails_with(nb05.check_decoder_flops(5.0), "pair of numbers")
    assert_fails_with(nb05.check_decoder_flops((True, 1)), "pair of numbers")
    assert_fails_with(nb05.check_decoder_flops(("1", "2")), "pair of numbers", "a str")
    assert_fails_with(nb05.check_decoder_flops((1, 2, 3)), "pair of numbers", "of 3 values")
    assert_fails_with(nb05.check_decoder_flops((float("nan"), 1.0)), "finite numbers")
    assert_fails_with(nb05.check_decoder_flops((np.zeros(2), 1.0)), "an array of shape (2,)")


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
    assert_fails_with(nb05.check_sorted_padding(float("nan"), LENGTHS), "not a share")
    assert_fails_with(nb05.check_sorted_padding([truth], LENGTHS), "must be a number", "a list of shape (1,)")
    with pytest.raises(ValueError, match="text_lengths"):
        nb05.check_sorted_padding(0.1, [1.5, 2.5])


#: Lengths like the notebook's articles (520 of 223 to 367 tokens): the last of 17 batches holds only 8.
ARTICLES = np.random.default_rng(5).integers(223, 368, size=520)


def _without_special_tokens(lengths):
    """A by-hand share that forgets the 2 special tokens of every row (the lengths are all below 510)."""
    ordered = np.sort(lengths)
    batches = [ordered[i:i + 32] for i in range(0, len(ordered), 32)]
    return sum(int((b.max() - b).sum()) for b in batches) / sum(int(b.max()) * len(b) for b in batches)


def test_sorted_padding_accepts_tensors_and_3_significant_digits():
    import tensorflow as tf

    for lengths in (LENGTHS, ARTICLES):
        truth = nb05.sorted_padding_share(lengths)
        for answer in [tf.constant(truth), np.float32(truth), float(f"{truth:.4g}"), float(f"{truth:.3g}")]:
            feedback = nb05.check_sorted_padding(answer, lengths)
            assert feedback.passed, (answer, str(feedback))
    assert float(f"{nb05.sorted_padding_share(LENGTHS):.3g}") == 0.101  # 0.2% off the exact 0.1008


def test_sorted_padding_without_special_tokens():
    for lengths in (LENGTHS, ARTICLES):
        truth = nb05.sorted_padding_share(lengths)
        forgot = _without_special_tokens(lengths)
        # Far enough apart that a share rounded to 3 significant digits is never mistaken for the other.
        assert 2 * nb05.SHARE_TOLERANCE < (forgot - truth) / truth < 2 * nb05.SHARE_ROUNDED_TOLERANCE
        for answer in (forgot, float(f"{forgot:.4g}")):
            assert_fails_with(nb05.check_sorted_padding(answer, lengths), "classifier and separator tokens")
        # Rounded to 3 digits it is nearer the mistake than the share: not accepted; named as the mistake when
        # the rounding kept it within 0.1%, else the learner is asked for the unrounded value.
        feedback = nb05.check_sorted_padding(float(f"{forgot:.3g}"), lengths)
        assert not feedback.passed
        assert "classifier and separator" in str(feedback) or "give the unrounded value" in str(feedback)
    assert_fails_with(nb05.check_sorted_padding(0.102, LENGTHS), "give the unrounded value")  # 0.1017 rounded


def test_sorted_padding_round_to_3_decimals_is_too_coarse():
    truth = nb05.sorted_padding_share(ARTICLES)
    coarse = round(truth, 3)  # 3 decimals of a share near 0.015 are 2 significant digits
    assert abs(coarse - truth) / truth > nb05.SHARE_ROUNDED_TOLERANCE
    assert_fails_with(nb05.check_sorted_padding(coarse, ARTICLES), "close (", "round(x, 3) keeps 3 decimals")


def test_sorted_padding_longest_first():
    descending = layout_cost(np.sort(ARTICLES)[::-1], "pad_to_longest", 512, batch_size=32).padding_share
    assert_fails_with(nb05.check_sorted_padding(descending, ARTICLES), "sorts longest first", "holds only 8")


def test_sorted_padding_hint_does_not_hand_over_the_solution():
    for wrong in (0.3, 0.5, 0.0):
        feedback = nb05.check_sorted_padding(wrong, ARTICLES)
        assert_fails_with(feedback, "sort the lengths first", "its own longest row", "all the positions")
        for code in ("layout_cost", "padding_share", "pad_to_longest", "np.sort"):
            assert code not in str(feedback), (code, str(feedback))


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


def test_gather_masked_accepts_gather_nd():
    import tensorflow as tf

    feedback = nb05.check_gather_masked(lambda h, l: (tf.gather_nd(h, tf.where(l != -100)),
                                                      tf.gather_nd(l, tf.where(l != -100))))
    assert feedback.passed, str(feedback)


def test_gather_masked_zeroed_rows_get_a_hint_not_the_code():
    import tensorflow as tf

    zeroed = lambda h, l: (h * tf.cast(l != -100, tf.float32)[..., None], l)  # noqa: E731
    feedback = nb05.check_gather_masked(zeroed)
    assert_fails_with(feedback, "still has the shape of hidden", "selected, not zeroed", "one row per masked position")
    assert "boolean_mask" not in str(feedback) and "!= -100" not in str(feedback)


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
    assert_fails_with(nb05.check_gather_masked(lambda h, l: (None, None)), "float array or tensor", "got None")
    assert_fails_with(nb05.check_gather_masked(lambda h, l: ([[1.0], [1.0, 2.0]], l)), "converting them raised")
    assert_fails_with(nb05.check_gather_masked(lambda h, l: (solution(h, l)[0] * np.nan, solution(h, l)[1])),
                      "reading order")
    assert_fails_with(nb05.check_gather_masked(lambda h, l: (solution(h, l)[0], "x")), "targets should be")


def test_gather_masked_targets_need_a_dtype_that_holds_token_ids():
    import tensorflow as tf

    small = lambda h, l: (solution(h, l)[0], tf.cast(solution(h, l)[1], tf.int8))  # noqa: E731
    assert_fails_with(nb05.check_gather_masked(small), "targets should be", "30521")


def test_gather_masked_rows_must_be_the_hidden_states_exactly():
    shifted = lambda h, l: (solution(h, l)[0] + 0.01, solution(h, l)[1])  # noqa: E731
    assert_fails_with(nb05.check_gather_masked(shifted), "not the hidden states")


def test_gather_masked_a_fixed_number_per_row_fails_when_rows_differ():
    import tensorflow as tf

    def per_row(hidden, labels):  # the same count k from every row: right only when all rows have k masked
        masked = tf.cast(labels != -100, tf.int32)
        k = int(tf.reduce_sum(masked)) // int(labels.shape[0])
        order = tf.argsort(masked, axis=1, direction="DESCENDING", stable=True)[:, :k]
        rows = tf.reshape(tf.gather(hidden, order, batch_dims=1), [-1, hidden.shape[-1]])
        return rows, tf.reshape(tf.gather(labels, order, batch_dims=1), [-1])

    assert_fails_with(nb05.check_gather_masked(per_row), "for hidden (3, 2, 4)")


def test_gather_masked_ragged_results_are_explained():
    import tensorflow as tf

    def ragged(hidden, labels):
        where = labels != -100
        return tf.ragged.boolean_mask(hidden, where), tf.ragged.boolean_mask(labels, where)

    assert_fails_with(nb05.check_gather_masked(ragged), "ragged", "one flat list of masked positions")


# --------------------------------------------------------------------------- every checker, any answer


@pytest.mark.parametrize("check", [
    nb05.check_decoder_flops,
    lambda answer: nb05.check_sorted_padding(answer, LENGTHS),
    nb05.check_gather_masked,
])
@pytest.mark.parametrize("answer", ODD_ANSWERS)
def test_checkers_return_feedback_for_any_answer(check, answer):
    assert_fails_with(check(answer))
