"""Checkers for the exercises of notebook 03 (masking tokens).

Each ``check_*`` function takes the learner's answer and returns a
:class:`~mlm_tutorial.exercises.feedback.Feedback` naming what is right and what is wrong.
The constants below fix the setting of each exercise, so the notebook can quote them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mlm_tutorial.exercises.feedback import Feedback, missing_answer

IGNORE_INDEX = -100

#: Exercise 2: one chunk of this many tokens, of which this many are special ([CLS] and [SEP]).
COUNT_SEQUENCE_LENGTH = 128
COUNT_SPECIAL_TOKENS = 2
COUNT_MLM_PROBABILITY = 0.15
COUNT_SPLIT = {"mask": 0.8, "random": 0.1, "unchanged": 0.1}
COUNT_KEYS = ("chosen", "mask", "random", "unchanged")

#: Exercise 4: the share to measure (the [MASK] share among chosen tokens) and the wanted standard error.
SAMPLE_SHARE = 0.8
SAMPLE_STANDARD_ERROR = 0.005
SAMPLE_MLM_PROBABILITY = 0.15


# --------------------------------------------------------------------------- exercise 1: labels

#: (input_ids, chosen) pairs the learner's ``make_labels`` is run on.
_LABEL_CASES: tuple[tuple[list[Any], list[Any]], ...] = (
    ([101, 7, 8, 9, 102], [False, True, False, True, False]),
    ([[101, 40, 41, 42, 102, 0], [101, 50, 51, 52, 53, 102]],
     [[False, False, True, False, False, False], [False, True, False, False, True, False]]),
    ([101, 60, 61, 102], [False, False, False, False]),
)


def expected_labels(input_ids: Any, chosen: Any) -> np.ndarray:
    """The reference answer of exercise 1: original id where chosen, -100 elsewhere."""
    return np.where(np.asarray(chosen, dtype=bool), np.asarray(input_ids), IGNORE_INDEX)


def check_make_labels(answer: Callable[[np.ndarray, np.ndarray], Any] | None) -> Feedback:
    """Exercise 1: ``answer`` is a function ``make_labels(input_ids, chosen)`` returning the labels.

    It is run on small NumPy cases (1-D and 2-D, with and without chosen tokens) and compared
    with the rule of notebook 03: the original id where a token was chosen, -100 everywhere else.
    """
    feedback = Feedback("Exercise 1 (labels)")
    if missing_answer(feedback, answer):
        return feedback
    if not callable(answer):
        return feedback.bad(
            f"answer must be a function make_labels(input_ids, chosen), got {type(answer).__name__}."
        )
    passed = 0
    for ids_list, chosen_list in _LABEL_CASES:
        ids, chosen = np.array(ids_list, dtype=np.int64), np.array(chosen_list, dtype=bool)
        want = expected_labels(ids, chosen)
        try:
            got = np.asarray(answer(ids.copy(), chosen.copy()))
        except Exception as error:  # the learner's code may fail in any way; report it
            return feedback.bad(f"make_labels raised {type(error).__name__}: {error}")
        if got.shape != want.shape:
            return feedback.bad(f"for input_ids of shape {ids.shape} the labels have shape {got.shape}; "
                                "they must have the input's shape.")
        if np.array_equal(got, want):
            passed += 1
            continue
        if np.array_equal(got, ids):
            return feedback.bad("the labels are a copy of every input id: the loss would then count the visible, "
                                "easy tokens too. Keep the id only where a token was chosen.")
        if np.array_equal(got[chosen], ids[chosen]) and not np.all(got[~chosen] == IGNORE_INDEX):
            wrong = got[~chosen][got[~chosen] != IGNORE_INDEX][0]
            return feedback.bad(f"tokens that were not chosen get {wrong}, but they must get -100, the value "
                                "the loss ignores (0 and other small numbers are real token ids).")
        if np.all(got[~chosen] == IGNORE_INDEX):
            return feedback.bad("where a token was chosen the label must be its original id (what the model has "
                                "to predict), not the mask token or another value.")
        return feedback.bad(f"for input_ids {ids_list} and chosen {chosen_list} the labels should be "
                            f"{want.tolist()}, got {got.tolist()}.")
    feedback.good(f"make_labels is right on all {passed} test cases: original id where chosen, -100 elsewhere.")
    return feedback


# --------------------------------------------------------------------------- exercise 2: expected counts


def expected_counts() -> dict[str, float]:
    """The reference answer of exercise 2: expected tokens per chunk in each category."""
    eligible = COUNT_SEQUENCE_LENGTH - COUNT_SPECIAL_TOKENS
    chosen = eligible * COUNT_MLM_PROBABILITY
    return {"chosen": chosen, **{key: chosen * share for key, share in COUNT_SPLIT.items()}}


def check_expected_counts(answer: Mapping[str, float] | None, tolerance: float = 0.01) -> Feedback:
    """Exercise 2: ``answer`` maps ``chosen``, ``mask``, ``random``, ``unchanged`` to expected counts.

    The setting is one chunk of ``COUNT_SEQUENCE_LENGTH`` tokens with ``COUNT_SPECIAL_TOKENS``
    special tokens, masked with ``COUNT_MLM_PROBABILITY`` and BERT's 80/10/10 split.
    """
    feedback = Feedback("Exercise 2 (expected counts)")
    if missing_answer(feedback, answer):
        return feedback
    if not isinstance(answer, Mapping):
        return feedback.bad(f"answer must be a dict with keys {list(COUNT_KEYS)}, got {type(answer).__name__}.")
    missing = [key for key in COUNT_KEYS if key not in answer]
    if missing:
        return feedback.bad(f"answer lacks the key(s) {missing}; it needs {list(COUNT_KEYS)}.")
    try:
        values = {key: float(answer[key]) for key in COUNT_KEYS}
    except (TypeError, ValueError):
        return feedback.bad(f"every value must be a number, got {dict(answer)!r}.")
    want = expected_counts()
    close = {key: abs(values[key] - want[key]) <= tolerance for key in COUNT_KEYS}
    if close["chosen"]:
        feedback.good(f"chosen: {want['chosen']:g} tokens ({COUNT_MLM_PROBABILITY:g} of the "
                      f"{COUNT_SEQUENCE_LENGTH - COUNT_SPECIAL_TOKENS} ordinary tokens).")
    elif abs(values["chosen"] - COUNT_SEQUENCE_LENGTH * COUNT_MLM_PROBABILITY) <= tolerance:
        feedback.bad("chosen: you counted the special tokens too; [CLS] and [SEP] are never chosen, so only "
                     f"{COUNT_SEQUENCE_LENGTH - COUNT_SPECIAL_TOKENS} tokens can be.")
    else:
        feedback.bad(f"chosen: expected {want['chosen']:g}, got {values['chosen']:g}. Multiply the number of "
                     "tokens that can be chosen by mlm_probability.")
    for key in ("mask", "random", "unchanged"):
        if close[key]:
            feedback.good(f"{key}: {want[key]:g} tokens ({COUNT_SPLIT[key]:g} of the chosen).")
        elif abs(values[key] - COUNT_SPLIT[key] * COUNT_SEQUENCE_LENGTH) <= tolerance or abs(
                values[key] - COUNT_SPLIT[key]) <= tolerance:
            feedback.bad(f"{key}: the {COUNT_SPLIT[key]:g} share applies to the chosen tokens, not to the "
                         "whole chunk; multiply it by the number of chosen tokens.")
        elif key == "mask" and abs(values[key] - values["chosen"]) <= tolerance:
            feedback.bad("mask: with the BERT strategy only 80% of the chosen become [MASK]; all of them would be "
                         "the mask_only strategy.")
        else:
            feedback.bad(f"{key}: expected {want[key]:g}, got {values[key]:g}.")
    parts = values["mask"] + values["random"] + values["unchanged"]
    if abs(parts - values["chosen"]) > tolerance:
        feedback.bad(f"mask + random + unchanged = {parts:g} should equal chosen = {values['chosen']:g}: every "
                     "chosen token ends up in exactly one of the three groups.")
    return feedback


# --------------------------------------------------------------------------- exercise 3: word starts

#: (tokens, special tokens, expected starts) for the learner's ``word_starts``.
_WORD_CASES: tuple[tuple[list[str], set[str], list[bool]], ...] = (
    (["[CLS]", "the", "chance", "##l", "##lo", "##r", "'", "s", "budget", "[SEP]"],
     {"[CLS]", "[SEP]", "[PAD]"},
     [True, True, True, False, False, False, True, True, True, True]),
    (["[CLS]", "##ised", "markets", "[SEP]", "[PAD]", "[PAD]"],
     {"[CLS]", "[SEP]", "[PAD]"},
     [True, True, True, True, True, True]),
    (["##ted", "un", "##pr", "##ec", "##ede", "##n", "##ted"],
     {"[CLS]", "[SEP]", "[PAD]"},
     [True, True, False, False, False, False, False]),
    (["<s>", "##x", "<mask>", "##y", "z"],
     {"<s>", "</s>", "<mask>"},
     [True, True, True, True, True]),
)


def reference_word_starts(tokens: list[str], special_tokens: set[str]) -> list[bool]:
    """The reference answer of exercise 3 (a plain Python version of the rule in ``mask_tokens``)."""
    starts = []
    for index, token in enumerate(tokens):
        after_special = index == 0 or tokens[index - 1] in special_tokens
        starts.append(token in special_tokens or after_special or not token.startswith("##"))
    return starts


def check_word_starts(answer: Callable[[list[str], set[str]], Any] | None) -> Feedback:
    """Exercise 3: ``answer`` is a function ``word_starts(tokens, special_tokens)`` for WordPiece tokens.

    It must return one bool per token: True where a new word (a unit of whole-word masking)
    starts. A piece starting with ``##`` continues the previous word, except at the start of the
    sequence or right after a special token; special tokens are units of their own.
    """
    feedback = Feedback("Exercise 3 (word starts)")
    if missing_answer(feedback, answer):
        return feedback
    if not callable(answer):
        return feedback.bad(
            f"answer must be a function word_starts(tokens, special_tokens), got {type(answer).__name__}."
        )
    for tokens, special, want in _WORD_CASES:
        try:
            got = [bool(x) for x in answer(list(tokens), set(special))]
        except Exception as error:  # the learner's code may fail in any way; report it
            return feedback.bad(f"word_starts raised {type(error).__name__}: {error}")
        if len(got) != len(tokens):
            return feedback.bad(f"for {len(tokens)} tokens word_starts returned {len(got)} values; "
                                "it must return one bool per token.")
        if got == want:
            continue
        inverted = [not x for x in want]
        if got == inverted:
            return feedback.bad("the answer is inverted: True must mark the pieces that start a word, and "
                                "'##' pieces continue one.")
        bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
        first = bad[0]
        previous = tokens[first - 1] if first > 0 else None
        if tokens[first].startswith("##") and (first == 0 or previous in special):
            where = "the first token" if first == 0 else f"right after the special token {previous!r}"
            return feedback.bad(f"{tokens[first]!r} is {where}: there is no word before it to continue, so it "
                                "starts a word (a chunk can begin in the middle of a word).")
        if tokens[first] in special:
            return feedback.bad(f"the special token {tokens[first]!r} must count as a unit of its own (True).")
        return feedback.bad(f"for tokens {tokens} expected {want}, got {got}.")
    feedback.good(f"word_starts is right on all {len(_WORD_CASES)} test cases, including chunks that begin "
                  "in the middle of a word.")
    return feedback


# --------------------------------------------------------------------------- exercise 4: sample size


def required_sample_size() -> int:
    """The reference answer of exercise 4: chosen tokens needed for the wanted standard error."""
    n = SAMPLE_SHARE * (1 - SAMPLE_SHARE) / SAMPLE_STANDARD_ERROR**2
    return math.ceil(round(n, 6))


def check_sample_size(answer: Any) -> Feedback:
    """Exercise 4: how many chosen tokens make the standard error of the [MASK] share at most
    ``SAMPLE_STANDARD_ERROR``? ``answer`` is that number (an int)."""
    feedback = Feedback("Exercise 4 (sample size)")
    if missing_answer(feedback, answer):
        return feedback
    if isinstance(answer, bool) or not isinstance(answer, (int, float, np.integer, np.floating)):
        return feedback.bad(f"answer must be a number of tokens (an int), got {type(answer).__name__}.")
    value = float(answer)
    want = required_sample_size()
    if want <= value <= want + 1 and value == int(value):
        return feedback.good(f"{int(value)} chosen tokens: p(1 - p) / se² with p = {SAMPLE_SHARE:g} and "
                             f"se = {SAMPLE_STANDARD_ERROR:g}. At mlm_probability {SAMPLE_MLM_PROBABILITY:g} "
                             f"that takes about {want / SAMPLE_MLM_PROBABILITY:,.0f} ordinary tokens.")
    if want <= value <= want + 1:
        return feedback.bad(f"{value:g} is a fraction of a token: round up to a whole number of tokens.")
    with_rate = SAMPLE_MLM_PROBABILITY * (1 - SAMPLE_MLM_PROBABILITY) / SAMPLE_STANDARD_ERROR**2
    no_square = SAMPLE_SHARE * (1 - SAMPLE_SHARE) / SAMPLE_STANDARD_ERROR
    if abs(value - with_rate) <= 1:
        feedback.bad(f"you used p = mlm_probability ({SAMPLE_MLM_PROBABILITY:g}); the share measured here is "
                     f"the [MASK] share among chosen tokens, p = {SAMPLE_SHARE:g}.")
    elif abs(value - no_square) <= 1:
        feedback.bad("the standard error is sqrt(p(1 - p) / n), so n = p(1 - p) / se²: square the standard error.")
    elif abs(value - want / SAMPLE_MLM_PROBABILITY) <= 2:
        feedback.bad("that is the number of ordinary tokens to mask from; the question asks for the number of "
                     "chosen tokens.")
    elif value < want:
        feedback.bad(f"{value:g} tokens give a standard error of {math.sqrt(SAMPLE_SHARE * (1 - SAMPLE_SHARE) / max(value, 1)):.4f}, "
                     f"more than {SAMPLE_STANDARD_ERROR:g}.")
    else:
        feedback.bad(f"{value:g} tokens are enough, but not the smallest number that is.")
    return feedback
