"""Where the project's folders are: the bundled data, the build output.

Introduced in notebook 00; every notebook that writes a file writes it below :func:`build_dir`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROOT_ENV = "MLM_TUTORIAL_ROOT"
BUILD_ENV = "MLM_TUTORIAL_BUILD"


def project_root() -> Path:
    """Return the checkout that holds ``data/`` and ``notebooks/``.

    ``MLM_TUTORIAL_ROOT`` wins when set (the Colab install cell sets it to its clone).
    Otherwise the folder two levels above this package's ``src/`` folder is used, which is
    the checkout for the editable install that ``make`` performs.
    """
    env = os.environ.get(ROOT_ENV)
    if env:
        root = Path(env).expanduser()
        if not (root / "data").is_dir():
            raise FileNotFoundError(
                f"{ROOT_ENV}={env!r} has no data/ folder. Point it at a checkout of the "
                "series (the folder that holds data/ and notebooks/), or unset it."
            )
        return root.resolve()
    return Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """The bundled offline assets: ``<root>/data``."""
    return project_root() / "data"


def build_dir(create: bool = True) -> Path:
    """The output folder: ``MLM_TUTORIAL_BUILD`` if set, else ``<root>/build``.

    Everything the notebooks write (checkpoints, saved models, metrics) goes below it, so the
    source notebooks and ``data/`` are never touched.
    """
    env = os.environ.get(BUILD_ENV)
    path = Path(env).expanduser() if env else project_root() / "build"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def record_metrics(section: str, values: dict[str, Any], path: Path | None = None) -> Path:
    """Merge ``values`` under ``section`` into ``build/metrics.json`` and return its path.

    Introduced in notebook 04, which records its before/after perplexities here. The file is
    rewritten atomically (temporary file, then rename) so a crash never leaves half a file.
    """
    if not isinstance(section, str) or not section:
        raise ValueError(f"section must be a non-empty string, got {section!r}.")
    if not isinstance(values, dict):
        raise TypeError(f"values must be a dict, got {type(values).__name__}.")
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path or None, got {type(path).__name__}.")
    target = Path(path) if path is not None else build_dir() / "metrics.json"
    data: dict[str, Any] = {}
    if target.exists():
        try:
            data = json.loads(target.read_text())
        except json.JSONDecodeError:
            data = {}
        if not isinstance(data, dict):  # valid JSON but not an object: start afresh, as for a corrupt file
            data = {}
    data[section] = values
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"  # fails before any file is touched
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
