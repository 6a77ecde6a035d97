"""The checkers of notebook 03's exercises accept the worked answers and explain typical mistakes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlm_tutorial.exercises import nb03
from exercise_asserts import assert_fails_with


# --------------------------------------------------------------------------- exercise 1


def labels_solution(input_ids, chosen):
    return np.where(chosen, input_ids, -100)


def test_make_labels_accepts_the_solution():
    feedback = nb03.check_make_labels(labels_solution)
    assert feedback.passed, str(feedback)
    assert "correct" in str(feedback)


def test_make_labels_accepts_a_tensorflow_answer():
    import tensorflow as tf

    feedback = nb03.check_make_labels(lambda ids, chosen: tf.where(chosen, ids, tf.constant(-100, tf.int64)))
    assert feedback.passed, str(feedback)


def test_make_labels_rejects_a_copy_of_every_id():
    assert_fails_with(nb03.check_make_labels(lambda ids, chosen: ids.copy()), "copy of every input id")


def test_make_labels_rejects_zero_for_unchosen_tokens():
    assert_fails_with(nb03.check_make_labels(lambda ids, chosen: np.where(chosen, ids, 0)), "-100", "get 0")


def test_make_labels_rejects_the_mask_id_as_label():
    assert_fails_with(nb03.check_make_labels(lambda ids, chosen: np.where(chosen, 103, -100)), "original id")


def test_make_labels_rejects_inverted_labels():
    feedback = nb03.check_make_labels(lambda ids, chosen: np.where(chosen, -100, ids))
    assert_fails_with(feedback)


def test_make_labels_reports_wrong_shape_and_errors():
    assert_fails_with(nb03.check_make_labels(lambda ids, chosen: ids.ravel()[:2]), "shape")
    assert_fails_with(nb03.check_make_labels(lambda ids, chosen: 1 / 0), "ZeroDivisionError")


def test_make_labels_rejects_none_and_non_functions():
    assert_fails_with(nb03.check_make_labels(None), "None")
    assert_fails_with(nb03.check_make_labels([1, 2]), "function")


# --------------------------------------------------------------------------- exercise 2


def counts_solution():
    eligible = nb03.COUNT_SEQUENCE_LENGTH - nb03.COUNT_SPECIAL_TOKENS
    chosen = eligible * nb03.COUNT_MLM_PROBABILITY
    return {"chosen": chosen, "mask": 0.8 * chosen, "random": 0.1 * chosen, "unchanged": 0.1 * chosen}


def test_expected_counts_accepts_the_solution():
    feedback = nb03.check_expected_counts(counts_solution())
    assert feedback.passed, str(feedback)
    assert counts_solution() == pytest.approx({"chosen": 18.9, "mask": 15.12, "random": 1.89, "unchanged": 1.89})


def test_expected_counts_spots_counting_the_special_tokens():
    chosen = 128 * 0.15
    answer = {"chosen": chosen, "mask": 0.8 * chosen, "random": 0.1 * chosen, "unchanged": 0.1 * chosen}
    assert_fails_with(nb03.check_expected_counts(answer), "special tokens")


def test_expected_counts_spots_every_chosen_token_becoming_mask():
    answer = dict(counts_solution(), mask=18.9, random=0.0, unchanged=0.0)
    assert_fails_with(nb03.check_expected_counts(answer), "only 80%")


def test_expected_counts_spots_shares_applied_to_the_whole_chunk():
    answer = dict(counts_solution(), mask=0.8 * 128, random=0.1 * 128, unchanged=0.1 * 128)
    assert_fails_with(nb03.check_expected_counts(answer), "applies to the chosen tokens")


def test_expected_counts_reports_parts_that_do_not_add_up():
    answer = dict(counts_solution(), unchanged=5.0)
    assert_fails_with(nb03.check_expected_counts(answer), "should equal chosen")


def test_expected_counts_rejects_bad_shapes_of_answer():
    assert_fails_with(nb03.check_expected_counts(None), "None")
    assert_fails_with(nb03.check_expected_counts([18.9]), "dict")
    assert_fails_with(nb03.check_expected_counts({"chosen": 18.9}), "lacks", "mask")
    assert_fails_with(nb03.check_expected_counts({k: "many" for k in nb03.COUNT_KEYS}), "number")


# --------------------------------------------------------------------------- exercise 3


def word_starts_solution(tokens, special_tokens):
    starts = []
    for i, token in enumerate(tokens):
        after_special = i == 0 or tokens[i - 1] in special_tokens
        starts.append(token in special_tokens or after_special or not token.startswith("##"))
    return starts


def test_word_starts_accepts_the_solution():
    feedback = nb03.check_word_starts(word_starts_solution)
    assert feedback.passed, str(feedback)


def test_word_starts_spots_forgetting_the_rule_after_special_tokens():
    def naive(tokens, special_tokens):
        return [t in special_tokens or not t.startswith("##") for t in tokens]

    assert_fails_with(nb03.check_word_starts(naive), "starts a word")


def test_word_starts_spots_an_inverted_answer():
    def inverted(tokens, special_tokens):
        return [not s for s in word_starts_solution(tokens, special_tokens)]

    assert_fails_with(nb03.check_word_starts(inverted), "inverted")


def test_word_starts_spots_special_tokens_not_counted_as_units():
    def no_specials(tokens, special_tokens):
        return [s and t not in special_tokens for t, s in zip(tokens, word_starts_solution(tokens, special_tokens))]

    assert_fails_with(nb03.check_word_starts(no_specials), "unit of its own")


def test_word_starts_reports_wrong_length_errors_and_none():
    assert_fails_with(nb03.check_word_starts(lambda tokens, special: [True]), "one bool per token")
    assert_fails_with(nb03.check_word_starts(lambda tokens, special: tokens.nope), "AttributeError")
    assert_fails_with(nb03.check_word_starts(None), "None")
    assert_fails_with(nb03.check_word_starts("##"), "function")


def test_word_starts_reference_matches_the_solution_on_the_cases():
    for tokens, special, want in nb03._WORD_CASES:
        assert nb03.reference_word_starts(tokens, special) == want
        assert word_starts_solution(tokens, special) == want


# --------------------------------------------------------------------------- exercise 4


def test_sample_size_accepts_the_solution_with_and_without_float_noise():
    p, se = nb03.SAMPLE_SHARE, nb03.SAMPLE_STANDARD_ERROR
    assert nb03.required_sample_size() == 6400
    assert nb03.check_sample_size(math.ceil(p * (1 - p) / se**2)).passed
    assert nb03.check_sample_size(6400).passed
    assert nb03.check_sample_size(np.int64(6400)).passed
    assert nb03.check_sample_size(6400.0).passed


def test_sample_size_spots_typical_mistakes():
    assert_fails_with(nb03.check_sample_size(5100), "mlm_probability")
    assert_fails_with(nb03.check_sample_size(32), "square")
    assert_fails_with(nb03.check_sample_size(42667), "ordinary tokens")
    assert_fails_with(nb03.check_sample_size(1000), "more than")
    assert_fails_with(nb03.check_sample_size(10000), "not the smallest")
    assert_fails_with(nb03.check_sample_size(6400.5), "round up")


def test_sample_size_rejects_none_and_non_numbers():
    assert_fails_with(nb03.check_sample_size(None), "None")
    assert_fails_with(nb03.check_sample_size("6400"), "int")
    assert_fails_with(nb03.check_sample_size(True), "int")
