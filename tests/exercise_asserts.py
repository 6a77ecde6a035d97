"""Assertions shared by the tests of the exercise checkers (imported by the test_exercises_* modules)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlm_tutorial.exercises.feedback import Feedback

#: Answers no checker may pass and none may crash on: feedback must come back instead.
ODD_ANSWERS: tuple[Any, ...] = (None, "text", object(), np.zeros((3, 2)), float("nan"), (None, None),
                                (np.zeros(2), np.zeros(2)), (float("nan"), float("nan")), [[1, 2], [3]])


def assert_fails_with(feedback: Feedback, *phrases: str) -> None:
    assert isinstance(feedback, Feedback)
    assert not feedback.passed, str(feedback)
    text = str(feedback)
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not in {text!r}"
