"""One test per known stack bug (/work/shared/notes/stack.md) that can reach a user of the pinned stack.

Each test runs the situation a learner meets and checks that the series' workaround still holds,
so an upgrade that brings a bug back fails here instead of in a notebook.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlm_tutorial.masking import IGNORE_INDEX, mask_tokens
from mlm_tutorial.resources import bundled_model_dir, fill_mask_pipeline, load_mlm_model


def test_torch_is_not_installed() -> None:
    """The premise of the tests below: the series runs on TensorFlow alone."""
    assert importlib.util.find_spec("torch") is None
    with pytest.raises(ImportError):
        import torch  # noqa: F401


# --------------------------------------------------------------------------- (a) PyTorch-format safetensors


def _pytorch_name(tf_name: str) -> str:
    """TF weight name -> PyTorch BERT parameter name.

    ``tf_bert_for_masked_lm/bert/encoder/layer_._0/attention/self/query/kernel:0`` becomes
    ``bert.encoder.layer.0.attention.self.query.weight``; ``.../mlm___cls/predictions/bias:0`` becomes
    ``cls.predictions.bias``.
    """
    name = name_without_model(tf_name)
    name = name.replace("mlm___cls/", "cls/")
    name = re.sub(r"layer_\._(\d+)", r"layer.\1", name)
    parts = name.split("/")
    renames = {"kernel": "weight", "gamma": "weight", "beta": "bias", "embeddings": "weight"}
    parts[-1] = renames.get(parts[-1], parts[-1])
    return ".".join(parts)


def name_without_model(tf_name: str) -> str:
    return tf_name.split(":")[0].split("/", 1)[1]


def _write_pytorch_checkpoint(model: Any, folder: Path) -> dict[str, np.ndarray]:
    """Save ``model``'s weights the way a PyTorch ``save_pretrained`` would: PT names, PT layouts."""
    from safetensors.numpy import save_file

    tensors = {}
    for weight in model.weights:
        value = weight.numpy()
        if name_without_model(weight.name).endswith("kernel"):
            value = value.T  # Dense kernels are (in, out) in TF and (out, in) in PyTorch
        tensors[_pytorch_name(weight.name)] = np.ascontiguousarray(value)
    folder.mkdir()
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    shutil.copy(bundled_model_dir() / "config.json", folder / "config.json")
    return tensors


def test_pytorch_safetensors_folder_loads_into_the_tf_class(mlm_model: Any, tmp_path: Path) -> None:
    """transformers 4.55-4.57.6: TypeError 'builtins.safe_open' object is not iterable (issue 40028)."""
    from safetensors import safe_open
    from transformers import TFBertForMaskedLM

    folder = tmp_path / "pytorch-checkpoint"
    tensors = _write_pytorch_checkpoint(mlm_model, folder)
    last = mlm_model.config.num_hidden_layers - 1
    assert {"bert.embeddings.word_embeddings.weight", "cls.predictions.bias",
            f"bert.encoder.layer.{last}.output.LayerNorm.weight"} <= set(tensors)
    with safe_open(str(folder / "model.safetensors"), framework="np") as archive:
        assert archive.metadata() == {"format": "pt"}
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]  # no TF weights

    loaded = load_mlm_model(str(folder))
    assert isinstance(loaded, TFBertForMaskedLM)
    source = {name_without_model(w.name): w.numpy() for w in mlm_model.weights}
    for weight in loaded.weights:
        np.testing.assert_array_equal(weight.numpy(), source[name_without_model(weight.name)], err_msg=weight.name)

    ids = np.array([[101, 2000, 103, 2100, 2200, 102]])
    expected = mlm_model(input_ids=ids, training=False).logits.numpy()
    np.testing.assert_allclose(loaded(input_ids=ids, training=False).logits.numpy(), expected, atol=1e-5)
    # A model of the same shape that was NOT given the weights predicts something else entirely.
    fresh = TFBertForMaskedLM(mlm_model.config)
    assert not np.allclose(fresh(input_ids=ids, training=False).logits.numpy(), expected, atol=1e-2)


# --------------------------------------------------------------------------- (b) fill-mask pipeline without torch


def test_fill_mask_pipeline_works_without_torch(mlm_model: Any, bert_tokenizer: Any) -> None:
    """transformers 4.51-4.57.6: pipeline("fill-mask", model=tf_model) raises NameError: name 'torch'."""
    assert importlib.util.find_spec("torch") is None
    pipe = fill_mask_pipeline(mlm_model, bert_tokenizer, top_k=5)
    assert pipe.framework == "tf"
    results = pipe(f"the government said the {bert_tokenizer.mask_token} would rise next year.")
    assert len(results) == 5
    for result in results:
        assert set(result) == {"score", "token", "token_str", "sequence"}
        assert 0.0 <= result["score"] <= 1.0
        assert 0 <= result["token"] < len(bert_tokenizer)
        assert result["token_str"] == bert_tokenizer.decode([result["token"]])
        assert bert_tokenizer.mask_token not in result["sequence"]
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) <= 1.0 + 1e-6
    assert len({r["token"] for r in results}) == 5


def test_plain_pipeline_call_still_needs_the_workaround(mlm_model: Any, bert_tokenizer: Any) -> None:
    """Documents why fill_mask_pipeline exists: without torch_dtype/dtype=None the factory touches torch.

    When this starts to pass without error, the pinned transformers no longer has the bug and the
    workaround (and this test) can go.
    """
    from transformers import pipeline

    with pytest.raises(NameError, match="torch"):
        pipeline("fill-mask", model=mlm_model, tokenizer=bert_tokenizer, framework="tf")


# --------------------------------------------------------------------------- (c) collator defaults to PyTorch


def _examples(tokenizer: Any) -> list[dict[str, list[int]]]:
    texts = ["the company reported higher profits this year.", "the striker scored twice in the final.",
             "voters went to the polls on thursday.", "a new phone went on sale in april."] * 3
    return [tokenizer(text) for text in texts]


def test_collator_defaults_to_pytorch_tensors(bert_tokenizer: Any) -> None:
    """All 4.x: DataCollatorForLanguageModeling's default return_tensors is "pt", which needs torch."""
    from transformers import DataCollatorForLanguageModeling

    collator = DataCollatorForLanguageModeling(bert_tokenizer)
    assert collator.return_tensors == "pt"
    with pytest.raises(ImportError, match="PyTorch"):
        collator(_examples(bert_tokenizer))


def test_collator_with_tf_tensors_works_without_torch(bert_tokenizer: Any) -> None:
    import tensorflow as tf
    from transformers import DataCollatorForLanguageModeling

    collator = DataCollatorForLanguageModeling(bert_tokenizer, mlm_probability=0.15, return_tensors="tf",
                                               mask_replace_prob=1.0, random_replace_prob=0.0, seed=7)
    examples = _examples(bert_tokenizer)
    batch = collator(examples)
    assert isinstance(batch["input_ids"], tf.Tensor) and isinstance(batch["labels"], tf.Tensor)
    ids, labels = batch["input_ids"].numpy(), batch["labels"].numpy()
    original = np.array(bert_tokenizer.pad([{"input_ids": e["input_ids"]} for e in examples])["input_ids"])
    assert ids.shape == labels.shape == original.shape
    chosen = labels != IGNORE_INDEX
    assert chosen.any() and not chosen.all()
    np.testing.assert_array_equal(labels[chosen], original[chosen])
    assert (ids[chosen] == bert_tokenizer.mask_token_id).all()  # mask_replace_prob=1.0: only [MASK]
    np.testing.assert_array_equal(ids[~chosen], original[~chosen])
    special = np.isin(original, bert_tokenizer.all_special_ids)  # [CLS], [SEP], [PAD]
    assert not chosen[special].any()


# --------------------------------------------------------------------------- (d) whole-word masking


def test_collator_has_no_whole_word_switch_we_rely_on(bert_tokenizer: Any) -> None:
    """4.54.1 has no whole_word_mask argument; 4.57.6 has one that raises. Either way: TypeError."""
    from transformers import DataCollatorForLanguageModeling

    with pytest.raises(TypeError):
        DataCollatorForLanguageModeling(bert_tokenizer, return_tensors="tf", whole_word_mask=True)


def test_our_whole_word_masking_keeps_word_pieces_together(bert_tokenizer: Any, news_corpus: Any) -> None:
    from mlm_tutorial.chunking import chunk_texts

    ids = chunk_texts(news_corpus["test"]["text"][:8], bert_tokenizer, chunk_size=64)
    masked, labels = mask_tokens(ids, bert_tokenizer, mlm_probability=0.3, strategy="mask_only", seed=3,
                                 whole_word=True)
    chosen = labels.numpy() != IGNORE_INDEX
    tokens = np.array(bert_tokenizer.convert_ids_to_tokens(ids.ravel().tolist())).reshape(ids.shape)
    continues = np.char.startswith(tokens, "##")
    special = np.isin(ids, bert_tokenizer.all_special_ids)
    # "##" pieces right after a word piece (after [CLS], a word cut by the chunk boundary starts anew).
    follows = continues[:, 1:] & ~special[:, :-1]
    assert follows.sum() > 20  # the text has plenty of split words to test on
    # A "##" piece is chosen exactly when the piece before it is: whole words, never half words.
    np.testing.assert_array_equal(chosen[:, 1:][follows], chosen[:, :-1][follows])
    assert chosen[:, 1:][follows].any()  # and some split words were in fact masked
    assert (masked.numpy()[chosen] == bert_tokenizer.mask_token_id).all()


# --------------------------------------------------------------------------- (e) Keras 2 through tf-keras


def test_tf_keras_is_keras_2_after_setup(tf_ready: None) -> None:
    import tensorflow as tf
    import tf_keras

    assert tf.keras.__name__.startswith("tf_keras.")  # not the keras 3 package
    assert tf_keras.__version__.startswith("2.")
    assert tf.keras.optimizers.Adam is tf_keras.optimizers.Adam
    assert tf.keras.Model is tf_keras.Model


def test_transformers_model_compiles_and_trains_with_a_tf_keras_optimizer(tf_ready: None, bert_tokenizer: Any) -> None:
    """With Keras 3 active this fails: "Could not interpret optimizer identifier"."""
    import tf_keras

    model = load_mlm_model("auto")  # a private copy: it gets trained
    model.compile(optimizer=tf_keras.optimizers.Adam(learning_rate=1e-3), run_eagerly=True)  # no tracing: quick
    ids = np.array([bert_tokenizer("the market rose on monday after the report.")["input_ids"]] * 4)
    masked, labels = mask_tokens(ids, bert_tokenizer, strategy="mask_only", mlm_probability=0.3, seed=1)
    before = [w.numpy().copy() for w in model.trainable_weights[:3]]
    history = model.fit({"input_ids": masked, "labels": labels}, epochs=1, batch_size=4, verbose=0)
    loss = history.history["loss"][0]
    assert np.isfinite(loss) and loss > 0
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights[:3]))
    assert isinstance(model.optimizer, tf_keras.optimizers.Optimizer)


def test_requirements_pin_the_checked_transformers() -> None:
    """These regressions were checked on the pinned version; the venv must hold exactly that one."""
    import transformers

    root = bundled_model_dir().parents[2]
    pins = dict(line.split("==") for line in (root / "requirements.txt").read_text(encoding="utf-8").splitlines()
                if "==" in line and not line.startswith("#"))
    assert transformers.__version__ == pins["transformers"]
    config = json.loads((bundled_model_dir() / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "bert"
