"""The bundled offline assets: layout, size, the model cards' numbers, and the build itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlm_tutorial import assets
from mlm_tutorial.resources import (
    bundled_corpus_dir,
    bundled_model_dir,
    bundled_tokenizer_dir,
    load_mlm_model,
    load_news_corpus,
    load_tokenizer,
)
from mlm_tutorial.paths import data_dir, display_path

FAMILIES = ("bert", "roberta")


def test_auto_resolves_to_the_bundled_assets_offline(tf_ready: None, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = load_news_corpus("auto")
    tokenizer = load_tokenizer("auto")
    model = load_mlm_model("auto")
    out = capsys.readouterr().out
    assert f"news corpus: local folder {display_path(bundled_corpus_dir())} (" in out
    assert f"model: local folder {display_path(bundled_model_dir())} (" in out
    assert set(corpus) == {"train", "test"}
    assert model.config.vocab_size == len(tokenizer)
    ids = tokenizer.convert_tokens_to_ids(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    assert ids == [0, 100, 101, 102, 103]
    assert tokenizer.convert_ids_to_tokens(list(range(1, 100))) == [f"[unused{i}]" for i in range(99)]


def test_roberta_layout(tf_ready: None) -> None:
    tokenizer = load_tokenizer("auto", family="roberta")
    assert tokenizer.convert_tokens_to_ids(["<s>", "<pad>", "</s>", "<unk>"]) == [0, 1, 2, 3]
    assert tokenizer.mask_token_id == len(tokenizer) - 1
    model = load_mlm_model("auto", family="roberta")
    assert model.config.model_type == "roberta" and model.config.vocab_size == len(tokenizer)


def test_corpus_shape() -> None:
    import pandas as pd

    frames = [pd.read_csv(bundled_corpus_dir() / f"{split}.csv") for split in ("train", "test")]
    both = pd.concat(frames)
    assert list(both.columns) == ["text", "label", "label_text"]
    assert len(both) >= 250 and both["label"].value_counts().min() >= 50
    assert not both["text"].duplicated().any()
    words = both["text"].str.split().str.len()
    assert (words.between(80, 250)).mean() > 0.9
    assert dict(zip(both["label"], both["label_text"])) == {
        0: "tech", 1: "business", 2: "sport", 3: "entertainment", 4: "politics"}


def test_model_files_are_small_and_safe() -> None:
    files = [p for sub in ("models", "tokenizers") for p in (data_dir() / sub).rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 20 * 2**20
    weights = [p for p in files if p.suffix in {".h5", ".safetensors", ".bin", ".pt", ".pkl", ".ckpt"}]
    assert weights and all(p.suffix in {".h5", ".safetensors"} for p in weights)


@pytest.mark.parametrize("family", FAMILIES)
def test_model_card_numbers_are_reproduced(tf_ready: None, family: str) -> None:
    folder = bundled_model_dir(family)
    card = json.loads((folder / "evaluation.json").read_text())
    again = assets.evaluate_saved(folder, bundled_corpus_dir())
    assert again["model"]["masked_tokens"] == card["model"]["masked_tokens"]
    assert again["model"]["accuracy"] == pytest.approx(card["model"]["accuracy"], abs=0.002)
    assert again["model"]["perplexity"] == pytest.approx(card["model"]["perplexity"], rel=0.01)
    assert again["unigram_baseline"]["accuracy"] == pytest.approx(card["unigram_baseline"]["accuracy"], abs=1e-9)
    text = (folder / "README.md").read_text()
    assert f"| this model | {card['model']['accuracy']:.3f} | {card['model']['perplexity']:.1f} |" in text


def test_bert_model_clearly_beats_the_unigram_baseline() -> None:
    card = json.loads((bundled_model_dir("bert") / "evaluation.json").read_text())
    assert card["model"]["accuracy"] >= 1.5 * card["unigram_baseline"]["accuracy"]
    assert card["model"]["perplexity"] < card["unigram_baseline"]["perplexity"]


def test_recipe_scaling_keeps_the_phases() -> None:
    recipe = assets.ModelRecipe()
    small = recipe.scaled(6)
    assert small.steps == 6 and [p[:2] for p in small.phases] == [p[:2] for p in recipe.phases]
    assert small.warmup_steps < small.steps
    with pytest.raises(ValueError, match="steps must be at least"):
        recipe.scaled(1)


def test_sinusoidal_table_is_bounded_and_distinct() -> None:
    import numpy as np

    table = assets.sinusoidal_table(64, 16, scale=0.02)
    assert table.shape == (64, 16) and np.abs(table).max() <= 0.02 * np.sqrt(2) + 1e-7
    assert len({row.tobytes() for row in table}) == 64


def test_build_at_a_tiny_budget_is_deterministic(tmp_path: Path, tf_ready: None) -> None:
    first = assets.build(bundled_corpus_dir(), tmp_path / "one", steps=3, log=False)
    second = assets.build(bundled_corpus_dir(), tmp_path / "two", steps=3, log=False)
    assert first == second
    for family, name in (("bert", "bert-wordpiece-news"), ("roberta", "roberta-bpe-news")):
        # Tokenizer training is deterministic: the build reproduces the committed tokenizers.
        built = json.loads((tmp_path / "one" / "tokenizers" / name / "tokenizer.json").read_text())
        committed = json.loads((bundled_tokenizer_dir(family) / "tokenizer.json").read_text())
        assert built["model"]["vocab"] == committed["model"]["vocab"]
        model_dir = tmp_path / "one" / "models" / f"{family}-mini-news"
        assert {"tf_model.h5", "config.json", "README.md", "evaluation.json"} <= {p.name for p in model_dir.iterdir()}
        other = tmp_path / "two" / "models" / f"{family}-mini-news"
        assert all((a == b).all() for a, b in zip(_weights(model_dir), _weights(other)))
    assert not list((tmp_path / "one").rglob("*.incoming")) and not list((tmp_path / "one").rglob("*.old"))


def test_build_refuses_a_folder_without_csv(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="needs train.csv and test.csv"):
        assets.build(tmp_path, tmp_path / "out", steps=2, log=False)


def _weights(folder: Path) -> Any:
    from transformers import TFAutoModelForMaskedLM

    return [w.numpy() for w in TFAutoModelForMaskedLM.from_pretrained(str(folder)).weights]
