"""Shared test set-up for the unit tests and for nbval's checks of the notebooks.

1. The environment is fixed before anything imports TensorFlow or huggingface_hub: always offline
   (``HF_HUB_OFFLINE=1``, whatever the network), Keras 2 through tf-keras, quiet TensorFlow logs, and
   none of the variables that choose other data, models, a run profile or another checkout
   (``MLM_TUTORIAL_DATA``, ``_MODEL``, ``_ROBERTA``, ``_PROFILE``, ``_ROOT``): the tests check the
   bundled assets. ``HF_HUB_CACHE`` names a folder that does not exist, so models a user has downloaded
   before cannot change what the offline tests see. Notebook kernels started by nbval inherit this
   environment.
2. ``MLM_TUTORIAL_BUILD`` points at a pytest temporary folder for the whole session, so neither the
   tests nor the notebooks they run write into the checkout's ``build/`` (``data/`` is only read).
3. nbval compares a cell's stderr stream outputs like any other output, so a TensorFlow C++ log line
   with a timestamp or a progress bar would fail the check. Before nbval compares the stored and the
   fresh outputs of a cell, ``mlm_tutorial.notebook_tools.drop_stderr_noise`` removes the known library
   chatter from both (the same filter that keeps it out of the written notebooks). Error outputs,
   stdout and every other stderr line are compared as before, so real errors still fail.
4. ``TMPDIR`` points at another folder of the session for every process the tests start. nbval stops a
   notebook's kernel at once, without its exit handlers, so the files TensorFlow's autograph writes to
   the temporary folder would stay behind in the system's one after every ``make test``; they now go
   where pytest's own temporary folders go (pytest keeps the last three sessions' and removes older ones).
"""

from __future__ import annotations

import os

# Must happen before TensorFlow, tf-keras, transformers or huggingface_hub are imported anywhere.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ["HF_HUB_CACHE"] = os.path.join(os.path.dirname(os.path.abspath(__file__)), "build", "no-hub-cache")

from mlm_tutorial.paths import BUILD_ENV, ROOT_ENV  # noqa: E402
from mlm_tutorial.resources import CHOICE_ENVS  # noqa: E402
from mlm_tutorial.training import PROFILE_ENV  # noqa: E402

# The tests check this checkout's bundled assets with the quick profile, whatever the shell has chosen.
for _name in (*CHOICE_ENVS, PROFILE_ENV, ROOT_ENV):
    os.environ.pop(_name, None)

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from mlm_tutorial.notebook_tools import drop_stderr_noise  # noqa: E402


def ignore_stderr_noise(cell: Any) -> None:
    """Make an nbval cell item compare its outputs after :func:`drop_stderr_noise`.

    nbval 0.11 calls ``cell.compare_outputs(fresh_outputs, stored_outputs)`` once per checked cell,
    after merging each cell's stream outputs; the wrapper filters both sides, then lets nbval compare.
    """
    compare: Callable[..., bool] = cell.compare_outputs

    def compare_outputs(test: list[Any], ref: list[Any], skip_compare: Any = None) -> bool:
        return compare(drop_stderr_noise(test), drop_stderr_noise(ref), skip_compare)

    cell.compare_outputs = compare_outputs


# --------------------------------------------------------------------------- pytest hooks


#: The variables :func:`pytest_configure` points at session folders, with the folder's name.
SESSION_FOLDERS = {BUILD_ENV: "build", "TMPDIR": "tmp"}
_previous: dict[str, str | None] = {}


@pytest.hookimpl(trylast=True)  # after pytest's tmpdir plugin has made its TempPathFactory
def pytest_configure(config: pytest.Config) -> None:
    """Point ``MLM_TUTORIAL_BUILD`` and ``TMPDIR`` at fresh pytest temporary folders for this session.

    Set here rather than in a fixture because nbval starts a notebook's kernel (which inherits the
    environment) before any fixture could run. ``config._tmp_path_factory`` is the object behind
    pytest's ``tmp_path_factory`` fixture, so the folders live with the session's other temp folders.
    This process keeps the temporary folder it has already chosen (``tempfile`` remembers it); the
    kernels and every other process started from here use the new one.
    """
    for name, folder in SESSION_FOLDERS.items():
        _previous[name] = os.environ.get(name)
        os.environ[name] = str(config._tmp_path_factory.mktemp(folder))


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, value in _previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _previous.clear()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Let every nbval cell ignore known stderr noise (see ``notebook_tools.STDERR_NOISE``)."""
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval not installed: no notebook items to adjust
        return
    for item in items:
        if isinstance(item, IPyNbCell):
            ignore_stderr_noise(item)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(name="ignore_stderr_noise")
def ignore_stderr_noise_fixture() -> Callable[[Any], None]:
    """The wrapper applied to nbval's cells, for the tests that check it."""
    return ignore_stderr_noise


@pytest.fixture(scope="session")
def tf_ready() -> None:
    """Run ``notebook_setup`` once, as every notebook does, before TF objects are made."""
    from mlm_tutorial.setup import notebook_setup

    notebook_setup(seed=42, verbose=False)


@pytest.fixture(scope="session")
def bert_tokenizer(tf_ready: None) -> Any:
    """The bundled WordPiece tokenizer, as ``load_tokenizer("auto")`` gives it offline."""
    from mlm_tutorial.resources import load_tokenizer

    return load_tokenizer("auto")


@pytest.fixture(scope="session")
def roberta_tokenizer(tf_ready: None) -> Any:
    """The bundled byte-level BPE tokenizer (``family="roberta"``)."""
    from mlm_tutorial.resources import load_tokenizer

    return load_tokenizer("auto", family="roberta")


@pytest.fixture(scope="module", params=["bert", "roberta"])
def tokenizer(request: pytest.FixtureRequest) -> Any:
    """Each bundled tokenizer family in turn: a module's tests run with BERT's, then with RoBERTa's.

    A module that needs one family only defines its own ``tokenizer`` fixture, which takes precedence.
    """
    return request.getfixturevalue(f"{request.param}_tokenizer")


@pytest.fixture(scope="session")
def both_tokenizers(bert_tokenizer: Any, roberta_tokenizer: Any) -> dict[str, Any]:
    """Both bundled tokenizers under the names the notebooks show: ``{"BERT": ..., "RoBERTa": ...}``."""
    return {"BERT": bert_tokenizer, "RoBERTa": roberta_tokenizer}


@pytest.fixture(scope="session")
def mlm_model(tf_ready: None) -> Any:
    """The bundled TF masked LM. Shared: tests must not train or compile it (load a fresh one)."""
    from mlm_tutorial.resources import load_mlm_model

    return load_mlm_model("auto")


@pytest.fixture(scope="session")
def news_corpus(tf_ready: None) -> Any:
    """The bundled news corpus as a ``DatasetDict``."""
    from mlm_tutorial.resources import load_news_corpus

    return load_news_corpus("auto")


# --------------------------------------------------------------------------- notebooks/ and data/ stay unchanged

SOURCE_TREES = ("notebooks", "data")
_ROOT = Path(__file__).resolve().parent
_source_snapshot: dict[str, str] = {}


def source_tree_digest(root: Path = _ROOT) -> dict[str, str]:
    """``{relative path: sha256}`` for every file below notebooks/ and data/ (see ``paths.tree_digest``)."""
    from mlm_tutorial.paths import tree_digest

    return tree_digest(root, SOURCE_TREES)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Remember notebooks/ and data/ before any test runs."""
    _source_snapshot.clear()
    _source_snapshot.update(source_tree_digest())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when anything in it (tests or nbval checks) wrote into notebooks/ or data/."""
    if not _source_snapshot:
        return
    after = source_tree_digest()
    from mlm_tutorial.paths import tree_changes

    diff = tree_changes(_source_snapshot, after)
    if not diff:
        return
    text = "the test session wrote into notebooks/ or data/:\n" + "\n".join(diff)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write("\n")
        reporter.write_sep("=", "source trees changed", red=True)
        reporter.write_line(text)
    else:
        print(text)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def source_tree_snapshot() -> dict[str, str]:
    """The digest of notebooks/ and data/ taken when the session started."""
    return dict(_source_snapshot)
