"""Where the time of masked-LM fine-tuning goes on a CPU, and how much of it the project's path saves.

Introduced in notebook 05 (faster fine-tuning) and behind ``make bench`` (``benchmarks/run.py``, a thin
command line around :func:`run_benchmarks`). The pieces:

- counting (:class:`ModelShape`, :func:`forward_flops_per_token`, :func:`training_flops_per_token`,
  :func:`flop_table`, :func:`plot_flop_breakdown`): model FLOPs per token, part by part, counted
  analytically from the config;
- padding (:func:`layout_cost`): how many of the positions a model computes are padding, for padded
  batches and for packed chunks;
- timing (:func:`interleaved_order`, :func:`run_interleaved`, :func:`matmul_peak`): runs of the paths
  being compared alternate (A B A B) after a warm-up, so a machine that slows down or speeds up
  during the measurement affects both alike; medians are reported;
- the comparisons (:func:`training_comparison`, :func:`equal_loss_check`, :func:`masking_comparison`):
  the Hugging Face course recipe (``DataCollatorForLanguageModeling`` + ``prepare_tf_dataset`` +
  ``model.fit`` with the model's internal loss) against the project's path (``mask_tokens`` inside
  ``tf.data`` + :func:`mlm_tutorial.training.build_trainer` with ``fast_head=True``);
- the report (:func:`run_benchmarks`, :func:`target_checks`, :func:`format_table`, :func:`write_results`,
  and :func:`readme_summary`, README.md's performance section from the run kept in :data:`REFERENCE_RUN`).

TensorFlow and transformers are imported inside the functions; call
:func:`mlm_tutorial.setup.notebook_setup` (or :func:`prepare`) before the first measurement.
"""

from __future__ import annotations

import functools
import gc
import json
import math
import os
import statistics
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from mlm_tutorial.training import _check_int

#: The parts of a BERT-style masked LM whose matrix multiplications are counted, in model order.
FLOP_PARTS = ("attention projections", "attention scores", "feed-forward", "head transform", "decoder")
#: The fill pattern of each part in :func:`plot_flop_breakdown`: the parts stay apart in a greyscale print
#: and for readers who do not tell the colours apart.
FLOP_PART_HATCHES = ("", "//", "..", "xx", "\\\\")
#: Training costs about three forward passes: the forward pass, and twice its work backwards
#: (gradients with respect to the activations and with respect to the weights).
TRAINING_FACTOR = 3
#: Relative tolerance for "the two paths end at the same validation loss".
LOSS_TOLERANCE = 1e-3
LAYOUTS = ("pad_to_length", "pad_to_longest", "packed")


# --------------------------------------------------------------------------- small checks


def _check_fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r} ({type(value).__name__}).")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1] (the share of positions the head runs on), got {value}.")
    return float(value)


# --------------------------------------------------------------------------- counting FLOPs


@dataclass(frozen=True)
class ModelShape:
    """The sizes that decide a BERT-style masked LM's cost: layers, hidden size, heads, feed-forward, vocabulary.

    Introduced in notebook 05.
    """

    layers: int
    hidden: int
    heads: int
    ffn: int
    vocab: int

    def __post_init__(self) -> None:
        for name in ("layers", "hidden", "heads", "ffn", "vocab"):
            _check_int(name, getattr(self, name), 1)

    @classmethod
    def from_config(cls, config: Any) -> "ModelShape":
        """Read the sizes from a transformers config (BERT, RoBERTa or DistilBERT names) or from a model."""
        config = getattr(config, "config", config)
        names = [("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size"),
                 ("n_layers", "dim", "n_heads", "hidden_dim")]
        for layers, hidden, heads, ffn in names:
            if all(hasattr(config, n) for n in (layers, hidden, heads, ffn, "vocab_size")):
                return cls(int(getattr(config, layers)), int(getattr(config, hidden)), int(getattr(config, heads)),
                           int(getattr(config, ffn)), int(config.vocab_size))
        raise TypeError(
            f"config must be a BERT-, RoBERTa- or DistilBERT-style transformers config (or a model that has one), "
            f"got {type(config).__name__}. Build a ModelShape(layers, hidden, heads, ffn, vocab) by hand instead."
        )


def forward_flops_per_token(shape: ModelShape, seq_len: int, head_fraction: float = 1.0,
                            last_layer_fraction: float = 1.0) -> dict[str, float]:
    """Forward-pass FLOPs per token, part by part (one multiply-add = 2 FLOPs). Introduced in notebook 05.

    Per layer: the query, key, value and output projections ``2 * 4 * h**2``, the attention scores and the
    weighted sum of the values ``2 * 2 * seq_len * h``, the feed-forward block ``2 * 2 * h * ffn``. After the
    encoder, the head's transform ``2 * h**2`` and the decoder to the vocabulary ``2 * h * vocab`` run on a
    share ``head_fraction`` of the positions: 1.0 for the stock model, the masked share (about 0.15) for the
    fast path. ``last_layer_fraction`` is the share of positions at which the last layer computes its
    output: its keys and values are needed at every position, its queries, attention, output projection
    and feed-forward block only where the head reads the result (the masked share on the fast path).
    Embedding look-ups, softmax, layer norms and activations are left out: they are not matrix
    multiplications and add little to the count.
    """
    if not isinstance(shape, ModelShape):
        raise TypeError(f"shape must be a ModelShape (ModelShape.from_config(config)), got {type(shape).__name__}.")
    seq_len = _check_int("seq_len", seq_len, 1)
    head_fraction = _check_fraction("head_fraction", head_fraction)
    last = _check_fraction("last_layer_fraction", last_layer_fraction)
    h = shape.hidden
    full = shape.layers - 1  # layers that compute every position
    return {
        "attention projections": float(full * 2 * 4 * h * h + 2 * 2 * h * h + 2 * 2 * h * h * last),
        "attention scores": float((full + last) * 2 * 2 * seq_len * h),
        "feed-forward": float((full + last) * 2 * 2 * h * shape.ffn),
        "head transform": 2.0 * h * h * head_fraction,
        "decoder": 2.0 * h * shape.vocab * head_fraction,
    }


def training_flops_per_token(shape: ModelShape, seq_len: int, head_fraction: float = 1.0,
                             last_layer_fraction: float = 1.0) -> float:
    """FLOPs of one training step per token: :data:`TRAINING_FACTOR` (3) times the forward pass.

    Notebook 05 uses it through :func:`flops_summary`; so does `make bench`.
    """
    return TRAINING_FACTOR * sum(forward_flops_per_token(shape, seq_len, head_fraction, last_layer_fraction).values())


def flop_table(shapes: Mapping[str, ModelShape], seq_len: int, head_fraction: float = 1.0,
               last_layer_fraction: float = 1.0) -> Any:
    """Forward FLOPs per token of each model, one column per model, one row per part plus ``total``.

    A pandas ``DataFrame`` in MFLOP (millions of FLOPs) per token (:func:`forward_flops_per_token` says what
    the fractions mean). Introduced in notebook 05.
    """
    import pandas as pd

    if not isinstance(shapes, Mapping) or not shapes:
        raise ValueError("shapes must be a non-empty dict {name: ModelShape}.")
    columns = {name: forward_flops_per_token(shape, seq_len, head_fraction, last_layer_fraction)
               for name, shape in shapes.items()}
    table = pd.DataFrame(columns).loc[list(FLOP_PARTS)] / 1e6
    table.loc["total"] = table.sum()
    table.index.name = "MFLOP per token"
    return table


def plot_flop_breakdown(breakdowns: Mapping[str, Mapping[str, float]], totals: Mapping[str, float] | None = None,
                        ax: Any = None) -> Any:
    """Horizontal stacked bars of forward FLOPs per token, part by part (notebook 05).

    Each bar is divided by ``totals[label]`` when given (e.g. the stock model's total, so a fast-head bar
    shows how much is left), else by its own sum. Each part has its own colour and fill pattern
    (:data:`FLOP_PART_HATCHES`), with white lines between the parts. Returns the axes.
    """
    import matplotlib.pyplot as plt

    if not isinstance(breakdowns, Mapping) or not breakdowns:
        raise ValueError("breakdowns must be a non-empty dict {label: forward_flops_per_token(...)}.")
    totals = dict(totals or {})
    unknown = set(totals) - set(breakdowns)
    if unknown:
        raise ValueError(f"totals names bars that breakdowns lacks: {sorted(unknown)}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.6 * len(breakdowns) + 1.2))
    labels = list(breakdowns)
    scale = np.array([totals.get(label, sum(breakdowns[label].values())) for label in labels], dtype=float)
    left = np.zeros(len(labels))
    for part, hatch in zip(FLOP_PARTS, FLOP_PART_HATCHES):
        shares = np.array([breakdowns[label][part] for label in labels], dtype=float) / scale
        ax.barh(labels, shares, left=left, label=part, hatch=hatch, edgecolor="white", linewidth=0.8)
        left += shares
    ax.set_xlim(0, max(1.0, float(left.max())))
    ax.set_xlabel("forward FLOPs per token, as a share of the stock model's" if totals
                  else "share of the forward FLOPs per token")
    ax.invert_yaxis()
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    ax.figure.tight_layout()
    return ax


# --------------------------------------------------------------------------- padding


@dataclass(frozen=True)
class LayoutCost:
    """What a way of laying out articles in rows costs: positions computed, padding, text cut off.

    What :func:`layout_cost` returns (notebook 05).
    """

    layout: str
    rows: int
    positions: int
    padding: int
    text_tokens: int
    text_dropped: int

    @property
    def padding_share(self) -> float:
        """Share of the computed positions that are padding."""
        return self.padding / self.positions if self.positions else 0.0

    @property
    def dropped_share(self) -> float:
        """Share of the articles' text tokens that never reach the model."""
        return self.text_dropped / self.text_tokens if self.text_tokens else 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(asdict(self), padding_share=self.padding_share, dropped_share=self.dropped_share)


def layout_cost(text_lengths: Sequence[int], layout: str, length: int, batch_size: int = 32) -> LayoutCost:
    """Padding and lost text when articles with ``text_lengths`` ordinary tokens are laid out in rows.

    Introduced in notebook 05. Every row holds two special tokens (classifier and separator) besides text.

    - ``"pad_to_length"``: one article per row, every row ``length`` wide (``padding="max_length"``); text
      beyond ``length - 2`` tokens is cut off.
    - ``"pad_to_longest"``: one article per row, batches of ``batch_size`` articles in the given order, each
      batch padded to its longest row (what a padding collator does); rows are cut at ``length``.
    - ``"packed"``: articles joined end to end, each followed by a separator, and cut into rows of
      ``length`` (:func:`mlm_tutorial.chunking.chunk_texts`): no padding; the incomplete last row is dropped.
    """
    lengths = np.asarray(text_lengths)
    if lengths.ndim != 1 or lengths.size == 0:
        raise ValueError(f"text_lengths must be a non-empty list of token counts, got shape {lengths.shape}.")
    if not np.issubdtype(lengths.dtype, np.integer) or lengths.min() < 0:
        raise ValueError("text_lengths must hold non-negative ints: the ordinary tokens of each article "
                         "(len(tokenizer(text, add_special_tokens=False)['input_ids'])).")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}.")
    length = _check_int("length", length, 3)
    batch_size = _check_int("batch_size", batch_size, 1)
    lengths = lengths.astype(np.int64)
    total = int(lengths.sum())
    body = length - 2
    if layout == "packed":
        ends = np.cumsum(lengths + 1)  # each article is followed by its separator
        stream = int(ends[-1])
        rows = stream // body
        # The tail that fills no row is lost; count the text tokens in it (not the separators).
        tail = stream - rows * body
        separators_in_tail = int((ends - 1 >= stream - tail).sum())
        return LayoutCost(layout, rows, rows * length, 0, total, tail - separators_in_tail)
    if layout == "pad_to_length":
        widths = np.full(len(lengths), length)
    else:
        widths = np.empty(len(lengths), dtype=np.int64)
        for start in range(0, len(lengths), batch_size):
            block = lengths[start:start + batch_size]
            widths[start:start + batch_size] = min(int(block.max()) + 2, length)
    kept = np.minimum(lengths, widths - 2)
    padding = int((widths - 2 - kept).sum())
    return LayoutCost(layout, len(lengths), int(widths.sum()), padding, total, int((lengths - kept).sum()))


# --------------------------------------------------------------------------- timing


def interleaved_order(names: Sequence[str], rounds: int, warmup: int = 1) -> list[tuple[str, bool]]:
    """The order in which measured runs happen: ``warmup`` unmeasured rounds, then ``rounds`` measured ones.

    Each round runs every path once, in the order given: ``A B A B ...``. Returns ``(name, is_warmup)`` pairs.
    Alternating makes a slow phase of a shared machine hit both paths, instead of all runs of one of them.

    Introduced in notebook 05.
    """
    if isinstance(names, str) or not isinstance(names, Sequence) or not names:
        raise ValueError(f"names must be a non-empty list of path names such as ['baseline', 'project'], "
                         f"got {names!r}.")
    if len(set(names)) != len(names):
        raise ValueError(f"names must be distinct, got {list(names)}.")
    rounds = _check_int("rounds", rounds, 1)
    warmup = _check_int("warmup", warmup, 0)
    return [(name, index < warmup) for index in range(warmup + rounds) for name in names]


@dataclass
class Timings:
    """Seconds of each measured run per path, the warm-up runs apart, and the order they ran in.

    What :func:`run_interleaved` returns; notebook 05's comparisons are built on it.
    """

    seconds: dict[str, list[float]]
    warmup_seconds: dict[str, list[float]]
    order: list[str]

    def rates(self, units_per_run: Mapping[str, float]) -> dict[str, list[float]]:
        """Work units per second of every measured run (e.g. tokens/s), per path."""
        return {name: [units_per_run[name] / s for s in runs] for name, runs in self.seconds.items()}

    def median_rates(self, units_per_run: Mapping[str, float]) -> dict[str, float]:
        """The median over the measured runs of each path's rate."""
        return {name: float(statistics.median(values)) for name, values in self.rates(units_per_run).items()}


def run_interleaved(runners: Mapping[str, Callable[[], Any]], rounds: int, warmup: int = 1,
                    clock: Callable[[], float] = time.perf_counter) -> Timings:
    """Call the runners in :func:`interleaved_order` and record how long each call took.

    A runner that returns a number of seconds has timed its own work (e.g. the training steps of one ``fit``
    call, without ``fit``'s set-up and tear-down); for any other return value the call is timed with ``clock``.

    Notebook 05 uses it through :func:`training_comparison` and :func:`masking_comparison`; so does `make bench`.
    """
    if not isinstance(runners, Mapping) or not runners:
        raise ValueError("runners must be a non-empty dict {name: function that runs one measurement}.")
    for name, runner in runners.items():
        if not callable(runner):
            raise TypeError(f"runners[{name!r}] must be callable, got {type(runner).__name__}.")
    timings = Timings({name: [] for name in runners}, {name: [] for name in runners}, [])
    for name, is_warmup in interleaved_order(list(runners), rounds, warmup):
        began = clock()
        reported = runners[name]()
        spent = clock() - began
        if isinstance(reported, (int, float, np.integer, np.floating)) and not isinstance(reported, bool):
            spent = float(reported)
        (timings.warmup_seconds if is_warmup else timings.seconds)[name].append(spent)
        timings.order.append(f"{name} (warm-up)" if is_warmup else name)
    return timings


def matmul_peak(size: int = 4096, repeats: int = 5) -> dict[str, Any]:
    """The best fp32 ``tf.matmul`` rate (GFLOP/s) over square sizes up to ``size``, ``repeats`` timed calls each.

    Sizes ``size/4``, ``size/2`` and ``size`` are tried, one untimed call first for each, and the
    fastest call of all counts: a small product may not reach the machine's limit, and another process
    competing for the cores slows every size, so taking one size and one call could understate the peak
    and flatter every fraction computed from it. A product costs ``2 * n**3`` FLOPs.

    Introduced in notebook 05.
    """
    import tensorflow as tf

    size = _check_int("size", size, 16)
    repeats = _check_int("repeats", repeats, 1)
    by_size: dict[int, float] = {}
    seconds: list[float] = []
    for n in sorted({max(16, size // 4), max(16, size // 2), size}):
        a = tf.random.stateless_normal([n, n], seed=[1, 2])
        b = tf.random.stateless_normal([n, n], seed=[3, 4])
        float(tf.matmul(a, b)[0, 0])
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            float(tf.matmul(a, b)[0, 0])  # reading one value waits for the product
            times.append(time.perf_counter() - began)
        by_size[n] = 2.0 * n ** 3 / min(times) / 1e9
        if n == size:
            seconds = times
    return {"size": size, "repeats": repeats, "seconds": seconds, "gflops_by_size": by_size,
            "peak_gflops": max(by_size.values())}


# --------------------------------------------------------------------------- models


def distilbert_size_config(vocab_size: int = 30522, pad_token_id: int = 0, tiny: bool = False) -> Any:
    """The config of a DistilBERT-size masked LM (6 layers, hidden 768, 12 heads, feed-forward 3072).

    ``tiny=True``: one layer of hidden size 32 with the same vocabulary, for smoke runs and tests.

    Introduced in notebook 05.
    """
    from transformers import DistilBertConfig

    vocab_size = _check_int("vocab_size", vocab_size, 8)
    pad_token_id = _check_int("pad_token_id", pad_token_id, 0)
    if tiny:
        return DistilBertConfig(vocab_size=vocab_size, dim=32, n_layers=1, n_heads=2, hidden_dim=64,
                                max_position_embeddings=512, pad_token_id=pad_token_id)
    return DistilBertConfig(vocab_size=vocab_size, dim=768, n_layers=6, n_heads=12, hidden_dim=3072,
                            max_position_embeddings=512, pad_token_id=pad_token_id)


def tiny_bert_config(vocab_size: int, pad_token_id: int = 0) -> Any:
    """A one-layer BERT masked-LM config of hidden size 32: what ``--quick`` uses instead of the bundled model.

    Part of `make bench` (``--quick``); no notebook calls it.
    """
    from transformers import BertConfig

    return BertConfig(vocab_size=_check_int("vocab_size", vocab_size, 8), hidden_size=32, num_hidden_layers=1,
                      num_attention_heads=2, intermediate_size=64, max_position_embeddings=512,
                      pad_token_id=_check_int("pad_token_id", pad_token_id, 0))


def _dropout_free(config: Any) -> Any:
    config = config.__class__.from_dict(config.to_dict())
    for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout"):
        if hasattr(config, name):
            setattr(config, name, 0.0)
    return config


def model_from_config(config: Any, seed: int = 42) -> Any:
    """A built TF masked LM with random weights drawn after seeding with ``seed`` (same seed, same weights).

    ``tf_keras.utils.set_random_seed`` seeds Python, NumPy and TensorFlow; ``tf.random.set_seed`` alone does
    not reach the Keras initializers, which draw their seeds from Keras's own generator.

    Part of `make bench`; no notebook calls it.
    """
    import tf_keras
    from transformers import TFAutoModelForMaskedLM

    tf_keras.utils.set_random_seed(_check_int("seed", seed, 0))
    model = TFAutoModelForMaskedLM.from_config(config)
    model(model.dummy_inputs, training=False)
    return model


def clone_model(model: Any, dropout: bool = True) -> Any:
    """A second model of the same class with the same weights (optionally with every dropout rate set to 0).

    Used by :func:`training_comparison` (notebook 05) and by `make bench`.
    """
    if not hasattr(model, "config") or not hasattr(model, "get_weights"):
        raise TypeError(f"model must be a transformers TF model, got {type(model).__name__}.")
    config = model.config if dropout else _dropout_free(model.config)
    twin = type(model)(config)
    twin(twin.dummy_inputs, training=False)
    twin.set_weights(model.get_weights())
    return twin


# --------------------------------------------------------------------------- the two training paths


def course_recipe_dataset(model: Any, tokenizer: Any, rows: Any, batch_size: int) -> Any:
    """The Hugging Face course's training data: a ``datasets.Dataset`` of chunks, masked by the collator.

    ``DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, return_tensors="tf")`` and
    ``model.prepare_tf_dataset(..., collate_fn=collator, shuffle=True)``, repeated without end.

    Used by :func:`training_comparison` (notebook 05) and by `make bench`.
    """
    import datasets
    from transformers import DataCollatorForLanguageModeling

    rows = _check_rows(rows)
    batch_size = _check_int("batch_size", batch_size, 1)
    if batch_size > len(rows):
        raise ValueError(f"batch_size {batch_size} is larger than the {len(rows)} rows; use at most {len(rows)}.")
    table = datasets.Dataset.from_dict({"input_ids": rows.tolist(), "attention_mask": np.ones_like(rows).tolist()})
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, return_tensors="tf")
    return model.prepare_tf_dataset(table, collate_fn=collator, shuffle=True, batch_size=batch_size).repeat()


def _check_rows(rows: Any) -> np.ndarray:
    array = np.asarray(rows)
    if array.ndim != 2 or array.shape[0] == 0 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"rows must be a non-empty 2-D integer array of token ids (chunk_texts), got shape "
                         f"{array.shape} and dtype {array.dtype}.")
    return array


def _fit_runner(trainer: Any, data: Any, steps: int) -> Callable[[], float]:
    """A function that runs ``steps`` optimizer steps of ``trainer`` on ``data`` with ``fit`` and returns the
    seconds from the start of training to its end (Keras's ``on_train_begin`` to ``on_train_end``).

    What ``fit`` does before and after is left out: a real run calls ``fit`` once, not once per measurement.
    In particular, destroying the data iterator at the end of ``fit`` can block for up to about 5 s while
    ``tf.data``'s autotuning thread finishes a sleep, which would land on whichever path happened to hit it.
    """
    import tf_keras

    class TrainingClock(tf_keras.callbacks.Callback):
        began = ended = 0.0

        def on_train_begin(self, logs: Any = None) -> None:
            self.began = time.perf_counter()

        def on_train_end(self, logs: Any = None) -> None:
            self.ended = time.perf_counter()

    def run() -> float:
        clock = TrainingClock()
        trainer.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[clock])
        return clock.ended - clock.began

    return run


def _masked_share(rows: np.ndarray, tokenizer: Any, batch_size: int, steps: int, seed: int) -> float:
    """Share of positions the project's pipeline masks over its first ``steps`` batches (the fast head's share)."""
    from mlm_tutorial.masking import IGNORE_INDEX
    from mlm_tutorial.training import training_dataset

    masked = total = 0
    for batch in training_dataset(rows, tokenizer, batch_size, steps, seed=seed):
        labels = batch["labels"].numpy()
        masked += int((labels != IGNORE_INDEX).sum())
        total += labels.size
    return masked / total


def training_comparison(model: Any, tokenizer: Any, rows: Any, batch_size: int = 32, steps_per_run: int = 1,
                        rounds: int = 3, warmup: int = 1, learning_rate: float = 5e-5,
                        seed: int = 42) -> dict[str, Any]:
    """Tokens/s of the course recipe and of the project's path on the same model, data and shapes.

    ``model`` is the starting point of both paths and stays as it is: each path trains its own copy
    with the same weights (:func:`clone_model`). Both use the project's AdamW (:func:`mlm_tutorial.training.make_optimizer`)
    with the same schedule, so the comparison is about data pipeline and head only. Runs of
    ``steps_per_run`` steps alternate (:func:`run_interleaved`); the medians are compared.

    Introduced in notebook 05.
    """
    from mlm_tutorial.training import build_trainer, make_optimizer, make_schedule, training_dataset

    rows = _check_rows(rows)
    batch_size = _check_int("batch_size", batch_size, 1)
    steps_per_run = _check_int("steps_per_run", steps_per_run, 1)
    rounds = _check_int("rounds", rounds, 1)
    warmup = _check_int("warmup", warmup, 0)
    total_steps = (rounds + warmup) * steps_per_run

    def optimizer() -> Any:
        return make_optimizer(make_schedule(learning_rate, total_steps + 1, total_steps // 10))

    recipe_model, project_model = clone_model(model), clone_model(model)
    recipe_model.compile(optimizer=optimizer())  # no loss: the model's internal loss, as in the course
    recipe_data = course_recipe_dataset(recipe_model, tokenizer, rows, batch_size)
    trainer = build_trainer(project_model, optimizer(), fast_head=True)

    # Both datasets are built once; every fit call starts a new pass over them (the project's runs see the
    # same batches each time, the recipe's are shuffled and masked afresh: the same work). Building a
    # pipeline inside the timed run would charge its tracing to the path that does it.
    project_data = training_dataset(rows, tokenizer, batch_size, steps_per_run, seed=seed).repeat()
    runners = {"baseline": _fit_runner(recipe_model, recipe_data, steps_per_run),
               "project": _fit_runner(trainer, project_data, steps_per_run)}
    timings = run_interleaved(runners, rounds, warmup)
    tokens = steps_per_run * batch_size * rows.shape[1]
    rates = timings.rates({"baseline": tokens, "project": tokens})
    medians = timings.median_rates({"baseline": tokens, "project": tokens})
    return {
        "seq_len": int(rows.shape[1]), "batch_size": batch_size, "steps_per_run": steps_per_run, "rounds": rounds,
        "warmup_runs": warmup, "tokens_per_run": tokens, "order": timings.order,
        "baseline_tokens_per_s": medians["baseline"], "project_tokens_per_s": medians["project"],
        "ratio": medians["project"] / medians["baseline"],
        "baseline_runs_tokens_per_s": rates["baseline"], "project_runs_tokens_per_s": rates["project"],
        "warmup_seconds": timings.warmup_seconds,
        "masked_share": _masked_share(rows, tokenizer, batch_size, steps_per_run, seed),
    }


def equal_loss_check(model: Any, tokenizer: Any, train_rows: Any, validation_rows: Any, steps: int = 20,
                     batch_size: int = 32, learning_rate: float = 1e-3, seed: int = 42, eval_seed: int = 1234,
                     tolerance: float = LOSS_TOLERANCE) -> dict[str, Any]:
    """Train two dropout-free copies of ``model`` for ``steps`` steps on the same masked batches, one with
    the model's internal loss and one with the fast head, and compare their validation loss on fixed masks.

    Both start from ``model``'s weights, see the batches of :func:`mlm_tutorial.training.training_dataset`
    (same masks) and use the same optimizer settings. The losses are mathematically the same, so the two
    runs should end at the same validation loss up to float rounding: ``equal`` is True when they agree
    within ``tolerance`` (relative).

    Part of `make bench`; no notebook calls it.
    """
    from mlm_tutorial.evaluation import fixed_masks, masked_lm_score
    from mlm_tutorial.masking import IGNORE_INDEX
    from mlm_tutorial.training import build_trainer, make_optimizer, make_schedule, training_dataset

    train_rows, validation_rows = _check_rows(train_rows), _check_rows(validation_rows)
    steps = _check_int("steps", steps, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    schedule = make_schedule(learning_rate, steps, steps // 10)
    stock, fast = clone_model(model, dropout=False), clone_model(model, dropout=False)
    masked, labels = fixed_masks(validation_rows, tokenizer, seed=eval_seed)
    initial = masked_lm_score(stock, masked, labels).loss
    stock.compile(optimizer=make_optimizer(schedule))
    stock.fit(training_dataset(train_rows, tokenizer, batch_size, steps, seed=seed), steps_per_epoch=steps, epochs=1,
              verbose=0)
    trainer = build_trainer(fast, make_optimizer(schedule), fast_head=True)
    trainer.fit(training_dataset(train_rows, tokenizer, batch_size, steps, seed=seed), steps_per_epoch=steps, epochs=1,
                verbose=0)
    baseline_loss = masked_lm_score(stock, masked, labels).loss
    project_loss = masked_lm_score(fast, masked, labels).loss
    difference = abs(baseline_loss - project_loss)
    return {"steps": steps, "batch_size": batch_size, "learning_rate": learning_rate, "dropout": 0.0,
            "validation_masked_tokens": int((labels != IGNORE_INDEX).sum()), "initial_loss": initial,
            "baseline_loss": baseline_loss, "project_loss": project_loss, "abs_diff": difference,
            "tolerance": tolerance, "equal": bool(difference <= tolerance * abs(baseline_loss))}


def flops_summary(shape: ModelShape, seq_len: int, comparison: Mapping[str, Any],
                  peak_gflops: float | None = None) -> dict[str, Any]:
    """Achieved GFLOP/s of both paths from a :func:`training_comparison` result.

    "Useful" FLOPs are the work the project's path needs: the head, and the last layer's queries, attention,
    output projection and feed-forward block, on the masked share of the positions only; the recipe computes
    them at every position. ``achieved_gflops`` is the project path's rate.

    Introduced in notebook 05.
    """
    needed = {"masked_share", "project_tokens_per_s", "baseline_tokens_per_s"}
    if not isinstance(comparison, Mapping) or not needed <= set(comparison):
        raise ValueError(f"comparison must be the dict training_comparison() returns, with keys {sorted(needed)}.")
    if peak_gflops is not None and (isinstance(peak_gflops, bool) or not isinstance(peak_gflops, (int, float))
                                    or peak_gflops <= 0):
        raise ValueError(f"peak_gflops must be a positive number (matmul_peak()['peak_gflops']) or None, "
                         f"got {peak_gflops!r}.")
    share = comparison["masked_share"]
    useful = training_flops_per_token(shape, seq_len, share, last_layer_fraction=share)
    full = training_flops_per_token(shape, seq_len, 1.0)
    result = {
        "shape": asdict(shape),
        "forward_flops_per_token": forward_flops_per_token(shape, seq_len, 1.0),
        "useful_flops_per_token": useful, "baseline_flops_per_token": full,
        "achieved_gflops": useful * comparison["project_tokens_per_s"] / 1e9,
        "baseline_gflops": full * comparison["baseline_tokens_per_s"] / 1e9,
        "baseline_useful_gflops": useful * comparison["baseline_tokens_per_s"] / 1e9,
    }
    if peak_gflops is not None:
        result["peak_gflops"] = float(peak_gflops)
        result["fraction_of_peak"] = result["achieved_gflops"] / float(peak_gflops)
    return result


# --------------------------------------------------------------------------- masking


def masking_comparison(rows: Any, tokenizer: Any, batch_size: int = 32, rounds: int = 3, warmup: int = 1,
                       project_passes: int = 10, collator_passes: int = 1, seed: int = 42) -> dict[str, Any]:
    """Sequences/s of masking pipelines over the same ``rows``, in batches of ``batch_size``.

    - ``project``: the project's training pipeline, :func:`mlm_tutorial.training.training_dataset` (each pass
      shuffled, every batch gathered from the rows and masked by ``mask_tokens`` with BERT's 80/10/10 rule,
      inside ``tf.data``, incomplete last batch dropped): what the project's ``fit`` consumes;
    - ``collator``: ``DataCollatorForLanguageModeling(return_tensors="tf")`` inside the ``tf.data`` pipeline that
      ``model.prepare_tf_dataset`` builds (``datasets.Dataset.to_tf_dataset`` with ``collate_fn``, shuffled,
      incomplete last batch dropped), i.e. what the course recipe's ``fit`` consumes;
    - ``collator_direct``: the collator alone, called on lists of examples (dicts of NumPy rows, as
      ``to_tf_dataset`` hands them over), without the dataset around it.

    Every path hands every batch to Python. A run is ``project_passes`` (``collator_passes``) passes over the
    rows; the ``tf.data`` runs are timed from creating the iterator to the last batch, and the iterator is
    destroyed after the clock stops (that can block while an autotuning thread sleeps). Runs alternate;
    ``ratio`` is project / collator and ``direct_ratio`` project / collator_direct; every measured run's
    rate is kept under ``runs_sequences_per_s``.

    Introduced in notebook 05.
    """
    import datasets
    from transformers import DataCollatorForLanguageModeling

    from mlm_tutorial.training import steps_per_epoch, training_dataset

    rows = _check_rows(rows)
    batch_size = _check_int("batch_size", batch_size, 1)
    if batch_size > len(rows):
        raise ValueError(f"batch_size {batch_size} is larger than the {len(rows)} rows; use at most {len(rows)}.")
    project_passes = _check_int("project_passes", project_passes, 1)
    collator_passes = _check_int("collator_passes", collator_passes, 1)
    full_batches = steps_per_epoch(len(rows), batch_size)  # both pipelines drop the incomplete last batch
    pipeline = training_dataset(rows, tokenizer, batch_size, project_passes * full_batches, seed=seed)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, return_tensors="tf")
    table = datasets.Dataset.from_dict({"input_ids": rows.tolist(), "attention_mask": np.ones_like(rows).tolist()})
    recipe = table.to_tf_dataset(columns=["input_ids", "attention_mask"], label_cols="labels", batch_size=batch_size,
                                 shuffle=True, drop_remainder=True, collate_fn=collator,
                                 prefetch=True).repeat(collator_passes)
    examples = [{"input_ids": row, "attention_mask": np.ones_like(row)} for row in rows]

    def drain(data: Any) -> Callable[[], float]:
        def run() -> float:
            began = time.perf_counter()
            iterator = iter(data)
            for _ in iterator:
                pass
            seconds = time.perf_counter() - began
            del iterator  # destroyed outside the timed span
            return seconds
        return run

    def direct() -> None:
        for _ in range(collator_passes):
            for start in range(0, len(examples), batch_size):
                collator(examples[start:start + batch_size])

    timings = run_interleaved({"project": drain(pipeline), "collator": drain(recipe), "collator_direct": direct},
                              rounds, warmup)
    units = {"project": project_passes * full_batches * batch_size,
             "collator": collator_passes * full_batches * batch_size,
             "collator_direct": collator_passes * len(rows)}
    medians = timings.median_rates(units)
    return {"rows": int(len(rows)), "seq_len": int(rows.shape[1]), "batch_size": batch_size, "rounds": rounds,
            "project_passes": project_passes, "collator_passes": collator_passes, "order": timings.order,
            "project_sequences_per_s": medians["project"], "collator_sequences_per_s": medians["collator"],
            "collator_direct_sequences_per_s": medians["collator_direct"],
            "ratio": medians["project"] / medians["collator"],
            "direct_ratio": medians["project"] / medians["collator_direct"],
            "runs_sequences_per_s": timings.rates(units)}


# --------------------------------------------------------------------------- the whole benchmark


@dataclass(frozen=True)
class BenchSettings:
    """Everything ``make bench`` measures with; :meth:`quick_settings` gives the tiny smoke run the tests use.

    ``rounds`` measured runs per path follow ``warmup`` unmeasured ones; a run is ``bundled_steps``
    (``distilbert_steps``) optimizer steps. ``validation_rows`` and ``masking_rows`` cap the held-out
    chunks of the loss check and the chunks of the masking comparison (``None``: all of them).
    ``tiny_models`` replaces the bundled model and the DistilBERT-size model by one-layer configs.

    Part of `make bench`; no notebook calls it.
    """

    batch_size: int = 32
    seq_len: int = 128
    rounds: int = 5
    warmup: int = 1
    bundled_steps: int = 20
    distilbert_steps: int = 3
    loss_steps: int = 20
    loss_learning_rate: float = 1e-3
    masking_rounds: int = 3
    matmul_size: int = 4096
    matmul_repeats: int = 5
    distilbert: bool = True
    tiny_models: bool = False
    validation_rows: int | None = None
    masking_rows: int | None = None
    seed: int = 42
    quick: bool = False

    def __post_init__(self) -> None:
        for name in ("batch_size", "rounds", "bundled_steps", "distilbert_steps", "loss_steps", "masking_rounds",
                     "matmul_repeats"):
            _check_int(name, getattr(self, name), 1)
        _check_int("seq_len", self.seq_len, 8)
        _check_int("matmul_size", self.matmul_size, 16)
        _check_int("warmup", self.warmup, 0)
        _check_int("seed", self.seed, 0)
        for name in ("validation_rows", "masking_rows"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), 1)
        if isinstance(self.loss_learning_rate, bool) or not isinstance(self.loss_learning_rate, (int, float)) \
                or not 0.0 < self.loss_learning_rate < 1.0:
            raise ValueError(f"loss_learning_rate must be a number between 0 and 1, got {self.loss_learning_rate!r}.")

    @classmethod
    def quick_settings(cls, **changes: Any) -> "BenchSettings":
        """A smoke run: tiny models, short rows, batches of 4, 2 steps per run, one measured round."""
        base = cls(batch_size=4, seq_len=32, rounds=1, warmup=1, bundled_steps=2, distilbert_steps=2, loss_steps=2,
                   masking_rounds=1, matmul_size=256, matmul_repeats=2, tiny_models=True, validation_rows=16,
                   masking_rows=256, quick=True)
        return replace(base, **changes)


def _cpu_model() -> str | None:
    """The processor's name as Linux reports it (``model name`` in /proc/cpuinfo), or None elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("model name") and ":" in line:
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return None


def _commit() -> str | None:
    """The checkout's commit as a short hash, with "+changes" when tracked files differ from it; None when the
    checkout is not a git repository of its own (a copy unpacked inside another repository does not count)."""
    import subprocess

    from mlm_tutorial.paths import project_root

    root = project_root()

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    commit = git("rev-parse", "--short", "HEAD")
    if not top or not commit or Path(top).resolve() != root.resolve():
        return None
    changes = git("status", "--porcelain", "--untracked-files=no")
    return commit + ("+changes" if changes else "")


def _machine() -> dict[str, Any]:
    import platform

    import tensorflow as tf
    import transformers

    return {"cpu_count": os.cpu_count(), "cpu": _cpu_model() or platform.processor() or None,
            "platform": platform.platform(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "transformers": transformers.__version__, "commit": _commit()}


def run_benchmarks(settings: BenchSettings, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Everything ``make bench`` measures, as one JSON-ready dict (its layout: ``benchmarks/README.md``).

    Part of `make bench`; no notebook calls it.
    """
    from mlm_tutorial.chunking import chunk_texts
    from mlm_tutorial.resources import (bundled_corpus_dir, bundled_model_dir, load_mlm_model, load_news_corpus,
                                        load_tokenizer)

    if not isinstance(settings, BenchSettings):
        raise TypeError(f"settings must be a BenchSettings, got {type(settings).__name__}.")
    s = settings
    corpus = load_news_corpus(str(bundled_corpus_dir()))
    model_dir = bundled_model_dir()
    tokenizer = load_tokenizer(str(model_dir))
    train_texts, test_texts = list(corpus["train"]["text"]), list(corpus["test"]["text"])
    train_rows = chunk_texts(train_texts, tokenizer, s.seq_len)
    validation_rows = chunk_texts(test_texts, tokenizer, s.seq_len)[:s.validation_rows]
    all_rows = chunk_texts(train_texts + test_texts, tokenizer, s.seq_len)[:s.masking_rows]
    results: dict[str, Any] = {"settings": asdict(s), "machine": _machine(), "training": {}}

    say(f"matmul peak (fp32, square sizes up to {s.matmul_size}) ...")
    peak = matmul_peak(s.matmul_size, s.matmul_repeats)
    results["matmul"] = peak

    # The DistilBERT-size model first: its long runs are the most sensitive to the state a process is in
    # (memory held by earlier models and pipelines), so they get a fresh one.
    if s.distilbert:
        say("training speed, DistilBERT-size model (random weights) ...")
        config = distilbert_size_config(pad_token_id=tokenizer.pad_token_id, tiny=s.tiny_models)
        model = model_from_config(config, seed=s.seed)
        entry = {"model": "TFDistilBertForMaskedLM from a config" + (" (tiny, --quick)" if s.tiny_models else ""),
                 "weights": "random", "token_ids": f"bundled tokenizer ids (vocabulary {len(tokenizer):,} of the "
                                                   f"model's {config.vocab_size:,})"}
        entry.update(training_comparison(model, tokenizer, train_rows, s.batch_size, s.distilbert_steps, s.rounds,
                                         s.warmup, seed=s.seed))
        entry.update(flops_summary(ModelShape.from_config(config), s.seq_len, entry, peak["peak_gflops"]))
        distilbert_entry = entry
        del model
        gc.collect()

    if s.tiny_models:
        bundled = model_from_config(tiny_bert_config(len(tokenizer), tokenizer.pad_token_id), seed=s.seed)
        entry = {"model": "tiny TFBertForMaskedLM from a config (stands in for the bundled model in --quick)",
                 "weights": "random"}
    else:
        bundled = load_mlm_model(str(model_dir))
        entry = {"model": f"data/models/{model_dir.name}", "weights": "pretrained (bundled)"}
    entry["token_ids"] = f"bundled tokenizer (vocabulary {len(tokenizer):,})"
    say("equal validation loss: both paths from the same weights, same masks, no dropout ...")
    validation = equal_loss_check(bundled, tokenizer, train_rows, validation_rows, s.loss_steps, s.batch_size,
                                  s.loss_learning_rate, seed=s.seed)
    say("training speed, bundled model ...")
    entry.update(training_comparison(bundled, tokenizer, train_rows, s.batch_size, s.bundled_steps, s.rounds,
                                     s.warmup, seed=s.seed))
    entry.update(flops_summary(ModelShape.from_config(bundled.config), s.seq_len, entry, peak["peak_gflops"]))
    entry["validation"] = validation
    results["training"]["bundled"] = entry
    if s.distilbert:
        results["training"]["distilbert_size"] = distilbert_entry
    del bundled
    gc.collect()

    say("masking speed: mask_tokens in tf.data vs the transformers collator ...")
    results["masking"] = masking_comparison(all_rows, tokenizer, s.batch_size, s.masking_rounds, s.warmup,
                                            seed=s.seed)
    results["targets"] = target_checks(results)
    return results


#: (key, description, threshold) of each target, for `make bench` on a quiet machine with 2 CPU cores.
TARGETS = (
    ("distilbert_speed", "training speed, DistilBERT-size: project / course recipe", 1.6),
    ("bundled_speed", "training speed, bundled model: project / course recipe (no slower)", 1.0),
    ("equal_loss", "equal final validation loss (bundled, same masks, relative difference)", LOSS_TOLERANCE),
    ("flops_fraction", "DistilBERT-size useful FLOP/s / measured matmul peak", 0.7),
    ("masking_speed", "masking: mask_tokens in tf.data / the collator in prepare_tf_dataset", 20.0),
)


def _relative_difference(difference: float, reference: float) -> float:
    """``difference / |reference|``; 0 for no difference, infinite when only the reference is 0."""
    if difference == 0:
        return 0.0
    return difference / abs(reference) if reference else math.inf


def target_checks(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each target with its measured value and whether it passed (``None`` when it was not measured).

    Part of `make bench`; no notebook calls it.
    """
    training = results.get("training", {})
    bundled, distil = training.get("bundled"), training.get("distilbert_size")
    validation = bundled.get("validation") if bundled else None
    measured = {
        "distilbert_speed": distil["ratio"] if distil else None,
        "bundled_speed": bundled["ratio"] if bundled else None,
        "equal_loss": _relative_difference(validation["abs_diff"], validation["baseline_loss"]) if validation else None,
        "flops_fraction": distil.get("fraction_of_peak") if distil else None,
        "masking_speed": results["masking"]["ratio"] if "masking" in results else None,
    }
    checks = []
    for key, text, threshold in TARGETS:
        value = measured[key]
        if value is None:
            passed = None
        elif key == "equal_loss":
            passed = bool(value <= threshold)
        else:
            passed = bool(value >= threshold)
        checks.append({"key": key, "target": text, "threshold": threshold, "measured": value, "passed": passed})
    return checks


def _format_target(check: Mapping[str, Any]) -> str:
    status = {True: "PASS", False: "FAIL", None: "SKIP"}[check["passed"]]
    value, threshold = check["measured"], check["threshold"]
    if check["key"] == "equal_loss":
        wanted, got = f"<= {threshold:.0e}", "not measured" if value is None else f"{value:.1e}"
    elif check["key"] == "flops_fraction":
        wanted, got = f">= {threshold:.0%}", "not measured" if value is None else f"{value:.0%}"
    else:
        wanted, got = f">= {threshold:g}x", "not measured" if value is None else f"{value:.2f}x"
    return f"{status}  {check['target']}: {wanted} (measured {got})"


def format_table(results: Mapping[str, Any]) -> str:
    """The printed summary of :func:`run_benchmarks`: training, compute, masking, then the targets.

    Part of `make bench`; no notebook calls it.
    """
    lines = []
    machine, settings = results.get("machine", {}), results.get("settings", {})
    lines.append(f"MLM fine-tuning benchmark: {machine.get('cpu_count', '?')} CPU cores, TensorFlow "
                 f"{machine.get('tensorflow', '?')}, transformers {machine.get('transformers', '?')}"
                 + ("  [--quick smoke run: the numbers mean nothing]" if settings.get("quick") else ""))
    training = results.get("training", {})
    if training:
        first = next(iter(training.values()))
        lines.append("")
        lines.append(f"training, tokens/s (median of {first['rounds']} interleaved runs after {first['warmup_runs']} "
                     f"warm-up; batch {first['batch_size']} x {first['seq_len']} tokens)")
        lines.append(f"{'model':<18}{'course recipe':>15}{'project path':>15}{'ratio':>9}")
        for name, entry in training.items():
            lines.append(f"{name:<18}{entry['baseline_tokens_per_s']:>15,.0f}{entry['project_tokens_per_s']:>15,.0f}"
                         f"{entry['ratio']:>8.2f}x")
        validation = training.get("bundled", {}).get("validation")
        if validation:
            lines.append(f"validation loss after {validation['steps']} steps (bundled model, same masks, no dropout): "
                         f"recipe {validation['baseline_loss']:.5f}, project {validation['project_loss']:.5f} "
                         f"(start {validation['initial_loss']:.5f}, |difference| {validation['abs_diff']:.1e})")
        for name, entry in training.items():
            if "peak_gflops" in entry:
                lines.append(f"compute, {name}: project path {entry['achieved_gflops']:.1f} useful GFLOP/s = "
                             f"{entry['fraction_of_peak']:.0%} of the measured matmul peak {entry['peak_gflops']:.1f} "
                             f"GFLOP/s (course recipe: {entry['baseline_useful_gflops']:.1f} useful, "
                             f"{entry['baseline_gflops']:.1f} computed)")
            if entry.get("useful_flops_per_token") and entry.get("baseline_flops_per_token") and "baseline_gflops" in entry:
                work = entry["baseline_flops_per_token"] / entry["useful_flops_per_token"]
                pace = entry["achieved_gflops"] / entry["baseline_gflops"]
                lines.append(f"  work per token: course recipe {entry['baseline_flops_per_token'] / 1e6:.3g} MFLOP, "
                             f"project path {entry['useful_flops_per_token'] / 1e6:.3g} MFLOP ({work:.2f}x less); "
                             f"GFLOP/s project / recipe {pace:.2f}; speed ratio = {work:.2f} x {pace:.2f} = "
                             f"{work * pace:.2f}x")
    masking = results.get("masking")
    if masking:
        lines.append("")
        lines.append(f"masking, sequences/s ({masking['rows']:,} chunks of {masking['seq_len']} tokens, batch "
                     f"{masking['batch_size']}): mask_tokens in tf.data {masking['project_sequences_per_s']:,.0f}; "
                     f"collator in prepare_tf_dataset {masking['collator_sequences_per_s']:,.0f} "
                     f"(ratio {masking['ratio']:.1f}x)")
        if "collator_direct_sequences_per_s" in masking:
            lines.append(f"  the collator alone, called on lists of examples: "
                         f"{masking['collator_direct_sequences_per_s']:,.0f} (ratio {masking['direct_ratio']:.1f}x)")
    checks = results.get("targets")
    if checks:
        lines.append("")
        lines.append("targets")
        lines.extend(_format_target(check) for check in checks)
    return "\n".join(lines)


#: The `make bench` run that README.md's performance section quotes: a copy of that run's ``build/bench.json``.
REFERENCE_RUN = "benchmarks/reference_run.json"


def reference_run(root: Path | None = None) -> dict[str, Any]:
    """The results of the run in :data:`REFERENCE_RUN` (below ``root``, default the checkout).

    Part of `make readme`; no notebook calls it.
    """
    from mlm_tutorial.paths import project_root

    path = (root if root is not None else project_root()) / REFERENCE_RUN
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: copy the build/bench.json of a `make bench` run there.")
    return json.loads(path.read_text(encoding="utf-8"))


def readme_summary(results: Mapping[str, Any]) -> str:
    """README.md's performance section (table and the paragraphs around it), written from one run's results.

    Every number in it comes from ``results`` (a full run with the DistilBERT-size model), so the README
    cannot drift from the run it quotes. Part of `make readme`; no notebook calls it.
    """
    training = results.get("training", {}) if isinstance(results, Mapping) else {}
    if not {"bundled", "distilbert_size"} <= set(training) or "masking" not in results or "matmul" not in results:
        raise ValueError("results must be those of a full `make bench` run (both models, masking, matmul peak).")
    if results.get("settings", {}).get("quick"):
        raise ValueError("results come from `make bench --quick`, whose numbers mean nothing; quote a full run.")
    machine, bundled, distil = results.get("machine", {}), training["bundled"], training["distilbert_size"]
    masking, checks = results["masking"], {check["key"]: check for check in target_checks(results)}
    shape = distil["shape"]
    commit = machine.get("commit")
    where = f"a clone of commit {commit}" if commit else "a clone of the repository"
    cpu = f"{machine['cpu']}, " if machine.get("cpu") else ""
    pairs = [project / baseline for baseline, project in
             zip(distil["baseline_runs_tokens_per_s"], distil["project_runs_tokens_per_s"])]
    work = distil["baseline_flops_per_token"] / distil["useful_flops_per_token"]
    speed, flops = checks["distilbert_speed"], checks["flops_fraction"]
    verdict = "PASS" if speed["passed"] else "FAIL"
    rows = [
        "| model | course recipe | project path | ratio |",
        "|---|---|---|---|",
        f"| bundled `{Path(bundled['model']).name}` | {bundled['baseline_tokens_per_s']:,.0f} | "
        f"{bundled['project_tokens_per_s']:,.0f} | {bundled['ratio']:.2f}x |",
        f"| DistilBERT-size ({shape['layers']} layers, hidden {shape['hidden']}, vocabulary {shape['vocab']:,}) | "
        f"{distil['baseline_tokens_per_s']:,.0f} | {distil['project_tokens_per_s']:,.0f} | {distil['ratio']:.2f}x |",
    ]
    paragraphs = [
        f"The run quoted here, kept in `{REFERENCE_RUN}`: `make bench` on {where}, on a machine with "
        f"{machine.get('cpu_count', '?')} CPU cores ({cpu}measured fp32 matmul peak "
        f"{distil['peak_gflops']:,.0f} GFLOP/s) and nothing else running"
        + (f"; it took {results['seconds'] / 60:.1f} minutes" if results.get("seconds") else "")
        + f". Tokens/s, median of {distil['rounds']} interleaved runs, batch {distil['batch_size']} x "
        f"{distil['seq_len']} tokens:",
        "\n".join(rows),
        f"Both paths reach the same validation loss from the same weights and masks (relative difference "
        f"{_power_of_ten(checks['equal_loss']['measured'])}). The project's training pipeline (`training_dataset`: "
        f"shuffle, gather, mask inside `tf.data`) produced {masking['project_sequences_per_s']:,.0f} sequences/s, "
        f"{masking['ratio']:.0f}x the collator inside `prepare_tf_dataset` "
        f"({masking['collator_sequences_per_s']:,.0f}/s) and {masking['direct_ratio']:.0f}x the collator called on "
        f"its own ({masking['collator_direct_sequences_per_s']:,.0f}/s). The DistilBERT-size run used "
        f"{flops['measured']:.0%} of the measured matmul peak, counting only the work the project path needs.",
        f"For a model that size at {distil['seq_len']} tokens the encoder's lower layers do most of the work, and "
        f"both paths share them, so the gain is smaller than for the small bundled model. The ratio is the product "
        f"of two numbers the benchmark reports: the work per token (the recipe needs "
        f"{distil['baseline_flops_per_token'] / 1e6:.0f} MFLOP, the project path "
        f"{distil['useful_flops_per_token'] / 1e6:.0f} MFLOP: {work:.2f}x less) and how fast each path gets through "
        f"its work ({distil['baseline_gflops']:.0f} and {distil['achieved_gflops']:.0f} GFLOP/s here). With both "
        f"near the machine's matmul limit, the speed-up stays close to the {work:.2f}x of saved work: in this run "
        f"the {len(pairs)} project runs were {min(pairs):.2f}x to {max(pairs):.2f}x as fast as the recipe's runs "
        f"beside them, so the {speed['threshold']:g}x target for this model passes or fails with run-to-run noise "
        f"(this run: {verdict}).",
    ]
    wrap = functools.partial(textwrap.fill, width=110, break_long_words=False, break_on_hyphens=False)
    return "\n\n".join(text if text.startswith("|") else wrap(text) for text in paragraphs)


def _power_of_ten(value: float) -> str:
    """``value`` rounded to one significant digit in E notation without padded exponents: 1e-9, 3e-5, 0."""
    if not value:
        return "0"
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def results_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Where :func:`write_results` writes: ``path``, or ``build/bench.json`` by default, checked.

    Inside the checkout only the build folder is written to, so ``--output README.md`` or a file under
    ``src/`` is refused instead of replaced; a path outside the checkout is fine, a folder is not.
    ``make bench`` calls it before measuring, so a bad ``--output`` fails at once, not after the runs.

    Part of `make bench`; no notebook calls it.
    """
    from mlm_tutorial.paths import build_dir, refuse_checkout_file

    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path or None, got {type(path).__name__}.")
    target = (Path(path).expanduser() if path is not None else build_dir() / "bench.json").resolve()
    refuse_checkout_file(target, "results file")
    if target.is_dir():
        raise ValueError(f"results file {target} is a folder; name a file, e.g. {target / 'bench.json'}.")
    return target


def write_results(results: Mapping[str, Any], path: str | os.PathLike[str] | None = None) -> Path:
    """Write ``results`` as JSON (default ``build/bench.json``) via a temporary file, and return the path.

    The path is checked by :func:`results_path`. Numbers that are not finite (a NaN loss of a failed run)
    are written as ``null``, so that every JSON reader can read the file.

    Part of `make bench`; no notebook calls it.
    """
    from mlm_tutorial.paths import write_text_atomic

    if not isinstance(results, Mapping):
        raise TypeError(f"results must be a dict from run_benchmarks(), got {type(results).__name__}.")
    target = results_path(path)  # before a folder for it is made
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_finite_or_none(results), indent=2, sort_keys=True, default=_json_default,
                      allow_nan=False) + "\n"
    return write_text_atomic(target, text)


def _finite_or_none(value: Any) -> Any:
    """``value`` with every float that is NaN or infinite (NumPy's too) replaced by None, in dicts and lists."""
    if isinstance(value, Mapping):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    if isinstance(value, np.ndarray):
        return _finite_or_none(value.tolist())
    if isinstance(value, (float, np.floating)) and not math.isfinite(float(value)):
        return None
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def prepare(seed: int = 42) -> None:
    """Set up TensorFlow for measuring (Keras 2, quiet logs, seeds), as a notebook's setup cell would.

    Part of `make bench`; no notebook calls it.
    """
    from mlm_tutorial.setup import notebook_setup

    notebook_setup(seed=seed, deterministic=False, verbose=False)
