"""The checkers of notebook 00's exercises accept the worked answers and explain typical mistakes."""

from __future__ import annotations

from typing import Any

import pytest

from mlm_tutorial.exercises import nb00
from exercise_asserts import assert_fails_with


@pytest.fixture(scope="module")
def tokenizers(bert_tokenizer: Any, roberta_tokenizer: Any) -> dict[str, Any]:
    return {"BERT-style": bert_tokenizer, "RoBERTa-style": roberta_tokenizer}


# --------------------------------------------------------------------------- exercise 1


def put_mask(template: str, tokenizer: Any) -> str:
    return template.replace("{mask}", tokenizer.mask_token)


def test_put_mask_accepts_the_solution(tokenizers: dict[str, Any]) -> None:
    feedback = nb00.check_put_mask(put_mask, tokenizers)
    assert feedback.passed, str(feedback)
    assert "[MASK]" in str(feedback) and "<mask>" in str(feedback)
    assert "correct" in str(feedback)


def test_put_mask_accepts_format_and_harmless_spacing(tokenizers: dict[str, Any]) -> None:
    assert nb00.check_put_mask(lambda t, tok: t.format(mask=tok.mask_token), tokenizers).passed
    bert_only = {"BERT-style": tokenizers["BERT-style"]}
    spaced = nb00.check_put_mask(lambda t, tok: t.replace("{mask}", f" {tok.mask_token} "), bert_only)
    assert spaced.passed, str(spaced)


def test_put_mask_rejects_a_typed_bert_mask(tokenizers: dict[str, Any]) -> None:
    feedback = nb00.check_put_mask(lambda t, tok: t.replace("{mask}", "[MASK]"), tokenizers)
    assert_fails_with(feedback, "RoBERTa-style", "'[MASK]'", "'<mask>'", "tokenizer.mask_token")
    assert "the BERT-style tokenizer: every sentence" in str(feedback)  # the BERT half was right and is said so


def test_put_mask_compares_ids_so_spacing_counts_for_roberta_and_a_typed_roberta_mask_fails_bert(
        tokenizers: dict[str, Any]) -> None:
    roberta_only = {"RoBERTa-style": tokenizers["RoBERTa-style"]}
    # byte-level BPE keeps spaces in its tokens: an extra space around the mask changes the ids
    spaced = nb00.check_put_mask(lambda t, tok: t.replace("{mask}", f" {tok.mask_token} "), roberta_only)
    assert_fails_with(spaced, "RoBERTa-style", "more than the blank")
    typed = nb00.check_put_mask(lambda t, tok: t.replace("{mask}", "<mask>"), tokenizers)
    assert_fails_with(typed, "BERT-style", "'<mask>'", "'[MASK]'", "tokenizer.mask_token")


def test_put_mask_rejects_the_id_the_placeholder_and_doubles(tokenizers: dict[str, Any]) -> None:
    assert_fails_with(nb00.check_put_mask(lambda t, tok: t.replace("{mask}", str(tok.mask_token_id)), tokenizers),
                      "id", "tokenizer.mask_token")
    assert_fails_with(nb00.check_put_mask(lambda t, tok: t, tokenizers), "placeholder")
    assert_fails_with(nb00.check_put_mask(lambda t, tok: t.replace("{mask}", tok.mask_token * 2), tokenizers),
                      "2 times")
    assert_fails_with(nb00.check_put_mask(lambda t, tok: put_mask(t, tok) + " today", tokenizers), "more than the blank")


def test_put_mask_reports_errors_and_wrong_types(tokenizers: dict[str, Any]) -> None:
    assert_fails_with(nb00.check_put_mask(lambda t, tok: t.replace("{mask}", tok.mask_token_id), tokenizers),
                      "TypeError")
    assert_fails_with(nb00.check_put_mask(lambda t, tok: [put_mask(t, tok)], tokenizers), "returned a list")
    assert_fails_with(nb00.check_put_mask(None, tokenizers), "function")
    assert_fails_with(nb00.check_put_mask("the bank raised [MASK]", tokenizers), "function")


def test_put_mask_checks_its_own_arguments(tokenizers: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="tokenizers"):
        nb00.check_put_mask(put_mask, [])
    with pytest.raises(TypeError, match="no mask token"):
        nb00.check_put_mask(put_mask, {"x": object()})
    with pytest.raises(ValueError, match="templates"):
        nb00.check_put_mask(put_mask, tokenizers, templates=["no placeholder"])


# --------------------------------------------------------------------------- exercise 2


def fake_pipeline(*pairs: tuple[str, float]) -> Any:
    def fill_mask(sentence: str) -> list[dict[str, Any]]:
        return [{"score": score, "token": 500 + i, "token_str": token, "sequence": sentence.replace("[MASK]", token)}
                for i, (token, score) in enumerate(pairs)]

    return fill_mask


SENTENCE = "the bank raised interest [MASK] on thursday."
PIPE = fake_pipeline(("rates", 0.61234), ("costs", 0.2), (" fees", 0.05))


def test_top_guess_accepts_the_solution() -> None:
    guesses = PIPE(SENTENCE)
    feedback = nb00.check_top_guess((guesses[0]["token_str"], guesses[0]["score"]), PIPE, SENTENCE)
    assert feedback.passed, str(feedback)
    assert "'rates'" in str(feedback) and "0.612" in str(feedback)
    assert nb00.check_top_guess([" rates ", 0.612], PIPE, SENTENCE).passed  # spaces and 3 decimals are fine


def test_top_guess_accepts_a_score_rounded_to_two_decimals_and_numpy_or_tf_scalars() -> None:
    import numpy as np
    import tensorflow as tf

    for score in (round(0.61234, 2), 0.61234 + 0.0049, 0.61234 - 0.0049):
        feedback = nb00.check_top_guess(("rates", score), PIPE, SENTENCE)
        assert feedback.passed, str(feedback)
    assert nb00.check_top_guess((np.str_("rates"), np.float32(0.61234)), PIPE, SENTENCE).passed
    assert nb00.check_top_guess((tf.constant("rates"), tf.constant(0.61234)), PIPE, SENTENCE).passed
    # beyond the rounding band the score is still wrong
    assert_fails_with(nb00.check_top_guess(("rates", 0.61234 + 0.0051), PIPE, SENTENCE), "does not belong")


def test_top_guess_says_when_the_score_is_rounded_too_far() -> None:
    assert_fails_with(nb00.check_top_guess(("rates", 0.6), PIPE, SENTENCE), "rounded too far", "2 decimals")


def test_top_guess_of_a_real_pipeline(mlm_model: Any, bert_tokenizer: Any) -> None:
    from mlm_tutorial.resources import fill_mask_pipeline

    fill_mask = fill_mask_pipeline(mlm_model, bert_tokenizer, top_k=3)
    sentence = f"the bank raised interest {bert_tokenizer.mask_token} on thursday."
    best = fill_mask(sentence)[0]
    assert nb00.check_top_guess((best["token_str"], best["score"]), fill_mask, sentence).passed
    rounded = nb00.check_top_guess((best["token_str"], round(best["score"], 2)), fill_mask, sentence)
    assert rounded.passed, str(rounded)
    assert not nb00.check_top_guess((best["token_str"], 100 * best["score"]), fill_mask, sentence).passed


@pytest.mark.parametrize("pair, words", [
    ((float("nan"), 0.612), "string"),
    ((float("inf"), 0.612), "string"),
    (("rates", float("nan")), "nan, not a probability"),
    (("rates", float("inf")), "inf, not a probability"),
    ((None, None), "string"),
])
def test_top_guess_gives_feedback_for_nan_and_inf(pair: Any, words: str) -> None:
    assert_fails_with(nb00.check_top_guess(pair, PIPE, SENTENCE), words)


def test_top_guess_rejects_typical_mistakes() -> None:
    guesses = PIPE(SENTENCE)
    assert_fails_with(nb00.check_top_guess(guesses[0], PIPE, SENTENCE), "dict")
    assert_fails_with(nb00.check_top_guess((guesses[0]["sequence"], 0.612), PIPE, SENTENCE), "whole sentence")
    assert_fails_with(nb00.check_top_guess((500, 0.612), PIPE, SENTENCE), "id")
    assert_fails_with(nb00.check_top_guess(("fees", 0.05), PIPE, SENTENCE), "last guess", "does not belong")
    assert_fails_with(nb00.check_top_guess(("costs", 0.2), PIPE, SENTENCE), "best first")
    assert_fails_with(nb00.check_top_guess(("rates", 61.234), PIPE, SENTENCE), "percentage")
    assert_fails_with(nb00.check_top_guess(("rates", 3.0), PIPE, SENTENCE), "cannot be a probability")
    assert_fails_with(nb00.check_top_guess(("rates", "0.612"), PIPE, SENTENCE), "number")
    assert_fails_with(nb00.check_top_guess(None, PIPE, SENTENCE), "None")
    assert_fails_with(nb00.check_top_guess("rates", PIPE, SENTENCE), "pair")


def test_top_guess_checks_its_own_arguments() -> None:
    with pytest.raises(TypeError, match="fill_mask"):
        nb00.check_top_guess(("rates", 0.6), None, SENTENCE)
    with pytest.raises(ValueError, match="list of guesses"):
        nb00.check_top_guess(("rates", 0.6), lambda s: [], SENTENCE)


# --------------------------------------------------------------------------- exercise 3


# The answer key, written out here (not read from the checker's table): the tasks that need both sides of a
# gap or a vector per token are an MLM's; generating text from the left (b, d) is a causal LM's.
RIGHT = {"a", "c", "e", "f", "g"}


def test_use_cases_has_both_kinds_and_prints_every_task() -> None:
    assert RIGHT and RIGHT != set(nb00.USE_CASES)
    assert {letter for letter, (_, fits, _) in nb00.USE_CASES.items() if fits} == RIGHT  # the checker agrees
    text = nb00.use_cases_text()
    assert len(text.splitlines()) == len(nb00.USE_CASES)
    assert all(f"{letter}) {task}" in text for letter, (task, _, _) in nb00.USE_CASES.items())


@pytest.mark.parametrize("spelling", [RIGHT, sorted(RIGHT), tuple(RIGHT), "".join(sorted(RIGHT)),
                                      ", ".join(sorted(RIGHT)).upper(), ", ".join(sorted(RIGHT)) + ".",
                                      "".join(sorted(RIGHT)) + ".", "; ".join(f"{x})" for x in sorted(RIGHT))])
def test_use_cases_accepts_the_solution_in_any_spelling(spelling: Any) -> None:
    feedback = nb00.check_use_cases(spelling)
    assert feedback.passed, str(feedback)
    assert len(feedback.right) == len(nb00.USE_CASES)


WRONG = set(nb00.USE_CASES) - RIGHT


def assert_names_none_of(feedback: Any, letters: set[str]) -> None:
    """No letter of ``letters`` (nor its task) appears in the feedback."""
    text = str(feedback)
    for letter in letters:
        assert f"{letter})" not in text, text
        assert nb00.USE_CASES[letter][0] not in text, text


def test_use_cases_on_an_empty_answer_gives_counts_and_the_principle_not_the_letters() -> None:
    for empty in (set(), "", []):
        feedback = nb00.check_use_cases(empty)
        assert_fails_with(feedback, f"no task chosen, but {len(RIGHT)} tasks fit", "both sides", "section 3")
        assert_names_none_of(feedback, set(nb00.USE_CASES))
        assert "this one fits" not in str(feedback)


def test_use_cases_with_missing_letters_counts_them_without_naming_them() -> None:
    missing = set(sorted(RIGHT)[:2])
    chosen = RIGHT - missing
    feedback = nb00.check_use_cases(chosen)
    assert_fails_with(feedback, f"of your {len(chosen)} letters, {len(chosen)} fit and 0 do not",
                      "2 tasks that fit are still missing", "both sides")
    assert_names_none_of(feedback, missing)
    assert all(f"{letter})" in "\n".join(feedback.right) for letter in chosen)  # the learner's own right ones


def test_use_cases_names_the_learners_own_wrong_letters() -> None:
    wrong = sorted(WRONG)[0]
    missing = set(sorted(RIGHT)[:2])
    feedback = nb00.check_use_cases((RIGHT - missing) | {wrong})
    assert_fails_with(feedback, f"{wrong})", "not a job for a masked LM", "1 does not",
                      "2 tasks that fit are still missing", "causal LM")
    assert_names_none_of(feedback, missing)
    superset = nb00.check_use_cases(RIGHT | {wrong})  # nothing missing: naming the wrong one gives no letter away
    assert_fails_with(superset, f"{wrong})", "no task that fits is missing")


def test_use_cases_does_not_name_letters_when_that_would_settle_the_answer() -> None:
    everything = nb00.check_use_cases(set(nb00.USE_CASES))
    assert_fails_with(everything, "you chose every task", f"{len(WRONG)} of them are not", "causal LM")
    assert_names_none_of(everything, set(nb00.USE_CASES))
    # every unchosen task fits: naming the wrong letter would tell which chosen ones are right
    kept = sorted(RIGHT)[0]
    chosen = {kept} | WRONG
    feedback = nb00.check_use_cases(chosen)
    assert_fails_with(feedback, f"1 fits and {len(WRONG)} do not", f"{len(RIGHT) - 1} tasks that fit are still missing")
    assert_names_none_of(feedback, set(nb00.USE_CASES))


def test_use_cases_rejects_unknown_letters_and_types() -> None:
    assert_fails_with(nb00.check_use_cases(RIGHT | {"z"}), "'z'")
    assert_fails_with(nb00.check_use_cases(None), "set of letters")
    assert_fails_with(nb00.check_use_cases({1, 2}), "set of letters")


def test_put_mask_rejects_mask_tokens_typed_for_each_family(tokenizers: dict[str, Any]) -> None:
    def typed_per_family(template: str, tokenizer: Any) -> str:  # right for BERT and RoBERTa, typed by hand
        return template.replace("{mask}", "<mask>" if "<s>" in tokenizer.all_special_tokens else "[MASK]")

    feedback = nb00.check_put_mask(typed_per_family, tokenizers)
    assert_fails_with(feedback, nb00.RENAMED_MASK, "holds '[MASK]'", "tokenizer.mask_token")


def test_put_mask_leaves_the_learners_tokenizers_as_they_were(tokenizers: dict[str, Any]) -> None:
    before = {name: (tok.mask_token, len(tok)) for name, tok in tokenizers.items()}
    feedback = nb00.check_put_mask(put_mask, tokenizers)
    assert feedback.passed, str(feedback)
    assert nb00.RENAMED_MASK in str(feedback)
    assert {name: (tok.mask_token, len(tok)) for name, tok in tokenizers.items()} == before
