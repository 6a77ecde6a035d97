"""Security hygiene: no code that runs what a downloaded file says, no pickles, no import tricks.

1. A scanner parses every Python file of the package, the benchmarks, the tools and the tests, and
   every code cell of every notebook, and reports: ``trust_remote_code`` set to anything but
   ``False``; ``pickle`` (and its relatives ``dill``, ``cloudpickle``, ``shelve``, ``pd.read_pickle``);
   ``torch.load``; ``joblib``; ``allow_pickle`` set to anything but ``False``; edits of ``sys.path``;
   star imports. It reads the syntax tree, so the patterns written as strings in this file (the
   scanner's own patterns and its test cases) are not code and are not reported.
2. Every weight file under ``data/`` is HDF5 (``.h5``) or ``.safetensors``, and its first bytes say so;
   no file there is a pickle or a PyTorch zip archive.
3. ``resources.load_mlm_model`` passes ``trust_remote_code=False``, and a model folder whose config
   asks for custom code (``auto_map``) loads the library's own class without running that code.
4. A config that names attention code in a Hub repository (the field of CVE-2026-4372) loads the same
   model as without it, and nothing is downloaded or run; requirements.txt brings neither torch nor
   ``kernels``, which that advisory needs.
"""

from __future__ import annotations

import ast
import json
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from project_code import NOTEBOOKS, PYTHON_FILES, ROOT, notebook_code

PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve"}
PICKLE_READERS = {"load", "loads", "Unpickler", "open", "read_pickle"}
SYS_PATH_METHODS = {"insert", "append", "extend", "remove", "pop", "clear", "__setitem__", "__iadd__"}

ALLOWED_WEIGHT_SUFFIXES = {".h5", ".safetensors"}
FORBIDDEN_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".dill", ".msgpack",
                      ".npy", ".npz", ".onnx", ".pb", ".keras", ".index", ".gguf"}
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
PICKLE_HEADERS = tuple(bytes([0x80, protocol]) for protocol in range(2, 6))
ZIP_SIGNATURE = b"PK\x03\x04"


# --------------------------------------------------------------------------- the scanner


@dataclass(frozen=True)
class Finding:
    """One forbidden construct: where it is and which rule it breaks."""

    where: str
    line: int
    rule: str
    code: str

    def __str__(self) -> str:
        return f"{self.where}:{self.line}: {self.rule}: {self.code}"


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for a chain of attribute lookups on a name, else ``""``."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _is_false(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _touches_sys_path(target: ast.AST) -> bool:
    """True when an assignment target is ``sys.path`` or a slice/item of it."""
    while isinstance(target, ast.Subscript):
        target = target.value
    if isinstance(target, (ast.Tuple, ast.List)):
        return any(_touches_sys_path(element) for element in target.elts)
    return _dotted(target) == "sys.path"


class _Scanner(ast.NodeVisitor):
    def __init__(self, where: str, lines: list[str]) -> None:
        self.where = where
        self.lines = lines
        self.found: list[Finding] = []

    def flag(self, node: ast.AST, rule: str) -> None:
        number = getattr(node, "lineno", 0)
        code = self.lines[number - 1].strip() if 0 < number <= len(self.lines) else ""
        self.found.append(Finding(self.where, number, rule, code))

    def _module_rules(self, node: ast.AST, module: str) -> None:
        top = module.split(".")[0]
        if top in PICKLE_MODULES:
            self.flag(node, "pickle")
        if top == "joblib":
            self.flag(node, "joblib")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module_rules(node, alias.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        names = {alias.name for alias in node.names}
        if "*" in names:
            self.flag(node, "star import")
        self._module_rules(node, module)
        if module == "sys" and "path" in names:
            self.flag(node, "sys.path edit")
        if module.split(".")[0] == "torch" and "load" in names:
            self.flag(node, "torch.load")
        if module == "site" and "addsitedir" in names:
            self.flag(node, "sys.path edit")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _dotted(node.func)
        parts = name.split(".") if name else []
        for keyword in node.keywords:
            if keyword.arg == "trust_remote_code" and not _is_false(keyword.value):
                self.flag(node, "trust_remote_code")
            if keyword.arg == "allow_pickle" and not _is_false(keyword.value):
                self.flag(node, "allow_pickle")
            if keyword.arg is None and isinstance(keyword.value, ast.Dict):  # f(**{"trust_remote_code": True})
                for key, value in zip(keyword.value.keys, keyword.value.values):
                    if isinstance(key, ast.Constant) and key.value in ("trust_remote_code", "allow_pickle") \
                            and not _is_false(value):
                        self.flag(node, str(key.value))
        if parts[:1] == ["torch"] and parts[-1:] == ["load"]:
            self.flag(node, "torch.load")
        if parts and parts[0] in PICKLE_MODULES and parts[-1] in PICKLE_READERS:
            self.flag(node, "pickle")
        if parts[-1:] == ["read_pickle"]:
            self.flag(node, "pickle")
        if parts[:1] == ["joblib"]:
            self.flag(node, "joblib")
        if name.startswith("sys.path.") and parts[-1] in SYS_PATH_METHODS:
            self.flag(node, "sys.path edit")
        if name == "site.addsitedir":
            self.flag(node, "sys.path edit")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        if any(_touches_sys_path(target) for target in node.targets):
            self.flag(node, "sys.path edit")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if _touches_sys_path(node.target):
            self.flag(node, "sys.path edit")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if _touches_sys_path(node.target):
            self.flag(node, "sys.path edit")
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        if any(_touches_sys_path(target) for target in node.targets):
            self.flag(node, "sys.path edit")
        self.generic_visit(node)


def scan_source(source: str, where: str) -> list[Finding]:
    """Every forbidden construct in one piece of Python source."""
    tree = ast.parse(source, filename=where)
    scanner = _Scanner(where, source.splitlines())
    scanner.visit(tree)
    return scanner.found


# --------------------------------------------------------------------------- the scanner finds what it must


MUST_FLAG = [
    ("model = AutoModel.from_pretrained(name, trust_remote_code=True)", "trust_remote_code"),
    ("pipe = pipeline('fill-mask', model=m, trust_remote_code=flag)", "trust_remote_code"),
    ("cfg = AutoConfig.from_pretrained(name, **{'trust_remote_code': True})", "trust_remote_code"),
    ("import pickle", "pickle"),
    ("import pickle as pk", "pickle"),
    ("from pickle import loads", "pickle"),
    ("import dill", "pickle"),
    ("data = pickle.load(handle)", "pickle"),
    ("frame = pd.read_pickle('x.pkl')", "pickle"),
    ("weights = torch.load('model.bin')", "torch.load"),
    ("from torch import load", "torch.load"),
    ("import joblib", "joblib"),
    ("from joblib import load", "joblib"),
    ("model = joblib.load('m.joblib')", "joblib"),
    ("arr = np.load('a.npy', allow_pickle=True)", "allow_pickle"),
    ("arr = numpy.load(path, mmap_mode='r', allow_pickle=1)", "allow_pickle"),
    ("sys.path.insert(0, '..')", "sys.path edit"),
    ("sys.path.append('src')", "sys.path edit"),
    ("sys.path += ['src']", "sys.path edit"),
    ("sys.path = ['src'] + sys.path", "sys.path edit"),
    ("sys.path[0:0] = ['src']", "sys.path edit"),
    ("from sys import path", "sys.path edit"),
    ("site.addsitedir('src')", "sys.path edit"),
    ("from mlm_tutorial.masking import *", "star import"),
    ("def f():\n    from os import *\n", "star import"),
]

MUST_PASS = [
    "model = TFAutoModelForMaskedLM.from_pretrained(name, trust_remote_code=False)",
    "arr = np.load('a.npy')",
    "arr = np.load('a.npy', allow_pickle=False)",
    "print('never call pickle.load or torch.load; never pass trust_remote_code=True')",
    '"""Docs may say: import pickle, sys.path.insert(0, ".."), from x import *."""',
    "# sys.path.append('src') in a comment is not code",
    "import sys\nprint(sys.path[0])",
    "paths = list(sys.path)",
    "state = torch_like.loader(x)",
    "import picklescan_free_name",
]


@pytest.mark.parametrize("source, rule", MUST_FLAG, ids=[source for source, _ in MUST_FLAG])
def test_the_scanner_reports_forbidden_code(source: str, rule: str) -> None:
    findings = scan_source(source, "example.py")
    assert rule in {finding.rule for finding in findings}, f"{source!r} was not reported as {rule!r}: {findings}"


@pytest.mark.parametrize("source", MUST_PASS)
def test_the_scanner_accepts_harmless_code(source: str) -> None:
    assert scan_source(source, "example.py") == []


def test_the_scanner_sees_a_notebook_cell_with_magics(tmp_path: Path) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("Markdown may mention `import pickle`: it is prose."),
        nbformat.v4.new_code_cell("%matplotlib inline\n!ls data\nx = 1"),
        nbformat.v4.new_code_cell("import sys\nsys.path.insert(0, '../src')"),
    ]
    path = tmp_path / "99_example.ipynb"
    nbformat.write(notebook, str(path))
    findings = [f for where, source in notebook_code(path) for f in scan_source(source, where)]
    assert [(f.where, f.rule) for f in findings] == [("99_example.ipynb cell 2", "sys.path edit")]


# --------------------------------------------------------------------------- the project's code is clean


def test_the_scan_covers_the_project() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in PYTHON_FILES}
    assert {"src/mlm_tutorial/resources.py", "src/mlm_tutorial/masking.py", "tests/test_security.py",
            "conftest.py"} <= names
    assert any(name.startswith("src/mlm_tutorial/exercises/") for name in names)
    assert len(NOTEBOOKS) >= 4


@pytest.mark.parametrize("path", PYTHON_FILES, ids=[p.relative_to(ROOT).as_posix() for p in PYTHON_FILES])
def test_python_file_has_no_forbidden_code(path: Path) -> None:
    where = path.relative_to(ROOT).as_posix()
    findings = scan_source(path.read_text(encoding="utf-8"), where)
    assert not findings, "forbidden code:\n" + "\n".join(map(str, findings))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_code_cells_have_no_forbidden_code(path: Path) -> None:
    cells = notebook_code(path)
    assert cells, f"{path.name} has no code cell"
    findings = [finding for where, source in cells for finding in scan_source(source, where)]
    assert not findings, "forbidden code:\n" + "\n".join(map(str, findings))


# --------------------------------------------------------------------------- weight files under data/


def _data_files() -> list[Path]:
    return sorted(p for p in (ROOT / "data").rglob("*") if p.is_file())


def test_no_pickle_based_weight_format_under_data() -> None:
    files = _data_files()
    assert files
    forbidden = [p.relative_to(ROOT).as_posix() for p in files if p.suffix.lower() in FORBIDDEN_SUFFIXES
                 or ".data-0" in p.name]
    assert not forbidden, f"weights must be .h5 or .safetensors; found {forbidden}"


def test_no_file_under_data_is_a_pickle_or_a_zip_archive() -> None:
    bad = []
    assert _data_files(), "data/ should hold the bundled corpus, tokenizers and models"
    for path in _data_files():
        with path.open("rb") as handle:
            head = handle.read(4)
        if head.startswith(PICKLE_HEADERS) or head == ZIP_SIGNATURE:
            bad.append(path.relative_to(ROOT).as_posix())
    assert not bad, f"pickled or zipped (PyTorch-style) files under data/: {bad}"


def _model_folders() -> list[Path]:
    folders = []
    for config in (ROOT / "data").rglob("config.json"):
        if "model_type" in json.loads(config.read_text(encoding="utf-8")):
            folders.append(config.parent)
    return sorted(folders)


def test_every_model_folder_holds_safe_weights() -> None:
    folders = _model_folders()
    assert folders, "data/ should hold at least the bundled model"
    for folder in folders:
        weights = [p for p in folder.iterdir() if p.suffix in ALLOWED_WEIGHT_SUFFIXES]
        assert weights, f"{folder} has no .h5 or .safetensors weights"


def names_defined_twice(source: str) -> list[str]:
    """Top-level functions and classes that a module defines more than once: the later one silently
    replaces the earlier, so a test defined twice runs once, and an edited copy may never run at all."""
    seen: set[str] = set()
    twice = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name in seen:
                twice.append(node.name)
            seen.add(node.name)
    return twice


def test_no_python_file_defines_a_name_twice() -> None:
    assert names_defined_twice("def a(): pass\nclass B: pass\ndef a(): return 1\n") == ["a"]
    assert names_defined_twice("def a(): pass\ndef b(): pass\n") == []
    assert PYTHON_FILES
    twice = {path.relative_to(ROOT).as_posix(): names for path in PYTHON_FILES
             if (names := names_defined_twice(path.read_text(encoding="utf-8")))}
    assert twice == {}


def weight_file_problem(path: Path) -> str | None:
    """What is wrong with a weight file's first bytes for its name (.h5 or .safetensors), or None."""
    with path.open("rb") as handle:
        head = handle.read(8)
        if path.suffix == ".h5":
            return None if head == HDF5_SIGNATURE else f"{path} is not an HDF5 file"
        if len(head) < 8:
            return f"{path} has no safetensors header"
        (length,) = struct.unpack("<Q", head)
        if not 0 < length < 100_000_000:
            return f"{path} has no safetensors header"
        try:
            header = json.loads(handle.read(length))
        except ValueError:
            return f"{path} has no safetensors header"
        return None if isinstance(header, dict) else f"{path} has no safetensors header"


def test_the_weight_file_check_knows_both_formats(tmp_path: Path) -> None:
    import tensorflow as tf
    from safetensors.tensorflow import save_file

    good = tmp_path / "model.safetensors"
    save_file({"w": tf.zeros([2, 3])}, str(good))
    assert weight_file_problem(good) is None
    pickled = tmp_path / "model2.safetensors"
    pickled.write_bytes(b"\x80\x04\x95" + b"\x00" * 40)  # a pickle named as safetensors
    assert weight_file_problem(pickled) == f"{pickled} has no safetensors header"
    renamed = tmp_path / "tf_model.h5"
    renamed.write_bytes(good.read_bytes())  # a safetensors file named as HDF5
    assert weight_file_problem(renamed) == f"{renamed} is not an HDF5 file"


def test_weight_files_are_what_their_names_say() -> None:
    weights = [p for p in _data_files() if p.suffix in ALLOWED_WEIGHT_SUFFIXES]
    assert weights
    assert [problem for problem in map(weight_file_problem, weights) if problem] == []
    for path in (p for p in weights if p.suffix == ".h5"):
        import h5py

        with h5py.File(path, "r") as archive:
            # Weights only: a full Keras model saved to HDF5 carries its architecture ("model_config"),
            # which may hold serialized Python code (Lambda layers).
            assert "model_config" not in archive.attrs, f"{path} holds a whole Keras model, not just weights"


# --------------------------------------------------------------------------- remote code is never trusted


def test_load_mlm_model_passes_trust_remote_code_false(monkeypatch: pytest.MonkeyPatch, tf_ready: None) -> None:
    from transformers import TFAutoModelForMaskedLM

    from mlm_tutorial.resources import MODEL_ENV, load_mlm_model

    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def record(*args: Any, **kwargs: Any) -> str:
        calls.append((args, kwargs))
        return "model"

    monkeypatch.delenv(MODEL_ENV, raising=False)
    monkeypatch.setattr(TFAutoModelForMaskedLM, "from_pretrained", record)
    assert load_mlm_model("auto") == "model"
    assert len(calls) == 1
    assert calls[0][1].get("trust_remote_code", "missing") is False


def test_load_tokenizer_never_trusts_remote_code(monkeypatch: pytest.MonkeyPatch, tf_ready: None) -> None:
    from transformers import AutoTokenizer

    from mlm_tutorial.resources import MODEL_ENV, load_tokenizer

    calls: list[dict[str, Any]] = []

    def record(*args: Any, **kwargs: Any) -> str:
        calls.append(kwargs)
        return "tokenizer"

    monkeypatch.delenv(MODEL_ENV, raising=False)
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", record)
    assert load_tokenizer("auto") == "tokenizer"
    assert load_tokenizer("auto", family="roberta") == "tokenizer"
    assert len(calls) == 2
    assert all(call.get("trust_remote_code") is not True for call in calls)


def test_a_folder_asking_for_custom_code_loads_without_running_it(tmp_path: Path, tf_ready: None,
                                                                  bert_tokenizer: Any) -> None:
    from mlm_tutorial.resources import bundled_model_dir, load_mlm_model, load_tokenizer

    folder = tmp_path / "model_with_custom_code"
    shutil.copytree(bundled_model_dir(), folder)
    marker = tmp_path / "custom_code_ran"
    (folder / "custom_code.py").write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n",
                                           encoding="utf-8")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["auto_map"] = {"AutoConfig": "custom_code.Config", "TFAutoModelForMaskedLM": "custom_code.Model"}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    tokenizer_config["auto_map"] = {"AutoTokenizer": ["custom_code.Tokenizer", "custom_code.Tokenizer"]}
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config), encoding="utf-8")

    model = load_mlm_model(str(folder))
    tokenizer = load_tokenizer(str(folder))
    assert not marker.exists(), "the folder's own Python code was run"
    assert type(model).__module__.startswith("transformers."), type(model)
    assert type(tokenizer).__module__.startswith("transformers."), type(tokenizer)
    assert tokenizer("a market") == bert_tokenizer("a market")


def test_a_config_naming_hub_attention_code_neither_fetches_nor_runs_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tf_ready: None, bert_tokenizer: Any) -> None:
    """The config field behind CVE-2026-4372 (attention code named by a Hub repository) is inert here.

    In transformers' PyTorch classes, a config whose attention implementation reads ``owner/repo:function``
    makes the optional ``kernels`` package download that repository's code and run it, whatever
    ``trust_remote_code`` says. The series loads TensorFlow classes only: the field must change nothing.
    """
    import sys
    import types

    import huggingface_hub
    import numpy as np

    from mlm_tutorial.resources import bundled_model_dir, load_mlm_model

    requests: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        requests.append(f"{args} {kwargs}")
        raise AssertionError("a download was attempted")

    fake_kernels = types.ModuleType("kernels")
    fake_kernels.get_kernel = refuse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kernels", fake_kernels)
    for name in ("hf_hub_download", "snapshot_download"):
        monkeypatch.setattr(huggingface_hub, name, refuse)

    folder = tmp_path / "model_naming_hub_attention"
    shutil.copytree(bundled_model_dir(), folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["_attn_implementation_internal"] = "someone/attention-code:attention"
    config["attn_implementation"] = "someone/attention-code:attention"
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")

    crafted = load_mlm_model(str(folder))
    bundled = load_mlm_model(str(bundled_model_dir()))
    batch = bert_tokenizer(["oil prices [MASK] again"], return_tensors="tf")
    assert requests == []
    assert type(crafted).__module__.startswith("transformers.models."), type(crafted)
    np.testing.assert_array_equal(crafted(batch).logits.numpy(), bundled(batch).logits.numpy())


def dependency_closure(requirements: str, requires: Callable[[str], list[str] | None]) -> set[str]:
    """Every distribution that installing ``requirements`` brings, its pins and what they require in turn.

    ``requires(name)`` gives a distribution's requirement strings (``importlib.metadata.requires``);
    requirements behind an extra or a marker that excludes this interpreter are left out, as pip does.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    def wanted(line: str) -> str | None:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            return None
        return canonicalize_name(requirement.name)

    lines = [line.split("#", 1)[0].strip() for line in requirements.splitlines()]
    pending = [name for name in map(wanted, filter(None, lines)) if name]
    found: set[str] = set()
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending.extend(n for n in map(wanted, requires(name) or []) if n)
    return found


def test_the_pinned_stack_brings_neither_torch_nor_kernels() -> None:
    """README's security paragraph: the advisories that run code need torch (and ``kernels``)."""
    from importlib import metadata

    brought = dependency_closure((ROOT / "requirements.txt").read_text(encoding="utf-8"), metadata.requires)
    assert {"tensorflow", "transformers", "tf-keras", "safetensors"} <= brought
    assert not brought & {"torch", "kernels"}


def test_dependency_closure_follows_requirements_of_requirements() -> None:
    graph = {"a": ["b>=1", 'c; extra == "gpu"'], "b": ["torch", 'd; python_version < "3"'], "torch": []}
    assert dependency_closure("a==1  # pinned\n\n", graph.get) == {"a", "b", "torch"}
