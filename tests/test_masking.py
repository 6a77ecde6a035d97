"""``mlm_tutorial.masking.mask_tokens``: the invariants of BERT's masking rule, for both bundled
tokenizer families (WordPiece and byte-level BPE), eagerly, in ``tf.function`` and in ``tf.data``."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlm_tutorial.masking import BERT_SPLIT, IGNORE_INDEX, STRATEGIES, mask_tokens, vocabulary_info

FAMILIES = ("bert", "roberta")
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="session")
def texts(news_corpus: Any) -> list[str]:
    return list(news_corpus["train"]["text"]) + list(news_corpus["test"]["text"])


_chunk_cache: dict[str, np.ndarray] = {}


@pytest.fixture
def chunks(tokenizer: Any, texts: list[str]) -> np.ndarray:
    """The whole corpus cut into chunks of 128 tokens (no padding)."""
    from mlm_tutorial.chunking import chunk_texts

    key = tokenizer.name_or_path
    if key not in _chunk_cache:
        _chunk_cache[key] = chunk_texts(texts, tokenizer, chunk_size=128)
    return _chunk_cache[key]


@pytest.fixture
def padded(tokenizer: Any, texts: list[str]) -> np.ndarray:
    """Forty headlines and opening sentences of different lengths, padded to the longest (at most 96)."""
    pieces = [". ".join(text.split(". ")[: 1 + i % 3]) for i, text in enumerate(texts[:40])]
    return np.array(tokenizer(pieces, padding=True, truncation=True, max_length=96)["input_ids"], dtype=np.int64)


def special_mask(ids: np.ndarray, tokenizer: Any) -> np.ndarray:
    return np.isin(ids, tokenizer.all_special_ids)


def assert_invariants(ids: np.ndarray, masked: Any, labels: Any, tokenizer: Any, strategy: str) -> None:
    """What must hold for every output of mask_tokens, whatever the random draws."""
    import tensorflow as tf

    assert isinstance(masked, tf.Tensor) and isinstance(labels, tf.Tensor)
    masked, labels = masked.numpy(), labels.numpy()
    assert masked.shape == ids.shape and labels.shape == ids.shape
    assert masked.dtype == ids.dtype and labels.dtype == ids.dtype
    chosen = labels != IGNORE_INDEX
    # labels: original id where chosen, -100 everywhere else
    assert np.array_equal(labels[chosen], ids[chosen])
    # special and padding tokens are never chosen and never changed
    special = special_mask(ids, tokenizer)
    assert not np.any(chosen & special)
    assert np.array_equal(masked[special], ids[special])
    # tokens not chosen are left alone
    assert np.array_equal(masked[~chosen], ids[~chosen])
    # chosen tokens become [MASK], a random ordinary token, or stay
    replaced = masked[chosen]
    if strategy == "mask_only":
        assert np.all(replaced == tokenizer.mask_token_id)
    else:
        others = replaced[replaced != tokenizer.mask_token_id]
        assert not np.any(np.isin(others, tokenizer.all_special_ids))
        assert np.all((others >= 0) & (others < len(tokenizer)))


def word_groups(ids: np.ndarray, tokenizer: Any) -> np.ndarray:
    """Word number of every token, from the token strings (a plain Python oracle, row by row)."""
    wordpiece = any(token.startswith("##") for token in tokenizer.get_vocab())
    special = set(tokenizer.all_special_ids)
    groups = np.zeros(ids.shape, dtype=np.int64)
    for r, row in enumerate(ids):
        word = -1
        for t, token_id in enumerate(row):
            token = tokenizer.convert_ids_to_tokens(int(token_id))
            continues = token.startswith("##") if wordpiece else not token.startswith("Ġ")
            if t == 0 or int(token_id) in special or int(row[t - 1]) in special or not continues:
                word += 1
            groups[r, t] = word
    return groups


def binomial_se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


# --------------------------------------------------------------------------- basic behaviour


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("whole_word", [False, True])
def test_invariants_on_padded_rows(tokenizer, padded, strategy, whole_word):
    assert (padded == tokenizer.pad_token_id).any(), "the fixture must hold padding"
    masked, labels = mask_tokens(padded, tokenizer, strategy=strategy, seed=7, whole_word=whole_word)
    assert_invariants(padded, masked, labels, tokenizer, strategy)
    assert (labels.numpy() != IGNORE_INDEX).sum() > 0


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_shape_and_dtype_follow_the_input(tokenizer, dtype):
    import tensorflow as tf

    ids = np.array(tokenizer(["markets rose on tuesday", "the match ended in a draw"], padding=True)["input_ids"],
                   dtype=dtype)
    for rows in (ids, tf.constant(ids), ids.tolist() if dtype == np.int64 else ids):
        masked, labels = mask_tokens(rows, tokenizer, seed=1)
        assert masked.shape == ids.shape and labels.shape == ids.shape
        assert masked.dtype == tf.as_dtype(dtype) and labels.dtype == tf.as_dtype(dtype)
    one_masked, one_labels = mask_tokens(ids[0], tokenizer, seed=1)
    assert one_masked.shape == ids[0].shape and one_labels.shape == ids[0].shape


def test_a_single_sequence_is_masked_like_a_row_of_a_batch(tokenizer, padded):
    row_masked, row_labels = mask_tokens(padded[:1], tokenizer, seed=3)
    one_masked, one_labels = mask_tokens(padded[0], tokenizer, seed=3)
    assert np.array_equal(row_masked.numpy()[0], one_masked.numpy())
    assert np.array_equal(row_labels.numpy()[0], one_labels.numpy())


def test_special_and_padding_tokens_are_never_chosen_even_at_high_probability(tokenizer, padded):
    masked, labels = mask_tokens(padded, tokenizer, mlm_probability=0.99, seed=5)
    chosen = labels.numpy() != IGNORE_INDEX
    special = special_mask(padded, tokenizer)
    assert not np.any(chosen & special)
    assert not np.any(chosen & (padded == tokenizer.pad_token_id))
    # nearly every ordinary token is chosen: the exclusion, not chance, kept the special ones out
    assert chosen[~special].mean() > 0.97


def test_special_ids_come_from_the_tokenizer(tokenizer):
    info = vocabulary_info(tokenizer)
    assert sorted(info.special_ids.tolist()) == sorted(set(tokenizer.all_special_ids))
    assert info.mask_id == tokenizer.mask_token_id
    assert tokenizer.pad_token_id in info.special_ids
    assert not np.isin(info.random_ids, info.special_ids).any()
    tokens = tokenizer.convert_ids_to_tokens(info.random_ids.tolist())
    assert not any(t.startswith("[unused") for t in tokens)


def test_vocabulary_info_follows_a_changed_tokenizer(bert_tokenizer):
    import copy

    before = vocabulary_info(bert_tokenizer)
    grown = copy.deepcopy(bert_tokenizer)
    grown.add_tokens(["zzzquux"])
    after = vocabulary_info(grown)
    new_id = grown.convert_tokens_to_ids("zzzquux")
    assert after.size == before.size + 1 == len(grown)
    assert new_id in after.random_ids and new_id not in before.random_ids
    masked, _ = mask_tokens([[grown.cls_token_id, new_id, grown.sep_token_id]], grown, seed=1)
    assert masked.shape == (1, 3)
    with pytest.raises(ValueError, match="outside the tokenizer's vocabulary"):
        mask_tokens([[bert_tokenizer.cls_token_id, new_id, bert_tokenizer.sep_token_id]], bert_tokenizer)


def test_word_continuation_flags(bert_tokenizer, roberta_tokenizer):
    bert = vocabulary_info(bert_tokenizer)
    ids = bert_tokenizer.convert_tokens_to_ids(["the", "##s", "[CLS]"])
    assert bert.continues_word[ids].tolist() == [False, True, False]
    roberta = vocabulary_info(roberta_tokenizer)
    ids = roberta_tokenizer.convert_tokens_to_ids(["Ġthe", "ed", "<s>"])
    assert roberta.continues_word[ids].tolist() == [False, True, False]



def test_a_wordpiece_token_that_is_a_hash_sign_starts_a_word(tmp_path) -> None:
    """Only the two-character marker ``##`` continues a word: ``#`` itself (as in "#1") starts one."""
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "#", "1", "##1", "rank", "##s"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    assert tokenizer.tokenize("#11 ranks") == ["#", "1", "##1", "rank", "##s"]
    flags = vocabulary_info(tokenizer).continues_word
    assert flags[tokenizer.convert_tokens_to_ids(["#", "1", "##1", "rank", "##s"])].tolist() == [
        False, False, True, False, True]


# --------------------------------------------------------------------------- rates


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_rates_match_the_rule_within_sampling_error(tokenizer, chunks, strategy):
    masked, labels = mask_tokens(chunks, tokenizer, strategy=strategy, seed=11)
    masked, labels = masked.numpy(), labels.numpy()
    eligible = ~special_mask(chunks, tokenizer)
    chosen = labels != IGNORE_INDEX
    n, k = int(eligible.sum()), int(chosen.sum())
    assert abs(k / n - 0.15) < 4 * binomial_se(0.15, n)
    to_mask = masked[chosen] == tokenizer.mask_token_id
    kept = masked[chosen] == chunks[chosen]
    if strategy == "mask_only":
        assert to_mask.all()
        return
    random = ~to_mask & ~kept
    for share, want in ((to_mask.mean(), BERT_SPLIT[0]), (random.mean(), BERT_SPLIT[1]), (kept.mean(), BERT_SPLIT[2])):
        assert abs(share - want) < 4 * binomial_se(want, k), (share, want)


def test_rates_agree_with_the_transformers_collator(bert_tokenizer, texts):
    import tensorflow as tf
    from transformers import DataCollatorForLanguageModeling

    from mlm_tutorial.chunking import chunk_texts

    ids = chunk_texts(texts, bert_tokenizer, chunk_size=128)
    tf.random.set_seed(0)
    collator = DataCollatorForLanguageModeling(bert_tokenizer, mlm_probability=0.15, return_tensors="tf", seed=0)
    batch = collator([{"input_ids": row} for row in ids.tolist()])
    theirs = (batch["input_ids"].numpy(), batch["labels"].numpy())
    ours = tuple(t.numpy() for t in mask_tokens(ids, bert_tokenizer, seed=0))
    eligible = int((~special_mask(ids, bert_tokenizer)).sum())
    rates = []
    for masked, labels in (theirs, ours):
        chosen = labels != IGNORE_INDEX
        assert not np.any(chosen & special_mask(ids, bert_tokenizer))
        rates.append((chosen.sum() / eligible, (masked[chosen] == bert_tokenizer.mask_token_id).mean(), chosen.sum()))
    (rate_a, mask_a, k_a), (rate_b, mask_b, k_b) = rates
    assert abs(rate_a - rate_b) < 4 * math.sqrt(2) * binomial_se(0.15, eligible)
    assert abs(mask_a - mask_b) < 4 * math.sqrt(binomial_se(0.8, k_a) ** 2 + binomial_se(0.8, k_b) ** 2)


def test_whole_word_masking_keeps_words_together_and_the_rate(tokenizer, chunks):
    sample = chunks[:120]
    masked, labels = mask_tokens(sample, tokenizer, seed=21, whole_word=True)
    assert_invariants(sample, masked, labels, tokenizer, "bert")
    chosen = labels.numpy() != IGNORE_INDEX
    groups = word_groups(sample, tokenizer)
    eligible = ~special_mask(sample, tokenizer)
    for r in range(len(sample)):
        for word in np.unique(groups[r][eligible[r]]):
            members = chosen[r][(groups[r] == word) & eligible[r]]
            assert members.all() or not members.any(), (r, word)
    # the whole corpus: about mlm_probability of the ordinary tokens are chosen
    _, labels = mask_tokens(chunks, tokenizer, seed=22, whole_word=True)
    rate = (labels.numpy() != IGNORE_INDEX).sum() / (~special_mask(chunks, tokenizer)).sum()
    assert abs(rate - 0.15) < 0.01


def test_token_level_masking_splits_words(bert_tokenizer, texts):
    from mlm_tutorial.chunking import chunk_texts

    ids = chunk_texts(texts[:40], bert_tokenizer, chunk_size=128)
    _, labels = mask_tokens(ids, bert_tokenizer, seed=2, whole_word=False)
    chosen = labels.numpy() != IGNORE_INDEX
    groups = word_groups(ids, bert_tokenizer)
    split_words = 0
    for r in range(len(ids)):
        for word in np.unique(groups[r]):
            members = chosen[r][groups[r] == word]
            split_words += int(members.any() and not members.all())
    assert split_words > 0


# --------------------------------------------------------------------------- seeds


def test_without_seed_every_call_draws_fresh_masks(tokenizer, chunks):
    first = mask_tokens(chunks[:50], tokenizer)[1].numpy()
    second = mask_tokens(chunks[:50], tokenizer)[1].numpy()
    assert not np.array_equal(first, second)


def test_a_seed_pair_tensor_is_accepted_and_reproducible(tokenizer, chunks):
    import tensorflow as tf

    a = mask_tokens(chunks[:20], tokenizer, seed=tf.constant([4, 42]))
    b = mask_tokens(chunks[:20], tokenizer, seed=tf.constant([4, 42], tf.int64))
    c = mask_tokens(chunks[:20], tokenizer, seed=tf.constant([5, 42]))
    d = mask_tokens(chunks[:20], tokenizer, seed=tf.constant([4, 43]))  # training's (step, run seed): both count
    assert np.array_equal(a[0].numpy(), b[0].numpy())
    assert not np.array_equal(a[1].numpy(), c[1].numpy())
    assert not np.array_equal(a[1].numpy(), d[1].numpy())


@PROPERTY_SETTINGS
@given(seeds=st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=2, max_size=2, unique=True))
@example(seeds=[1, 1 + 2**32])  # seeds that differ only above their low 32 bits
def test_distinct_int_seeds_give_distinct_masks(bert_tokenizer, seeds):
    ids = np.tile(np.arange(1000, 1300, dtype=np.int64), (4, 1))
    first, second = (mask_tokens(ids, bert_tokenizer, seed=s)[1].numpy() for s in seeds)
    again = mask_tokens(ids, bert_tokenizer, seed=seeds[0])[1].numpy()
    assert np.array_equal(first, again)
    assert not np.array_equal(first, second)


# --------------------------------------------------------------------------- property-based


@st.composite
def batches(draw: Any, vocab_size: int, special_ids: list[int], pad_id: int) -> np.ndarray:
    """Rows of random ids with special tokens sprinkled in and a padded tail of random length."""
    rows = draw(st.integers(1, 4))
    length = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab_size, size=(rows, length))
    sprinkle = rng.random((rows, length)) < draw(st.sampled_from([0.0, 0.1, 0.5]))
    ids[sprinkle] = rng.choice(special_ids, size=int(sprinkle.sum()))
    for r in range(rows):
        pad_from = draw(st.integers(0, length))
        ids[r, pad_from:] = pad_id
    return ids.astype(draw(st.sampled_from([np.int32, np.int64])))


@pytest.mark.parametrize("family", FAMILIES)
def test_invariants_hold_for_random_batches(request, family):
    tok = request.getfixturevalue(f"{family}_tokenizer")
    vocab, specials = len(tok), sorted(set(tok.all_special_ids))

    @PROPERTY_SETTINGS
    @given(ids=batches(vocab, specials, tok.pad_token_id),
           probability=st.floats(0.01, 0.99),
           strategy=st.sampled_from(STRATEGIES),
           whole_word=st.booleans(),
           seed=st.integers(0, 2**40))
    def check(ids, probability, strategy, whole_word, seed):
        masked, labels = mask_tokens(ids, tok, mlm_probability=probability, strategy=strategy, seed=seed,
                                     whole_word=whole_word)
        assert_invariants(ids, masked, labels, tok, strategy)
        again = mask_tokens(ids, tok, mlm_probability=probability, strategy=strategy, seed=seed,
                            whole_word=whole_word)
        assert np.array_equal(masked.numpy(), again[0].numpy())
        assert np.array_equal(labels.numpy(), again[1].numpy())
        if whole_word:
            chosen = labels.numpy() != IGNORE_INDEX
            groups = word_groups(ids, tok)
            eligible = ~special_mask(ids, tok)
            for r in range(ids.shape[0]):
                for word in np.unique(groups[r][eligible[r]]):
                    members = chosen[r][(groups[r] == word) & eligible[r]]
                    assert members.all() or not members.any()

    check()


@PROPERTY_SETTINGS
@given(probability=st.floats(0.02, 0.98), seed=st.integers(0, 2**31))
def test_the_chosen_rate_follows_mlm_probability(bert_tokenizer, probability, seed):
    ids = np.tile(np.arange(1000, 1500, dtype=np.int64), (20, 1))  # 10,000 ordinary tokens
    _, labels = mask_tokens(ids, bert_tokenizer, mlm_probability=probability, seed=seed)
    rate = (labels.numpy() != IGNORE_INDEX).mean()
    assert abs(rate - probability) < 5 * binomial_se(probability, ids.size)


# --------------------------------------------------------------------------- tf.function and tf.data


def test_works_inside_tf_function(tokenizer, padded):
    import tensorflow as tf

    seeded = tf.function(lambda ids: mask_tokens(ids, tokenizer, seed=8, whole_word=True))
    fresh = tf.function(lambda ids: mask_tokens(ids, tokenizer))
    ids = tf.constant(padded)
    a, b = seeded(ids), seeded(ids)
    assert_invariants(padded, *a, tokenizer, "bert")
    assert np.array_equal(a[1].numpy(), b[1].numpy())
    eager = mask_tokens(padded, tokenizer, seed=8, whole_word=True)
    assert np.array_equal(a[1].numpy(), eager[1].numpy())
    c, d = fresh(ids), fresh(ids)
    assert_invariants(padded, *c, tokenizer, "bert")
    assert not np.array_equal(c[1].numpy(), d[1].numpy())


@pytest.mark.parametrize("strategy", ["bert", "mask_only"])
def test_tf_function_traced_for_any_shape_masks_rows_and_batches_alike(tokenizer, padded, strategy):
    import tensorflow as tf

    # input_signature with no shape: the rank is unknown while tracing and known only when the function runs.
    masker = tf.function(lambda ids: mask_tokens(ids, tokenizer, strategy=strategy, seed=8, whole_word=True),
                         input_signature=[tf.TensorSpec(None, tf.int64)])
    for ids in (padded, padded[3]):
        masked, labels = masker(tf.constant(ids))
        eager = mask_tokens(ids, tokenizer, strategy=strategy, seed=8, whole_word=True)
        assert masked.shape == ids.shape and labels.shape == ids.shape
        assert np.array_equal(masked.numpy(), eager[0].numpy())
        assert np.array_equal(labels.numpy(), eager[1].numpy())
    with pytest.raises(tf.errors.InvalidArgumentError, match="must be 1-D .one sequence. or 2-D"):
        masker(tf.constant(padded[np.newaxis]))


def test_works_inside_dataset_map_with_fresh_masks_each_epoch(tokenizer, chunks):
    import tensorflow as tf

    rows = chunks[:64]
    dataset = tf.data.Dataset.from_tensor_slices(rows).batch(16).map(lambda ids: mask_tokens(ids, tokenizer))
    assert dataset.element_spec[0].dtype == tf.as_dtype(rows.dtype)
    epochs = []
    for _ in range(2):
        parts = [(m.numpy(), lab.numpy()) for m, lab in dataset]
        masked = np.concatenate([m for m, _ in parts])
        labels = np.concatenate([lab for _, lab in parts])
        assert_invariants(rows, tf.constant(masked), tf.constant(labels), tokenizer, "bert")
        epochs.append(labels)
    assert not np.array_equal(epochs[0], epochs[1]), "every epoch must get new masks"


def test_dataset_map_with_a_seed_pair_is_reproducible(tokenizer, chunks):
    import tensorflow as tf

    rows = chunks[:48]
    dataset = (tf.data.Dataset.from_tensor_slices(rows).batch(16).enumerate()
               .map(lambda step, ids: mask_tokens(ids, tokenizer, seed=tf.stack([step, tf.constant(42, tf.int64)]),
                                                  whole_word=True)))
    first = [lab.numpy() for _, lab in dataset]
    second = [lab.numpy() for _, lab in dataset]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not np.array_equal(first[0], first[1]), "each step must get its own masks"


def test_graph_mode_rejects_ids_outside_the_vocabulary(tokenizer, padded):
    import tensorflow as tf

    bad = padded.copy()
    masker = tf.function(lambda ids: mask_tokens(ids, tokenizer, seed=1))
    for outside in (len(tokenizer), len(tokenizer) + 5):  # the first id past the vocabulary, and one further
        bad[0, 1] = outside
        with pytest.raises(tf.errors.InvalidArgumentError, match="outside the vocabulary of the tokenizer"):
            masker(tf.constant(bad))
    bad[0, 1] = -3
    with pytest.raises(tf.errors.InvalidArgumentError, match="input_ids holds a negative id"):
        masker(tf.constant(bad))
    assert masker(tf.constant(padded))[0].shape == padded.shape  # good ids pass the same checks


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("probability", [0, 0.0, 1, 1.0, -0.1, 1.5, float("nan")])
def test_mlm_probability_outside_the_open_interval_is_refused(bert_tokenizer, probability):
    with pytest.raises(ValueError, match=r"mlm_probability must lie strictly between 0 and 1") as info:
        mask_tokens([[101, 2000, 102]], bert_tokenizer, mlm_probability=probability)
    assert repr(probability) in str(info.value)


@pytest.mark.parametrize("probability", ["0.15", None, True, [0.15]])
def test_mlm_probability_of_the_wrong_type_is_refused(bert_tokenizer, probability):
    with pytest.raises(TypeError, match="mlm_probability must be a number"):
        mask_tokens([[101, 2000, 102]], bert_tokenizer, mlm_probability=probability)


def test_numpy_probabilities_are_accepted(bert_tokenizer):
    masked, _ = mask_tokens([[101, 2000, 102]], bert_tokenizer, mlm_probability=np.float32(0.5), seed=1)
    assert masked.shape == (1, 3)


@pytest.mark.parametrize("strategy", ["random", "BERT", "", None])
def test_unknown_strategy_lists_the_valid_ones(bert_tokenizer, strategy):
    with pytest.raises(ValueError, match="unknown masking strategy") as info:
        mask_tokens([[101, 2000, 102]], bert_tokenizer, strategy=strategy)
    message = str(info.value)
    assert repr(strategy) in message
    for name in STRATEGIES:
        assert repr(name) in message


def test_tokenizer_without_mask_token_is_refused(roberta_tokenizer):
    from transformers import PreTrainedTokenizerFast

    from mlm_tutorial.resources import bundled_tokenizer_dir

    plain = PreTrainedTokenizerFast(tokenizer_file=str(bundled_tokenizer_dir("roberta") / "tokenizer.json"),
                                    pad_token="<pad>")
    assert plain.mask_token_id is None
    with pytest.raises(ValueError, match="has no mask token"):
        mask_tokens([[0, 50, 2]], plain)


def test_something_that_is_no_tokenizer_is_refused():
    with pytest.raises(TypeError, match="tokenizer must be a transformers tokenizer"):
        mask_tokens([[101, 2000, 102]], "bert-base-uncased")


@pytest.mark.parametrize("ids, fragment", [
    (np.array([[101.0, 2000.0, 102.0]]), "integer token ids, got dtype float64"),
    ([[0.5, 1.5]], "integer token ids"),
    ([["the", "cat"]], "integer token ids"),
    (np.array([[True, False]]), "integer token ids, got dtype bool"),
    ([[101, 2000, 102], [101, 102]], "rows differ in length"),
    (np.array([[101, 2000, 102]], dtype=np.uint16), "unsigned"),
    (np.array([[101, 100, 102]], dtype=np.int8), "dtype int8, which cannot hold the tokenizer's ids up to"),
])
def test_non_integer_ids_are_refused(bert_tokenizer, ids, fragment):
    with pytest.raises(TypeError, match="input_ids") as info:
        mask_tokens(ids, bert_tokenizer)
    assert fragment in str(info.value)


def test_float_tensors_and_ragged_tensors_are_refused(bert_tokenizer):
    import tensorflow as tf

    with pytest.raises(TypeError, match="integer token ids, got dtype float32"):
        mask_tokens(tf.constant([[101.0, 2000.0, 102.0]]), bert_tokenizer)
    with pytest.raises(TypeError, match="RaggedTensor"):
        mask_tokens(tf.ragged.constant([[101, 2000, 102], [101, 102]]), bert_tokenizer)


@pytest.mark.parametrize("family", FAMILIES)
def test_ids_outside_the_vocabulary_are_refused(request, family):
    tok = request.getfixturevalue(f"{family}_tokenizer")
    size = len(tok)
    for bad in (size, size + 100, -1):
        ids = [[tok.cls_token_id, 50, bad, tok.sep_token_id]]
        with pytest.raises(ValueError, match="outside the tokenizer's vocabulary") as info:
            mask_tokens(ids, tok)
        assert str(bad) in str(info.value) and f"0..{size - 1}" in str(info.value)


@pytest.mark.parametrize("ids, fragment", [
    (np.zeros((0,), dtype=np.int64), "empty"),
    (np.zeros((2, 0), dtype=np.int64), "empty"),
    (np.ones((2, 3, 4), dtype=np.int64), "1-D"),
])
def test_empty_and_wrongly_shaped_ids_are_refused(bert_tokenizer, ids, fragment):
    with pytest.raises(ValueError, match="input_ids") as info:
        mask_tokens(ids, bert_tokenizer)
    assert fragment in str(info.value)


@pytest.mark.parametrize("seed", [1.5, "42", True, [1, 2]])
def test_seeds_of_the_wrong_type_are_refused(bert_tokenizer, seed):
    with pytest.raises(TypeError, match="seed must be an int"):
        mask_tokens([[101, 2000, 102]], bert_tokenizer, seed=seed)


def test_seed_beyond_64_bits_and_a_bad_whole_word_flag_are_refused(bert_tokenizer):
    with pytest.raises(ValueError, match="seed must fit in 64 bits"):
        mask_tokens([[101, 2000, 102]], bert_tokenizer, seed=2**64)
    with pytest.raises(TypeError, match="whole_word must be True or False"):
        mask_tokens([[101, 2000, 102]], bert_tokenizer, whole_word="yes")


# --------------------------------------------------------------------------- the split, the random draw, other vocabularies


def test_bert_split_is_80_10_10_as_in_the_paper_not_just_as_the_module_constant(bert_tokenizer: Any) -> None:
    # test_masking compares the shares with masking.BERT_SPLIT, so a wrong constant would pass there.
    # The numbers come from the BERT paper: of the chosen tokens 80% [MASK], 10% random, 10% unchanged.
    ids = np.tile(np.arange(1000, 1500, dtype=np.int64), (40, 1))  # 20,000 ordinary tokens
    masked, labels = mask_tokens(ids, bert_tokenizer, mlm_probability=0.5, seed=31)
    chosen = labels.numpy() != IGNORE_INDEX
    after, before = masked.numpy()[chosen], ids[chosen]
    k = int(chosen.sum())
    to_mask = after == bert_tokenizer.mask_token_id
    kept = after == before  # a random draw of the token itself (p = 1/~2900) counts here: negligible
    random = ~to_mask & ~kept
    for name, share, want in (("[MASK]", to_mask.mean(), 0.8), ("random", random.mean(), 0.1),
                              ("unchanged", kept.mean(), 0.1)):
        assert abs(share - want) < 4 * binomial_se(want, k), (name, share, want)


def test_every_ordinary_token_can_be_the_random_replacement(tokenizer: Any) -> None:
    # An exclusive upper bound used as inclusive (maxval=len - 1) would never draw the last id.
    info = vocabulary_info(tokenizer)
    ids = np.tile(info.random_ids[:1000], (600, 1))  # 600,000 ordinary tokens
    masked, labels = mask_tokens(ids, tokenizer, mlm_probability=0.98, seed=5)
    masked, chosen = masked.numpy(), labels.numpy() != IGNORE_INDEX
    replaced = masked[chosen & (masked != tokenizer.mask_token_id) & (masked != ids)]
    # about 0.98 * 0.1 * 600,000 = 58,800 random draws over ~2,900 ids: ~20 per id, so every id
    # appears unless one can never be drawn (chance of a miss otherwise about 2,900 * e**-20)
    assert len(replaced) > 50_000
    assert set(np.unique(replaced).tolist()) == set(info.random_ids.tolist())


def test_vocabulary_info_follows_a_tokenizer_grown_in_place(bert_tokenizer: Any) -> None:
    grown = copy.deepcopy(bert_tokenizer)  # never change the shared session tokenizer
    before = vocabulary_info(grown)
    grown.add_tokens(["zzzquux"])  # the same object, one token more
    after = vocabulary_info(grown)
    new_id = grown.convert_tokens_to_ids("zzzquux")
    assert after.size == before.size + 1 == len(grown)
    assert new_id in after.random_ids
    masked, labels = mask_tokens([[grown.cls_token_id, new_id, grown.sep_token_id]], grown, seed=1)
    assert masked.shape == labels.shape == (1, 3)


@pytest.fixture(scope="module")
def sentencepiece_style_tokenizer() -> Any:
    """A tiny in-memory tokenizer whose pieces mark word starts with SentencePiece's "▁"."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3, "<mask>": 4,
             "▁the": 5, "▁cat": 6, "s": 7, "▁sat": 8, "ting": 9, "▁on": 10, "▁mat": 11}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                   bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
                                   mask_token="<mask>")


def test_sentencepiece_word_start_marker_is_recognised(sentencepiece_style_tokenizer: Any) -> None:
    tok = sentencepiece_style_tokenizer
    info = vocabulary_info(tok)
    the, cat, s, sat, ting, start = tok.convert_tokens_to_ids(["▁the", "▁cat", "s", "▁sat", "ting", "<s>"])
    assert info.continues_word[[the, cat, s, sat, ting, start]].tolist() == [False, False, True, False, True, False]
    # whole-word masking: "▁cat s" and "▁sat ting" go together, but different words are drawn apart
    row = [start, the, cat, s, sat, ting, tok.sep_token_id]
    separate = 0
    for seed in range(40):
        _, labels = mask_tokens([row], tok, mlm_probability=0.5, seed=seed, whole_word=True)
        chosen = labels.numpy()[0] != IGNORE_INDEX
        assert chosen[2] == chosen[3] and chosen[4] == chosen[5], seed
        separate += int(not (chosen[1] == chosen[2] == chosen[4]))
    assert separate > 0, "the three words were always chosen together: they were treated as one word"
