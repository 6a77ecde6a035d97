"""mlm_tutorial.evaluation: fixed masks, masked-LM score, unigram baseline."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from mlm_tutorial.chunking import chunk_texts
from mlm_tutorial.evaluation import (
    MaskedLMScore,
    fixed_masks,
    masked_lm_score,
    masked_sentences,
    perplexity_by_category,
    unigram_baseline,
)
from mlm_tutorial.masking import IGNORE_INDEX
from mlm_tutorial.tokenizing import tokenize_to_tf
from mlm_tutorial.training import category_chunks


@pytest.fixture(scope="module")
def test_chunks(news_corpus: Any, bert_tokenizer: Any) -> np.ndarray:
    """A few 64-token chunks of held-out articles (small, so scoring stays fast on a CPU)."""
    return chunk_texts(news_corpus["test"]["text"][:6], bert_tokenizer, chunk_size=64)[:10]


@pytest.fixture(scope="module")
def masks(test_chunks: np.ndarray, bert_tokenizer: Any) -> tuple[np.ndarray, np.ndarray]:
    return fixed_masks(test_chunks, bert_tokenizer, seed=1234)


# --------------------------------------------------------------------------- fixed_masks


def test_fixed_masks_are_fixed(test_chunks: np.ndarray, bert_tokenizer: Any) -> None:
    masked, labels = fixed_masks(test_chunks, bert_tokenizer, seed=7)
    again_masked, again_labels = fixed_masks(test_chunks, bert_tokenizer, seed=7)
    other_masked, _ = fixed_masks(test_chunks, bert_tokenizer, seed=8)
    assert isinstance(masked, np.ndarray) and isinstance(labels, np.ndarray)
    assert masked.shape == labels.shape == test_chunks.shape
    np.testing.assert_array_equal(masked, again_masked)
    np.testing.assert_array_equal(labels, again_labels)
    assert not np.array_equal(masked, other_masked)


def test_fixed_masks_mask_only(masks: tuple[np.ndarray, np.ndarray], test_chunks: np.ndarray,
                               bert_tokenizer: Any) -> None:
    masked, labels = masks
    chosen = labels != IGNORE_INDEX
    assert 0.05 < chosen.mean() < 0.3  # about 15%
    assert (masked[chosen] == bert_tokenizer.mask_token_id).all()  # the default strategy: [MASK] only
    np.testing.assert_array_equal(labels[chosen], test_chunks[chosen])
    np.testing.assert_array_equal(masked[~chosen], test_chunks[~chosen])
    assert not chosen[:, 0].any() and not chosen[:, -1].any()  # [CLS] and [SEP] never chosen
    # about 15% of the ordinary tokens: within five standard errors of the binomial count
    ordinary = test_chunks.size - 2 * test_chunks.shape[0]
    assert abs(chosen.sum() - 0.15 * ordinary) < 5 * np.sqrt(ordinary * 0.15 * 0.85)


def test_fixed_masks_pass_on_their_probability_and_strategy(test_chunks: np.ndarray, bert_tokenizer: Any) -> None:
    half_masked, half_labels = fixed_masks(test_chunks, bert_tokenizer, seed=7, mlm_probability=0.5)
    assert (half_labels != IGNORE_INDEX).mean() > 0.4
    bert_masked, bert_labels = fixed_masks(test_chunks, bert_tokenizer, seed=7, strategy="bert")
    chosen = bert_labels != IGNORE_INDEX
    assert (bert_masked[chosen] != bert_tokenizer.mask_token_id).any()  # 80/10/10: some chosen tokens stay or change


# --------------------------------------------------------------------------- masked_lm_score


def test_masked_lm_score_is_deterministic(mlm_model: Any, masks: tuple[np.ndarray, np.ndarray]) -> None:
    first = masked_lm_score(mlm_model, *masks)
    second = masked_lm_score(mlm_model, *masks)
    assert first == second
    assert first.masked_tokens == int((masks[1] != IGNORE_INDEX).sum())
    assert first.perplexity == pytest.approx(math.exp(first.loss))
    assert 0.0 <= first.accuracy <= 1.0
    assert first.loss > 0


def test_masked_lm_score_does_not_depend_on_batch_size(mlm_model: Any, masks: tuple[np.ndarray, np.ndarray]) -> None:
    whole = masked_lm_score(mlm_model, *masks, batch_size=32)
    small = masked_lm_score(mlm_model, *masks, batch_size=3)
    assert small.loss == pytest.approx(whole.loss, rel=1e-5)
    assert small.accuracy == whole.accuracy
    assert small.masked_tokens == whole.masked_tokens


def direct_score(model: Any, masked: np.ndarray, labels: np.ndarray, attention: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over the labelled positions, computed in NumPy (float64) from the logits."""
    logits = model(input_ids=masked, attention_mask=attention, training=False).logits.numpy().astype(np.float64)
    log_probs = logits - logits.max(-1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
    where = labels != IGNORE_INDEX
    picked = log_probs[where]
    targets = labels[where]
    return float(-picked[np.arange(len(targets)), targets].mean()), float((picked.argmax(-1) == targets).mean())


def test_masked_lm_score_matches_a_direct_computation(mlm_model: Any, masks: tuple[np.ndarray, np.ndarray]) -> None:
    masked, labels = masks
    expected_loss, expected_accuracy = direct_score(mlm_model, masked, labels, np.ones_like(masked))
    score = masked_lm_score(mlm_model, masked, labels)
    assert score.loss == pytest.approx(expected_loss, rel=1e-4)
    assert score.accuracy == pytest.approx(expected_accuracy)


def test_masked_lm_score_as_dict(mlm_model: Any, masks: tuple[np.ndarray, np.ndarray]) -> None:
    score = masked_lm_score(mlm_model, *masks)
    assert score.as_dict() == {"loss": score.loss, "perplexity": score.perplexity,
                               "accuracy": score.accuracy, "masked_tokens": score.masked_tokens}


def test_masked_lm_score_shape_errors(mlm_model: Any, masks: tuple[np.ndarray, np.ndarray]) -> None:
    masked, labels = masks
    with pytest.raises(ValueError, match="must be 2-D arrays of one shape"):
        masked_lm_score(mlm_model, masked, labels[:, :-1])
    with pytest.raises(ValueError, match="must be 2-D arrays of one shape"):
        masked_lm_score(mlm_model, masked[0], labels[0])


def test_masked_lm_score_needs_masked_tokens(mlm_model: Any, test_chunks: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"labels mark no masked token \(all -100\)"):
        masked_lm_score(mlm_model, test_chunks, np.full_like(test_chunks, IGNORE_INDEX))


# --------------------------------------------------------------------------- unigram_baseline


def test_unigram_baseline_by_hand(bert_tokenizer: Any) -> None:
    cls, sep, pad = bert_tokenizer.cls_token_id, bert_tokenizer.sep_token_id, bert_tokenizer.pad_token_id
    a, b, c = 2000, 2001, 2002
    train = np.array([[cls, a, a, a, b, sep], [cls, a, b, c, sep, pad]])  # a: 4, b: 2, c: 1; specials ignored
    labels = np.array([[IGNORE_INDEX, a, IGNORE_INDEX, b, IGNORE_INDEX, IGNORE_INDEX],
                       [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, c, IGNORE_INDEX, IGNORE_INDEX]])
    vocab = len(bert_tokenizer)
    total = 7 + vocab  # add-one smoothing over the whole vocabulary
    expected_loss = -(math.log(5 / total) + math.log(3 / total) + math.log(2 / total)) / 3
    score = unigram_baseline(train, labels, bert_tokenizer)
    assert isinstance(score, MaskedLMScore)
    assert score.masked_tokens == 3
    assert score.accuracy == pytest.approx(1 / 3)  # always guessing a: right once
    assert score.loss == pytest.approx(expected_loss)
    assert score.perplexity == pytest.approx(math.exp(expected_loss))


def test_unigram_baseline_on_the_corpus(bert_tokenizer: Any, news_corpus: Any,
                                        masks: tuple[np.ndarray, np.ndarray]) -> None:
    train = chunk_texts(news_corpus["train"]["text"][:40], bert_tokenizer, chunk_size=128)
    score = unigram_baseline(train, masks[1], bert_tokenizer)
    assert score.masked_tokens == int((masks[1] != IGNORE_INDEX).sum())
    assert 0.0 < score.accuracy < 0.5
    assert 1.0 < score.perplexity < len(bert_tokenizer)  # better than a uniform guess


def test_unigram_baseline_errors(bert_tokenizer: Any) -> None:
    train = np.array([101, 2000, 2001, 102])
    with pytest.raises(ValueError, match=r"labels mark no masked token"):
        unigram_baseline(train, np.full((1, 4), IGNORE_INDEX), bert_tokenizer)
    with pytest.raises(ValueError, match="train_ids holds no ordinary token"):
        unigram_baseline(np.array([101, 102, 0]), np.array([[2000]]), bert_tokenizer)
    with pytest.raises(TypeError, match="train_ids must hold integer token ids"):
        unigram_baseline(train.astype(float), np.array([[2000]]), bert_tokenizer)


# --------------------------------------------------------------------------- padded rows, bad ids, seeds, templates


def test_masked_lm_score_ignores_padding_of_padded_rows(mlm_model: Any, bert_tokenizer: Any) -> None:
    """Padded rows (not packed chunks) must be scored with padding masked out of the attention."""
    texts = ["oil prices rose", "the bank said its profits for the year would rise sharply"]
    encoding = tokenize_to_tf(texts, bert_tokenizer, max_length=16)
    ids = encoding["input_ids"].numpy()
    attention = encoding["attention_mask"].numpy()
    assert (attention == 0).any()  # the first row is padded
    masked, labels = ids.copy(), np.full_like(ids, IGNORE_INDEX)
    for row, position in ((0, 2), (1, 3), (1, 7)):
        labels[row, position] = ids[row, position]
        masked[row, position] = bert_tokenizer.mask_token_id

    expected = direct_score(mlm_model, masked, labels, attention)[0]
    unmasked = direct_score(mlm_model, masked, labels, np.ones_like(attention))[0]
    assert abs(expected - unmasked) > 1e-3  # padding does change the numbers, so the check below means something
    score = masked_lm_score(mlm_model, masked, labels)
    assert score.masked_tokens == 3
    assert score.loss == pytest.approx(expected, rel=1e-4)


def test_masked_lm_score_refuses_ids_equal_to_the_vocabulary_size(mlm_model: Any) -> None:
    vocab = mlm_model.config.vocab_size
    ids = np.array([[101, 2000, 103, 2001, 102]])
    labels = np.full_like(ids, IGNORE_INDEX)
    labels[0, 2] = 2002
    with pytest.raises(ValueError, match=rf"masked_ids holds id {vocab}, outside the model's vocabulary"):
        masked_lm_score(mlm_model, np.where(ids == 2001, vocab, ids), labels)
    with pytest.raises(ValueError, match=rf"labels holds id {vocab}, outside the model's vocabulary"):
        masked_lm_score(mlm_model, ids, np.where(labels == 2002, vocab, labels))


def test_unigram_baseline_guesses_the_training_mode_not_the_test_mode(bert_tokenizer: Any) -> None:
    a, b = 2000, 2001
    train = np.array([a, a, a, b])  # a is the most frequent training token
    labels = np.array([[b, b, a, IGNORE_INDEX]])  # b is the most frequent masked token
    score = unigram_baseline(train, labels, bert_tokenizer)
    assert score.accuracy == pytest.approx(1 / 3)  # the guess "a" is right once, never peeking at the labels
    vocab = len(bert_tokenizer)
    expected = -(2 * math.log(2 / (4 + vocab)) + math.log(4 / (4 + vocab))) / 3
    assert score.loss == pytest.approx(expected)


def test_perplexity_by_category_uses_the_seed_it_is_given(mlm_model: Any, bert_tokenizer: Any,
                                                          news_corpus: Any) -> None:
    rows = {"sport": category_chunks(news_corpus, bert_tokenizer, "test", chunk_size=32, max_chunks=3)["sport"]}
    scores = perplexity_by_category(mlm_model, bert_tokenizer, rows, seed=99)
    expected = masked_lm_score(mlm_model, *fixed_masks(rows["sport"], bert_tokenizer, seed=99))
    default = masked_lm_score(mlm_model, *fixed_masks(rows["sport"], bert_tokenizer))
    assert expected.loss != default.loss  # the seed matters on these rows
    assert scores["sport"] == expected


def test_masked_sentences_refuse_two_placeholders(bert_tokenizer: Any) -> None:
    with pytest.raises(ValueError, match=r"templates\[0\].*exactly once"):
        masked_sentences(["the {mask} rose and the {mask} fell ."], bert_tokenizer)


# --------------------------------------------------------------------------- inputs that would mislead


def test_fixed_masks_need_a_seed(test_chunks: np.ndarray, bert_tokenizer: Any) -> None:
    for seed in (None, True, 1.5):
        with pytest.raises(TypeError, match="seed must be an int such as 1234"):
            fixed_masks(test_chunks, bert_tokenizer, seed=seed)  # type: ignore[arg-type]


def test_a_tokenizer_of_another_checkpoint_is_refused(mlm_model: Any, roberta_tokenizer: Any,
                                                       test_chunks: np.ndarray) -> None:
    from mlm_tutorial.evaluation import fill_mask_predictions

    with pytest.raises(ValueError, match="pads with id 1 but the model expects 0"):
        fill_mask_predictions(mlm_model, roberta_tokenizer, ["shares <mask> sharply ."])
    with pytest.raises(ValueError, match="pads with id 1 but the model expects 0"):
        perplexity_by_category(mlm_model, roberta_tokenizer, {"business": test_chunks})
    with pytest.raises(TypeError, match="tokenizer must be a transformers tokenizer"):
        fill_mask_predictions(mlm_model, None, ["shares [MASK] sharply ."])
    with pytest.raises(TypeError, match="model must be a transformers masked LM.*got str"):
        masked_lm_score("bert", *fixed_masks(test_chunks, roberta_tokenizer, seed=1))


def test_rows_longer_than_the_models_positions_are_refused(mlm_model: Any) -> None:
    positions = mlm_model.config.max_position_embeddings
    ids = np.full((1, positions + 1), 5)
    labels = np.full_like(ids, IGNORE_INDEX)
    labels[0, 3] = 5
    with pytest.raises(ValueError, match=f"{positions + 1} tokens long, but the model has only {positions} positions"):
        masked_lm_score(mlm_model, ids, labels)


def test_a_row_as_long_as_the_models_positions_is_scored(mlm_model: Any) -> None:
    positions = mlm_model.config.max_position_embeddings
    ids = np.full((1, positions), 5)
    labels = np.full_like(ids, IGNORE_INDEX)
    labels[0, -1] = 5
    assert masked_lm_score(mlm_model, ids, labels).masked_tokens == 1


def test_roberta_rows_are_measured_against_the_positions_it_can_use(roberta_tokenizer: Any) -> None:
    from transformers import RobertaConfig, TFAutoModelForMaskedLM

    config = RobertaConfig(vocab_size=len(roberta_tokenizer), hidden_size=16, num_hidden_layers=1,
                           num_attention_heads=2, intermediate_size=32, max_position_embeddings=18,
                           pad_token_id=roberta_tokenizer.pad_token_id)
    model = TFAutoModelForMaskedLM.from_config(config)  # 18 position rows, of which 16 hold tokens
    usable = 18 - (roberta_tokenizer.pad_token_id + 1)
    ids = np.full((1, usable + 1), 5)
    labels = np.full_like(ids, IGNORE_INDEX)
    labels[0, 0] = 5
    with pytest.raises(ValueError, match=f"{usable + 1} tokens long, but the model has only {usable} positions"):
        masked_lm_score(model, ids, labels)
    assert masked_lm_score(model, ids[:, :usable], labels[:, :usable]).masked_tokens == 1


def test_unigram_baseline_refuses_ids_outside_the_vocabulary(bert_tokenizer: Any) -> None:
    labels = np.array([[5, IGNORE_INDEX]])
    with pytest.raises(ValueError, match=f"labels holds id {len(bert_tokenizer)}, outside"):
        unigram_baseline(np.array([5, 6, 7]), np.array([[len(bert_tokenizer), IGNORE_INDEX]]), bert_tokenizer)
    with pytest.raises(ValueError, match="train_ids holds id -3, outside"):
        unigram_baseline(np.array([5, -3]), labels, bert_tokenizer)
    assert unigram_baseline(np.array([5, 6, 5]), labels, bert_tokenizer).masked_tokens == 1
