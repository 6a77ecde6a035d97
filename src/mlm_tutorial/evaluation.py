"""Measuring a masked LM: perplexity and top-1 accuracy on fixed, seeded masks.

Introduced in notebook 03 (fixed masks, and the unigram baseline that shows why they matter); notebook 04
measures the model with it before and after fine-tuning, and the bundled models' cards use it.
Masks are drawn once with a seed and reused, so the same model always gets the same number.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mlm_tutorial.inspect import _check_tokenizer
from mlm_tutorial.masking import IGNORE_INDEX, mask_tokens
from mlm_tutorial.resources import perplexity_from_loss


@dataclass(frozen=True)
class MaskedLMScore:
    """Mean cross-entropy (nats), perplexity and top-1 accuracy over the masked tokens.

    What :func:`unigram_baseline` (notebook 03) and :func:`masked_lm_score` (notebook 04) return.
    """

    loss: float
    perplexity: float
    accuracy: float
    masked_tokens: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _check_model(model: Any) -> None:
    if not hasattr(getattr(model, "config", None), "vocab_size") or not callable(model):
        raise TypeError(f"model must be a transformers masked LM (load it with resources.load_mlm_model), got "
                        f"{type(model).__name__}.")


def _check_pair(model: Any, tokenizer: Any) -> None:
    """The model and the tokenizer are what their names say, and come from one checkpoint."""
    from mlm_tutorial.resources import check_compatible

    _check_model(model)
    _check_tokenizer(tokenizer)
    check_compatible(tokenizer, model)


def fixed_masks(input_ids: Any, tokenizer: Any, seed: int = 1234, mlm_probability: float = 0.15,
                strategy: str = "mask_only") -> tuple[np.ndarray, np.ndarray]:
    """Mask ``input_ids`` once, with a seed, for evaluation. Returns NumPy ``(masked, labels)``.

    Introduced in notebook 03. The seed is required: without one every call would mask differently,
    and two measurements would not be comparable.
    """
    if seed is None or isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int such as 1234, got {seed!r}: fixed masks need a seed, or each call "
                        "would mask differently.")
    masked, labels = mask_tokens(np.asarray(input_ids), tokenizer, mlm_probability=mlm_probability,
                                 strategy=strategy, seed=seed)
    return masked.numpy(), labels.numpy()


#: Model types whose position ids start after the padding id, so ``max_position_embeddings`` overstates the
#: usable length by ``pad_token_id + 1`` (514 for 512 tokens).
ROBERTA_TYPES = ("roberta", "xlm-roberta", "camembert")


def masked_lm_score(model: Any, masked_ids: Any, labels: Any, batch_size: int = 32) -> MaskedLMScore:
    """Score ``model`` on pre-masked inputs: cross-entropy and accuracy where ``labels != -100``.

    Introduced in notebook 04.
    """
    import tensorflow as tf

    _check_model(model)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    masked_ids, labels = np.asarray(masked_ids), np.asarray(labels)
    if masked_ids.shape != labels.shape or masked_ids.ndim != 2:
        raise ValueError(f"masked_ids and labels must be 2-D arrays of one shape, got {masked_ids.shape} and {labels.shape}.")
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and getattr(model.config, "model_type", "") in ROBERTA_TYPES:
        pad = getattr(model.config, "pad_token_id", None)
        positions -= (pad if isinstance(pad, int) else 1) + 1  # RoBERTa numbers positions after the padding id
    if isinstance(positions, int) and masked_ids.shape[1] > positions:
        raise ValueError(f"the rows are {masked_ids.shape[1]} tokens long, but the model has only {positions} "
                         "positions. Cut the text into shorter chunks (chunk_size) first.")
    for name, array in (("masked_ids", masked_ids), ("labels", labels)):
        if not np.issubdtype(array.dtype, np.integer):
            raise TypeError(
                f"{name} must hold integer token ids, got dtype {array.dtype}. "
                "Pass the (masked, labels) arrays that fixed_masks(...) returns."
            )
    if not (labels != IGNORE_INDEX).any():
        raise ValueError("labels mark no masked token (all -100): nothing to score. Mask the inputs first.")
    vocab = getattr(model.config, "vocab_size", None)
    if isinstance(vocab, int):
        for name, array in (("masked_ids", masked_ids), ("labels", labels[labels != IGNORE_INDEX])):
            low, high = int(array.min()), int(array.max())
            if low < 0 or high >= vocab:
                raise ValueError(
                    f"{name} holds id {low if low < 0 else high}, outside the model's vocabulary 0..{vocab - 1}. "
                    "Were the ids made by another tokenizer? Use the model's own tokenizer; "
                    "resources.check_compatible(tokenizer, model) tells whether they fit."
                )
    pad = getattr(model.config, "pad_token_id", None)
    total_loss, correct, count = 0.0, 0, 0
    for start in range(0, len(masked_ids), batch_size):
        ids = masked_ids[start:start + batch_size]
        lab = labels[start:start + batch_size]
        attention = np.ones_like(ids) if pad is None else (ids != pad).astype(ids.dtype)
        logits = model(input_ids=tf.constant(ids), attention_mask=tf.constant(attention), training=False).logits
        where = lab != IGNORE_INDEX
        picked = tf.cast(tf.boolean_mask(logits, where), tf.float32)  # float16 logits under mixed precision
        targets = lab[where]
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant(targets), logits=picked)
        total_loss += float(tf.reduce_sum(tf.cast(losses, tf.float64)))
        correct += int(np.sum(np.argmax(picked.numpy(), axis=-1) == targets))
        count += int(where.sum())
    loss = total_loss / count
    return MaskedLMScore(loss=loss, perplexity=perplexity_from_loss(loss), accuracy=correct / count,
                         masked_tokens=count)


def unigram_baseline(train_ids: Any, labels: Any, tokenizer: Any) -> MaskedLMScore:
    """The context-free baseline: always guess the most frequent training token.

    Accuracy is how often that guess is right on the masked tokens; perplexity is that of the
    add-one-smoothed unigram distribution of the training tokens.

    Introduced in notebook 03.
    """
    train_ids, labels = np.asarray(train_ids).ravel(), np.asarray(labels)
    for name, array in (("train_ids", train_ids), ("labels", labels)):
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise TypeError(f"{name} must hold integer token ids, got dtype {array.dtype}.")
    targets = labels[labels != IGNORE_INDEX]
    if targets.size == 0:
        raise ValueError("labels mark no masked token (all -100): nothing to score. Mask the inputs first.")
    _check_tokenizer(tokenizer)
    for name, array in (("train_ids", train_ids), ("labels", targets)):
        if array.size and (array.min() < 0 or array.max() >= len(tokenizer)):
            bad = int(array.min()) if array.min() < 0 else int(array.max())
            raise ValueError(f"{name} holds id {bad}, outside the tokenizer's vocabulary 0..{len(tokenizer) - 1}. "
                             "Were the ids made by another tokenizer? Use the one that made them.")
    special = np.array(sorted(set(tokenizer.all_special_ids)))
    ordinary = train_ids[~np.isin(train_ids, special)]
    if ordinary.size == 0:
        raise ValueError("train_ids holds no ordinary token (it is empty or only special tokens). "
                         "Pass the token ids of the training texts.")
    counts = np.bincount(ordinary, minlength=len(tokenizer)).astype(np.float64)
    counts[special] = 0.0
    probs = (counts + 1.0) / (counts.sum() + len(counts))
    loss = float(-np.mean(np.log(probs[targets])))
    accuracy = float(np.mean(targets == int(np.argmax(counts))))
    return MaskedLMScore(loss=loss, perplexity=perplexity_from_loss(loss), accuracy=accuracy,
                         masked_tokens=int(targets.size))


# --------------------------------------------------------------------------- notebook 04: before/after views


def masked_sentences(templates: Any, tokenizer: Any, placeholder: str = "{mask}") -> list[str]:
    """Put the tokenizer's own mask token (``[MASK]``, ``<mask>``, ...) where ``placeholder`` is.

    Introduced in notebook 04, so its sentences work with any checkpoint. Each template must hold
    ``placeholder`` exactly once.
    """
    if isinstance(templates, str):
        templates = [templates]
    if not isinstance(templates, (list, tuple)) or not templates:
        raise ValueError(f"templates must be a non-empty list of sentences with one {placeholder!r} each.")
    mask = getattr(tokenizer, "mask_token", None)
    if not mask:
        raise ValueError(
            f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r} has no mask token; use a masked-LM tokenizer "
            "(BERT, DistilBERT, RoBERTa)."
        )
    sentences = []
    for index, template in enumerate(templates):
        if not isinstance(template, str) or template.count(placeholder) != 1:
            raise ValueError(f"templates[{index}] = {template!r} must be a string holding {placeholder!r} exactly once.")
        sentences.append(template.replace(placeholder, mask))
    return sentences


def fill_mask_predictions(model: Any, tokenizer: Any, sentences: Any, top_k: int = 5) -> Any:
    """Top-``top_k`` fillers of each sentence's single mask token, as a pandas table.

    Introduced in notebook 04. Columns: ``sentence``, ``rank`` (1 = best), ``token``, ``score``
    (the model's probability). Uses :func:`mlm_tutorial.resources.fill_mask_pipeline`.
    """
    import pandas as pd

    from mlm_tutorial.resources import fill_mask_pipeline

    _check_pair(model, tokenizer)
    if isinstance(sentences, str):
        sentences = [sentences]
    if not isinstance(sentences, (list, tuple)) or not sentences:
        raise ValueError("sentences must be a non-empty list of strings, each with one mask token.")
    mask = tokenizer.mask_token
    for index, sentence in enumerate(sentences):
        if not isinstance(sentence, str) or sentence.count(mask) != 1:
            raise ValueError(
                f"sentences[{index}] = {sentence!r} must hold the tokenizer's mask token {mask!r} exactly once. "
                "Build sentences with masked_sentences(templates, tokenizer)."
            )
    pipe = fill_mask_pipeline(model, tokenizer, top_k=top_k)
    rows = []
    for sentence in sentences:
        for rank, guess in enumerate(pipe(sentence), 1):
            rows.append({"sentence": sentence, "rank": rank, "token": guess["token_str"].strip(),
                         "score": float(guess["score"])})
    return pd.DataFrame(rows, columns=["sentence", "rank", "token", "score"])


def compare_fill_mask(before: Any, after: Any) -> Any:
    """Two :func:`fill_mask_predictions` tables side by side, one row per sentence and rank.

    Columns: ``sentence``, ``rank``, ``before``, ``p_before``, ``after``, ``p_after``.

    Introduced in notebook 04.
    """
    import pandas as pd

    for name, table in (("before", before), ("after", after)):
        if not isinstance(table, pd.DataFrame) or not {"sentence", "rank", "token", "score"} <= set(table.columns):
            raise TypeError(f"{name} must be a table from fill_mask_predictions(), got {type(table).__name__}.")
    if list(before["sentence"].unique()) != list(after["sentence"].unique()):
        raise ValueError("before and after were made from different sentences; use the same list for both.")
    for name, table in (("before", before), ("after", after)):
        if table.duplicated(["sentence", "rank"]).any():
            raise ValueError(f"{name} holds a sentence twice; make the tables from a list without repeats.")
    if sorted(before["rank"].unique()) != sorted(after["rank"].unique()):
        raise ValueError("before and after hold different ranks (another top_k?); make both with the same top_k.")
    merged = before.merge(after, on=["sentence", "rank"], suffixes=("_before", "_after"), validate="one_to_one")
    merged = merged.rename(columns={"token_before": "before", "score_before": "p_before",
                                    "token_after": "after", "score_after": "p_after"})
    return merged[["sentence", "rank", "before", "p_before", "after", "p_after"]]


def perplexity_by_category(model: Any, tokenizer: Any, rows_by_category: Any, seed: int = 1234,
                           batch_size: int = 32) -> dict[str, MaskedLMScore]:
    """:func:`masked_lm_score` on fixed masks of each category's chunks (introduced in notebook 04)."""
    _check_pair(model, tokenizer)
    if not isinstance(rows_by_category, dict) or not rows_by_category:
        raise ValueError("rows_by_category must be a non-empty dict {category: chunk array}; "
                         "build it with mlm_tutorial.training.category_chunks().")
    scores = {}
    for name, rows in rows_by_category.items():
        masked, labels = fixed_masks(rows, tokenizer, seed=seed)
        scores[name] = masked_lm_score(model, masked, labels, batch_size=batch_size)
    return scores


def adaptation_table(before: Any, after: Any, domain: str) -> Any:
    """Perplexity per category before and after fine-tuning on ``domain``, domain first.

    Columns: ``category``, ``domain`` (bool), ``perplexity_before``, ``perplexity_after``, ``ratio``
    (after / before; below 1 means the model got better on that category).

    Introduced in notebook 04.
    """
    import pandas as pd

    if not isinstance(before, dict) or not isinstance(after, dict) or set(before) != set(after):
        raise ValueError("before and after must be dicts from perplexity_by_category() over the same categories.")
    if domain not in before:
        raise ValueError(f"domain {domain!r} is not among the categories {sorted(before)}.")
    order = [domain] + [name for name in before if name != domain]
    rows = [{"category": name, "domain": name == domain, "perplexity_before": before[name].perplexity,
             "perplexity_after": after[name].perplexity,
             "ratio": after[name].perplexity / before[name].perplexity} for name in order]
    return pd.DataFrame(rows)


def plot_fill_mask(comparison: Any, columns: int = 2) -> Any:
    """Bar charts of the top-k probabilities before and after, one panel per sentence (notebook 04).

    ``comparison`` is a :func:`compare_fill_mask` table. Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    needed = {"sentence", "rank", "before", "p_before", "after", "p_after"}
    if not isinstance(comparison, pd.DataFrame) or not needed <= set(comparison.columns):
        raise TypeError("comparison must be a table from compare_fill_mask(before, after).")
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be a positive int, got {columns!r}.")
    sentences = list(comparison["sentence"].unique())
    rows = -(-len(sentences) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(6 * columns, 2.6 * rows), squeeze=False)
    for ax, sentence in zip(axes.ravel(), sentences):
        part = comparison[comparison["sentence"] == sentence].sort_values("rank")
        k = len(part)
        positions = np.arange(k)
        ax.barh(positions, part["p_before"], color="tab:grey", label="before")
        ax.barh(positions + k + 1, part["p_after"], color="tab:blue", label="after")
        ax.set_yticks(list(positions) + list(positions + k + 1))
        ax.set_yticklabels(list(part["before"]) + list(part["after"]))
        ax.invert_yaxis()
        ax.set_title(sentence if len(sentence) < 60 else sentence[:57] + "...", fontsize=9)
        ax.set_xlabel("probability")
    for ax in axes.ravel()[len(sentences):]:
        ax.axis("off")
    axes.ravel()[0].legend(loc="lower right")
    figure.tight_layout()
    return figure
