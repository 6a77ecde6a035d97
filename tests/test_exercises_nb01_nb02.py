"""The checkers of notebooks 01 and 02: they pass the solutions and explain typical wrong answers."""

from __future__ import annotations

import numpy as np
import pytest

from mlm_tutorial.exercises.feedback import Feedback
from mlm_tutorial.exercises.nb01 import check_max_length_choice, check_padding_share, check_tokenized_batch
from mlm_tutorial.exercises.nb02 import check_attention_mask, check_sep_positions, check_special_finder
from mlm_tutorial.tokenizing import length_tradeoff, tokenize_to_tf

ARTICLES = [
    "shares in the bank rose after its profits beat forecasts for the third quarter in a row.",
    "the central bank kept interest rates on hold, citing weak demand and falling prices.",
    "oil prices fell.",
    "the airline said passenger numbers were up by a fifth on last year.",
]


def _notes(feedback: Feedback) -> str:
    return " ".join(feedback.right + feedback.wrong)


# --------------------------------------------------------------------------- notebook 01, exercise 1


def test_nb01_ex1_solution_passes(tokenizer):
    answer = tokenize_to_tf(ARTICLES, tokenizer, max_length=16)
    feedback = check_tokenized_batch(answer, ARTICLES, tokenizer, max_length=16)
    assert isinstance(feedback, Feedback) and feedback.passed, str(feedback)
    answer = tokenizer(ARTICLES, max_length=16, truncation=True, padding="max_length", return_tensors="tf")
    assert check_tokenized_batch(answer, ARTICLES, tokenizer, max_length=16).passed
    assert "correct" in str(feedback)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda t: None, "None"),
        (lambda t: "text", "BatchEncoding"),
        (lambda t: t(ARTICLES, max_length=16, truncation=True, padding="max_length"), "return_tensors='tf'"),
        (lambda t: t(ARTICLES, max_length=16, truncation=True, padding="max_length", return_tensors="np"), "tf.Tensor"),
        (lambda t: t(ARTICLES, padding=True, return_tensors="tf"), "padding='max_length'"),
        (lambda t: tokenize_to_tf(ARTICLES, t, max_length=32), "max_length=16"),
        (lambda t: t(ARTICLES[:2], max_length=16, truncation=True, padding="max_length", return_tensors="tf"), "rows"),
        (lambda t: tokenize_to_tf(ARTICLES[::-1], t, max_length=16), "differ"),
    ],
)
def test_nb01_ex1_wrong_answers_are_explained(tokenizer, make, words):
    feedback = check_tokenized_batch(make(tokenizer), ARTICLES, tokenizer, max_length=16)
    assert not feedback.passed
    assert words in _notes(feedback), str(feedback)


def test_nb01_ex1_wrong_dtype_is_explained(tokenizer):
    import tensorflow as tf

    answer = dict(tokenize_to_tf(ARTICLES, tokenizer, max_length=16))
    answer["input_ids"] = tf.cast(answer["input_ids"], tf.int64)
    feedback = check_tokenized_batch(answer, ARTICLES, tokenizer, max_length=16)
    assert not feedback.passed and "dtype int64" in _notes(feedback)


# --------------------------------------------------------------------------- notebook 01, exercise 2

COUNTS = [100, 120, 150, 200, 210]
CANDIDATES = [64, 128, 192, 256]


def test_nb01_ex2_solution_passes():
    table = length_tradeoff(COUNTS, CANDIDATES)
    solution = int(table.loc[table["lost_share"] <= 0.05, "max_length"].min())
    assert solution == 192
    feedback = check_max_length_choice(solution, COUNTS, CANDIDATES)
    assert feedback.passed, str(feedback)
    assert check_max_length_choice(np.int64(solution), COUNTS, CANDIDATES).passed
    assert "padding" in _notes(feedback)


@pytest.mark.parametrize(
    "answer, words",
    [
        (128, "more than 5%"),
        (256, "shorter candidate"),
        (100, "not one of the candidates"),
        ("192", "one int"),
        (192.0, "one int"),
        (None, "one int"),
    ],
)
def test_nb01_ex2_wrong_answers_are_explained(answer, words):
    feedback = check_max_length_choice(answer, COUNTS, CANDIDATES)
    assert not feedback.passed
    assert words in _notes(feedback), str(feedback)


def test_nb01_ex2_threshold_is_a_parameter():
    assert check_max_length_choice(128, COUNTS, CANDIDATES, max_lost_share=0.5).passed


def test_nb01_ex2_when_no_candidate_is_good_enough_the_longest_wins():
    assert check_max_length_choice(32, COUNTS, [16, 32], max_lost_share=0.01).passed
    feedback = check_max_length_choice(16, COUNTS, [16, 32], max_lost_share=0.01)
    assert not feedback.passed and "longest" in _notes(feedback)


# --------------------------------------------------------------------------- notebook 01, exercise 3


def test_nb01_ex3_solution_passes(tokenizer):
    import tensorflow as tf

    batch = tokenize_to_tf(ARTICLES, tokenizer, max_length=24)
    mask = batch["attention_mask"]
    solution = float(tf.reduce_mean(tf.cast(mask == 0, tf.float32)))
    assert 0 < solution < 1
    assert check_padding_share(solution, batch).passed
    assert check_padding_share(1 - float(np.mean(mask.numpy())), batch).passed
    assert check_padding_share(tf.reduce_mean(tf.cast(mask == 0, tf.float64)), batch).passed


def test_nb01_ex3_wrong_answers_are_explained(tokenizer):
    batch = tokenize_to_tf(ARTICLES, tokenizer, max_length=24)
    mask = batch["attention_mask"].numpy()
    share = float((mask == 0).mean())
    cases = [
        (1 - share, "real tokens"),
        (100 * share, "percentage"),
        (int((mask == 0).sum()), "number of padding positions"),
        (share + 0.1, "attention_mask is 0"),
        ("0.3", "one number"),
        ((mask == 0).mean(axis=1), "one number"),
    ]
    for answer, words in cases:
        feedback = check_padding_share(answer, batch)
        assert not feedback.passed, answer
        assert words in _notes(feedback), str(feedback)


# --------------------------------------------------------------------------- notebook 02, exercise 1


@pytest.fixture()
def padded(tokenizer):
    return tokenize_to_tf(ARTICLES, tokenizer, max_length=24)


def test_nb02_ex1_solution_passes(tokenizer, padded):
    import tensorflow as tf

    solution = tf.reduce_sum(padded["attention_mask"], axis=1) - 1
    assert check_sep_positions(solution, padded, tokenizer).passed
    ids = padded["input_ids"].numpy()
    by_search = [int(np.flatnonzero(row == tokenizer.sep_token_id)[-1]) for row in ids]
    feedback = check_sep_positions(by_search, padded, tokenizer)
    assert feedback.passed and tokenizer.sep_token in _notes(feedback)


def test_nb02_ex1_wrong_answers_are_explained(tokenizer, padded):
    mask = padded["attention_mask"].numpy()
    lengths = mask.sum(axis=1)
    cases = [
        (lengths, "positions count from 0"),
        (np.zeros(len(ARTICLES), dtype=int), "classifier"),
        (lengths - 2, "do not hold the separator"),
        ((lengths - 1)[:2], "one position per row"),
        (None, "None"),
        ((lengths - 1).astype(float), "integer positions"),
    ]
    for answer, words in cases:
        feedback = check_sep_positions(answer, padded, tokenizer)
        assert not feedback.passed
        assert words in _notes(feedback), str(feedback)


# --------------------------------------------------------------------------- notebook 02, exercise 2


def test_nb02_ex2_solution_passes(tokenizer, padded):
    import tensorflow as tf

    solution = tf.cast(padded["input_ids"] != tokenizer.pad_token_id, tf.int32)
    assert check_attention_mask(solution, padded, tokenizer).passed
    assert check_attention_mask(padded["input_ids"].numpy() != tokenizer.pad_token_id, padded, tokenizer).passed


def test_nb02_ex2_wrong_answers_are_explained(tokenizer, padded):
    ids = padded["input_ids"].numpy()
    special = np.isin(ids, tokenizer.all_special_ids)
    cases = [
        ((ids == tokenizer.pad_token_id).astype(int), "inverted"),
        ((~special).astype(int), "attended"),
        (np.ones((2, 2), dtype=int), "shape"),
        (np.ones_like(ids), "differ"),
        ("mask", "0/1"),
        (None, "None"),
    ]
    for answer, words in cases:
        feedback = check_attention_mask(answer, padded, tokenizer)
        assert not feedback.passed
        assert words in _notes(feedback), str(feedback)


# --------------------------------------------------------------------------- notebook 02, exercise 3


def test_nb02_ex3_solution_passes(both_tokenizers):
    def solution(input_ids, tokenizer):
        return np.isin(np.asarray(input_ids), tokenizer.all_special_ids)

    feedback = check_special_finder(solution, both_tokenizers, ARTICLES)
    assert feedback.passed, str(feedback)
    assert "BERT" in _notes(feedback) and "RoBERTa" in _notes(feedback)


def test_nb02_ex3_hard_coded_bert_ids_fail_for_roberta(both_tokenizers):
    bert = both_tokenizers["BERT"]
    fixed = [bert.cls_token_id, bert.sep_token_id, bert.pad_token_id]  # what hard-coding would write down

    def hard_coded(input_ids, tokenizer):
        return np.isin(np.asarray(input_ids), fixed)

    feedback = check_special_finder(hard_coded, both_tokenizers, ARTICLES)
    assert not feedback.passed
    assert any(note.startswith("BERT:") for note in feedback.right)
    assert any(note.startswith("RoBERTa:") and "all_special_ids" in note for note in feedback.wrong)


def test_nb02_ex3_other_wrong_answers(both_tokenizers):
    def no_padding(input_ids, tokenizer):
        ids = np.asarray(input_ids)
        return (ids == tokenizer.cls_token_id) | (ids == tokenizer.sep_token_id)

    feedback = check_special_finder(no_padding, both_tokenizers, ARTICLES)
    assert not feedback.passed and "misses ids" in _notes(feedback)

    def crashes(input_ids, tokenizer):
        raise KeyError("oops")

    assert "raised KeyError" in _notes(check_special_finder(crashes, both_tokenizers, ARTICLES))

    def wrong_shape(input_ids, tokenizer):
        return np.zeros(3, dtype=bool)

    assert "shape" in _notes(check_special_finder(wrong_shape, both_tokenizers, ARTICLES))
    assert "function" in _notes(check_special_finder(None, both_tokenizers, ARTICLES))
