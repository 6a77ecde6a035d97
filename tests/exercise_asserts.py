"""Assertions shared by the tests of the exercise checkers (imported by the test_exercises_* modules)."""

from __future__ import annotations

from mlm_tutorial.exercises.feedback import Feedback


def assert_fails_with(feedback: Feedback, *phrases: str) -> None:
    assert isinstance(feedback, Feedback)
    assert not feedback.passed, str(feedback)
    text = str(feedback)
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not in {text!r}"
