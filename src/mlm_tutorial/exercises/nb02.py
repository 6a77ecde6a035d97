"""Checkers for the exercises of notebook 02 (special tokens and padding).

Each checker takes the learner's answer plus what it needs to recompute the right one and
returns a :class:`~mlm_tutorial.exercises.feedback.Feedback`. No id is hard-coded here either:
the right answers come from the tokenizers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mlm_tutorial.exercises.feedback import Feedback, as_array

#: NumPy dtype kinds a 0/1 flag may come in: bool, signed and unsigned integers, floats.
_FLAG_KINDS = "biuf"


def _ids(encoding: Any, key: str) -> np.ndarray:
    value = encoding[key]
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


def check_sep_positions(answer: Any, encoding: Any, tokenizer: Any) -> Feedback:
    """Notebook 02, exercise 1: for each row, the position of the separator token that ends its text."""
    feedback = Feedback("Exercise 1 (where each text ends)")
    ids = _ids(encoding, "input_ids")
    real = ids != tokenizer.pad_token_id
    lengths = real.sum(axis=1)
    if getattr(tokenizer, "padding_side", "right") == "left":
        expected = np.full(ids.shape[0], ids.shape[1] - 1)
    else:
        expected = lengths - 1
    if answer is None:
        return feedback.bad("answer is None: assign one position per row to `answer`.")
    got = as_array(answer)
    if got is not None and got.dtype.kind == "f" and np.isfinite(got).all() and (got == np.round(got)).all():
        got = got.astype(np.int64)  # whole floats, e.g. from a float mask summed, name the same positions
    if got is None or not np.issubdtype(got.dtype, np.integer):
        return feedback.bad("answer should be integer positions, one per row (a list, NumPy array or tensor).")
    if got.shape == (ids.shape[0], 2):
        return feedback.bad("these look like (row, position) pairs, as tf.where or np.argwhere give them; keep one "
                            "position per row: the second column.")
    got = got.reshape(-1)
    if got.size != ids.shape[0]:
        return feedback.bad(f"{got.size} positions for {ids.shape[0]} rows: give one position per row.")
    feedback.good("one integer position per row")
    if np.array_equal(got, expected):
        rows = np.arange(ids.shape[0])
        if not (ids[rows, expected] == tokenizer.sep_token_id).all():
            raise ValueError("the encoding's texts do not end with the separator token; pass the notebook's batch.")
        return feedback.good(
            f"each position holds {tokenizer.sep_token!r} (id {tokenizer.sep_token_id}), the end of the text"
        )
    if np.array_equal(got, lengths):
        return feedback.bad("these are the text lengths; positions count from 0, so the last token is at length - 1.")
    if np.array_equal(got, np.zeros_like(got)):
        return feedback.bad(f"position 0 holds the classifier token {tokenizer.cls_token!r}, not the separator.")
    return feedback.bad(
        f"some positions do not hold the separator {tokenizer.sep_token!r}: find the last position where the id "
        "is tokenizer.sep_token_id, or where attention_mask is 1."
    )


def _not_flags(values: np.ndarray) -> str:
    """Up to three of the values that are neither 0 nor 1 (False and True count as 0 and 1), or ""."""
    others = np.unique(values[~np.isin(values, (0, 1))])
    return ", ".join(str(value) for value in others[:3].tolist())


def check_attention_mask(answer: Any, encoding: Any, tokenizer: Any) -> Feedback:
    """Notebook 02, exercise 2: the attention mask rebuilt from ``input_ids`` and ``tokenizer.pad_token_id``.

    Booleans pass, and so do 0/1 numbers of any integer or float dtype, in a list, array or tensor.
    """
    feedback = Feedback("Exercise 2 (an attention mask from the ids)")
    ids = _ids(encoding, "input_ids")
    expected = (ids != tokenizer.pad_token_id).astype(np.int64)
    if answer is None:
        return feedback.bad("answer is None: assign your mask to `answer`.")
    got = as_array(answer)
    if got is None or got.dtype.kind not in _FLAG_KINDS:
        return feedback.bad("answer should be an array or tensor of 0/1 (or True/False), one value per position.")
    if got.shape != ids.shape:
        return feedback.bad(f"shape {got.shape} instead of {ids.shape}: one value per position of input_ids.")
    feedback.good(f"shape {got.shape}")
    shown = _not_flags(got)
    if shown:
        return feedback.bad(
            f"the mask holds values other than 0 and 1 (such as {shown}); it needs one 0 or 1 per position: "
            "compare the ids with the padding id."
        )
    got = got.astype(np.int64)
    if np.array_equal(got, expected):
        return feedback.good("1 for every real token (special tokens included), 0 for padding, as the tokenizer's mask")
    if np.array_equal(got, 1 - expected):
        return feedback.bad("the mask is inverted: 1 must mark real tokens and 0 padding.")
    special = np.isin(ids, np.array(tokenizer.all_special_ids))
    if np.array_equal(got, (~special).astype(np.int64)):
        return feedback.bad(
            f"the classifier and separator tokens ({tokenizer.cls_token!r}, {tokenizer.sep_token!r}) are attended "
            "to as well; only padding gets 0. Compare with tokenizer.pad_token_id alone."
        )
    return feedback.bad(
        "some positions differ from the tokenizer's attention_mask: compare input_ids with tokenizer.pad_token_id."
    )


def _reference_batch(tokenizer: Any, texts: list[str]) -> Any:
    return tokenizer(texts, padding=True, return_tensors="np")


#: Characters that byte-level tokenizers spell out but a WordPiece vocabulary usually lacks.
UNKNOWN_CANDIDATES = ("\N{SLIGHTLY SMILING FACE}", "\N{SNOWMAN}", "\N{MUSICAL SYMBOL G CLEF}")

#: What each special-token role is called in the feedback, in the order a role is looked up.
_ROLE_NAMES = (
    ("cls", "the classifier token"),
    ("sep", "the separator token"),
    ("pad", "the padding token"),
    ("mask", "the mask token"),
    ("unk", "the unknown-word token"),
    ("bos", "the start token"),
    ("eos", "the end token"),
)


def probe_text(tokenizer: Any) -> str:
    """A short text that holds ``tokenizer``'s mask token and, if the tokenizer can produce one, its unknown token.

    The unknown character is the first of :data:`UNKNOWN_CANDIDATES` this tokenizer turns into
    ``unk_token_id``; a byte-level tokenizer, which never produces it, gets none.

    Used by the checker of notebook 02's exercise 3.
    """
    text = f"shares in the {tokenizer.mask_token} rose by a fifth"
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is not None:
        for character in UNKNOWN_CANDIDATES:
            if unk in tokenizer(character, add_special_tokens=False)["input_ids"]:
                return f"{text} {character} on monday."
    return f"{text} on monday."


def _probe_batch(tokenizer: Any) -> Any:
    """The probe text with a shorter one below it, so the batch holds padding as well."""
    return _reference_batch(tokenizer, [probe_text(tokenizer), "prices fell."])


def _kind(tokenizer: Any, token_id: int) -> str:
    token = tokenizer.convert_ids_to_tokens(int(token_id))
    for role, name in _ROLE_NAMES:
        if getattr(tokenizer, f"{role}_token_id", None) == token_id:
            return f"{name} {token!r}"
    return f"the special token {token!r}"


def _run_finder(answer: Any, ids: np.ndarray, tokenizer: Any) -> tuple[np.ndarray | None, str]:
    """The learner's flags for ``ids`` as a boolean array, or None and what is wrong with them."""
    try:
        result = answer(ids.copy(), tokenizer)
    except Exception as error:  # noqa: BLE001 - report the learner's error as feedback
        return None, f"the function raised {type(error).__name__}: {error}"
    if result is None:
        return None, "the function returned None; return the array of flags."
    got = as_array(result)
    if got is None or got.shape != ids.shape:
        shape = None if got is None else got.shape
        return None, f"the result has shape {shape}, not {ids.shape}; return one flag per position."
    if got.dtype.kind not in _FLAG_KINDS:
        return None, f"the result holds {got.dtype} values; return True/False flags."
    shown = _not_flags(got)
    if shown:
        return None, (
            f"the result holds values other than True/False or 0/1 (such as {shown}); return one flag per "
            "position, True where the id is a special token."
        )
    return got.astype(bool), ""


def _finder_mistakes(got: np.ndarray, expected: np.ndarray, ids: np.ndarray, tokenizer: Any) -> list[str]:
    notes = []
    missed = sorted({int(i) for i in ids[expected & ~got]})
    extra = sorted({int(i) for i in ids[got & ~expected]})
    if missed:
        kinds = [_kind(tokenizer, i) for i in missed]
        notes.append("misses " + (kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} and {kinds[-1]}"))
    if extra:
        tokens = tokenizer.convert_ids_to_tokens(extra[:3])
        notes.append(f"flags ordinary tokens such as {', '.join(repr(t) for t in tokens)}")
    return notes


def check_special_finder(answer: Any, tokenizers: Mapping[str, Any], texts: list[str]) -> Feedback:
    """Notebook 02, exercise 3: a function ``answer(input_ids, tokenizer)`` that flags special tokens for any tokenizer.

    For every tokenizer in ``tokenizers`` it is run on two padded batches: ``texts``, then
    :func:`probe_text` above a short text, which puts the mask token and (for a WordPiece vocabulary)
    the unknown-word token inside the text. It must return True exactly where the id is one of
    ``tokenizer.all_special_ids`` (padding included); 0/1 numbers pass as flags, other values do not,
    as in exercise 2. Feedback names the kinds of special token that were missed, not the ids.
    """
    feedback = Feedback("Exercise 3 (finding special tokens in any family)")
    if not callable(answer):
        return feedback.bad(f"answer should be a function f(input_ids, tokenizer), got {type(answer).__name__}.")
    if not isinstance(tokenizers, Mapping) or not tokenizers:
        raise TypeError("tokenizers must be a non-empty dict {name: tokenizer}.")
    for name, tokenizer in tokenizers.items():
        special = np.array(tokenizer.all_special_ids)
        batches = (("the given texts", _reference_batch(tokenizer, texts)["input_ids"]),
                   (f"the text {probe_text(tokenizer)!r}", _probe_batch(tokenizer)["input_ids"]))
        problem = ""
        for where, ids in batches:
            got, problem = _run_finder(answer, ids, tokenizer)
            if got is None:
                problem = f"{name}: {problem}"
                break
            expected = np.isin(ids, special)
            if not np.array_equal(got, expected):
                notes = _finder_mistakes(got, expected, ids, tokenizer)
                advice = "flag every special token this tokenizer has, not only some" if (expected & ~got).any() \
                    else "flag the special tokens only"
                problem = (
                    f"{name}, on {where}: {'; '.join(notes)}. The function should {advice}: take them from the "
                    "tokenizer itself (section 4) instead of writing ids down."
                )
                break
        if problem:
            feedback.bad(problem)
        else:
            found = sorted({_kind(tokenizer, i) for ids in (b for _, b in batches) for i in ids[np.isin(ids, special)]})
            feedback.good(f"{name}: flags exactly the special tokens ({', '.join(found)}) and nothing else")
    return feedback
