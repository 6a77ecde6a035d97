"""Special tokens, padding and attention masks made visible.

Introduced in notebook 02 (special tokens and padding). Every id comes from the tokenizer
(``cls_token_id``, ``sep_token_id``, ``pad_token_id``, ``all_special_ids``), so the helpers work
the same for BERT's WordPiece family (``[CLS]``, ``[SEP]``, ``[PAD]``) and RoBERTa's byte-level
BPE family (``<s>``, ``</s>``, ``<pad>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    import pandas as pd

#: The special-token roles a tokenizer may define, in the order the tables show them.
ROLES = ("cls", "sep", "pad", "mask", "unk", "bos", "eos")


def _check_tokenizer(tokenizer: Any) -> None:
    needed = ("all_special_ids", "convert_ids_to_tokens", "pad_token_id", "cls_token_id", "sep_token_id")
    if not all(hasattr(tokenizer, name) for name in needed):
        raise TypeError(
            f"tokenizer must be a transformers tokenizer, got {type(tokenizer).__name__}. "
            "Load one with mlm_tutorial.resources.load_tokenizer('auto')."
        )


def _to_numpy(values: Any, name: str) -> np.ndarray:
    """A tf.Tensor, NumPy array or (nested) list of ints as a NumPy integer array."""
    if hasattr(values, "numpy"):
        values = values.numpy()
    try:
        array = np.asarray(values)
    except ValueError:
        raise ValueError(f"{name} must be rectangular: pad the rows to one length first.") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.integer) or array.dtype == bool):
        raise TypeError(
            f"{name} must hold integer ids, got dtype {array.dtype}. Pass the tokenizer's output, "
            "e.g. tokenize_to_tf(texts, tokenizer)."
        )
    return array.astype(np.int64)


def _field(encoding: Any, key: str, required: bool = True) -> np.ndarray | None:
    if not isinstance(encoding, Mapping) and not hasattr(encoding, "keys"):
        raise TypeError(
            f"encoding must be the tokenizer's output (a BatchEncoding or dict), got {type(encoding).__name__}."
        )
    if key not in encoding:
        if required:
            raise ValueError(
                f"encoding has no {key!r}; it has {sorted(encoding.keys())}. Tokenize with the tokenizer's defaults."
            )
        return None
    return _to_numpy(encoding[key], key)


def _as_batch(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} must be one row or a batch of rows (1-D or 2-D, not empty), got shape {array.shape}.")
    return array


def special_positions(input_ids: Any, tokenizer: Any) -> np.ndarray:
    """Boolean array, True where ``input_ids`` holds one of ``tokenizer.all_special_ids``.

    The way code finds special tokens (padding included) without hard-coding ids. Unlike the
    tokenizer's ``special_tokens_mask``, it also flags an unknown-word token inside the text,
    because the unknown token is one of the special tokens. Introduced in notebook 02.
    """
    _check_tokenizer(tokenizer)
    ids = _to_numpy(input_ids, "input_ids")
    return np.isin(ids, np.array(tokenizer.all_special_ids, dtype=np.int64))


def token_table(encoding: Any, tokenizer: Any, row: int = 0) -> "pd.DataFrame":
    """One row of an encoding, position by position.

    Columns: ``position``, ``token``, ``id``, then, when the encoding has them, ``attention`` and
    ``token_type``; ``special`` says whether the id is one of the tokenizer's special ids.
    ``encoding`` is what the tokenizer returned, for a batch (2-D) or one text (1-D).
    Introduced in notebook 02.
    """
    import pandas as pd

    _check_tokenizer(tokenizer)
    ids = _as_batch(_field(encoding, "input_ids"), "input_ids")
    if isinstance(row, bool) or not isinstance(row, (int, np.integer)):
        raise TypeError(f"row must be an int, got {row!r}.")
    if not -ids.shape[0] <= row < ids.shape[0]:
        raise ValueError(f"row {row} does not exist: the batch has {ids.shape[0]} row(s), 0 to {ids.shape[0] - 1}.")
    attention = _field(encoding, "attention_mask", required=False)
    types = _field(encoding, "token_type_ids", required=False)
    picked = ids[row]
    columns: dict[str, Any] = {
        "position": np.arange(picked.size),
        "token": tokenizer.convert_ids_to_tokens(picked.tolist()),
        "id": picked,
    }
    if attention is not None:
        columns["attention"] = _as_batch(attention, "attention_mask")[row]
    if types is not None:
        columns["token_type"] = _as_batch(types, "token_type_ids")[row]
    columns["special"] = special_positions(picked, tokenizer)
    return pd.DataFrame(columns)


@dataclass
class BatchLayout:
    """The layout facts of a padded batch, found with the tokenizer's own ids (notebook 02).

    ``starts_with_cls``: every row's text begins with the classifier token.
    ``ends_with_sep``: every row's text ends with the separator token.
    ``padding_fills_rest``: padding sits only on ``tokenizer.padding_side``, after (or before) the text.
    ``mask_matches_padding``: ``attention_mask`` is 1 exactly where the id is not padding.
    ``problems`` names the first rows that break a fact; ``ok`` is True when there are none.
    """

    rows: int
    length: int
    text_lengths: np.ndarray
    padding_tokens: int
    starts_with_cls: bool
    ends_with_sep: bool
    padding_fills_rest: bool
    mask_matches_padding: bool
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def padding_share(self) -> float:
        return self.padding_tokens / (self.rows * self.length)

    def __str__(self) -> str:
        facts = [
            ("every row starts with the classifier token", self.starts_with_cls),
            ("every text ends with the separator token", self.ends_with_sep),
            ("padding fills the rest of each row", self.padding_fills_rest),
            ("attention_mask is 1 exactly where the id is not padding", self.mask_matches_padding),
        ]
        lines = [f"{self.rows} rows x {self.length} positions, {self.padding_tokens} of them padding "
                 f"({self.padding_share:.1%})"]
        lines += [f"  {'yes' if held else 'NO '}  {text}" for text, held in facts]
        lines += [f"  problem: {p}" for p in self.problems]
        return "\n".join(lines)


def _row_problems(ids: np.ndarray, real: np.ndarray, tokenizer: Any, side: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {"cls": [], "sep": [], "pad": []}
    for index, (row, keep) in enumerate(zip(ids, real)):
        count = int(keep.sum())
        expected = np.zeros_like(keep)
        if side == "left":
            expected[keep.size - count :] = True
        else:
            expected[:count] = True
        if not np.array_equal(keep, expected):
            found["pad"].append(index)
        text = row[keep]  # the non-padding ids in order, wherever the padding stands
        if count == 0 or text[0] != tokenizer.cls_token_id:
            found["cls"].append(index)
        if count == 0 or text[-1] != tokenizer.sep_token_id:
            found["sep"].append(index)
    return found


def batch_layout(encoding: Any, tokenizer: Any) -> BatchLayout:
    """Check a padded batch against the layout every BERT-style input follows and report the facts.

    Each row: the classifier token (``[CLS]``/``<s>``), the text, the separator token
    (``[SEP]``/``</s>``), then padding up to the row length, with ``attention_mask`` 1 exactly
    where the id is not padding. All ids come from the tokenizer. Used by :func:`check_batch_layout` (notebook 02).
    """
    _check_tokenizer(tokenizer)
    ids = _as_batch(_field(encoding, "input_ids"), "input_ids")
    attention = _field(encoding, "attention_mask", required=False)
    if tokenizer.pad_token_id is None or tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
        raise ValueError("the tokenizer lacks a classifier, separator or padding token, so this layout does not apply.")
    real = ids != tokenizer.pad_token_id
    side = getattr(tokenizer, "padding_side", "right")
    found = _row_problems(ids, real, tokenizer, side)
    problems = []
    names = {
        "cls": f"does not start with the classifier token {tokenizer.cls_token!r}",
        "sep": f"does not end its text with the separator token {tokenizer.sep_token!r}",
        "pad": f"has padding inside the text, not only on the {side}",
    }
    for key, rows in found.items():
        if rows:
            problems.append(f"row(s) {rows[:5]} {names[key]}")
    if attention is None:
        matches = False
        problems.append("the encoding has no attention_mask; tokenize with return_attention_mask=True")
    else:
        attention = _as_batch(attention, "attention_mask")
        if attention.shape != ids.shape:
            raise ValueError(f"attention_mask has shape {attention.shape} but input_ids has {ids.shape}.")
        wrong = np.flatnonzero((attention != real.astype(np.int64)).any(axis=1))
        matches = wrong.size == 0
        if not matches:
            problems.append(f"row(s) {wrong[:5].tolist()} have an attention_mask that differs from 'id is not padding'")
    return BatchLayout(
        rows=int(ids.shape[0]),
        length=int(ids.shape[1]),
        text_lengths=real.sum(axis=1),
        padding_tokens=int((~real).sum()),
        starts_with_cls=not found["cls"],
        ends_with_sep=not found["sep"],
        padding_fills_rest=not found["pad"],
        mask_matches_padding=matches,
        problems=problems,
    )


def check_batch_layout(encoding: Any, tokenizer: Any) -> BatchLayout:
    """:func:`batch_layout`, raising ``ValueError`` that lists the problems when a fact does not hold.

    Introduced in notebook 02; call it on batches you prepared yourself before training on them.
    """
    layout = batch_layout(encoding, tokenizer)
    if not layout.ok:
        raise ValueError("the batch breaks the expected layout: " + "; ".join(layout.problems))
    return layout


def special_tokens_table(tokenizer: Any) -> "pd.DataFrame":
    """The tokenizer's special tokens: one row per role it defines (``role``, ``attribute``, ``token``, ``id``).

    Roles are those of :data:`ROLES` (classifier, separator, padding, mask, unknown, begin and
    end of sequence); a role the tokenizer does not define is left out. Used by :func:`compare_special_tokens`
    (notebook 02).
    """
    import pandas as pd

    _check_tokenizer(tokenizer)
    records = []
    for role in ROLES:
        token = getattr(tokenizer, f"{role}_token", None)
        if token is None:
            continue
        records.append(
            {"role": role, "attribute": f"{role}_token_id", "token": str(token),
             "id": int(getattr(tokenizer, f"{role}_token_id"))}
        )
    return pd.DataFrame.from_records(records, columns=["role", "attribute", "token", "id"])


def compare_special_tokens(tokenizers: Mapping[str, Any]) -> "pd.DataFrame":
    """Special tokens of several tokenizers side by side, one column per tokenizer.

    Rows are the roles (``"[CLS] = 101"``-style cells, ``"-"`` where a tokenizer has no such
    token), then the vocabulary size and whether the tokenizer returns ``token_type_ids``.
    ``tokenizers`` maps a column name to a tokenizer. Introduced in notebook 02.
    """
    import pandas as pd

    if not isinstance(tokenizers, Mapping) or not tokenizers:
        raise TypeError(
            "tokenizers must be a non-empty dict {name: tokenizer}, got "
            f"{type(tokenizers).__name__}. E.g. {{'BERT': bert_tokenizer, 'RoBERTa': roberta_tokenizer}}."
        )
    columns = {}
    for name, tokenizer in tokenizers.items():
        _check_tokenizer(tokenizer)
        table = special_tokens_table(tokenizer).set_index("role")
        cells = {role: (f"{table.at[role, 'token']} = {table.at[role, 'id']}" if role in table.index else "-")
                 for role in ROLES}
        cells["vocabulary size"] = str(len(tokenizer))
        cells["token_type_ids"] = "yes" if "token_type_ids" in tokenizer.model_input_names else "no"
        columns[str(name)] = cells
    return pd.DataFrame(columns)


def plot_attention_mask(encoding: Any, ax: Any = None, title: str = "attention_mask") -> Any:
    """Draw a batch's ``attention_mask`` as a heatmap (rows x positions; dark = attended, light = padding).

    Returns the matplotlib ``Axes``. Introduced in notebook 02.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    mask = _as_batch(_field(encoding, "attention_mask"), "attention_mask")
    if ax is None:
        width = min(12.0, 2.0 + 0.25 * mask.shape[1])
        _, ax = plt.subplots(figsize=(width, 1.0 + 0.2 * mask.shape[0]))  # a slide holds 24 rows and the prose
    colors = ListedColormap(["#f2f2f2", "#1f4e79"])
    ax.imshow(mask, cmap=colors, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_xlabel("position")
    ax.set_ylabel("row")
    ax.set_title(title)
    ax.legend(
        handles=[
            Patch(color=colors(1), label="1: attend (text and special tokens)"),
            Patch(color=colors(0), label="0: padding"),
        ],
        loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
    )
    return ax
