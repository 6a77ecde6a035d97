"""The bundled offline assets: layout, size, the model cards' numbers, and the build itself."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
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
    card = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    again = assets.evaluate_saved(folder, bundled_corpus_dir())
    assert again["model"]["masked_tokens"] == card["model"]["masked_tokens"]
    assert again["model"]["accuracy"] == pytest.approx(card["model"]["accuracy"], abs=0.002)
    assert again["model"]["perplexity"] == pytest.approx(card["model"]["perplexity"], rel=0.01)
    assert again["unigram_baseline"]["accuracy"] == pytest.approx(card["unigram_baseline"]["accuracy"], abs=1e-9)
    text = (folder / "README.md").read_text(encoding="utf-8")
    assert f"| this model | {card['model']['accuracy']:.3f} | {card['model']['perplexity']:.1f} |" in text


def test_bert_model_clearly_beats_the_unigram_baseline() -> None:
    card = json.loads((bundled_model_dir("bert") / "evaluation.json").read_text(encoding="utf-8"))
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
        built = json.loads((tmp_path / "one" / "tokenizers" / name / "tokenizer.json").read_text(encoding="utf-8"))
        committed = json.loads((bundled_tokenizer_dir(family) / "tokenizer.json").read_text(encoding="utf-8"))
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


# --------------------------------------------------------------------------- word pieces, positions, recipe, card, masks per step


def test_learn_wordpieces_merges_by_count_then_alphabetically_down_to_min_frequency():
    # "ab" x2, "cd" x2, "ce" x1: pairs (a,##b)=2, (c,##d)=2, (c,##e)=1. Alphabet: ##b ##d ##e a c.
    # Ties go to the alphabetically first pair: ab, then cd; (c,##e) is seen once, below min_frequency 2.
    vocab = assets.learn_wordpieces(Counter({"cd": 2, "ab": 2, "ce": 1}), 100, ["[PAD]"], min_frequency=2)
    assert vocab == ["[PAD]", "##b", "##d", "##e", "a", "c", "ab", "cd"]
    # a merge inside a word keeps one leading "##": "xyz" x3 -> (##y,##z) and (x,##y) tie at 3, and "##y" sorts
    # before "x", so "##yz" comes first, then (x,##yz) -> "xyz"
    assert assets.learn_wordpieces(Counter({"xyz": 3}), 100, []) == ["##y", "##z", "x", "##yz", "xyz"]
    assert assets.learn_wordpieces(Counter({"ab": 2, "cd": 2}), 5, ["[PAD]"]) == ["[PAD]", "##b", "##d", "a", "c"]


def test_sinusoidal_table_follows_the_transformer_formula():
    # PE(p, 2i) = sin(p / 10000**(2i/d)), PE(p, 2i+1) = cos(...), times scale * sqrt(2)
    scale, width = 0.02, 8
    table = assets.sinusoidal_table(5, width, scale)
    amplitude = scale * math.sqrt(2)
    assert table[0].tolist() == pytest.approx([0.0, amplitude] * 4)
    for p in range(5):
        for i in range(width // 2):
            angle = p / 10000 ** (2 * i / width)
            assert table[p, 2 * i] == pytest.approx(amplitude * math.sin(angle), abs=1e-7)
            assert table[p, 2 * i + 1] == pytest.approx(amplitude * math.cos(angle), abs=1e-7)
    # the root mean square over many positions is about scale, like BERT's initial weights (std 0.02)
    assert np.sqrt(np.mean(assets.sinusoidal_table(2000, 2, scale) ** 2)) == pytest.approx(scale, rel=0.02)


def test_recipe_scaling_shares_steps_in_proportion():
    # default phases 1400 + 400 steps: 6 steps -> 4.67 and 1.33 -> 5 and 1; 9 steps -> 7 and 2
    assert [p[2] for p in assets.ModelRecipe().scaled(6).phases] == [5, 1]
    assert [p[2] for p in assets.ModelRecipe().scaled(9).phases] == [7, 2]


def test_evaluate_reports_the_accuracy_ratio_model_over_baseline(monkeypatch):
    import mlm_tutorial.evaluation as E

    def score(accuracy):
        return SimpleNamespace(accuracy=accuracy, as_dict=lambda: {"accuracy": accuracy})

    monkeypatch.setattr(E, "fixed_masks", lambda rows, tokenizer, seed: (rows, rows))
    monkeypatch.setattr(E, "masked_lm_score", lambda model, masked, labels: score(0.3))
    monkeypatch.setattr(E, "unigram_baseline", lambda train, labels, tokenizer: score(0.12))
    got = assets.evaluate(None, None, np.zeros((2, 4)), np.zeros((2, 4)))
    assert got["accuracy_ratio"] == pytest.approx(2.5)


def test_write_card_counts_tokens_seen_and_names_the_evaluation_chunk_size(tmp_path: Path):
    (tmp_path / "tf_model.h5").write_bytes(b"x" * 1024)
    recipe = assets.ModelRecipe()  # phases (32, 128, 1400), (128, 32, 400)
    results = {"model": {"masked_tokens": 1234, "accuracy": 0.3, "perplexity": 80.0, "loss": 4.38},
               "unigram_baseline": {"accuracy": 0.1, "perplexity": 500.0}, "accuracy_ratio": 3.0,
               "vocab_size": 3000, "parameters": 1_000_000}
    assets.write_card(tmp_path, "bert", recipe, results, ["a", "b"], seconds=120.0)
    record = json.loads((tmp_path / "evaluation.json").read_text(encoding="utf-8"))
    # 32 * 128 * 1400 + 128 * 32 * 400 = 5_734_400 + 1_638_400
    assert record["train_tokens_seen"] == 7_372_800
    assert record["evaluation_chunk_size"] == 128 and record["evaluation_seed"] == 1234
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "(7,372,800 tokens seen)" in card and "cut into chunks of 128 tokens" in card
    assert "| this model | 0.300 | 80.0 |" in card and "right 3.00 times as often" in card


def test_train_model_draws_fresh_masks_at_every_step_across_phases(monkeypatch, tf_ready, bert_tokenizer):
    # mask_tokens is seeded with (global step, recipe seed): steps 0, 1 in the first phase, 2, 3 in the second
    import tensorflow as tf

    import mlm_tutorial.masking as masking

    real, seeds = masking.mask_tokens, []

    def spy(ids, tokenizer, *args, seed=None, **kwargs):
        note = tf.py_function(lambda s: seeds.append(tuple(int(v) for v in s.numpy())) or 0, [seed], tf.int32)
        with tf.control_dependencies([note]):
            return real(tf.identity(ids), tokenizer, *args, seed=seed, **kwargs)

    monkeypatch.setattr(masking, "mask_tokens", spy)
    train_texts, _ = assets.non_business_texts(bundled_corpus_dir())
    recipe = assets.ModelRecipe(hidden_size=16, layers=1, heads=1, intermediate_size=16, seed=5,
                                phases=((16, 4, 2), (32, 4, 2)), warmup_steps=1)
    assets.train_model(train_texts[:20], bert_tokenizer, recipe, log=False)
    assert sorted(set(seeds))[:4] == [(0, 5), (1, 5), (2, 5), (3, 5)]
