"""The one place that knows where the corpus, tokenizers and models come from.

Introduced in notebook 00. Every loader takes ``"auto"``, a Hugging Face Hub id or a local
folder. ``"auto"`` means the Hub (``SetFit/bbc-news``, ``distilbert-base-uncased``) when it can
be reached and ``HF_HUB_OFFLINE`` is not set, and otherwise the assets bundled in ``data/``.
``MLM_TUTORIAL_DATA`` and ``MLM_TUTORIAL_MODEL`` override what ``"auto"`` means. Each loader
prints one line saying what it chose and why.
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlm_tutorial.paths import data_dir, display_path

HUB_CORPUS = "SetFit/bbc-news"
HUB_MODELS = {"bert": "distilbert-base-uncased", "roberta": "distilroberta-base"}
DATA_ENV = "MLM_TUTORIAL_DATA"
MODEL_ENV = "MLM_TUTORIAL_MODEL"
ROBERTA_ENV = "MLM_TUTORIAL_ROBERTA"
#: The variables that change what ``"auto"`` loads (corpus, model, RoBERTa-family model).
CHOICE_ENVS = (DATA_ENV, MODEL_ENV, ROBERTA_ENV)
FAMILIES = ("bert", "roberta")

#: ``SetFit/bbc-news`` label ids.
LABELS: dict[int, str] = {0: "tech", 1: "business", 2: "sport", 3: "entertainment", 4: "politics"}

#: The weight files ``TFAutoModelForMaskedLM.from_pretrained`` reads from a folder (a ``.index.json`` when sharded).
WEIGHT_FILES = ("tf_model.h5", "tf_model.h5.index.json", "model.safetensors", "model.safetensors.index.json")

_hub_cache: dict[tuple[str, str], tuple[bool, str]] = {}


def bundled_corpus_dir() -> Path:
    """``data/news``: the project's own news corpus (``train.csv``, ``test.csv``).

    The loaders' offline default (notebook 00 on).
    """
    return data_dir() / "news"


def bundled_model_dir(family: str = "bert") -> Path:
    """The small bundled masked LM of a family, with its tokenizer: ``data/models/bert-mini-news``
    (BERT, WordPiece) or ``data/models/roberta-mini-news`` (RoBERTa, byte-level BPE).

    The loaders' offline default from notebook 00 on; notebook 05 also names it directly.
    """
    _check_family(family)
    return data_dir() / "models" / f"{family}-mini-news"


def bundled_tokenizer_dir(family: str = "bert") -> Path:
    """The bundled tokenizer of a family: WordPiece (``bert``) or byte-level BPE (``roberta``).

    What ``make assets`` trains; the loaders use the copy saved beside each bundled model
    (:func:`bundled_model_dir`), so a model and its tokenizer always come from one folder.
    """
    _check_family(family)
    name = "bert-wordpiece-news" if family == "bert" else "roberta-bpe-news"
    return data_dir() / "tokenizers" / name


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}.")


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "0", "false", "no", "off")


def hub_status(timeout: float = 3.0) -> tuple[bool, str]:
    """Can the Hugging Face Hub be reached? Returns ``(reachable, reason)``.

    Never hangs: ``HF_HUB_OFFLINE`` answers at once, otherwise one TCP connection to the Hub's
    host (``HF_ENDPOINT``'s host and port, a mirror's too) is tried for at most ``timeout`` seconds
    (name resolution included). The answer is remembered for the rest of the process.

    Used by every loader of :mod:`mlm_tutorial.resources` (notebook 00 on).
    """
    if _truthy(os.environ.get("HF_HUB_OFFLINE")):
        return False, "HF_HUB_OFFLINE is set"
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = endpoint.hostname or "huggingface.co"
    try:
        port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    except ValueError:  # a port that is no number: let the Hub client report the address
        port = 443
    key = (f"{host}:{port}", os.environ.get("HF_HUB_OFFLINE", ""))
    if key in _hub_cache:
        return _hub_cache[key]
    outcome: dict[str, Any] = {}

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome["ok"] = True
        except OSError as error:
            outcome["error"] = error

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    if outcome.get("ok"):
        result = (True, f"{host} is reachable")
    elif "error" in outcome:
        result = (False, f"{host} cannot be reached: {outcome['error']}")
    else:
        result = (False, f"{host} did not answer within {timeout:g} s")
    _hub_cache[key] = result
    return result


@dataclass(frozen=True)
class Choice:
    """What a loader resolved a name to: a local folder or a Hub id, and why.

    Used by every loader of :mod:`mlm_tutorial.resources` (notebook 00 on).
    """

    kind: str
    location: str
    is_local: bool
    reason: str

    def announce(self) -> None:
        where = f"local folder {display_path(self.location)}" if self.is_local else f"Hub {self.location}"
        print(f"{self.kind}: {where} ({self.reason})")


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def resolve(kind: str, name: str, env_var: str, hub_id: str, bundled: Path) -> Choice:
    """Turn ``"auto"``, a Hub id or a folder into a :class:`Choice` (no download happens here).

    Used by every loader of :mod:`mlm_tutorial.resources` (notebook 00 on).
    """
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"{kind} name must be 'auto', a Hub id or a folder path, got {type(name).__name__}.")
    name = os.fspath(name)
    if not name.strip():
        raise ValueError(f"{kind} name is empty. Use 'auto', a Hub id such as {hub_id!r}, or a folder path.")
    if name == "auto":
        override = os.environ.get(env_var, "").strip()
        if override and override != "auto":
            try:
                choice = resolve(kind, override, env_var, hub_id, bundled)
            except (OSError, ValueError) as error:
                raise type(error)(f"{env_var} is set to {override!r}: {error} To use 'auto' instead, unset "
                                  f"{env_var}.") from None
            return Choice(kind, choice.location, choice.is_local, f"{env_var} is set")
        reachable, why = hub_status()
        if reachable:
            return Choice(kind, hub_id, False, f"'auto' and {why}")
        return Choice(kind, str(bundled), True, f"'auto' and {why}: using the bundled assets")
    path = Path(name).expanduser()
    if path.is_dir():
        return Choice(kind, str(path.resolve()), True, "a local folder was given")
    if path.exists():
        raise ValueError(f"{kind} {name!r} is a file, not a folder. Pass the folder that contains it.")
    if _looks_like_path(name):
        raise FileNotFoundError(
            f"{kind} folder {name!r} does not exist. Check the path, or use 'auto' for the bundled "
            f"assets in {bundled}."
        )
    reachable, why = hub_status()
    if not reachable:
        cacheable = kind in ("model", "tokenizer")  # a corpus is not looked up in the model cache
        if cacheable and in_hub_cache(name):
            return Choice(kind, name, False, f"{why}, but a download of it is in the Hugging Face cache")
        cached = " and has no copy of it in the Hugging Face cache" if cacheable else ""
        raise OSError(
            f"{kind} {name!r} is not a local folder, and this machine is offline ({why}){cached}, so it "
            f"cannot come from the Hugging Face Hub. Use 'auto' for the bundled assets ({bundled}), "
            "pass a local folder, or connect to the network and unset HF_HUB_OFFLINE."
        )
    return Choice(kind, name, False, why)


def in_hub_cache(repo_id: str) -> bool:
    """Whether the local Hugging Face cache holds a download of the model repository ``repo_id``.

    transformers loads such a copy without a network, so :func:`resolve` lets an explicit Hub id
    through when the machine is offline and the cache has it. Used by every model and tokenizer
    loader of :mod:`mlm_tutorial.resources` (notebook 00 on).
    """
    from huggingface_hub import constants

    snapshots = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    return snapshots.is_dir() and any((snapshot / name).is_file() for snapshot in snapshots.iterdir()
                                      for name in ("config.json", "tokenizer_config.json"))


# --------------------------------------------------------------------------- corpus


def _read_split(folder: Path, split: str) -> "Any":
    import pandas as pd

    path = folder / f"{split}.csv"
    if not path.is_file():
        present = sorted(p.name for p in folder.iterdir())
        raise FileNotFoundError(
            f"corpus folder {folder} has no {split}.csv (it holds {present}). A corpus folder needs "
            "train.csv and test.csv with columns text,label,label_text."
        )
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    return frame


def clean_corpus_frame(frame: "Any", origin: str) -> "Any":
    """Check a corpus table's schema and drop empty articles, saying how many.

    Empty or whitespace-only articles are dropped (not refused): a real scrape has a few, and
    one empty row should not stop a lesson. ``label_text`` is filled from ``label`` when absent, so
    labels must then be the five categories 0-4; with a ``label_text`` column any integer labels pass.
    Raises ``ValueError`` naming the columns present when ``text`` or ``label`` is missing, and the
    first bad label when one is not a whole number (or has no name).

    Used by :func:`load_news_corpus` (notebook 01).
    """
    import pandas as pd

    columns = list(frame.columns)
    if "text" not in columns:
        raise ValueError(
            f"{origin} has no 'text' column; its columns are {columns}. Rename the column that holds "
            "the articles to 'text'."
        )
    if "label" not in columns:
        raise ValueError(
            f"{origin} has no 'label' column; its columns are {columns}. Add integer labels "
            f"({LABELS}) as 'label'."
        )
    frame = frame.copy()
    text = frame["text"]
    empty = text.isna() | text.astype(str).str.strip().eq("")
    if empty.any():
        print(f"{origin}: dropped {int(empty.sum())} empty article(s)")
        frame = frame.loc[~empty]
    if frame.empty:
        raise ValueError(
            f"{origin} holds no article with text ({len(text)} row(s), all empty or whitespace-only). "
            "Fill its 'text' column with the articles."
        )
    frame["text"] = frame["text"].astype(str)
    labels = pd.to_numeric(frame["label"], errors="coerce")
    whole = labels.notna() & labels.eq(labels.round())
    if not whole.all():
        bad = frame.loc[~whole, "label"].tolist()[0]  # a plain Python value, printed as the file shows it
        expected = "integers" if "label_text" in columns else "integers 0-4"
        raise ValueError(f"{origin}: column 'label' must hold {expected}, found {bad!r}.")
    frame["label"] = labels.astype("int64")
    if "label_text" not in columns:
        unnamed = ~frame["label"].isin(list(LABELS))
        if unnamed.any():
            raise ValueError(
                f"{origin}: label {int(frame.loc[unnamed, 'label'].iloc[0])} is none of the five categories {LABELS}. "
                "Use those labels, or add a 'label_text' column that names the categories of your own labels."
            )
        frame["label_text"] = frame["label"].map(LABELS)
    names = frame["label_text"]
    nameless = names.isna() | names.astype(str).str.strip().eq("")
    if nameless.any():
        raise ValueError(
            f"{origin}: label {int(frame.loc[nameless, 'label'].iloc[0])} has no name in column 'label_text' "
            f"({int(nameless.sum())} row(s)). Write the category's name into those rows."
        )
    frame["label_text"] = names.astype(str)
    return frame[["text", "label", "label_text"]].reset_index(drop=True)


def load_news_corpus(source: str = "auto") -> "Any":
    """Load the news corpus as a ``datasets.DatasetDict`` with splits ``train`` and ``test``.

    Columns are ``text``, ``label``, ``label_text`` with ``SetFit/bbc-news``'s label ids
    (0 tech, 1 business, 2 sport, 3 entertainment, 4 politics). ``source`` is ``"auto"``, a Hub
    dataset id, or a folder with ``train.csv`` and ``test.csv``.

    Introduced in notebook 01.
    """
    import datasets

    choice = resolve("news corpus", source, DATA_ENV, HUB_CORPUS, bundled_corpus_dir())
    choice.announce()
    if choice.is_local:
        folder = Path(choice.location)
        splits = {}
        for split in ("train", "test"):
            frame = clean_corpus_frame(_read_split(folder, split), f"{folder.name}/{split}.csv")
            splits[split] = datasets.Dataset.from_pandas(frame, preserve_index=False)
        return datasets.DatasetDict(splits)
    loaded = datasets.load_dataset(choice.location)
    result = {}
    for split in ("train", "test"):
        if split not in loaded:
            raise ValueError(f"Hub dataset {choice.location!r} has no {split!r} split; it has {list(loaded)}.")
        frame = clean_corpus_frame(loaded[split].to_pandas(), f"{choice.location}[{split}]")
        result[split] = datasets.Dataset.from_pandas(frame, preserve_index=False)
    return datasets.DatasetDict(result)


# --------------------------------------------------------------------------- tokenizers and models


def _hub_default(family: str) -> str:
    _check_family(family)
    return HUB_MODELS[family]


def _bundled_for(family: str) -> Path:
    _check_family(family)
    return bundled_model_dir(family)


def load_tokenizer(name: str = "auto", family: str = "bert") -> "Any":
    """Load a fast tokenizer from ``"auto"``, a Hub id or a folder.

    ``family`` only matters for ``"auto"``: ``"bert"`` (WordPiece, ``[CLS]``/``[SEP]``; offline the
    bundled model's tokenizer) or ``"roberta"`` (byte-level BPE, ``<s>``/``</s>``; offline the
    bundled RoBERTa-style tokenizer). ``MLM_TUTORIAL_MODEL`` overrides ``"auto"`` for ``"bert"``.

    Introduced in notebook 01.
    """
    from transformers import AutoTokenizer

    env = MODEL_ENV if family == "bert" else ROBERTA_ENV
    choice = resolve("tokenizer", name, env, _hub_default(family), _bundled_for(family))
    choice.announce()
    if choice.is_local:
        folder = Path(choice.location)
        if not any((folder / f).is_file() for f in ("tokenizer.json", "vocab.txt", "vocab.json")):
            raise FileNotFoundError(
                f"tokenizer folder {folder} holds no tokenizer.json, vocab.txt or vocab.json. "
                "Save one there with tokenizer.save_pretrained(folder)."
            )
        _check_config(folder, required=False)
    return AutoTokenizer.from_pretrained(choice.location, use_fast=True, trust_remote_code=False)


def _check_config(folder: Path, required: bool = True) -> dict[str, Any] | None:
    path = folder / "config.json"
    if not path.is_file():
        if required:
            raise FileNotFoundError(
                f"model folder {folder} has no config.json. Save the model there with "
                "model.save_pretrained(folder), or pass the folder that holds config.json."
            )
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{path} is corrupt (not valid JSON: {error}). Re-save the model with "
            "model.save_pretrained(...) or copy a fresh config.json."
        ) from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise ValueError(f"{path} has no 'model_type'; it is not a transformers config. Re-save the model.")
    return config


def load_mlm_model(name: str = "auto", family: str = "bert") -> "Any":
    """Load a TensorFlow masked LM (``TFAutoModelForMaskedLM``) from ``"auto"``, a Hub id or a folder.

    A folder may hold TF weights (``tf_model.h5``) or a PyTorch-format ``model.safetensors``; both
    load into the TF class without torch. Remote code is never trusted. ``family`` only matters
    for ``"auto"``: ``"bert"`` (``distilbert-base-uncased`` online, ``MLM_TUTORIAL_MODEL`` overrides)
    or ``"roberta"`` (``distilroberta-base`` online, ``MLM_TUTORIAL_ROBERTA`` overrides).

    Introduced in notebook 02.
    """
    from transformers import TFAutoModelForMaskedLM

    env = MODEL_ENV if family == "bert" else ROBERTA_ENV
    choice = resolve("model", name, env, _hub_default(family), bundled_model_dir(family))
    choice.announce()
    if choice.is_local:
        folder = Path(choice.location)
        _check_config(folder)
        if not any((folder / f).is_file() for f in WEIGHT_FILES):
            raise FileNotFoundError(
                f"model folder {folder} has no weights ({', '.join(WEIGHT_FILES)}). "
                "Save the model with model.save_pretrained(folder)."
            )
    return TFAutoModelForMaskedLM.from_pretrained(choice.location, trust_remote_code=False)


def check_compatible(tokenizer: "Any", model: "Any") -> None:
    """Raise ``ValueError`` when a tokenizer cannot drive a model's masked-LM head.

    Catches the classic mix-up of a tokenizer and a model from different checkpoints: ids the
    tokenizer can produce must exist in the model's embedding table, and there must be a mask token.

    Used by :func:`load_model_and_tokenizer` (notebook 00); the evaluation helpers' errors point to it.
    """
    vocab = int(model.config.vocab_size)
    if len(tokenizer) > vocab:
        raise ValueError(
            f"the tokenizer has {len(tokenizer)} tokens but the model's vocabulary has {vocab}: they come "
            "from different checkpoints. Load both from the same name or folder."
        )
    if tokenizer.mask_token_id is None:
        raise ValueError(
            f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r} has no mask token, so it cannot be used for "
            "masked language modeling. Use a masked-LM tokenizer (BERT, DistilBERT, RoBERTa), loaded from the "
            "same name or folder as the model."
        )
    model_pad = getattr(model.config, "pad_token_id", None)
    if model_pad is not None and tokenizer.pad_token_id is not None and model_pad != tokenizer.pad_token_id:
        raise ValueError(
            f"the tokenizer pads with id {tokenizer.pad_token_id} but the model expects {model_pad}: they come "
            "from different checkpoints (a BERT-style and a RoBERTa-style one?). Load both from the same name or folder."
        )


def load_model_and_tokenizer(name: str = "auto", family: str = "bert") -> tuple["Any", "Any"]:
    """Load a masked LM and its tokenizer from the same place and check that they fit. Introduced in notebook 00."""
    model = load_mlm_model(name, family=family)
    tokenizer = load_tokenizer(name, family=family)
    check_compatible(tokenizer, model)
    return model, tokenizer


def fill_mask_pipeline(model: "Any", tokenizer: "Any", top_k: int = 5) -> "Any":
    """A ``fill-mask`` pipeline for a TF model that works without torch installed.

    transformers 4.51-4.55 touch ``torch`` in the pipeline factory unless ``torch_dtype=None`` is
    passed (``dtype=None`` from 4.56); this passes whichever the installed version takes.

    Introduced in notebook 00.
    """
    import transformers
    from transformers import pipeline

    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive int, got {top_k!r}.")
    version = tuple(int(part) for part in transformers.__version__.split(".")[:2])
    dtype_arg = {"dtype": None} if version >= (4, 56) else {"torch_dtype": None}
    return pipeline("fill-mask", model=model, tokenizer=tokenizer, framework="tf", top_k=top_k, **dtype_arg)


def perplexity_from_loss(mean_loss: float) -> float:
    """``exp`` of a mean cross-entropy in nats; ``inf`` when it overflows.

    Used by :func:`~mlm_tutorial.evaluation.unigram_baseline` (notebook 03) and
    :func:`~mlm_tutorial.evaluation.masked_lm_score` (notebook 04).
    """
    try:
        return math.exp(mean_loss)
    except OverflowError:
        return math.inf
