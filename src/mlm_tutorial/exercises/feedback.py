"""The answer every exercise checker gives (introduced in notebook 00's exercises).

Besides :class:`Feedback`, the helpers every checker uses to read a learner's answer live here, so that
all notebooks agree on what counts as a number or an array and name a wrong value the same way:
:func:`describe`, :func:`describe_non_number`, :func:`as_number` and :func:`as_array`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Feedback:
    """The verdict on one exercise: ``passed`` plus the reasons, shown as readable text.

    Build it with :meth:`good` and :meth:`bad` notes; it passes when there is no ``bad`` note.
    In a notebook its text is displayed, so ``check_...(answer)`` as a cell's last line prints
    the verdict.

    Every exercise checker returns one, from notebook 00 on.
    """

    exercise: str
    right: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.wrong

    def good(self, note: str) -> "Feedback":
        self.right.append(note)
        return self

    def bad(self, note: str) -> "Feedback":
        self.wrong.append(note)
        return self

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        head = f"{self.exercise}: {'correct' if self.passed else 'not yet'}"
        lines = [head] + [f"  ✓ {note}" for note in self.right] + [f"  ✗ {note}" for note in self.wrong]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)


def missing_answer(feedback: Feedback, answer: Any) -> bool:
    """True (with a note in ``feedback`` saying what to do) when the learner's answer is still ``None``.

    Used by the exercise checkers of notebooks 03, 04 and 05.
    """
    if answer is None:
        feedback.bad("the answer is still None: set `answer` to your answer in this cell and run it again.")
        return True
    return False


# --------------------------------------------------------------------------- reading answers


def _has_shape(value: Any) -> bool:
    """True for arrays and tensors (they have a ``shape``), False for scalars, NumPy's included."""
    return getattr(value, "shape", None) is not None and not isinstance(value, np.generic)


def _name(value: Any) -> str:
    """The bare kind of ``value``: "None", "a tensor", "an array", "a str", "an int64"..."""
    if value is None:
        return "None"
    if _has_shape(value):
        return "a tensor" if hasattr(value, "numpy") else "an array"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def describe(value: Any) -> str:
    """How feedback names a learner's value: "None", "a str", "an int", "a float64", "a list", "a dict",
    "an array of shape (2,)", "a tensor of shape (2, 3)".

    For telling the learner what they gave when it is not what the exercise asked for; arrays and
    tensors come with their shape, everything else with the name of its type.

    Used by the exercise checkers of notebooks 00, 03, 04 and 05.
    """
    name = _name(value)
    if not _has_shape(value):
        return name
    try:
        shape = tuple(value.shape)
    except Exception:  # noqa: BLE001 - e.g. a symbolic tensor of unknown rank: its kind is enough
        return name
    return f"{name} of shape {shape}"


def _read_number(value: Any) -> tuple[int | float | None, str]:
    """``(number, "")`` when ``value`` is one real number, else ``(None, what it is instead)``."""
    if value is None or isinstance(value, (bool, np.bool_, str, bytes)):
        return None, describe(value)
    if isinstance(value, numbers.Integral):
        return int(value), ""
    if isinstance(value, numbers.Real):
        return float(value), ""
    array = as_array(value)
    if array is None:
        return None, _name(value)
    if array.dtype.kind not in "iuf":
        scalar = isinstance(value, (numbers.Number, np.generic))  # a complex number: its name says it all
        return None, _name(value) if scalar else f"{_name(value)} of {array.dtype}"
    if array.shape != ():
        return None, f"{_name(value)} of shape {tuple(array.shape)}"
    return (int(array.item()) if array.dtype.kind in "iu" else float(array.item())), ""


def as_number(value: Any) -> int | float | None:
    """``value`` as a Python number when it is one real number, else None.

    For exercises whose answer is a single number. Python ints and floats, NumPy integer and float
    scalars, 0-d arrays and 0-d tensors (``tf.size(...)``, ``tf.reduce_mean(...)``) are numbers;
    booleans, strings, bytes, complex numbers, None and anything with more than zero dimensions (even
    one element, such as ``[0.5]``) are not. Integers stay ints, everything else becomes a float;
    NaN and infinity are returned as they are, for the checker to judge.

    Used by the exercise checkers of notebooks 00, 01, 03, 04 and 05.
    """
    return _read_number(value)[0]


def describe_non_number(value: Any) -> str:
    """How feedback names a value that :func:`as_number` does not take as one number, saying why.

    For the "answer must be a number, got ..." notes: the kind of value ("None", "a str", "a bool",
    "a complex", "a dict", "a tensor"), plus the dtype when NumPy reads an array-like ``value`` as
    something other than integers or floats ("a tensor of bool", "a list of <U3"), or else the shape
    when it holds numbers but not exactly one in 0 dimensions ("a list of shape (1,)", "a tensor of
    shape (48,)"). A value that is a number gets :func:`describe`'s name.

    Used by the exercise checkers of notebooks 00, 04 and 05.
    """
    number, what = _read_number(value)
    return describe(value) if number is not None else what


def as_pair(value: Any) -> Any:
    """A 1-D array or tensor of two values as a tuple of its two items; any other value unchanged.

    So ``np.array([936, 94])`` answers a pair exercise as ``(936, 94)`` does. Used by the exercise
    checkers of notebooks 04 and 05.
    """
    if isinstance(value, (tuple, list)) or not _has_shape(value):
        return value
    array = as_array(value)
    if array is None or array.shape != (2,):
        return value
    return tuple(array.tolist())


def as_array(value: Any) -> np.ndarray | None:
    """``value`` (a list, tuple, NumPy array or tensor) as a NumPy array, or None when NumPy cannot read it.

    For exercises whose answer is an array (or a function that returns one): ragged lists, lists of
    mixed or odd items (``[1, None]``) and other objects that NumPy only reads as ``dtype=object``
    give None, so the checker can say so instead of raising. Nothing is checked about the dtype or
    the shape; that is the checker's job.

    Used by the exercise checkers of notebooks 02 and 03.
    """
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - ragged lists, symbolic tensors, odd objects
        return None
    return None if array.dtype == object else array
