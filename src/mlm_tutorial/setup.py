"""One call that prepares a notebook: environment, seeds, quiet logs, version report.

Introduced in notebook 00 and called in the setup cell of every notebook.
"""

from __future__ import annotations

import logging
import os
import platform
import random
import sys
import warnings
from dataclasses import dataclass

# Environment variables that only work when they are set before TensorFlow is imported.
_ENV_BEFORE_TF = {
    # transformers 4.x needs Keras 2 (the tf-keras package); TF 2.16+ defaults to Keras 3.
    "TF_USE_LEGACY_KERAS": "1",
    # 0 = all, 1 = no INFO, 2 = no WARNING, 3 = no ERROR from TensorFlow's C++ side.
    "TF_CPP_MIN_LOG_LEVEL": "3",
}


@dataclass(frozen=True)
class SetupReport:
    """What :func:`notebook_setup` found; printed as one short block.

    Part of :func:`notebook_setup`, which the setup cell of every notebook calls.
    """

    seed: int
    on_colab: bool
    gpus: int
    versions: dict[str, str]

    def __str__(self) -> str:
        lines = [f"{name:<13}{version}" for name, version in self.versions.items()]
        lines.append(f"{'on Colab':<13}{'yes' if self.on_colab else 'no'}")
        gpu = f"{self.gpus} GPU(s)" if self.gpus else "none (CPU only; the quick profile is sized for this)"
        lines.append(f"{'GPU':<13}{gpu}")
        lines.append(f"{'seed':<13}{self.seed}")
        return "\n".join(lines)


def on_colab() -> bool:
    """True when running inside Google Colab.

    Part of :func:`notebook_setup`, which the setup cell of every notebook calls.
    """
    return "google.colab" in sys.modules


def prepare_environment() -> None:
    """Set the environment variables that must precede ``import tensorflow``.

    Warns (instead of silently doing nothing) when TensorFlow was imported already.

    Part of :func:`notebook_setup`, which the setup cell of every notebook calls.
    """
    if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        warnings.warn(
            "TensorFlow was imported before notebook_setup(); Keras 3 may already be active. "
            "Restart the kernel and call notebook_setup() before importing tensorflow.",
            RuntimeWarning,
            stacklevel=3,
        )
    for key, value in _ENV_BEFORE_TF.items():
        os.environ.setdefault(key, value)


def silence_libraries() -> None:
    """Keep library chatter that goes to stderr out of notebook outputs.

    Real errors still raise: only log records below ERROR and known deprecation notices
    are dropped.

    Part of :func:`notebook_setup`, which the setup cell of every notebook calls.
    """
    import absl.logging
    import datasets
    import transformers

    absl.logging.set_verbosity(absl.logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    # transformers 4.x announces on every TF model that TF support ends in v5: known, pinned.
    warnings.filterwarnings("ignore", message=".*TensorFlow and JAX classes are deprecated.*")
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def seed_everything(seed: int = 42, deterministic: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow; optionally make TF ops deterministic.

    Part of :func:`notebook_setup`, which the setup cell of every notebook calls.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    import numpy as np
    import tensorflow as tf

    import tf_keras

    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    # Keras 2 keeps its own seed generator for unseeded initializers and dropout.
    tf_keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries the series depends on.

    Part of :func:`notebook_setup`, which the setup cell of every notebook calls.
    """
    import datasets
    import tensorflow as tf
    import tf_keras
    import transformers

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "tf-keras": tf_keras.__version__,
        "transformers": transformers.__version__,
        "datasets": datasets.__version__,
    }


def notebook_setup(seed: int = 42, deterministic: bool = True, verbose: bool = True) -> SetupReport:
    """Prepare a notebook in one call and print what it runs on.

    Sets ``TF_USE_LEGACY_KERAS=1`` (and quiet TF logs) before TensorFlow is imported, seeds
    Python/NumPy/TF, enables TF op determinism, silences deprecation notices and progress bars
    that would go to stderr, and reports library versions, Colab and GPU.

    Introduced in notebook 00; the setup cell of every notebook calls it.
    """
    prepare_environment()
    import tensorflow as tf
    import transformers

    major = int(transformers.__version__.split(".")[0])
    if major >= 5:
        raise RuntimeError(
            f"transformers {transformers.__version__} has no TensorFlow classes. Install the "
            "pinned stack: pip install -r requirements.txt (transformers 4.x)."
        )
    silence_libraries()
    seed_everything(seed, deterministic=deterministic)
    report = SetupReport(
        seed=seed,
        on_colab=on_colab(),
        gpus=len(tf.config.list_physical_devices("GPU")),
        versions=library_versions(),
    )
    if verbose:
        print(report)
    return report
