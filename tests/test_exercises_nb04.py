"""The notebook 04 checkers accept the worked solutions and explain typical mistakes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlm_tutorial.exercises import nb04


def test_training_steps_solution_passes():
    q = nb04.STEPS_QUESTION
    total = q["chunks"] // q["batch_size"] * q["epochs"]
    feedback = nb04.check_training_steps((total, round(0.1 * total)))
    assert feedback.passed, str(feedback)
    assert total == 936 and "936 steps" in str(feedback)


@pytest.mark.parametrize("answer, phrase", [
    ((939, 94), "incomplete last batch"),
    ((312, 31), "one epoch"),
    ((936, 1000), "never ends"),
    ((936, 10), "about 10%"),
    ((936.0, 94), "pair of ints"),
    ("936, 94", "pair of ints"),
])
def test_training_steps_mistakes(answer, phrase):
    feedback = nb04.check_training_steps(answer)
    assert not feedback.passed
    assert phrase in str(feedback)


def test_validation_perplexity_solution_and_mistakes():
    batches = nb04.example_batch_losses()
    assert [len(b) for b in batches] == [40, 8]
    right = math.exp(np.concatenate(batches).mean())
    assert nb04.check_validation_perplexity(right).passed
    assert "every masked token counts once" in str(nb04.check_validation_perplexity(right))
    wrong = {
        math.exp(np.mean([b.mean() for b in batches])): "small batch",
        float(np.mean([math.exp(b.mean()) for b in batches])): "per-batch perplexities",
        float(np.concatenate(batches).mean()): "its exponential",
        right * 1.1: "concatenate",
        "12": "must be a number",
    }
    for answer, phrase in wrong.items():
        feedback = nb04.check_validation_perplexity(answer)
        assert not feedback.passed and phrase in str(feedback), (answer, str(feedback))


def test_head_rows():
    labels = np.full((2, 10), -100)
    labels[0, 3] = 7
    labels[1, [1, 5]] = 9
    assert nb04.check_head_rows((20, 3), labels).passed
    assert "NOT predicted" in str(nb04.check_head_rows((20, 17), labels))
    assert not nb04.check_head_rows((10, 3), labels).passed
    assert not nb04.check_head_rows((20, 20), labels).passed
    assert "pair of ints" in str(nb04.check_head_rows(23, labels))
    with pytest.raises(ValueError, match="2-D"):
        nb04.check_head_rows((1, 1), labels[0])
