"""The shared helpers of the exercise checkers read a learner's answer the same way in every notebook."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from mlm_tutorial.exercises import feedback as fb
from mlm_tutorial.exercises.feedback import (
    Feedback,
    as_array,
    as_number,
    describe,
    describe_non_number,
    missing_answer,
)


# --------------------------------------------------------------------------- as_number


@pytest.mark.parametrize("value, expected", [
    (3, 3),
    (-7, -7),
    (0.25, 0.25),
    (np.int64(500), 500),
    (np.int32(-2), -2),
    (np.uint8(255), 255),
    (np.float64(0.5), 0.5),
    (np.float16(0.5), 0.5),
    (np.array(12), 12),
    (np.array(0.75, dtype=np.float32), 0.75),
    (Fraction(1, 4), 0.25),
])
def test_as_number_reads_python_and_numpy_numbers(value, expected):
    number = as_number(value)
    assert number == expected
    assert type(number) is type(expected)  # plain Python numbers; integers stay ints


def test_as_number_reads_0d_tensors_and_keeps_their_integers_whole():
    import tensorflow as tf

    size = as_number(tf.size(tf.zeros((2, 3))))
    assert size == 6 and type(size) is int
    mean = as_number(tf.reduce_mean(tf.constant([1.0, 2.0])))
    assert mean == 1.5 and type(mean) is float
    assert as_number(tf.Variable(2.5)) == 2.5


def test_as_number_returns_nan_and_infinity_for_the_checker_to_judge():
    assert math.isnan(as_number(float("nan")))
    assert as_number(np.float32("inf")) == math.inf


@pytest.mark.parametrize("value", [
    None, True, False, np.bool_(True), np.array(True), "3", "0.5", b"3", np.str_("3"), 1j, np.complex128(1),
    Decimal("0.5"), object(), {"x": 1}, [], [3], (3,), [1, 2], np.array([3]), np.array([[0.5]]), np.zeros(2),
    np.array("3"), np.array([None]),
])
def test_as_number_rejects_bools_strings_none_and_non_scalars(value):
    assert as_number(value) is None


def test_as_number_rejects_tensors_that_are_not_one_number():
    import tensorflow as tf

    for value in (tf.constant([1.0]), tf.constant([[1, 2]]), tf.constant(True), tf.constant("3")):
        assert as_number(value) is None, value


# --------------------------------------------------------------------------- as_array


def test_as_array_reads_lists_arrays_and_tensors():
    import tensorflow as tf

    for value in ([[1, 2], [3, 4]], ((1, 2), (3, 4)), np.array([[1, 2], [3, 4]]), tf.constant([[1, 2], [3, 4]])):
        array = as_array(value)
        assert isinstance(array, np.ndarray), value
        np.testing.assert_array_equal(array, [[1, 2], [3, 4]])
    assert as_array([True, False]).dtype == bool
    assert as_array(5).shape == ()  # the checker judges the shape, not as_array


@pytest.mark.parametrize("value", [[[1], [1, 2]], [1, None], [None], {"a": 1}, object(), np.array([1, None])])
def test_as_array_gives_none_for_what_numpy_cannot_read_as_values(value):
    assert as_array(value) is None


# --------------------------------------------------------------------------- describe


@pytest.mark.parametrize("value, text", [
    (None, "None"),
    ("x", "a str"),
    (b"x", "a bytes"),
    (True, "a bool"),
    (3, "an int"),
    (0.5, "a float"),
    (np.float64(0.5), "a float64"),
    (np.int32(3), "an int32"),
    ([1, 2], "a list"),
    ((1,), "a tuple"),
    ({"a": 1}, "a dict"),
    (np.zeros((2, 3)), "an array of shape (2, 3)"),
    (np.array(4), "an array of shape ()"),
])
def test_describe_names_the_kind_and_the_shape_of_arrays(value, text):
    assert describe(value) == text


def test_describe_calls_a_tensor_a_tensor_with_its_shape():
    import tensorflow as tf

    assert describe(tf.zeros((48,))) == "a tensor of shape (48,)"
    assert describe(tf.constant(3)) == "a tensor of shape ()"


@pytest.mark.parametrize("value, text", [
    (None, "None"),
    ("0.5", "a str"),
    (True, "a bool"),
    (1j, "a complex"),
    ({"ppl": 10.6}, "a dict"),
    ([10.6], "a list of shape (1,)"),
    ((1, 2), "a tuple of shape (2,)"),
    (np.zeros(40), "an array of shape (40,)"),
    (np.array([True, False]), "an array of bool"),
    (["a", "bc"], "a list of <U2"),
    ([1, None], "a list"),
    (0.5, "a float"),  # a number is named as describe() names it
])
def test_describe_non_number_says_why_a_value_is_not_one_number(value, text):
    assert describe_non_number(value) == text


def test_describe_non_number_of_tensors():
    import tensorflow as tf

    assert describe_non_number(tf.zeros((48,))) == "a tensor of shape (48,)"
    assert describe_non_number(tf.constant([True])) == "a tensor of bool"


def test_the_checkers_share_these_helpers_instead_of_private_copies():
    from mlm_tutorial.exercises import nb00, nb02, nb03, nb04, nb05

    for module in (nb00, nb02, nb03, nb04, nb05):
        for private in ("_is_number", "_plain", "_number", "_scalar", "_array"):
            assert not hasattr(module, private), (module.__name__, private)
    for module in (nb03, nb04, nb05):
        assert module.describe is fb.describe and not hasattr(module, "_kind")


def test_missing_answer_says_where_the_answer_goes() -> None:
    feedback = Feedback("Exercise 9")
    assert missing_answer(feedback, None)
    assert not feedback.passed
    assert "set `answer` to your answer in this cell" in str(feedback)  # the answer cell runs the check itself
    given = Feedback("Exercise 9")
    assert not missing_answer(given, 0)  # 0 is an answer, not a missing one
    assert given.passed and str(given) == "Exercise 9: correct"


def test_as_pair_reads_a_two_value_array_or_tensor_as_a_tuple():
    import tensorflow as tf

    assert fb.as_pair(np.array([936, 94])) == (936, 94)
    assert fb.as_pair(tf.constant([1.5, 2.0])) == (1.5, 2.0)
    for unchanged in ([936, 94], (936, 94), np.array([1, 2, 3]), np.zeros((2, 2)), "ab", None, 7):
        assert fb.as_pair(unchanged) is unchanged


def test_feedback_marks_right_notes_with_a_tick_and_wrong_ones_with_a_cross():
    mixed = fb.Feedback("Exercise 1").good("shape is right").bad("dtype should be int32")
    assert str(mixed).splitlines() == ["Exercise 1: not yet", "  ✓ shape is right", "  ✗ dtype should be int32"]
    assert not mixed.passed and not bool(mixed)
    right = fb.Feedback("Exercise 2").good("all positions found")
    assert right.passed and bool(right) and str(right) == "Exercise 2: correct\n  ✓ all positions found"
    assert repr(right) == str(right)  # a cell that ends with the checker's call shows the same text
