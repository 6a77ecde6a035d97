"""Fine-tuning a masked language model on one news category with Keras ``model.fit``.

Introduced in notebook 04. The pieces, in the order the notebook uses them:

- run profiles (:func:`get_profile`, :func:`peak_learning_rate`): ``quick`` for a CPU (under a minute with the
  bundled model), ``full`` for a GPU;
- data (:func:`domain_chunks`, :func:`training_dataset`, :func:`evaluation_dataset`): packed chunks,
  fresh masks every step that are still reproducible, fixed masks for evaluation;
- the learning-rate plan (:func:`plan_training`, :func:`make_schedule`, :func:`make_optimizer`):
  AdamW, linear warm-up that ends well before training does, then linear decay to zero;
- hardware (:func:`configure_mixed_precision`, :func:`choose_strategy`);
- the fast path (:func:`fast_masked_lm`, :func:`build_trainer`): the vocabulary head and the last
  encoder layer run only where a token is masked (:func:`encoder_stages`, notebook 05);
- resuming (:class:`CheckpointKeeper`) and saving (:func:`save_model`); :func:`fit_mlm` packages
  the notebook's training cells for reuse.

TensorFlow and transformers are imported inside the functions, so importing this module is cheap;
call :func:`mlm_tutorial.setup.notebook_setup` first (it selects Keras 2, which transformers needs).
"""

from __future__ import annotations

import functools
import json
import math
import numbers
import os
import shutil
import tempfile
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlm_tutorial.masking import IGNORE_INDEX, check_masking_arguments
from mlm_tutorial.resources import LABELS
from mlm_tutorial.paths import refuse_source_tree, write_text_atomic

PROFILE_ENV = "MLM_TUTORIAL_PROFILE"


# --------------------------------------------------------------------------- run profiles


#: A model with fewer parameters than this is one of the series' small bundled models (under a million
#: parameters); a bigger one is a full-size pretrained checkpoint (distilbert-base-uncased: 66 million).
SMALL_MODEL_PARAMETERS = 10_000_000
#: Peak learning rate for a small model: it is small and has seen little text, so it takes large steps.
SMALL_MODEL_LEARNING_RATE = 1e-3


@dataclass(frozen=True)
class RunProfile:
    """How big a fine-tuning run is: data sizes, schedule and what it is meant to run on.

    ``learning_rate`` is the peak for a full-size pretrained checkpoint; :func:`peak_learning_rate`
    gives a small model ``SMALL_MODEL_LEARNING_RATE`` instead. ``max_steps`` caps a run on a large
    corpus: the number of epochs is cut until the run fits (at least one epoch).

    What :func:`get_profile` returns (notebook 04).
    """

    name: str
    chunk_size: int
    batch_size: int
    epochs: int
    max_steps: int | None
    learning_rate: float
    warmup_ratio: float
    weight_decay: float
    max_eval_chunks: int | None
    expected_time: str

    def describe(self, width: int = 80) -> str:
        """One line per setting, for the notebook's parameter cell; a value too long for ``width`` characters
        (a PDF page's line) goes on under itself."""
        import textwrap

        wrap = textwrap.TextWrapper(_check_int("width", width, 32), subsequent_indent=" " * 16, break_long_words=False, break_on_hyphens=False)
        return "\n".join(line for key, value in asdict(self).items() for line in wrap.wrap(f"{key:<16}{value}"))


PROFILES: dict[str, RunProfile] = {
    "quick": RunProfile(
        name="quick", chunk_size=128, batch_size=16, epochs=20, max_steps=220, learning_rate=5e-5,
        warmup_ratio=0.1, weight_decay=0.01, max_eval_chunks=64,
        # DistilBERT-size model (vocabulary 30,522), 220 steps of the fast path: fit took 317 s, or 358 s with
        # notebook 04's per-epoch validation, on 2 cores whose fp32 matmul peak measured 533 GFLOP/s.
        expected_time="under a minute of training on 2 CPU cores with the bundled bert-mini-news; about 6 "
                      "minutes with distilbert-base-uncased on 2 cores that reach 530 GFLOP/s in matmuls "
                      "(make bench measures yours), longer on slower ones",
    ),
    "full": RunProfile(
        name="full", chunk_size=128, batch_size=32, epochs=4, max_steps=None, learning_rate=5e-5,
        warmup_ratio=0.1, weight_decay=0.01, max_eval_chunks=200,
        expected_time="about 5-10 minutes on one Colab T4 GPU, downloads included (distilbert-base-uncased)",
    ),
}


def get_profile(name: str | None = None) -> RunProfile:
    """The run profile called ``name``; ``None`` means ``$MLM_TUTORIAL_PROFILE`` or else ``"quick"``.

    Introduced in notebook 04.
    """
    if name is None:
        name = os.environ.get(PROFILE_ENV, "").strip() or "quick"
    if not isinstance(name, str):
        raise TypeError(f"profile name must be a string such as 'quick', got {type(name).__name__}.")
    if name not in PROFILES:
        raise ValueError(
            f"unknown run profile {name!r} (from the argument or ${PROFILE_ENV}); "
            f"choose one of {sorted(PROFILES)}."
        )
    return PROFILES[name]


def peak_learning_rate(profile: RunProfile, parameters: int) -> float:
    """The peak learning rate for fine-tuning a model of ``parameters`` parameters with ``profile``.

    Introduced in notebook 04. A full-size pretrained checkpoint gets the profile's ``learning_rate``
    (5e-5, in the range BERT's authors fine-tuned with); a model under ``SMALL_MODEL_PARAMETERS``, such
    as the series' bundled ones, gets ``SMALL_MODEL_LEARNING_RATE``.
    """
    if not isinstance(profile, RunProfile):
        raise TypeError(f"profile must be a RunProfile from get_profile(), got {type(profile).__name__}.")
    parameters = _check_int("parameters", parameters, 1)
    return SMALL_MODEL_LEARNING_RATE if parameters < SMALL_MODEL_PARAMETERS else profile.learning_rate


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DomainData:
    """The chunks of one category: training rows from ``train``, held-out rows from ``test``.

    What :func:`domain_chunks` returns (notebook 04).
    """

    category: str
    label: int
    train_rows: np.ndarray
    validation_rows: np.ndarray

    @property
    def train_tokens(self) -> int:
        return int(self.train_rows.size)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    return int(value)


def _check_rows(name: str, rows: Any) -> np.ndarray:
    array = np.asarray(rows)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(
            f"{name} must be a non-empty 2-D array of token ids (chunks x chunk_size), got shape {array.shape}. "
            "Build it with mlm_tutorial.chunking.chunk_texts."
        )
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integer token ids, got dtype {array.dtype}.")
    return array


def category_label(category: str | int) -> int:
    """The label id of a category given by name (``"business"``) or id (``1``).

    Used by :func:`domain_chunks` (notebook 04).
    """
    if isinstance(category, bool):
        raise TypeError(f"category must be a name such as 'business' or a label id, got {category!r}.")
    if isinstance(category, (int, np.integer)):
        if int(category) not in LABELS:
            raise ValueError(f"category id {category} is unknown; valid ids are {LABELS}.")
        return int(category)
    if not isinstance(category, str):
        raise TypeError(f"category must be a name such as 'business' or a label id, got {type(category).__name__}.")
    by_name = {name: label for label, name in LABELS.items()}
    key = category.strip().lower()
    if key not in by_name:
        raise ValueError(f"unknown category {category!r}; choose one of {sorted(by_name)}.")
    return by_name[key]


def _split_texts(corpus: Any, split: str, label: int) -> list[str]:
    if not hasattr(corpus, "keys") or split not in corpus:
        raise ValueError(
            f"corpus must be a DatasetDict with a {split!r} split (from load_news_corpus), "
            f"got {type(corpus).__name__}."
        )
    data = corpus[split]
    columns = getattr(data, "column_names", None)
    if columns is None or not {"text", "label"} <= set(columns):
        raise ValueError(
            f"corpus[{split!r}] must be a dataset with columns 'text' and 'label' (from load_news_corpus), "
            f"got {type(data).__name__} with columns {columns}."
        )
    return [text for text, lab in zip(data["text"], data["label"]) if int(lab) == label]


def domain_chunks(corpus: Any, tokenizer: Any, category: str | int = "business", chunk_size: int = 128) -> DomainData:
    """Packed chunks of one category: ``train`` articles to learn from, ``test`` articles to validate on.

    The articles of each split are joined end to end and cut into rows of ``chunk_size`` ids
    (:func:`mlm_tutorial.chunking.chunk_texts`), so no position is padding.

    Introduced in notebook 04.
    """
    from mlm_tutorial.chunking import chunk_texts

    label = category_label(category)
    chunk_size = _check_int("chunk_size", chunk_size, 8)
    rows = {}
    for split in ("train", "test"):
        texts = _split_texts(corpus, split, label)
        if not texts:
            raise ValueError(
                f"the corpus's {split!r} split has no {LABELS[label]!r} articles (label {label}). "
                "Pick a category that occurs in both splits."
            )
        rows[split] = chunk_texts(texts, tokenizer, chunk_size)
    return DomainData(LABELS[label], label, rows["train"], rows["test"])


def category_chunks(corpus: Any, tokenizer: Any, split: str = "test", chunk_size: int = 128,
                    max_chunks: int | None = None) -> dict[str, np.ndarray]:
    """Packed chunks of every category in ``split``, keyed by category name (at most ``max_chunks`` each).

    Categories with less text than one chunk are left out.

    Introduced in notebook 04.
    """
    from mlm_tutorial.chunking import TooLittleText, chunk_texts

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    chunk_size = _check_int("chunk_size", chunk_size, 8)
    if max_chunks is not None:
        max_chunks = _check_int("max_chunks", max_chunks, 1)
    result: dict[str, np.ndarray] = {}
    for label, name in LABELS.items():
        texts = _split_texts(corpus, split, label)
        if not texts:
            continue
        try:
            rows = chunk_texts(texts, tokenizer, chunk_size)
        except TooLittleText:
            continue
        result[name] = rows[:max_chunks] if max_chunks else rows
    if not result:
        raise ValueError(f"no category in the {split!r} split has enough text for one chunk of {chunk_size} tokens.")
    return result


def steps_per_epoch(num_rows: int, batch_size: int) -> int:
    """Full batches in one pass over ``num_rows`` chunks (the incomplete last batch is dropped).

    Introduced in notebook 04.
    """
    num_rows = _check_int("num_rows", num_rows, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    if batch_size > num_rows:
        raise ValueError(
            f"batch_size {batch_size} is larger than the {num_rows} training chunks, so not one full batch "
            f"fits. Use a batch_size of at most {num_rows}, or more text."
        )
    return num_rows // batch_size


def training_dataset(rows: Any, tokenizer: Any, batch_size: int, total_steps: int, seed: int = 42,
                     start_step: int = 0, mlm_probability: float = 0.15, strategy: str = "bert") -> Any:
    """A ``tf.data`` pipeline of masked batches, one element per optimizer step ``start_step..total_steps-1``.

    Every element is a dict ``{"input_ids", "labels"}`` of shape ``(batch_size, chunk_size)``.
    Everything is a function of the global step: step ``s`` lies in epoch ``s // steps_per_epoch``,
    whose row order is a permutation seeded by ``(seed, epoch)``, and its masks come from
    ``mask_tokens(..., seed=tf.stack([s, seed]))``. So masks are fresh at every step, two runs with
    the same seed see identical batches, and a run resumed at step ``s`` continues exactly where an
    uninterrupted run would be.

    Introduced in notebook 04.
    """
    import tensorflow as tf

    from mlm_tutorial.masking import mask_tokens

    rows = _check_rows("rows", rows)
    batch_size = _check_int("batch_size", batch_size, 1)
    total_steps = _check_int("total_steps", total_steps, 1)
    seed = _check_int("seed", seed, 0)
    start_step = _check_int("start_step", start_step, 0)
    if start_step >= total_steps:
        raise ValueError(f"start_step {start_step} must be below total_steps {total_steps}: nothing is left to train.")
    check_masking_arguments(mlm_probability, strategy, seed, False)  # here, not inside tf.data's traceback
    per_epoch = steps_per_epoch(len(rows), batch_size)
    table = tf.constant(rows)
    count = len(rows)
    seed_t = tf.constant(seed, tf.int64)

    def make_batch(step: Any) -> dict[str, Any]:
        epoch = step // per_epoch
        order = tf.argsort(tf.random.stateless_uniform([count], seed=tf.stack([seed_t, epoch])))
        first = (step % per_epoch) * batch_size
        picked = tf.gather(table, order[first:first + batch_size])
        masked, labels = mask_tokens(picked, tokenizer, mlm_probability=mlm_probability, strategy=strategy,
                                     seed=tf.stack([step, seed_t]))
        return {"input_ids": masked, "labels": labels}

    data = tf.data.Dataset.range(start_step, total_steps).map(make_batch).prefetch(2)
    # Fixed, small buffers need no autotuning; with it on, deleting the iterator at the end of `fit` can
    # wait for up to seconds while the tuning thread finishes a sleep.
    options = tf.data.Options()
    options.autotune.enabled = False
    return data.with_options(options)


def evaluation_dataset(rows: Any, tokenizer: Any, batch_size: int = 32, seed: int = 1234,
                       mlm_probability: float = 0.15) -> Any:
    """Held-out rows masked once with a seed (``evaluation.fixed_masks``), batched for ``model.evaluate``.

    The masks never change, so the validation loss of a model is the same number every time.

    Introduced in notebook 04.
    """
    import tensorflow as tf

    from mlm_tutorial.evaluation import fixed_masks

    rows = _check_rows("rows", rows)
    batch_size = _check_int("batch_size", batch_size, 1)
    seed = _check_int("seed", seed, 0)
    masked, labels = fixed_masks(rows, tokenizer, seed=seed, mlm_probability=mlm_probability)
    return tf.data.Dataset.from_tensor_slices({"input_ids": masked, "labels": labels}).batch(batch_size)


# --------------------------------------------------------------------------- learning-rate plan


@dataclass(frozen=True)
class TrainPlan:
    """Step counts of a run; ``warmup_steps < total_steps`` always holds.

    What :func:`plan_training` returns (notebook 04).
    """

    train_rows: int
    batch_size: int
    epochs: int
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int
    learning_rate: float
    checkpoint_every: int
    epochs_asked: int

    @property
    def warmup_fraction(self) -> float:
        return self.warmup_steps / self.total_steps

    @property
    def fit_epochs(self) -> int:
        """How many Keras epochs ``fit`` runs: one per checkpoint interval."""
        return self.total_steps // self.checkpoint_every

    def describe(self) -> str:
        cut = f" ({self.epochs_asked} asked for, cut to respect max_steps)" if self.epochs < self.epochs_asked else ""
        return (f"{self.train_rows} chunks / batch {self.batch_size} = {self.steps_per_epoch} steps per epoch; "
                f"{self.epochs} epochs = {self.total_steps} steps{cut}\n"
                f"warm-up: {self.warmup_steps} steps = {self.warmup_fraction:.0%} of training, then linear decay to 0\n"
                f"peak learning rate {self.learning_rate:g}; checkpoint every {self.checkpoint_every} steps")


def plan_training(train_rows: int, batch_size: int, epochs: int, learning_rate: float,
                  warmup_ratio: float = 0.1, checkpoint_every: int | None = None,
                  max_steps: int | None = None) -> TrainPlan:
    """Count the steps of a run and place the warm-up, refusing a warm-up that never ends.

    ``warmup_steps = round(warmup_ratio * total_steps)``, at most ``total_steps - 1`` so that at least the
    last step decays (a ratio close to 1 on a short run would otherwise round up to the whole run);
    ``checkpoint_every`` defaults to one epoch
    and must divide the total number of steps. With ``max_steps``, ``epochs`` is cut to the most
    whole epochs that fit in ``max_steps`` steps (at least one).

    Introduced in notebook 04.
    """
    per_epoch = steps_per_epoch(train_rows, batch_size)
    asked = epochs = _check_int("epochs", epochs, 1)
    if max_steps is not None:
        epochs = max(1, min(epochs, _check_int("max_steps", max_steps, 1) // per_epoch))
    total = per_epoch * epochs
    if not _is_number(warmup_ratio):
        raise TypeError(f"warmup_ratio must be a number in [0, 1), got {warmup_ratio!r}.")
    if not 0.0 <= warmup_ratio < 1.0:
        raise ValueError(f"warmup_ratio must be in [0, 1) so that warm-up ends before training does, got {warmup_ratio}. "
                         "0.1 (10%) is usual.")
    _check_learning_rate(learning_rate)
    warmup = min(int(round(warmup_ratio * total)), total - 1)
    every = per_epoch if checkpoint_every is None else _check_int("checkpoint_every", checkpoint_every, 1)
    if total % every:
        raise ValueError(
            f"checkpoint_every={every} does not divide the {total} training steps; use a divisor of {total} "
            f"such as {per_epoch} (one epoch)."
        )
    return TrainPlan(int(train_rows), int(batch_size), epochs, per_epoch, total, warmup, float(learning_rate), every,
                     asked)


def _is_number(value: Any) -> bool:
    """A real number (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _check_learning_rate(learning_rate: Any) -> None:
    if not _is_number(learning_rate):
        raise TypeError(f"learning_rate must be a positive number such as 5e-5, got {learning_rate!r}.")
    if not 0.0 < learning_rate < 1.0 or not math.isfinite(learning_rate):
        raise ValueError(f"learning_rate must be between 0 and 1 (e.g. 5e-5), got {learning_rate}.")


def _schedule_class() -> Any:
    import tensorflow as tf
    import tf_keras

    class WarmupLinearDecay(tf_keras.optimizers.schedules.LearningRateSchedule):
        """``peak * (step + 1) / warmup`` up to the peak at step ``warmup - 1``, then a straight line to 0 at ``total``."""

        def __init__(self, peak: float, warmup_steps: int, total_steps: int) -> None:
            self.peak = float(peak)
            self.warmup_steps = int(warmup_steps)
            self.total_steps = int(total_steps)

        def __call__(self, step: Any) -> Any:
            step = tf.cast(step, tf.float32)
            peak_step = float(max(self.warmup_steps - 1, 0))
            warm = (step + 1.0) / float(max(self.warmup_steps, 1))
            decay = (float(self.total_steps) - step) / (float(self.total_steps) - peak_step)
            factor = tf.where(step < peak_step, warm, decay)
            return self.peak * tf.clip_by_value(factor, 0.0, 1.0)

        def get_config(self) -> dict[str, Any]:
            return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}

    return WarmupLinearDecay


def make_schedule(peak_learning_rate: float, total_steps: int, warmup_steps: int) -> Any:
    """AdamW's learning rate per step: linear warm-up to the peak, then linear decay to 0.

    Raises ``ValueError`` when ``warmup_steps >= total_steps``: such a warm-up never ends, the peak is
    never reached and nothing decays (the mistake of the best-known TF MLM tutorial).

    Introduced in notebook 04.
    """
    _check_learning_rate(peak_learning_rate)
    total_steps = _check_int("total_steps", total_steps, 1)
    warmup_steps = _check_int("warmup_steps", warmup_steps, 0)
    if warmup_steps >= total_steps:
        raise ValueError(
            f"warmup_steps ({warmup_steps}) must be smaller than total_steps ({total_steps}); otherwise the "
            f"learning rate never reaches its peak and never decays. Use about 10% of the steps, "
            f"e.g. warmup_steps={max(total_steps // 10, 0)}."
        )
    return _schedule_class()(peak_learning_rate, warmup_steps, total_steps)


def schedule_for(plan: TrainPlan) -> Any:
    """:func:`make_schedule` with the numbers of a :class:`TrainPlan`. Introduced in notebook 04."""
    if not isinstance(plan, TrainPlan):
        raise TypeError(f"plan must be a TrainPlan from plan_training(), got {type(plan).__name__}.")
    return make_schedule(plan.learning_rate, plan.total_steps, plan.warmup_steps)


def schedule_values(schedule: Any, total_steps: int | None = None) -> np.ndarray:
    """The learning rate at each step ``0..total_steps-1``, for plotting (``float64`` array).

    Introduced in notebook 04.
    """
    if not callable(schedule):
        raise TypeError(f"schedule must be a learning-rate schedule (callable), got {type(schedule).__name__}.")
    if total_steps is None:
        total_steps = getattr(schedule, "total_steps", None)
        if total_steps is None:
            raise ValueError("total_steps is needed for a schedule that does not know its own length.")
    total_steps = _check_int("total_steps", total_steps, 1)
    import tensorflow as tf

    return np.asarray(schedule(tf.range(total_steps)), dtype=np.float64)


@functools.cache
def _fused_adamw_class() -> Any:
    """``tf_keras`` AdamW whose dense updates run as one fused kernel per weight (created on first use).

    Keras's AdamW updates a weight with about ten separate element-wise operations, each a pass over the
    weight and its two moment estimates; TensorFlow's ``ResourceApplyAdam`` kernel does the same arithmetic
    (the moments, then ``lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon)``) in one pass.
    The decoupled weight decay is Keras's own step before it. Sparse gradients and AMSGrad keep Keras's code.
    """
    import tensorflow as tf
    import tf_keras

    class FusedAdamW(tf_keras.optimizers.AdamW):
        def update_step(self, gradient: Any, variable: Any) -> Any:
            if isinstance(gradient, tf.IndexedSlices) or self.amsgrad:
                return super().update_step(gradient, variable)
            dtype = variable.dtype
            step = tf.cast(self.iterations + 1, dtype)
            index = self._index_dict[self._var_key(variable)]
            return tf.raw_ops.ResourceApplyAdam(
                var=variable.handle, m=self._momentums[index].handle, v=self._velocities[index].handle,
                beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step),
                beta2_power=tf.pow(tf.cast(self.beta_2, dtype), step),
                lr=tf.cast(self.learning_rate, dtype), beta1=tf.cast(self.beta_1, dtype),
                beta2=tf.cast(self.beta_2, dtype), epsilon=tf.cast(self.epsilon, dtype), grad=gradient,
                use_locking=False, use_nesterov=False)

    return FusedAdamW


def make_optimizer(schedule: Any, weight_decay: float = 0.01, clipnorm: float | None = 1.0) -> Any:
    """``tf_keras`` AdamW driven by ``schedule``; LayerNorm weights and biases get no weight decay.

    Each gradient is clipped to norm ``clipnorm`` on its own (Keras's ``clipnorm``). Dense updates run as one
    fused kernel per weight (same arithmetic as Keras's AdamW, fewer passes over memory).

    Introduced in notebook 04.
    """
    if not callable(schedule) and not _is_number(schedule):
        raise TypeError(f"schedule must be a learning-rate schedule or a number, got {type(schedule).__name__}.")
    if _is_number(schedule):
        _check_learning_rate(schedule)
        schedule = float(schedule)
    if not _is_number(weight_decay) or not 0 <= weight_decay < math.inf:
        raise ValueError(f"weight_decay must be a finite number >= 0 (0.01 is usual), got {weight_decay!r}.")
    if clipnorm is not None and (not _is_number(clipnorm) or not 0 < clipnorm < math.inf):
        raise ValueError(f"clipnorm must be a finite positive number (1.0 is usual) or None, got {clipnorm!r}.")
    clipnorm = None if clipnorm is None else float(clipnorm)
    optimizer = _fused_adamw_class()(learning_rate=schedule, weight_decay=float(weight_decay), clipnorm=clipnorm)
    optimizer.exclude_from_weight_decay(var_names=["LayerNorm", "layer_norm", "bias"])
    return optimizer


# --------------------------------------------------------------------------- hardware


def configure_mixed_precision(enable: bool = True, verbose: bool = True) -> str:
    """Set Keras's global dtype policy and return its name: ``mixed_float16`` on a GPU, else ``float32``.

    Call it BEFORE building or loading the model: a layer takes its dtype policy when it is created,
    so a policy set afterwards changes nothing (another mistake of the best-known TF tutorial).
    On a CPU float16 matmuls are slower, not faster, so the policy stays ``float32``.

    Introduced in notebook 04.
    """
    import tensorflow as tf
    import tf_keras

    if not isinstance(enable, bool):
        raise TypeError(f"enable must be True or False, got {enable!r}.")
    gpus = tf.config.list_physical_devices("GPU")
    policy = "mixed_float16" if enable and gpus else "float32"
    tf_keras.mixed_precision.set_global_policy(policy)
    if verbose:
        why = f"{len(gpus)} GPU(s) found" if gpus else "no GPU"
        print(f"dtype policy: {policy} ({why}{'' if enable else ', mixed precision disabled'})")
    return policy


def _tpu_strategy() -> Any:
    import sys

    import tensorflow as tf

    if "google.colab" not in sys.modules and not any(k in os.environ for k in ("COLAB_TPU_ADDR", "TPU_NAME")):
        return None
    for address in (None, "local"):
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            return tf.distribute.TPUStrategy(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError, KeyError):
            continue
    return None


def choose_strategy(verbose: bool = True) -> Any:
    """The ``tf.distribute`` strategy for this machine.

    A TPU when running on Colab (or ``TPU_NAME`` is set) and a TPU answers; ``MirroredStrategy`` over
    all GPUs when there are several (or over all logical CPUs when the CPU was split into several
    logical devices, which is how the tests run the multi-replica path); otherwise the default
    strategy (one GPU, or the CPU). Build and compile the model inside ``strategy.scope()``.

    Introduced in notebook 04.
    """
    import tensorflow as tf

    if not isinstance(verbose, bool):
        raise TypeError(f"verbose must be True or False, got {verbose!r}.")
    strategy = _tpu_strategy()
    why = "a TPU answered"
    if strategy is None:
        gpus = tf.config.list_logical_devices("GPU")
        cpus = tf.config.list_logical_devices("CPU")
        if len(gpus) > 1:
            strategy, why = tf.distribute.MirroredStrategy([d.name for d in gpus]), f"{len(gpus)} GPUs"
        elif len(gpus) == 1:
            strategy, why = tf.distribute.get_strategy(), "one GPU"
        elif len(cpus) > 1:
            strategy = tf.distribute.MirroredStrategy([d.name for d in cpus])
            why = f"{len(cpus)} logical CPU devices"
        else:
            strategy, why = tf.distribute.get_strategy(), "CPU only"
    if verbose:
        print(f"strategy: {type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s) ({why})")
    return strategy


# --------------------------------------------------------------------------- the fast path


def _unsupported_family(model: Any) -> TypeError:
    return TypeError(
        f"the fast path knows BERT-, DistilBERT- and RoBERTa-family masked LMs; {type(model).__name__} is none "
        "of them. Train it with fast_head=False (the model's own loss)."
    )


def _main_layer(model: Any) -> Any:
    """The encoder (main layer) of a transformers TF masked LM, found through its ``base_model_prefix``."""
    prefix = getattr(model, "base_model_prefix", None)
    main = getattr(model, prefix, None) if prefix else None
    if main is None:
        raise TypeError(f"model must be a transformers TF masked LM, got {type(model).__name__}.")
    return main


def masked_lm_parts(model: Any) -> tuple[Any, Any]:
    """The encoder layer of a TF masked LM and its head as a function ``(N, hidden) -> (N, vocab)`` logits.

    Both use the model's own weights (the head includes the transform, the tied decoder and the bias).
    Raises ``TypeError`` for a model outside the BERT, DistilBERT and RoBERTa families.

    Used by `make assets` to pretrain the bundled models; notebook 05 takes the same steps by hand.
    """
    return _masked_lm_parts(model)


def _masked_lm_parts(model: Any) -> tuple[Any, Any]:
    """The encoder layer and a function hidden states -> vocabulary logits, using the model's own weights."""
    encoder = _main_layer(model)

    import tensorflow as tf

    def as_sequence(layer: Any) -> Any:
        # The HF heads reshape with the sequence length of a 3-D input: feed (1, N, hidden). Squeeze rather
        # than index: the gradient of a reshape is free, that of a slice fills a logits-sized tensor.
        return lambda hidden: tf.squeeze(layer(tf.expand_dims(hidden, 0)), axis=0)

    if hasattr(model, "mlm") and hasattr(model.mlm, "predictions"):  # BERT
        return encoder, as_sequence(model.mlm.predictions)
    if hasattr(model, "lm_head"):  # RoBERTa, XLM-R, CamemBERT
        return encoder, as_sequence(model.lm_head)
    if all(hasattr(model, n) for n in ("vocab_transform", "act", "vocab_layer_norm", "vocab_projector")):  # DistilBERT
        def distilbert_head(hidden: Any) -> Any:
            return model.vocab_projector(model.vocab_layer_norm(model.act(model.vocab_transform(hidden))))

        return encoder, as_sequence(distilbert_head)
    raise _unsupported_family(model)


def encoder_stages(model: Any) -> tuple[Any, Any]:
    """The encoder of a TF masked LM as ``(lower, last)``, two stages that use the model's own layers and weights.

    ``lower(input_ids, attention_mask, training) -> (hidden, mask)`` runs the embeddings and every layer but
    the last, and returns their output with the attention mask in the form the layers take.
    ``last(queries, hidden, mask, training, keep=None) -> outputs`` runs the last layer for the query rows
    ``queries`` (batch, m, hidden) only: their attention still looks at every position of ``hidden`` (keys
    and values), so each output row equals the stock model's last-layer output at that position. With a
    boolean ``keep`` (batch, m), the rows where it is False are dropped right after the attention (rows
    padded out to the same count per sequence) and the outputs come as a flat (kept rows, hidden) tensor.
    Introduced in notebook 05; ``FastMaskedLM`` uses it. Raises ``TypeError`` outside the BERT, DistilBERT
    and RoBERTa families.
    """
    import tensorflow as tf

    main = _main_layer(model)
    layers = getattr(getattr(main, "encoder", None), "layer", None)
    if layers is not None and hasattr(main, "embeddings"):  # BERT, RoBERTa
        if getattr(model.config, "is_decoder", False):
            raise TypeError("the fast path needs an encoder (config.is_decoder=False); train a decoder with "
                            "fast_head=False.")

        def lower_bert(input_ids: Any, attention_mask: Any, training: bool) -> tuple[Any, Any]:
            hidden = main.embeddings(input_ids=input_ids, training=training)
            if attention_mask is None:
                attention_mask = tf.ones_like(input_ids)
            # What the layers add to their attention scores: 0 where a row may attend, -10000 where it may not
            # (the same numbers the stock model computes, so both paths see identical scores).
            seen = tf.cast(attention_mask[:, tf.newaxis, tf.newaxis, :], hidden.dtype)
            mask = (1 - seen) * -10000
            for layer in layers[:-1]:
                hidden = layer(hidden_states=hidden, attention_mask=mask, head_mask=None, encoder_hidden_states=None,
                               encoder_attention_mask=None, past_key_value=None, output_attentions=False,
                               training=training)[0]
            return hidden, mask

        def last_bert(queries: Any, hidden: Any, mask: Any, training: bool, keep: Any = None) -> Any:
            layer = layers[-1]
            # Keys and values from every position, queries from the chosen rows only: the attention
            # layer's cross-attention form computes exactly that.
            attended = layer.attention(input_tensor=queries, attention_mask=None, head_mask=None,
                                       encoder_hidden_states=hidden, encoder_attention_mask=mask,
                                       past_key_value=None, output_attentions=False, training=training)[0]
            if keep is not None:  # one row of the kept positions: the layers were built for 3-D input
                attended = tf.expand_dims(tf.boolean_mask(attended, keep), 0)
            inner = layer.intermediate(hidden_states=attended)
            outputs = layer.bert_output(hidden_states=inner, input_tensor=attended, training=training)
            return outputs if keep is None else tf.squeeze(outputs, axis=0)

        return lower_bert, last_bert
    blocks = getattr(getattr(main, "transformer", None), "layer", None)
    if blocks is not None and hasattr(main, "embeddings"):  # DistilBERT
        def lower_distilbert(input_ids: Any, attention_mask: Any, training: bool) -> tuple[Any, Any]:
            hidden = main.embeddings(input_ids=input_ids, training=training)
            mask = tf.ones(tf.shape(input_ids)) if attention_mask is None else attention_mask
            mask = tf.cast(mask, tf.float32)
            for block in blocks[:-1]:
                hidden = block(hidden, mask, None, False, training=training)[-1]
            return hidden, mask

        def last_distilbert(queries: Any, hidden: Any, mask: Any, training: bool, keep: Any = None) -> Any:
            block = blocks[-1]
            attended = block.attention(queries, hidden, hidden, mask, None, False, training=training)[0]
            attended = block.sa_layer_norm(attended + queries)
            if keep is not None:  # one row of the kept positions: the layers were built for 3-D input
                attended = tf.expand_dims(tf.boolean_mask(attended, keep), 0)
            outputs = block.output_layer_norm(block.ffn(attended, training=training) + attended)
            return outputs if keep is None else tf.squeeze(outputs, axis=0)

        return lower_distilbert, last_distilbert
    raise _unsupported_family(model)


@functools.cache
def fast_masked_lm_class() -> Any:
    """The :class:`FastMaskedLM` Keras class (created on first use, after TensorFlow is set up).

    Used by :func:`fast_masked_lm` (notebook 04).
    """
    import tensorflow as tf
    import tf_keras

    class FastMaskedLM(tf_keras.Model):
        """Wraps a TF masked LM so that ``fit`` computes the last layer and the head only at masked positions.

        Only the masked positions (``labels != -100``, about 15% of them) are scored, so only their
        outputs are needed. The embeddings and every layer but the last run on the whole batch; the last
        layer runs for the masked positions of each row (their attention still reads every position of the
        row), and the model's own head (transform, tied decoder, bias) runs on those outputs alone. The loss
        is the same mean cross-entropy over masked tokens as the model's internal loss, at a fraction of the
        cost, because the head multiplies by the whole vocabulary. All weights are the wrapped model's:
        save and load it with ``save_pretrained``/``from_pretrained`` as usual.

        ``max_masked_fraction=None`` scores exactly the masked positions (shapes that change from batch to
        batch: fine on CPU and GPU). A TPU needs fixed shapes: with a fraction ``f`` each row contributes
        ``ceil(f * length)`` positions, masked ones first, the others weighted 0 (the original BERT code's
        ``max_predictions_per_seq``); masked tokens beyond that are left out.
        """

        def __init__(self, mlm_model: Any, max_masked_fraction: float | None = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            if not getattr(mlm_model, "built", False):
                mlm_model(mlm_model.dummy_inputs, training=False)
            self.mlm_model = mlm_model
            self.max_masked_fraction = max_masked_fraction
            _, self._head = _masked_lm_parts(mlm_model)
            self._lower, self._last = encoder_stages(mlm_model)
            self.loss_tracker = tf_keras.metrics.Mean(name="loss")

        @property
        def metrics(self) -> list[Any]:
            return [self.loss_tracker]

        def call(self, inputs: Any, training: bool = False) -> Any:
            """Full logits of the wrapped model (for prediction; training does not use this)."""
            inputs = {k: v for k, v in inputs.items() if k != "labels"} if isinstance(inputs, Mapping) else inputs
            return self.mlm_model(inputs, training=training).logits

        def _positions(self, labels: Any) -> Any:
            """Per row, the positions the last layer runs at: the masked ones first (in order), then others.

            Exact mode takes as many per row as the row with most masked tokens has; fixed-shape mode takes
            ``ceil(max_masked_fraction * length)``.
            """
            is_masked = tf.cast(labels != IGNORE_INDEX, tf.int32)
            if self.max_masked_fraction is None:
                length = tf.shape(labels)[1]
                keep = tf.reduce_max(tf.reduce_sum(is_masked, axis=1))
            else:
                length = labels.shape[1]
                if length is None:
                    raise ValueError("fixed-shape gathering (max_masked_fraction) needs batches of a static "
                                     "length; use packed chunks from training_dataset().")
                keep = min(int(math.ceil(self.max_masked_fraction * length)), length)
            score = is_masked * 2 * length - tf.range(length)[tf.newaxis, :]
            return tf.math.top_k(score, k=keep, sorted=True).indices

        def masked_logits(self, batch: Mapping[str, Any], training: bool = False) -> tuple[Any, Any, Any]:
            """Logits (float32), targets and weights (1 = a real masked token) of the gathered positions."""
            labels = batch["labels"]
            hidden, mask = self._lower(batch["input_ids"], batch.get("attention_mask"), training)
            positions = self._positions(labels)
            queries = tf.gather(hidden, positions, batch_dims=1)
            chosen = tf.gather(labels, positions, batch_dims=1)
            if self.max_masked_fraction is None:
                # Rows with fewer masked tokens than the fullest row were filled up with other positions:
                # the last layer drops those right after its attention.
                real = chosen != IGNORE_INDEX
                picked = self._last(queries, hidden, mask, training, real)
                targets = tf.boolean_mask(chosen, real)
                weights = tf.ones_like(targets, dtype=tf.float32)
            else:
                width = hidden.shape[-1] if hidden.shape[-1] is not None else tf.shape(hidden)[-1]
                picked = tf.reshape(self._last(queries, hidden, mask, training), [-1, width])
                targets = tf.reshape(chosen, [-1])
                weights = tf.cast(targets != IGNORE_INDEX, tf.float32)
                targets = tf.maximum(targets, 0)
            return tf.cast(self._head(picked), tf.float32), targets, weights

        def _weighted_losses(self, batch: Mapping[str, Any], training: bool) -> tuple[Any, Any]:
            logits, targets, weights = self.masked_logits(batch, training=training)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
            return losses * weights, weights

        def batch_loss(self, batch: Mapping[str, Any], training: bool = False) -> Any:
            """Mean cross-entropy over the masked tokens of ``batch``: what the model's own loss computes."""
            return self._global_mean(*self._weighted_losses(batch, training))

        def _global_mean(self, losses: Any, weights: Any) -> Any:
            # Sum over this replica divided by the masked tokens of ALL replicas: the optimizer sums the
            # replicas' gradients, so the step follows the mean over the whole global batch.
            count = tf.reduce_sum(weights)
            context = tf.distribute.get_replica_context()
            if context is not None and context.num_replicas_in_sync > 1:
                count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
            return tf.math.divide_no_nan(tf.reduce_sum(losses), count)

        @staticmethod
        def _as_batch(data: Any) -> dict[str, Any]:
            x, y, _ = tf_keras.utils.unpack_x_y_sample_weight(data)
            if not isinstance(x, Mapping):
                raise TypeError("FastMaskedLM expects batches as dicts with 'input_ids' and 'labels' "
                                "(see training_dataset), or (inputs_dict, labels).")
            if "labels" not in x:
                if y is None:
                    raise ValueError("the batch has no 'labels': FastMaskedLM needs the masked-LM labels (-100 = "
                                     "not masked) in the dict or as the second element.")
                x = dict(x, labels=y)
            return dict(x)

        def train_step(self, data: Any) -> dict[str, Any]:
            data = self._as_batch(data)
            with tf.GradientTape() as tape:
                losses, weights = self._weighted_losses(data, training=True)
                loss = self._global_mean(losses, weights)
            self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
            self.loss_tracker.update_state(losses, sample_weight=weights)
            return {"loss": self.loss_tracker.result()}

        def test_step(self, data: Any) -> dict[str, Any]:
            losses, weights = self._weighted_losses(self._as_batch(data), training=False)
            self.loss_tracker.update_state(losses, sample_weight=weights)
            return {"loss": self.loss_tracker.result()}

    return FastMaskedLM


def fast_masked_lm(mlm_model: Any, max_masked_fraction: float | None = None) -> Any:
    """Wrap ``mlm_model`` (a TF masked LM) in a ``FastMaskedLM``: head and last layer at masked positions only.

    ``max_masked_fraction`` (e.g. 0.25) switches to fixed shapes for TPUs; ``None`` gathers exactly the
    masked positions.

    Introduced in notebook 04.
    """
    if not hasattr(mlm_model, "config") or not hasattr(mlm_model, "base_model_prefix"):
        raise TypeError(
            f"mlm_model must be a transformers TF masked LM (TFAutoModelForMaskedLM), got {type(mlm_model).__name__}."
        )
    if max_masked_fraction is not None and (
        isinstance(max_masked_fraction, bool) or not isinstance(max_masked_fraction, (int, float))
        or not 0.0 < max_masked_fraction <= 1.0
    ):
        raise ValueError(f"max_masked_fraction must be None or a number in (0, 1] such as 0.25, "
                         f"got {max_masked_fraction!r}.")
    _masked_lm_parts(mlm_model)
    encoder_stages(mlm_model)
    return fast_masked_lm_class()(mlm_model, max_masked_fraction=max_masked_fraction)


def build_trainer(model: Any, optimizer: Any, fast_head: bool = True,
                  max_masked_fraction: float | None | str = "auto") -> Any:
    """The compiled Keras model to call ``fit`` on. Call it inside ``strategy.scope()``.

    ``fast_head=True``: a ``FastMaskedLM`` (:func:`fast_masked_lm`) around ``model``. ``fast_head=False``:
    ``model`` itself, compiled with its own loss (the labels travel in the batch dict).
    ``max_masked_fraction="auto"`` uses fixed shapes (0.25 of each row) under a TPU strategy and exact
    gathering everywhere else.

    Introduced in notebook 04.
    """
    import tensorflow as tf

    if not isinstance(fast_head, bool):
        raise TypeError(f"fast_head must be True or False, got {fast_head!r}.")
    if not hasattr(model, "config") or not hasattr(model, "compile"):
        raise TypeError(f"model must be a transformers TF masked LM, got {type(model).__name__}.")
    if not hasattr(optimizer, "apply_gradients"):
        raise TypeError(f"optimizer must be a tf_keras optimizer (see make_optimizer), got {type(optimizer).__name__}.")
    if fast_head:
        if max_masked_fraction == "auto":
            on_tpu = isinstance(tf.distribute.get_strategy(), tf.distribute.TPUStrategy)
            max_masked_fraction = 0.25 if on_tpu else None
        trainer = fast_masked_lm(model, max_masked_fraction=max_masked_fraction)
        trainer.compile(optimizer=optimizer)
        return trainer
    model.compile(optimizer=optimizer, loss="auto")
    return model


def underlying_model(trainer: Any) -> Any:
    """The transformers model that ``trainer`` trains (itself on the stock path).

    Used by :func:`save_model` (notebook 04).
    """
    return getattr(trainer, "mlm_model", trainer)


def base_optimizer(trainer: Any) -> Any:
    """The compiled optimizer, without the loss-scale wrapper that mixed precision adds.

    Used by :func:`fit_mlm` (notebook 04).
    """
    optimizer = getattr(trainer, "optimizer", None)
    if optimizer is None:
        raise ValueError("trainer is not compiled: build it with build_trainer(model, optimizer).")
    return getattr(optimizer, "inner_optimizer", optimizer)


# --------------------------------------------------------------------------- checkpoints


def run_name(model_name: str, category: str, profile: str, fast_head: bool, seed: int) -> str:
    """Folder name for one fine-tuning run's checkpoints and saved model, e.g.
    ``04_bert-mini-news_business_quick_fast_seed42``.

    Every setting that changes what training produces is in the name, so a run with another head or
    seed gets its own folders: switching ``FAST_HEAD`` to compare and back neither clears the other
    run's checkpoints nor overwrites its saved model. Only the last part of a path or Hub id is used.
    Introduced in notebook 04.
    """
    for name, value in (("model_name", model_name), ("category", category), ("profile", profile)):
        if not isinstance(value, str) or not value.strip():
            raise TypeError(f"{name} must be a non-empty string, got {value!r}.")
    if not isinstance(fast_head, bool):
        raise TypeError(f"fast_head must be True or False, got {fast_head!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}.")
    model_part = Path(model_name.replace("\\", "/").rstrip("/")).name
    if not model_part:
        raise ValueError(f"model_name {model_name!r} has no name part: pass the model's folder or Hub id.")
    head = "fast" if fast_head else "stock"
    return f"04_{model_part}_{category}_{profile}_{head}_seed{seed}"


def _training_settings(plan: TrainPlan, rows: np.ndarray, seed: int, mlm_probability: float) -> dict[str, Any]:
    import hashlib

    return {"plan": asdict(plan), "seed": seed, "mlm_probability": mlm_probability,
            "data": f"{rows.shape[0]}x{rows.shape[1]} sha256:{hashlib.sha256(rows.tobytes()).hexdigest()[:16]}"}


def run_settings(model: Any, plan: TrainPlan, train_rows: Any, seed: int, fast_head: bool,
                 mlm_probability: float = 0.15) -> dict[str, Any]:
    """Everything that decides what a run trains, for :class:`CheckpointKeeper`'s ``run_config``.

    The model by the last part of its name and a digest of its configuration, the plan (steps, batch,
    learning rate, warm-up), a digest of the training chunks (so corpus, category, tokenizer and chunk size
    count), the seed, the masking probability and the head. Nothing in it depends on where the checkout
    lies, so a moved checkout resumes its runs. Introduced in notebook 04.
    """
    import hashlib

    model = underlying_model(model)
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "to_dict"):
        raise TypeError(f"model must be a transformers model, got {type(model).__name__}.")
    if not isinstance(plan, TrainPlan):
        raise TypeError(f"plan must be a TrainPlan from plan_training(), got {type(plan).__name__}.")
    if not isinstance(fast_head, bool):
        raise TypeError(f"fast_head must be True or False, got {fast_head!r}.")
    seed = _check_int("seed", seed, 0)
    check_masking_arguments(mlm_probability, "bert", seed, False)
    rows = _check_rows("train_rows", train_rows)
    public = {key: value for key, value in config.to_dict().items() if not key.startswith("_")}
    described = json.dumps(public, sort_keys=True, default=str).encode()
    name = Path(str(getattr(model, "name_or_path", "") or "model").replace("\\", "/").rstrip("/")).name
    return {"model": f"{name} config-sha256:{hashlib.sha256(described).hexdigest()[:16]}", "fast_head": fast_head,
            **_training_settings(plan, rows, seed, float(mlm_probability))}


#: Models a :class:`CheckpointKeeper`'s callback has seen trained: a new run must not start from one of them.
_TRAINED: weakref.WeakSet[Any] = weakref.WeakSet()


def _this_process() -> tuple[int, str]:
    """(process id, machine name): who holds a run folder's ``run.lock``."""
    import socket

    return os.getpid(), socket.gethostname()


def _process_runs(pid: int) -> bool:
    """Whether process ``pid`` of this machine still runs; ``True`` when that cannot be told safely."""
    try:
        import psutil  # installed with Jupyter's kernel
    except ImportError:
        psutil = None
    if psutil is not None:
        return bool(psutil.pid_exists(pid))
    if os.name == "nt":  # os.kill would end the process there, not probe it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it runs, under another user
        return True
    return True


class CheckpointKeeper:
    """Checkpoints of one run in ``folder``: model weights, optimizer state and the step counter.

    ``restore()`` continues an unfinished run from its last checkpoint and starts a finished run (or
    one made with other settings) afresh; ``callback()`` saves at the end of each Keras epoch whose
    step is a multiple of ``every``. Before ``fit`` takes its first step, the callback checks that the
    optimizer is where ``restore()`` left it, so running a notebook's training cell a second time (or
    after interrupting it) says what to run instead of training on from the wrong step. With mixed
    precision on a GPU the loss scale is not checkpointed: a resumed run starts it afresh, so its first
    steps may scale differently than the uninterrupted run's.

    One process trains in a folder at a time: from the start of ``fit`` to its end the folder holds
    ``run.lock`` (process id, machine, start time). ``restore()`` and ``fit`` in another process refuse while
    that process still runs, so a notebook kernel and `make run` cannot write over each other's checkpoints;
    the lock of a process that has ended is taken over. It is a guard for runs that overlap, not a strict
    lock: two processes that start ``fit`` in the same instant both pass it. Introduced in notebook 04.
    """

    STATE_FILE = "run.json"
    LOCK_FILE = "run.lock"

    def __init__(self, folder: str | os.PathLike[str], model: Any, optimizer: Any, total_steps: int,
                 every: int, run_config: Mapping[str, Any] | None = None, max_to_keep: int = 2,
                 verbose: bool = True) -> None:
        import tensorflow as tf

        if not isinstance(folder, (str, os.PathLike)):
            raise TypeError(f"folder must be a path, got {type(folder).__name__}.")
        self.folder = Path(folder).expanduser()
        refuse_source_tree(self.folder, "checkpoint folder")
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(f"checkpoint folder {self.folder} is a file. Pass a folder path.")
        if "[" in str(self.folder.resolve()):
            raise ValueError(f"checkpoint folder {self.folder.resolve()} has a '[' in its path, which TensorFlow reads "
                             "as a pattern when it loads a checkpoint. Move the checkout, or set MLM_TUTORIAL_BUILD to "
                             "a folder whose path has no '['.")
        self.total_steps = _check_int("total_steps", total_steps, 1)
        self.every = _check_int("every", every, 1)
        if self.total_steps % self.every:
            raise ValueError(f"every={self.every} must divide total_steps={self.total_steps}, so that the last step "
                             "is checkpointed; use plan.checkpoint_every from plan_training().")
        if not hasattr(model, "trainable_variables") or not hasattr(optimizer, "iterations"):
            raise TypeError(f"model must be a Keras/transformers model and optimizer a tf_keras optimizer, got "
                            f"{type(model).__name__} and {type(optimizer).__name__}.")
        if run_config is not None and not isinstance(run_config, Mapping):
            raise TypeError(f"run_config must be a dict, got {type(run_config).__name__}.")
        self.run_config = json.loads(json.dumps(dict(run_config or {}), default=str))
        self.run_config.update(total_steps=self.total_steps, every=self.every)
        self.verbose = verbose
        self.optimizer = optimizer
        self.model = model
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=optimizer.iterations)
        self.folder.mkdir(parents=True, exist_ok=True)
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise PermissionError(f"checkpoint folder {self.folder} is not writable. Make it writable, or set "
                                  "MLM_TUTORIAL_BUILD to a folder you can write to.")
        self.max_to_keep = _check_int("max_to_keep", max_to_keep, 1)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.folder), max_to_keep=self.max_to_keep)
        #: The step ``restore()`` returned: where the optimizer must be when ``fit`` starts.
        self.start_step: int | None = None

    def _say(self, text: str) -> None:
        if self.verbose:
            print(text)

    def _checkpoint_paths(self) -> list[str]:
        """Checkpoint prefixes in the folder, newest first: from the ``checkpoint`` index file, or, when that
        file is missing or unreadable, from the ``ckpt-N.index`` files themselves."""
        import tensorflow as tf

        try:
            state = tf.train.get_checkpoint_state(str(self.folder))
        except (tf.errors.OpError, ValueError):  # a damaged index file; the checkpoints may be intact
            state = None
        if state is not None and state.model_checkpoint_path:
            listed = [*state.all_model_checkpoint_paths, state.model_checkpoint_path]
            paths = list(dict.fromkeys(str(self.folder / Path(path).name) for path in reversed(listed)))
            if all(Path(path + ".index").is_file() for path in paths):
                return paths
        numbered = []
        for index in self.folder.glob("ckpt-*.index"):
            number = index.name[len("ckpt-"):-len(".index")]
            if number.isdigit():
                numbered.append((int(number), str(index.with_suffix(""))))
        return [path for _, path in sorted(numbered, reverse=True)]

    def _latest(self) -> tuple[str, int] | None:
        """(prefix, step) of the newest checkpoint whose step can be read, or ``None``."""
        import tensorflow as tf

        for path in self._checkpoint_paths():
            try:
                return path, int(tf.train.load_variable(path, "step/.ATTRIBUTES/VARIABLE_VALUE"))
            except (tf.errors.OpError, ValueError, IndexError, KeyError):
                self._say(f"checkpoint {Path(path).name} in {self.folder} cannot be read; trying an older one")
        return None

    def latest_step(self) -> int | None:
        """Step of the newest readable checkpoint in the folder, or ``None``."""
        latest = self._latest()
        return None if latest is None else latest[1]

    def _files(self) -> list[Path]:
        return [path for path in self.folder.iterdir()
                if path.is_file() and (path.name.startswith("ckpt-") or path.name in ("checkpoint", self.STATE_FILE))]

    def clear(self) -> None:
        """Delete this run's checkpoints."""
        for path in self._files():
            path.unlink()
        self.manager = type(self.manager)(self.checkpoint, str(self.folder), max_to_keep=self.max_to_keep)

    def set_aside(self) -> Path:
        """Move this folder's checkpoints into a new sibling folder (``<name>.set-aside-N``) and return it."""
        number = 1
        while (aside := self.folder.with_name(f"{self.folder.name}.set-aside-{number}")).exists():
            number += 1
        aside.mkdir()
        for path in self._files():
            os.replace(path, aside / path.name)
        self.manager = type(self.manager)(self.checkpoint, str(self.folder), max_to_keep=self.max_to_keep)
        return aside

    def restore(self) -> int:
        """Load the newest checkpoint of an unfinished run with the same settings; return the step to start at.

        A finished run starts afresh (its checkpoints are deleted: the same settings train the same model
        again). Checkpoints of other settings, or with unreadable settings or steps, are never deleted: they
        are moved into a ``.set-aside-N`` folder beside this one, and the message says where.
        """
        import tensorflow as tf

        self._refuse_other_trainer()
        state = self.folder / self.STATE_FILE
        saved, readable = None, True
        try:
            saved = json.loads(state.read_text(encoding="utf-8")) if state.is_file() else None
        except ValueError:
            readable = False
        latest = self._latest()
        set_aside = None
        if latest is None and any(path.name != self.STATE_FILE for path in self._files()):
            set_aside = "hold no readable checkpoint"  # run.json alone is a run that has not saved a checkpoint yet
        elif latest is not None and not readable:
            set_aside = f"have an unreadable {self.STATE_FILE}"
        elif latest is not None and saved != self.run_config:
            set_aside = "come from other settings"
        elif latest is not None and latest[1] >= self.total_steps:
            self._say(f"the run in {self.folder.name} had finished ({latest[1]} steps): starting afresh")
            latest = None
        if set_aside is not None:
            aside = self.set_aside()
            self._say(f"the files in {self.folder.name} {set_aside}: moved them to {aside}; starting afresh")
            latest = None
        if latest is None:
            taken = int(self.optimizer.iterations.numpy())
            if taken or self.model in _TRAINED:
                done = (f"the optimizer has already made {taken} steps" if taken else
                        "this model was trained before, with another optimizer")
                raise RuntimeError(
                    f"{done}, so the model has been trained since it was loaded and a run that starts afresh would "
                    "go on from there. To train from the start, run the cells again from the one that loads the "
                    "model (or restart the kernel and run all).")
            self.clear()
            write_text_atomic(state, json.dumps(self.run_config, indent=2, sort_keys=True) + "\n")
            self.start_step = 0
            return 0
        path, step = latest
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except (tf.errors.OpError, ValueError, IndexError, AssertionError) as error:
            raise RuntimeError(
                f"checkpoint {path} (step {step}) cannot be restored: {type(error).__name__}: "
                f"{str(error).splitlines()[0] if str(error) else ''}. Its files are kept. The model may now be "
                f"partly restored: move {self.folder} away (or delete it), then run the cells again from the one "
                "that loads the model.") from error
        restored = int(self.optimizer.iterations.numpy())
        self._say(f"resumed from the checkpoint at step {restored} of {self.total_steps}")
        self.start_step = restored
        return restored

    def _lock_record(self) -> dict[str, Any] | None:
        """``run.lock``'s record: ``None`` without a lock, ``{}`` for one that cannot be read (half written or
        damaged: nobody can say whose it is)."""
        try:
            record = json.loads((self.folder / self.LOCK_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:
            return {}
        return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else {}

    def _lock_holder(self) -> dict[str, Any] | None:
        """The lock's record when another process that still runs (or one that cannot be checked) holds it."""
        holder = self._lock_record()
        if not holder:
            return holder  # no lock (None), or an unreadable one ({})
        pid, host = _this_process()
        if holder.get("host") != host:
            return holder  # a process of another machine (a shared folder): cannot be checked
        if holder["pid"] == pid or not _process_runs(holder["pid"]):
            return None  # this process's own lock, or one left by a process that has ended
        return holder

    def _refuse_other_trainer(self) -> None:
        holder = self._lock_holder()
        if holder is None:
            return
        lock = self.folder / self.LOCK_FILE
        if not holder:
            who = f"{lock} cannot be read, so another run may be training in this folder"
        else:
            who = (f"process {holder['pid']} on {holder.get('host')} has been training this run since "
                   f"{holder.get('since', 'an unknown time')} (a notebook kernel, or `make run`)")
        raise RuntimeError(
            f"{who}. Two runs in one folder would write over each other's checkpoints, so this one does not start. "
            "Wait until that run has finished, or stop it. A kernel whose training cell was interrupted keeps the "
            f"folder until it is restarted or shut down; if no such process runs any more, delete {lock}.")

    def _claim(self) -> None:
        """Write ``run.lock`` for this process, after :meth:`_refuse_other_trainer`."""
        self._refuse_other_trainer()
        pid, host = _this_process()
        record = {"pid": pid, "host": host, "since": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())}
        write_text_atomic(self.folder / self.LOCK_FILE, json.dumps(record) + "\n")

    def _release(self) -> None:
        """Delete ``run.lock`` if this process holds it."""
        try:
            holder = self._lock_record()
        except OSError:
            return
        if holder and (holder["pid"], holder.get("host")) == _this_process():
            (self.folder / self.LOCK_FILE).unlink(missing_ok=True)

    def check_start(self, trainer: Any) -> None:
        """Refuse to train when ``trainer`` or its optimizer is not where :meth:`restore` left them.

        The callback runs this when ``fit`` begins. It catches a training cell run twice (the
        optimizer has moved on from the step the cell starts at), an interrupted ``fit`` run again
        without ``restore()`` and a trainer rebuilt after the keeper was made.
        """
        if base_optimizer(trainer) is not self.optimizer:
            raise RuntimeError("fit trains with another optimizer than the one this CheckpointKeeper saves: the "
                               "trainer was built again after the keeper was made. Make the keeper again (run its "
                               "cell), then train.")
        if self.start_step is None:
            raise RuntimeError("call restore() before training: it returns the step to start at (0 for a new run) "
                               "and records this run's settings beside its checkpoints.")
        step = int(self.optimizer.iterations.numpy())
        if step != self.start_step:
            raise RuntimeError(
                f"the optimizer is at step {step}, but restore() said to start at step {self.start_step}: training "
                "has run since then (this cell ran before, or was interrupted). To continue an interrupted run from "
                "its last checkpoint, run the cell with restore() again, then this one; to train from the start, "
                f"delete {self.folder} (or restore() resumes its last checkpoint), then run the cells again from the "
                "one that loads the model.")

    def save(self) -> str:
        """Write a checkpoint now, numbered by the optimizer's step."""
        return self.manager.save(checkpoint_number=int(self.optimizer.iterations.numpy()))

    def callback(self) -> Any:
        """A Keras callback that checks the start (:meth:`check_start`) and saves whenever an epoch ends on a
        multiple of ``every`` steps."""
        import tf_keras

        keeper = self

        class SaveCheckpoint(tf_keras.callbacks.Callback):
            def on_train_begin(self, logs: Any = None) -> None:
                keeper.check_start(self.model)
                keeper._claim()
                _TRAINED.add(keeper.model)

            def on_train_end(self, logs: Any = None) -> None:
                keeper._release()

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                step = int(keeper.optimizer.iterations.numpy())
                # An epoch cut short (stop_training) ends between checkpoints: keep the last good one.
                if step % keeper.every == 0:
                    keeper.save()

        return SaveCheckpoint()


@dataclass
class FitResult:
    """What :func:`fit_mlm` did: per-epoch history, steps, tokens and wall time of ``fit``.

    What :func:`fit_mlm` returns (notebook 04).
    """

    history: dict[str, list[float]]
    start_step: int
    end_step: int
    seconds: float
    tokens: int
    epochs_run: int = field(default=0)


def fit_mlm(trainer: Any, plan: TrainPlan, train_rows: Any, tokenizer: Any, validation_data: Any = None,
            checkpoints: CheckpointKeeper | None = None, seed: int = 42, mlm_probability: float = 0.15,
            callbacks: Sequence[Any] = (), verbose: int = 2) -> FitResult:
    """Resume from ``checkpoints`` if possible, then ``trainer.fit`` up to ``plan.total_steps`` steps.

    One Keras epoch is ``plan.checkpoint_every`` steps, so every epoch ends on a checkpoint and a
    resumed run starts exactly at an epoch boundary (``initial_epoch``). Data and masks are keyed on
    the global step (:func:`training_dataset`), so the resumed run sees what the uninterrupted one saw.

    Notebook 04 takes these steps cell by cell and points to this function as their package.
    """
    if not isinstance(plan, TrainPlan):
        raise TypeError(f"plan must be a TrainPlan from plan_training(), got {type(plan).__name__}.")
    rows = _check_rows("train_rows", train_rows)
    if len(rows) != plan.train_rows:
        raise ValueError(f"train_rows has {len(rows)} chunks but the plan was made for {plan.train_rows}; "
                         "make the plan from the same rows.")
    if checkpoints is not None and not isinstance(checkpoints, CheckpointKeeper):
        raise TypeError(f"checkpoints must be a CheckpointKeeper or None, got {type(checkpoints).__name__}.")
    check_masking_arguments(mlm_probability, "bert", seed, False)
    if checkpoints is not None:
        if (checkpoints.total_steps, checkpoints.every) != (plan.total_steps, plan.checkpoint_every):
            raise ValueError(f"the CheckpointKeeper was made for {checkpoints.total_steps} steps, checkpointed every "
                             f"{checkpoints.every}, but the plan has {plan.total_steps} and {plan.checkpoint_every}; "
                             "make the keeper with plan.total_steps and plan.checkpoint_every.")
        settings = json.loads(json.dumps(_training_settings(plan, rows, _check_int("seed", seed, 0),
                                                            float(mlm_probability))))
        for key, value in settings.items():  # every setting is checked before any is added to the keeper's
            if key in checkpoints.run_config and checkpoints.run_config[key] != value:
                raise ValueError(f"the CheckpointKeeper's run_config has {key}={checkpoints.run_config[key]!r}, but "
                                 f"this call trains with {value!r}; make the keeper with run_settings() for this run.")
        checkpoints.run_config.update(settings)
    optimizer = base_optimizer(trainer)
    start = checkpoints.restore() if checkpoints is not None else int(optimizer.iterations.numpy())
    if start % plan.checkpoint_every:
        raise ValueError(f"the optimizer is at step {start}, not at a multiple of checkpoint_every="
                         f"{plan.checkpoint_every}; start from a fresh optimizer or a checkpoint.")
    if start >= plan.total_steps:
        return FitResult({}, start, start, 0.0, 0)
    data = training_dataset(rows, tokenizer, plan.batch_size, plan.total_steps, seed=seed, start_step=start,
                            mlm_probability=mlm_probability)
    all_callbacks = list(callbacks) + ([checkpoints.callback()] if checkpoints is not None else [])
    began = time.perf_counter()
    history = trainer.fit(data, epochs=plan.fit_epochs, steps_per_epoch=plan.checkpoint_every,
                          initial_epoch=start // plan.checkpoint_every, validation_data=validation_data,
                          callbacks=all_callbacks, verbose=verbose)
    seconds = time.perf_counter() - began
    end = int(optimizer.iterations.numpy())
    logs = {key: [float(v) for v in values] for key, values in history.history.items()}
    return FitResult(logs, start, end, seconds, (end - start) * plan.batch_size * rows.shape[1],
                     epochs_run=len(history.epoch))


# --------------------------------------------------------------------------- saving


def _new_folder_mode() -> int:
    """The permissions ``os.mkdir`` gives a new folder: ``0o777`` less the process's umask."""
    umask = os.umask(0o077)  # the umask can only be read by setting it; the old one is put back at once
    os.umask(umask)
    return 0o777 & ~umask


def save_model(model: Any, tokenizer: Any, folder: str | os.PathLike[str]) -> Path:
    """Save ``model`` and ``tokenizer`` to ``folder`` so that a crash never leaves half a model there.

    Everything is written to a hidden temporary sibling first; only a complete copy is renamed to
    ``folder`` (an older model there is moved aside first and deleted afterwards). At any moment
    ``folder`` is absent, the previous complete model, or the new complete model. A folder that holds
    anything but a saved model is refused, never replaced.

    Introduced in notebook 04.
    """

    model = underlying_model(model)
    if not hasattr(model, "save_pretrained") or not hasattr(model, "config"):
        raise TypeError(f"model must be a transformers model, got {type(model).__name__}.")
    if not hasattr(tokenizer, "save_pretrained") or not hasattr(tokenizer, "convert_ids_to_tokens"):
        raise TypeError(f"tokenizer must be a transformers tokenizer, got {type(tokenizer).__name__}.")
    if not isinstance(folder, (str, os.PathLike)) or not os.fspath(folder).strip():
        raise TypeError(f"folder must be a non-empty path, got {folder!r}.")
    target = Path(folder).expanduser().resolve()
    refuse_source_tree(target, "folder")
    if target.exists() and not target.is_dir():
        raise ValueError(f"folder {target} is an existing file. Pass a folder path.")
    if target.is_dir() and any(target.iterdir()) and not (target / "config.json").is_file():
        raise ValueError(f"folder {target} holds files but no saved model (no config.json), and saving replaces the "
                         "whole folder. Pass a new folder, or one that holds a model saved before.")
    target.parent.mkdir(parents=True, exist_ok=True)
    stale = list(target.parent.glob(f".{target.name}.*.partial"))
    if target.is_dir():  # an interrupted save left the model it replaced aside; it is complete in target now
        stale += target.parent.glob(f".{target.name}.*.old")
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    os.chmod(staging, _new_folder_mode())  # as a plain mkdir would make it; mkdtemp's 0700 hides it from others
    try:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        if not (staging / "config.json").is_file():
            raise RuntimeError(f"saving wrote no config.json into {staging}.")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    retired = None
    if target.exists():
        retired = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
        os.replace(target, retired)
    os.replace(staging, target)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
    return target


# --------------------------------------------------------------------------- plots


def plot_schedule(values: Any, warmup_steps: int, ax: Any = None) -> Any:
    """Plot learning rate against step and mark where warm-up ends. Returns the axes. Introduced in notebook 04."""
    import matplotlib.pyplot as plt

    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"values must be a non-empty 1-D array of learning rates, got shape {values.shape}.")
    warmup_steps = _check_int("warmup_steps", warmup_steps, 0)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    ax.plot(np.arange(len(values)), values, label="learning rate")
    ax.axvline(warmup_steps, color="grey", linestyle="--", label=f"warm-up ends (step {warmup_steps})")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.legend()
    return ax


def plot_loss_curves(history: Mapping[str, Sequence[float]], steps_per_epoch: int, start_step: int = 0,
                     ax: Any = None) -> Any:
    """Training and validation loss (mean cross-entropy over masked tokens) at the end of each Keras epoch.

    Introduced in notebook 04.
    """
    import matplotlib.pyplot as plt

    if not isinstance(history, Mapping) or "loss" not in history:
        raise ValueError("history must be a dict with at least a 'loss' list (FitResult.history or History.history).")
    steps_per_epoch = _check_int("steps_per_epoch", steps_per_epoch, 1)
    start_step = _check_int("start_step", start_step, 0)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    # marker and line style differ as well as colour, so the curves stay apart in greyscale
    for key, label, marker, style in (("loss", "training (fresh masks)", "o", "-"),
                                      ("val_loss", "validation (fixed masks)", "s", "--")):
        if key in history and len(history[key]):
            steps = start_step + steps_per_epoch * np.arange(1, len(history[key]) + 1)
            ax.plot(steps, history[key], marker=marker, linestyle=style, label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy (nats)")
    ax.legend()
    return ax
