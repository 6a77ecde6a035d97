"""The answer every exercise checker gives (introduced in notebook 00's exercises)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Feedback:
    """The verdict on one exercise: ``passed`` plus the reasons, shown as readable text.

    Build it with :meth:`good` and :meth:`bad` notes; it passes when there is no ``bad`` note.
    In a notebook its text is displayed, so ``check_...(answer)`` as a cell's last line prints
    the verdict.
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
    """True (with a note in ``feedback`` saying what to do) when the learner's answer is still ``None``."""
    if answer is None:
        feedback.bad("the answer is still None: replace None with your answer in the cell above.")
        return True
    return False
