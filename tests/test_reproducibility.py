"""Same seed, same numbers: masks, evaluation scores and the seeding done by ``notebook_setup``.

The notebooks print masks, perplexities and random draws, and nbval compares those outputs with the
stored ones, so every one of them must come out the same on every run. Each test also checks that a
different seed gives different numbers, so a helper that ignored its seed (or returned constants)
fails too. One test compares a fresh Python process with this one: a re-run notebook kernel must see
the very numbers a previous kernel saw.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from mlm_tutorial.chunking import chunk_texts
from mlm_tutorial.evaluation import fixed_masks, masked_lm_score
from mlm_tutorial.masking import IGNORE_INDEX, mask_tokens
from mlm_tutorial.setup import notebook_setup

SEED = 2024


@pytest.fixture(scope="module")
def texts(news_corpus: Any) -> list[str]:
    return list(news_corpus["test"]["text"][:24])


@pytest.fixture(scope="module", params=["bert", "roberta"])
def family(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def tokenizer(family: str, bert_tokenizer: Any, roberta_tokenizer: Any) -> Any:
    return bert_tokenizer if family == "bert" else roberta_tokenizer


@pytest.fixture(scope="module")
def chunks(texts: list[str], tokenizer: Any) -> np.ndarray:
    rows = chunk_texts(texts, tokenizer, chunk_size=64)
    assert rows.shape[0] >= 16
    return rows[:16]


@pytest.fixture(scope="module")
def bert_chunks(texts: list[str], bert_tokenizer: Any) -> np.ndarray:
    return chunk_texts(texts, bert_tokenizer, chunk_size=64)[:16]


@pytest.fixture
def reseed_afterwards() -> Iterator[None]:
    """Leave the process seeded as conftest's ``tf_ready`` left it (seed 42) for the tests that follow."""
    yield
    notebook_setup(seed=42, verbose=False)


def _masks(ids: Any, tokenizer: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    masked, labels = mask_tokens(ids, tokenizer, **kwargs)
    return masked.numpy(), labels.numpy()


# --------------------------------------------------------------------------- mask_tokens


@pytest.mark.parametrize("strategy, whole_word", [("bert", False), ("mask_only", False), ("bert", True)])
def test_mask_tokens_same_seed_same_masks_other_seed_other_masks(chunks: np.ndarray, tokenizer: Any,
                                                                 strategy: str, whole_word: bool) -> None:
    options = dict(strategy=strategy, whole_word=whole_word)
    first = _masks(chunks, tokenizer, seed=SEED, **options)
    second = _masks(chunks, tokenizer, seed=SEED, **options)
    other = _masks(chunks, tokenizer, seed=SEED + 1, **options)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert (first[1] != IGNORE_INDEX).any(), "nothing was masked: the comparison would prove nothing"
    assert not np.array_equal(first[1], other[1]), "a different seed must choose other tokens"
    assert not np.array_equal(first[0], other[0])


def test_seeded_masks_ignore_the_global_random_state(bert_chunks: np.ndarray, bert_tokenizer: Any,
                                                     reseed_afterwards: None) -> None:
    import tensorflow as tf

    tf.random.set_seed(1)
    first = _masks(bert_chunks, bert_tokenizer, seed=SEED)
    tf.random.set_seed(987)
    tf.random.uniform([10])  # move TensorFlow's global random state on
    np.random.seed(5)
    second = _masks(bert_chunks, bert_tokenizer, seed=SEED)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert (first[1] != IGNORE_INDEX).any(), "nothing was masked: the comparison would prove nothing"
    tf.random.set_seed(1)
    unseeded = _masks(bert_chunks, bert_tokenizer)  # the same global state, no seed of its own: other masks
    assert not np.array_equal(first[1], unseeded[1])


def test_mask_tokens_seeded_in_a_graph_equals_eager(bert_chunks: np.ndarray, bert_tokenizer: Any) -> None:
    import tensorflow as tf

    @tf.function
    def masked_in_graph(ids: Any) -> Any:
        return mask_tokens(ids, bert_tokenizer, seed=SEED)

    eager = _masks(bert_chunks, bert_tokenizer, seed=SEED)
    graph = [t.numpy() for t in masked_in_graph(tf.constant(bert_chunks))]
    np.testing.assert_array_equal(eager[0], graph[0])
    np.testing.assert_array_equal(eager[1], graph[1])


# --------------------------------------------------------------------------- evaluation


def test_fixed_masks_are_the_same_twice(chunks: np.ndarray, tokenizer: Any) -> None:
    first = fixed_masks(chunks, tokenizer)
    second = fixed_masks(chunks, tokenizer)
    assert isinstance(first[0], np.ndarray) and isinstance(first[1], np.ndarray)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert (first[1] != IGNORE_INDEX).sum() > 0
    other = fixed_masks(chunks, tokenizer, seed=4321)
    assert not np.array_equal(first[1], other[1]), "the seed must matter"


def test_masked_lm_score_on_the_bundled_model_is_the_same_twice(mlm_model: Any, bert_chunks: np.ndarray,
                                                               bert_tokenizer: Any) -> None:
    masked, labels = fixed_masks(bert_chunks, bert_tokenizer)
    first = masked_lm_score(mlm_model, masked, labels, batch_size=8)
    second = masked_lm_score(mlm_model, masked, labels, batch_size=8)
    assert first == second  # bit for bit: loss, perplexity, accuracy and the token count
    assert first.masked_tokens == int((labels != IGNORE_INDEX).sum())
    assert np.isfinite(first.loss) and first.loss > 0
    # a fresh pair of masks with the default seed gives the same score again
    again = masked_lm_score(mlm_model, *fixed_masks(bert_chunks, bert_tokenizer), batch_size=8)
    assert again == first
    other = masked_lm_score(mlm_model, *fixed_masks(bert_chunks, bert_tokenizer, seed=99), batch_size=8)
    assert other.loss != first.loss


# --------------------------------------------------------------------------- notebook_setup


def _draws() -> dict[str, list[float]]:
    """One draw from every random source a notebook uses: TF (eager and a Keras initializer), NumPy, Python."""
    import tensorflow as tf
    import tf_keras

    layer = tf_keras.layers.Dense(3)
    layer.build((None, 2))
    return {
        "tf.uniform": tf.random.uniform([4]).numpy().tolist(),
        "tf.normal": tf.random.normal([3]).numpy().tolist(),
        "keras.kernel": layer.kernel.numpy().ravel().tolist(),
        "numpy": np.random.rand(3).tolist(),
        "python": [random.random()],
    }


def test_notebook_setup_gives_identical_random_draws_twice(reseed_afterwards: None) -> None:
    notebook_setup(seed=SEED, verbose=False)
    first = _draws()
    notebook_setup(seed=SEED, verbose=False)
    second = _draws()
    notebook_setup(seed=SEED + 1, verbose=False)
    other = _draws()
    assert first == second
    for source in first:
        assert first[source] != other[source], f"{source} ignored the seed"


_CHILD = textwrap.dedent(
    """
    import json

    from mlm_tutorial.setup import notebook_setup

    notebook_setup(seed={seed}, verbose=False)
    import tensorflow as tf
    from mlm_tutorial.masking import mask_tokens
    from mlm_tutorial.resources import load_tokenizer

    draws = tf.random.uniform([4]).numpy().tolist()
    ids = json.loads({ids!r})
    tokenizer = load_tokenizer("auto")
    masked, labels = mask_tokens(ids, tokenizer, seed={seed})
    print("RESULT" + json.dumps({{"draws": draws, "masked": masked.numpy().tolist(), "labels": labels.numpy().tolist()}}))
    """
)


def test_a_fresh_process_sees_the_same_draws_and_masks(bert_chunks: np.ndarray, bert_tokenizer: Any,
                                                      reseed_afterwards: None) -> None:
    import tensorflow as tf

    ids = bert_chunks[:4]
    code = _CHILD.format(seed=SEED, ids=json.dumps(ids.tolist()))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT"))
    child = json.loads(line[len("RESULT"):])

    notebook_setup(seed=SEED, verbose=False)
    here = tf.random.uniform([4]).numpy().tolist()
    masked, labels = _masks(ids, bert_tokenizer, seed=SEED)
    assert child["draws"] == here
    np.testing.assert_array_equal(np.array(child["masked"]), masked)
    np.testing.assert_array_equal(np.array(child["labels"]), labels)
