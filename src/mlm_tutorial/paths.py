"""Where the project's folders are: the bundled data, the build output.

The loaders name their folders with :func:`display_path` from notebook 00 on; notebook 04 imports the
module itself. Every notebook that writes a file writes it below :func:`build_dir`.
"""

from __future__ import annotations

import hashlib
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

    Every other helper of this module starts from it (notebook 00 on).
    """
    env = os.environ.get(ROOT_ENV, "").strip()
    if env:
        root = _expand(ROOT_ENV, env)
        if not root.is_absolute():
            raise ValueError(f"{ROOT_ENV}={env!r} is a relative path, which would mean another folder in each "
                             "notebook's kernel (they run in notebooks/). Set it to the checkout's absolute path.")
        if not (root / "data").is_dir():
            raise FileNotFoundError(
                f"{ROOT_ENV}={env!r} has no data/ folder. Point it at a checkout of the "
                "series (the folder that holds data/ and notebooks/), or unset it."
            )
        return root.resolve()
    return checkout_of(Path(__file__))


def _expand(name: str, value: str) -> Path:
    try:
        return Path(value).expanduser()
    except RuntimeError as error:  # "~user" of an unknown user, or no home folder
        raise ValueError(f"{name}={value!r}: {error}. Write the folder's path out in full.") from None


def checkout_of(module_file: Path) -> Path:
    """The checkout that holds a module of this package (``<root>/src/mlm_tutorial/<module>.py``).

    Raises ``FileNotFoundError`` when the package was installed as a copy (``pip install .`` or from a
    Git URL puts it in ``site-packages``, away from ``data/``), with the two ways to fix it. Used by
    :func:`project_root`, so from notebook 00 on.
    """
    package = module_file.resolve().parent
    root = package.parents[1]
    if not (root / "data").is_dir():
        raise FileNotFoundError(
            f"mlm_tutorial is imported from {package}, which is not inside a checkout of the "
            "series (no data/ folder there), so the bundled corpus, tokenizers and models cannot be found. "
            "Install the package from the checkout in editable mode, as make does: `pip install --no-deps -e .` "
            f"in the folder that holds data/ and notebooks/; or set {ROOT_ENV} to that folder."
        )
    return root


def data_dir() -> Path:
    """The bundled offline assets: ``<root>/data``, where the loaders look from notebook 00 on."""
    return project_root() / "data"


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a learner should read it: relative to the checkout when inside it, else absolute.

    The loaders print their folders with it from notebook 00 on; notebook 04 calls it for its metrics file.
    ``data/models/bert-mini-news`` names the same folder on every machine, where the absolute form would
    show the folder of whoever ran the notebook.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path, got {type(path).__name__}.")
    absolute = Path(path).expanduser().resolve()
    try:
        return absolute.relative_to(project_root()).as_posix()
    except ValueError:
        return str(absolute)


def build_dir(create: bool = True) -> Path:
    """The output folder: ``MLM_TUTORIAL_BUILD`` if set, else ``<root>/build``.

    Everything the notebooks write (checkpoints, saved models, metrics) goes below it, so the
    source notebooks and ``data/`` are never touched. A relative ``MLM_TUTORIAL_BUILD`` counts from
    the checkout's root, so ``make run`` and the notebooks' kernels (which run in ``notebooks/``)
    agree on one folder; a blank one counts as unset. Raises ``ValueError`` for a folder inside one of
    the checkout's own folders (``data/``, ``notebooks/``, ``src/``, ``tests/``, ...) or one that holds
    them, and for a path that is a file or a folder that cannot be written to.

    Introduced in notebook 04.
    """
    env = os.environ.get(BUILD_ENV, "").strip()
    path = _expand(BUILD_ENV, env) if env else project_root() / "build"
    if not path.is_absolute():
        path = project_root() / path
    path = path.resolve()
    for source in _source_trees():
        inside = path.is_relative_to(source)
        if inside or source.is_relative_to(path):
            where = "is inside" if inside else "holds"
            raise ValueError(f"{BUILD_ENV} names {path}, which {where} {source.name}/: the series never writes "
                             f"there. Set {BUILD_ENV} to a folder of its own, or unset it for build/ in the checkout.")
    if path.exists() and not path.is_dir():
        raise ValueError(f"{BUILD_ENV} names {path}, which is a file. Set it to a folder, or unset it for build/ "
                         "in the checkout.")
    if create:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"the build folder {path} cannot be written to. Make it writable, or set {BUILD_ENV} "
                             "to a folder you can write to.")
    return path


#: The checkout's own folders: the series reads them and never writes into them.
SOURCE_FOLDERS = ("data", "notebooks", "src", "tests", "benchmarks", ".ci", ".git")


def _source_trees() -> tuple[Path, ...]:
    root = project_root()
    return tuple((root / name).resolve() for name in SOURCE_FOLDERS)


def refuse_source_tree(target: Path, what: str) -> None:
    """Raise ``ValueError`` when ``target`` lies inside one of the checkout's own folders (``data/``,
    ``notebooks/``, ``src/``, ... :data:`SOURCE_FOLDERS`), or holds one of them (the checkout itself, a
    folder above it): the series only reads them.

    Used by :func:`write_text_atomic` and notebook 04's ``save_model`` and
    ``CheckpointKeeper``.
    """
    target = Path(target).expanduser().resolve()
    for source in _source_trees():
        if target.is_relative_to(source):
            raise ValueError(f"{what} {target} is inside {source.name}/, which the series never writes to. "
                             "Save below mlm_tutorial.paths.build_dir() instead.")
        if source.is_relative_to(target):
            raise ValueError(f"{what} {target} holds {source}, which the series never writes to. "
                             "Save below mlm_tutorial.paths.build_dir() instead.")


def record_metrics(section: str, values: dict[str, Any], path: Path | None = None) -> Path:
    """Merge ``values`` under ``section`` into ``build/metrics.json`` and return its path.

    Introduced in notebook 04, which records its before/after perplexities here. The file is
    rewritten atomically (temporary file, then rename) so a crash never leaves half a file. A file that
    does not hold a JSON object is moved aside (``metrics.json.unreadable-N``), not overwritten.
    """
    if not isinstance(section, str) or not section:
        raise ValueError(f"section must be a non-empty string, got {section!r}.")
    if not isinstance(values, dict):
        raise TypeError(f"values must be a dict, got {type(values).__name__}.")
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path or None, got {type(path).__name__}.")
    target = Path(path).expanduser() if path is not None else build_dir() / "metrics.json"
    data: Any = {}
    refuse_checkout_file(target)  # before anything is read or moved
    text = json.dumps({section: values}, indent=2, sort_keys=True)  # fails before any file is touched
    if target.exists():
        try:
            data = json.loads(target.read_text(encoding="utf-8"))
        except ValueError:  # not JSON, or not even UTF-8 text
            data = None
        if not isinstance(data, dict):  # kept beside the new file, not overwritten
            number = 1
            while (aside := target.with_name(f"{target.name}.unreadable-{number}")).exists():
                number += 1
            os.replace(target, aside)
            print(f"{target} did not hold a JSON object; moved it to {aside.name} and started a new file")
            data = {}
    data[section] = values
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    return write_text_atomic(target, text)


def refuse_checkout_file(target: Path, what: str = "file") -> None:
    """Raise ``ValueError`` for a file in the sources (:func:`refuse_source_tree`), or anywhere in the checkout
    outside its build folder (README.md, pyproject.toml, ...).

    Used by :func:`write_text_atomic`, :func:`record_metrics` and ``make bench``'s results path.
    """
    refuse_source_tree(target, what)
    resolved = Path(target).expanduser().resolve()
    build = build_dir(create=False)
    if resolved.is_relative_to(project_root()) and not resolved.is_relative_to(build):
        raise ValueError(f"{what} {resolved} is inside the checkout but not in its build folder {build}, so it could "
                         "replace one of the series' own files. Write it below the build folder or outside the "
                         "checkout.")


def write_text_atomic(target: Path, text: str) -> Path:
    """:func:`replace_file` for files the series writes while it runs: inside the checkout only below the build
    folder (:func:`refuse_checkout_file`).

    Used by :func:`record_metrics`, notebook 04's checkpoint keeper and ``make bench`` for ``build/bench.json``.
    """
    refuse_checkout_file(target)
    return replace_file(target, text)


def replace_file(target: Path, text: str) -> Path:
    """Write ``text`` to ``target`` through a temporary file and a rename, so a crash never leaves half a file.

    Used by :func:`write_text_atomic`, and by the maintainers' `make notebooks` and `make readme` for the
    checkout's own notebooks and README.md (it checks nothing about where ``target`` is). A run stopped
    halfway (Ctrl-C, a full disk, text that cannot be written) leaves the old file whole, and a replaced
    file keeps its permissions. Each write has a temporary file of its own, so two kernels writing at the
    same time (notebook 04 run twice side by side) never replace the file with the other's half-written
    one: the last complete write wins.
    """
    import shutil
    import uuid

    target = Path(target).expanduser()  # "~/x": the same place refuse_checkout_file checked
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as stream:  # "x": a fresh file, with the usual permissions
            stream.write(text)
        if target.exists():
            shutil.copymode(target, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def tree_digest(root: Path | None = None, folders: tuple[str, ...] = ("notebooks", "data")) -> dict[str, str]:
    """``{relative path: sha256}`` for every file below ``root/<folder>``; folders map to ``"<dir>"``.

    Used by the tests to prove that ``make run`` and ``make test`` leave ``notebooks/`` and ``data/`` alone.

    Names and contents both count: a new, removed, renamed or edited file or folder changes the digest.
    """
    root = root if root is not None else project_root()
    digest: dict[str, str] = {}
    for folder in folders:
        base = root / folder
        digest[folder] = "<dir>" if base.is_dir() else "<missing>"
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            name = path.relative_to(root).as_posix()
            if path.is_symlink():
                digest[name] = f"<link to {os.readlink(path)}>"
            elif path.is_dir():
                digest[name] = "<dir>"
            else:
                sha = hashlib.sha256()
                with path.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        sha.update(block)
                digest[name] = sha.hexdigest()
    return digest


def tree_changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """What differs between two digests, one line per path.

    Used by the tests that check that `make run` and `make test` leave ``notebooks/`` and ``data/`` unchanged.
    """
    lines = [f"added   {name}" for name in sorted(after.keys() - before.keys())]
    lines += [f"removed {name}" for name in sorted(before.keys() - after.keys())]
    lines += [f"changed {name}" for name in sorted(before.keys() & after.keys()) if before[name] != after[name]]
    return lines
