"""The checkers of notebooks 01 and 02: they pass the solutions and explain typical wrong answers."""

from __future__ import annotations

from types import SimpleNamespace

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


@pytest.mark.parametrize("dtype", ["int64", "int16", "uint16"])
def test_nb01_ex1_any_integer_dtype_passes(tokenizer, dtype):
    import tensorflow as tf

    batch = tokenize_to_tf(ARTICLES, tokenizer, max_length=16)
    answer = {k: tf.cast(v, getattr(tf, dtype)) for k, v in batch.items()}
    feedback = check_tokenized_batch(answer, ARTICLES, tokenizer, max_length=16)
    assert feedback.passed, str(feedback)
    assert f"dtype {dtype}, an integer type" in _notes(feedback)


def test_nb01_ex1_a_non_integer_dtype_is_explained(tokenizer):
    import tensorflow as tf

    answer = dict(tokenize_to_tf(ARTICLES, tokenizer, max_length=16))
    answer["input_ids"] = tf.cast(answer["input_ids"], tf.float32)
    feedback = check_tokenized_batch(answer, ARTICLES, tokenizer, max_length=16)
    assert not feedback.passed and "dtype float32" in _notes(feedback) and "integers" in _notes(feedback)


@pytest.mark.parametrize("make_ids", [lambda ids: ids[0, 0], lambda ids: ids[0], lambda ids: ids[None]])
def test_nb01_ex1_wrong_rank_is_explained_not_raised(tokenizer, make_ids):
    answer = dict(tokenize_to_tf(ARTICLES, tokenizer, max_length=16))
    answer["input_ids"] = make_ids(answer["input_ids"])
    feedback = check_tokenized_batch(answer, ARTICLES, tokenizer, max_length=16)
    assert not feedback.passed
    assert "it needs 2: one row per text" in _notes(feedback), str(feedback)


def test_nb01_ex1_a_scalar_alone_is_explained_not_raised(tokenizer):
    import tensorflow as tf

    feedback = check_tokenized_batch({"input_ids": tf.constant(3)}, ARTICLES, tokenizer, max_length=16)
    assert not feedback.passed
    assert "shape () (0 dimensions)" in _notes(feedback) and "missing" in _notes(feedback), str(feedback)


def test_nb01_ex1_other_fields_must_be_tensors_too(tokenizer):
    answer = dict(tokenize_to_tf(ARTICLES, tokenizer, max_length=16))
    answer["attention_mask"] = answer["attention_mask"].numpy().tolist()
    feedback = check_tokenized_batch(answer, ARTICLES, tokenizer, max_length=16)
    assert not feedback.passed and "['attention_mask'] are not tf.Tensors" in _notes(feedback)


def test_nb01_ex1_every_field_must_match_not_only_the_ids(tokenizer):
    import tensorflow as tf

    batch = tokenize_to_tf(ARTICLES, tokenizer, max_length=24)
    arrays = {key: value.numpy() for key, value in batch.items()}
    wrong_fields = [
        ("attention_mask", np.ones_like(arrays["input_ids"])),  # padding attended to
        ("attention_mask", 1 - arrays["attention_mask"]),  # inverted
        ("token_type_ids", np.ones_like(arrays["input_ids"])),  # one text read as a pair's second part
    ]
    tried = 0
    for field, values in wrong_fields:
        if field not in batch:  # RoBERTa's tokenizer gives no token_type_ids
            continue
        feedback = check_tokenized_batch({**batch, field: tf.constant(values)}, ARTICLES, tokenizer, max_length=24)
        assert not feedback.passed
        assert field in " ".join(feedback.wrong) and "the ids match" in _notes(feedback), str(feedback)
        tried += 1
    assert tried >= 2


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
    assert check_max_length_choice(np.array(solution), COUNTS, CANDIDATES).passed  # a 0-d array

    import tensorflow as tf

    assert check_max_length_choice(tf.constant(solution), COUNTS, CANDIDATES).passed
    assert check_max_length_choice(float(solution), COUNTS, CANDIDATES).passed  # 192.0 names the same candidate
    assert "padding" in _notes(feedback)


@pytest.mark.parametrize(
    "answer, words",
    [
        (128, "more than 5%"),
        (256, "shorter candidate"),
        (100, "not one of the candidates"),
        ("192", "one int"),
        (192.5, "one int"),
        (None, "one int"),
    ],
)
def test_nb01_ex2_wrong_answers_are_explained(answer, words):
    feedback = check_max_length_choice(answer, COUNTS, CANDIDATES)
    assert not feedback.passed
    assert words in _notes(feedback), str(feedback)


def test_nb01_ex2_threshold_is_a_parameter():
    assert check_max_length_choice(128, COUNTS, CANDIDATES, max_lost_share=0.5).passed


def test_nb01_ex2_a_length_losing_exactly_the_threshold_is_good_enough():
    # 95 keeps 190 of 200 tokens: it loses exactly 5%, which "at most 5%" allows, so 95 is the answer, not 100
    assert check_max_length_choice(95, [100, 100], [90, 95, 100], max_lost_share=0.05).passed
    feedback = check_max_length_choice(100, [100, 100], [90, 95, 100], max_lost_share=0.05)
    assert not feedback.passed and "shorter candidate" in _notes(feedback), str(feedback)


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


@pytest.fixture(scope="module")
def long_batches(news_corpus, bert_tokenizer, roberta_tokenizer):
    """The notebook's exercise-3 batch for every category and both bundled tokenizers (512 positions)."""
    train = news_corpus["train"].to_pandas()
    return {
        (family, category): tokenize_to_tf(group["text"].tolist(), tok, max_length=tok.model_max_length)
        for family, tok in (("bert", bert_tokenizer), ("roberta", roberta_tokenizer))
        for category, group in train.groupby("label_text")
    }


def test_nb01_ex3_rounded_answers_pass_on_the_notebooks_data(long_batches):
    import tensorflow as tf

    for key, batch in long_batches.items():
        share = float(tf.reduce_mean(tf.cast(batch["attention_mask"] == 0, tf.float32)))
        for answer in (round(share, 4), round(share, 3), float(f"{share:.4f}"), np.float16(share),
                       tf.reduce_mean(tf.cast(batch["attention_mask"] == 0, tf.float16))):
            feedback = check_padding_share(answer, batch)
            assert feedback.passed, (key, answer, str(feedback))


def test_nb01_ex3_no_plausible_wrong_answer_is_within_the_tolerance(long_batches):
    from mlm_tutorial.exercises.nb01 import SHARE_TOLERANCE

    assert SHARE_TOLERANCE == 5e-4
    for key, batch in long_batches.items():
        mask = batch["attention_mask"].numpy()
        padding = mask == 0
        share = float(padding.mean())
        rows, width = mask.shape
        wrong = {
            "real tokens": 1 - share,
            "rows with padding": float(padding.any(axis=1).mean()),
            "padding and special tokens": share + 2 / width,
            "over the text positions only": float(padding.sum() / (rows * (width - 2))),
        }
        for name, value in wrong.items():
            assert abs(value - share) > 2 * SHARE_TOLERANCE, (key, name, value, share)
            assert not check_padding_share(value, batch).passed, (key, name)


def test_nb01_ex3_the_share_of_real_tokens_fails_even_when_it_is_close_to_the_answer():
    mask = np.ones((10, 1000), dtype=np.int64)
    mask.reshape(-1)[:5002] = 0  # 50.02% padding, so the share of real tokens, 49.98%, is only 0.0004 away
    encoding = {"attention_mask": mask}
    assert check_padding_share(0.5002, encoding).passed
    feedback = check_padding_share(0.4998, encoding)
    assert not feedback.passed and "share of real tokens" in _notes(feedback), str(feedback)


def test_nb01_ex3_one_element_arrays_and_tensors_pass():
    import tensorflow as tf

    encoding = {"attention_mask": np.array([[1, 1, 1, 0], [1, 1, 0, 0]])}  # 3 of 8 positions are padding
    for answer in (np.array([0.375]), tf.constant([0.375]), tf.constant([[0.375]])):
        feedback = check_padding_share(answer, encoding)
        assert feedback.passed, (answer, str(feedback))


def test_nb01_ex3_too_coarse_rounding_and_integer_means_are_explained(tokenizer):
    import tensorflow as tf

    batch = tokenize_to_tf(ARTICLES, tokenizer, max_length=24)
    mask = batch["attention_mask"]
    share = float(tf.reduce_mean(tf.cast(mask == 0, tf.float32)))
    if abs(round(share, 2) - share) > 5e-4:
        assert "keep at least 3 decimals" in _notes(check_padding_share(round(share, 2), batch))
    assert "keep at least 3 decimals" in _notes(check_padding_share(round(share, 1), batch))
    integer_mean = tf.reduce_mean(tf.cast(mask == 0, tf.int32))
    feedback = check_padding_share(integer_mean, batch)
    assert not feedback.passed and "integer tensor" in _notes(feedback)


def test_nb01_ex3_wrong_answers_are_explained(tokenizer):
    batch = tokenize_to_tf(ARTICLES, tokenizer, max_length=24)
    mask = batch["attention_mask"].numpy()
    share = float((mask == 0).mean())
    cases = [
        (1 - share, "real tokens"),
        (100 * share, "percentage"),
        (round(100 * share, 1), "percentage"),
        (round(100 * share), "percentage"),
        (int((mask == 0).sum()), "number of padding positions"),
        (share + 2 / mask.shape[1], "classifier and separator tokens are real tokens"),
        (share + 0.1, "attention_mask is 0"),
        ("0.3", "one number"),
        ((mask == 0).mean(axis=1), "one number"),
        (None, "None"),
        (float("nan"), "nan"),
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


def test_nb02_ex1_whole_floats_pass_and_row_position_pairs_are_explained(tokenizer, padded):
    import tensorflow as tf

    as_floats = tf.reduce_sum(tf.cast(padded["attention_mask"], tf.float32), axis=1) - 1
    assert check_sep_positions(as_floats, padded, tokenizer).passed
    assert not check_sep_positions(as_floats + 0.5, padded, tokenizer).passed
    pairs = tf.where(padded["input_ids"] == tokenizer.sep_token_id)  # (row, position) for every separator
    feedback = check_sep_positions(pairs, padded, tokenizer)
    assert not feedback.passed and "(row, position) pairs" in _notes(feedback), str(feedback)


def test_nb02_ex1_a_column_of_positions_passes(tokenizer, padded):
    import tensorflow as tf

    positions = tf.where(padded["input_ids"] == tokenizer.sep_token_id)[:, 1:]  # keeps a column axis: (rows, 1)
    assert positions.shape == (len(ARTICLES), 1)
    feedback = check_sep_positions(positions, padded, tokenizer)
    assert feedback.passed, str(feedback)


def test_nb02_ex1_with_left_padding_every_separator_is_in_the_last_column():
    tokenizer = SimpleNamespace(pad_token_id=0, sep_token_id=102, cls_token="[CLS]", sep_token="[SEP]",
                                padding_side="left")
    ids = np.array([[0, 0, 101, 7, 102], [101, 8, 9, 10, 102]])
    encoding = {"input_ids": ids, "attention_mask": (ids != 0).astype(int)}
    feedback = check_sep_positions([4, 4], encoding, tokenizer)
    assert feedback.passed, str(feedback)
    assert not check_sep_positions([2, 4], encoding, tokenizer).passed  # length - 1 holds only for right padding


def test_nb02_ex1_wrong_answers_are_explained(tokenizer, padded):
    mask = padded["attention_mask"].numpy()
    lengths = mask.sum(axis=1)
    cases = [
        (lengths, "positions count from 0"),
        (np.zeros(len(ARTICLES), dtype=int), "classifier"),
        (lengths - 2, "do not hold the separator"),
        ((lengths - 1)[:2], "one position per row"),
        (None, "None"),
        ((lengths - 1) + 0.5, "integer positions"),
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


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64", "uint8", "int64"])
def test_nb02_ex2_numeric_zeros_and_ones_of_any_dtype_pass(tokenizer, padded, dtype):
    import tensorflow as tf

    answer = tf.cast(padded["input_ids"] != tokenizer.pad_token_id, getattr(tf, dtype))
    feedback = check_attention_mask(answer, padded, tokenizer)
    assert feedback.passed, str(feedback)
    as_list = (padded["input_ids"].numpy() != tokenizer.pad_token_id).astype(dtype).tolist()
    assert check_attention_mask(as_list, padded, tokenizer).passed


def test_nb02_ex2_wrong_answers_are_explained(tokenizer, padded):
    ids = padded["input_ids"].numpy()
    special = np.isin(ids, tokenizer.all_special_ids)
    cases = [
        ((ids == tokenizer.pad_token_id).astype(int), "inverted"),
        ((ids == tokenizer.pad_token_id).astype(np.float32), "inverted"),
        ((~special).astype(int), "attended"),
        (np.ones((2, 2), dtype=int), "shape"),
        (np.ones_like(ids), "differ"),
        (ids, "values other than 0 and 1"),
        ((ids != tokenizer.pad_token_id) * 0.5, "values other than 0 and 1"),
        (np.full(ids.shape, np.nan), "values other than 0 and 1"),
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


def test_nb02_ex3_other_correct_forms_pass(both_tokenizers):
    import tensorflow as tf

    def with_tf(input_ids, tokenizer):
        ids = tf.constant(input_ids)
        special = tf.constant(tokenizer.all_special_ids, dtype=ids.dtype)
        return tf.reduce_any(ids[..., None] == special, axis=-1)

    def as_lists_of_ints(input_ids, tokenizer):
        return [[int(i in tokenizer.all_special_ids) for i in row] for row in np.asarray(input_ids).tolist()]

    for finder in (with_tf, as_lists_of_ints):
        feedback = check_special_finder(finder, both_tokenizers, ARTICLES)
        assert feedback.passed, str(feedback)


def test_nb02_ex3_probe_texts_hold_the_mask_and_unknown_tokens(both_tokenizers):
    from mlm_tutorial.exercises.nb02 import _probe_batch, probe_text

    bert, roberta = both_tokenizers["BERT"], both_tokenizers["RoBERTa"]
    bert_ids = _probe_batch(bert)["input_ids"]
    assert bert.mask_token in probe_text(bert)
    for token_id in (bert.mask_token_id, bert.unk_token_id, bert.pad_token_id, bert.cls_token_id, bert.sep_token_id):
        assert token_id in bert_ids, bert.convert_ids_to_tokens(int(token_id))
    roberta_ids = _probe_batch(roberta)["input_ids"]
    assert roberta.mask_token in probe_text(roberta)
    for token_id in (roberta.mask_token_id, roberta.pad_token_id, roberta.cls_token_id, roberta.sep_token_id):
        assert token_id in roberta_ids, roberta.convert_ids_to_tokens(int(token_id))
    # the bundled texts themselves hold neither, which is why the probe is needed
    for tokenizer in (bert, roberta):
        plain = tokenizer(ARTICLES, padding=True, return_tensors="np")["input_ids"]
        assert tokenizer.mask_token_id not in plain and tokenizer.unk_token_id not in plain


def test_nb02_ex3_incomplete_sets_of_special_tokens_fail_and_name_the_kind(both_tokenizers):
    def layout_only(input_ids, tokenizer):  # the three tokens of a row's layout, read from the tokenizer
        return np.isin(np.asarray(input_ids), [tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id])

    feedback = check_special_finder(layout_only, both_tokenizers, ARTICLES)
    assert not feedback.passed
    bert_note = next(note for note in feedback.wrong if note.startswith("BERT"))
    roberta_note = next(note for note in feedback.wrong if note.startswith("RoBERTa"))
    assert "the unknown-word token '[UNK]'" in bert_note and "the mask token '[MASK]'" in bert_note
    assert "the mask token '<mask>'" in roberta_note and "unknown" not in roberta_note
    for note in feedback.wrong:
        assert "every special token" in note and "section 4" in note
        assert "all_special_ids" not in note and "isin" not in note  # a hint, not the code

    def no_unknown(input_ids, tokenizer):
        return np.isin(np.asarray(input_ids), [tokenizer.cls_token_id, tokenizer.sep_token_id,
                                               tokenizer.pad_token_id, tokenizer.mask_token_id])

    feedback = check_special_finder(no_unknown, both_tokenizers, ARTICLES)
    assert not feedback.passed
    assert [note.split(":")[0] for note in feedback.right] == ["RoBERTa"]
    assert any("the unknown-word token '[UNK]'" in note and "mask token" not in note for note in feedback.wrong)


def test_nb02_ex3_hard_coded_bert_ids_fail_for_roberta(both_tokenizers):
    bert = both_tokenizers["BERT"]
    fixed = bert.all_special_ids  # what hard-coding would write down: right for BERT only

    def hard_coded(input_ids, tokenizer):
        return np.isin(np.asarray(input_ids), fixed)

    feedback = check_special_finder(hard_coded, both_tokenizers, ARTICLES)
    assert not feedback.passed
    assert any(note.startswith("BERT:") for note in feedback.right)
    assert any(note.startswith("RoBERTa") and "instead of writing ids down" in note for note in feedback.wrong)


def test_nb02_ex3_flagging_ordinary_tokens_is_explained(both_tokenizers):
    def too_many(input_ids, tokenizer):
        ids = np.asarray(input_ids)
        return np.isin(ids, tokenizer.all_special_ids) | (ids == ids[0, 1])

    feedback = check_special_finder(too_many, both_tokenizers, ARTICLES)
    assert not feedback.passed
    assert "flags ordinary tokens such as" in _notes(feedback) and "special tokens only" in _notes(feedback)


def test_nb02_ex3_other_wrong_answers(both_tokenizers):
    def no_padding(input_ids, tokenizer):
        ids = np.asarray(input_ids)
        return (ids == tokenizer.cls_token_id) | (ids == tokenizer.sep_token_id)

    feedback = check_special_finder(no_padding, both_tokenizers, ARTICLES)
    assert not feedback.passed and "misses the padding token" in _notes(feedback)

    def crashes(input_ids, tokenizer):
        raise KeyError("oops")

    assert "raised KeyError" in _notes(check_special_finder(crashes, both_tokenizers, ARTICLES))

    def wrong_shape(input_ids, tokenizer):
        return np.zeros(3, dtype=bool)

    assert "shape" in _notes(check_special_finder(wrong_shape, both_tokenizers, ARTICLES))
    assert "function" in _notes(check_special_finder(None, both_tokenizers, ARTICLES))
    assert "returned None" in _notes(check_special_finder(lambda ids, tok: None, both_tokenizers, ARTICLES))
    strings = check_special_finder(lambda ids, tok: np.full(np.shape(ids), "x"), both_tokenizers, ARTICLES)
    assert not strings.passed and "True/False" in _notes(strings)


def test_nb02_ex3_flags_must_be_booleans_or_zero_and_one(both_tokenizers):
    def counts(input_ids, tokenizer):  # 2 where it means True: not a flag
        return 2 * np.isin(np.asarray(input_ids), tokenizer.all_special_ids)

    def halves(input_ids, tokenizer):
        return 0.5 * np.isin(np.asarray(input_ids), tokenizer.all_special_ids)

    def the_ids_themselves(input_ids, tokenizer):
        ids = np.asarray(input_ids)
        return np.where(np.isin(ids, tokenizer.all_special_ids), ids, 0)

    for finder, shown in ((counts, "such as 2"), (halves, "such as 0.5"), (the_ids_themselves, "such as")):
        feedback = check_special_finder(finder, both_tokenizers, ARTICLES)
        assert not feedback.passed and not feedback.right, str(feedback)
        assert "values other than True/False or 0/1" in _notes(feedback) and shown in _notes(feedback)
