"""Bad inputs to the public helpers: one table, one check per row.

Each row of :data:`CASES` calls one helper with one bad input and states the exception type and the
pieces its message must hold: the argument (or file) at fault, the bad value, and the fix. The
learner reads these messages in a notebook, so an error that says only "invalid input" fails here.

Empty or whitespace-only articles are not an error: ``resources.clean_corpus_frame`` drops them and
prints how many it dropped (its documented choice). The tests after the table check that.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest

from mlm_tutorial.chunking import chunk_texts
from mlm_tutorial.evaluation import fixed_masks, masked_lm_score, masked_sentences
from mlm_tutorial.masking import mask_tokens
from mlm_tutorial.resources import (
    CHOICE_ENVS,
    bundled_model_dir,
    check_compatible,
    clean_corpus_frame,
    load_mlm_model,
    load_news_corpus,
    load_tokenizer,
)
from mlm_tutorial.tokenizing import check_max_length, token_counts, tokenize_to_tf

#: The bundled tokenizers' model_max_length and vocabulary sizes (see /data and conftest).
LIMIT = 512
BERT_VOCAB = 3000
ROBERTA_VOCAB = 3000
EXTRA_TOKENS = 10


@pytest.fixture(autouse=True)
def plain_offline_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every row runs offline and with no folder override, whatever the caller's environment holds."""
    for name in CHOICE_ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


# --------------------------------------------------------------------------- what each row gets


@dataclass
class Inputs:
    """The bundled assets and a scratch folder, handed to every row's callable."""

    bert: Any
    roberta: Any
    model: Any
    no_mask: Any  # the bundled WordPiece tokenizer loaded without its mask token
    too_big: Any  # the bundled WordPiece tokenizer with EXTRA_TOKENS added: larger than the model
    ids: np.ndarray  # a small batch of valid ids (two rows of 8) from the bundled tokenizer
    tmp: Path

    def folder(self, name: str, files: dict[str, str] | None = None) -> str:
        """Create ``tmp/name`` holding ``files`` (file name -> text); return its path as a string."""
        path = self.tmp / name
        path.mkdir(parents=True, exist_ok=True)
        for file_name, text in (files or {}).items():
            (path / file_name).write_text(text, encoding="utf-8")
        return str(path)

    def tokenizer_folder(self, name: str, config: str) -> str:
        """A copy of the bundled tokenizer files next to the given ``config.json`` text."""
        path = Path(self.folder(name, {"config.json": config}))
        for file_name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            shutil.copy(bundled_model_dir() / file_name, path / file_name)
        return str(path)


@pytest.fixture(scope="module")
def no_mask_tokenizer(tf_ready: None) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_dir()), mask_token=None)
    assert tokenizer.mask_token_id is None
    return tokenizer


@pytest.fixture(scope="module")
def larger_tokenizer(tf_ready: None) -> Any:
    tokenizer = load_tokenizer("auto")  # a fresh object: the shared fixture must stay unchanged
    tokenizer.add_tokens([f"newword{i}" for i in range(EXTRA_TOKENS)])
    assert len(tokenizer) == BERT_VOCAB + EXTRA_TOKENS
    return tokenizer


@pytest.fixture
def inputs(bert_tokenizer: Any, roberta_tokenizer: Any, mlm_model: Any, no_mask_tokenizer: Any,
           larger_tokenizer: Any, tmp_path: Path) -> Inputs:
    ids = np.asarray(tokenize_to_tf(["the market rose", "a new phone"], bert_tokenizer, max_length=8)["input_ids"])
    return Inputs(bert_tokenizer, roberta_tokenizer, mlm_model, no_mask_tokenizer, larger_tokenizer, ids, tmp_path)


def _with_id(ids: np.ndarray, value: int) -> np.ndarray:
    """``ids`` with the second token of the first row replaced by ``value``."""
    changed = ids.copy()
    changed[0, 1] = value
    return changed


def _labels_for(ids: np.ndarray) -> np.ndarray:
    """Labels that ask for the second token of each row (the rest -100)."""
    labels = np.full_like(ids, -100)
    labels[:, 1] = ids[:, 1]
    return labels


NOT_JSON = "{this is not json"
CORPUS_WITHOUT_TEXT = "body,label\nshares rose,1\n"


# --------------------------------------------------------------------------- the table


class Case(NamedTuple):
    """One bad input: row id, the call, the exception type, regex fragments its message must hold."""

    id: str
    call: Callable[[Inputs], Any]
    error: type[BaseException]
    fragments: list[str]


def _probability_cases() -> list[Case]:
    cases = []
    for value in (0.0, 1.0, 1.5, -0.1, float("nan")):
        cases.append(Case(
            f"mlm_probability={value}",
            lambda x, value=value: mask_tokens(x.ids, x.bert, mlm_probability=value, seed=1),
            ValueError,
            ["mlm_probability", "strictly between 0 and 1", f"got {re.escape(repr(value))}", "BERT uses 0.15"],
        ))
    return cases


CASES: list[Case] = [
    # ---- texts: empty list; None, NaN or a number among them (the index is named)
    Case("texts-empty-list", lambda x: tokenize_to_tf([], x.bert), ValueError,
         [r"^texts is empty", "pass at least one text"]),
    Case("texts-empty-list-token-counts", lambda x: token_counts([], x.bert), ValueError,
         [r"^texts is empty", "pass at least one text"]),
    Case("texts-empty-list-chunking", lambda x: chunk_texts([], x.bert), ValueError,
         [r"^texts is empty", "non-empty list of articles"]),
    Case("texts-None-at-index-1", lambda x: tokenize_to_tf(["fine", None], x.bert), TypeError,
         [r"texts\[1\] is None", "missing value", r"dropna\(subset=\['text'\]\)"]),
    Case("texts-NaN-at-index-2", lambda x: tokenize_to_tf(["fine", "also fine", float("nan")], x.bert), TypeError,
         [r"texts\[2\] is nan", "missing value", "dropna"]),
    Case("texts-NaN-in-a-pandas-column", lambda x: token_counts(pd.Series(["fine", np.nan]), x.bert), TypeError,
         [r"texts\[1\] is nan", "missing value", "dropna"]),
    Case("texts-number-at-index-1", lambda x: tokenize_to_tf(["fine", 42], x.bert), TypeError,
         [r"texts\[1\] is 42 \(int\)", "not a string", r"Convert it with str\(\) or drop that row"]),
    Case("texts-None-at-index-1-chunking", lambda x: chunk_texts(["fine", None], x.bert), TypeError,
         [r"texts\[1\] is None", "not a string", "Drop or fix that row"]),
    Case("texts-a-dict", lambda x: tokenize_to_tf({"text": ["fine"]}, x.bert), TypeError,
         ["texts must be a string or a list of strings", "got dict", r"frame\['text'\]"]),
    # ---- max_length: below 2, above the model's limit, not an int
    Case("max_length-below-2", lambda x: tokenize_to_tf(["fine"], x.bert, max_length=1), ValueError,
         ["max_length must be at least 2", "got 1", "max_length=128"]),
    Case("max_length-0-check_max_length", lambda x: check_max_length(0, x.roberta), ValueError,
         ["max_length must be at least 2", "got 0", "max_length=128"]),
    Case("max_length-above-the-limit", lambda x: tokenize_to_tf(["fine"], x.bert, max_length=LIMIT + 1), ValueError,
         [f"max_length={LIMIT + 1}", f"model_max_length={LIMIT}", f"Use max_length <= {LIMIT}"]),
    Case("max_length-above-the-limit-roberta", lambda x: check_max_length(4 * LIMIT, x.roberta), ValueError,
         [f"max_length={4 * LIMIT}", f"model_max_length={LIMIT}", f"Use max_length <= {LIMIT}"]),
    Case("max_length-a-string", lambda x: tokenize_to_tf(["fine"], x.bert, max_length="128"), TypeError,
         ["max_length must be an int", r"got '128' \(str\)", "max_length=128"]),
    Case("chunk_size-above-the-limit", lambda x: chunk_texts(["fine"], x.bert, chunk_size=2 * LIMIT), ValueError,
         [f"chunk_size {2 * LIMIT}", f"model_max_length {LIMIT}", f"use at most {LIMIT}"]),
    # ---- mlm_probability outside (0, 1)
    *_probability_cases(),
    Case("mlm_probability-a-string", lambda x: mask_tokens(x.ids, x.bert, mlm_probability="0.15"), TypeError,
         ["mlm_probability must be a number", r"got '0\.15' \(str\)", "BERT uses 0.15"]),
    Case("mlm_probability-1-fixed_masks", lambda x: fixed_masks(x.ids, x.bert, mlm_probability=1.0), ValueError,
         ["mlm_probability", "strictly between 0 and 1", "got 1.0", "BERT uses 0.15"]),
    # ---- unknown masking strategy
    Case("strategy-unknown", lambda x: mask_tokens(x.ids, x.bert, strategy="random"), ValueError,
         ["unknown masking strategy 'random'", "valid strategies are 'bert', 'mask_only'"]),
    Case("strategy-unknown-fixed_masks", lambda x: fixed_masks(x.ids, x.bert, strategy="whole_word"), ValueError,
         ["unknown masking strategy 'whole_word'", "valid strategies are 'bert', 'mask_only'"]),
    # ---- a tokenizer with no mask token
    Case("no-mask-token-mask_tokens", lambda x: mask_tokens(x.ids, x.no_mask), ValueError,
         [r"tokenizer '[^']*bert-mini-news' has no mask token", "Use a masked-LM tokenizer"]),
    Case("no-mask-token-check_compatible", lambda x: check_compatible(x.no_mask, x.model), ValueError,
         [r"tokenizer '[^']*bert-mini-news' has no mask token", "Use a masked-LM tokenizer"]),
    Case("no-mask-token-masked_sentences", lambda x: masked_sentences(["a {mask} day"], x.no_mask), ValueError,
         [r"tokenizer '[^']*bert-mini-news' has no mask token", "use a masked-LM tokenizer"]),
    # ---- non-integer ids
    Case("ids-floats", lambda x: mask_tokens(x.ids.astype(np.float64), x.bert), TypeError,
         ["input_ids must hold integer token ids", "got dtype float64", "Pass the tokenizer's input_ids"]),
    Case("ids-strings", lambda x: mask_tokens([["the", "cat"]], x.bert), TypeError,
         ["input_ids must hold integer token ids", "got dtype <U3", "Pass the tokenizer's input_ids"]),
    Case("ids-float-tensor", lambda x: mask_tokens(_float_tensor(x.ids), x.bert), TypeError,
         ["input_ids must hold integer token ids", "got dtype float32", "Pass the tokenizer's input_ids"]),
    Case("ids-floats-masked_lm_score",
         lambda x: masked_lm_score(x.model, x.ids.astype(np.float32), _labels_for(x.ids)), TypeError,
         ["masked_ids must hold integer token ids", "got dtype float32", "fixed_masks"]),
    # ---- ids outside the vocabulary
    Case("ids-above-the-vocabulary", lambda x: mask_tokens(_with_id(x.ids, BERT_VOCAB), x.bert), ValueError,
         [f"input_ids holds id {BERT_VOCAB}", rf"vocabulary 0\.\.{BERT_VOCAB - 1}",
          "Use the tokenizer that produced them"]),
    Case("ids-negative", lambda x: mask_tokens(_with_id(x.ids, -1), x.bert), ValueError,
         ["input_ids holds id -1", rf"vocabulary 0\.\.{BERT_VOCAB - 1}", "Use the tokenizer that produced them"]),
    Case("ids-above-the-vocabulary-roberta", lambda x: mask_tokens([[0, ROBERTA_VOCAB + 5, 2]], x.roberta),
         ValueError, [f"input_ids holds id {ROBERTA_VOCAB + 5}", rf"vocabulary 0\.\.{ROBERTA_VOCAB - 1}",
                      "Use the tokenizer that produced them"]),
    Case("ids-above-the-model-vocabulary-masked_lm_score",
         lambda x: masked_lm_score(x.model, _with_id(x.ids, BERT_VOCAB + 3), _labels_for(x.ids)), ValueError,
         [f"masked_ids holds id {BERT_VOCAB + 3}", rf"model's vocabulary 0\.\.{BERT_VOCAB - 1}",
          "check_compatible"]),
    # ---- corpus folders and tables
    Case("corpus-folder-missing", lambda x: load_news_corpus(x.tmp / "no_such_corpus"), FileNotFoundError,
         ["news corpus folder", "no_such_corpus", "does not exist", "Check the path", "'auto'"]),
    Case("corpus-without-text-column",
         lambda x: load_news_corpus(x.folder("news", {"train.csv": CORPUS_WITHOUT_TEXT,
                                                      "test.csv": CORPUS_WITHOUT_TEXT})), ValueError,
         ["train.csv has no 'text' column", re.escape("its columns are ['body', 'label']"), "Rename"]),
    Case("corpus-frame-without-text-column",
         lambda x: clean_corpus_frame(pd.DataFrame({"article": ["a"], "label": [0], "source": ["x"]}), "my table"),
         ValueError, ["my table has no 'text' column", re.escape("['article', 'label', 'source']"), "Rename"]),
    Case("corpus-without-test-split", lambda x: load_news_corpus(x.folder("half", {"train.csv": "text,label\na,0\n"})),
         FileNotFoundError, ["has no test.csv", re.escape("it holds ['train.csv']"), "needs train.csv and test.csv"]),
    Case("corpus-only-empty-articles",
         lambda x: clean_corpus_frame(pd.DataFrame({"text": ["", "  ", None], "label": [0, 1, 2]}), "blank.csv"),
         ValueError, ["blank.csv holds no article with text", "3 row", "Fill its 'text' column"]),
    # ---- model folders and config files
    Case("model-folder-missing", lambda x: load_mlm_model(x.tmp / "no_such_model"), FileNotFoundError,
         ["model folder", "no_such_model", "does not exist", "Check the path", "'auto'"]),
    Case("model-folder-without-config", lambda x: load_mlm_model(x.folder("empty_model")), FileNotFoundError,
         ["empty_model has no config.json", r"model\.save_pretrained\(folder\)"]),
    Case("model-config-corrupt", lambda x: load_mlm_model(x.folder("broken", {"config.json": NOT_JSON})), ValueError,
         [r"broken/config\.json is corrupt", "not valid JSON", r"Re-save the model with model\.save_pretrained"]),
    Case("model-config-not-a-transformers-config",
         lambda x: load_mlm_model(x.folder("odd", {"config.json": '{"colour": "blue"}'})), ValueError,
         [r"odd/config\.json has no 'model_type'", "not a transformers config", "Re-save the model"]),
    Case("tokenizer-folder-config-corrupt", lambda x: load_tokenizer(x.tokenizer_folder("tok", NOT_JSON)), ValueError,
         [r"tok/config\.json is corrupt", "not valid JSON", "Re-save the model"]),
    # ---- a tokenizer that does not fit the model
    Case("tokenizer-larger-than-the-model", lambda x: check_compatible(x.too_big, x.model), ValueError,
         [f"the tokenizer has {BERT_VOCAB + EXTRA_TOKENS} tokens", f"the model's vocabulary has {BERT_VOCAB}",
          "Load both from the same name or folder"]),
    Case("tokenizer-of-the-other-family", lambda x: check_compatible(x.roberta, x.model), ValueError,
         ["the tokenizer pads with id 1 but the model expects 0", "different checkpoints",
          "Load both from the same name or folder"]),
    # ---- an unknown Hub id while offline
    Case("hub-id-offline-model", lambda x: load_mlm_model("example-org/unknown-mlm"), OSError,
         ["model 'example-org/unknown-mlm' is not a local folder", "this machine is offline",
          "Use 'auto' for the bundled assets", "pass a local folder"]),
    Case("hub-id-offline-tokenizer", lambda x: load_tokenizer("example-org/unknown-mlm"), OSError,
         ["tokenizer 'example-org/unknown-mlm' is not a local folder", "this machine is offline",
          "Use 'auto' for the bundled assets", "pass a local folder"]),
    Case("hub-id-offline-corpus", lambda x: load_news_corpus("example-org/unknown-news"), OSError,
         ["news corpus 'example-org/unknown-news' is not a local folder", "this machine is offline",
          "Use 'auto' for the bundled assets", "pass a local folder"]),
]


def _float_tensor(ids: np.ndarray) -> Any:
    import tensorflow as tf

    return tf.constant(ids, dtype=tf.float32)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_refused_with_a_useful_message(case: Case, inputs: Inputs) -> None:
    with pytest.raises(BaseException) as info:
        case.call(inputs)
    error = info.value
    assert type(error) is case.error, f"expected {case.error.__name__}, got {type(error).__name__}: {error}"
    message = str(error)
    missing = [fragment for fragment in case.fragments if not re.search(fragment, message)]
    assert not missing, f"the message lacks {missing}:\n{message}"


def test_the_table_covers_every_case_of_the_issue() -> None:
    ids = " ".join(case.id for case in CASES)
    for topic in ("texts-empty-list", "texts-None", "texts-NaN", "texts-number", "max_length-below-2",
                  "max_length-above-the-limit", "mlm_probability=0.0", "mlm_probability=1.0", "strategy-unknown",
                  "no-mask-token", "ids-floats", "ids-above-the-vocabulary", "corpus-folder-missing",
                  "corpus-without-text-column", "model-folder-missing", "model-config-corrupt",
                  "tokenizer-larger-than-the-model", "hub-id-offline"):
        assert topic in ids, f"no row for {topic}"
    assert len({case.id for case in CASES}) == len(CASES), "row ids must be unique"
    assert all(case.fragments for case in CASES)


# --------------------------------------------------------------------------- empty articles are dropped, with a count


def test_clean_corpus_frame_drops_empty_articles_and_says_how_many(capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.DataFrame({
        "text": ["first article", "", "   ", None, "\t\n", "second article"],
        "label": [0, 1, 2, 3, 4, 2],
    })
    cleaned = clean_corpus_frame(frame, "scrape.csv")
    assert cleaned["text"].tolist() == ["first article", "second article"]
    assert cleaned["label"].tolist() == [0, 2]
    assert cleaned.index.tolist() == [0, 1]
    assert capsys.readouterr().out == "scrape.csv: dropped 4 empty article(s)\n"
    assert frame.shape == (6, 2), "the caller's table must not be changed"


def test_clean_corpus_frame_is_silent_when_nothing_is_empty(capsys: pytest.CaptureFixture[str]) -> None:
    cleaned = clean_corpus_frame(pd.DataFrame({"text": ["one", "two"], "label": [0, 1]}), "tidy.csv")
    assert len(cleaned) == 2
    assert capsys.readouterr().out == ""


def test_load_news_corpus_drops_empty_articles_per_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "train.csv").write_text('text,label\nchips sell well,0\n"",1\n"  ",2\nthe match ended,2\n',
                                      encoding="utf-8")
    (folder / "test.csv").write_text('text,label\na film premiere,3\n" \t ",4\n', encoding="utf-8")
    corpus = load_news_corpus(folder)
    assert corpus["train"]["text"] == ["chips sell well", "the match ended"]
    assert corpus["test"]["text"] == ["a film premiere"]
    printed = capsys.readouterr().out
    assert "news/train.csv: dropped 2 empty article(s)" in printed
    assert "news/test.csv: dropped 1 empty article(s)" in printed
