"""Checkers for the exercises of notebook 04 (fine-tuning a TF masked LM)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlm_tutorial.exercises.feedback import Feedback

#: Exercise 1's run: chunks, batch size, epochs, warm-up share.
STEPS_QUESTION = {"chunks": 10_000, "batch_size": 32, "epochs": 3, "warmup_ratio": 0.1}


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_training_steps(answer: Any) -> Feedback:
    """Exercise 1: ``(total_steps, warmup_steps)`` for :data:`STEPS_QUESTION`, incomplete batches dropped."""
    q = STEPS_QUESTION
    feedback = Feedback("Exercise 1 (steps and warm-up)")
    per_epoch = q["chunks"] // q["batch_size"]
    total = per_epoch * q["epochs"]
    warmup = round(q["warmup_ratio"] * total)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2 or not all(_is_int(v) for v in answer):
        return feedback.bad("answer must be a pair of ints: (total_steps, warmup_steps).")
    got_total, got_warmup = int(answer[0]), int(answer[1])
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
    """Exercise 2's data: per-token cross-entropies (nats) of the masked tokens of two validation batches."""
    rng = np.random.default_rng(404)
    return [np.round(rng.uniform(1.0, 3.0, size=40), 3), np.round(rng.uniform(4.0, 6.0, size=8), 3)]


def check_validation_perplexity(answer: Any) -> Feedback:
    """Exercise 2: the perplexity over all masked tokens of :func:`example_batch_losses`."""
    feedback = Feedback("Exercise 2 (perplexity over masked tokens)")
    batches = example_batch_losses()
    truth = math.exp(float(np.mean(np.concatenate(batches))))
    mean_of_means = math.exp(float(np.mean([b.mean() for b in batches])))
    mean_of_ppl = float(np.mean([math.exp(b.mean()) for b in batches]))
    if isinstance(answer, bool) or not isinstance(answer, (int, float, np.floating)):
        return feedback.bad(f"answer must be a number (a perplexity), got {type(answer).__name__}.")
    value = float(answer)
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
    return feedback.bad("not the perplexity: concatenate the per-token losses, take their mean, then exp().")


def check_head_rows(answer: Any, labels: Any) -> Feedback:
    """Exercise 3: ``(stock_rows, fast_rows)``: vocabulary-logit rows each head computes for ``labels``."""
    feedback = Feedback("Exercise 3 (what the fast head saves)")
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be the 2-D labels of one batch, got shape {labels.shape}.")
    stock, fast = int(labels.size), int(np.sum(labels != -100))
    if not isinstance(answer, (tuple, list)) or len(answer) != 2 or not all(_is_int(v) for v in answer):
        return feedback.bad("answer must be a pair of ints: (stock_rows, fast_rows).")
    if int(answer[0]) == stock:
        feedback.good(f"the stock head computes logits at all {labels.shape[0]} x {labels.shape[1]} = {stock} positions.")
    else:
        feedback.bad("the stock head computes a row of logits at every position of every sequence: batch x length.")
    if int(answer[1]) == fast:
        feedback.good(f"the fast head computes only the {fast} masked positions ({fast / stock:.0%}).")
    elif int(answer[1]) == stock - fast:
        feedback.bad("that counts the positions that are NOT predicted; the fast head needs labels != -100.")
    else:
        feedback.bad("count the positions whose label is not -100: only those are predicted.")
    return feedback
