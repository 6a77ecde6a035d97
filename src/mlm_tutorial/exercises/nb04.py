"""Checkers for the exercises of notebook 04 (fine-tuning a TF masked LM).

Numbers may be given as Python numbers, NumPy scalars or 0-d TensorFlow tensors (``tf.size(...)``,
``tf.exp(tf.reduce_mean(...))``): each checker converts them itself.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlm_tutorial.exercises.feedback import (Feedback, as_number, as_pair, describe, describe_non_number,
                                             missing_answer)

#: Exercise 1's run: chunks, batch size, epochs, warm-up share.
STEPS_QUESTION = {"chunks": 10_000, "batch_size": 32, "epochs": 3, "warmup_ratio": 0.1}


def _count(value: Any) -> int | None:
    """``value`` as an int when it is a whole number (an int, or a float such as 94.0), else None."""
    number = as_number(value)
    if isinstance(number, float):
        return int(number) if math.isfinite(number) and number.is_integer() else None
    return number


def _counts(answer: Any) -> tuple[int, int] | str:
    """The two whole numbers of a pair answer, or what is wrong with it (for the feedback)."""
    answer = as_pair(answer)
    if not isinstance(answer, (tuple, list)):
        return f"got {describe(answer)}"
    if len(answer) != 2:
        return f"got {describe(answer)} of {len(answer)} value{'' if len(answer) == 1 else 's'}"
    pair = [_count(value) for value in answer]
    for value, count in zip(answer, pair):
        if count is None:
            number = as_number(value)
            if number is not None:
                return f"got {number:g}: counts are whole numbers"
            return f"got {describe_non_number(value)}"
    return pair[0], pair[1]


def check_training_steps(answer: Any) -> Feedback:
    """Notebook 04, exercise 1: ``(total_steps, warmup_steps)`` for :data:`STEPS_QUESTION`, incomplete batches dropped.

    Both are whole numbers: ints, NumPy or 0-d tensor integers, or floats without a fraction (``94.0``).
    """
    q = STEPS_QUESTION
    feedback = Feedback("Exercise 1 (steps and warm-up)")
    if missing_answer(feedback, answer):
        return feedback
    per_epoch = q["chunks"] // q["batch_size"]
    total = per_epoch * q["epochs"]
    warmup = round(q["warmup_ratio"] * total)
    pair = _counts(answer)
    if isinstance(pair, str):
        return feedback.bad(f"answer must be a pair of ints: (total_steps, warmup_steps); {pair}.")
    got_total, got_warmup = pair
    if got_total == total:
        feedback.good(f"{q['chunks']:,} // {q['batch_size']} = {per_epoch} full batches per epoch, "
                      f"x {q['epochs']} epochs = {total} steps.")
    elif got_total == math.ceil(q["chunks"] / q["batch_size"]) * q["epochs"]:
        feedback.bad("that counts the incomplete last batch of each epoch; training_dataset drops it "
                     "(every step sees a full batch). Use integer division.")
    elif got_total == per_epoch:
        feedback.bad("that is one epoch; multiply by the number of epochs.")
    else:
        feedback.bad(f"total_steps {got_total} is not chunks // batch_size x epochs.")
    if got_warmup >= got_total:
        feedback.bad(f"warm-up of {got_warmup} steps never ends within {got_total} steps: the learning rate would "
                     "never reach its peak or decay (the mistake of the best-known TF tutorial).")
    elif abs(got_warmup - warmup) <= 1:
        feedback.good(f"warm-up {got_warmup} steps is 10% of training and ends long before it does.")
    else:
        feedback.bad(f"warm-up should be about {q['warmup_ratio']:.0%} of the total steps, got {got_warmup}.")
    return feedback


def example_batch_losses() -> list[np.ndarray]:
    """The data of notebook 04's exercise 2: per-token cross-entropies (nats) of the masked tokens of two
    validation batches."""
    rng = np.random.default_rng(404)
    return [np.round(rng.uniform(1.0, 3.0, size=40), 3), np.round(rng.uniform(4.0, 6.0, size=8), 3)]


def check_validation_perplexity(answer: Any) -> Feedback:
    """Notebook 04, exercise 2: the perplexity over all masked tokens of :func:`example_batch_losses`.

    ``answer`` is one number: a Python or NumPy number or a 0-d tensor; within 0.1% of the reference passes.
    """
    feedback = Feedback("Exercise 2 (perplexity over masked tokens)")
    if missing_answer(feedback, answer):
        return feedback
    batches = example_batch_losses()
    truth = math.exp(float(np.mean(np.concatenate(batches))))
    mean_of_means = math.exp(float(np.mean([b.mean() for b in batches])))
    mean_of_ppl = float(np.mean([math.exp(b.mean()) for b in batches]))
    value = as_number(answer)
    if value is None:
        what = describe_non_number(answer)
        hint = " (one perplexity for all masked tokens is a single value)" if "shape" in what else ""
        return feedback.bad(f"answer must be a number (a perplexity), got {what}{hint}.")
    value = float(value)
    if not math.isfinite(value):
        return feedback.bad(f"the answer is {value}, not a finite number: look for an empty array or a log of 0.")
    if math.isclose(value, truth, rel_tol=1e-3):
        return feedback.good(f"exp(mean cross-entropy over all {sum(len(b) for b in batches)} masked tokens) = "
                             f"{truth:.2f}: every masked token counts once.")
    if math.isclose(value, mean_of_means, rel_tol=1e-3):
        return feedback.bad("that averages the two batch means, so the 8 tokens of the small batch weigh as much as "
                            "the 40 of the big one. Average over tokens, not batches.")
    if math.isclose(value, mean_of_ppl, rel_tol=1e-3):
        return feedback.bad("that averages per-batch perplexities; perplexity is exp of the mean loss over all "
                            "tokens, and exp of an average is not the average of exps.")
    if math.isclose(value, float(np.mean(np.concatenate(batches))), rel_tol=1e-3):
        return feedback.bad("that is the mean cross-entropy itself; perplexity is its exponential.")
    if math.isclose(value, truth, rel_tol=1e-2):
        return feedback.bad(f"close ({abs(value - truth) / truth:.2%} off) but not within 0.1%: if you rounded, "
                            "give the unrounded value.")
    return feedback.bad("not the perplexity: concatenate the per-token losses, take their mean, then exp().")


def check_head_rows(answer: Any, labels: Any) -> Feedback:
    """Notebook 04, exercise 3: ``(stock_rows, fast_rows)``: vocabulary-logit rows each head computes for ``labels``.

    ``labels`` is a 2-D array of labels, one row per sequence (NumPy or tensor; the notebook passes its
    validation labels, ``val_labels``); a wrong shape there raises ``ValueError``. The two counts may be
    ints, NumPy integers, 0-d tensors (``tf.size(...)``, ``tf.reduce_sum(...)``) or whole floats such as
    ``3.0`` (a float mask summed): the count is what matters.
    """
    feedback = Feedback("Exercise 3 (what the fast head saves)")
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be 2-D (sequences x positions), got shape {labels.shape}.")
    if missing_answer(feedback, answer):
        return feedback
    stock, fast = int(labels.size), int(np.sum(labels != -100))
    pair = _counts(answer)
    if isinstance(pair, str):
        return feedback.bad(f"answer must be a pair of ints: (stock_rows, fast_rows); {pair}.")
    got_stock, got_fast = pair
    if got_stock == stock:
        feedback.good(f"the stock head computes logits at all {labels.shape[0]} x {labels.shape[1]} = {stock} positions.")
    else:
        feedback.bad("the stock head computes a row of logits at every position of every sequence: sequences x length.")
    if got_fast == fast:
        feedback.good(f"the fast head computes only the {fast} masked positions ({fast / stock:.0%}).")
    elif got_fast == stock - fast:
        feedback.bad("that counts the positions that are NOT predicted; the fast head needs labels != -100.")
    else:
        feedback.bad("count the positions whose label is not -100: only those are predicted.")
    return feedback
