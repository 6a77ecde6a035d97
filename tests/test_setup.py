"""mlm_tutorial.setup: the one call at the top of every notebook."""

from __future__ import annotations

import logging
import os
import random
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest

from mlm_tutorial import setup
from mlm_tutorial.setup import (
    SetupReport,
    notebook_setup,
    on_colab,
    prepare_environment,
    seed_everything,
    silence_libraries,
)


def _draws() -> tuple[float, np.ndarray, np.ndarray]:
    import tensorflow as tf

    return random.random(), np.random.rand(4), tf.random.uniform([4]).numpy()


def test_notebook_setup_reports_versions(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow as tf
    import transformers

    monkeypatch.delitem(sys.modules, "google.colab", raising=False)  # so that it says the same on Colab
    report = notebook_setup(seed=3)
    assert report.seed == 3
    assert report.on_colab is False
    assert report.gpus == len(tf.config.list_physical_devices("GPU"))
    assert list(report.versions) == ["python", "tensorflow", "tf-keras", "transformers", "datasets"]
    assert report.versions["transformers"] == transformers.__version__
    assert report.versions["transformers"].startswith("4.")
    printed = capsys.readouterr().out
    assert printed.strip() == str(report)
    assert f"transformers {transformers.__version__}" in printed
    assert "seed         3" in printed


def test_notebook_setup_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    notebook_setup(verbose=False)
    assert capsys.readouterr().out == ""


def test_notebook_setup_refuses_transformers_5(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    monkeypatch.setattr(transformers, "__version__", "5.0.0")
    with pytest.raises(RuntimeError, match=r"transformers 5\.0\.0 has no TensorFlow classes.*requirements\.txt"):
        notebook_setup(verbose=False)


def test_notebook_setup_reports_colab(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert on_colab() is True
    report = notebook_setup(verbose=False)
    assert report.on_colab is True
    assert "on Colab     yes" in str(report)


def test_on_colab_false_without_google_colab(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert on_colab() is False


def test_setup_report_text() -> None:
    report = SetupReport(seed=5, on_colab=False, gpus=2, versions={"python": "3.11.7", "tensorflow": "2.21.0"})
    assert str(report).splitlines() == [
        "python       3.11.7",
        "tensorflow   2.21.0",
        "on Colab     no",
        "GPU          2 GPU(s)",
        "seed         5",
    ]
    cpu = SetupReport(seed=5, on_colab=False, gpus=0, versions={})
    assert "GPU          none (CPU only" in str(cpu)


def test_prepare_environment_sets_missing_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")  # a value the user chose is kept
    prepare_environment()
    # oneDNN stays at TensorFlow's default (on for x86 CPUs): it makes training on a CPU much faster.
    assert "TF_ENABLE_ONEDNN_OPTS" not in os.environ
    assert os.environ["TF_USE_LEGACY_KERAS"] == "1"
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"


def test_prepare_environment_warns_when_tensorflow_came_first(monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow  # noqa: F401  (the situation being tested: TF already imported)

    monkeypatch.delenv("TF_USE_LEGACY_KERAS")
    with pytest.warns(RuntimeWarning, match=r"TensorFlow was imported before notebook_setup\(\)"):
        prepare_environment()
    assert os.environ["TF_USE_LEGACY_KERAS"] == "1"


def test_prepare_environment_silent_when_keras_2_is_set() -> None:
    assert os.environ["TF_USE_LEGACY_KERAS"] == "1"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prepare_environment()


@pytest.mark.parametrize("seed", [-1, True, 1.5, "3", None])
def test_seed_everything_validates(seed: object) -> None:
    with pytest.raises(ValueError, match=r"seed must be a non-negative int, got"):
        seed_everything(seed)  # type: ignore[arg-type]


@pytest.mark.parametrize("deterministic", [True, False])
def test_seed_everything_takes_seed_zero_and_turns_op_determinism_on_when_asked(deterministic: bool) -> None:
    # A process of its own: once on, op determinism stays on for the rest of a process.
    script = ("from tensorflow.python.framework import config\n"
              "from mlm_tutorial.setup import seed_everything\n"
              f"seed_everything(0, deterministic={deterministic})\n"  # 0 is a seed like any other
              "print(config.is_op_determinism_enabled())\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == str(deterministic)


def test_seed_everything_without_notebook_setup() -> None:
    seed_everything(99, deterministic=False)
    first = _draws()
    seed_everything(99, deterministic=False)
    second = _draws()
    seed_everything(100, deterministic=False)
    other = _draws()
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_array_equal(first[2], second[2])
    assert first[0] != other[0], "Python's random ignored the seed"
    assert not np.array_equal(first[1], other[1]), "NumPy ignored the seed"
    assert not np.array_equal(first[2], other[2]), "TensorFlow ignored the seed"


def test_silence_libraries() -> None:
    import datasets
    import transformers

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_libraries()
        warnings.warn("TensorFlow and JAX classes are deprecated and will be removed in Transformers v5.", UserWarning)
        warnings.warn("a real problem the learner must see", UserWarning)
    assert [str(w.message) for w in caught] == ["a real problem the learner must see"]
    assert transformers.logging.get_verbosity() == transformers.logging.ERROR
    assert not transformers.utils.logging.is_progress_bar_enabled()
    assert not datasets.is_progress_bar_enabled()
    assert logging.getLogger("tensorflow").level == logging.ERROR


def test_library_versions_match_modules() -> None:
    import tensorflow as tf
    import tf_keras

    versions = setup.library_versions()
    assert versions["tensorflow"] == tf.__version__
    assert versions["tf-keras"] == tf_keras.__version__
    # tf-keras must match TensorFlow's minor version (stack.md).
    assert versions["tf-keras"].split(".")[:2] == versions["tensorflow"].split(".")[:2]


# --------------------------------------------------------------------------- TensorFlow's start-up lines

START_UP = (b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
            b"I0000 00:00:1795531257.358150   17622 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
            b"GPU will not be used.\n"
            b"2026-11-24 14:00:00.123456: I tensorflow/core/platform/cpu_feature_guard.cc:210] This TensorFlow "
            b"binary is optimized to use available CPU instructions.\n")


def test_start_up_lines_are_held_back_and_the_rest_passes(capfd: pytest.CaptureFixture[str]) -> None:
    before = os.fstat(2)
    with setup._without_native_start_up_lines():
        os.write(2, START_UP + b"The TensorFlow library was compiled to use AVX instructions, but these aren't "
                             b"available on your machine.\n")
        assert capfd.readouterr().err == ""  # held back while the block runs
    err = capfd.readouterr().err
    assert "cudart_stub" not in err and "absl::InitializeLog" not in err and "cpu_feature_guard" not in err
    assert err == "The TensorFlow library was compiled to use AVX instructions, but these aren't available on " \
                  "your machine.\n"
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)  # descriptor 2 restored


def test_start_up_lines_held_back_when_the_import_fails(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ImportError, match="no such library"):
        with setup._without_native_start_up_lines():
            os.write(2, START_UP + b"loader: libtensorflow_framework.so.2 missing\n")
            raise ImportError("no such library")
    assert capfd.readouterr().err == "loader: libtensorflow_framework.so.2 missing\n"
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_notebook_setup_in_a_new_process_prints_no_start_up_lines() -> None:
    import subprocess

    code = "from mlm_tutorial.setup import notebook_setup; notebook_setup(verbose=False); print('ready')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ready\n"
    assert done.stderr == ""  # TensorFlow printed its start-up lines here before notebook_setup held them back
