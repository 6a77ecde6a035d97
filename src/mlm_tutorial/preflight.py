"""Checks made before the first install: a supported Python and enough free disk space.

No notebook uses this module. The Makefile runs this file by its path, with the interpreter that is
about to create ``.venv/``, before anything is installed; so it uses the standard library only and
keeps to the syntax of Python 3.7, so that an interpreter too old for the stack still reads it and
hears what is wrong.

Why check the disk: the stack is large (TensorFlow's wheel alone is 572 MB; a complete ``.venv/``
takes about 3.1 GB on disk), and when the disk fills in the middle of a download, pip reports an interrupted
download and blames the network.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Sequence

#: Oldest and newest supported Python (pyproject.toml's ``requires-python``; TensorFlow 2.21's wheels).
OLDEST_PYTHON = (3, 10)
NEWEST_PYTHON = (3, 13)

GB = 10**9
#: Room for a new ``.venv/`` (3.1 GB measured) with some to spare.
NEW_VENV_BYTES = 3_500_000_000
#: Room for an update of an existing ``.venv/`` (new pins replace old files).
VENV_UPDATE_BYTES = 1 * GB
#: Room for pip's temporary downloads (the largest file is TensorFlow's 572 MB wheel).
DOWNLOAD_BYTES = 1 * GB


def python_problem(version: Sequence[int]) -> str | None:
    """Return why ``version`` (major, minor) cannot run the series, or None when it can.

    Run by the Makefile before the first install (`make run`, `make test`); no notebook calls it.
    """
    major_minor = (int(version[0]), int(version[1]))
    if OLDEST_PYTHON <= major_minor <= NEWEST_PYTHON:
        return None
    oldest = ".".join(map(str, OLDEST_PYTHON))
    newest = ".".join(map(str, NEWEST_PYTHON))
    return (
        f"Python {major_minor[0]}.{major_minor[1]} cannot install the pinned stack: TensorFlow 2.21 "
        f"has wheels for Python {oldest} to {newest} only. Run make with a supported interpreter, "
        f"e.g. `make run PYTHON=python3.11`, then `make` reuses the .venv/ it creates. No such Python here? "
        f"Install one beside the system's, e.g. `uv python install {newest}` and then "
        f"`make run PYTHON=\"$(uv python find {newest})\"` (the README's \"When something goes wrong\" lists others)."
    )


def _existing(path: Path) -> Path:
    """``path`` itself if it exists, else its nearest existing parent (whose disk it will be on)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def space_needs(venv: Path, temp: Path) -> dict[Path, int]:
    """Bytes the install needs free in each place: the virtual environment and pip's temporary folder.

    Run by the Makefile before the first install (`make run`, `make test`); no notebook calls it.
    """
    venv_bytes = VENV_UPDATE_BYTES if (Path(venv) / "bin").is_dir() else NEW_VENV_BYTES
    return {Path(venv): venv_bytes, Path(temp): DOWNLOAD_BYTES}


def space_problems(
    needs: dict[Path, int],
    free_bytes: Callable[[Path], int] | None = None,
    device: Callable[[Path], int] | None = None,
) -> list[str]:
    """Return one message per disk that has less free space than the places on it need together.

    ``free_bytes`` and ``device`` default to :func:`shutil.disk_usage` and ``os.stat(...).st_dev`` of the
    nearest existing folder; tests pass their own.

    Run by the Makefile before the first install (`make run`, `make test`); no notebook calls it.
    """
    free_bytes = free_bytes or (lambda path: shutil.disk_usage(_existing(path)).free)
    device = device or (lambda path: os.stat(_existing(path)).st_dev)
    by_device: dict[int, list[Path]] = {}
    for path in needs:
        by_device.setdefault(device(path), []).append(path)
    problems = []
    for paths in by_device.values():
        needed = sum(needs[path] for path in paths)
        free = free_bytes(paths[0])
        if free < needed:
            places = " and ".join(str(path) for path in paths)
            problems.append(
                f"Not enough free disk space for the install: {free / GB:.1f} GB free on the disk "
                f"that holds {places}, about {needed / GB:.1f} GB needed. Free some space (or set "
                "TMPDIR to a folder on a disk with room for pip's downloads) and run make again. "
                "A disk that fills during the install makes pip report an interrupted download."
            )
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Print every problem found to stderr and return 1, or return 0 when the install can go ahead.

    Run by the Makefile before the first install (`make run`, `make test`); no notebook calls it.
    """
    parser = argparse.ArgumentParser(description="Check Python and disk space before `make` installs .venv/.")
    parser.add_argument("--venv", type=Path, default=Path(".venv"), help="the virtual environment to create")
    args = parser.parse_args(argv)
    problems = []
    version_problem = python_problem(sys.version_info[:2])
    if version_problem:
        problems.append(version_problem)
    problems.extend(space_problems(space_needs(args.venv, Path(tempfile.gettempdir()))))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
