"""One call that prepares a notebook: environment, seeds, quiet logs, version report.

Introduced in notebook 00 and called in the setup cell of every notebook.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import random
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

# Environment variables that only work when they are set before TensorFlow is imported.
_ENV_BEFORE_TF = {
    # transformers 4.x needs Keras 2 (the tf-keras package); TF 2.16+ defaults to Keras 3.
    "TF_USE_LEGACY_KERAS": "1",
    # 0 = all, 1 = no INFO, 2 = no WARNING, 3 = no ERROR from TensorFlow's C++ side.
    "TF_CPP_MIN_LOG_LEVEL": "3",
}

#: What TensorFlow's native code writes to stderr while it loads, on every machine and whatever
#: ``TF_CPP_MIN_LOG_LEVEL`` says: C++ log lines in absl's format ("I0000 00:00:1795449715.281354   13237
#: cudart_stub.cc:31] Could not find cuda drivers ...", "... port.cc:153] oneDNN custom operations are on ..."),
#: the same in TensorFlow's older format, and absl's note that comes before them. Patterns for ``re.match``;
#: ``notebook_tools`` drops the same lines from the notebooks it writes.
NATIVE_START_UP_LINES: tuple[str, ...] = (
    r"[IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ [\w.\-/]+:\d+\] ",
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] \S+",
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
)


@contextlib.contextmanager
def _without_native_start_up_lines() -> Iterator[None]:
    """Hold back what is written to file descriptor 2 inside the block, then pass it on to ``sys.stderr``
    without the :data:`NATIVE_START_UP_LINES`.

    TensorFlow's C++ side writes to the descriptor directly, and a Jupyter kernel shows that in the cell
    as red stderr output ("Could not find cuda drivers" on every CPU-only machine). Anything else written
    there in the meantime (a real problem) still reaches the learner, right after the block.
    """
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 to hold back (a process started without one)
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.__stderr__.flush()  # Python's own buffered writes to the descriptor, in a terminal
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode("utf-8", errors="replace").splitlines()
            kept = [line for line in lines if line.strip()
                    and not any(re.match(pattern, line) for pattern in NATIVE_START_UP_LINES)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


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
    """Seed Python, NumPy and TensorFlow; optionally make TF ops deterministic (once on, that stays on
    for the rest of the process: TensorFlow has no switch back).

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

    Sets ``TF_USE_LEGACY_KERAS=1`` (and quiet TF logs) before TensorFlow is imported, keeps the lines
    TensorFlow's native code prints while it loads out of the cell, seeds Python/NumPy/TF, enables TF op
    determinism, silences deprecation notices and progress bars that would go to stderr, and reports
    library versions, Colab and GPU.

    Introduced in notebook 00; the setup cell of every notebook calls it.
    """
    prepare_environment()
    with _without_native_start_up_lines():  # TensorFlow's C++ start-up lines appear on first import
        import tensorflow as tf
    import transformers

    major = int(transformers.__version__.split(".")[0])
    if major >= 5:
        fix = ("run the notebook's first cell again (it installs transformers 4.x), then Runtime > Restart session"
               if on_colab() else "install the pinned stack into this kernel: pip install -r requirements.txt")
        raise RuntimeError(f"transformers {transformers.__version__} has no TensorFlow classes. To fix it, {fix}.")
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
