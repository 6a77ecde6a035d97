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


def test_make_labels_with_none_for_unchosen_tokens_is_told_labels_are_numbers():
    feedback = nb03.check_make_labels(lambda ids, chosen: np.where(chosen, ids, None))
    assert_fails_with(feedback, "something other than numbers (None?)", "-100 elsewhere")
    assert "shaped like input_ids." not in str(feedback)  # the shape is right; the old message blamed it


def test_make_labels_rejects_none_and_non_functions():
    assert_fails_with(nb03.check_make_labels(None), "None")
    assert_fails_with(nb03.check_make_labels([1, 2]), "function")


def test_make_labels_accepts_lists_and_float_labels():
    assert nb03.check_make_labels(lambda ids, chosen: np.where(chosen, ids, -100).tolist()).passed
    assert nb03.check_make_labels(lambda ids, chosen: np.where(chosen, ids, -100.0)).passed


def test_make_labels_must_leave_the_input_ids_alone():
    def overwrites_its_input(input_ids, chosen):
        labels = input_ids  # a second name for the same array, not a copy
        labels[~chosen] = -100
        return labels

    assert_fails_with(nb03.check_make_labels(overwrites_its_input), "changed the input_ids", "new array")


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.float16])
def test_make_labels_in_a_dtype_too_small_for_token_ids_fail(dtype):
    feedback = nb03.check_make_labels(lambda ids, chosen: np.where(chosen, ids, -100).astype(dtype))
    assert_fails_with(feedback, f"dtype {np.dtype(dtype)} cannot hold token id 50264")


def test_make_labels_are_right_when_nothing_was_chosen():
    def skips_rows_without_choices(input_ids, chosen):
        if not np.any(chosen):
            return input_ids  # "nothing to mask", but then the loss scores every token
        return np.where(chosen, input_ids, -100)

    assert_fails_with(nb03.check_make_labels(skips_rows_without_choices), "copy of every input id")


def test_make_labels_names_a_missing_return_and_odd_results_without_blaming_the_function():
    def no_return(input_ids, chosen):
        np.where(chosen, input_ids, -100)

    assert_fails_with(nb03.check_make_labels(no_return), "returned None", "return statement")
    ragged = nb03.check_make_labels(lambda ids, chosen: [[1, 2], [3]])
    assert_fails_with(ragged, "returned a list", "shaped like input_ids")
    assert "raised" not in str(ragged)
    assert_fails_with(nb03.check_make_labels(lambda ids, chosen: "labels"), "returned a str")
    assert_fails_with(nb03.check_make_labels(lambda ids, chosen: chosen), "True/False")
    assert_fails_with(nb03.check_make_labels(lambda ids, chosen: np.where(chosen, ids, -100).astype(str)), "dtype")


# --------------------------------------------------------------------------- exercise 2


def counts_solution():
    eligible = nb03.COUNT_SEQUENCE_LENGTH - nb03.COUNT_SPECIAL_TOKENS
    chosen = eligible * nb03.COUNT_MLM_PROBABILITY
    return {"chosen": chosen, "mask": 0.8 * chosen, "random": 0.1 * chosen, "unchanged": 0.1 * chosen}


def test_expected_counts_accepts_the_solution():
    feedback = nb03.check_expected_counts(counts_solution())
    assert feedback.passed, str(feedback)
    assert counts_solution() == pytest.approx({"chosen": 18.9, "mask": 15.12, "random": 1.89, "unchanged": 1.89})


def counts_from(chosen, split=(0.8, 0.1, 0.1)):
    return {"chosen": chosen, **dict(zip(("mask", "random", "unchanged"), (share * chosen for share in split)))}


def expected_numbers_shown(feedback):
    """The exact counts of mask, random and unchanged wherever the feedback shows them for a wrong answer."""
    return [shown for shown in ("15.12", "1.89") if shown in "\n".join(feedback.wrong)]


def test_expected_counts_accepts_answers_rounded_to_one_decimal_and_other_number_types():
    import tensorflow as tf

    rounded = {"chosen": 18.9, "mask": 15.1, "random": 1.9, "unchanged": 1.9}
    assert nb03.check_expected_counts(rounded).passed, str(nb03.check_expected_counts(rounded))
    for convert in (np.float32, np.array, tf.constant):
        answer = {key: convert(value) for key, value in counts_solution().items()}
        assert nb03.check_expected_counts(answer).passed, str(nb03.check_expected_counts(answer))
    assert nb03.check_expected_counts({key: tf.constant(v) for key, v in rounded.items()}).passed


def test_expected_counts_band_keeps_plausible_mistakes_outside_for_chosen_and_mask():
    want = nb03.expected_counts()
    assert nb03.COUNT_TOLERANCE == 0.05
    mistakes = {
        "128 tokens": counts_from(128 * 0.15),
        "127 tokens": counts_from(127 * 0.15),
        "chosen rounded first": counts_from(19.0),
        "0.15 on the mask share": dict(counts_solution(), mask=0.15 * 0.8 * 128),
        "no 80/10/10 split": counts_from(126 * 0.15, (1.0, 0.0, 0.0)),
        "thirds": counts_from(126 * 0.15, (1 / 3, 1 / 3, 1 / 3)),
        "random of the rest": dict(counts_solution(), random=0.1 * 0.2 * 126 * 0.15),
    }
    for name, answer in mistakes.items():
        feedback = nb03.check_expected_counts(answer)
        assert not feedback.passed, name
        off = [key for key in ("chosen", "mask") if abs(answer[key] - want[key]) > nb03.COUNT_TOLERANCE]
        assert off or name == "random of the rest", name
    assert abs(counts_from(127 * 0.15)["mask"] - want["mask"]) > 2 * nb03.COUNT_TOLERANCE


def test_expected_counts_never_prints_the_expected_numbers_for_wrong_answers():
    wrong_answers = ({"chosen": 19, "mask": 15, "random": 2, "unchanged": 2}, counts_from(20.0),
                     counts_from(18.9, (0.7, 0.2, 0.1)), dict(counts_solution(), mask=16.0), counts_from(128 * 0.15))
    for answer in wrong_answers:
        feedback = nb03.check_expected_counts(answer)
        assert_fails_with(feedback)
        assert "expected 1" not in str(feedback), str(feedback)
        assert not expected_numbers_shown(feedback), str(feedback)
        if not feedback.right:
            assert "18.9" not in str(feedback), str(feedback)


def test_expected_counts_names_whole_number_rounding_without_the_answer():
    feedback = nb03.check_expected_counts({"chosen": 19, "mask": 15, "random": 2, "unchanged": 2})
    assert_fails_with(feedback, "chosen: 19 looks rounded", "mask: 15 looks rounded", "keep the decimals")
    assert len(feedback.wrong) == 4


def test_expected_counts_hints_how_to_compute_a_wrong_chosen_and_split():
    feedback = nb03.check_expected_counts(counts_from(20.0, (0.7, 0.2, 0.1)))
    assert_fails_with(feedback, "chosen: 20 is off", "Which tokens of the chunk can be chosen", "what probability",
                      "mask: 14 is off", "random: 4 is off", "80% of the chosen tokens into [MASK], 10% into a random",
                      "unchanged: 2 is 0.1 of your chosen count")
    feedback = nb03.check_expected_counts(dict(counts_solution(), mask=16.0))
    assert_fails_with(feedback, "mask: 16 is off", "80% of the chosen tokens into [MASK]", "multiply the chosen count")
    assert feedback.right and feedback.right[0].startswith("chosen: 18.9")


def test_expected_counts_says_a_split_follows_the_learners_own_chosen():
    feedback = nb03.check_expected_counts(counts_from(128 * 0.15))
    assert_fails_with(feedback, "special tokens", "random: 1.92 is 0.1 of your chosen count", "once chosen is fixed")
    assert not feedback.right  # 1.92 is within 0.05 of 1.89, but only by accident


def test_expected_counts_spots_probabilities_and_not_chosen_counts():
    assert_fails_with(nb03.check_expected_counts(counts_from(126.0)), "not every token is chosen")
    assert_fails_with(nb03.check_expected_counts(counts_from(126 * 0.85)), "NOT chosen")
    assert_fails_with(nb03.check_expected_counts(dict(counts_solution(), mask=0.8)), "mask: 0.8 is a probability")


def test_expected_counts_spots_counting_the_special_tokens():
    chosen = 128 * 0.15
    answer = {"chosen": chosen, "mask": 0.8 * chosen, "random": 0.1 * chosen, "unchanged": 0.1 * chosen}
    assert_fails_with(nb03.check_expected_counts(answer), "special tokens")
    assert_fails_with(nb03.check_expected_counts(counts_from(127 * 0.15)), "special tokens")


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
    assert_fails_with(nb03.check_expected_counts({k: "18.9" for k in nb03.COUNT_KEYS}), "'chosen' is a str")
    assert_fails_with(nb03.check_expected_counts(dict(counts_solution(), mask=[15.12])), "'mask' is a list")
    assert_fails_with(nb03.check_expected_counts(dict(counts_solution(), mask=np.array([15.12, 1.0]))),
                      "array of shape (2,)")
    assert_fails_with(nb03.check_expected_counts(dict(counts_solution(), random=None)), "'random' is None")
    assert_fails_with(nb03.check_expected_counts(dict(counts_solution(), random=float("nan"))), "nan")
    assert_fails_with(nb03.check_expected_counts(dict(counts_solution(), chosen=True)), "bool")
    assert_fails_with(nb03.check_expected_counts("18.9"), "dict", "a str")


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


def test_word_starts_only_two_hash_signs_continue_a_word():
    def one_hash(tokens, special_tokens):
        return [t in special_tokens or i == 0 or tokens[i - 1] in special_tokens or not t.startswith("#")
                for i, t in enumerate(tokens)]

    assert_fails_with(nb03.check_word_starts(one_hash), "'#' does not start with '##'")


def test_word_starts_takes_the_special_tokens_from_its_argument():
    bert_specials = {"[CLS]", "[SEP]", "[PAD]"}

    def hard_coded(tokens, special_tokens):  # ignores the special_tokens it is given
        return [t in bert_specials or i == 0 or tokens[i - 1] in bert_specials or not t.startswith("##")
                for i, t in enumerate(tokens)]

    assert_fails_with(nb03.check_word_starts(hard_coded), "right after the special token '<s>'")


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


def test_word_starts_says_the_function_returned_none_instead_of_blaming_it():
    def forgot_return(tokens, special_tokens):
        starts = []
        for flag in word_starts_solution(tokens, special_tokens):
            starts.append(flag)

    feedback = nb03.check_word_starts(forgot_return)
    assert_fails_with(feedback, "word_starts returned None", "return statement")
    assert "raised" not in str(feedback) and "TypeError" not in str(feedback)


def test_word_starts_describes_results_that_are_not_one_bool_per_token():
    cases = {
        "returned an int": lambda tokens, special: len(tokens),
        "returned a str": lambda tokens, special: "True",
        "returned a set": lambda tokens, special: set(word_starts_solution(tokens, special)),
        "shape (1, 10)": lambda tokens, special: np.array([word_starts_solution(tokens, special)]),
        "values such as 'True'": lambda tokens, special: [str(s) for s in word_starts_solution(tokens, special)],
        "values such as None": lambda tokens, special: [None] * len(tokens),
        "returned 1 value;": lambda tokens, special: [True],
    }
    for phrase, function in cases.items():
        feedback = nb03.check_word_starts(function)
        assert_fails_with(feedback, phrase, "one bool")
        assert "raised" not in str(feedback), phrase


def test_word_starts_still_reports_the_functions_own_errors():
    def fails_midway(tokens, special_tokens):
        yield True
        raise KeyError("oops")

    assert_fails_with(nb03.check_word_starts(fails_midway), "word_starts raised KeyError", "oops")
    assert_fails_with(nb03.check_word_starts(lambda tokens, special: 1 / 0), "raised ZeroDivisionError")


def test_word_starts_accepts_arrays_tensors_generators_and_zero_one_numbers():
    import tensorflow as tf

    def generator(tokens, special_tokens):
        yield from word_starts_solution(tokens, special_tokens)

    forms = [
        lambda tokens, special: np.array(word_starts_solution(tokens, special)),
        lambda tokens, special: tf.constant(word_starts_solution(tokens, special)),
        lambda tokens, special: tuple(word_starts_solution(tokens, special)),
        lambda tokens, special: [int(s) for s in word_starts_solution(tokens, special)],
        lambda tokens, special: [np.bool_(s) for s in word_starts_solution(tokens, special)],
        generator,
    ]
    for function in forms:
        feedback = nb03.check_word_starts(function)
        assert feedback.passed, str(feedback)


def test_word_starts_reference_matches_the_solution_on_the_cases():
    for tokens, special, want in nb03._WORD_CASES:
        assert nb03.reference_word_starts(tokens, special) == want
        assert word_starts_solution(tokens, special) == want


# --------------------------------------------------------------------------- exercise 4


def test_sample_size_accepts_6400_in_any_plain_number_form():
    import tensorflow as tf

    assert nb03.required_sample_size() == 6400
    assert nb03.check_sample_size(math.ceil(round(0.8 * 0.2 / 0.005**2, 6))).passed  # the notebook's solution
    for answer in (6400, np.int64(6400), np.int32(6400), 6400.0, np.float32(6400), np.array(6400),
                   tf.constant(6400), tf.constant(6400.0)):
        feedback = nb03.check_sample_size(answer)
        assert feedback.passed, f"{answer!r}: {feedback}"


def test_sample_size_formula_reproduces_the_float_noise_the_learner_meets():
    assert 0.8 * 0.2 / 0.005**2 == nb03.sample_size_formula() != 6400
    assert math.ceil(nb03.sample_size_formula()) == 6401


def test_sample_size_flags_one_token_too_many_from_float_rounding():
    feedback = nb03.check_sample_size(math.ceil(0.8 * 0.2 / 0.005**2))
    assert_fails_with(feedback, "one more than needed", "6400 up to float rounding", "6400.000000000001",
                      "math.ceil(round(x, 6))")
    assert feedback.right == ["n = p(1 - p) / se² with p = 0.8 is the right formula."]


def test_sample_size_explains_a_noisy_float_instead_of_asking_to_round_it_up():
    float32_value = np.float32(0.8) * np.float32(0.2) / np.float32(0.005) ** 2
    for noisy in (0.8 * 0.2 / 0.005**2, 0.8 * (1 - 0.8) / 0.005**2, float32_value):
        feedback = nb03.check_sample_size(noisy)
        assert_fails_with(feedback, "floating-point rounding", "an int", "round(x, 6)")
        assert "fraction of a token" not in str(feedback)


def test_sample_size_explains_one_token_too_few_from_truncation():
    assert_fails_with(nb03.check_sample_size(int(0.8 * (1 - 0.8) / 0.005**2)), "just above 0.005", "int()",
                      "round up")


def test_sample_size_spots_typical_mistakes():
    assert_fails_with(nb03.check_sample_size(5100), "mlm_probability")
    assert_fails_with(nb03.check_sample_size(32), "square")
    assert_fails_with(nb03.check_sample_size(80), "square")
    assert_fails_with(nb03.check_sample_size(8000), "p(1 - p)")
    assert_fails_with(nb03.check_sample_size(12800), "difference of two")
    assert_fails_with(nb03.check_sample_size(102400), "not 4 standard errors")
    assert_fails_with(nb03.check_sample_size(42667), "ordinary tokens")
    assert_fails_with(nb03.check_sample_size(1000), "more than")
    assert_fails_with(nb03.check_sample_size(10000), "not the smallest")
    assert_fails_with(nb03.check_sample_size(6400.5), "not a whole number", "an int", "round it up")
    assert_fails_with(nb03.check_sample_size(0), "at least 1")


def test_sample_size_rejects_none_and_non_numbers():
    import tensorflow as tf

    assert_fails_with(nb03.check_sample_size(None), "None")
    assert_fails_with(nb03.check_sample_size("6400"), "int", "a str")
    assert_fails_with(nb03.check_sample_size(True), "int", "a bool")
    assert_fails_with(nb03.check_sample_size([6400]), "single number", "a list")
    assert_fails_with(nb03.check_sample_size(np.array([6400, 1])), "array of shape (2,)")
    assert_fails_with(nb03.check_sample_size(tf.constant([6400])), "tensor of shape (1,)")
    assert_fails_with(nb03.check_sample_size(float("nan")), "whole number", "nan")
    assert_fails_with(nb03.check_sample_size(float("inf")), "whole number", "inf")


# --------------------------------------------------------------------------- every checker, odd answers

ODD_ANSWERS = [None, "answer", 3, 2.5, [1, 2], {"a": 1}, np.zeros((2, 3)), lambda *args: None,
               lambda *args: "x", lambda *args: [[1], [2, 3]], lambda *args: np.zeros((3, 3, 3))]


@pytest.mark.parametrize("check", [nb03.check_make_labels, nb03.check_expected_counts, nb03.check_word_starts,
                                   nb03.check_sample_size])
@pytest.mark.parametrize("answer", ODD_ANSWERS, ids=range(len(ODD_ANSWERS)))
def test_every_checker_answers_odd_input_with_feedback(check, answer):
    feedback = check(answer)
    assert_fails_with(feedback)
    assert feedback.wrong and all(note.strip() for note in feedback.wrong)
