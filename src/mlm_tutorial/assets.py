"""Build the bundled offline assets from ``data/news``: two tokenizers and two small masked LMs (BERT, RoBERTa).

Run by maintainers with ``make assets`` (``python -m mlm_tutorial.assets build --out data``);
learners get the committed results and never rebuild them by surprise. Everything is seeded, so
the same corpus gives the same tokenizers and weights. The model card written next to the weights
holds the measured quality; ``tests/test_assets.py`` reproduces it. Notebook 00 introduces the assets.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
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
    """Size and training budget of a bundled model (the defaults are what ``make assets`` builds).

    Training runs in phases of (chunk length, batch size, steps): short chunks first, where a small
    model learns from the neighbouring words quickly, then full-length chunks so that every position
    it will be used at has been trained (BERT's own pretraining did the same with 128 then 512).

    Part of `make assets`; no notebook calls it.
    """

    vocab_size: int = 3000
    hidden_size: int = 128
    layers: int = 2
    heads: int = 2
    intermediate_size: int = 512
    max_positions: int = 512
    phases: tuple[tuple[int, int, int], ...] = ((32, 128, 1400), (128, 32, 400))
    learning_rate: float = 2e-3
    warmup_steps: int = 100
    seed: int = 42
    dropout: float = 0.1
    sinusoidal_positions: bool = True

    @property
    def steps(self) -> int:
        return sum(steps for _, _, steps in self.phases)

    @property
    def chunk_size(self) -> int:
        """The chunk length of the last phase: the length the model is evaluated at."""
        return self.phases[-1][0]

    def scaled(self, steps: int) -> "ModelRecipe":
        """The same recipe with ``steps`` steps in all, shared among the phases in proportion."""
        if steps < len(self.phases):
            raise ValueError(f"steps must be at least {len(self.phases)} (one per phase), got {steps}.")
        total = self.steps
        counts = [max(1, round(steps * n / total)) for _, _, n in self.phases]
        counts[-1] = max(1, steps - sum(counts[:-1]))
        phases = tuple((length, batch, n) for (length, batch, _), n in zip(self.phases, counts))
        return replace(self, phases=phases, warmup_steps=min(self.warmup_steps, max(1, steps // 10)))


def _corpus(folder: Path) -> tuple[Any, Any]:
    import pandas as pd

    return pd.read_csv(folder / "train.csv"), pd.read_csv(folder / "test.csv")


def learn_wordpieces(words: Counter[str], vocab_size: int, specials: list[str], min_frequency: int = 2) -> list[str]:
    """Learn a WordPiece vocabulary by merging the most frequent adjacent pieces, deterministically.

    Words start as characters (``##`` marks a character inside a word); the most frequent adjacent
    pair is merged into a new piece until the vocabulary is full. Ties go to the alphabetically
    first pair, so the same word counts always give the same vocabulary (the ``tokenizers``
    trainers break ties in an order that changes from run to run).

    Part of `make assets`; no notebook calls it.
    """
    entries = [(list(word[:1]) + [f"##{c}" for c in word[1:]], count) for word, count in sorted(words.items())]
    alphabet = sorted({symbol for symbols, _ in entries for symbol in symbols})
    vocab = list(specials) + [s for s in alphabet if s not in specials]
    pair_counts: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], set[int]] = defaultdict(set)
    for index, (symbols, count) in enumerate(entries):
        for pair in zip(symbols, symbols[1:]):
            pair_counts[pair] += count
            where[pair].add(index)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        negative, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative:
            continue  # stale entry
        if -negative < min_frequency:
            break
        first, second = pair
        merged = first + (second[2:] if second.startswith("##") else second)
        vocab.append(merged)
        touched: set[tuple[str, str]] = set()
        for index in sorted(where.pop(pair, set())):
            symbols, count = entries[index]
            for old in zip(symbols, symbols[1:]):
                pair_counts[old] -= count
                touched.add(old)
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == first and symbols[i + 1] == second:
                    out.append(merged)
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            entries[index] = (out, count)
            for new in zip(out, out[1:]):
                pair_counts[new] += count
                where[new].add(index)
                touched.add(new)
        pair_counts.pop(pair, None)
        for key in touched:
            if pair_counts.get(key, 0) > 0:
                heapq.heappush(heap, (-pair_counts[key], key))
            else:
                pair_counts.pop(key, None)
    return vocab


def train_wordpiece(texts: list[str], vocab_size: int, out: Path) -> Any:
    """An uncased WordPiece tokenizer laid out like ``bert-base-uncased`` (``[CLS]`` = 101).

    Part of `make assets`; no notebook calls it.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    normalizer = normalizers.BertNormalizer(lowercase=True, clean_text=True, handle_chinese_chars=True)
    splitter = pre_tokenizers.BertPreTokenizer()
    words: Counter[str] = Counter()
    for text in texts:
        words.update(word for word, _ in splitter.pre_tokenize_str(normalizer.normalize_str(text)))
    vocab = {token: index for index, token in enumerate(learn_wordpieces(words, vocab_size, BERT_SPECIALS))}
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizer
    tok.pre_tokenizer = splitter
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    fast = BertTokenizerFast(tokenizer_object=tok, do_lower_case=True, model_max_length=512,
                             unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]")
    fast.save_pretrained(str(out))
    return fast


def train_byte_bpe(texts: list[str], vocab_size: int, out: Path) -> Any:
    """A byte-level BPE tokenizer laid out like RoBERTa's (``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<mask>`` last).

    Part of `make assets`; no notebook calls it.
    """
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
    fast = RobertaTokenizerFast(tokenizer_object=tok, model_max_length=512, bos_token="<s>", eos_token="</s>",
                                sep_token="</s>", cls_token="<s>", unk_token="<unk>", pad_token="<pad>",
                                mask_token="<mask>", add_prefix_space=False)
    fast.save_pretrained(str(out))
    return fast


def _schedule(recipe: ModelRecipe) -> Any:
    from mlm_tutorial.training import make_schedule

    return make_schedule(recipe.learning_rate, recipe.steps, recipe.warmup_steps)


def sinusoidal_table(positions: int, width: int, scale: float) -> np.ndarray:
    """Sine/cosine position codes (as in the original Transformer), scaled like BERT's initial weights.

    Starting the learned position embeddings from these instead of from noise gives attention a
    usable notion of "the next word" at step 0, which matters when there is little data.

    Part of `make assets`; no notebook calls it.
    """
    # Column pair k turns by 10000^(-2k/width) radians per position: its sine in the even column, its
    # cosine in the odd one.
    speeds = np.exp(np.arange(0, width, 2) / width * -np.log(10000.0))
    angles = np.outer(np.arange(positions), speeds)
    pairs = np.stack([np.sin(angles), np.cos(angles)], axis=-1).astype(np.float32)
    return pairs.reshape(positions, -1)[:, :width] * (scale * np.sqrt(2.0))


def new_model(tokenizer: Any, recipe: ModelRecipe, family: str) -> Any:
    """A randomly initialised BERT or RoBERTa masked LM sized by ``recipe`` for ``tokenizer``.

    Part of `make assets`; no notebook calls it.
    """
    from transformers import BertConfig, RobertaConfig, TFBertForMaskedLM, TFRobertaForMaskedLM

    common = dict(
        vocab_size=len(tokenizer), hidden_size=recipe.hidden_size, num_hidden_layers=recipe.layers,
        num_attention_heads=recipe.heads, intermediate_size=recipe.intermediate_size,
        hidden_dropout_prob=recipe.dropout, attention_probs_dropout_prob=recipe.dropout,
        pad_token_id=tokenizer.pad_token_id,
    )
    if family == "bert":
        config = BertConfig(max_position_embeddings=recipe.max_positions, **common)
        model = TFBertForMaskedLM(config)
    elif family == "roberta":
        # RoBERTa numbers positions from pad_token_id + 1, so it needs two extra rows.
        config = RobertaConfig(max_position_embeddings=recipe.max_positions + 2, type_vocab_size=1,
                               bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **common)
        model = TFRobertaForMaskedLM(config)
    else:
        raise ValueError(f"family must be 'bert' or 'roberta', got {family!r}.")
    model(model.dummy_inputs)
    if recipe.sinusoidal_positions:
        table = getattr(model, model.base_model_prefix).embeddings.position_embeddings
        rows, width = table.shape
        table.assign(sinusoidal_table(int(rows), int(width), scale=config.initializer_range))
    return model


def train_model(texts: list[str], tokenizer: Any, recipe: ModelRecipe, family: str = "bert", log: bool = True,
                on_report: Any = None) -> Any:
    """Pretrain a small masked LM from scratch on ``texts`` with fresh, seeded BERT masks every step.

    The vocabulary head runs only at the masked positions (see notebook 05). ``on_report(step,
    model)``, if given, is called with each progress report (every 50 steps).

    Part of `make assets`; no notebook calls it.
    """
    import tensorflow as tf

    from mlm_tutorial.chunking import chunk_texts
    from mlm_tutorial.masking import mask_tokens
    from mlm_tutorial.training import make_optimizer, masked_lm_parts

    tf.keras.utils.set_random_seed(recipe.seed)
    tf.config.experimental.enable_op_determinism()
    model = new_model(tokenizer, recipe, family)
    encoder, head = masked_lm_parts(model)
    optimizer = make_optimizer(_schedule(recipe), weight_decay=0.01, clipnorm=1.0)

    @tf.function(reduce_retracing=True)
    def step(ids: Any, labels: Any) -> Any:
        with tf.GradientTape() as tape:
            hidden = encoder(input_ids=ids, training=True)[0]
            where = labels != -100
            logits = head(tf.boolean_mask(hidden, where))
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.boolean_mask(labels, where), logits=logits))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    start = time.perf_counter()
    number, running = 0, []
    for length, batch_size, steps in recipe.phases:
        rows = chunk_texts(texts, tokenizer, length)
        data = (
            tf.data.Dataset.from_tensor_slices(rows)
            .repeat()
            .shuffle(len(rows), seed=recipe.seed)
            .batch(batch_size, drop_remainder=True)
            .enumerate(start=number)
            .map(lambda i, ids: mask_tokens(ids, tokenizer, seed=tf.stack([i, tf.constant(recipe.seed, tf.int64)])))
        )
        for ids, labels in data.take(steps):
            number += 1
            running.append(float(step(ids, labels)))
            if log and (number % 50 == 0 or number == recipe.steps):
                print(f"{family} step {number}/{recipe.steps} (chunks of {length})  loss "
                      f"{np.mean(running[-50:]):.3f}  {time.perf_counter() - start:.0f} s", flush=True)
            if on_report is not None and number % 50 == 0:
                on_report(number, model)
    return model


def evaluate(model: Any, tokenizer: Any, train_rows: np.ndarray, test_rows: np.ndarray) -> dict[str, Any]:
    """Model and unigram-baseline scores on fixed (seeded, 15%, all-mask) masks of ``test_rows``.

    Part of `make assets`; no notebook calls it.
    """
    from mlm_tutorial.evaluation import fixed_masks, masked_lm_score, unigram_baseline

    masked, labels = fixed_masks(test_rows, tokenizer, seed=EVAL_SEED)
    score = masked_lm_score(model, masked, labels)
    baseline = unigram_baseline(train_rows, labels, tokenizer)
    return {"model": score.as_dict(), "unigram_baseline": baseline.as_dict(),
            "accuracy_ratio": score.accuracy / baseline.accuracy if baseline.accuracy else float("inf")}


def non_business_texts(folder: Path) -> tuple[list[str], list[str]]:
    """The training and held-out articles of the four non-business categories.

    Part of `make assets`; no notebook calls it.
    """
    train, test = _corpus(folder)
    keep = lambda frame: frame.loc[frame["label"] != BUSINESS, "text"].astype(str).tolist()  # noqa: E731
    return keep(train), keep(test)


def evaluate_saved(folder: Path, corpus: Path) -> dict[str, Any]:
    """Re-measure a saved bundled model exactly as its card (written by `make assets`) did.

    Used by the tests; no notebook calls it.
    """
    from transformers import AutoTokenizer, TFAutoModelForMaskedLM

    from mlm_tutorial.chunking import chunk_texts

    record = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = TFAutoModelForMaskedLM.from_pretrained(str(folder), trust_remote_code=False)
    train_texts, test_texts = non_business_texts(corpus)
    length = int(record["evaluation_chunk_size"])
    return evaluate(model, tokenizer, chunk_texts(train_texts, tokenizer, length), chunk_texts(test_texts, tokenizer, length))


MODEL_TITLES = {
    "bert": ("bert-mini-news", "BERT", "`distilbert-base-uncased`", "uncased WordPiece, laid out like "
             "`bert-base-uncased` (`[PAD]`=0, `[unused0..98]`, `[UNK]`=100, `[CLS]`=101, `[SEP]`=102, `[MASK]`=103)"),
    "roberta": ("roberta-mini-news", "RoBERTa", "`distilroberta-base`", "byte-level BPE, laid out like "
                "RoBERTa's (`<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, `<mask>` last)"),
}


def write_card(folder: Path, family: str, recipe: ModelRecipe, results: dict[str, Any], train_texts: list[str],
               seconds: float) -> None:
    """Write the model card (README.md) and its numbers (evaluation.json) next to the weights.

    Part of `make assets`; no notebook calls it.
    """
    name, kind, stands_in_for, tokenizer_text = MODEL_TITLES[family]
    sizes = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    model, base = results["model"], results["unigram_baseline"]
    categories = ", ".join(v for k, v in LABELS.items() if k != BUSINESS)
    tokens_seen = sum(length * batch * steps for length, batch, steps in recipe.phases)
    record = {"family": family, "recipe": {**recipe.__dict__, "phases": [list(p) for p in recipe.phases]},
              "train_articles": len(train_texts), "train_tokens_seen": tokens_seen,
              "evaluation_seed": EVAL_SEED, "evaluation_chunk_size": recipe.chunk_size,
              "train_seconds": round(seconds, 1), **results}
    (folder / "evaluation.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    phases = "; ".join(f"{steps} steps of {batch} chunks of {length} tokens" for length, batch, steps in recipe.phases)
    card = f"""# {name}: a small {kind} masked language model for offline lessons

A {recipe.layers}-layer {kind} (hidden size {recipe.hidden_size}, {recipe.heads} attention heads, feed-forward
{recipe.intermediate_size}, vocabulary {results["vocab_size"]:,}, {results["parameters"]:,} parameters) pretrained from
scratch with masked language modeling by this project's `make assets` (`python -m mlm_tutorial.assets build --out data`).
It stands in for {stands_in_for} when the Hugging Face Hub cannot be reached, so that the notebooks still
show a model that has learned something.

- **Training data**: the {len(train_texts)} {categories} articles of `data/news/train.csv`. Business news is
  left out, so that fine-tuning on business in notebook 04 is a real domain adaptation.
- **Training**: {phases} ({tokens_seen:,} tokens seen); fresh, seeded BERT masks every step
  (15% of tokens; 80% mask, 10% random, 10% unchanged); AdamW, peak learning rate {recipe.learning_rate:g},
  {recipe.warmup_steps} warm-up steps then linear decay to 0; position embeddings started from sine/cosine
  codes; seed {recipe.seed}. {seconds / 60:.1f} minutes on 2 CPU cores.
- **Tokenizer**: {tokenizer_text}, trained on every article of `data/news/train.csv`, business included.
- **Files**: `tf_model.h5` (TensorFlow weights), `config.json`, tokenizer files; {sizes / 2**20:.1f} MiB in all.

## Measured quality

On the held-out {categories} articles of `data/news/test.csv`, cut into chunks of {recipe.chunk_size} tokens:
{model["masked_tokens"]:,} tokens masked once (15%, all replaced by the mask token, seed {EVAL_SEED}).

| | top-1 accuracy | perplexity |
|---|---|---|
| this model | {model["accuracy"]:.3f} | {model["perplexity"]:.1f} |
| unigram baseline | {base["accuracy"]:.3f} | {base["perplexity"]:.1f} |

The unigram baseline ignores the context: it always guesses the most frequent training token, and its
perplexity is that of the (add-one smoothed) token frequencies of the training articles. The model is
right {results["accuracy_ratio"]:.2f} times as often. It is small and has read little: expect common news
words and function words, not knowledge of the world. `tests/test_assets.py` reproduces these numbers.

Licence: CC BY 4.0, like the corpus it was trained on.
"""
    (folder / "README.md").write_text(card, encoding="utf-8")


#: Recipes of the two bundled models. The RoBERTa-style one only serves side-by-side demos: fewer steps.
RECIPES = {
    "bert": ModelRecipe(),
    "roberta": ModelRecipe(phases=((32, 128, 900), (128, 32, 250))),
}


def _replace_folder(staged: Path, target: Path) -> None:
    """Move a complete folder into place; the old one is removed only once the new one is there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.with_name(target.name + ".incoming")
    shutil.rmtree(incoming, ignore_errors=True)
    shutil.copytree(staged, incoming)
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(incoming, target)
    shutil.rmtree(old, ignore_errors=True)


def build(corpus: Path, out: Path, steps: int | None = None, log: bool = True) -> dict[str, Any]:
    """Rebuild ``tokenizers/`` and ``models/`` under ``out`` from the corpus folder.

    ``steps`` shrinks each model's training budget (the tests use a handful of steps). Every
    folder is built in a scratch folder first and moved into place only when complete.

    Part of `make assets`; no notebook calls it.
    """
    from mlm_tutorial.chunking import chunk_texts
    from mlm_tutorial.setup import prepare_environment, silence_libraries

    prepare_environment()
    silence_libraries()
    if not (corpus / "train.csv").is_file() or not (corpus / "test.csv").is_file():
        raise FileNotFoundError(f"corpus folder {corpus} needs train.csv and test.csv.")
    train, _ = _corpus(corpus)
    all_train = train["text"].astype(str).tolist()
    train_texts, test_texts = non_business_texts(corpus)
    started = time.perf_counter()
    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch_path = Path(scratch)
        tokenizers = {
            "bert": train_wordpiece(all_train, RECIPES["bert"].vocab_size, scratch_path / "bert-wordpiece-news"),
            "roberta": train_byte_bpe(all_train, RECIPES["roberta"].vocab_size, scratch_path / "roberta-bpe-news"),
        }
        for family, tokenizer in tokenizers.items():
            recipe = RECIPES[family] if steps is None else RECIPES[family].scaled(steps)
            began = time.perf_counter()
            model = train_model(train_texts, tokenizer, recipe, family=family, log=log)
            seconds = time.perf_counter() - began
            folder = scratch_path / MODEL_TITLES[family][0]
            model.save_pretrained(str(folder))
            tokenizer.save_pretrained(str(folder))
            length = recipe.chunk_size
            results = evaluate(model, tokenizer, chunk_texts(train_texts, tokenizer, length),
                               chunk_texts(test_texts, tokenizer, length))
            results["vocab_size"] = len(tokenizer)
            results["parameters"] = int(model.count_params())
            write_card(folder, family, recipe, results, train_texts, seconds)
            summary[family] = results
            if log:
                print(f"{family}: accuracy {results['model']['accuracy']:.3f} vs unigram "
                      f"{results['unigram_baseline']['accuracy']:.3f} ({results['accuracy_ratio']:.2f}x)", flush=True)
        for sub, name in (("tokenizers", "bert-wordpiece-news"), ("tokenizers", "roberta-bpe-news"),
                          ("models", "bert-mini-news"), ("models", "roberta-mini-news")):
            _replace_folder(scratch_path / name, out / sub / name)
    if log:
        print(f"done in {time.perf_counter() - started:.0f} s; assets in {out}", flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    """The command line ``python -m mlm_tutorial.assets build`` that `make assets` runs."""
    parser = argparse.ArgumentParser(prog="python -m mlm_tutorial.assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="rebuild tokenizers and models")
    b.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: data/news)")
    b.add_argument("--out", type=Path, required=True, help="folder that receives tokenizers/ and models/")
    b.add_argument("--steps", type=int, default=None, help="training steps per model (default: the full recipe)")
    args = parser.parse_args(argv)
    from mlm_tutorial.resources import bundled_corpus_dir

    build(args.corpus or bundled_corpus_dir(), args.out, steps=args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
