"""mlm_tutorial.resources: corpus, tokenizers and models from "auto", a folder or a Hub id."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlm_tutorial import resources
from mlm_tutorial.resources import (
    CHOICE_ENVS,
    DATA_ENV,
    HUB_CORPUS,
    LABELS,
    MODEL_ENV,
    ROBERTA_ENV,
    bundled_corpus_dir,
    bundled_model_dir,
    bundled_tokenizer_dir,
    check_compatible,
    clean_corpus_frame,
    hub_status,
    load_mlm_model,
    load_model_and_tokenizer,
    load_news_corpus,
    load_tokenizer,
    perplexity_from_loss,
    resolve,
)

HUB_MODEL = "distilbert-base-uncased"


@pytest.fixture(autouse=True)
def no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from the plain offline setting, whatever the caller's environment holds."""
    for name in CHOICE_ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _resolve_model(name: Any) -> resources.Choice:
    return resolve("model", name, MODEL_ENV, HUB_MODEL, bundled_model_dir())


def _write_corpus(folder: Path, train: str, test: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.csv").write_text(train, encoding="utf-8")
    (folder / "test.csv").write_text(test if test is not None else train, encoding="utf-8")
    return folder


# --------------------------------------------------------------------------- hub_status


@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_hub_status_offline_answers_at_once(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    monkeypatch.setattr(resources.socket, "create_connection", _no_network)
    assert hub_status() == (False, "HF_HUB_OFFLINE is set")


def _no_network(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("hub_status must not touch the network when HF_HUB_OFFLINE is set")


def test_hub_status_unreachable_host_returns_false(monkeypatch: pytest.MonkeyPatch) -> None:
    # A connection refused at once (no route, nothing listening): the reason names the host and the error.
    tried: list[tuple[Any, ...]] = []

    def refuse(address: tuple[str, int], timeout: float) -> None:
        tried.append((address, timeout))
        raise OSError(101, "Network is unreachable")

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "https://192.0.2.1")
    monkeypatch.setattr(resources, "_hub_cache", {})
    monkeypatch.setattr(resources.socket, "create_connection", refuse)
    assert hub_status(timeout=0.5) == (False, "192.0.2.1 cannot be reached: [Errno 101] Network is unreachable")
    assert tried == [(("192.0.2.1", 443), 0.5)]  # https without a port: 443, with the timeout asked for
    # The answer is remembered: a second call gives it again without probing.
    monkeypatch.setattr(resources.socket, "create_connection", _no_network)
    assert hub_status(timeout=0.5) == (False, "192.0.2.1 cannot be reached: [Errno 101] Network is unreachable")


def test_hub_status_probes_the_endpoints_own_port(monkeypatch: pytest.MonkeyPatch) -> None:
    # A mirror on a port of its own (here a listening socket on this machine): reachable there, and only there.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(resources, "_hub_cache", {})
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
        assert hub_status(timeout=2.0) == (True, "127.0.0.1 is reachable")
    finally:
        server.close()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")  # the answer is remembered per address
    assert hub_status(timeout=2.0)[0] is True
    monkeypatch.setattr(resources, "_hub_cache", {})
    reachable, reason = hub_status(timeout=2.0)  # the port is closed now
    assert reachable is False and reason.startswith("127.0.0.1 cannot be reached")


class _Connection:
    def close(self) -> None:
        pass


def test_a_hub_probe_that_hangs_means_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    # A firewall that drops packets: the connection neither succeeds nor fails within the timeout.
    def hang(*args: Any, **kwargs: Any) -> _Connection:
        time.sleep(1.5)
        return _Connection()

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.invalid")
    monkeypatch.setattr(resources, "_hub_cache", {})
    monkeypatch.setattr(resources.socket, "create_connection", hang)
    assert hub_status(timeout=0.2) == (False, "hub.example.invalid did not answer within 0.2 s")
    choice = _resolve_model("auto")  # the remembered answer: the bundled model
    assert (choice.is_local, choice.location) == (True, str(bundled_model_dir()))


# --------------------------------------------------------------------------- resolve


def test_hub_status_probes_port_80_for_http_and_survives_a_port_that_is_no_number(
        monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[tuple[str, int]] = []

    def refuse(address: tuple[str, int], timeout: float) -> None:
        tried.append(address)
        raise OSError(111, "Connection refused")

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(resources.socket, "create_connection", refuse)
    for endpoint in ("http://mirror.example", "http://mirror.example:abc"):
        monkeypatch.setattr(resources, "_hub_cache", {})
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        assert hub_status(timeout=0.5)[0] is False  # an answer, not an exception
    assert tried == [("mirror.example", 80), ("mirror.example", 443)]


def test_resolve_auto_offline_uses_bundled() -> None:
    choice = _resolve_model("auto")
    assert choice.is_local
    assert choice.location == str(bundled_model_dir())
    assert "HF_HUB_OFFLINE is set" in choice.reason
    assert "bundled assets" in choice.reason


def test_resolve_auto_online_uses_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "hub_status", lambda timeout=3.0: (True, "huggingface.co is reachable"))
    choice = _resolve_model("auto")
    assert (choice.is_local, choice.location) == (False, HUB_MODEL)


def test_resolve_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(MODEL_ENV, str(tmp_path))
    choice = _resolve_model("auto")
    assert choice.is_local
    assert choice.location == str(tmp_path.resolve())
    assert choice.reason == f"{MODEL_ENV} is set"


def test_an_override_naming_a_hub_id_stays_a_hub_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "hub_status", lambda timeout=3.0: (True, "huggingface.co is reachable"))
    monkeypatch.setenv(MODEL_ENV, "someone/some-model")
    choice = _resolve_model("auto")
    assert (choice.is_local, choice.location, choice.reason) == (False, "someone/some-model", f"{MODEL_ENV} is set")


def test_the_roberta_family_ignores_the_bert_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                      tf_ready: None) -> None:
    from transformers import AutoTokenizer, TFAutoModelForMaskedLM

    loaded: list[str] = []
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", lambda location, **kw: loaded.append(location))
    monkeypatch.setattr(TFAutoModelForMaskedLM, "from_pretrained", lambda location, **kw: loaded.append(location))
    monkeypatch.setenv(MODEL_ENV, str(bundled_model_dir("bert")))
    load_tokenizer("auto", family="roberta")
    load_mlm_model("auto", family="roberta")
    assert loaded == [str(bundled_model_dir("roberta"))] * 2
    loaded.clear()
    monkeypatch.setenv(ROBERTA_ENV, str(bundled_model_dir("roberta")))
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-such-folder"))  # would fail if it were read
    load_tokenizer("auto", family="roberta")
    load_mlm_model("auto", family="roberta")
    assert loaded == [str(bundled_model_dir("roberta").resolve())] * 2


def test_resolve_env_override_to_missing_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "gone"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _resolve_model("auto")


def test_an_override_of_auto_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "hub_status", lambda timeout=3.0: (False, "HF_HUB_OFFLINE is set"))
    for value in ("auto", " auto "):
        monkeypatch.setenv(MODEL_ENV, value)
        choice = _resolve_model("auto")  # once called itself for ever
        assert choice.is_local and choice.reason.startswith("'auto' and HF_HUB_OFFLINE is set")


def test_a_bad_override_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "gone"))
    with pytest.raises(FileNotFoundError, match=rf"{MODEL_ENV} is set to .*gone.*does not exist.*unset {MODEL_ENV}"):
        _resolve_model("auto")
    monkeypatch.setattr(resources, "hub_status", lambda timeout=3.0: (False, "HF_HUB_OFFLINE is set"))
    monkeypatch.setenv(MODEL_ENV, "someone/some-model")
    with pytest.raises(OSError, match=rf"{MODEL_ENV} is set to 'someone/some-model'.*offline"):
        _resolve_model("auto")


def test_resolve_local_folder(tmp_path: Path) -> None:
    for name in (str(tmp_path), tmp_path):  # str and PathLike
        choice = _resolve_model(name)
        assert (choice.is_local, choice.location) == (True, str(tmp_path.resolve()))
        assert choice.reason == "a local folder was given"


def test_resolve_expands_home_and_makes_relative_folders_absolute(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for name in ("~/mine", "./mine"):
        choice = _resolve_model(name)
        assert (choice.is_local, choice.location) == (True, str((tmp_path / "mine").resolve()))
    with pytest.raises(FileNotFoundError, match="does not exist"):  # a Windows-style path, not a Hub id
        _resolve_model("models\\mine")


def test_resolve_file_instead_of_folder(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        _resolve_model(str(config))


@pytest.mark.parametrize("name", ["./no-such-model", "missing/folder/model", "~/no-such-model-folder-here"])
def test_resolve_missing_path(name: str) -> None:
    with pytest.raises(FileNotFoundError, match=r"does not exist.*'auto'"):
        _resolve_model(name)


@pytest.mark.parametrize("name", [HUB_MODEL, "someone/some-model"])
def test_resolve_hub_id_offline(name: str) -> None:
    with pytest.raises(OSError, match="offline") as caught:
        _resolve_model(name)
    message = str(caught.value)
    assert "bundled assets" in message
    assert str(bundled_model_dir()) in message
    assert "HF_HUB_OFFLINE" in message
    assert "no copy of it in the Hugging Face cache" in message


def _fake_hub_cache(cache: Path, repo_id: str) -> Path:
    """A Hugging Face cache holding the bundled BERT model as if ``repo_id`` had been downloaded."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    revision = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision, encoding="utf-8")
    shutil.copytree(bundled_model_dir("bert"), repo / "snapshots" / revision)
    return cache


def test_an_offline_hub_id_in_the_cache_is_let_through(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(_fake_hub_cache(tmp_path, "someone/mini-news")))
    assert resources.in_hub_cache("someone/mini-news") and not resources.in_hub_cache("someone/other")
    choice = _resolve_model("someone/mini-news")
    assert (choice.is_local, choice.location) == (False, "someone/mini-news")
    assert choice.reason == "HF_HUB_OFFLINE is set, but a download of it is in the Hugging Face cache"
    with pytest.raises(OSError, match="offline"):  # a corpus is not looked up in the model cache
        load_news_corpus("someone/mini-news")


def test_an_offline_hub_id_in_the_cache_loads(tmp_path: Path) -> None:
    cache = _fake_hub_cache(tmp_path / "cache", "someone/mini-news")
    script = ("from mlm_tutorial.resources import load_mlm_model, load_tokenizer\n"
              "tokenizer = load_tokenizer('someone/mini-news')\n"
              "model = load_mlm_model('someone/mini-news')\n"
              "print('loaded', len(tokenizer), model.config.vocab_size, tokenizer.mask_token_id)\n")
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "loaded 3000 3000 103" in done.stdout
    assert "but a download of it is in the Hugging Face cache" in done.stdout


def test_a_cache_holding_only_a_tokenizer_counts_as_a_download(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    from huggingface_hub import constants

    snapshot = tmp_path / "models--someone--tok" / "snapshots" / "0123456789abcdef"
    snapshot.mkdir(parents=True)
    (snapshot / "tokenizer_config.json").write_text("{}", encoding="utf-8")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    assert resources.in_hub_cache("someone/tok")
    assert resolve("tokenizer", "someone/tok", MODEL_ENV, HUB_MODEL, bundled_model_dir()).location == "someone/tok"


def test_resolve_hub_id_online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "hub_status", lambda timeout=3.0: (True, "huggingface.co is reachable"))
    choice = _resolve_model("someone/some-model")
    assert (choice.is_local, choice.location) == (False, "someone/some-model")


@pytest.mark.parametrize(("name", "error"), [("", ValueError), ("   ", ValueError), (42, TypeError), (None, TypeError)])
def test_resolve_rejects_bad_names(name: Any, error: type) -> None:
    with pytest.raises(error, match="model name"):
        _resolve_model(name)


def test_choice_announce(capsys: pytest.CaptureFixture[str]) -> None:
    resources.Choice("model", "/x/y", True, "why").announce()
    resources.Choice("model", "org/m", False, "online").announce()
    resources.Choice("model", str(bundled_model_dir()), True, "bundled").announce()
    assert capsys.readouterr().out.splitlines() == [
        "model: local folder /x/y (why)", "model: Hub org/m (online)",
        "model: local folder data/models/bert-mini-news (bundled)",  # inside the checkout: relative, as a learner reads it
    ]


# --------------------------------------------------------------------------- corpus


def test_bundled_corpus(news_corpus: Any) -> None:
    assert set(news_corpus) == {"train", "test"}
    counts = {label: 0 for label in LABELS}
    for split in ("train", "test"):
        data = news_corpus[split]
        assert data.column_names == ["text", "label", "label_text"]
        assert len(data) > 0
        frame = data.to_pandas()
        assert set(frame["label"]) == set(LABELS)
        assert (frame["label"].map(LABELS) == frame["label_text"]).all()
        assert frame["text"].str.strip().str.len().gt(0).all()
        assert (frame["text"] == frame["text"].str.lower()).all()
        for label, count in frame["label"].value_counts().items():
            counts[int(label)] += int(count)
    assert min(counts.values()) >= 50, counts
    assert not set(news_corpus["train"]["text"]) & set(news_corpus["test"]["text"])


def test_load_news_corpus_says_what_it_chose(capsys: pytest.CaptureFixture[str]) -> None:
    load_news_corpus("auto")
    assert "news corpus: local folder data/news (" in capsys.readouterr().out
    assert HUB_CORPUS == "SetFit/bbc-news"


def test_load_news_corpus_from_env_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = _write_corpus(tmp_path / "news", "text,label,label_text\nan article about chips,0,tech\n")
    monkeypatch.setenv(DATA_ENV, str(folder))
    corpus = load_news_corpus()
    assert corpus["train"]["text"] == ["an article about chips"]
    assert corpus["test"]["label"] == [0]


def test_load_news_corpus_missing_text_column(tmp_path: Path) -> None:
    folder = _write_corpus(tmp_path, "article,label\nsome words,1\n")
    with pytest.raises(ValueError, match=r"no 'text' column; its columns are \['article', 'label'\]"):
        load_news_corpus(str(folder))


def test_load_news_corpus_missing_label_column(tmp_path: Path) -> None:
    folder = _write_corpus(tmp_path, "text,category\nsome words,sport\n")
    with pytest.raises(ValueError, match=r"no 'label' column; its columns are \['text', 'category'\]"):
        load_news_corpus(str(folder))


def test_load_news_corpus_non_integer_label(tmp_path: Path) -> None:
    folder = _write_corpus(tmp_path, "text,label\nsome words,sport\n")
    with pytest.raises(ValueError, match=r"column 'label' must hold integers 0-4, found 'sport'"):
        load_news_corpus(str(folder))


@pytest.mark.parametrize("label, words", [("1.5", "must hold integers 0-4, found 1.5"),
                                          ("7", "label 7 is none of the five categories")])
def test_load_news_corpus_labels_must_be_the_five_categories(tmp_path: Path, label: str, words: str) -> None:
    folder = _write_corpus(tmp_path, f"text,label\nsome words,{label}\nmore words,0\n")
    with pytest.raises(ValueError, match=re.escape(words)):
        load_news_corpus(str(folder))


def test_labels_with_their_own_names_need_integers_only() -> None:
    frame = pd.DataFrame({"text": ["a", "b"], "label": ["x", 0], "label_text": ["science", "tech"]})
    with pytest.raises(ValueError, match=r"column 'label' must hold integers, found 'x'"):
        clean_corpus_frame(frame, "own.csv")


def test_clean_corpus_frame_takes_own_labels_when_they_are_named() -> None:
    frame = pd.DataFrame({"text": ["a", "b"], "label": [7, 0], "label_text": ["science", "tech"]})
    cleaned = clean_corpus_frame(frame, "own.csv")
    assert cleaned["label"].tolist() == [7, 0] and cleaned["label_text"].tolist() == ["science", "tech"]


def test_load_news_corpus_drops_empty_articles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = 'text,label\nfirst article,0\n"",1\n"   ",2\nsecond article,3\n\t ,4\n'
    folder = _write_corpus(tmp_path / "news", train, "text,label\nheld out,2\n")
    corpus = load_news_corpus(str(folder))
    assert corpus["train"]["text"] == ["first article", "second article"]
    assert corpus["train"]["label"] == [0, 3]
    assert corpus["train"]["label_text"] == ["tech", "entertainment"]  # filled from LABELS
    printed = capsys.readouterr().out
    assert "news/train.csv: dropped 3 empty article(s)" in printed
    assert "test.csv: dropped" not in printed


def test_load_news_corpus_refuses_a_label_without_a_name(tmp_path: Path) -> None:
    folder = _write_corpus(tmp_path, "text,label,label_text\nan article,0,tech\nanother article,7,\n")
    with pytest.raises(ValueError, match=r"train\.csv: label 7 has no name in column 'label_text' \(1 row\(s\)\)"):
        load_news_corpus(str(folder))
    frame = pd.DataFrame({"text": ["a", "b"], "label": [7, 8], "label_text": ["science", "  "]})
    with pytest.raises(ValueError, match="label 8 has no name"):
        clean_corpus_frame(frame, "own.csv")


def test_load_news_corpus_keeps_articles_that_read_like_missing_values(tmp_path: Path) -> None:
    folder = _write_corpus(tmp_path, "text,label\nNA,0\nnull,1\nN/A,2\nnan,3\n")
    corpus = load_news_corpus(str(folder))
    assert corpus["train"]["text"] == ["NA", "null", "N/A", "nan"]


def test_clean_corpus_frame_gives_text_as_strings() -> None:
    cleaned = clean_corpus_frame(pd.DataFrame({"text": [1, 25], "label": [0, 1]}), "numbers.csv")
    assert cleaned["text"].tolist() == ["1", "25"]


def test_a_hub_corpus_without_a_test_split_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    monkeypatch.setattr(resources, "hub_status", lambda timeout=3.0: (True, "huggingface.co is reachable"))
    train = datasets.Dataset.from_dict({"text": ["an article"], "label": [1]})
    monkeypatch.setattr(datasets, "load_dataset", lambda name: datasets.DatasetDict({"train": train}))
    with pytest.raises(ValueError, match=r"Hub dataset 'someone/news' has no 'test' split; it has \['train'\]"):
        load_news_corpus("someone/news")


def test_load_news_corpus_missing_split(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("text,label\nwords,0\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match=r"has no test\.csv \(it holds \['train\.csv'\]\)"):
        load_news_corpus(str(tmp_path))


def test_load_news_corpus_hub_id_offline() -> None:
    with pytest.raises(OSError, match="offline"):
        load_news_corpus(HUB_CORPUS)


# --------------------------------------------------------------------------- tokenizers


def test_load_tokenizer_auto_is_bundled_wordpiece(bert_tokenizer: Any) -> None:
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert bert_tokenizer.convert_tokens_to_ids(tokens) == [0, 100, 101, 102, 103]
    assert [bert_tokenizer.pad_token, bert_tokenizer.unk_token, bert_tokenizer.cls_token,
            bert_tokenizer.sep_token, bert_tokenizer.mask_token] == tokens
    assert bert_tokenizer.is_fast
    assert len(bert_tokenizer) == 3000
    assert Path(bert_tokenizer.name_or_path) == bundled_model_dir()
    assert bert_tokenizer("Hello World")["input_ids"][0] == 101  # lower-cases, starts with [CLS]


def test_bundled_tokenizer_folder_matches_the_models(bert_tokenizer: Any) -> None:
    separate = load_tokenizer(str(bundled_tokenizer_dir("bert")))
    assert separate.get_vocab() == bert_tokenizer.get_vocab()


def test_load_tokenizer_roberta_family(roberta_tokenizer: Any) -> None:
    ids = roberta_tokenizer.convert_tokens_to_ids(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    assert ids == [0, 1, 2, 3, len(roberta_tokenizer) - 1]
    assert len(roberta_tokenizer) == 3000
    assert Path(roberta_tokenizer.name_or_path) == bundled_model_dir("roberta")


def test_load_tokenizer_rejects_unknown_family() -> None:
    with pytest.raises(ValueError, match=r"family must be one of \('bert', 'roberta'\), got 'gpt'"):
        load_tokenizer("auto", family="gpt")


def test_load_tokenizer_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="holds no tokenizer.json"):
        load_tokenizer(str(tmp_path))


# --------------------------------------------------------------------------- models


def test_load_mlm_model_auto_is_bundled(mlm_model: Any, bert_tokenizer: Any) -> None:
    assert type(mlm_model).__name__ == "TFBertForMaskedLM"
    assert mlm_model.config.vocab_size == len(bert_tokenizer)
    assert mlm_model.config.pad_token_id == bert_tokenizer.pad_token_id
    batch = bert_tokenizer(["the [MASK] rose."], return_tensors="tf")
    logits = mlm_model(**batch).logits
    assert tuple(logits.shape) == (1, batch["input_ids"].shape[1], len(bert_tokenizer))
    assert np.isfinite(logits.numpy()).all()


def test_load_mlm_model_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mlm_model(str(tmp_path / "no-model"))


def test_load_mlm_model_without_config(tmp_path: Path) -> None:
    shutil.copy(bundled_model_dir() / "tf_model.h5", tmp_path)
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        load_mlm_model(str(tmp_path))


def test_load_mlm_model_without_weights(tmp_path: Path) -> None:
    shutil.copy(bundled_model_dir() / "config.json", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"has no weights \(tf_model.h5"):
        load_mlm_model(str(tmp_path))


def test_load_mlm_model_corrupt_config(tmp_path: Path) -> None:
    shutil.copy(bundled_model_dir() / "tf_model.h5", tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "bert", "vocab_size": 60', encoding="utf-8")
    with pytest.raises(ValueError, match="is corrupt"):
        load_mlm_model(str(tmp_path))


def test_load_mlm_model_binary_config(tmp_path: Path) -> None:
    shutil.copy(bundled_model_dir() / "tf_model.h5", tmp_path)
    (tmp_path / "config.json").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ValueError, match="is corrupt"):
        load_mlm_model(str(tmp_path))


def test_load_mlm_model_config_without_model_type(tmp_path: Path) -> None:
    shutil.copy(bundled_model_dir() / "tf_model.h5", tmp_path)
    config = json.loads((bundled_model_dir() / "config.json").read_text(encoding="utf-8"))
    del config["model_type"]
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ValueError, match="has no 'model_type'"):
        load_mlm_model(str(tmp_path))


def test_load_mlm_model_hub_id_offline() -> None:
    with pytest.raises(OSError, match="offline"):
        load_mlm_model(HUB_MODEL)


def test_load_model_and_tokenizer_auto(capsys: pytest.CaptureFixture[str]) -> None:
    model, tokenizer = load_model_and_tokenizer("auto")
    assert model.config.vocab_size == len(tokenizer)
    assert tokenizer.mask_token_id == 103
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["model", "tokenizer"]


def _tiny_bert(vocab_size: int, pad_token_id: int = 0) -> Any:
    from transformers import BertConfig, TFBertForMaskedLM

    config = BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32, pad_token_id=pad_token_id)
    return TFBertForMaskedLM(config)


def test_check_compatible_tokenizer_larger_than_model(roberta_tokenizer: Any) -> None:
    model = _tiny_bert(vocab_size=len(roberta_tokenizer) - 1000)
    expected = rf"the tokenizer has {len(roberta_tokenizer)} tokens but the model's vocabulary has {len(roberta_tokenizer) - 1000}"
    with pytest.raises(ValueError, match=expected):
        check_compatible(roberta_tokenizer, model)


def test_check_compatible_one_token_too_many(bert_tokenizer: Any) -> None:
    with pytest.raises(ValueError, match="different checkpoints"):
        check_compatible(bert_tokenizer, _tiny_bert(vocab_size=len(bert_tokenizer) - 1))
    check_compatible(bert_tokenizer, _tiny_bert(vocab_size=len(bert_tokenizer)))


def test_load_mlm_model_reads_a_safetensors_only_folder(tmp_path: Path) -> None:
    model = _tiny_bert(vocab_size=60)
    model(model.dummy_inputs)
    model.save_pretrained(str(tmp_path), safe_serialization=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_mlm_model(str(tmp_path))
    strip = re.compile(r"^[^/]*/")  # the model's own name scope differs between two instances
    assert [strip.sub("", w.name) for w in loaded.weights] == [strip.sub("", w.name) for w in model.weights]
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(loaded.weights, model.weights))


def test_load_model_and_tokenizer_passes_the_family_and_checks_the_pair(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    model, tokenizer = load_model_and_tokenizer("auto", family="roberta")
    assert type(tokenizer).__name__ == "RobertaTokenizerFast" and tokenizer.mask_token == "<mask>"
    assert model.config.model_type == "roberta"
    # A folder whose model is smaller than its tokenizer: a mixed-up pair is refused.
    small = _tiny_bert(vocab_size=100)
    small(small.dummy_inputs)
    small.save_pretrained(str(tmp_path))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(bundled_model_dir() / name, tmp_path)  # the bundled tokenizer: 3,000 tokens
    with pytest.raises(ValueError, match="different checkpoints"):
        load_model_and_tokenizer(str(tmp_path))


def test_check_compatible_wordpiece_with_smaller_model(bert_tokenizer: Any, roberta_tokenizer: Any) -> None:
    model = _tiny_bert(vocab_size=len(roberta_tokenizer), pad_token_id=roberta_tokenizer.pad_token_id)
    with pytest.raises(ValueError, match="different checkpoints"):
        check_compatible(bert_tokenizer, model)
    check_compatible(roberta_tokenizer, model)  # same size and padding id: accepted


def test_check_compatible_catches_a_padding_id_mismatch(roberta_tokenizer: Any) -> None:
    model = _tiny_bert(vocab_size=len(roberta_tokenizer), pad_token_id=0)
    with pytest.raises(ValueError, match=rf"pads with id {roberta_tokenizer.pad_token_id} but the model expects 0"):
        check_compatible(roberta_tokenizer, model)


def test_check_compatible_needs_a_mask_token(mlm_model: Any) -> None:
    from transformers import AutoTokenizer

    no_mask = AutoTokenizer.from_pretrained(str(bundled_model_dir()), mask_token=None)
    assert no_mask.mask_token_id is None
    with pytest.raises(ValueError, match="has no mask token"):
        check_compatible(no_mask, mlm_model)


def test_check_compatible_accepts_the_bundled_pair(mlm_model: Any, bert_tokenizer: Any) -> None:
    check_compatible(bert_tokenizer, mlm_model)


# --------------------------------------------------------------------------- small helpers


@pytest.mark.parametrize("top_k", [0, -1, "5", 2.0, True])
def test_fill_mask_pipeline_validates_top_k(mlm_model: Any, bert_tokenizer: Any, top_k: Any) -> None:
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        resources.fill_mask_pipeline(mlm_model, bert_tokenizer, top_k=top_k)


def test_perplexity_from_loss() -> None:
    assert perplexity_from_loss(0.0) == 1.0
    assert perplexity_from_loss(math.log(20.0)) == pytest.approx(20.0)
    assert perplexity_from_loss(1e6) == math.inf


def test_bundled_locations_exist() -> None:
    assert (bundled_corpus_dir() / "train.csv").is_file()
    assert (bundled_model_dir() / "config.json").is_file()
    assert (bundled_tokenizer_dir("roberta") / "tokenizer.json").is_file()
    assert os.path.basename(bundled_tokenizer_dir("bert")) == "bert-wordpiece-news"
