"""Checkers for the exercises of notebook 01 (tokenizing into TF tensors).

Each checker takes the learner's answer plus what it needs to recompute the right one (texts,
tokenizer, counts) and returns a :class:`~mlm_tutorial.exercises.feedback.Feedback`.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from mlm_tutorial.exercises.feedback import Feedback, as_number


def _is_tf_tensor(value: Any) -> bool:
    import tensorflow as tf

    return isinstance(value, tf.Tensor)


def check_tokenized_batch(answer: Any, texts: list[str], tokenizer: Any, max_length: int = 64) -> Feedback:
    """Notebook 01, exercise 1: ``texts`` tokenized into TF tensors of shape ``(len(texts), max_length)``.

    The reference is ``tokenize_to_tf(texts, tokenizer, max_length)``: padded to ``max_length``,
    truncated, ``return_tensors="tf"``. Any integer dtype passes (models take int32 and int64 alike);
    the ``input_ids`` values must equal the reference's.
    """
    from mlm_tutorial.tokenizing import tokenize_to_tf

    feedback = Feedback("Exercise 1 (a batch of TF tensors)")
    expected = tokenize_to_tf(texts, tokenizer, max_length=max_length)
    if answer is None:
        return feedback.bad("answer is None: assign the tokenizer's output to `answer`.")
    try:
        has_ids = hasattr(answer, "keys") and "input_ids" in answer
    except TypeError:
        has_ids = False
    if not has_ids:
        return feedback.bad(
            f"answer should be the tokenizer's output (a BatchEncoding with 'input_ids'), got {type(answer).__name__}."
        )
    feedback.good("it is a tokenizer output with input_ids")
    missing = [key for key in expected.keys() if key not in answer]
    if missing:
        feedback.bad(f"fields {missing} are missing; call the tokenizer with its defaults.")
    ids = answer["input_ids"]
    if not _is_tf_tensor(ids):
        return feedback.bad(
            f"input_ids is a {type(ids).__name__}, not a tf.Tensor: pass return_tensors='tf'."
        )
    fields = [key for key in expected.keys() if key != "input_ids" and key in answer]  # the answer's fields besides the ids
    others = [key for key in fields if not _is_tf_tensor(answer[key])]
    if others:
        feedback.bad(f"fields {others} are not tf.Tensors: return all fields from one call with return_tensors='tf'.")
    else:
        feedback.good("the fields are tf.Tensors")
    want_shape = tuple(expected["input_ids"].shape)
    got_shape = tuple(ids.shape)
    if len(got_shape) != len(want_shape):
        return feedback.bad(
            f"input_ids has shape {got_shape} ({len(got_shape)} dimensions); it needs 2: one row per text, one "
            "column per position. Tokenize the whole list of texts in one call."
        )
    if got_shape != want_shape:
        if got_shape[:1] != want_shape[:1]:
            return feedback.bad(f"{got_shape[0]} rows instead of {want_shape[0]}: tokenize all of the given texts.")
        return feedback.bad(
            f"shape {got_shape} instead of {want_shape}: pad and truncate to max_length={max_length} "
            "(padding='max_length', truncation=True)."
        )
    feedback.good(f"shape {got_shape}")
    if not ids.dtype.is_integer:
        return feedback.bad(
            f"dtype {ids.dtype.name}: token ids are integers; keep the integer dtype the tokenizer gives."
        )
    feedback.good(f"dtype {ids.dtype.name}, an integer type")
    if not np.array_equal(np.asarray(ids), expected["input_ids"].numpy()):
        return feedback.bad(
            "the ids differ from the reference: tokenize exactly the given texts, in order, with this tokenizer."
        )
    feedback.good("the ids match the reference, row by row")
    changed = [key for key in fields if not np.array_equal(np.asarray(answer[key]), expected[key].numpy())]
    if changed:
        feedback.bad(
            f"fields {changed} differ from what the tokenizer gives for these ids (attention_mask is 1 on real "
            "tokens and 0 on padding): keep every field of the same tokenizer call."
        )
    return feedback


def check_max_length_choice(
    answer: Any, counts: Any, candidates: Any, max_lost_share: float = 0.05
) -> Feedback:
    """Notebook 01, exercise 2: the smallest length in ``candidates`` that throws away at most
    ``max_lost_share`` of the tokens.

    When no candidate is good enough (very long texts), the right answer is the longest candidate,
    which throws away the least.
    """
    from mlm_tutorial.tokenizing import length_tradeoff

    feedback = Feedback("Exercise 2 (choosing max_length)")
    table = length_tradeoff(counts, candidates).set_index("max_length")
    fine = table.index[table["lost_share"] <= max_lost_share]
    number = as_number(answer)  # an int, a NumPy integer or a 0-d integer array or tensor gives an int
    if isinstance(number, float) and number.is_integer():
        number = int(number)  # 288.0 names the same candidate as 288
    if len(fine) == 0:
        longest = int(table.index.max())
        if isinstance(number, int) and number == longest:
            return feedback.good(f"no candidate stays within {max_lost_share:.0%}; the longest, {longest}, loses least")
        return feedback.bad(
            f"no candidate stays within {max_lost_share:.0%} here, so take the longest one, which loses least."
        )
    best = int(min(fine))
    if not isinstance(number, int):
        return feedback.bad(f"answer should be one int (a max_length), got {answer!r}.")
    answer = number
    if answer not in table.index:
        return feedback.bad(f"{answer} is not one of the candidates {list(table.index)}.")
    lost = float(table.at[answer, "lost_share"])
    if lost > max_lost_share:
        return feedback.bad(
            f"max_length={answer} throws away {lost:.1%} of the tokens, more than {max_lost_share:.0%}: go longer."
        )
    feedback.good(f"max_length={answer} throws away {lost:.1%} of the tokens (at most {max_lost_share:.0%})")
    if answer != best:
        return feedback.bad(
            f"a shorter candidate also stays within {max_lost_share:.0%}; the smallest one wastes less on padding."
        )
    padding = float(table.at[answer, "padding_share"])
    return feedback.good(f"it is the smallest such candidate; {padding:.1%} of that batch is padding")


#: How far exercise 3's share may be from the exact one: an answer rounded to 3 or more decimals passes.
#: For the notebook's batches (every category, both bundled tokenizers, 512 positions) the nearest wrong
#: answers are 0.0016 away or more (padding over all but two positions per row, then the share of special
#: tokens and padding at 2/512), and float16 arithmetic stays within 0.0004; see check_padding_share.
SHARE_TOLERANCE = 5e-4


def _padding_share_mistakes(mask: np.ndarray) -> list[tuple[float, float, str]]:
    """Plausible wrong answers to exercise 3 for this mask: (value, scale of its band, what to say).

    A value within ``scale * tolerance`` of a wrong answer gets that answer's note; the scale is 1000 for
    the percentage, so a percentage rounded to a whole number is recognised as well.
    """
    padding = mask == 0
    share = float(padding.mean())
    width = mask.shape[-1] if mask.ndim else 1
    mistakes = [
        (1 - share, 1.0, "that is the share of real tokens (mask 1); padding is where the mask is 0."),
        (100 * share, 1000.0, "that looks like a percentage; give a fraction between 0 and 1."),
        (float(padding.sum()), 1.0, "that is the number of padding positions; divide by the number of positions."),
    ]
    if mask.ndim == 2:
        mistakes.append((
            float(padding.any(axis=1).mean()), 1.0,
            "that is the share of rows that hold some padding; the question is about positions, all of the batch's.",
        ))
    if width > 2:
        mistakes.append((
            share + 2 / width, 1.0,
            "that counts two positions per row too many: the classifier and separator tokens are real tokens "
            "(mask 1); count only where the mask is 0.",
        ))
        mistakes.append((
            share * width / (width - 2), 1.0,
            "that divides by fewer positions than the batch has; divide by all of them, special tokens included.",
        ))
    return mistakes


def check_padding_share(answer: Any, encoding: Any) -> Feedback:
    """Notebook 01, exercise 3: the share of the batch's positions that are padding, from its attention mask.

    A number, NumPy scalar or 0-d/one-element tensor passes within :data:`SHARE_TOLERANCE` (5e-4), so an
    answer rounded to 3 or more decimals is right. The tolerance shrinks to half the distance of the nearest
    plausible wrong answer (share of real tokens, of rows with padding, of padding and special tokens, ...)
    when one is closer, so that a wrong answer never passes.
    """
    feedback = Feedback("Exercise 3 (padding share)")
    mask = encoding["attention_mask"]
    mask = np.asarray(mask.numpy() if hasattr(mask, "numpy") else mask)
    expected = float((mask == 0).mean())
    if answer is None:
        return feedback.bad("answer is None: assign the share, one number between 0 and 1, to `answer`.")
    if hasattr(answer, "numpy"):
        answer = answer.numpy()
    if isinstance(answer, np.ndarray) and answer.size == 1:
        answer = answer.item()
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        return feedback.bad(f"answer should be one number (a share between 0 and 1), got {type(answer).__name__}.")
    value = float(answer)
    if not np.isfinite(value):
        return feedback.bad(f"answer is {value}; a share is a number between 0 and 1. Average (mask == 0) as floats.")
    mistakes = _padding_share_mistakes(mask)
    distances = [abs(wrong - expected) for wrong, scale, _ in mistakes if scale == 1.0 and wrong != expected]
    tolerance = min([SHARE_TOLERANCE] + [distance / 2 for distance in distances])
    if abs(value - expected) <= tolerance + 1e-12:
        return feedback.good(f"{expected:.4f} of the positions are padding: the share where attention_mask is 0")
    if any(abs(value - round(expected, decimals)) <= 1e-9 for decimals in (1, 2)):
        return feedback.bad("that is the right share rounded too far; keep at least 3 decimals.")
    for wrong, scale, note in mistakes:
        if abs(value - wrong) <= scale * tolerance + 1e-12:
            return feedback.bad(note)
    if value == 0 and expected > 0:
        return feedback.bad(
            "0 is what the mean of an integer tensor gives (it rounds down); turn the mask into floats before "
            "averaging."
        )
    return feedback.bad("not the share of positions where attention_mask is 0; average (mask == 0) over the batch.")
