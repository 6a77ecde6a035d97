"""Tests of mlm_tutorial.training (notebook 04) on the bundled model and tiny random models."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from mlm_tutorial.setup import notebook_setup

notebook_setup(verbose=False)

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from mlm_tutorial import training as T  # noqa: E402
from mlm_tutorial.evaluation import fixed_masks, masked_lm_score  # noqa: E402
from mlm_tutorial.masking import IGNORE_INDEX  # noqa: E402
from mlm_tutorial.resources import (  # noqa: E402
    bundled_model_dir,
    load_mlm_model,
    load_news_corpus,
)


@pytest.fixture(scope="module")
def tokenizer(bert_tokenizer):
    """The bundled WordPiece tokenizer; the tests that need RoBERTa's ask for ``roberta_tokenizer``."""
    return bert_tokenizer


@pytest.fixture(scope="module")
def corpus():
    return load_news_corpus("auto")


@pytest.fixture(scope="module")
def business(corpus, tokenizer):
    return T.domain_chunks(corpus, tokenizer, "business", chunk_size=32)


@pytest.fixture(scope="module")
def bert():
    return load_mlm_model("auto")


def no_dropout_bundled():
    from transformers import TFAutoModelForMaskedLM

    return TFAutoModelForMaskedLM.from_pretrained(str(bundled_model_dir()), hidden_dropout_prob=0.0,
                                                  attention_probs_dropout_prob=0.0)


def tiny_model(kind: str, tok, layers: int = 2):
    """A random masked LM of the given family with ``layers`` layers, sized for tests."""
    import transformers as tr

    common = dict(vocab_size=len(tok), pad_token_id=tok.pad_token_id)
    if kind == "distilbert":
        config = tr.DistilBertConfig(dim=32, n_layers=layers, n_heads=2, hidden_dim=64, max_position_embeddings=64,
                                     dropout=0.0, attention_dropout=0.0, **common)
        model = tr.TFDistilBertForMaskedLM(config)
    elif kind == "roberta":
        config = tr.RobertaConfig(hidden_size=32, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=64,
                                  max_position_embeddings=70, hidden_dropout_prob=0.0,
                                  attention_probs_dropout_prob=0.0, bos_token_id=tok.bos_token_id,
                                  eos_token_id=tok.eos_token_id, **common)
        model = tr.TFRobertaForMaskedLM(config)
    else:
        config = tr.BertConfig(hidden_size=32, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=64,
                               max_position_embeddings=64, hidden_dropout_prob=0.0,
                               attention_probs_dropout_prob=0.0, **common)
        model = tr.TFBertForMaskedLM(config)
    model(model.dummy_inputs)
    return model


def first_batch(rows, tok, batch_size=4, seed=42):
    return next(iter(T.training_dataset(rows, tok, batch_size, 3, seed=seed)))


# --------------------------------------------------------------------------- profiles


def test_profile_default_is_quick_and_env_selects(monkeypatch):
    monkeypatch.delenv(T.PROFILE_ENV, raising=False)
    assert T.get_profile().name == "quick"
    monkeypatch.setenv(T.PROFILE_ENV, "full")
    assert T.get_profile().name == "full"
    assert T.get_profile("quick").name == "quick"
    monkeypatch.setenv(T.PROFILE_ENV, "huge")
    with pytest.raises(ValueError, match="huge.*MLM_TUTORIAL_PROFILE.*full"):
        T.get_profile()


@pytest.mark.parametrize("width", [80, 50])
def test_profile_description_has_one_entry_per_setting_within_the_width(width):
    for profile in T.PROFILES.values():
        lines = profile.describe(width).splitlines()
        assert max(map(len, lines)) <= width
        entries = [line for line in lines if not line.startswith(" " * 16)]  # the rest continue a long value
        assert [entry.split()[0] for entry in entries] == list(dataclasses.asdict(profile))
        text = " ".join(profile.describe(width).split())
        assert f"expected_time {' '.join(profile.expected_time.split())}" in text  # wrapped at spaces only
    with pytest.raises(ValueError, match="width must be at least 32, got 10"):
        T.PROFILES["quick"].describe(10)
    with pytest.raises(TypeError, match="width must be an int"):
        T.PROFILES["quick"].describe(80.0)


def test_profiles_keep_warmup_short():
    for profile in T.PROFILES.values():
        assert 0 < profile.warmup_ratio < 0.5
        assert profile.expected_time and profile.batch_size >= 1 and profile.epochs >= 1


# --------------------------------------------------------------------------- data


def test_category_label():
    assert T.category_label("business") == 1
    assert T.category_label("Sport ") == 2
    assert T.category_label(4) == 4
    with pytest.raises(ValueError, match="'finance'.*business"):
        T.category_label("finance")
    with pytest.raises(ValueError, match="category id 9"):
        T.category_label(9)
    with pytest.raises(TypeError):
        T.category_label(True)


def test_domain_chunks_are_packed_business_text(corpus, tokenizer, business):
    assert business.category == "business" and business.label == 1
    assert business.train_rows.shape[1] == 32 and business.validation_rows.shape[1] == 32
    assert not (business.train_rows == tokenizer.pad_token_id).any()
    assert (business.train_rows[:, 0] == tokenizer.cls_token_id).all()
    assert business.train_tokens == business.train_rows.size
    # Held-out rows come from the test split: the first test article's opening ids start them.
    test_text = [t for t, lab in zip(corpus["test"]["text"], corpus["test"]["label"]) if lab == 1][0]
    opening = tokenizer(test_text, add_special_tokens=False)["input_ids"][:10]
    assert business.validation_rows[0, 1:11].tolist() == opening
    with pytest.raises(ValueError, match="chunk_size"):
        T.domain_chunks(corpus, tokenizer, "business", chunk_size=4)
    with pytest.raises(ValueError, match="DatasetDict with a 'test' split"):
        T.domain_chunks({"train": corpus["train"]}, tokenizer)
    with pytest.raises(ValueError, match="columns 'text' and 'label'"):
        T.domain_chunks({"train": [], "test": []}, tokenizer)


def test_category_chunks_all_five(corpus, tokenizer):
    rows = T.category_chunks(corpus, tokenizer, "test", chunk_size=64, max_chunks=3)
    assert list(rows) == ["tech", "business", "sport", "entertainment", "politics"]
    assert all(r.shape == (3, 64) for r in rows.values())
    with pytest.raises(ValueError, match="split"):
        T.category_chunks(corpus, tokenizer, "validation")
    # Only a category too short for one chunk is left out; other problems are reported as they are.
    limit = tokenizer.model_max_length
    with pytest.raises(ValueError, match=f"chunk_size {limit + 1} is above the tokenizer's model_max_length {limit}"):
        T.category_chunks(corpus, tokenizer, "test", chunk_size=limit + 1)


def test_steps_per_epoch_validates():
    assert T.steps_per_epoch(90, 16) == 5
    with pytest.raises(ValueError, match="batch_size 20 is larger than the 10"):
        T.steps_per_epoch(10, 20)
    with pytest.raises(TypeError, match="batch_size"):
        T.steps_per_epoch(10, 2.5)


def _originals(batch):
    ids, labels = batch["input_ids"].numpy(), batch["labels"].numpy()
    return np.where(labels != IGNORE_INDEX, labels, ids)


def test_training_dataset_is_keyed_on_the_step(tokenizer, business):
    rows = business.train_rows[:12]
    full = list(T.training_dataset(rows, tokenizer, 4, 9, seed=7))
    again = list(T.training_dataset(rows, tokenizer, 4, 9, seed=7))
    resumed = list(T.training_dataset(rows, tokenizer, 4, 9, seed=7, start_step=5))
    assert len(full) == 9 and len(resumed) == 4
    for a, b in zip(full, again):
        assert (a["input_ids"].numpy() == b["input_ids"].numpy()).all()
    for a, b in zip(full[5:], resumed):
        assert (a["labels"].numpy() == b["labels"].numpy()).all()
        assert (a["input_ids"].numpy() == b["input_ids"].numpy()).all()
    # Each epoch (3 steps of 4) visits all 12 rows once, in a new order, with fresh masks.
    for epoch in range(3):
        seen = np.concatenate([_originals(b) for b in full[3 * epoch:3 * epoch + 3]])
        assert sorted(map(tuple, seen)) == sorted(map(tuple, rows))
    assert not (_originals(full[0]) == _originals(full[3])).all()
    assert not (full[0]["labels"].numpy() == full[3]["labels"].numpy()).all()
    masked_share = np.mean(np.concatenate([b["labels"].numpy().ravel() for b in full]) != IGNORE_INDEX)
    assert 0.08 < masked_share < 0.22
    other_seed = next(iter(T.training_dataset(rows, tokenizer, 4, 9, seed=8)))
    assert not (other_seed["labels"].numpy() == full[0]["labels"].numpy()).all()


def test_training_dataset_validates(tokenizer, business):
    with pytest.raises(ValueError, match="start_step 5 must be below total_steps 5"):
        T.training_dataset(business.train_rows, tokenizer, 4, 5, start_step=5)
    with pytest.raises(ValueError, match="rows must be a non-empty 2-D"):
        T.training_dataset(business.train_rows[0], tokenizer, 4, 5)
    with pytest.raises(ValueError, match="strategy"):
        T.training_dataset(business.train_rows, tokenizer, 4, 5, strategy="random")


def test_evaluation_dataset_uses_fixed_masks(tokenizer, business):
    data = T.evaluation_dataset(business.validation_rows, tokenizer, batch_size=8, seed=5)
    ids = np.concatenate([b["input_ids"].numpy() for b in data])
    expected, _ = fixed_masks(business.validation_rows, tokenizer, seed=5)
    assert (ids == expected).all()
    again = np.concatenate([b["input_ids"].numpy() for b in data])
    assert (ids == again).all()


# --------------------------------------------------------------------------- schedule and optimizer


def test_plan_training_counts_steps():
    plan = T.plan_training(90, 16, 12, 3e-4, warmup_ratio=0.1)
    assert (plan.steps_per_epoch, plan.total_steps, plan.warmup_steps) == (5, 60, 6)
    assert plan.warmup_steps < plan.total_steps and plan.fit_epochs == 12
    assert "10% of training" in plan.describe()
    assert T.plan_training(90, 16, 12, 3e-4, checkpoint_every=20).fit_epochs == 3
    with pytest.raises(ValueError, match="checkpoint_every=7 does not divide the 60"):
        T.plan_training(90, 16, 12, 3e-4, checkpoint_every=7)
    with pytest.raises(ValueError, match="warmup_ratio"):
        T.plan_training(90, 16, 12, 3e-4, warmup_ratio=1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        T.plan_training(90, 16, 12, 3.0)


def test_plan_training_cuts_epochs_to_max_steps():
    uncut = T.plan_training(90, 16, 12, 3e-4, max_steps=60)  # 5 steps per epoch: 60 steps fit exactly
    assert (uncut.epochs, uncut.total_steps, uncut.epochs_asked) == (12, 60, 12)
    assert "asked for" not in uncut.describe()
    cut = T.plan_training(90, 16, 12, 3e-4, max_steps=23)
    assert (cut.epochs, cut.total_steps, cut.warmup_steps, cut.epochs_asked) == (4, 20, 2, 12)
    assert "4 epochs = 20 steps (12 asked for, cut to respect max_steps)" in cut.describe()
    assert T.plan_training(90, 16, 12, 3e-4, max_steps=3).total_steps == 5  # never less than one epoch
    with pytest.raises(ValueError, match="max_steps must be at least 1"):
        T.plan_training(90, 16, 12, 3e-4, max_steps=0)


def test_quick_profile_keeps_the_bundled_run_and_caps_a_large_corpus():
    quick = T.PROFILES["quick"]
    bundled = T.plan_training(181, quick.batch_size, quick.epochs, 1e-3, max_steps=quick.max_steps)
    assert (bundled.epochs, bundled.total_steps) == (20, 220)  # notebook 04's run with the bundled corpus
    large = T.plan_training(1075, quick.batch_size, quick.epochs, 5e-5, max_steps=quick.max_steps)
    assert large.total_steps <= quick.max_steps and large.epochs == quick.max_steps // large.steps_per_epoch
    assert T.PROFILES["full"].max_steps is None


def test_peak_learning_rate_depends_on_the_model_size():
    for profile in T.PROFILES.values():
        assert T.peak_learning_rate(profile, 866_360) == T.SMALL_MODEL_LEARNING_RATE  # the bundled models
        assert T.peak_learning_rate(profile, 66_362_880) == profile.learning_rate <= 1e-4  # distilbert-base
    assert T.peak_learning_rate(T.PROFILES["quick"], T.SMALL_MODEL_PARAMETERS) == 5e-5
    with pytest.raises(TypeError, match="RunProfile"):
        T.peak_learning_rate("quick", 866_360)
    with pytest.raises(ValueError, match="parameters must be at least 1"):
        T.peak_learning_rate(T.PROFILES["quick"], 0)


def test_schedule_warms_up_then_decays_to_zero():
    schedule = T.make_schedule(1e-3, total_steps=100, warmup_steps=10)
    values = T.schedule_values(schedule)
    assert values.shape == (100,)
    assert np.argmax(values) == 9 and values[9] == pytest.approx(1e-3)
    assert values[0] == pytest.approx(1e-4)
    assert (np.diff(values[:10]) > 0).all() and (np.diff(values[9:]) < 0).all()
    assert 0 < values[-1] < 1e-4
    assert float(schedule(100)) == 0.0
    # training past total_steps (fit called again) stays at 0, never a negative learning rate
    np.testing.assert_array_equal(np.asarray(schedule(tf.range(100, 120)), dtype=np.float64), np.zeros(20))
    assert schedule.get_config() == {"peak": 1e-3, "warmup_steps": 10, "total_steps": 100}


def test_schedule_refuses_a_warmup_that_never_ends():
    # The best-known TF tutorial's numbers: 1,000 warm-up steps for 313 training steps.
    with pytest.raises(ValueError, match=r"warmup_steps \(1000\) must be smaller than total_steps \(313\).*31"):
        T.make_schedule(2e-5, total_steps=313, warmup_steps=1000)
    with pytest.raises(ValueError, match=r"warmup_steps \(10\) must be smaller than total_steps \(10\)"):
        T.make_schedule(1e-3, total_steps=10, warmup_steps=10)
    T.make_schedule(1e-3, total_steps=10, warmup_steps=9)  # one step of decay is allowed
    with pytest.raises(TypeError, match="learning_rate"):
        T.make_schedule("fast", 10, 1)


def test_make_optimizer():
    optimizer = T.make_optimizer(T.make_schedule(1e-3, 10, 1), weight_decay=0.02)
    assert isinstance(optimizer, tf_keras.optimizers.AdamW)
    assert optimizer.weight_decay == pytest.approx(0.02)
    with pytest.raises(ValueError, match="weight_decay"):
        T.make_optimizer(1e-3, weight_decay=-1)
    with pytest.raises(TypeError, match="schedule"):
        T.make_optimizer("adam")


def test_fused_adamw_steps_like_keras_adamw():
    # Same schedule, decay and exclusions; a dense weight, an excluded bias and a sparse (embedding) gradient.
    def run(optimizer):
        tf.random.set_seed(0)
        weights = [tf.Variable(tf.random.normal([6, 4]), name="kernel"), tf.Variable(tf.ones([4]), name="bias"),
                   tf.Variable(tf.random.normal([5, 4]), name="embeddings")]
        for step in range(4):
            dense = tf.random.stateless_normal([6, 4], seed=[step, 1])
            bias = tf.random.stateless_normal([4], seed=[step, 2])
            rows = tf.IndexedSlices(tf.random.stateless_normal([2, 4], seed=[step, 3]), tf.constant([1, 3]),
                                    tf.constant([5, 4]))
            optimizer.apply_gradients(zip([dense, bias, rows], weights))
        return [w.numpy() for w in weights]

    schedule = T.make_schedule(1e-2, 4, 1)
    fused = T.make_optimizer(schedule, weight_decay=0.1)
    keras = tf_keras.optimizers.AdamW(learning_rate=schedule, weight_decay=0.1, clipnorm=1.0)
    keras.exclude_from_weight_decay(var_names=["LayerNorm", "layer_norm", "bias"])
    assert type(fused) is not tf_keras.optimizers.AdamW
    tf.random.set_seed(0)
    start = tf.random.normal([6, 4]).numpy()
    fused_weights, keras_weights = run(fused), run(keras)
    assert np.abs(fused_weights[0] - start).max() > 1e-3  # the steps did move the weights
    for a, b in zip(fused_weights, keras_weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- hardware


def _devices(gpus: int, cpus: int = 1) -> Any:
    """A stand-in for ``tf.config.list_physical_devices``/``list_logical_devices`` on a machine with these."""
    def listed(kind: str | None = None) -> list[SimpleNamespace]:
        counts = {"GPU": gpus, "CPU": cpus}
        return [SimpleNamespace(name=f"/device:{kind}:{i}", device_type=kind) for i in range(counts.get(kind, 0))]
    return listed


def test_mixed_precision_is_float32_without_a_gpu_and_float16_with_one(monkeypatch, capsys):
    try:
        monkeypatch.setattr(tf.config, "list_physical_devices", _devices(gpus=0))
        assert T.configure_mixed_precision() == "float32"
        assert tf_keras.mixed_precision.global_policy().name == "float32"
        assert capsys.readouterr().out == "dtype policy: float32 (no GPU)\n"
        monkeypatch.setattr(tf.config, "list_physical_devices", _devices(gpus=2))
        assert T.configure_mixed_precision() == "mixed_float16"
        assert tf_keras.mixed_precision.global_policy().name == "mixed_float16"
        assert capsys.readouterr().out == "dtype policy: mixed_float16 (2 GPU(s) found)\n"
        assert T.configure_mixed_precision(enable=False) == "float32"
        assert tf_keras.mixed_precision.global_policy().name == "float32"
        assert capsys.readouterr().out == "dtype policy: float32 (2 GPU(s) found, mixed precision disabled)\n"
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")
    with pytest.raises(TypeError, match="enable must be True or False"):
        T.configure_mixed_precision(enable="yes")


def test_choose_strategy_on_one_cpu_and_on_one_gpu(monkeypatch, capsys):
    monkeypatch.setattr(T, "_tpu_strategy", lambda: None)  # no TPU answers (it is tried only on Colab)
    monkeypatch.setattr(tf.config, "list_logical_devices", _devices(gpus=0, cpus=1))
    strategy = T.choose_strategy()
    assert strategy is tf.distribute.get_strategy() and strategy.num_replicas_in_sync == 1
    assert capsys.readouterr().out == "strategy: _DefaultDistributionStrategy with 1 replica(s) (CPU only)\n"
    monkeypatch.setattr(tf.config, "list_logical_devices", _devices(gpus=1, cpus=1))
    assert T.choose_strategy() is tf.distribute.get_strategy()
    assert capsys.readouterr().out.endswith("with 1 replica(s) (one GPU)\n")
    with pytest.raises(TypeError, match="verbose must be True or False"):
        T.choose_strategy(verbose=1)


MIRROR_SCRIPT = textwrap.dedent("""
    import json
    from mlm_tutorial.setup import prepare_environment
    prepare_environment()
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from mlm_tutorial.setup import notebook_setup
    notebook_setup(verbose=False)
    import numpy as np, tf_keras
    from transformers import BertConfig, TFBertForMaskedLM
    from mlm_tutorial import training as T
    from mlm_tutorial.resources import load_news_corpus, load_tokenizer
    tok = load_tokenizer("auto")
    data = T.domain_chunks(load_news_corpus("auto"), tok, "business", 32)
    config = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0, pad_token_id=tok.pad_token_id)
    strategy = T.choose_strategy(verbose=False)

    def run(chosen):
        with chosen.scope():
            tf.keras.utils.set_random_seed(0)
            model = TFBertForMaskedLM(config)
            model(model.dummy_inputs)
            start = [w.numpy().copy() for w in model.weights]
            trainer = T.build_trainer(model, tf_keras.optimizers.SGD(0.5))
        val = T.evaluation_dataset(data.validation_rows[:8], tok, batch_size=8)
        before = trainer.evaluate(val, verbose=0)
        history = trainer.fit(T.training_dataset(data.train_rows[:16], tok, 8, 2, seed=3), epochs=1,
                              steps_per_epoch=2, verbose=0)
        change = max(float(np.abs(a - b.numpy()).max()) for a, b in zip(start, model.weights))
        return model, before, history.history["loss"][0], int(trainer.optimizer.iterations.numpy()), change

    mirrored = run(strategy)
    single = run(tf.distribute.get_strategy())
    diff = max(float(np.abs(a - b).max()) for a, b in zip(mirrored[0].get_weights(), single[0].get_weights()))
    print("RESULT " + json.dumps({
        "strategy": type(strategy).__name__, "replicas": strategy.num_replicas_in_sync,
        "val": [mirrored[1], single[1]], "loss": [mirrored[2], single[2]], "iterations": mirrored[3],
        "change": mirrored[4], "weight_diff": diff}))
""")


def test_fast_path_on_two_replicas_matches_one_device():
    env = dict(os.environ, HF_HUB_OFFLINE="1", TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", MIRROR_SCRIPT], capture_output=True, text=True, env=env,
                          timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["strategy"] == "MirroredStrategy" and result["replicas"] == 2
    assert result["iterations"] == 2 and result["change"] > 1e-4
    # The loss is the mean over the masked tokens of the whole global batch, not a mean of replica means.
    assert result["val"][0] == pytest.approx(result["val"][1], rel=1e-6)
    assert result["loss"][0] == pytest.approx(result["loss"][1], rel=1e-6)
    assert result["weight_diff"] < 1e-6


# --------------------------------------------------------------------------- the fast path


@pytest.mark.parametrize("kind", ["bundled-bert", "distilbert", "roberta"])
def test_fast_loss_and_gradients_equal_the_stock_model(kind, bert, tokenizer, roberta_tokenizer, corpus):
    tok = roberta_tokenizer if kind == "roberta" else tokenizer
    model = bert if kind == "bundled-bert" else tiny_model(kind, tok)
    rows = T.domain_chunks(corpus, tok, "business", chunk_size=32).train_rows[:8]
    batch = first_batch(rows, tok, batch_size=4)
    trainer = T.fast_masked_lm(model)
    fast = trainer.batch_loss(batch)
    stock = model(input_ids=batch["input_ids"], labels=batch["labels"], training=False).loss
    assert float(fast) == pytest.approx(float(stock[0]), rel=1e-5)
    if kind == "bundled-bert":
        return
    with tf.GradientTape(persistent=True) as tape:
        fast = trainer.batch_loss(batch, training=True)
        stock = model(input_ids=batch["input_ids"], labels=batch["labels"], training=True).loss[0]
    variables = model.trainable_variables
    for variable, a, b in zip(variables, tape.gradient(fast, variables), tape.gradient(stock, variables)):
        np.testing.assert_allclose(tf.convert_to_tensor(a).numpy(), tf.convert_to_tensor(b).numpy(),
                                   rtol=1e-4, atol=1e-6, err_msg=variable.name)


@pytest.mark.parametrize("kind", ["bert", "distilbert", "roberta"])
@pytest.mark.parametrize("layers", [1, 3])
def test_last_layer_at_chosen_positions_equals_the_full_encoder(kind, layers, tokenizer, roberta_tokenizer):
    tok = roberta_tokenizer if kind == "roberta" else tokenizer
    model = tiny_model(kind, tok, layers=layers)
    ids = tf.constant([[5, 60, 61, 62, 63, 64, 65, 6], [5, 70, 71, 72, 6, 0, 0, 0]]) + 100
    ids = tf.where(tf.constant([[1] * 8, [1] * 5 + [0] * 3]) == 1, ids, tok.pad_token_id)
    attention = tf.cast(ids != tok.pad_token_id, tf.int32)
    full = model(input_ids=ids, attention_mask=attention, output_hidden_states=True).hidden_states[-1]
    lower, last = T.encoder_stages(model)
    hidden, mask = lower(ids, attention, False)
    positions = tf.constant([[1, 4, 6], [0, 2, 3]])
    chosen = last(tf.gather(hidden, positions, batch_dims=1), hidden, mask, False)
    assert chosen.shape == (2, 3, 32)
    expected = tf.gather(full, positions, batch_dims=1).numpy()
    np.testing.assert_allclose(chosen.numpy(), expected, atol=1e-5)
    keep = tf.constant([[True, False, True], [False, True, True]])
    kept = last(tf.gather(hidden, positions, batch_dims=1), hidden, mask, False, keep)
    assert kept.shape == (4, 32)
    np.testing.assert_allclose(kept.numpy(), expected[keep.numpy()], atol=1e-5)


def test_fixed_shape_gathering_for_tpus(tokenizer, business):
    model = tiny_model("bert", tokenizer)
    batch = first_batch(business.train_rows[:8], tokenizer, batch_size=4)
    exact = T.fast_masked_lm(model)
    fixed = T.fast_masked_lm(model, max_masked_fraction=0.5)
    assert float(fixed.batch_loss(batch)) == pytest.approx(float(exact.batch_loss(batch)), rel=1e-6)
    logits, targets, weights = fixed.masked_logits(batch)
    assert logits.shape == (4 * 16, model.config.vocab_size)
    assert int(tf.reduce_sum(weights)) == int(tf.reduce_sum(tf.cast(batch["labels"] != IGNORE_INDEX, tf.int32)))
    # A small cap keeps the first masked tokens of each row only, and still trains.
    capped = T.fast_masked_lm(model, max_masked_fraction=0.05)
    assert capped.masked_logits(batch)[0].shape[0] == 4 * 2
    trainer = T.build_trainer(model, tf_keras.optimizers.SGD(0.1), max_masked_fraction=0.5)
    history = trainer.fit(T.training_dataset(business.train_rows[:8], tokenizer, 4, 2), epochs=1,
                          steps_per_epoch=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    with pytest.raises(ValueError, match="max_masked_fraction"):
        T.fast_masked_lm(model, max_masked_fraction=1.5)


def test_masked_lm_parts_give_the_models_own_logits(bert):
    encoder, head = T.masked_lm_parts(bert)
    ids = tf.constant([[101, 2000, 103, 2001, 102]]) % bert.config.vocab_size
    hidden = encoder(input_ids=ids, training=False)[0]
    np.testing.assert_allclose(head(hidden[0]).numpy(), bert(input_ids=ids).logits[0].numpy(), atol=1e-5)


def test_fast_path_rejects_what_it_cannot_handle():
    with pytest.raises(TypeError, match="transformers TF masked LM"):
        T.fast_masked_lm(object())
    other = type("Other", (), {"base_model_prefix": "x", "x": object()})()
    with pytest.raises(TypeError, match="fast_head=False"):
        T.masked_lm_parts(other)
    with pytest.raises(TypeError, match="fast_head=False"):
        T.encoder_stages(other)
    with pytest.raises(TypeError, match="fast_head"):
        T.build_trainer(object(), None, fast_head="yes")


def test_fast_trainer_trains_the_underlying_model(tmp_path, tokenizer, business):
    model = no_dropout_bundled()
    start = [w.numpy().copy() for w in model.trainable_weights]
    trainer = T.build_trainer(model, T.make_optimizer(T.make_schedule(1e-3, 2, 1)))
    assert T.underlying_model(trainer) is model
    history = trainer.fit(T.training_dataset(business.train_rows[:8], tokenizer, 4, 2), epochs=1, steps_per_epoch=2,
                          verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert int(trainer.optimizer.iterations.numpy()) == 2
    assert any(np.abs(a - b.numpy()).max() > 0 for a, b in zip(start, model.trainable_weights))
    model.save_pretrained(str(tmp_path))
    from transformers import TFAutoModelForMaskedLM

    again = TFAutoModelForMaskedLM.from_pretrained(str(tmp_path))
    ids = tf.constant(business.validation_rows[:2])
    np.testing.assert_allclose(again(input_ids=ids).logits.numpy(), model(input_ids=ids).logits.numpy(), atol=1e-5)
    # Full logits through the wrapper's call are the model's own.
    np.testing.assert_allclose(trainer({"input_ids": ids}).numpy(), model(input_ids=ids).logits.numpy(), atol=1e-6)


def test_validation_loss_is_the_token_weighted_masked_lm_score(bert, tokenizer, business):
    trainer = T.build_trainer(bert, T.make_optimizer(1e-4), fast_head=True)
    val_loss = trainer.evaluate(T.evaluation_dataset(business.validation_rows, tokenizer, batch_size=8), verbose=0)
    masked, labels = fixed_masks(business.validation_rows, tokenizer)
    assert val_loss == pytest.approx(masked_lm_score(bert, masked, labels).loss, rel=1e-5)


def test_stock_path_is_one_argument_away(tokenizer, business):
    model = no_dropout_bundled()
    trainer = T.build_trainer(model, T.make_optimizer(T.make_schedule(1e-3, 2, 1)), fast_head=False)
    assert trainer is model
    history = trainer.fit(T.training_dataset(business.train_rows[:8], tokenizer, 4, 2), epochs=1,
                          steps_per_epoch=2, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and int(model.optimizer.iterations.numpy()) == 2


# --------------------------------------------------------------------------- checkpoints and resuming


class StopAt(tf_keras.callbacks.Callback):
    """Simulates an interruption: stop as soon as the optimizer has made ``step`` steps."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) >= self.step:
            self.model.stop_training = True


def _notebook_cells(folder, plan, run_config=None):
    """Notebook 04's cells before ``restore()``: model, optimizer, trainer and checkpoint keeper."""
    model = no_dropout_bundled()
    optimizer = T.make_optimizer(T.schedule_for(plan))
    trainer = T.build_trainer(model, optimizer)
    keeper = T.CheckpointKeeper(folder, model, optimizer, plan.total_steps, plan.checkpoint_every,
                                run_config=run_config, verbose=False)
    return model, optimizer, trainer, keeper


def _run(folder, plan, rows, tok, callbacks=(), run_config=None):
    model, optimizer, trainer, keeper = _notebook_cells(folder, plan, run_config)
    seed = (run_config or {}).get("seed", 42)
    result = T.fit_mlm(trainer, plan, rows, tok, checkpoints=keeper, callbacks=callbacks, seed=seed, verbose=0)
    return model, optimizer, keeper, result


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, tokenizer, business):
    rows = business.train_rows[:8]
    plan = T.plan_training(len(rows), 4, 3, 1e-3, warmup_ratio=0.2)  # 2 steps per epoch, 6 steps
    straight, straight_opt, _, done = _run(tmp_path / "a", plan, rows, tokenizer)
    assert (done.start_step, done.end_step, done.epochs_run) == (0, 6, 3)
    assert done.tokens == 6 * 4 * 32

    _, cut_opt, keeper, cut = _run(tmp_path / "b", plan, rows, tokenizer, callbacks=[StopAt(3)])
    assert cut.end_step == 3 and keeper.latest_step() == 2  # the cut epoch saved nothing
    resumed, resumed_opt, _, rest = _run(tmp_path / "b", plan, rows, tokenizer)
    assert (rest.start_step, rest.end_step, rest.epochs_run) == (2, 6, 2)
    assert int(resumed_opt.iterations.numpy()) == int(straight_opt.iterations.numpy()) == 6
    assert float(resumed_opt.learning_rate) == pytest.approx(float(straight_opt.learning_rate))
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)

    # A finished run is not resumed: the next run starts from step 0 again.
    _, _, keeper, fresh = _run(tmp_path / "a", plan, rows, tokenizer)
    assert fresh.start_step == 0 and fresh.end_step == 6


def test_checkpoints_from_other_settings_are_not_restored(tmp_path, tokenizer, business, capsys):
    rows = business.train_rows[:8]
    plan = T.plan_training(len(rows), 4, 2, 1e-3)
    _run(tmp_path, plan, rows, tokenizer, callbacks=[StopAt(3)], run_config={"lr": 1})
    model = no_dropout_bundled()
    optimizer = T.make_optimizer(T.schedule_for(plan))
    keeper = T.CheckpointKeeper(tmp_path, model, optimizer, plan.total_steps, plan.checkpoint_every,
                                run_config={"lr": 2})
    assert keeper.latest_step() == 2
    assert keeper.restore() == 0
    assert f"come from other settings: moved them to {tmp_path}.set-aside-1" in capsys.readouterr().out
    assert keeper.latest_step() is None
    aside = Path(f"{tmp_path}.set-aside-1")  # the other run's files, kept
    assert json.loads((aside / "run.json").read_text(encoding="utf-8"))["lr"] == 1
    assert (aside / "ckpt-2.index").is_file()
    # A third setting: the second run's files go to a folder of their own, the first set-aside stays as it was.
    _run(tmp_path, plan, rows, tokenizer, callbacks=[StopAt(3)], run_config={"lr": 2})
    *_, third = _notebook_cells(tmp_path, plan, run_config={"lr": 3})
    third.verbose = True
    assert third.restore() == 0
    assert f"moved them to {tmp_path}.set-aside-2" in capsys.readouterr().out
    assert json.loads((aside / "run.json").read_text(encoding="utf-8"))["lr"] == 1
    second = Path(f"{tmp_path}.set-aside-2")
    assert json.loads((second / "run.json").read_text(encoding="utf-8"))["lr"] == 2
    assert (aside / "ckpt-2.index").is_file() and (second / "ckpt-2.index").is_file()


def test_restore_run_again_before_the_first_checkpoint_starts_afresh_in_place(tmp_path, capsys):
    plan = T.plan_training(8, 4, 2, 1e-3)
    _, _, _, keeper = _notebook_cells(tmp_path / "run", plan, run_config={"lr": 1})
    keeper.verbose = True
    for _ in range(3):  # the keeper's cell run again before training saved anything
        assert keeper.restore() == 0
    assert "moved them" not in capsys.readouterr().out
    assert not list(tmp_path.glob("run.set-aside-*"))
    assert json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))["lr"] == 1


def _lock(folder: Path, pid: int, host: str | None = None) -> None:
    """A run.lock as another process writes it."""
    import socket

    record = {"pid": pid, "host": host or socket.gethostname(), "since": "2026-11-25 10:00:00"}
    (folder / "run.lock").write_text(json.dumps(record), encoding="utf-8")


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


class LockSeen(tf_keras.callbacks.Callback):
    """Records whose pid run.lock names after each step."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder, self.pids = folder, []

    def on_train_batch_end(self, batch, logs=None):
        self.pids.append(json.loads((self.folder / "run.lock").read_text(encoding="utf-8"))["pid"])


def test_a_run_folder_trains_in_one_process_at_a_time(tmp_path, tokenizer, business):
    rows = business.train_rows[:8]
    plan = T.plan_training(len(rows), 4, 2, 1e-3)  # 2 steps per epoch, 4 steps
    folder = tmp_path / "run"
    _, optimizer, trainer, keeper = _notebook_cells(folder, plan)
    other = _sleeper()  # another kernel, training this run
    try:
        _lock(folder, other.pid)
        with pytest.raises(RuntimeError, match=rf"process {other.pid} on \S+ has been training this run since "
                                               r"2026-11-25 10:00:00 .*write over each other's checkpoints"):
            keeper.restore()
        assert sorted(path.name for path in folder.iterdir()) == ["run.lock"]  # nothing written or moved
        (folder / "run.lock").unlink()
        assert keeper.restore() == 0
        _lock(folder, other.pid)  # it starts training after this kernel's restore()
        with pytest.raises(RuntimeError, match=rf"process {other.pid} .* delete {folder / 'run.lock'}"):
            _notebook_fit(trainer, keeper, plan, rows, tokenizer, 0)
        assert int(optimizer.iterations.numpy()) == 0 and keeper.latest_step() is None
    finally:
        other.kill()
        other.wait()
    # That process has ended: its lock is taken over, this process holds it while it trains, and it is gone after.
    seen = LockSeen(folder)
    _notebook_fit(trainer, keeper, plan, rows, tokenizer, 0, callbacks=[seen])
    assert seen.pids == [os.getpid()] * 4
    assert keeper.latest_step() == 4 and not (folder / "run.lock").exists()


def test_a_lock_that_cannot_be_checked_is_respected_and_this_processs_own_is_not(tmp_path):
    plan = T.plan_training(8, 4, 2, 1e-3)
    folder = tmp_path / "run"
    *_, keeper = _notebook_cells(folder, plan)
    _lock(folder, os.getpid(), host="another-machine")  # a shared folder: its process cannot be probed
    with pytest.raises(RuntimeError, match="on another-machine has been training this run"):
        keeper.restore()
    (folder / "run.lock").write_text('{"pid": 12', encoding="utf-8")  # damaged
    with pytest.raises(RuntimeError, match=r"run.lock cannot be read, so another run may be training"):
        keeper.restore()
    _lock(folder, os.getpid())  # left by this kernel's own interrupted fit
    assert keeper.restore() == 0
    # At the end of fit only this process's own lock is removed, not one of the same pid on another machine.
    _lock(folder, os.getpid(), host="another-machine")
    keeper._release()
    assert (folder / "run.lock").is_file()
    _lock(folder, os.getpid())
    keeper._release()
    assert not (folder / "run.lock").exists()


def test_process_runs_without_psutil(monkeypatch):
    other = _sleeper()
    try:
        monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil fails
        assert T._process_runs(other.pid) is True
    finally:
        other.kill()
        other.wait()
    assert T._process_runs(other.pid) is False

    def no_kill(*args):
        raise AssertionError("os.kill ends a process on Windows; it must not be called there")

    monkeypatch.setattr(T.os, "kill", no_kill)
    monkeypatch.setattr(T.os, "name", "nt")
    assert T._process_runs(other.pid) is True  # cannot be told safely: the lock is respected


def test_run_name_separates_every_setting_that_changes_training():
    base = dict(model_name="/somewhere/data/models/bert-mini-news", category="business", profile="quick",
                fast_head=True, seed=42)
    name = T.run_name(**base)
    assert name == "04_bert-mini-news_business_quick_fast_seed42"
    assert T.run_name(**{**base, "model_name": "/elsewhere/bert-mini-news/"}) == name  # same model, same run
    assert T.run_name(**{**base, "model_name": "distilbert/distilbert-base-uncased"}).startswith(
        "04_distilbert-base-uncased_")
    assert T.run_name(**{**base, "model_name": "C:\\course\\bert-mini-news"}) == name
    changes = {"model_name": "roberta-mini-news", "category": "tech", "profile": "full", "fast_head": False,
               "seed": 7}
    names = {T.run_name(**{**base, key: value}) for key, value in changes.items()}
    assert len(names) == len(changes) and name not in names
    assert all("/" not in n and "\\" not in n for n in names)
    for key, bad in (("seed", "42"), ("seed", True), ("fast_head", 1), ("category", ""), ("model_name", None)):
        with pytest.raises(TypeError, match=key):
            T.run_name(**{**base, key: bad})
    with pytest.raises(ValueError, match="no name part"):
        T.run_name(**{**base, "model_name": "/"})


def test_a_run_with_another_seed_leaves_an_interrupted_run_resumable(tmp_path, tokenizer, business):
    """Notebook 04 names its checkpoint folder with ``run_name``: trying another SEED (or head) and coming
    back continues the interrupted run instead of starting it again."""
    rows = business.train_rows[:8]
    plan = T.plan_training(len(rows), 4, 2, 1e-3)
    settings = dict(model_name="bert-mini-news", category="business", profile="quick", fast_head=True)
    first = tmp_path / T.run_name(**settings, seed=42)
    _run(first, plan, rows, tokenizer, callbacks=[StopAt(3)], run_config={"seed": 42})
    _run(tmp_path / T.run_name(**settings, seed=7), plan, rows, tokenizer, run_config={"seed": 7})
    *_, resumed = _run(first, plan, rows, tokenizer, run_config={"seed": 42})
    assert resumed.start_step == 2 and resumed.end_step == 4


def _notebook_fit(trainer, keeper, plan, rows, tok, start_step, callbacks=()):
    """Notebook 04's training cell: data from ``start_step``, the keeper's callback, ``fit``."""
    data = T.training_dataset(rows, tok, plan.batch_size, plan.total_steps, start_step=start_step)
    return trainer.fit(data, epochs=plan.fit_epochs, steps_per_epoch=plan.checkpoint_every,
                       initial_epoch=start_step // plan.checkpoint_every,
                       callbacks=[*callbacks, keeper.callback()], verbose=0)


def test_training_cell_run_twice_is_refused_before_any_step(tmp_path, tokenizer, business):
    rows = business.train_rows[:8]
    plan = T.plan_training(len(rows), 4, 2, 1e-3)  # 2 steps per epoch, 4 steps
    model, optimizer, trainer, keeper = _notebook_cells(tmp_path, plan)
    start = keeper.restore()
    _notebook_fit(trainer, keeper, plan, rows, tokenizer, start)
    assert int(optimizer.iterations.numpy()) == 4 and keeper.latest_step() == 4
    trained = [w.copy() for w in model.get_weights()]

    # The same cell again: the optimizer is at 4, the cell starts at 0. Nothing trains, nothing is saved.
    with pytest.raises(RuntimeError, match="optimizer is at step 4, but restore.. said to start at step 0"):
        _notebook_fit(trainer, keeper, plan, rows, tokenizer, start)
    assert int(optimizer.iterations.numpy()) == 4 and keeper.latest_step() == 4
    for before, after in zip(trained, model.get_weights()):
        np.testing.assert_array_equal(before, after)

    # The restore cell again: the run has finished, but this model and optimizer have moved on, so starting
    # afresh would go on from there. It says so, and the finished run's checkpoints stay.
    with pytest.raises(RuntimeError, match="already made 4 steps.*cells again from the one that loads the model"):
        keeper.restore()
    assert keeper.latest_step() == 4

    # fit_mlm does both in one call and refuses the same way.
    with pytest.raises(RuntimeError, match="already made 4 steps"):
        T.fit_mlm(trainer, plan, rows, tokenizer, checkpoints=keeper, verbose=0)


def test_interrupted_training_cell_resumes_after_restore(tmp_path, tokenizer, business):
    rows = business.train_rows[:8]
    plan = T.plan_training(len(rows), 4, 3, 1e-3)  # 2 steps per epoch, 6 steps
    model, optimizer, trainer, keeper = _notebook_cells(tmp_path, plan)
    start = keeper.restore()
    _notebook_fit(trainer, keeper, plan, rows, tokenizer, start, callbacks=[StopAt(3)])
    assert int(optimizer.iterations.numpy()) == 3 and keeper.latest_step() == 2

    with pytest.raises(RuntimeError, match="at step 3, but restore.. said to start at step 0.*run the cell with "
                                           "restore.. again") as caught:
        _notebook_fit(trainer, keeper, plan, rows, tokenizer, start)
    # Starting over after an interruption needs the unfinished run's checkpoints gone; the message names them.
    assert f"to train from the start, delete {keeper.folder} (or restore() resumes" in str(caught.value)
    start = keeper.restore()
    assert start == 2 and int(optimizer.iterations.numpy()) == 2
    _notebook_fit(trainer, keeper, plan, rows, tokenizer, start)
    assert int(optimizer.iterations.numpy()) == 6 and keeper.latest_step() == 6


def test_checkpoint_callback_needs_restore_and_the_trainers_optimizer(tmp_path, tokenizer, business):
    rows = business.train_rows[:8]
    plan = T.plan_training(len(rows), 4, 1, 1e-3)
    model = no_dropout_bundled()
    optimizer = T.make_optimizer(T.schedule_for(plan))
    keeper = T.CheckpointKeeper(tmp_path, model, optimizer, plan.total_steps, plan.checkpoint_every, verbose=False)
    trainer = T.build_trainer(model, optimizer)
    with pytest.raises(RuntimeError, match="call restore.. before training"):
        _notebook_fit(trainer, keeper, plan, rows, tokenizer, 0)
    assert keeper.restore() == 0
    rebuilt = T.build_trainer(model, T.make_optimizer(T.schedule_for(plan)))
    with pytest.raises(RuntimeError, match="another optimizer than the one this CheckpointKeeper saves"):
        _notebook_fit(rebuilt, keeper, plan, rows, tokenizer, 0)
    assert int(optimizer.iterations.numpy()) == 0 and keeper.latest_step() is None


def test_checkpoint_keeper_expands_a_folder_under_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # a folder named "~" here must not be used
    keeper = T.CheckpointKeeper("~/runs/a", no_dropout_bundled(), T.make_optimizer(1e-3), 4, 2)
    assert keeper.folder == tmp_path / "home" / "runs" / "a"
    assert not (tmp_path / "~").exists()


def test_checkpoint_keeper_and_fit_validate(tmp_path, tokenizer, business):
    file = tmp_path / "file"
    file.write_text("x", encoding="utf-8")
    model = no_dropout_bundled()
    optimizer = T.make_optimizer(1e-3)
    with pytest.raises(ValueError, match="is a file"):
        T.CheckpointKeeper(file, model, optimizer, 4, 2)
    with pytest.raises(ValueError, match="every=3 must divide total_steps=4"):
        T.CheckpointKeeper(tmp_path / "c", model, optimizer, 4, 3)
    with pytest.raises(TypeError, match="optimizer"):
        T.CheckpointKeeper(tmp_path / "c", model, "adam", 4, 2)
    plan = T.plan_training(8, 4, 1, 1e-3)
    trainer = T.build_trainer(model, optimizer)
    with pytest.raises(ValueError, match="train_rows has 12 chunks but the plan was made for 8"):
        T.fit_mlm(trainer, plan, business.train_rows[:12], tokenizer)
    with pytest.raises(TypeError, match="plan"):
        T.fit_mlm(trainer, {"steps": 2}, business.train_rows[:8], tokenizer)


# --------------------------------------------------------------------------- saving


def test_save_model_is_atomic(tmp_path, bert, tokenizer, monkeypatch):
    target = tmp_path / "models" / "adapted"
    assert T.save_model(bert, tokenizer, target) == target.resolve()
    assert (target / "config.json").is_file() and (target / "tokenizer.json").is_file()
    original = (target / "config.json").read_text(encoding="utf-8")

    def broken(self, folder, *args, **kwargs):
        Path(folder, "tokenizer.json").write_text("{half", encoding="utf-8")
        raise OSError("disk full")

    monkeypatch.setattr(type(tokenizer), "save_pretrained", broken)
    with pytest.raises(OSError, match="disk full"):
        T.save_model(bert, tokenizer, target)
    monkeypatch.undo()
    # The previous complete model is still there, untouched, and nothing half-written is left around it.
    assert (target / "config.json").read_text(encoding="utf-8") == original
    assert json.loads((target / "tokenizer.json").read_text(encoding="utf-8"))
    assert sorted(p.name for p in target.parent.iterdir()) == ["adapted"]
    reloaded = load_mlm_model(str(target))
    ids = tf.constant([[tokenizer.cls_token_id, tokenizer.mask_token_id, tokenizer.sep_token_id]])
    np.testing.assert_allclose(reloaded(input_ids=ids).logits.numpy(), bert(input_ids=ids).logits.numpy(), atol=1e-6)

    # A failure on the first save leaves no folder at all.
    monkeypatch.setattr(type(tokenizer), "save_pretrained", broken)
    with pytest.raises(OSError):
        T.save_model(bert, tokenizer, tmp_path / "never")
    assert not (tmp_path / "never").exists()
    assert not list(tmp_path.glob(".never*"))


@contextlib.contextmanager
def _umask(mask):
    """Run the block under the process umask ``mask``, then put the old one back."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def test_save_model_is_readable_like_a_new_folder_and_clears_what_a_crash_left(tmp_path, bert, tokenizer):
    parent = tmp_path / "models"
    parent.mkdir()
    parent.chmod(0o755)
    with _umask(0o022):  # the usual setting, under which a new folder is 0o755
        target = T.save_model(bert, tokenizer, parent / "adapted")
    assert target.stat().st_mode & 0o777 == 0o755, "a saved model must be as readable as a folder made with mkdir"
    # A save interrupted between moving the old model aside and renaming the new one leaves both around it.
    leftovers = [parent / ".adapted.1a2b3c4d.old", parent / ".adapted.5e6f7a8b.partial"]
    for path in leftovers:
        path.mkdir()
    T.save_model(bert, tokenizer, target)
    assert sorted(p.name for p in parent.iterdir()) == ["adapted"]
    # Without a model in place, the one moved aside may be the only complete copy: it stays.
    shutil.rmtree(target)
    leftovers[0].mkdir()
    T.save_model(bert, tokenizer, target)
    assert leftovers[0].is_dir() and (target / "config.json").is_file()


def test_save_model_validates(tmp_path, bert, tokenizer):
    from mlm_tutorial.paths import data_dir

    with pytest.raises(ValueError, match="inside data/, which the series never writes to"):
        T.save_model(bert, tokenizer, data_dir() / "models" / "oops")
    with pytest.raises(ValueError, match="inside notebooks/, which the series never writes to"):
        T.save_model(bert, tokenizer, data_dir().parent / "notebooks" / "oops")
    with pytest.raises(ValueError, match="checkpoint folder .* is inside data/"):
        T.CheckpointKeeper(data_dir() / "ckpt", bert, None, total_steps=4, every=2)
    (tmp_path / "f").write_text("x", encoding="utf-8")
    with pytest.raises(ValueError, match="existing file"):
        T.save_model(bert, tokenizer, tmp_path / "f")
    with pytest.raises(TypeError, match="tokenizer"):
        T.save_model(bert, "tok", tmp_path / "m")
    with pytest.raises(TypeError, match="model"):
        T.save_model("model", tokenizer, tmp_path / "m")


# --------------------------------------------------------------------------- plots


def test_plots():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = T.schedule_values(T.make_schedule(1e-3, 20, 2))
    ax = T.plot_schedule(values, 2)
    assert len(ax.lines) == 2
    ax = T.plot_loss_curves({"loss": [3.0, 2.5], "val_loss": [3.1, 2.9]}, steps_per_epoch=5)
    assert [list(line.get_xdata()) for line in ax.lines] == [[5, 10], [5, 10]]
    training, validation = ax.lines
    assert training.get_marker() != validation.get_marker()
    assert training.get_linestyle() != validation.get_linestyle()
    plt.close("all")
    with pytest.raises(ValueError, match="values"):
        T.plot_schedule([], 1)
    with pytest.raises(ValueError, match="history"):
        T.plot_loss_curves({"val": [1.0]}, 5)


# --------------------------------------------------------------------------- warm-up rounding, schedule ends, loss weighting, resuming


def test_plan_training_rounds_the_warmup_to_the_nearest_step():
    # 15 steps (one epoch of 15 batches of 1): 25% is 3.75 steps -> 4; 10% is 1.5 steps -> 2 (round half to even).
    assert T.plan_training(15, 1, 1, 1e-3, warmup_ratio=0.25).warmup_steps == 4
    assert T.plan_training(15, 1, 1, 1e-3, warmup_ratio=0.08).warmup_steps == 1  # 1.2 steps -> 1
    assert T.plan_training(15, 1, 1, 1e-3, warmup_ratio=0.1).warmup_steps == 2


@pytest.mark.parametrize("rows, batch, epochs, ratio", [(10, 1, 1, 0.96), (12, 4, 1, 0.9), (16, 16, 2, 0.9)])
def test_plan_training_never_plans_a_warmup_as_long_as_training(rows, batch, epochs, ratio):
    plan = T.plan_training(rows, batch, epochs, 1e-3, warmup_ratio=ratio)
    assert round(ratio * plan.total_steps) >= plan.total_steps  # the ratio alone would round up to the whole run
    assert plan.warmup_steps == plan.total_steps - 1
    values = T.schedule_values(T.schedule_for(plan), plan.total_steps)
    assert max(values) == pytest.approx(1e-3) and values[-1] < 1e-3


def test_one_full_batch_is_enough_for_an_epoch():
    assert T.steps_per_epoch(16, 16) == 1
    plan = T.plan_training(16, 16, 3, 1e-3)
    assert (plan.steps_per_epoch, plan.total_steps) == (1, 3)


def test_training_loss_is_the_mean_over_all_masked_tokens_of_the_epoch(tokenizer, business):
    model = tiny_model("bert", tokenizer)
    batches = list(T.training_dataset(business.train_rows[:8], tokenizer, 4, 2, seed=3))
    counts = [int(np.sum(b["labels"].numpy() != IGNORE_INDEX)) for b in batches]
    assert counts[0] != counts[1]  # otherwise the token-weighted mean equals the mean of batch means
    # The stock model's loss is the mean over a batch's masked tokens; weight each batch by its count.
    means = [float(model(input_ids=b["input_ids"], labels=b["labels"], training=False).loss[0]) for b in batches]
    expected = sum(m * c for m, c in zip(means, counts)) / sum(counts)
    trainer = T.build_trainer(model, tf_keras.optimizers.SGD(0.0))  # a zero step: the weights stay as they are
    history = trainer.fit(T.training_dataset(business.train_rows[:8], tokenizer, 4, 2, seed=3), epochs=1,
                          steps_per_epoch=2, verbose=0)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    assert abs(expected - sum(means) / 2) > 1e-6 * expected  # the plain mean of batch means would differ


def test_masks_are_fresh_at_every_step_within_an_epoch(tokenizer, business):
    batches = list(T.training_dataset(business.train_rows[:12], tokenizer, 4, 3, seed=7))  # one epoch
    patterns = [b["labels"].numpy() != IGNORE_INDEX for b in batches]
    assert not np.array_equal(patterns[0], patterns[1]) and not np.array_equal(patterns[1], patterns[2])


def test_checkpoints_of_a_run_with_another_length_are_not_restored(tmp_path, tokenizer, capsys):
    model = tiny_model("bert", tokenizer)
    optimizer = T.make_optimizer(1e-3)
    first = T.CheckpointKeeper(tmp_path, model, optimizer, total_steps=4, every=2, verbose=False)
    assert first.restore() == 0
    optimizer.iterations.assign(2)
    first.save()
    assert first.latest_step() == 2
    longer = T.CheckpointKeeper(tmp_path, model, T.make_optimizer(1e-3), total_steps=8, every=2)
    assert longer.restore() == 0  # same run_config, but a run of 8 steps is not the run of 4 that was cut
    assert "other settings" in capsys.readouterr().out
    same = T.CheckpointKeeper(tmp_path, model, T.make_optimizer(1e-3), total_steps=8, every=2, verbose=False)
    assert same.restore() == 0 and same.latest_step() is None


def test_fit_mlm_counts_only_the_tokens_it_trained_on_and_checks_the_start(tokenizer, business):
    rows = business.train_rows[:8]
    plan = T.plan_training(len(rows), 4, 2, 1e-3)  # 2 steps per epoch, 4 steps
    model = tiny_model("bert", tokenizer)
    optimizer = T.make_optimizer(T.schedule_for(plan))
    trainer = T.build_trainer(model, optimizer)
    optimizer.iterations.assign(2)  # the optimizer already made the first epoch's steps
    result = T.fit_mlm(trainer, plan, rows, tokenizer, verbose=0)
    assert (result.start_step, result.end_step, result.epochs_run) == (2, 4, 1)
    assert result.tokens == 2 * 4 * rows.shape[1]

    other = T.make_optimizer(T.schedule_for(plan))
    misaligned = T.build_trainer(tiny_model("bert", tokenizer), other)
    other.iterations.assign(1)
    with pytest.raises(ValueError, match="at step 1, not at a multiple of checkpoint_every=2"):
        T.fit_mlm(misaligned, plan, rows, tokenizer, verbose=0)


# --------------------------------------------------------------------------- nothing is lost


def _cut_run(folder, tokenizer, business, stop_at, run_config=None):
    """An interrupted run: 6 steps planned, stopped after ``stop_at`` (a checkpoint every 2 steps)."""
    rows = business.train_rows[:8]
    plan = T.plan_training(len(rows), 4, 3, 1e-3)
    _run(folder, plan, rows, tokenizer, callbacks=[StopAt(stop_at)], run_config=run_config)
    return rows, plan


def test_checkpoints_without_their_index_file_are_still_resumed(tmp_path, tokenizer, business):
    rows, plan = _cut_run(tmp_path, tokenizer, business, 5)  # ckpt-2 and ckpt-4 on disk
    (tmp_path / "checkpoint").unlink()
    *_, resumed = _run(tmp_path, plan, rows, tokenizer)
    assert (resumed.start_step, resumed.end_step) == (4, 6)

    rows, plan = _cut_run(tmp_path / "b", tokenizer, business, 3)
    (tmp_path / "b" / "checkpoint").write_text("garbage{", encoding="utf-8")
    *_, resumed = _run(tmp_path / "b", plan, rows, tokenizer)
    assert (resumed.start_step, resumed.end_step) == (2, 6)


def test_an_unreadable_newest_checkpoint_falls_back_to_the_older_one(tmp_path, tokenizer, business):
    rows, plan = _cut_run(tmp_path, tokenizer, business, 5)
    (tmp_path / "ckpt-4.index").write_bytes(b"not a checkpoint index")
    *_, resumed = _run(tmp_path, plan, rows, tokenizer)
    assert (resumed.start_step, resumed.end_step) == (2, 6)


def test_unreadable_checkpoints_are_set_aside_not_deleted(tmp_path, tokenizer, business, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "ckpt-2.index").write_bytes(b"half a file")
    (folder / "ckpt-2.data-00000-of-00001").write_bytes(b"\0" * 10)
    rows = business.train_rows[:8]
    plan = T.plan_training(len(rows), 4, 1, 1e-3)
    model, optimizer, trainer, keeper = _notebook_cells(folder, plan)
    keeper.verbose = True
    assert keeper.restore() == 0
    aside = tmp_path / "run.set-aside-1"
    assert f"moved them to {aside}" in capsys.readouterr().out
    assert (aside / "ckpt-2.index").read_bytes() == b"half a file"
    assert sorted(p.name for p in folder.iterdir()) == ["run.json"]


def test_checkpoints_beside_an_unreadable_run_json_are_set_aside(tmp_path, tokenizer, business, capsys):
    rows, plan = _cut_run(tmp_path / "run", tokenizer, business, 3)  # ckpt-2 and run.json
    (tmp_path / "run" / "run.json").write_text("{half", encoding="utf-8")
    model, optimizer, trainer, keeper = _notebook_cells(tmp_path / "run", plan)
    keeper.verbose = True
    assert keeper.restore() == 0
    aside = tmp_path / "run.set-aside-1"
    assert f"have an unreadable run.json: moved them to {aside}" in capsys.readouterr().out
    assert (aside / "ckpt-2.index").is_file() and (aside / "run.json").read_text(encoding="utf-8") == "{half"


def test_a_model_trained_before_is_not_taken_for_a_fresh_one(tmp_path, tokenizer, business):
    rows = business.train_rows[:8]
    plan = T.plan_training(len(rows), 4, 1, 1e-3)
    model, _, trainer, keeper = _notebook_cells(tmp_path / "a", plan)
    T.fit_mlm(trainer, plan, rows, tokenizer, checkpoints=keeper, verbose=0)
    # The optimizer and keeper cells run again, the model cell does not: the model has trained already.
    optimizer = T.make_optimizer(T.schedule_for(plan))
    T.build_trainer(model, optimizer)
    fresh = T.CheckpointKeeper(tmp_path / "b", model, optimizer, plan.total_steps, plan.checkpoint_every,
                               verbose=False)
    with pytest.raises(RuntimeError, match="trained before, with another optimizer.*cells again from the one"):
        fresh.restore()
    assert not (tmp_path / "b" / "run.json").exists()


def test_checkpoint_keeper_refuses_what_tensorflow_would_fail_on_later(tmp_path, monkeypatch):
    model = no_dropout_bundled()
    optimizer = T.make_optimizer(1e-3)
    with pytest.raises(ValueError, match=r"has a '\[' in its path.*MLM_TUTORIAL_BUILD"):
        T.CheckpointKeeper(tmp_path / "course [2026]" / "run", model, optimizer, 4, 2)
    monkeypatch.setattr(T.os, "access", lambda path, mode: False)  # as for a folder without write permission
    with pytest.raises(PermissionError, match="run is not writable.*MLM_TUTORIAL_BUILD"):
        T.CheckpointKeeper(tmp_path / "run", model, optimizer, 4, 2)


def test_fit_mlm_refuses_a_keeper_made_for_another_run(tmp_path, tokenizer, business):
    rows = business.train_rows[:8]
    plan = T.plan_training(len(rows), 4, 3, 1e-3)  # 6 steps, a checkpoint every 2
    model, optimizer, trainer, _ = _notebook_cells(tmp_path / "x", plan)
    other = T.CheckpointKeeper(tmp_path / "a", model, optimizer, 4, 2, verbose=False)
    with pytest.raises(ValueError, match="made for 4 steps, checkpointed every 2, but the plan has 6 and 2"):
        T.fit_mlm(trainer, plan, rows, tokenizer, checkpoints=other, verbose=0)
    seven = T.CheckpointKeeper(tmp_path / "b", model, optimizer, 6, 2, run_config={"seed": 7}, verbose=False)
    before = dict(seven.run_config)
    with pytest.raises(ValueError, match="run_config has seed=7, but this call trains with 42"):
        T.fit_mlm(trainer, plan, rows, tokenizer, checkpoints=seven, seed=42, verbose=0)
    assert int(optimizer.iterations.numpy()) == 0 and not any((tmp_path / "b").iterdir())
    assert seven.run_config == before  # a refused call adds none of its settings to the keeper's
    others = {"plan": T.run_settings(model, T.plan_training(len(rows), 4, 3, 2e-3), rows, 42, True),
              "mlm_probability": T.run_settings(model, plan, rows, 42, True, mlm_probability=0.2),
              "data": T.run_settings(model, plan, rows[::-1], 42, True)}
    for key, settings in others.items():
        keeper = T.CheckpointKeeper(tmp_path / "c", model, optimizer, 6, 2, run_config=settings, verbose=False)
        with pytest.raises(ValueError, match=f"run_config has {key}="):
            T.fit_mlm(trainer, plan, rows, tokenizer, checkpoints=keeper, seed=42, verbose=0)
    assert int(optimizer.iterations.numpy()) == 0


def test_a_changed_setting_sets_the_interrupted_run_aside(tmp_path, tokenizer, business, capsys):
    rows, plan = _cut_run(tmp_path / "run", tokenizer, business, 3)  # ckpt-2, run.json with fit_mlm's settings
    saved = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert saved["seed"] == 42 and saved["plan"]["learning_rate"] == 1e-3 and saved["data"].startswith("8x32 ")
    other = T.plan_training(len(rows), 4, 3, 5e-4)  # another learning rate, same steps
    _, _, keeper, result = _run(tmp_path / "run", other, rows, tokenizer)
    assert result.start_step == 0 and result.end_step == 6
    assert (tmp_path / "run.set-aside-1" / "ckpt-2.index").is_file()


def test_run_settings_ignore_where_the_model_lies_and_see_what_changes_training(tmp_path, tokenizer, business):
    rows = business.train_rows[:8]
    plan = T.plan_training(len(rows), 4, 3, 1e-3)
    here = no_dropout_bundled()
    copy = tmp_path / "moved" / bundled_model_dir().name
    shutil.copytree(bundled_model_dir(), copy)
    from transformers import TFAutoModelForMaskedLM

    moved = TFAutoModelForMaskedLM.from_pretrained(str(copy), hidden_dropout_prob=0.0,
                                                   attention_probs_dropout_prob=0.0)
    settings = T.run_settings(here, plan, rows, seed=42, fast_head=True)
    assert T.run_settings(moved, plan, rows, seed=42, fast_head=True) == settings
    assert json.loads(json.dumps(settings)) == settings  # what run.json stores
    changed = [T.run_settings(here, plan, rows[::-1], seed=42, fast_head=True),
               T.run_settings(here, T.plan_training(len(rows), 4, 3, 2e-3), rows, seed=42, fast_head=True),
               T.run_settings(here, plan, rows, seed=7, fast_head=True),
               T.run_settings(here, plan, rows, seed=42, fast_head=False),
               T.run_settings(here, plan, rows, seed=42, fast_head=True, mlm_probability=0.2),
               T.run_settings(tiny_model("bert", tokenizer), plan, rows, seed=42, fast_head=True),
               T.run_settings(load_mlm_model(str(bundled_model_dir())), plan, rows, seed=42, fast_head=True)]
    assert all(other != settings for other in changed)
    assert changed[-1]["model"].split()[0] == settings["model"].split()[0]  # same name, other dropout: the digest
    with pytest.raises(TypeError, match="plan must be a TrainPlan"):
        T.run_settings(here, {"steps": 6}, rows, seed=42, fast_head=True)
    with pytest.raises(ValueError, match="mlm_probability must lie strictly between 0 and 1, got 15"):
        T.run_settings(here, plan, rows, seed=42, fast_head=True, mlm_probability=15)
    with pytest.raises(TypeError, match="mlm_probability must be a number"):
        T.run_settings(here, plan, rows, seed=42, fast_head=True, mlm_probability="0.15")


def test_save_model_never_replaces_a_folder_that_is_not_a_saved_model(tmp_path, bert, tokenizer, monkeypatch):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ValueError, match="holds files but no saved model"):
        T.save_model(bert, tokenizer, notes)
    assert (notes / "notes.txt").read_text(encoding="utf-8") == "mine"
    from mlm_tutorial.paths import ROOT_ENV, project_root

    checkout = tmp_path / "outer" / "checkout"  # a checkout of its own: a regression would empty a copy
    for folder in ("data", "notebooks"):
        (checkout / folder).mkdir(parents=True)
        (checkout / folder / "kept.txt").write_text("kept", encoding="utf-8")
    monkeypatch.setenv(ROOT_ENV, str(checkout))
    for above in (project_root(), project_root().parent):
        with pytest.raises(ValueError, match="holds .*which the series never writes to"):
            T.save_model(bert, tokenizer, above)
    assert all((checkout / folder / "kept.txt").read_text(encoding="utf-8") == "kept" for folder in ("data", "notebooks"))


def test_optimizer_and_plan_numbers_are_checked_and_numpy_numbers_work():
    for bad in ({"weight_decay": float("nan")}, {"weight_decay": -0.1}, {"weight_decay": float("inf")},
                {"clipnorm": float("inf")}, {"clipnorm": True}, {"clipnorm": 0.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            T.make_optimizer(1e-3, **bad)
    for rate in (5.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="learning_rate must be between 0 and 1"):
            T.make_optimizer(rate)
    assert float(T.make_optimizer(np.float32(1e-3)).learning_rate) == pytest.approx(1e-3)
    plan = T.plan_training(64, 4, 1, np.float32(1e-3), warmup_ratio=np.float64(0.1))
    assert plan.learning_rate == pytest.approx(1e-3) and plan.warmup_steps == 2


def test_training_dataset_reports_a_bad_masking_probability_itself(tokenizer, business):
    with pytest.raises(ValueError, match="^mlm_probability must lie strictly between 0 and 1, got 1.5"):
        T.training_dataset(business.train_rows[:8], tokenizer, 4, 2, mlm_probability=1.5)


# --------------------------------------------------------------------------- settings that must reach the run


def test_each_epoch_draws_new_mask_positions(tokenizer, business):
    rows = business.train_rows[:4]  # one step per epoch: every step holds the same four rows
    steps = [b["labels"].numpy() != IGNORE_INDEX for b in T.training_dataset(rows, tokenizer, 4, 3, seed=7)]
    for a, b in zip(steps, steps[1:]):
        # Independent draws share about 15% of their masked positions; a repeated seed would share nearly all.
        assert (a & b).sum() / a.sum() < 0.5


def _weights_after(tokenizer, rows, start, **settings):
    model = tiny_model("bert", tokenizer)
    model.set_weights(start)
    plan = T.plan_training(len(rows), 4, 1, 1e-2)
    T.fit_mlm(T.build_trainer(model, T.make_optimizer(T.schedule_for(plan))), plan, rows, tokenizer, verbose=0,
              **settings)
    return model.get_weights()


def test_fit_mlm_trains_with_the_seed_and_probability_it_is_given(tokenizer, business):
    rows = business.train_rows[:8]
    start = tiny_model("bert", tokenizer).get_weights()
    default = _weights_after(tokenizer, rows, start)

    def largest_difference(other):
        return max(float(np.max(np.abs(a - b))) for a, b in zip(default, other))

    assert largest_difference(_weights_after(tokenizer, rows, start, seed=42)) < 1e-6  # the default is 42
    for settings in ({"seed": 7}, {"mlm_probability": 0.4}):  # other masks: other gradients, other weights
        assert largest_difference(_weights_after(tokenizer, rows, start, **settings)) > 1e-4, settings


def test_fit_mlm_validates_on_the_data_it_is_given_and_stops_at_once_when_done(tokenizer, business):
    rows = business.train_rows[:8]
    plan = T.plan_training(len(rows), 4, 1, 1e-3)
    optimizer = T.make_optimizer(T.schedule_for(plan))
    trainer = T.build_trainer(tiny_model("bert", tokenizer), optimizer)
    validation = T.evaluation_dataset(business.validation_rows[:8], tokenizer, batch_size=4)
    result = T.fit_mlm(trainer, plan, rows, tokenizer, validation_data=validation, verbose=0)
    assert set(result.history) == {"loss", "val_loss"} and len(result.history["val_loss"]) == 1
    again = T.fit_mlm(trainer, plan, rows, tokenizer, verbose=0)  # the optimizer is at the plan's last step
    assert (again.start_step, again.end_step, again.tokens) == (plan.total_steps, plan.total_steps, 0)


def test_evaluation_dataset_masks_at_the_probability_asked_for(tokenizer, business):
    rows = business.validation_rows
    data = T.evaluation_dataset(rows, tokenizer, batch_size=8, seed=5, mlm_probability=0.4)
    labels = np.concatenate([b["labels"].numpy() for b in data])
    assert (labels == fixed_masks(rows, tokenizer, seed=5, mlm_probability=0.4)[1]).all()
    assert 0.3 < np.mean(labels != IGNORE_INDEX) < 0.45


def test_a_finished_run_starts_afresh_without_its_old_checkpoints(tmp_path, tokenizer, business):
    rows = business.train_rows[:8]
    plan = T.plan_training(len(rows), 4, 2, 1e-3)  # 4 steps, a checkpoint every 2
    _run(tmp_path, plan, rows, tokenizer)
    assert {"ckpt-4.index", "ckpt-2.index"} <= {p.name for p in tmp_path.iterdir()}
    settings = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))  # what fit_mlm recorded
    _, _, _, keeper = _notebook_cells(tmp_path, plan, run_config=settings)  # the same run once more
    assert keeper.restore() == 0
    assert keeper.latest_step() is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_a_checkpoint_of_another_architecture_is_set_aside_or_refused(tmp_path, tokenizer, business, capsys):
    rows = business.train_rows[:8]
    plan = T.plan_training(len(rows), 4, 2, 1e-3)
    model = tiny_model("bert", tokenizer, layers=2)
    optimizer = T.make_optimizer(T.schedule_for(plan))
    keeper = T.CheckpointKeeper(tmp_path / "a", model, optimizer, plan.total_steps, plan.checkpoint_every)
    T.fit_mlm(T.build_trainer(model, optimizer), plan, rows, tokenizer, checkpoints=keeper, verbose=0,
              callbacks=[StopAt(3)])
    deeper = tiny_model("bert", tokenizer, layers=3)
    deeper(deeper.dummy_inputs)  # its weights exist, as after loading a model
    other = T.make_optimizer(T.schedule_for(plan))
    # Through fit_mlm, run.json records the model's configuration: the old run is set aside, not restored.
    assert T.CheckpointKeeper(tmp_path / "a", deeper, other, plan.total_steps, plan.checkpoint_every).restore() == 0
    assert "come from other settings: moved them to" in capsys.readouterr().out
    # A keeper used without run settings: restoring the 2-layer checkpoint into 3 layers is refused.
    small = tiny_model("bert", tokenizer, layers=2)
    small(small.dummy_inputs)
    first = T.make_optimizer(1e-3)
    keeper = T.CheckpointKeeper(tmp_path / "b", small, first, 4, 2, verbose=False)
    keeper.restore()
    first.build(small.trainable_variables)
    first.iterations.assign(2)
    keeper.save()
    keeper = T.CheckpointKeeper(tmp_path / "b", deeper, T.make_optimizer(1e-3), 4, 2, verbose=False)
    with pytest.raises(RuntimeError, match=r"\(step 2\) cannot be restored: AssertionError"):
        keeper.restore()


def test_layer_norms_and_biases_are_not_decayed():
    model = no_dropout_bundled()
    optimizer = T.make_optimizer(1e-3)
    optimizer.build(model.trainable_variables)
    decayed = {v.name for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    norms = [v.name for v in model.trainable_variables if "LayerNorm" in v.name]
    assert norms and not decayed & set(norms)
    assert not any(name.endswith("bias:0") for name in decayed)
    assert any("word_embeddings" in name for name in decayed) and any("kernel" in name for name in decayed)


def test_the_fast_path_refuses_a_decoder(tokenizer):
    import transformers as tr

    config = tr.BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=64, is_decoder=True)
    with pytest.raises(TypeError, match="the fast path needs an encoder"):
        T.build_trainer(tr.TFBertForMaskedLM(config), T.make_optimizer(1e-3))


def test_rates_of_zero_and_a_decay_of_zero(tokenizer, business):
    for call in (lambda: T.make_optimizer(0.0), lambda: T.plan_training(8, 4, 1, 0.0)):
        with pytest.raises(ValueError, match="learning_rate"):
            call()
    assert T.make_optimizer(1e-3, weight_decay=0.0).weight_decay == 0.0
    with pytest.raises(ValueError, match="rows must be a non-empty 2-D"):
        T.training_dataset(business.train_rows[:0], tokenizer, 4, 2)


def test_save_model_into_an_empty_folder_under_home_with_the_usual_permissions(tmp_path, bert, tokenizer, monkeypatch):
    home = tmp_path / "home"
    (home / "models" / "adapted").mkdir(parents=True)  # exists and is empty: nothing to lose
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    target = T.save_model(bert, tokenizer, "~/models/adapted")
    assert target == home / "models" / "adapted" and (target / "config.json").is_file()
    assert not (tmp_path / "~").exists()
    if os.name == "posix":  # a shared folder (write for all, sticky) must not give others the model's folder
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o1777)
        with _umask(0o022):
            saved = T.save_model(bert, tokenizer, shared / "m")
        assert saved.stat().st_mode & 0o7777 == 0o755


def test_the_fast_path_takes_the_labels_in_the_dict_or_as_the_second_element(tokenizer, business):
    trainer = T.build_trainer(tiny_model("bert", tokenizer), T.make_optimizer(1e-3))
    batch = next(iter(T.training_dataset(business.train_rows[:8], tokenizer, 4, 2)))
    in_dict = trainer.evaluate(tf.data.Dataset.from_tensors(batch), verbose=0)
    as_pair = trainer.evaluate(tf.data.Dataset.from_tensors(({"input_ids": batch["input_ids"]}, batch["labels"])),
                               verbose=0)
    assert as_pair == pytest.approx(in_dict, rel=1e-6)


def test_under_mixed_precision_the_head_gives_float32_and_the_keeper_saves_the_inner_optimizer(tmp_path, tokenizer,
                                                                                              business):
    rows = business.train_rows[:8]
    plan = T.plan_training(len(rows), 4, 1, 1e-3)
    tf_keras.mixed_precision.set_global_policy("mixed_float16")  # what configure_mixed_precision sets on a GPU
    try:
        model = tiny_model("bert", tokenizer)
        optimizer = T.make_optimizer(T.schedule_for(plan))
        trainer = T.build_trainer(model, optimizer)
        batch = next(iter(T.training_dataset(rows, tokenizer, 4, 2)))
        logits, _, _ = T.fast_masked_lm(model).masked_logits(batch)
        assert logits.dtype == tf.float32  # a float16 softmax over the vocabulary would lose precision
        keeper = T.CheckpointKeeper(tmp_path, model, optimizer, plan.total_steps, plan.checkpoint_every, verbose=False)
        result = T.fit_mlm(trainer, plan, rows, tokenizer, checkpoints=keeper, verbose=0)
        assert result.end_step == plan.total_steps and keeper.latest_step() == plan.total_steps
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")
