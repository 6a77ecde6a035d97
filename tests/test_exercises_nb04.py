"""The notebook 04 checkers accept the worked solutions and explain typical mistakes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlm_tutorial.exercises import nb04
from exercise_asserts import ODD_ANSWERS, assert_fails_with


def test_training_steps_solution_passes():
    q = nb04.STEPS_QUESTION
    total = q["chunks"] // q["batch_size"] * q["epochs"]
    feedback = nb04.check_training_steps((total, round(0.1 * total)))
    assert feedback.passed, str(feedback)
    assert total == 936 and "936 steps" in str(feedback)
    assert nb04.check_training_steps((total, 93)).passed and nb04.check_training_steps((total, 95)).passed  # +-1


def test_training_steps_accepts_other_whole_number_forms():
    import tensorflow as tf

    # np.floor(10_000 / 32) * 3 and np.round(0.1 * 936) are floats, but whole: the count is right.
    for answer in [(936.0, 94), (np.float64(936.0), np.round(93.6)), [np.int64(936), np.int32(94)],
                   (tf.constant(936), tf.constant(94.0)), np.array([936, 94]), tf.constant([936, 94])]:
        feedback = nb04.check_training_steps(answer)
        assert feedback.passed, (answer, str(feedback))


@pytest.mark.parametrize("answer, phrase", [
    ((939, 94), "incomplete last batch"),
    ((312, 31), "one epoch"),
    ((936, 1000), "never ends"),
    ((936, 10), "about 10%"),
    ((936, 91), "about 10%"),  # two steps off the 93.6 that 10% gives
    ((936, 96), "about 10%"),
    ((936, 93.6), "got 93.6: counts are whole numbers"),
    ((936, 94, 1), "of 3 values"),
    ("936, 94", "pair of ints"),
    ((936, "94"), "got a str"),
    ((936, float("nan")), "got nan"),
    ((936, True), "got a bool"),
    (None, "still None"),
])
def test_training_steps_mistakes(answer, phrase):
    assert_fails_with(nb04.check_training_steps(answer), phrase)


def test_validation_perplexity_solution_and_mistakes():
    batches = nb04.example_batch_losses()
    assert [len(b) for b in batches] == [40, 8]
    right = math.exp(np.concatenate(batches).mean())
    assert nb04.check_validation_perplexity(right).passed
    assert "every masked token counts once" in str(nb04.check_validation_perplexity(right))
    wrong = {
        math.exp(np.mean([b.mean() for b in batches])): "small batch",
        float(np.mean([math.exp(b.mean()) for b in batches])): "per-batch perplexities",
        float(np.concatenate(batches).mean()): "its exponential",
        right * 1.1: "concatenate",
        "12": "must be a number",
    }
    for answer, phrase in wrong.items():
        feedback = nb04.check_validation_perplexity(answer)
        assert not feedback.passed and phrase in str(feedback), (answer, str(feedback))


def test_validation_perplexity_half_a_percent_off_fails_and_rounding_is_named():
    right = math.exp(np.concatenate(nb04.example_batch_losses()).mean())
    for answer in (right * 1.005, right / 1.005, round(right, 1)):
        assert_fails_with(nb04.check_validation_perplexity(answer), "close", "unrounded")
    assert "unrounded" not in str(nb04.check_validation_perplexity(right * 1.1))


def test_validation_perplexity_accepts_tensors_and_numpy_scalars():
    import tensorflow as tf

    batch_losses = nb04.example_batch_losses()
    right = float(np.exp(np.concatenate(batch_losses).mean()))
    answers = [
        tf.exp(tf.reduce_mean(tf.concat(batch_losses, 0))),  # a 0-d float64 EagerTensor
        tf.exp(tf.reduce_mean(tf.cast(tf.concat(batch_losses, 0), tf.float32))),  # float32 is precise enough
        np.exp(np.concatenate(batch_losses).mean()),  # np.float64
        np.float32(right),
        np.array(right),  # a 0-d array
        round(right, 2),  # rounded to 2 decimals: 4 significant digits
    ]
    for answer in answers:
        feedback = nb04.check_validation_perplexity(answer)
        assert feedback.passed, (answer, str(feedback))


def test_validation_perplexity_rejects_non_scalars_clearly():
    import tensorflow as tf

    batch_losses = nb04.example_batch_losses()
    per_token = tf.exp(tf.concat(batch_losses, 0))
    assert_fails_with(nb04.check_validation_perplexity(per_token), "a tensor of shape (48,)", "a single value")
    assert_fails_with(nb04.check_validation_perplexity(np.exp(batch_losses[0])), "an array of shape (40,)")
    assert_fails_with(nb04.check_validation_perplexity([10.6]), "a list of shape (1,)")
    assert_fails_with(nb04.check_validation_perplexity(tf.constant(True)), "must be a number")
    assert_fails_with(nb04.check_validation_perplexity(True), "must be a number")
    assert_fails_with(nb04.check_validation_perplexity({"ppl": 10.6}), "must be a number", "a dict")
    assert_fails_with(nb04.check_validation_perplexity(None), "still None")
    assert_fails_with(nb04.check_validation_perplexity(float("nan")), "not a finite number")
    assert_fails_with(nb04.check_validation_perplexity(np.float32("inf")), "not a finite number")


def _labels() -> np.ndarray:
    labels = np.full((2, 10), -100)
    labels[0, 3] = 7
    labels[1, [1, 5]] = 9
    return labels


def test_head_rows():
    labels = _labels()
    assert nb04.check_head_rows((20, 3), labels).passed
    assert "NOT predicted" in str(nb04.check_head_rows((20, 17), labels))
    assert not nb04.check_head_rows((10, 3), labels).passed
    assert not nb04.check_head_rows((20, 20), labels).passed
    assert "pair of ints" in str(nb04.check_head_rows(23, labels))
    with pytest.raises(ValueError, match="2-D"):
        nb04.check_head_rows((1, 1), labels[0])


def test_head_rows_counts_a_label_of_zero_as_predicted():
    labels = np.full((2, 4), -100)
    labels[0, 1] = 0  # 0 is a token id like any other ([PAD] in BERT's vocabulary, but still a target here)
    labels[1, 2] = 5
    assert nb04.check_head_rows((8, 2), labels).passed
    assert not nb04.check_head_rows((8, 1), labels).passed


def test_head_rows_accepts_tensor_and_numpy_counts():
    import tensorflow as tf

    labels = tf.constant(_labels())
    answers = [
        (tf.size(labels), tf.reduce_sum(tf.cast(labels != -100, tf.int32))),  # 0-d int32 tensors
        (np.int64(20), np.sum(_labels() != -100)),  # NumPy integers
        # A float mask summed gives 3.0: a whole number, so the count is right; accepted.
        (tf.cast(tf.size(labels), tf.float32), tf.reduce_sum(tf.cast(labels != -100, tf.float32))),
        [20.0, np.float64(3.0)],
    ]
    for answer in answers:
        feedback = nb04.check_head_rows(answer, labels)
        assert feedback.passed, (answer, str(feedback))
        assert "3 masked positions" in str(feedback)


@pytest.mark.parametrize("answer, phrase", [
    (None, "still None"),
    ("20, 3", "got a str"),
    ((20,), "got a tuple of 1 value."),
    ((20, 3.5), "got 3.5: counts are whole numbers"),
    ((20, float("nan")), "got nan"),
    ((True, 3), "got a bool"),
    ((np.array([2, 10]), 3), "an array of shape (2,)"),
    ((20, "3"), "got a str"),
])
def test_head_rows_bad_forms(answer, phrase):
    feedback = nb04.check_head_rows(answer, _labels())
    assert_fails_with(feedback, phrase)
    assert "pair of ints" in str(feedback) or phrase == "still None"


def test_head_rows_rejects_a_shape_tensor():
    import tensorflow as tf

    # tf.shape(labels) is the (batch, length) pair, not the number of positions.
    assert_fails_with(nb04.check_head_rows((tf.shape(tf.constant(_labels())), 3), _labels()),
                      "a tensor of shape (2,)")


@pytest.mark.parametrize("check", [
    nb04.check_training_steps,
    nb04.check_validation_perplexity,
    lambda answer: nb04.check_head_rows(answer, _labels()),
])
@pytest.mark.parametrize("answer", ODD_ANSWERS)
def test_checkers_return_feedback_for_any_answer(check, answer):
    assert_fails_with(check(answer))
