"""Checkers for the exercises of notebook 00 (what is masked language modeling).

Each checker returns a :class:`~mlm_tutorial.exercises.feedback.Feedback`. No mask token is
typed here: the right answers come from the tokenizers and the pipeline that are passed in.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from mlm_tutorial.exercises.feedback import Feedback, as_number, describe, describe_non_number

#: The placeholder exercise 1's templates hold where the mask token goes.
PLACEHOLDER = "{mask}"

#: Exercise 1's templates: the blank at the start, in the middle and before the full stop.
TEMPLATES = (
    "{mask} shares fell sharply on monday.",
    "the bank raised interest {mask} on thursday.",
    "the match ended in a {mask}.",
)

#: The mask token of the renamed copy exercise 1 also tries, so that typing each family's token cannot pass.
RENAMED_MASK = "[BLANK]"

#: Exercise 3: letter -> (task, is an MLM-pretrained encoder the right tool?, why).
USE_CASES: dict[str, tuple[str, bool, str]] = {
    "a": ("sort news articles into the five categories",
          True, "classification: fine-tune the pretrained encoder with a small classification head"),
    "b": ("write a 300-word article from a headline",
          False, "long text is generated one token after the other from the left: a causal LM's job"),
    "c": ("mark the people, companies and places named in an article",
          True, "named-entity recognition labels every token, and every token's vector has seen both sides"),
    "d": ("suggest the next words while someone is typing",
          False, "there is no right context yet while typing: a causal LM predicts the next word"),
    "e": ("turn articles into vectors so that similar ones can be found",
          True, "search and embeddings: the encoder's vectors (usually fine-tuned for similarity) represent text"),
    "f": ("restore one word that is unreadable in a scanned page",
          True, "filling a gap with both sides known is exactly the pretraining task"),
    "g": ("adapt a general model to business news before fine-tuning it",
          True, "domain adaptation: keep training with masked language modeling on the new text (notebook 04)"),
}


def use_cases_text() -> str:
    """The tasks of notebook 00's exercise 3, one ``letter) task`` per line, for the notebook to print."""
    return "\n".join(f"{letter}) {task}" for letter, (task, _, _) in USE_CASES.items())


# --------------------------------------------------------------------------- exercise 1


def _check_tokenizers(tokenizers: Any) -> None:
    if not isinstance(tokenizers, Mapping) or not tokenizers:
        raise TypeError("tokenizers must be a non-empty dict {name: tokenizer}, e.g. {'bert': tokenizer}.")
    for name, tokenizer in tokenizers.items():
        if not getattr(tokenizer, "mask_token", None) or getattr(tokenizer, "mask_token_id", None) is None:
            raise TypeError(f"tokenizers[{name!r}] has no mask token; pass masked-LM tokenizers (BERT, RoBERTa).")


def _mask_tokens_of(tokenizers: Mapping[str, Any]) -> set[str]:
    return {tokenizer.mask_token for tokenizer in tokenizers.values()} | {"[MASK]", "<mask>"}


def _diagnose_sentence(got: str, template: str, tokenizer: Any, others: set[str]) -> str:
    """Why ``got`` is not ``template`` with the tokenizer's mask token in it."""
    mask = tokenizer.mask_token
    if PLACEHOLDER in got:
        return f"the placeholder {PLACEHOLDER} is still in {got!r}: replace it with the mask token."
    typed = sorted(token for token in others if token != mask and token in got)
    if typed and mask not in got:
        return (
            f"{got!r} holds {typed[0]!r}, but this tokenizer's mask token is {mask!r}: use tokenizer.mask_token "
            "instead of typing one family's token."
        )
    if mask not in got and str(tokenizer.mask_token_id) in got:
        return (
            f"{got!r} holds the mask token's id {tokenizer.mask_token_id} as text; the sentence needs the token "
            "itself, tokenizer.mask_token (the tokenizer turns it into the id)."
        )
    count = got.count(mask)
    if count != 1:
        return f"{got!r} holds the mask token {count} times; put it exactly once, where {PLACEHOLDER} was."
    return f"{got!r} differs from {template!r} in more than the blank: change only the placeholder."


def check_put_mask(answer: Any, tokenizers: Mapping[str, Any], templates: Sequence[str] = TEMPLATES) -> Feedback:
    """Notebook 00, exercise 1: a function ``answer(template, tokenizer)`` that puts the tokenizer's mask
    token at ``{mask}``.

    It is called for every template with every tokenizer, and with a copy of the first tokenizer whose
    mask token is renamed to :data:`RENAMED_MASK`, so only an answer that reads ``tokenizer.mask_token``
    passes. A result passes when the tokenizer turns it into the same ids as
    ``template.replace("{mask}", tokenizer.mask_token)``, so harmless spacing differences are accepted and a
    typed ``[MASK]`` in a RoBERTa sentence is not.
    """
    feedback = Feedback("Exercise 1 (a mask token for any tokenizer)")
    _check_tokenizers(tokenizers)
    if isinstance(templates, str) or not templates or not all(
        isinstance(t, str) and t.count(PLACEHOLDER) == 1 for t in templates
    ):
        raise ValueError(f"templates must be a list of strings that each hold {PLACEHOLDER!r} once.")
    if not callable(answer):
        return feedback.bad(
            f"answer should be a function put_mask(template, tokenizer) that returns a string, got {type(answer).__name__}."
        )
    others = _mask_tokens_of(tokenizers)
    first_name, first = next(iter(tokenizers.items()))
    renamed = copy.deepcopy(first)  # the learner's tokenizers stay as they are
    renamed.add_special_tokens({"mask_token": RENAMED_MASK})
    labels = {f"the {name} tokenizer": tokenizer for name, tokenizer in tokenizers.items()}
    labels[f"a copy of the {first_name} tokenizer whose mask token is {RENAMED_MASK!r}"] = renamed
    for label, tokenizer in labels.items():
        for template in templates:
            try:
                got = answer(template, tokenizer)
            except Exception as error:  # noqa: BLE001 - the learner's code may fail in any way
                return feedback.bad(f"put_mask({template!r}, <{label}>) raised {type(error).__name__}: {error}")
            if not isinstance(got, str):
                return feedback.bad(
                    f"put_mask({template!r}, <{label}>) returned a {type(got).__name__}; return the sentence "
                    "as a string."
                )
            expected = template.replace(PLACEHOLDER, tokenizer.mask_token)
            got_ids = tokenizer(got)["input_ids"]
            if got_ids != tokenizer(expected)["input_ids"]:
                return feedback.bad(f"with {label}: {_diagnose_sentence(got, template, tokenizer, others)}")
        example = template.replace(PLACEHOLDER, tokenizer.mask_token)
        ids = tokenizer(example)["input_ids"]
        feedback.good(
            f"{label}: every sentence holds {tokenizer.mask_token!r} once, e.g. {example!r}; the tokenizer turns it "
            f"into id {tokenizer.mask_token_id} ({ids.count(tokenizer.mask_token_id)} in that sentence)"
        )
    return feedback


# --------------------------------------------------------------------------- exercise 2

#: How far exercise 2's score may be from the pipeline's: a probability rounded to 2 decimals passes.
SCORE_TOLERANCE = 0.005


def _text(value: Any) -> str | None:
    """The learner's token as a str: a str, bytes, or a 0-d string array or tensor; else None."""
    if hasattr(value, "numpy") and callable(value.numpy):
        try:
            value = value.numpy()
        except Exception:  # noqa: BLE001 - not a tensor after all: judge the value as it is
            pass
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value) if isinstance(value, str) else None  # str() turns a NumPy string into a plain one


def check_top_guess(answer: Any, fill_mask: Callable[[str], Any], sentence: str) -> Feedback:
    """Notebook 00, exercise 2: ``(token, score)`` of the pipeline's best filler for ``sentence``.

    The reference comes from ``fill_mask(sentence)`` (a fill-mask pipeline): the first guess, its
    ``token_str`` without surrounding spaces, and its ``score``, a probability. The score passes
    within :data:`SCORE_TOLERANCE` (0.005), so one rounded to 2 or more decimals is fine. NumPy
    and 0-d TF scalars count as numbers.
    """
    feedback = Feedback("Exercise 2 (the best guess and its probability)")
    if not callable(fill_mask):
        raise TypeError(f"fill_mask must be a fill-mask pipeline, got {type(fill_mask).__name__}.")
    guesses = fill_mask(sentence)
    if not isinstance(guesses, list) or not guesses or not isinstance(guesses[0], Mapping):
        raise ValueError("fill_mask(sentence) must return a list of guesses; use a sentence with one mask token.")
    top = guesses[0]
    token, score = str(top["token_str"]).strip(), float(top["score"])
    if answer is None:
        return feedback.bad("answer is None: assign a pair (token, score) to `answer`.")
    if isinstance(answer, Mapping):
        return feedback.bad("that is a whole guess (a dict); answer with the pair (guess['token_str'], guess['score']).")
    if isinstance(answer, str) or not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return feedback.bad("answer should be a pair (token, score), e.g. a tuple of a string and a float.")
    token_id, got_token = as_number(answer[0]), _text(answer[0])
    if token_id is not None and "token" in top and float(token_id) == float(top["token"]):
        feedback.bad("the first item is the token's id (guess['token']); give the text, guess['token_str'].")
    elif got_token is None:
        feedback.bad(f"the first item should be the token as a string, got {describe(answer[0])}.")
    elif got_token.strip() == token:
        feedback.good(f"{token!r} is the pipeline's best guess")
    elif "sequence" in top and got_token.strip() == str(top["sequence"]).strip():
        feedback.bad("that is the whole sentence with the blank filled in (guess['sequence']); give the filler, "
                     "guess['token_str'].")
    elif len(guesses) > 1 and got_token.strip() == str(guesses[-1]["token_str"]).strip():
        feedback.bad("that is the last guess of the list; the pipeline lists the best guess first.")
    else:
        feedback.bad(f"{got_token!r} is not the best guess: the pipeline's list is sorted, best first (index 0).")
    got_score = as_number(answer[1])
    if got_score is None:
        return feedback.bad(f"the second item should be the score, a number, got {describe_non_number(answer[1])}.")
    value = float(got_score)
    if not math.isfinite(value):
        return feedback.bad(f"the score is {value}, not a probability; take it from the best guess's 'score'.")
    if abs(value - score) <= SCORE_TOLERANCE + 1e-9:
        feedback.good(f"its probability is {score:.3f}")
    elif value > 1.0 and abs(value - 100 * score) <= 0.5:
        feedback.bad("that looks like a percentage; the pipeline's score is a probability between 0 and 1.")
    elif not 0.0 <= value <= 1.0:
        feedback.bad(f"{value} cannot be a probability; use the guess's 'score'.")
    elif value == round(score, 1):
        feedback.bad(f"{value} is the score rounded too far; keep at least 2 decimals, or do not round.")
    else:
        feedback.bad("the score does not belong to the best guess; take guesses[0]['score'].")
    return feedback


# --------------------------------------------------------------------------- exercise 3


def _letters(answer: Any) -> set[str] | None:
    if isinstance(answer, str):
        items: list[Any] = [part for part in answer.replace(",", " ").split() if part]
        if len(items) == 1 and len(items[0]) > 1:
            items = list(items[0])
    elif isinstance(answer, (set, frozenset, list, tuple)):
        items = list(answer)
    else:
        return None
    if not all(isinstance(item, str) for item in items):
        return None
    cleaned = (item.strip().strip(").;:").lower() for item in items)  # "a)", "g." and "f;" name a letter too
    return {letter for letter in cleaned if letter}


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


#: Exercise 3's hints: the principle behind the tasks that were missed, and behind those wrongly chosen.
MISSING_HINT = (
    "A masked LM is pretrained to fill gaps with the words on both sides known, so its encoder suits tasks that "
    "work on a text that is already there; section 3 lists such jobs. Look through the unchosen tasks again."
)
WRONG_HINT = (
    "A masked LM does not write new text word after word: that is what a causal LM is trained for."
)


def check_use_cases(answer: Any) -> Feedback:
    """Notebook 00, exercise 3: the letters of the :data:`USE_CASES` for which an MLM-pretrained encoder is
    the right tool.

    A right answer gets the reason for every task. A wrong one gets counts (letters that fit, letters that
    do not, tasks still missing) and a hint at the principle, never the letters still missing. The learner's
    own wrong letters are named with the reason, unless that would settle the whole answer: when every
    letter was chosen, or when every unchosen task fits.
    """
    feedback = Feedback("Exercise 3 (where masked language modeling fits)")
    letters = _letters(answer)
    if letters is None:
        return feedback.bad('answer should be a set of letters, e.g. {"a", "b"}.')
    unknown = sorted(letters - set(USE_CASES))
    if unknown:
        return feedback.bad(f"{unknown} are not among the letters {sorted(USE_CASES)}.")
    fitting = {letter for letter, (_, fits, _) in USE_CASES.items() if fits}
    if letters == fitting:
        for letter, (task, fits, why) in USE_CASES.items():
            feedback.good(f"{letter}) {task}: {'yes' if fits else 'no'}, {why}")
        return feedback
    right, wrong = letters & fitting, letters - fitting
    unchosen = set(USE_CASES) - letters
    missing = fitting - letters
    # Naming the learner's wrong letters tells which of the chosen ones are right as well. Together with the
    # counts that settles the whole answer when nothing is unchosen or every unchosen task fits.
    name_letters = bool(unchosen) and len(missing) < len(unchosen)
    if name_letters:
        for letter in sorted(right):
            task, _, why = USE_CASES[letter]
            feedback.good(f"{letter}) {task}: yes, {why}")
        for letter in sorted(wrong):
            task, _, why = USE_CASES[letter]
            feedback.bad(f"{letter}) {task}: not a job for a masked LM, {why}")
    if not letters:
        summary = f"no task chosen, but {_count(len(fitting), 'task fits', 'tasks fit')}."
    elif not unchosen:
        summary = (
            f"you chose every task, but {_count(len(wrong), 'of them is', 'of them are')} not a job for a masked LM."
        )
    else:
        still = (
            f"{_count(len(missing), 'task that fits is', 'tasks that fit are')} still missing"
            if missing else "no task that fits is missing"
        )
        summary = (
            f"of your {_count(len(letters), 'letter', 'letters')}, {len(right)} "
            f"{'fits' if len(right) == 1 else 'fit'} and {len(wrong)} {'does' if len(wrong) == 1 else 'do'} not; "
            f"{still}."
        )
    hints = ([WRONG_HINT] if wrong else []) + ([MISSING_HINT] if missing else [])
    return feedback.bad(" ".join([summary, *hints]))
