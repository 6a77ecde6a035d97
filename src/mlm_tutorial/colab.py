"""The first code cell of every notebook: install the pinned stack, but only on Google Colab.

Introduced in notebook 00. The repository URL lives here and nowhere else: the install cell of
each notebook is generated from it by ``python -m mlm_tutorial.notebook_tools sync``, the README's
"Open in Colab" badges by ``python -m mlm_tutorial.notebook_tools readme``, and the tests check both.
"""

from __future__ import annotations

REPOSITORY = "mlm-notebooks/mlm-tutorial"
REPOSITORY_URL = f"https://github.com/{REPOSITORY}"
BRANCH = "main"
COLAB_CHECKOUT = "/content/mlm-tutorial"

#: Tag carried by the install cell, so tools can find it.
INSTALL_TAG = "colab-install"

#: File in the Colab clone that says the install finished.
INSTALLED_MARKER = ".colab-installed"


def install_cell_source() -> str:
    """Source of the install cell that opens every notebook.

    On Colab it clones the repository (for the package and the bundled data; into a ``.partial`` folder that
    is renamed when the clone is complete, so a clone stopped halfway is made again), installs
    ``requirements-colab.txt`` (transformers 4.x instead of Colab's transformers 5, which has no
    TensorFlow classes) and the package, and points ``MLM_TUTORIAL_ROOT`` at the clone. A marker file
    (:data:`INSTALLED_MARKER`) is written only after pip succeeds, so running the cell again after a failed
    or interrupted install installs again instead of skipping it.
    Anywhere else ``make run`` has installed everything already; the cell only checks that the
    kernel is that environment's Python and, when it is not (a Jupyter started from another
    environment), stops with what to run instead of a bare ``No module named 'mlm_tutorial'``
    at the next cell.
    """
    return (
        "# On Google Colab: fetch the series and install its pinned stack (elsewhere: check the kernel).\n"
        "import importlib.util, os, shutil, subprocess, sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    checkout = "{COLAB_CHECKOUT}"\n'
        "    if not os.path.isdir(checkout):\n"
        '        partial = checkout + ".partial"  # renamed once complete: a stopped clone leaves no half copy\n'
        "        shutil.rmtree(partial, ignore_errors=True)\n"
        "        subprocess.run([\"git\", \"clone\", \"--quiet\", \"--depth\", \"1\", \"--branch\", "
        f'"{BRANCH}",\n'
        f'                        "{REPOSITORY_URL}", partial], check=True)\n'
        "        os.rename(partial, checkout)\n"
        f'    if not os.path.isfile(f"{{checkout}}/{INSTALLED_MARKER}"):  # also after a failed or stopped install\n'
        "        # pip may print resolver messages about Colab's other packages; they do not affect the series\n"
        "        subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"--quiet\",\n"
        "                        \"-r\", f\"{checkout}/requirements-colab.txt\", checkout], check=True)\n"
        f'        open(f"{{checkout}}/{INSTALLED_MARKER}", "w", encoding="utf-8").close()\n'
        '    os.environ["MLM_TUTORIAL_ROOT"] = checkout\n'
        'elif importlib.util.find_spec("mlm_tutorial") is None:\n'
        '    raise ModuleNotFoundError(f"this kernel ({sys.executable}) has no mlm_tutorial package. Run `make run` "\n'
        '                              "once in the checkout (without make: the README\'s install steps), then start "\n'
        '                              "Jupyter with `.venv/bin/jupyter lab notebooks/` (on Windows .venv\\\\Scripts\\\\ "\n'
        '                              "instead of .venv/bin/), or choose the .venv\'s python as the kernel.")'
    )


def colab_badge_url(notebook_path: str) -> str:
    """The "Open in Colab" link for a notebook given relative to the repository root.

    Used by `make readme` for the README's badges; no notebook calls it.
    """
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{notebook_path}"
