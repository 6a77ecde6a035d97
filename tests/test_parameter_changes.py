"""The notebooks invite learners to change their parameters; a changed parameter must not stop a notebook.

nbval checks every notebook with its default parameters. Here notebooks run with changed ones:

- notebook 04 with two changes its parameter cell suggests at once: a local folder as ``MODEL`` (the
  bundled RoBERTa-style model, so the whole fine-tuning lesson also runs on the second family) and
  another ``CATEGORY``. The results then differ from the default run's (perplexity falls by less than
  20%); the notebook must say so and carry on to the end, saving and reloading the model;
- notebooks 01 and 02 with a ``MAX_LENGTH`` shorter than the articles and headlines they show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from mlm_tutorial.notebook_tools import execute, read_notebook
from mlm_tutorial.paths import BUILD_ENV, project_root

NOTEBOOKS = project_root() / "notebooks"
NOTEBOOK = NOTEBOOKS / "04_fine_tuning_tf_masked_lm.ipynb"
CHANGES = {'MODEL = "auto"': 'MODEL = "../data/models/roberta-mini-news"',
           'CATEGORY = "business"': 'CATEGORY = "tech"'}
SHORT_LENGTHS = {"01_tokenizing_into_tf_tensors.ipynb": {"MAX_LENGTH = 128": "MAX_LENGTH = 16"},
                 "02_special_tokens_and_padding.ipynb": {"MAX_LENGTH = 16": "MAX_LENGTH = 8"}}


def with_parameters(notebook: Any, changes: dict[str, str]) -> Any:
    """A copy of ``notebook`` whose parameter cell has each ``old`` assignment replaced by ``new``."""
    changed = nbformat.from_dict(notebook)
    for old, new in changes.items():
        cells = [cell for cell in changed.cells if cell.cell_type == "code" and old in cell.source]
        assert len(cells) == 1, f"{old!r} should be in exactly one code cell, found {len(cells)}"
        cells[0].source = cells[0].source.replace(old, new)
    return changed


def run_changed(path: Path, changes: dict[str, str]) -> Any:
    """``path`` executed with ``changes`` made to its parameters: the cells that ran, up to an error if one stops it."""
    notebook = with_parameters(read_notebook(path), changes)
    try:
        return execute(notebook, cwd=path.parent, timeout=900)
    except Exception as error:  # the cells that ran, with the error output the tests report
        if getattr(error, "notebook", None) is None:
            raise
        return error.notebook


def errors(notebook: Any) -> list[str]:
    return [f"{output.get('ename')}: {output.get('evalue')}" for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.get("outputs", []) if output.get("output_type") == "error"]


def printed(notebook: Any) -> str:
    return "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.get("outputs", []) if output.get("output_type") == "stream")


@pytest.fixture(scope="module")
def changed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    build = tmp_path_factory.mktemp("build-changed-parameters")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(BUILD_ENV, str(build))  # the kernel inherits it
        return run_changed(NOTEBOOK, CHANGES), build


def test_notebook_04_runs_to_the_end_with_another_model_and_category(changed_run: tuple[Any, Path]) -> None:
    notebook, build = changed_run
    assert errors(notebook) == []
    text = printed(notebook)
    assert "TFRobertaForMaskedLM" in text and "tech" in text
    assert "the reloaded model gives identical fill-mask output: True" in text
    assert (build / "models" / "04_roberta-mini-news_tech_quick_fast_seed42" / "tf_model.h5").is_file()


def test_notebook_04_says_when_a_result_differs_from_the_default_run(changed_run: tuple[Any, Path]) -> None:
    text = printed(changed_run[0])
    assert "perplexity fell by more than 20%: False" in text
    assert "not this time" in text and "change one setting at a time" in text
    # No category improves in this run (tech got worse least): the verdict must not call that an improvement.
    assert "the category that improved most is the training domain (tech): False" in text
    assert "no category improved; tech got worse least" in text or "improved most. Compare with the default" in text


@pytest.mark.parametrize("name", sorted(SHORT_LENGTHS))
def test_a_short_max_length_runs_to_the_end(name: str) -> None:
    notebook = run_changed(NOTEBOOKS / name, SHORT_LENGTHS[name])
    assert errors(notebook) == []


def test_with_parameters_refuses_an_assignment_it_cannot_find() -> None:
    notebook = read_notebook(NOTEBOOK)
    with pytest.raises(AssertionError, match="exactly one code cell"):
        with_parameters(notebook, {'MODEL = "nowhere"': 'MODEL = "x"'})
