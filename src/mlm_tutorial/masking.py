"""BERT's masking rule, vectorized in TensorFlow.

Introduced in notebook 03 (masking tokens) and used for training and evaluation in notebook 04.
``mask_tokens`` chooses tokens with stateless random ops, so a seed gives exactly the same masks
every time, and the function runs eagerly, inside ``tf.function`` and inside ``tf.data.Dataset.map``.
Special and padding tokens are found through the tokenizer (``all_special_ids``); no id is
hard-coded.
"""

from __future__ import annotations

import numbers
import re
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

STRATEGIES = ("bert", "mask_only")
#: BERT's split of the chosen tokens: [MASK], random token, unchanged.
BERT_SPLIT = (0.8, 0.1, 0.1)
IGNORE_INDEX = -100
_UNUSED = re.compile(r"^\[unused\d+\]$")
#: Markers that open a new word in byte-level BPE (``Ġ``) and SentencePiece (``▁``) vocabularies.
_WORD_START_MARKERS = ("Ġ", "▁")
#: Second half of the stateless seed pair built from an int seed (any fixed constant would do).
_SEED_SALT = 0x4D4C4D
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class VocabularyInfo:
    """What masking needs to know about a tokenizer's vocabulary, as NumPy arrays.

    What :func:`vocabulary_info` returns (notebook 03).
    """

    size: int
    mask_id: int
    special_ids: np.ndarray  # every id that must never be chosen (specials incl. padding)
    random_ids: np.ndarray  # ids a "random token" may be drawn from
    continues_word: np.ndarray  # bool per id: this piece continues the previous word

    @property
    def is_special(self) -> np.ndarray:
        """Bool per id: True for the ids in :attr:`special_ids`."""
        table = np.zeros(self.size, dtype=bool)
        table[self.special_ids] = True
        return table


#: Per tokenizer object: a weak reference to it (so a recycled ``id`` is never mistaken for it) and its info.
_cache: dict[tuple[Any, ...], tuple[Any, VocabularyInfo]] = {}


def _tokenizer_key(tokenizer: Any) -> tuple[Any, ...]:
    return (id(tokenizer), getattr(tokenizer, "name_or_path", ""), len(tokenizer), tuple(tokenizer.all_special_ids))


def _continuation_flags(tokenizer: Any, tokens: list[str]) -> np.ndarray:
    """Bool per id: True when the piece continues the word before it.

    WordPiece marks continuations (``##ing``); byte-level BPE and SentencePiece mark word
    starts instead (``Ġthe``, ``▁the``), so every piece without the marker continues a word.
    """
    backend = getattr(getattr(tokenizer, "backend_tokenizer", None), "model", None)
    if backend is not None:
        wordpiece = type(backend).__name__ == "WordPiece"
    else:
        wordpiece = any(t.startswith("##") for t in tokens[:2000])
    if wordpiece:
        return np.array([t.startswith("##") for t in tokens], dtype=bool)
    counts = [sum(t.startswith(m) for t in tokens) for m in _WORD_START_MARKERS]
    marker = _WORD_START_MARKERS[int(np.argmax(counts))]
    return np.array([not t.startswith(marker) for t in tokens], dtype=bool)


def vocabulary_info(tokenizer: Any) -> VocabularyInfo:
    """Special ids, the ids random replacements come from, and word-continuation flags.

    Introduced in notebook 03. A WordPiece piece continues a word when it starts with ``##``; in
    byte-level BPE a piece starts a word when it starts with the space marker ``Ġ``, so
    punctuation written without a space joins the word before it. The first piece after a special
    token always starts a word (this is applied in :func:`mask_tokens`).
    """
    if not hasattr(tokenizer, "convert_ids_to_tokens") or not hasattr(tokenizer, "all_special_ids"):
        raise TypeError(
            f"tokenizer must be a transformers tokenizer, got {type(tokenizer).__name__}. "
            "Load one with mlm_tutorial.resources.load_tokenizer()."
        )
    if getattr(tokenizer, "mask_token_id", None) is None:
        raise ValueError(
            f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r} has no mask token, so it cannot be used "
            "for masked language modeling. Use a masked-LM tokenizer (BERT, DistilBERT, RoBERTa)."
        )
    key = _tokenizer_key(tokenizer)
    if key in _cache:
        owner, info = _cache[key]
        if owner() is tokenizer:
            return info
    size = len(tokenizer)
    tokens = [t or "" for t in tokenizer.convert_ids_to_tokens(list(range(size)))]
    special = np.array(sorted(set(tokenizer.all_special_ids)), dtype=np.int64)
    is_special = np.zeros(size, dtype=bool)
    is_special[special] = True
    unused = np.array([bool(_UNUSED.match(t)) for t in tokens], dtype=bool)
    random_ids = np.flatnonzero(~is_special & ~unused).astype(np.int64)
    continues = _continuation_flags(tokenizer, tokens) & ~is_special
    info = VocabularyInfo(size, int(tokenizer.mask_token_id), special, random_ids, continues)
    try:
        _cache[key] = (weakref.ref(tokenizer), info)
    except TypeError:  # an object that allows no weak reference is simply not cached
        pass
    return info


def check_masking_arguments(mlm_probability: Any, strategy: Any, seed: Any, whole_word: Any) -> None:
    """Raise a clear ``TypeError``/``ValueError`` for masking arguments :func:`mask_tokens` cannot use.

    :func:`mask_tokens` (notebook 03) calls it first; ``training_dataset``, ``run_settings`` and
    ``fit_mlm`` (notebook 04) call it too, so a bad value is named before ``tf.data`` traces anything.
    """
    if isinstance(mlm_probability, (bool, np.bool_)) or not isinstance(mlm_probability, numbers.Real):
        raise TypeError(
            f"mlm_probability must be a number strictly between 0 and 1, got {mlm_probability!r} "
            f"({type(mlm_probability).__name__}). BERT uses 0.15."
        )
    if not 0.0 < float(mlm_probability) < 1.0:
        raise ValueError(
            f"mlm_probability must lie strictly between 0 and 1, got {mlm_probability!r}. "
            "BERT uses 0.15."
        )
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        raise ValueError(
            f"unknown masking strategy {strategy!r}; valid strategies are {', '.join(map(repr, STRATEGIES))}."
        )
    if not isinstance(whole_word, (bool, np.bool_)):
        raise TypeError(f"whole_word must be True or False, got {whole_word!r}.")
    if seed is None or _is_seed_pair(seed):
        return
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"seed must be an int, an integer tf.Tensor pair such as tf.constant([step, 42]), or None; "
            f"got {seed!r} ({type(seed).__name__})."
        )
    if not _INT64_MIN <= int(seed) <= _INT64_MAX:
        raise ValueError(f"seed must fit in 64 bits, got {seed!r}. Use a smaller int such as 42.")


def _is_seed_pair(seed: Any) -> bool:
    import tensorflow as tf

    return isinstance(seed, tf.Tensor) and seed.dtype.is_integer and seed.shape.as_list() == [2]


def _as_ids(input_ids: Any, size: int) -> Any:
    """``input_ids`` as an integer ``tf.Tensor``, checked against the vocabulary size."""
    import tensorflow as tf

    if isinstance(input_ids, tf.RaggedTensor):
        raise TypeError(
            "input_ids is a tf.RaggedTensor; mask_tokens needs rows of one length. "
            "Pad them first (tokenizer(..., padding=True)) or call .to_tensor(default_value=pad_id)."
        )
    if isinstance(input_ids, (tf.Tensor, tf.Variable)):
        ids = tf.convert_to_tensor(input_ids)
    else:
        try:
            array = np.asarray(input_ids)
        except ValueError:
            array = np.asarray(input_ids, dtype=object)
        if array.dtype == object:
            raise TypeError(
                "input_ids must be a rectangular array of integer ids, but its rows differ in length or "
                "hold non-numbers. Pad the rows to one length (tokenizer(..., padding=True))."
            )
        if array.dtype.kind not in "iu":
            raise TypeError(
                f"input_ids must hold integer token ids, got dtype {array.dtype}. "
                "Pass the tokenizer's input_ids (int32 or int64), not embeddings, floats or strings."
            )
        ids = tf.convert_to_tensor(array)
    if not ids.dtype.is_integer:
        raise TypeError(
            f"input_ids must hold integer token ids, got dtype {ids.dtype.name}. "
            "Pass the tokenizer's input_ids (int32 or int64), not embeddings, floats or strings."
        )
    if ids.dtype.is_unsigned:
        raise TypeError(
            f"input_ids has the unsigned dtype {ids.dtype.name}, which cannot hold the label -100. "
            "Cast the ids to int32 or int64 first."
        )
    if ids.dtype.max < size - 1:
        raise TypeError(
            f"input_ids has dtype {ids.dtype.name}, which cannot hold the tokenizer's ids up to {size - 1} (the "
            "[MASK] id and random replacements would overflow). Cast the ids to int32 or int64 first."
        )
    if ids.shape.rank is not None and ids.shape.rank not in (1, 2):
        raise ValueError(
            f"input_ids must be 1-D (one sequence) or 2-D (a batch of equal-length rows), got shape {ids.shape}."
        )
    if tf.executing_eagerly():
        if int(tf.size(ids)) == 0:
            raise ValueError(f"input_ids is empty (shape {ids.shape}). Tokenize at least one text first.")
        low, high = int(tf.reduce_min(ids)), int(tf.reduce_max(ids))
        if low < 0 or high >= size:
            bad = low if low < 0 else high
            raise ValueError(
                f"input_ids holds id {bad}, outside the tokenizer's vocabulary 0..{size - 1}. "
                "Were the ids made by a different tokenizer? Use the tokenizer that produced them."
            )
    else:
        # In a graph the values are unknown until run time: check them before any lookup uses them.
        checks = [
            tf.debugging.Assert(tf.reduce_all(ids >= 0),
                                ["input_ids holds a negative id, outside the vocabulary of the tokenizer"]),
            tf.debugging.Assert(tf.reduce_all(tf.cast(ids, tf.int64) < size),
                                [f"input_ids holds an id outside the vocabulary of the tokenizer (0..{size - 1}); "
                                 "use the tokenizer that produced the ids"]),
        ]
        with tf.control_dependencies(checks):
            ids = tf.identity(ids)
    return ids


_generator: dict[str, Any] = {}


def _graph_generator() -> Any:
    """The ``tf.random.Generator`` that seeds ``seed=None`` calls traced in a graph.

    A stateful op such as ``tf.random.uniform`` inside ``tf.data.Dataset.map`` restarts from the
    same state on every new iterator, so each epoch would get the very same "fresh" masks. A
    generator keeps its state in a variable that outlives iterators and ``tf.function`` calls. It
    is created once per process, outside any graph, seeded from TensorFlow's global random state
    (so ``tf.random.set_seed`` before its first use makes a run reproducible).
    """
    import tensorflow as tf

    if "generator" not in _generator:
        with tf.init_scope():
            start = tf.random.uniform([], minval=0, maxval=_INT64_MAX, dtype=tf.int64)
            _generator["generator"] = tf.random.Generator.from_seed(int(start))
    return _generator["generator"]


def _seed_tensor(seed: Any) -> Any:
    """A stateless seed pair (shape ``[2]``, int64) for ``seed``; a fresh one when ``seed`` is None."""
    import tensorflow as tf

    if _is_seed_pair(seed):
        return tf.cast(seed, tf.int64)
    if seed is None:
        if tf.executing_eagerly():
            return tf.random.uniform([2], minval=0, maxval=2**31 - 1, dtype=tf.int64)
        return _graph_generator().uniform_full_int([2], dtype=tf.int64)
    return tf.constant([int(seed), _SEED_SALT], dtype=tf.int64)


def mask_tokens(
    input_ids: Any,
    tokenizer: Any,
    mlm_probability: float = 0.15,
    strategy: str = "bert",
    seed: Any = None,
    whole_word: bool = False,
) -> tuple[Any, Any]:
    """Mask a batch of token ids for masked language modeling.

    Introduced in notebook 03; notebook 04 uses it for training (fresh masks) and, through
    :func:`mlm_tutorial.evaluation.fixed_masks`, for evaluation (seeded masks).

    Each non-special, non-padding token is chosen with probability ``mlm_probability``
    (``whole_word=True``: each word, so all its pieces are chosen together). With
    ``strategy="bert"`` 80% of the chosen become the mask token, 10% a random non-special token and
    10% stay as they are; with ``strategy="mask_only"`` all chosen become the mask token.

    Returns ``(masked_input_ids, labels)``: tensors with the input's shape and dtype; ``labels``
    holds the original id where a token was chosen and -100 elsewhere. The same int ``seed`` gives
    the same result; ``seed=None`` draws fresh masks on every call, and inside ``tf.data`` on every
    element of every epoch. Inside ``tf.data`` a seed may also be an integer tensor pair such as
    ``tf.stack([step, 42])``: fresh masks per step that are still reproducible.

    Raises ``ValueError`` for ``mlm_probability`` outside (0, 1), an unknown ``strategy``, a
    tokenizer without a mask token and ids outside the vocabulary; ``TypeError`` for non-integer
    ids and arguments of the wrong type. Inside ``tf.function`` or ``tf.data`` the ids are only known
    when the graph runs, so ids outside the vocabulary raise ``tf.errors.InvalidArgumentError`` then, as
    does a rank other than 1 or 2 in a function traced for inputs of any shape.
    """
    import tensorflow as tf

    check_masking_arguments(mlm_probability, strategy, seed, whole_word)
    info = vocabulary_info(tokenizer)
    ids = _as_ids(input_ids, info.size)
    squeeze = ids.shape.rank == 1
    run_time_shape = None
    if squeeze:
        ids = ids[tf.newaxis, :]
    elif ids.shape.rank is None:
        # A tf.function traced for any shape: the rank is known only when it runs. Check it then, and
        # work on rows (one row for 1-D input) so that the per-row steps below hold for both ranks.
        with tf.control_dependencies([tf.debugging.assert_rank_in(
                ids, [1, 2], message="input_ids must be 1-D (one sequence) or 2-D (a batch of equal-length rows)")]):
            run_time_shape = tf.shape(ids)
        ids = tf.reshape(ids, [-1, run_time_shape[-1]])
    dtype = ids.dtype
    # The lookups need int32 or int64 indices; everything else stays in the input's dtype.
    index = ids if dtype in (tf.int32, tf.int64) else tf.cast(ids, tf.int64)
    shape = tf.shape(ids)

    is_special = tf.gather(tf.constant(info.is_special), index)
    seeds = tf.random.experimental.stateless_split(_seed_tensor(seed), num=3)
    draw = tf.random.stateless_uniform(shape, seed=seeds[0])
    if whole_word:
        continues = tf.gather(tf.constant(info.continues_word), index)
        previous_special = tf.pad(is_special[:, :-1], [[0, 0], [1, 0]], constant_values=True)
        starts = tf.logical_or(tf.logical_not(continues), previous_special)
        # word_index[b, t]: which word of row b token t belongs to; one draw per word.
        word_index = tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1
        draw = tf.gather(draw, word_index, batch_dims=1)
    chosen = tf.logical_and(draw < float(mlm_probability), tf.logical_not(is_special))

    labels = tf.where(chosen, ids, tf.constant(IGNORE_INDEX, dtype))
    mask_id = tf.constant(info.mask_id, dtype)
    if strategy == "mask_only":
        masked = tf.where(chosen, mask_id, ids)
    else:
        split = tf.random.stateless_uniform(shape, seed=seeds[1])
        pick = tf.random.stateless_uniform(shape, seed=seeds[2], minval=0, maxval=len(info.random_ids), dtype=tf.int64)
        random_tokens = tf.gather(tf.constant(info.random_ids.astype(dtype.as_numpy_dtype)), pick)
        # Notebook 03's rule with fewer steps: split < 0.8 gives the mask token (80%), 0.8 <= split < 0.9
        # a random ordinary token (10%); a chosen token with split >= 0.9 keeps its own id (10%).
        replacement = tf.where(split < BERT_SPLIT[0], mask_id, random_tokens)
        masked = tf.where(chosen & (split < BERT_SPLIT[0] + BERT_SPLIT[1]), replacement, ids)
    if squeeze:
        masked, labels = masked[0], labels[0]
    elif run_time_shape is not None:
        masked, labels = tf.reshape(masked, run_time_shape), tf.reshape(labels, run_time_shape)
    return masked, labels
