"""Build the bundled offline assets from ``data/news``: two tokenizers and a small BERT masked LM.

Run by maintainers with ``make assets`` (``python -m mlm_tutorial.assets build --out data``);
learners get the committed results and never rebuild them by surprise. Everything is seeded, so
the same corpus gives the same tokenizers and weights. The model card written next to the weights
holds the measured quality; ``tests/test_assets.py`` reproduces it. Notebook 00 introduces the assets.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlm_tutorial.resources import LABELS

BERT_SPECIALS = ["[PAD]", *[f"[unused{i}]" for i in range(99)], "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
BUSINESS = 1
EVAL_SEED = 1234


@dataclass(frozen=True)
class ModelRecipe:
    """Size and training budget of the bundled model (the defaults are what ``make assets`` builds)."""

    vocab_size: int = 6000
    roberta_vocab_size: int = 4000
    hidden_size: int = 192
    layers: int = 4
    heads: int = 4
    intermediate_size: int = 768
    max_positions: int = 256
    chunk_size: int = 128
    batch_size: int = 32
    steps: int = 500
    learning_rate: float = 1e-3
    warmup_steps: int = 50
    seed: int = 42
    dropout: float = 0.1


def _corpus(folder: Path) -> tuple[Any, Any]:
    import pandas as pd

    return pd.read_csv(folder / "train.csv"), pd.read_csv(folder / "test.csv")


def train_wordpiece(texts: list[str], vocab_size: int, out: Path) -> Any:
    """An uncased WordPiece tokenizer laid out like ``bert-base-uncased`` (``[CLS]`` = 101)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, clean_text=True, handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=BERT_SPECIALS, min_frequency=2)
    tok.train_from_iterator(texts, trainer=trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    fast = BertTokenizerFast(tokenizer_object=tok, do_lower_case=True, model_max_length=256,
                             unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]")
    fast.save_pretrained(str(out))
    return fast


def train_byte_bpe(texts: list[str], vocab_size: int, out: Path) -> Any:
    """A byte-level BPE tokenizer laid out like RoBERTa's (``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<mask>`` last)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import RobertaTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 1, special_tokens=ROBERTA_SPECIALS, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    tok.add_special_tokens(["<mask>"])
    tok.post_processor = processors.RobertaProcessing(sep=("</s>", 2), cls=("<s>", 0), trim_offsets=True,
                                                      add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = RobertaTokenizerFast(tokenizer_object=tok, model_max_length=256, bos_token="<s>", eos_token="</s>",
                                sep_token="</s>", cls_token="<s>", unk_token="<unk>", pad_token="<pad>",
                                mask_token="<mask>", add_prefix_space=False)
    fast.save_pretrained(str(out))
    return fast


def _schedule(recipe: ModelRecipe) -> Any:
    import tensorflow as tf

    class WarmupLinear(tf.keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step: Any) -> Any:
            step = tf.cast(step, tf.float32)
            warm = step / max(recipe.warmup_steps, 1)
            decay = (recipe.steps - step) / max(recipe.steps - recipe.warmup_steps, 1)
            return recipe.learning_rate * tf.maximum(0.0, tf.minimum(warm, decay))

    return WarmupLinear()


def train_model(train_rows: np.ndarray, tokenizer: Any, recipe: ModelRecipe, log: bool = True,
                on_report: Any = None) -> Any:
    """Pretrain a small BERT masked LM from scratch on ``train_rows`` with fresh BERT masks each step.

    ``on_report(step, model)``, if given, is called with each progress report (every 50 steps).
    """
    import tensorflow as tf
    import tf_keras
    from transformers import BertConfig, TFBertForMaskedLM

    from mlm_tutorial.masking import mask_tokens

    tf.keras.utils.set_random_seed(recipe.seed)
    tf.config.experimental.enable_op_determinism()
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=recipe.hidden_size, num_hidden_layers=recipe.layers,
        num_attention_heads=recipe.heads, intermediate_size=recipe.intermediate_size,
        max_position_embeddings=recipe.max_positions, pad_token_id=tokenizer.pad_token_id,
        hidden_dropout_prob=recipe.dropout, attention_probs_dropout_prob=recipe.dropout,
    )
    model = TFBertForMaskedLM(config)
    model(model.dummy_inputs)
    optimizer = tf_keras.optimizers.AdamW(learning_rate=_schedule(recipe), weight_decay=0.01,
                                          clipnorm=1.0)
    optimizer.exclude_from_weight_decay(var_names=["LayerNorm", "layer_norm", "bias"])
    data = (
        tf.data.Dataset.from_tensor_slices(train_rows)
        .repeat()
        .shuffle(len(train_rows), seed=recipe.seed)
        .batch(recipe.batch_size, drop_remainder=True)
        .enumerate()
        .map(lambda i, rows: mask_tokens(rows, tokenizer, seed=tf.stack([i, tf.constant(recipe.seed, tf.int64)])))
    )

    @tf.function
    def step(ids: Any, labels: Any) -> Any:
        with tf.GradientTape() as tape:
            # The prediction head runs only where a token was chosen (15%): most of the work saved.
            hidden = model.bert(input_ids=ids, training=True)[0]
            where = labels != -100
            chosen = tf.boolean_mask(hidden, where)[tf.newaxis]
            logits = model.mlm(chosen, training=True)[0]
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.boolean_mask(labels, where), logits=logits))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    start = time.perf_counter()
    running = []
    for number, (ids, labels) in enumerate(data.take(recipe.steps), 1):
        running.append(float(step(ids, labels)))
        if log and (number % 50 == 0 or number == recipe.steps):
            print(f"step {number}/{recipe.steps}  loss {np.mean(running[-50:]):.3f}  "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
        if on_report is not None and number % 50 == 0:
            on_report(number, model)
    return model


def evaluate(model: Any, tokenizer: Any, train_rows: np.ndarray, test_rows: np.ndarray) -> dict[str, Any]:
    """Model and unigram-baseline scores on fixed (seeded, 15%, all-[MASK]) masks of ``test_rows``."""
    from mlm_tutorial.evaluation import fixed_masks, masked_lm_score, unigram_baseline

    masked, labels = fixed_masks(test_rows, tokenizer, seed=EVAL_SEED)
    score = masked_lm_score(model, masked, labels)
    baseline = unigram_baseline(train_rows, labels, tokenizer)
    return {"model": score.as_dict(), "unigram_baseline": baseline.as_dict(),
            "accuracy_ratio": score.accuracy / baseline.accuracy if baseline.accuracy else float("inf")}


def non_business_rows(folder: Path, tokenizer: Any, chunk_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out chunks from the four non-business categories."""
    from mlm_tutorial.chunking import chunk_texts

    train, test = _corpus(folder)
    keep = lambda frame: frame.loc[frame["label"] != BUSINESS, "text"].tolist()  # noqa: E731
    return chunk_texts(keep(train), tokenizer, chunk_size), chunk_texts(keep(test), tokenizer, chunk_size)


def write_card(folder: Path, recipe: ModelRecipe, results: dict[str, Any], train_rows: np.ndarray,
               seconds: float) -> None:
    """Write the model card (README.md) and its numbers (evaluation.json) next to the weights."""
    sizes = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    model, base = results["model"], results["unigram_baseline"]
    categories = ", ".join(v for k, v in LABELS.items() if k != BUSINESS)
    record = {"recipe": recipe.__dict__, "train_chunks": int(len(train_rows)),
              "train_tokens_seen": int(recipe.steps * recipe.batch_size * recipe.chunk_size),
              "evaluation_seed": EVAL_SEED, **results}
    (folder / "evaluation.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    card = f"""# bert-mini-news: a small BERT masked language model for offline lessons

A {recipe.layers}-layer BERT (hidden size {recipe.hidden_size}, {recipe.heads} heads, feed-forward {recipe.intermediate_size},
vocabulary {results["vocab_size"]:,}, {results["parameters"]:,} parameters) pretrained from scratch with masked language
modeling by this project's `make assets` (`python -m mlm_tutorial.assets build`). It stands in for
`distilbert-base-uncased` when the Hugging Face Hub cannot be reached, so that the notebooks still show a
model that has learned something.

- **Training data**: the {categories} articles of `data/news/train.csv` (business is left out, so that
  fine-tuning on business news in notebook 04 is a real domain adaptation): {len(train_rows)} chunks of
  {recipe.chunk_size} tokens.
- **Training**: {recipe.steps} steps, batch {recipe.batch_size}, fresh BERT masks (15%; 80/10/10) every step,
  AdamW, peak learning rate {recipe.learning_rate:g}, {recipe.warmup_steps} warm-up steps then linear decay,
  seed {recipe.seed}; {seconds / 60:.1f} minutes on 2 CPU cores.
- **Tokenizer**: uncased WordPiece trained on the whole corpus, laid out like `bert-base-uncased`
  (`[PAD]`=0, `[unused0..98]`, `[UNK]`=100, `[CLS]`=101, `[SEP]`=102, `[MASK]`=103).
- **Files**: `tf_model.h5` (TensorFlow weights), `config.json`, tokenizer files; {sizes / 2**20:.1f} MiB in all.

## Measured quality

On the held-out {categories} articles of `data/news/test.csv`: {model["masked_tokens"]} tokens masked once
(15%, all replaced by `[MASK]`, seed {EVAL_SEED}).

| | top-1 accuracy | perplexity |
|---|---|---|
| this model | {model["accuracy"]:.3f} | {model["perplexity"]:.1f} |
| unigram baseline (always the most frequent token; smoothed unigram probabilities) | {base["accuracy"]:.3f} | {base["perplexity"]:.1f} |

The model is right {results["accuracy_ratio"]:.1f} times as often as the baseline. It is small and has seen
little text: expect sensible function words and common news words, not world knowledge.
The numbers are reproduced by `tests/test_assets.py`.

Licence: CC BY 4.0, like the corpus it was trained on.
"""
    (folder / "README.md").write_text(card)


def build(corpus: Path, out: Path, recipe: ModelRecipe = ModelRecipe(), log: bool = True) -> dict[str, Any]:
    """Rebuild ``tokenizers/`` and ``models/bert-mini-news`` under ``out`` from the corpus folder.

    Each folder is written to a temporary sibling first and renamed into place when complete.
    """
    from mlm_tutorial.setup import prepare_environment, silence_libraries

    prepare_environment()
    silence_libraries()
    if not (corpus / "train.csv").is_file():
        raise FileNotFoundError(f"corpus folder {corpus} has no train.csv.")
    train, _ = _corpus(corpus)
    texts = train["text"].astype(str).tolist()
    started = time.perf_counter()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=out if out.exists() else None) as scratch:
        scratch_path = Path(scratch)
        bert_tok = train_wordpiece(texts, recipe.vocab_size, scratch_path / "bert-wordpiece-news")
        train_byte_bpe(texts, recipe.roberta_vocab_size, scratch_path / "roberta-bpe-news")
        train_rows, test_rows = non_business_rows(corpus, bert_tok, recipe.chunk_size)
        if log:
            print(f"tokenizers ready; {len(train_rows)} training chunks, {len(test_rows)} test chunks", flush=True)
        model = train_model(train_rows, bert_tok, recipe, log=log)
        seconds = time.perf_counter() - started
        model_dir = scratch_path / "bert-mini-news"
        model.save_pretrained(str(model_dir))
        bert_tok.save_pretrained(str(model_dir))
        results = evaluate(model, bert_tok, train_rows, test_rows)
        results["vocab_size"] = len(bert_tok)
        results["parameters"] = int(model.count_params())
        write_card(model_dir, recipe, results, train_rows, seconds)
        for sub, name in (("tokenizers", "bert-wordpiece-news"), ("tokenizers", "roberta-bpe-news"),
                          ("models", "bert-mini-news")):
            target = out / sub / name
            target.parent.mkdir(parents=True, exist_ok=True)
            staged = target.with_name(target.name + ".new")
            shutil.rmtree(staged, ignore_errors=True)
            shutil.copytree(scratch_path / name, staged)
            if target.exists():
                shutil.rmtree(target)
            os.replace(staged, target)
    if log:
        print(f"done in {time.perf_counter() - started:.0f} s: accuracy {results['model']['accuracy']:.3f} "
              f"vs baseline {results['unigram_baseline']['accuracy']:.3f}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlm_tutorial.assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="rebuild tokenizers and model")
    b.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: data/news)")
    b.add_argument("--out", type=Path, required=True, help="folder that receives tokenizers/ and models/")
    b.add_argument("--steps", type=int, default=ModelRecipe.steps, help="training steps")
    args = parser.parse_args(argv)
    from mlm_tutorial.resources import bundled_corpus_dir

    corpus = args.corpus or bundled_corpus_dir()
    build(corpus, args.out, ModelRecipe(steps=args.steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
