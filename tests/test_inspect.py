"""Tests for mlm_tutorial.inspect (notebook 02), with both bundled tokenizer families."""

from __future__ import annotations

import numpy as np
import pytest

from mlm_tutorial.inspect import (
    ROLES,
    BatchLayout,
    batch_layout,
    check_batch_layout,
    compare_special_tokens,
    plot_attention_mask,
    special_positions,
    special_tokens_table,
    token_table,
)
from mlm_tutorial.tokenizing import tokenize_to_tf

HEADLINES = [
    "bank lifts profit forecast",
    "retail sales fall for a second month as shoppers cut back on spending",
    "oil slips",
]


@pytest.fixture()
def batch(tokenizer):
    return tokenize_to_tf(HEADLINES, tokenizer, max_length=12)


# --------------------------------------------------------------------------- special_positions


def test_special_positions_flags_exactly_the_special_ids(tokenizer, batch):
    ids = batch["input_ids"].numpy()
    flags = special_positions(batch["input_ids"], tokenizer)
    assert flags.shape == ids.shape and flags.dtype == bool
    assert flags[:, 0].all()  # classifier token
    assert flags[ids == tokenizer.pad_token_id].all()
    assert flags[ids == tokenizer.sep_token_id].all()
    assert not flags[~np.isin(ids, tokenizer.all_special_ids)].any()


def test_special_positions_agrees_with_the_tokenizer_mask(tokenizer):
    encoded = tokenize_to_tf(HEADLINES, tokenizer, max_length=12, return_special_tokens_mask=True)
    np.testing.assert_array_equal(
        special_positions(encoded["input_ids"], tokenizer), encoded["special_tokens_mask"].numpy().astype(bool)
    )


def test_special_positions_accepts_lists_and_rejects_text(tokenizer):
    ids = tokenizer("oil slips")["input_ids"]
    assert special_positions(ids, tokenizer).tolist() == [True] + [False] * (len(ids) - 2) + [True]
    with pytest.raises(TypeError, match="integer ids"):
        special_positions(["[CLS]", "oil"], tokenizer)
    with pytest.raises(TypeError, match="load_tokenizer"):
        special_positions(ids, object())


# --------------------------------------------------------------------------- token_table


def test_token_table_of_a_padded_row(tokenizer, batch):
    table = token_table(batch, tokenizer, row=2)
    expected_columns = ["position", "token", "id", "attention"]
    if "token_type_ids" in tokenizer.model_input_names:
        expected_columns.append("token_type")
    assert list(table.columns) == expected_columns + ["special"]
    assert len(table) == 12
    assert table["position"].tolist() == list(range(12))
    ids = batch["input_ids"].numpy()[2]
    assert table["id"].tolist() == ids.tolist()
    assert table["token"].tolist() == tokenizer.convert_ids_to_tokens(ids.tolist())
    assert table.at[0, "token"] == tokenizer.cls_token
    padding = table["id"] == tokenizer.pad_token_id
    assert padding.any()
    assert (table.loc[padding, "attention"] == 0).all() and (table.loc[~padding, "attention"] == 1).all()
    last_text = int((~padding).sum()) - 1
    assert table.at[last_text, "token"] == tokenizer.sep_token
    assert table["special"].tolist() == np.isin(ids, tokenizer.all_special_ids).tolist()
    assert table.at[0, "special"] and table.at[last_text, "special"] and not table.at[1, "special"]


def test_token_table_of_a_sentence_pair_shows_segments(both_tokenizers):
    bert = both_tokenizers["BERT"]
    table = token_table(bert("oil slips", "bank lifts profit forecast"), bert)
    seps = table.index[table["id"] == bert.sep_token_id].tolist()
    assert len(seps) == 2
    assert (table.loc[: seps[0], "token_type"] == 0).all()
    assert (table.loc[seps[0] + 1 :, "token_type"] == 1).all()
    roberta = both_tokenizers["RoBERTa"]
    table = token_table(roberta("oil slips", "bank lifts profit forecast"), roberta)
    assert "token_type" not in table.columns
    assert (table["id"] == roberta.sep_token_id).sum() == 3  # <s> a </s></s> b </s>


def test_token_table_validates_row_and_encoding(tokenizer, batch):
    with pytest.raises(ValueError, match="row 3"):
        token_table(batch, tokenizer, row=3)
    with pytest.raises(TypeError, match="row"):
        token_table(batch, tokenizer, row="0")
    with pytest.raises(TypeError, match="encoding"):
        token_table([1, 2, 3], tokenizer)
    with pytest.raises(ValueError, match="input_ids"):
        token_table({"attention_mask": [[1, 1]]}, tokenizer)
    assert token_table(batch, tokenizer, row=-1)["id"].tolist() == batch["input_ids"].numpy()[-1].tolist()


# --------------------------------------------------------------------------- batch_layout


def test_batch_layout_facts_hold_for_a_real_batch(tokenizer, batch):
    layout = check_batch_layout(batch, tokenizer)
    assert isinstance(layout, BatchLayout) and layout.ok
    assert layout.starts_with_cls and layout.ends_with_sep and layout.padding_fills_rest and layout.mask_matches_padding
    assert (layout.rows, layout.length) == (3, 12)
    mask = batch["attention_mask"].numpy()
    assert layout.text_lengths.tolist() == mask.sum(axis=1).tolist()
    assert layout.padding_tokens == int((mask == 0).sum())
    assert layout.padding_share == pytest.approx((mask == 0).mean())
    assert "yes" in str(layout) and "NO" not in str(layout)


def test_batch_layout_holds_for_truncated_rows(tokenizer):
    layout = batch_layout(tokenize_to_tf(HEADLINES, tokenizer, max_length=5), tokenizer)
    assert layout.ok and layout.padding_tokens < 15


def test_batch_layout_refuses_a_mask_of_another_shape(tokenizer, batch):
    mismatched = {"input_ids": batch["input_ids"].numpy(), "attention_mask": batch["attention_mask"].numpy()[:1]}
    with pytest.raises(ValueError, match=r"attention_mask has shape \(1, 12\) but input_ids has \(3, 12\)"):
        batch_layout(mismatched, tokenizer)


def test_batch_layout_finds_a_wrong_mask(tokenizer, batch):
    broken = {"input_ids": batch["input_ids"].numpy(), "attention_mask": np.ones((3, 12), dtype=np.int32)}
    layout = batch_layout(broken, tokenizer)
    assert not layout.ok and not layout.mask_matches_padding
    assert layout.starts_with_cls and layout.ends_with_sep
    with pytest.raises(ValueError, match="attention_mask"):
        check_batch_layout(broken, tokenizer)


def test_batch_layout_checks_cls_and_sep_in_a_row_with_padding_inside(tokenizer, batch):
    ids = batch["input_ids"].numpy().copy()
    mask = batch["attention_mask"].numpy().copy()
    lengths = mask.sum(axis=1)
    row = int(np.flatnonzero((lengths >= 4) & (lengths < mask.shape[1]))[0])  # [CLS] 2+ tokens [SEP], then padding
    ids[row, 2], mask[row, 2] = tokenizer.pad_token_id, 0            # padding inside its text as well
    layout = batch_layout({"input_ids": ids, "attention_mask": mask}, tokenizer)
    assert not layout.padding_fills_rest and layout.mask_matches_padding
    assert layout.starts_with_cls and layout.ends_with_sep, "the row still starts with [CLS] and ends its text with [SEP]"
    ids[row, 0] = ids[row, 1]
    layout = batch_layout({"input_ids": ids, "attention_mask": mask}, tokenizer)
    assert not layout.starts_with_cls and any(f"row(s) [{row}]" in p and "classifier" in p for p in layout.problems)


def test_batch_layout_finds_a_missing_classifier_and_separator(tokenizer, batch):
    ids = batch["input_ids"].numpy().copy()
    mask = batch["attention_mask"].numpy()
    ordinary = int(tokenizer("oil", add_special_tokens=False)["input_ids"][0])
    ids[1, 0] = ordinary
    last = int(mask[0].sum()) - 1
    ids[0, last] = ordinary
    layout = batch_layout({"input_ids": ids, "attention_mask": mask}, tokenizer)
    assert not layout.starts_with_cls and not layout.ends_with_sep and layout.padding_fills_rest
    assert any("row(s) [1]" in p and "classifier" in p for p in layout.problems)
    assert any("row(s) [0]" in p and "separator" in p for p in layout.problems)


def test_batch_layout_finds_padding_inside_the_text(tokenizer, batch):
    ids = batch["input_ids"].numpy().copy()
    ids[1, 2] = tokenizer.pad_token_id
    layout = batch_layout({"input_ids": ids, "attention_mask": batch["attention_mask"].numpy()}, tokenizer)
    assert not layout.padding_fills_rest and not layout.ok
    assert any("padding inside" in p for p in layout.problems)


def test_batch_layout_without_attention_mask_is_not_ok(tokenizer, batch):
    layout = batch_layout({"input_ids": batch["input_ids"]}, tokenizer)
    assert not layout.ok and not layout.mask_matches_padding


def test_batch_layout_follows_left_padding(tokenizer):
    tokenizer.padding_side = "left"
    try:
        encoded = tokenizer(HEADLINES, padding="max_length", max_length=12, truncation=True)
        assert encoded["input_ids"][0][0] == tokenizer.pad_token_id
        assert batch_layout(encoded, tokenizer).ok
    finally:
        tokenizer.padding_side = "right"


# --------------------------------------------------------------------------- special-token tables


def test_special_tokens_table_reads_ids_from_the_tokenizer(tokenizer):
    table = special_tokens_table(tokenizer)
    assert list(table.columns) == ["role", "attribute", "token", "id"]
    assert set(table["role"]) <= set(ROLES)
    for _, row in table.iterrows():
        assert row["id"] == getattr(tokenizer, f"{row['role']}_token_id")
        assert row["token"] == getattr(tokenizer, f"{row['role']}_token")
    assert {"cls", "sep", "pad", "mask"} <= set(table["role"])
    assert set(table["id"]) <= set(tokenizer.all_special_ids)
    # every role the tokenizer fills is listed, the unknown token's too
    filled = {role for role in ("cls", "sep", "pad", "mask", "unk", "bos", "eos")
              if getattr(tokenizer, f"{role}_token", None) is not None}
    assert set(table["role"]) == filled and "unk" in filled


def test_the_two_families_differ_as_documented(both_tokenizers):
    bert = special_tokens_table(both_tokenizers["BERT"]).set_index("role")
    roberta = special_tokens_table(both_tokenizers["RoBERTa"]).set_index("role")
    assert bert.at["cls", "token"] == "[CLS]" and roberta.at["cls", "token"] == "<s>"
    assert "bos" not in bert.index and roberta.at["bos", "id"] == roberta.at["cls", "id"]
    assert roberta.at["mask", "token"] == "<mask>"


def test_compare_special_tokens_side_by_side(both_tokenizers):
    table = compare_special_tokens(both_tokenizers)
    assert list(table.columns) == ["BERT", "RoBERTa"]
    assert list(table.index) == [*ROLES, "vocabulary size", "token_type_ids"]
    bert, roberta = both_tokenizers["BERT"], both_tokenizers["RoBERTa"]
    assert table.at["cls", "BERT"] == f"{bert.cls_token} = {bert.cls_token_id}"
    assert table.at["pad", "RoBERTa"] == f"{roberta.pad_token} = {roberta.pad_token_id}"
    assert table.at["bos", "BERT"] == "-"
    assert table.at["vocabulary size", "RoBERTa"] == str(len(roberta))
    assert table.at["token_type_ids", "BERT"] == "yes" and table.at["token_type_ids", "RoBERTa"] == "no"


def test_compare_special_tokens_validates():
    with pytest.raises(TypeError, match="dict"):
        compare_special_tokens({})
    with pytest.raises(TypeError, match="dict"):
        compare_special_tokens(["not", "a", "dict"])
    with pytest.raises(TypeError, match="load_tokenizer"):
        compare_special_tokens({"x": "bert-base-uncased"})


# --------------------------------------------------------------------------- heatmap


def test_plot_attention_mask_draws_the_mask(batch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = plot_attention_mask(batch)
    image = ax.get_images()[0].get_array()
    np.testing.assert_array_equal(np.asarray(image), batch["attention_mask"].numpy())
    assert ax.get_xlabel() == "position"
    # the legend's swatches are the colours the image gives 1 and 0, and attended cells are the dark ones
    drawn_one, drawn_zero = ax.get_images()[0].to_rgba(np.array([[1, 0]]))[0]
    swatches = {text.get_text(): patch.get_facecolor()
                for text, patch in zip(ax.get_legend().get_texts(), ax.get_legend().get_patches())}
    assert set(swatches) == {"1: attend (text and special tokens)", "0: padding"}
    np.testing.assert_allclose(swatches["1: attend (text and special tokens)"], drawn_one)
    np.testing.assert_allclose(swatches["0: padding"], drawn_zero)
    assert sum(drawn_one[:3]) < 1.0 < 2.5 < sum(drawn_zero[:3])
    plt.close("all")
    with pytest.raises(ValueError, match="attention_mask"):
        plot_attention_mask({"input_ids": [[1, 2]]})


def test_plot_attention_mask_of_notebook_02s_batch_leaves_room_on_a_slide():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mlm_tutorial.notebook_tools import SLIDE_HEIGHT

    # notebook 02 draws 24 headlines at its max_length; its slide also holds a paragraph and the code cell
    ax = plot_attention_mask({"attention_mask": np.ones((24, 16), dtype=np.int64)})
    width, height = ax.figure.get_size_inches() * ax.figure.dpi
    plt.close("all")
    assert height <= SLIDE_HEIGHT - 250, height  # about 250 px for the paragraph and the code above it
    assert width <= 1200


def test_special_positions_flags_unknown_and_mask_tokens(bert_tokenizer, roberta_tokenizer):
    for tok in (bert_tokenizer, roberta_tokenizer):
        ids = [tok.cls_token_id, tok.unk_token_id, 500, tok.mask_token_id, tok.sep_token_id, tok.pad_token_id]
        assert special_positions(ids, tok).tolist() == [True, True, False, True, True, True]


def test_batch_layout_names_the_row_with_a_wrong_attention_mask(bert_tokenizer):
    batch = tokenize_to_tf(["bank lifts profit forecast", "retail sales fall for a second month", "oil slips"],
                           bert_tokenizer, max_length=12)
    attention = batch["attention_mask"].numpy().copy()
    attention[2, :] = 1  # row 2 attends to its padding
    layout = batch_layout({"input_ids": batch["input_ids"], "attention_mask": attention}, bert_tokenizer)
    assert not layout.mask_matches_padding
    assert any(p.startswith("row(s) [2] have an attention_mask") for p in layout.problems), layout.problems


def test_batch_layout_reports_a_row_of_padding_only(bert_tokenizer):
    batch = tokenize_to_tf(["bank lifts profit forecast", "oil slips"], bert_tokenizer, max_length=8)
    ids = batch["input_ids"].numpy().copy()
    attention = batch["attention_mask"].numpy().copy()
    ids[1, :] = bert_tokenizer.pad_token_id
    attention[1, :] = 0
    layout = batch_layout({"input_ids": ids, "attention_mask": attention}, bert_tokenizer)
    assert not layout.ok and layout.padding_fills_rest and layout.mask_matches_padding
    assert not layout.starts_with_cls and not layout.ends_with_sep
    assert layout.text_lengths.tolist() == [int(attention[0].sum()), 0]
