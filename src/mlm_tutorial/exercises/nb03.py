"""Checkers for the exercises of notebook 03 (masking tokens).

Each ``check_*`` function takes the learner's answer and returns a
:class:`~mlm_tutorial.exercises.feedback.Feedback` naming what is right and what is wrong; it never
raises, whatever the answer is. Numbers may be Python numbers, NumPy scalars or 0-d arrays, or 0-d
TensorFlow tensors; arrays may be lists, NumPy arrays or tensors.
The constants below fix the setting of each exercise, so the notebook can quote them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from mlm_tutorial.exercises.feedback import Feedback, as_array, as_number, describe, missing_answer

IGNORE_INDEX = -100

#: Exercise 2: one chunk of this many tokens, of which this many are special ([CLS] and [SEP]).
COUNT_SEQUENCE_LENGTH = 128
COUNT_SPECIAL_TOKENS = 2
COUNT_MLM_PROBABILITY = 0.15
COUNT_SPLIT = {"mask": 0.8, "random": 0.1, "unchanged": 0.1}
COUNT_KEYS = ("chosen", "mask", "random", "unchanged")
#: Exercise 2: how far a count may be from the exact value, so that answers rounded to one decimal pass.
#: The plausible mistakes land further away for ``chosen`` and ``mask`` (the nearest, 127 ordinary tokens
#: instead of 126, is 0.12 off for ``mask``); ``random`` and ``unchanged`` computed from a wrong ``chosen``
#: can land inside the band, so they are judged against the learner's own ``chosen`` while that is wrong.
COUNT_TOLERANCE = 0.05

#: Exercise 4: the share to measure (the [MASK] share among chosen tokens) and the wanted standard error.
SAMPLE_SHARE = 0.8
SAMPLE_STANDARD_ERROR = 0.005
SAMPLE_MLM_PROBABILITY = 0.15
#: Exercise 4: a float this close (relative) to a whole number differs from it only by rounding
#: (float64 noise is about 1e-16, float32 noise about 1e-7).
SAMPLE_FLOAT_NOISE = 1e-6


# --------------------------------------------------------------------------- exercise 1: labels

#: (input_ids, chosen) pairs the learner's ``make_labels`` is run on.
_LABEL_CASES: tuple[tuple[list[Any], list[Any]], ...] = (
    ([101, 7, 8, 9, 102], [False, True, False, True, False]),
    ([[101, 40, 41, 42, 102, 0], [101, 50, 51, 52, 53, 102]],
     [[False, False, True, False, False, False], [False, True, False, False, True, False]]),
    ([101, 60, 61, 102], [False, False, False, False]),
    ([101, 30521, 2049, 50264, 102], [False, True, True, True, False]),  # ids too big for int8 or float16
)


def expected_labels(input_ids: Any, chosen: Any) -> np.ndarray:
    """The reference answer of notebook 03's exercise 1: original id where chosen, -100 elsewhere."""
    return np.where(np.asarray(chosen, dtype=bool), np.asarray(input_ids), IGNORE_INDEX)


def _holds_ids(dtype: np.dtype, largest: int) -> bool:
    """Whether ``dtype`` holds the id ``largest`` exactly (int8 and float16 cannot hold 30521)."""
    if dtype.kind in "iu":
        return np.iinfo(dtype).max >= largest
    return int(np.asarray(largest, dtype=dtype)) == largest


def _object_shape(value: Any) -> tuple[int, ...] | None:
    """The shape NumPy reads ``value`` with as objects (``[[1, None]]`` gives (1, 2)), or None when it cannot."""
    try:
        return np.asarray(value, dtype=object).shape
    except Exception:  # noqa: BLE001 - ragged or odd values: no shape to report
        return None


def check_make_labels(answer: Callable[[np.ndarray, np.ndarray], Any] | None) -> Feedback:
    """Notebook 03, exercise 1: ``answer`` is a function ``make_labels(input_ids, chosen)`` returning the labels.

    It is run on small NumPy cases (1-D and 2-D, with and without chosen tokens) and compared
    with the rule of notebook 03: the original id where a token was chosen, -100 everywhere else.
    The labels may be a list, a NumPy array or a tensor, of any integer or float dtype.
    """
    feedback = Feedback("Exercise 1 (labels)")
    if missing_answer(feedback, answer):
        return feedback
    if not callable(answer):
        return feedback.bad(
            f"answer must be a function make_labels(input_ids, chosen), got {describe(answer)}."
        )
    passed = 0
    for ids_list, chosen_list in _LABEL_CASES:
        ids, chosen = np.array(ids_list, dtype=np.int64), np.array(chosen_list, dtype=bool)
        want = expected_labels(ids, chosen)
        given = ids.copy()
        try:
            result = answer(given, chosen.copy())
        except Exception as error:  # the learner's code may fail in any way; report it
            return feedback.bad(f"make_labels raised {type(error).__name__}: {error}")
        if result is None:
            return feedback.bad("make_labels returned None: does it end with a return statement?")
        if not np.array_equal(given, ids):
            return feedback.bad("make_labels changed the input_ids it was given (labels = input_ids names the same "
                                "array, it does not copy it), so the model's inputs would lose their ids: build the "
                                "labels in a new array, e.g. with np.where or input_ids.copy().")
        got = as_array(result)
        if got is None and _object_shape(result) == ids.shape:
            return feedback.bad("make_labels returned labels shaped like input_ids that hold something other than "
                                "numbers (None?); labels are numbers: a token id where a token was chosen, -100 "
                                "elsewhere.")
        if got is None or got.ndim == 0:
            return feedback.bad(f"make_labels returned {describe(result)}; it must return the labels, an array "
                                "(or list) of numbers shaped like input_ids.")
        if got.dtype.kind not in "iuf":
            what = "True/False values" if got.dtype.kind == "b" else f"values of dtype {got.dtype}"
            return feedback.bad(f"make_labels returned {what}; labels are numbers: a token id where a token was "
                                "chosen, -100 elsewhere.")
        if got.shape != want.shape:
            return feedback.bad(f"for input_ids of shape {ids.shape} the labels have shape {got.shape}; "
                                "they must have the input's shape.")
        if np.array_equal(got, want):
            passed += 1
            continue
        if not _holds_ids(got.dtype, int(ids.max())):
            return feedback.bad(f"labels of dtype {got.dtype} cannot hold token id {int(ids.max())}: keep the "
                                "integer dtype of input_ids (int32 or int64).")
        if np.array_equal(got, ids):
            return feedback.bad("the labels are a copy of every input id: the loss would then count the visible, "
                                "easy tokens too. Keep the id only where a token was chosen.")
        if np.array_equal(got[chosen], ids[chosen]) and not np.all(got[~chosen] == IGNORE_INDEX):
            wrong = got[~chosen][got[~chosen] != IGNORE_INDEX][0]
            return feedback.bad(f"tokens that were not chosen get {wrong:g}, but they must get -100, the value "
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
    """The reference answer of notebook 03's exercise 2: expected tokens per chunk in each category."""
    eligible = COUNT_SEQUENCE_LENGTH - COUNT_SPECIAL_TOKENS
    chosen = eligible * COUNT_MLM_PROBABILITY
    return {"chosen": chosen, **{key: chosen * share for key, share in COUNT_SPLIT.items()}}


def check_expected_counts(answer: Mapping[str, Any] | None, tolerance: float = COUNT_TOLERANCE) -> Feedback:
    """Notebook 03, exercise 2: ``answer`` maps ``chosen``, ``mask``, ``random``, ``unchanged`` to expected counts.

    The setting is one chunk of ``COUNT_SEQUENCE_LENGTH`` tokens with ``COUNT_SPECIAL_TOKENS``
    special tokens, masked with ``COUNT_MLM_PROBABILITY`` and BERT's 80/10/10 split. A count passes
    within ``tolerance`` of the exact value (so answers rounded to one decimal pass). Wrong counts get
    a hint on how to compute them, never the expected number.
    """
    feedback = Feedback("Exercise 2 (expected counts)")
    if missing_answer(feedback, answer):
        return feedback
    if not isinstance(answer, Mapping):
        return feedback.bad(f"answer must be a dict with keys {list(COUNT_KEYS)}, got {describe(answer)}.")
    missing = [key for key in COUNT_KEYS if key not in answer]
    if missing:
        return feedback.bad(f"answer lacks the key(s) {missing}; it needs {list(COUNT_KEYS)}.")
    values: dict[str, float] = {}
    for key in COUNT_KEYS:
        number = as_number(answer[key])
        if number is None or not math.isfinite(number):
            shown = describe(answer[key]) if number is None else repr(number)
            return feedback.bad(f"every value must be a single number; {key!r} is {shown}.")
        values[key] = number

    want = expected_counts()
    eligible = COUNT_SEQUENCE_LENGTH - COUNT_SPECIAL_TOKENS
    p = COUNT_MLM_PROBABILITY

    def near(value: float, target: float) -> bool:
        return abs(value - target) <= tolerance + 1e-9

    def same(value: float, target: float) -> bool:  # for probabilities typed in place of counts
        return math.isclose(value, target, rel_tol=1e-6)

    def rounded_to_whole(key: str) -> bool:  # by round() or by int()
        return values[key] in (round(want[key]), math.floor(want[key]))

    def whole_note(key: str) -> str:
        return (f"{key}: {values[key]:g} looks rounded to whole tokens, but an expected count is an average over "
                "many chunks and need not be whole: keep the decimals (one decimal place is enough).")

    got = values["chosen"]
    chosen_right = near(got, want["chosen"])
    if chosen_right:
        feedback.good(f"chosen: {want['chosen']:g} tokens ({p:g} of the {eligible} ordinary tokens).")
    elif rounded_to_whole("chosen"):
        feedback.bad(whole_note("chosen"))
    elif near(got, COUNT_SEQUENCE_LENGTH * p) or near(got, (COUNT_SEQUENCE_LENGTH - 1) * p):
        feedback.bad("chosen: you counted special tokens too; [CLS] and [SEP] are never chosen, so only the "
                     "tokens between them can be.")
    elif near(got, eligible) or near(got, COUNT_SEQUENCE_LENGTH):
        feedback.bad(f"chosen: not every token is chosen; each ordinary token is chosen with probability "
                     f"mlm_probability = {p:g}.")
    elif near(got, eligible * (1 - p)) or near(got, COUNT_SEQUENCE_LENGTH * (1 - p)):
        feedback.bad(f"chosen: that is about the number of tokens that are NOT chosen; a token is chosen with "
                     f"probability {p:g}.")
    elif same(got, p):
        feedback.bad("chosen: that is a probability, not a number of tokens; multiply it by the number of tokens "
                     "that can be chosen.")
    else:
        feedback.bad(f"chosen: {got:g} is off. Which tokens of the chunk can be chosen at all, and with what "
                     "probability is each one chosen? The expected count is their number times that probability.")

    for key, share in COUNT_SPLIT.items():
        value = values[key]
        follows_own_chosen = not chosen_right and near(value, share * got)
        if near(value, want[key]) and not follows_own_chosen:
            feedback.good(f"{key}: {want[key]:g} tokens ({share:g} of the chosen).")
        elif follows_own_chosen:
            feedback.bad(f"{key}: {value:g} is {share:g} of your chosen count, the right share; it changes once "
                         "chosen is fixed.")
        elif rounded_to_whole(key):
            feedback.bad(whole_note(key))
        elif same(value, share) or same(value, share * p):
            feedback.bad(f"{key}: {value:g} is a probability, not a number of tokens; multiply {key}'s share by "
                         "the number of chosen tokens.")
        elif near(value, share * COUNT_SEQUENCE_LENGTH) or near(value, share * eligible):
            feedback.bad(f"{key}: the {share:g} share applies to the chosen tokens, not to the whole chunk; "
                         "multiply it by the number of chosen tokens.")
        elif key == "mask" and (near(value, got) or near(value, want["chosen"])):
            feedback.bad("mask: with the BERT strategy only 80% of the chosen become [MASK]; all of them would be "
                         "the mask_only strategy.")
        else:
            feedback.bad(f"{key}: {value:g} is off. BERT's strategy turns 80% of the chosen tokens into [MASK], "
                         f"10% into a random token and leaves 10% unchanged: multiply the chosen count by the "
                         f"{key} share.")
    parts = values["mask"] + values["random"] + values["unchanged"]
    if abs(parts - got) > (len(COUNT_KEYS) * tolerance):
        feedback.bad(f"mask + random + unchanged = {parts:g} should equal chosen = {got:g}: every "
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
    (["[CLS]", "no", "#", "1", "##0", "[SEP]"],  # a lone '#' is a word of its own; only '##' continues one
     {"[CLS]", "[SEP]", "[PAD]"},
     [True, True, True, True, False, True]),
)


def reference_word_starts(tokens: list[str], special_tokens: set[str]) -> list[bool]:
    """The reference answer of notebook 03's exercise 3 (a plain Python version of the rule in ``mask_tokens``)."""
    starts = []
    for index, token in enumerate(tokens):
        after_special = index == 0 or tokens[index - 1] in special_tokens
        starts.append(token in special_tokens or after_special or not token.startswith("##"))
    return starts


def _values(count: int) -> str:
    return f"{count} value" if count == 1 else f"{count} values"


def _flags(result: Any, length: int) -> list[bool] | str:
    """The learner's ``word_starts`` result as a list of bools, or what is wrong with it.

    A list (or tuple, NumPy array, tensor) of ``length`` bools passes, and so do 0/1 numbers.
    """
    if isinstance(result, (str, bytes, Mapping, set, frozenset)):
        return f"returned {describe(result)}, not one bool per token"
    array = as_array(result)
    if array is None and isinstance(result, (list, tuple)):  # items NumPy cannot read as numbers, e.g. None
        if len(result) != length:
            return f"returned {_values(len(result))}; it must return one bool per token"
        odd = next((item for item in result if not isinstance(item, (bool, np.bool_))), result[0])
        return f"returned values such as {odd!r}; it must return one bool (True or False) per token"
    if array is None or array.ndim == 0:
        return f"returned {describe(result)}, not one bool per token"
    if array.ndim != 1:
        return f"returned something of shape {array.shape}; it must be flat: one bool per token"
    if len(array) != length:
        return f"returned {_values(len(array))}; it must return one bool per token"
    if array.dtype.kind == "b":
        return array.tolist()
    odd = array if array.dtype.kind not in "iuf" else array[~np.isin(array, (0, 1))]
    if odd.size == 0:
        return array.astype(bool).tolist()
    return f"returned values such as {odd[0].item()!r}; it must return one bool (True or False) per token"


def check_word_starts(answer: Callable[[list[str], set[str]], Any] | None) -> Feedback:
    """Notebook 03, exercise 3: ``answer`` is a function ``word_starts(tokens, special_tokens)`` for WordPiece tokens.

    It must return one bool per token (a list, NumPy array or tensor; 0/1 numbers also pass): True
    where a new word (a unit of whole-word masking) starts. A piece starting with ``##`` continues the
    previous word, except at the start of the sequence or right after a special token; special tokens
    are units of their own. Exceptions the learner's function raises are reported as its own.
    """
    feedback = Feedback("Exercise 3 (word starts)")
    if missing_answer(feedback, answer):
        return feedback
    if not callable(answer):
        return feedback.bad(
            f"answer must be a function word_starts(tokens, special_tokens), got {describe(answer)}."
        )
    for tokens, special, want in _WORD_CASES:
        try:
            result = answer(list(tokens), set(special))
            if isinstance(result, Iterator):  # a generator runs the learner's code while it is consumed
                result = list(result)
        except Exception as error:  # the learner's code may fail in any way; report it
            return feedback.bad(f"word_starts raised {type(error).__name__}: {error}")
        if result is None:
            return feedback.bad("word_starts returned None: does it end with a return statement (e.g. return "
                                "the list you built)?")
        got = _flags(result, len(tokens))
        if isinstance(got, str):
            return feedback.bad(f"for {len(tokens)} tokens word_starts {got}.")
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
        if not tokens[first].startswith("##") and not got[first]:
            return feedback.bad(f"{tokens[first]!r} does not start with '##', so it starts a word: only the "
                                "two-character prefix '##' marks a piece that continues the word before it.")
        return feedback.bad(f"for tokens {tokens} expected {want}, got {got}.")
    feedback.good(f"word_starts is right on all {len(_WORD_CASES)} test cases, including chunks that begin "
                  "in the middle of a word.")
    return feedback


# --------------------------------------------------------------------------- exercise 4: sample size


def sample_size_formula() -> float:
    """p(1 - p) / se² for notebook 03's exercise 4, computed as a learner types it: ``0.8 * 0.2 / 0.005**2``.

    In floating point that is 6400.000000000001, not 6400: decimals such as 0.8 and 0.005 have no
    exact binary form, so the result can land a hair above (or below) the whole number.
    """
    complement = round(1 - SAMPLE_SHARE, 12)  # 0.2 as typed; 1 - 0.8 itself is 0.19999999999999996
    return SAMPLE_SHARE * complement / SAMPLE_STANDARD_ERROR**2


def required_sample_size() -> int:
    """The reference answer of notebook 03's exercise 4: chosen tokens needed for the wanted standard error.

    The formula's value is rounded to 6 decimals before rounding up, so float noise (a value a hair
    above a whole number) does not add a token.
    """
    return math.ceil(round(sample_size_formula(), 6))


def check_sample_size(answer: Any) -> Feedback:
    """Notebook 03, exercise 4: how many chosen tokens make the standard error of the [MASK] share at most
    ``SAMPLE_STANDARD_ERROR``? ``answer`` is that number: an int (a NumPy integer, a whole float or a
    0-d tensor holding it also pass).

    A float that differs from the answer only by floating-point noise does not pass, with a note that
    an int is wanted; one token more than needed (``math.ceil`` of the noisy float) does not pass either,
    with a note on the float rounding that caused it.
    """
    feedback = Feedback("Exercise 4 (sample size)")
    if missing_answer(feedback, answer):
        return feedback
    number = as_number(answer)
    if number is None:
        return feedback.bad(f"answer must be a single number of tokens (an int), got {describe(answer)}.")
    if not math.isfinite(number):
        return feedback.bad(f"answer must be a whole number of tokens (an int), got {number!r}.")
    want = required_sample_size()
    p, se = SAMPLE_SHARE, SAMPLE_STANDARD_ERROR
    whole = round(number)
    noisy = number != whole and abs(number - whole) <= SAMPLE_FLOAT_NOISE * max(1.0, abs(number))
    if number == want:
        return feedback.good(f"{want} chosen tokens: p(1 - p) / se² with p = {p:g} and se = {se:g}. At "
                             f"mlm_probability {SAMPLE_MLM_PROBABILITY:g} that takes about "
                             f"{want / SAMPLE_MLM_PROBABILITY:,.0f} ordinary tokens.")
    if noisy and whole == want:
        return feedback.bad(f"{number!r} is the value of the right formula, but a float that differs from a "
                            "whole number only by floating-point rounding (decimals such as 0.8 and 0.005 have no "
                            "exact binary form). The answer is a count of tokens, an int: drop the rounding noise "
                            "with round(x, 6), then round up with math.ceil.")
    value = float(whole) if noisy else number
    if noisy:
        feedback.bad(f"{number!r} is a float that differs from {whole} only by floating-point rounding; answer "
                     "with an int.")

    def near(target: float, within: float = 1.0) -> bool:
        return abs(value - target) <= within

    if near(SAMPLE_MLM_PROBABILITY * (1 - SAMPLE_MLM_PROBABILITY) / se**2):
        feedback.bad(f"you used p = mlm_probability ({SAMPLE_MLM_PROBABILITY:g}); the share measured here is "
                     f"the [MASK] share among chosen tokens, p = {p:g}.")
    elif near(p * (1 - p) / se) or near(math.sqrt(p * (1 - p)) / se):
        feedback.bad("the standard error is sqrt(p(1 - p) / n), so n = p(1 - p) / se²: square the standard error "
                     "(and the whole fraction).")
    elif near(p / se**2) or near((1 - p) / se**2):
        feedback.bad("the variance of one share is p(1 - p): use both factors, p and 1 - p.")
    elif near(2 * p * (1 - p) / se**2):
        feedback.bad("that sample size is for the difference of two independently measured shares (section 4); "
                     "here one share is measured: se = sqrt(p(1 - p) / n).")
    elif near(16 * p * (1 - p) / se**2):
        feedback.bad("the target is one standard error of at most 0.005, not 4 standard errors.")
    elif near(want / SAMPLE_MLM_PROBABILITY, 2.0):
        feedback.bad("that is the number of ordinary tokens to mask from; the question asks for the number of "
                     "chosen tokens.")
    elif value != round(value):
        feedback.bad(f"{value:g} is not a whole number of tokens: answer with an int. (When p(1 - p) / se² is a "
                     "fraction, round it up: fewer tokens would leave the standard error above the target.)")
    elif value < 1:
        feedback.bad(f"{value:g} is not a number of tokens to measure on: it must be at least 1.")
    elif value == want + 1:
        feedback.good(f"n = p(1 - p) / se² with p = {p:g} is the right formula.")
        feedback.bad(f"{value:g} is one more than needed: the formula's value is {want} up to float rounding "
                     f"({p:g} * {1 - p:.1f} / {se:g}**2 is {sample_size_formula()!r} in floating point, and "
                     f"math.ceil rounds that up). With {want} tokens the standard error is exactly {se:g}, which "
                     "'at most' allows. Drop the rounding noise before rounding up: math.ceil(round(x, 6)).")
    elif value == want - 1:
        feedback.bad(f"{value:g} tokens give a standard error of {math.sqrt(p * (1 - p) / value):.7f}, just "
                     f"above {se:g}. If int() or math.floor gave this number, the formula's value was a hair "
                     "below a whole number through float rounding, and cutting off the decimals lost a token: "
                     "round up instead, after dropping the noise with round(x, 6).")
    elif value < want:
        feedback.bad(f"{value:g} tokens give a standard error of {math.sqrt(p * (1 - p) / value):.4f}, "
                     f"more than {se:g}.")
    else:
        feedback.bad(f"{value:g} tokens are enough, but not the smallest number that is.")
    return feedback
