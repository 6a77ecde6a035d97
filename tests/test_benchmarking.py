"""Tests of mlm_tutorial.benchmarking (notebook 05, ``make bench``): FLOP counts, padding counts, the
interleaving of timed runs, the targets, and the JSON a ``--quick`` run of ``benchmarks/run.py`` writes.

No test asserts a speed: timings on a shared machine prove nothing either way.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mlm_tutorial import benchmarking as B
from mlm_tutorial.paths import project_root

SMALL = B.ModelShape(layers=2, hidden=4, heads=2, ffn=8, vocab=10)


# --------------------------------------------------------------------------- FLOP counting


def test_forward_flops_of_a_small_model_by_hand():
    # seq 6, head on half the positions. Per token:
    #   projections 2 layers * 2 * 4 * 4*4 = 256;  scores 2 layers * 2 * 2 * 6 * 4 = 192
    #   feed-forward 2 layers * 2 * 2 * 4 * 8 = 256;  head transform 2 * 4*4 * 0.5 = 16;  decoder 2 * 4 * 10 * 0.5 = 40
    parts = B.forward_flops_per_token(SMALL, seq_len=6, head_fraction=0.5)
    assert parts == {"attention projections": 256.0, "attention scores": 192.0, "feed-forward": 256.0,
                     "head transform": 16.0, "decoder": 40.0}
    assert list(parts) == list(B.FLOP_PARTS)
    assert B.training_flops_per_token(SMALL, 6, 0.5) == 3 * (256 + 192 + 256 + 16 + 40)
    full = B.forward_flops_per_token(SMALL, 6)
    assert (full["head transform"], full["decoder"]) == (32.0, 80.0)
    assert B.forward_flops_per_token(SMALL, 6, 0.0)["decoder"] == 0.0


def test_last_layer_fraction_counts_keys_and_values_at_every_position():
    # Last layer at half the positions (layer 1 of 2 stays whole). Per token:
    #   projections 8*16 (layer 1) + 4*16 (keys, values) + 4*16*0.5 (queries, output) = 224
    #   scores (1 + 0.5) * 2 * 2 * 6 * 4 = 144;  feed-forward (1 + 0.5) * 2 * 2 * 4 * 8 = 192
    parts = B.forward_flops_per_token(SMALL, 6, head_fraction=0.5, last_layer_fraction=0.5)
    assert parts == {"attention projections": 224.0, "attention scores": 144.0, "feed-forward": 192.0,
                     "head transform": 16.0, "decoder": 40.0}
    assert B.training_flops_per_token(SMALL, 6, 0.5, 0.5) == 3 * (224 + 144 + 192 + 16 + 40)
    assert B.forward_flops_per_token(SMALL, 6, 0.5, 1.0) == B.forward_flops_per_token(SMALL, 6, 0.5)
    with pytest.raises(ValueError, match="last_layer_fraction"):
        B.forward_flops_per_token(SMALL, 6, last_layer_fraction=-0.1)
    table = B.flop_table({"small": SMALL}, 6, head_fraction=0.5, last_layer_fraction=0.5)
    assert table.loc["total", "small"] == pytest.approx((224 + 144 + 192 + 16 + 40) / 1e6)


def test_distilbert_size_counts():
    shape = B.ModelShape.from_config(B.distilbert_size_config())
    assert shape == B.ModelShape(layers=6, hidden=768, heads=12, ffn=3072, vocab=30522)
    parts = B.forward_flops_per_token(shape, 128)
    assert parts["attention projections"] == 6 * 8 * 768**2 == 28_311_552
    assert parts["attention scores"] == 6 * 4 * 128 * 768 == 2_359_296
    assert parts["feed-forward"] == 6 * 4 * 768 * 3072 == 56_623_104
    assert parts["decoder"] == 2 * 768 * 30522 == 46_881_792
    assert sum(parts.values()) == 135_355_392


def test_flop_breakdown_plot_scales_the_bars_and_tells_the_parts_apart_without_colour():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stock = B.forward_flops_per_token(SMALL, 6)
    bars = {"stock": stock, "fast": B.forward_flops_per_token(SMALL, 6, head_fraction=0.5)}
    ax = B.plot_flop_breakdown(bars, totals={"stock": sum(stock.values()), "fast": sum(stock.values())})
    assert [text.get_text() for text in ax.get_legend().get_texts()] == list(B.FLOP_PARTS)
    ends = [max(p.get_x() + p.get_width() for p in ax.patches if p.get_y() < y < p.get_y() + p.get_height())
            for y in ax.get_yticks()]
    assert ends == pytest.approx([1.0, (256 + 192 + 256 + 16 + 40) / (256 + 192 + 256 + 32 + 80)])
    hatches = [container.patches[0].get_hatch() or "" for container in ax.containers]
    assert len(set(hatches)) == len(B.FLOP_PARTS) == len(hatches)
    assert ax.get_xlabel() == "forward FLOPs per token, as a share of the stock model's"
    own = B.plot_flop_breakdown({"fast": bars["fast"]})
    assert max(p.get_x() + p.get_width() for p in own.patches) == pytest.approx(1.0)
    plt.close("all")
    with pytest.raises(ValueError, match="non-empty dict"):
        B.plot_flop_breakdown({})
    with pytest.raises(ValueError, match=r"totals names bars that breakdowns lacks: \['other'\]"):
        B.plot_flop_breakdown(bars, totals={"other": 1.0})


def test_shape_from_bert_config_and_model_config():
    from transformers import BertConfig

    config = BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=3, num_attention_heads=4,
                        intermediate_size=40)
    assert B.ModelShape.from_config(config) == B.ModelShape(3, 16, 4, 40, 100)

    class FakeModel:
        pass

    model = FakeModel()
    model.config = config
    assert B.ModelShape.from_config(model) == B.ModelShape(3, 16, 4, 40, 100)
    with pytest.raises(TypeError, match="ModelShape"):
        B.ModelShape.from_config(object())


def test_flop_counting_validates():
    with pytest.raises(ValueError, match="head_fraction"):
        B.forward_flops_per_token(SMALL, 6, head_fraction=1.5)
    with pytest.raises(TypeError, match="head_fraction"):
        B.forward_flops_per_token(SMALL, 6, head_fraction="0.15")
    with pytest.raises(ValueError, match="seq_len"):
        B.forward_flops_per_token(SMALL, 0)
    with pytest.raises(TypeError, match="ModelShape"):
        B.forward_flops_per_token({"hidden": 4}, 6)
    with pytest.raises(ValueError, match="hidden"):
        B.ModelShape(layers=1, hidden=0, heads=1, ffn=1, vocab=1)


def test_flop_table_has_parts_and_total():
    table = B.flop_table({"small": SMALL}, 6)
    assert list(table.index) == [*B.FLOP_PARTS, "total"]
    assert table.loc["total", "small"] == pytest.approx((256 + 192 + 256 + 32 + 80) / 1e6)
    with pytest.raises(ValueError, match="non-empty"):
        B.flop_table({}, 6)


def test_flops_summary_uses_the_masked_share():
    comparison = {"masked_share": 0.5, "project_tokens_per_s": 1e6, "baseline_tokens_per_s": 5e5}
    summary = B.flops_summary(SMALL, 6, comparison, peak_gflops=10.0)
    useful = 3 * (224 + 144 + 192 + 16 + 40)  # head and last layer on half the positions
    assert summary["useful_flops_per_token"] == useful
    assert summary["baseline_flops_per_token"] == 3 * (256 + 192 + 256 + 32 + 80)
    assert summary["achieved_gflops"] == pytest.approx(useful * 1e6 / 1e9)
    assert summary["fraction_of_peak"] == pytest.approx(useful * 1e6 / 1e9 / 10.0)
    assert summary["baseline_useful_gflops"] == pytest.approx(useful * 5e5 / 1e9)
    assert "fraction_of_peak" not in B.flops_summary(SMALL, 6, comparison)
    with pytest.raises(ValueError, match="training_comparison"):
        B.flops_summary(SMALL, 6, {"ratio": 2.0})
    with pytest.raises(ValueError, match="peak_gflops"):
        B.flops_summary(SMALL, 6, comparison, peak_gflops=0)


# --------------------------------------------------------------------------- padding


def test_layout_costs_by_hand():
    lengths = [3, 5, 10]  # ordinary tokens per article; rows of 8 hold 6 of them
    fixed = B.layout_cost(lengths, "pad_to_length", 8)
    assert (fixed.rows, fixed.positions, fixed.padding, fixed.text_dropped) == (3, 24, 4, 4)
    longest = B.layout_cost(lengths, "pad_to_longest", 8, batch_size=2)
    # batch [3, 5] is 7 wide (5 + 2 specials): 2 padding; batch [10] is cut to 8: 4 tokens dropped
    assert (longest.rows, longest.positions, longest.padding, longest.text_dropped) == (2 + 1, 22, 2, 4)
    packed = B.layout_cost(lengths, "packed", 8)
    # stream 4 + 6 + 11 = 21 tokens (with separators), 3 rows of 6; the tail of 3 holds 2 text tokens
    assert (packed.rows, packed.positions, packed.padding, packed.text_dropped) == (3, 24, 0, 2)
    assert fixed.padding_share == pytest.approx(4 / 24) and fixed.dropped_share == pytest.approx(4 / 18)
    assert packed.as_dict()["padding_share"] == 0.0


def test_packed_layout_matches_chunk_texts():
    from mlm_tutorial.chunking import chunk_texts
    from mlm_tutorial.resources import load_news_corpus, load_tokenizer

    tokenizer = load_tokenizer("auto")
    texts = list(load_news_corpus("auto")["test"]["text"])[:40]
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    for size in (16, 50):
        assert B.layout_cost(lengths, "packed", size).rows == len(chunk_texts(texts, tokenizer, size))


def test_layout_cost_validates():
    with pytest.raises(ValueError, match="layout"):
        B.layout_cost([3], "bucketed", 8)
    with pytest.raises(ValueError, match="text_lengths"):
        B.layout_cost([], "packed", 8)
    with pytest.raises(ValueError, match="non-negative ints"):
        B.layout_cost([1.5, 2.0], "packed", 8)
    with pytest.raises(ValueError, match="length"):
        B.layout_cost([3], "packed", 2)
    with pytest.raises(ValueError, match="non-negative ints"):
        B.layout_cost([4, -1], "packed", 8)
    assert B.layout_cost([0, 4], "packed", 8).rows == 1  # an empty article still ends with its separator


# --------------------------------------------------------------------------- interleaving


def test_interleaved_order():
    assert B.interleaved_order(["A", "B"], rounds=2, warmup=1) == [
        ("A", True), ("B", True), ("A", False), ("B", False), ("A", False), ("B", False)]
    assert B.interleaved_order(["x"], rounds=2, warmup=0) == [("x", False), ("x", False)]
    with pytest.raises(ValueError, match="distinct"):
        B.interleaved_order(["A", "A"], 1)
    with pytest.raises(ValueError, match="names"):
        B.interleaved_order("AB", 1)
    with pytest.raises(ValueError, match="rounds"):
        B.interleaved_order(["A", "B"], 0)


def test_run_interleaved_calls_and_times_in_that_order():
    calls = []
    ticks = iter(range(0, 1000, 1))

    def clock():
        return float(next(ticks))

    def runner(name, cost):
        def run():
            calls.append(name)
            for _ in range(cost - 1):  # each extra clock tick inside a run costs one "second"
                clock()
        return run

    timings = B.run_interleaved({"baseline": runner("baseline", 4), "project": runner("project", 2)}, rounds=3,
                                warmup=1, clock=clock)
    assert calls == ["baseline", "project"] * 4
    assert timings.order == ["baseline (warm-up)", "project (warm-up)"] + ["baseline", "project"] * 3
    assert timings.seconds == {"baseline": [4.0, 4.0, 4.0], "project": [2.0, 2.0, 2.0]}
    assert timings.warmup_seconds == {"baseline": [4.0], "project": [2.0]}
    assert timings.median_rates({"baseline": 8, "project": 8}) == {"baseline": 2.0, "project": 4.0}
    with pytest.raises(TypeError, match="callable"):
        B.run_interleaved({"a": 1}, 1)


def test_a_runner_may_report_its_own_seconds():
    # e.g. a fit call timed from on_train_begin to on_train_end, without fit's set-up and tear-down
    ticks = iter(range(1000))

    def clock():
        return float(next(ticks))

    def two_ticks_then(result):
        def run():
            clock(), clock()  # the clock says this run took 3 "seconds"
            return result
        return run

    timings = B.run_interleaved({"self-timed": two_ticks_then(0.25), "clocked": two_ticks_then(None)}, rounds=2,
                                warmup=0, clock=clock)
    assert timings.seconds["self-timed"] == [0.25, 0.25]
    assert timings.seconds["clocked"] == [3.0, 3.0]
    bool_run = B.run_interleaved({"a": two_ticks_then(True)}, rounds=1, warmup=0, clock=clock)
    assert bool_run.seconds["a"] == [3.0]  # a bool is no time (True would read as 1 second)


# --------------------------------------------------------------------------- targets and table


def fake_results(ratio_distil=1.7, ratio_bundled=0.9, diff=1e-6, fraction=0.5, masking=30.0):
    bundled = {"ratio": ratio_bundled, "baseline_tokens_per_s": 100.0, "project_tokens_per_s": 90.0, "rounds": 3,
               "warmup_runs": 1, "batch_size": 32, "seq_len": 128,
               "validation": {"steps": 20, "baseline_loss": 5.0, "project_loss": 5.0 + diff, "abs_diff": diff,
                              "initial_loss": 6.0}}
    distil = {"ratio": ratio_distil, "baseline_tokens_per_s": 100.0, "project_tokens_per_s": 170.0, "rounds": 3,
              "warmup_runs": 1, "batch_size": 32, "seq_len": 128, "achieved_gflops": 40.0, "peak_gflops": 80.0,
              "fraction_of_peak": fraction, "baseline_gflops": 50.0, "baseline_useful_gflops": 30.0,
              "useful_flops_per_token": 2.0e8, "baseline_flops_per_token": 4.0e8}
    results = {"training": {"bundled": bundled, "distilbert_size": distil},
               "masking": {"ratio": masking, "rows": 10, "seq_len": 128, "batch_size": 32,
                           "project_sequences_per_s": 3000.0, "collator_sequences_per_s": 100.0},
               "machine": {"cpu_count": 2}, "settings": {"quick": False}}
    results["targets"] = B.target_checks(results)
    return results


def test_target_checks_pass_and_fail():
    checks = {c["key"]: c for c in fake_results()["targets"]}
    assert [c["key"] for c in fake_results()["targets"]] == [key for key, _, _ in B.TARGETS]
    assert checks["distilbert_speed"]["passed"] is True
    assert checks["bundled_speed"]["passed"] is False
    assert checks["equal_loss"]["passed"] is True and checks["equal_loss"]["measured"] == pytest.approx(2e-7)
    assert checks["flops_fraction"]["passed"] is False
    assert checks["masking_speed"]["passed"] is True
    assert {c["key"]: c["passed"] for c in fake_results(diff=0.1)["targets"]}["equal_loss"] is False
    partial = fake_results()
    del partial["training"]["distilbert_size"]
    skipped = {c["key"]: c["passed"] for c in B.target_checks(partial)}
    assert skipped["distilbert_speed"] is None and skipped["flops_fraction"] is None
    # a loss of 0 cannot be divided by: equal only when the other is 0 as well
    for baseline, diff, measured, passed in ((0.0, 0.0, 0.0, True), (0.0, 0.5, math.inf, False),
                                             (5.0, float("nan"), None, False)):
        results = fake_results(diff=diff)
        results["training"]["bundled"]["validation"]["baseline_loss"] = baseline
        check = {c["key"]: c for c in B.target_checks(results)}["equal_loss"]
        assert check["passed"] is passed
        assert check["measured"] == measured if measured is not None else math.isnan(check["measured"])


def test_format_table_marks_every_target():
    text = B.format_table(fake_results())
    assert "PASS  training speed, DistilBERT-size" in text
    assert "FAIL  training speed, bundled model" in text
    assert "FAIL  DistilBERT-size useful FLOP/s" in text and "(measured 50%)" in text
    assert text.count("PASS") + text.count("FAIL") == len(B.TARGETS)
    assert "1.70x" in text and "masking" in text
    partial = fake_results()
    del partial["training"]["distilbert_size"]
    partial["targets"] = B.target_checks(partial)
    text = B.format_table(partial)
    assert "SKIP  training speed, DistilBERT-size: project / course recipe: >= 1.6x (measured not measured)" in text
    assert text.count("SKIP") == 2 and "FAIL  training speed, DistilBERT-size" not in text  # and the FLOP/s target


def test_format_table_splits_the_speed_ratio_into_work_and_pace():
    text = B.format_table(fake_results())
    # 400 vs 200 MFLOP per token: 2x less work; 40 vs 50 GFLOP/s: pace 0.8; 2 x 0.8 = 1.6
    assert "course recipe 400 MFLOP, project path 200 MFLOP (2.00x less)" in text
    assert "GFLOP/s project / recipe 0.80; speed ratio = 2.00 x 0.80 = 1.60x" in text
    del_flops = fake_results()
    del del_flops["training"]["distilbert_size"]["useful_flops_per_token"]
    assert "work per token" not in B.format_table(del_flops)


def test_write_results_goes_to_the_build_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MLM_TUTORIAL_BUILD", str(tmp_path / "build"))
    path = B.write_results({"a": np.float32(1.5), "b": [np.int64(2)]})
    assert path == (tmp_path / "build" / "bench.json").resolve()
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": 1.5, "b": [2]}
    assert not list(path.parent.glob("*.tmp"))
    with pytest.raises(TypeError, match="dict"):
        B.write_results([1, 2])
    from mlm_tutorial.paths import data_dir

    with pytest.raises(ValueError, match="results file .* is inside data/, which the series never writes to"):
        B.write_results({"a": 1}, data_dir() / "runs" / "bench.json")
    assert not (data_dir() / "runs").exists()


def test_settings_validate():
    with pytest.raises(ValueError, match="rounds"):
        B.BenchSettings(rounds=0)
    with pytest.raises(ValueError, match="seq_len"):
        B.BenchSettings(seq_len=4)
    with pytest.raises(TypeError, match="batch_size"):
        B.BenchSettings(batch_size=3.5)
    quick = B.BenchSettings.quick_settings(rounds=2)
    assert quick.quick and quick.tiny_models and quick.rounds == 2 and quick.bundled_steps == 2


# --------------------------------------------------------------------------- a --quick run of benchmarks/run.py


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3",
               MLM_TUTORIAL_BUILD=str(out / "build"))
    done = subprocess.run([sys.executable, str(project_root() / "benchmarks" / "run.py"), "--quick",
                           "--output", str(out / "bench.json")], capture_output=True, text=True, env=env,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((out / "bench.json").read_text(encoding="utf-8")), done.stdout


def test_quick_run_json_shape(quick_run):
    results, _ = quick_run
    assert {"settings", "machine", "matmul", "training", "masking", "targets", "seconds"} <= set(results)
    assert results["settings"]["quick"] is True and results["settings"]["bundled_steps"] == 2
    assert set(results["training"]) == {"bundled", "distilbert_size"}
    for entry in results["training"].values():
        assert {"baseline_tokens_per_s", "project_tokens_per_s", "ratio", "order", "masked_share",
                "useful_flops_per_token", "achieved_gflops", "peak_gflops", "fraction_of_peak"} <= set(entry)
        assert entry["baseline_tokens_per_s"] > 0 and entry["project_tokens_per_s"] > 0
        assert entry["ratio"] == pytest.approx(entry["project_tokens_per_s"] / entry["baseline_tokens_per_s"])
        assert entry["order"] == ["baseline (warm-up)", "project (warm-up)", "baseline", "project"]
        assert entry["tokens_per_run"] == 2 * 4 * 32
        assert 0.05 < entry["masked_share"] < 0.3
    distil = results["training"]["distilbert_size"]
    assert distil["shape"]["vocab"] == 30522 and distil["peak_gflops"] == results["matmul"]["peak_gflops"]
    assert distil["fraction_of_peak"] == pytest.approx(distil["achieved_gflops"] / distil["peak_gflops"])
    masking = results["masking"]
    assert {"ratio", "project_sequences_per_s", "collator_sequences_per_s", "collator_direct_sequences_per_s",
            "direct_ratio"} <= set(masking)
    assert masking["ratio"] == pytest.approx(masking["project_sequences_per_s"] / masking["collator_sequences_per_s"])
    assert masking["direct_ratio"] == pytest.approx(masking["project_sequences_per_s"]
                                                    / masking["collator_direct_sequences_per_s"])
    assert masking["order"][:3] == ["project (warm-up)", "collator (warm-up)", "collator_direct (warm-up)"]
    assert [c["key"] for c in results["targets"]] == [key for key, _, _ in B.TARGETS]
    machine = results["machine"]
    assert machine["commit"] == B._commit() and machine["cpu_count"] == os.cpu_count()
    if sys.platform.startswith("linux"):  # /proc/cpuinfo names the processor
        assert isinstance(machine["cpu"], str) and machine["cpu"].strip()


def test_quick_run_trains_both_paths_to_the_same_validation_loss(quick_run):
    validation = quick_run[0]["training"]["bundled"]["validation"]
    assert validation["steps"] == 2 and validation["validation_masked_tokens"] > 0
    assert validation["baseline_loss"] != validation["initial_loss"]  # training moved the weights
    assert validation["equal"] is True
    assert validation["abs_diff"] <= 1e-4 * validation["baseline_loss"]


def test_quick_run_prints_the_table(quick_run):
    results, stdout = quick_run
    assert "--quick smoke run" in stdout
    assert "course recipe" in stdout and "project path" in stdout
    for check in results["targets"]:
        status = {True: "PASS", False: "FAIL", None: "SKIP"}[check["passed"]]
        assert f"{status}  {check['target']}" in stdout
    assert str(Path("bench.json")) in stdout


def test_run_py_rejects_bad_options(tmp_path):
    done = subprocess.run([sys.executable, str(project_root() / "benchmarks" / "run.py"), "--rounds", "0",
                           "--output", str(tmp_path / "x.json")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "bad option: --rounds must be at least 1, got 0." in done.stdout
    assert not (tmp_path / "x.json").exists()
    # a results file that would replace one of the series' own files is refused before anything is measured
    readme = project_root() / "README.md"
    before = readme.read_bytes()
    done = subprocess.run([sys.executable, str(project_root() / "benchmarks" / "run.py"), "--quick",
                           "--output", str(readme)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "bad option: --output: results file" in done.stdout and "not in its build folder" in done.stdout
    assert "training speed" not in done.stdout + done.stderr  # nothing was measured
    assert readme.read_bytes() == before


def test_results_path_keeps_the_checkout_safe(tmp_path, monkeypatch):
    from mlm_tutorial.paths import data_dir

    monkeypatch.setenv("MLM_TUTORIAL_BUILD", str(tmp_path / "build"))
    assert B.results_path() == (tmp_path / "build" / "bench.json").resolve()
    assert B.results_path(tmp_path / "elsewhere" / "b.json") == (tmp_path / "elsewhere" / "b.json").resolve()
    for inside in (project_root() / "README.md", project_root() / "bench.json"):
        with pytest.raises(ValueError, match="inside the checkout but not in its build folder"):
            B.results_path(inside)
    with pytest.raises(ValueError, match="is inside src/, which the series never writes to"):
        B.results_path(project_root() / "src" / "bench.json")
    with pytest.raises(ValueError, match="is inside data/, which the series never writes to"):
        B.results_path(data_dir() / "bench.json")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="is a folder; name a file"):
        B.results_path(tmp_path / "folder")
    with pytest.raises(TypeError, match="path must be a file path or None, got int"):
        B.results_path(3)  # type: ignore[arg-type]
    monkeypatch.setenv("MLM_TUTORIAL_BUILD", "build")  # the checkout's own build folder is where results go
    assert B.results_path() == (project_root() / "build" / "bench.json").resolve()


def test_write_results_writes_null_for_numbers_that_are_not_finite(tmp_path, monkeypatch):
    monkeypatch.setenv("MLM_TUTORIAL_BUILD", str(tmp_path / "build"))
    path = B.write_results({"loss": float("nan"), "runs": [1.0, np.float32("inf")], "n": {"x": np.array([np.nan])},
                            "pair": (float("-inf"), 2.0)})
    assert path.read_text(encoding="utf-8").count("null") == 4
    assert json.loads(path.read_text(encoding="utf-8")) == {"loss": None, "runs": [1.0, None], "n": {"x": [None]},
                                                            "pair": [None, 2.0]}


# --------------------------------------------------------------------------- FLOP summary, layouts, medians, targets, comparisons


def test_flops_summary_baseline_counts_the_full_model_and_records_stock_parts():
    # SMALL at seq 6, stock model (head everywhere), per token forward:
    #   projections 2 * 8 * 16 = 256; scores 2 * 4 * 6 * 4 = 192; feed-forward 2 * 4 * 4 * 8 = 256;
    #   head transform 2 * 16 = 32; decoder 2 * 4 * 10 = 80  -> 816, training 3 * 816 = 2448
    comparison = {"masked_share": 0.5, "project_tokens_per_s": 1e6, "baseline_tokens_per_s": 5e5}
    summary = B.flops_summary(SMALL, 6, comparison, peak_gflops=10.0)
    assert summary["baseline_gflops"] == pytest.approx(2448 * 5e5 / 1e9)
    assert summary["forward_flops_per_token"] == {"attention projections": 256.0, "attention scores": 192.0,
                                                  "feed-forward": 256.0, "head transform": 32.0, "decoder": 80.0}
    assert summary["shape"] == {"layers": 2, "hidden": 4, "heads": 2, "ffn": 8, "vocab": 10}


def test_distilbert_size_flops_per_token_agree_with_the_readme():
    # DistilBERT size (6 layers, h 768, ffn 3072, vocab 30522), seq 128, masked share 0.15.
    # Layers 1-5 whole: 5 * (8 h^2 + 4 * 128 h + 4 h ffn) = 5 * 14_548_992 = 72_744_960
    # Last layer: keys/values 4 h^2 = 2_359_296 always; queries/output 4 h^2, scores 4*128*h, ffn 4 h ffn at 0.15
    # Head: 2 h^2 + 2 h vocab at 0.15.
    at_share = 4 * 768**2 + 4 * 128 * 768 + 4 * 768 * 3072 + 2 * 768**2 + 2 * 768 * 30522  # 60_251_136
    useful = 3 * (72_744_960 + 2_359_296 + 0.15 * at_share)
    shape = B.ModelShape(layers=6, hidden=768, heads=12, ffn=3072, vocab=30522)

    def summary(share: float) -> dict:
        return B.flops_summary(shape, 128, {"masked_share": share, "project_tokens_per_s": 1.0,
                                            "baseline_tokens_per_s": 1.0})

    assert summary(0.15)["useful_flops_per_token"] == pytest.approx(useful, rel=1e-12)
    # The README quotes the work per token of one bench run, whose masked share is about 15%.
    readme = (project_root() / "README.md").read_text(encoding="utf-8")
    quoted = re.search(r"the recipe needs (\d+) MFLOP, the project path (\d+) MFLOP: ([\d.]+)x less", readme)
    assert quoted, "README no longer quotes the work per token"
    recipe, project, ratio = int(quoted.group(1)), int(quoted.group(2)), float(quoted.group(3))
    assert round(summary(0.15)["baseline_flops_per_token"] / 1e6) == recipe  # the recipe's work has no share in it
    # the share at which the project path needs the quoted work: a masked share a run can have (15% +- 1%)
    per_share = (summary(0.16)["useful_flops_per_token"] - summary(0.14)["useful_flops_per_token"]) / 0.02
    share = 0.15 + (project * 1e6 - summary(0.15)["useful_flops_per_token"]) / per_share
    assert 0.14 <= share <= 0.16, share
    assert abs(recipe / project - ratio) <= 0.01, (recipe, project, ratio)  # the quoted numbers are rounded


# --------------------------------------------------------------------------- the README's numbers


def _git(folder, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=folder,
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def test_commit_names_the_checkout_and_its_changes(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("MLM_TUTORIAL_ROOT", str(tmp_path))
    assert B._commit() is None  # not a git checkout
    _git(tmp_path, "init", "-q")
    (tmp_path / "README.md").write_text("one\n", encoding="utf-8")
    _git(tmp_path, "add", "README.md")
    _git(tmp_path, "commit", "-q", "-m", "first")
    head = _git(tmp_path, "rev-parse", "--short", "HEAD")
    (tmp_path / "data" / "scratch.txt").write_text("untracked files do not count\n", encoding="utf-8")
    assert B._commit() == head
    (tmp_path / "README.md").write_text("two\n", encoding="utf-8")
    assert B._commit() == head + "+changes"
    inner = tmp_path / "unpacked"  # a copy of the series inside someone else's repository
    (inner / "data").mkdir(parents=True)
    monkeypatch.setenv("MLM_TUTORIAL_ROOT", str(inner))
    assert B._commit() is None


def test_power_of_ten_drops_the_padded_exponent():
    assert [B._power_of_ten(v) for v in (9.7e-10, 3.2e-5, 0.0, 1.0, 2.5e12)] == ["1e-9", "3e-5", "0", "1e0", "2e12"]


def _reference():
    return json.loads((project_root() / B.REFERENCE_RUN).read_text(encoding="utf-8"))


def test_readme_summary_takes_every_number_from_the_results():
    results = _reference()
    results["machine"].update(commit="abc1234", cpu="Some CPU", cpu_count=2)
    results["seconds"] = 330.0
    distil = results["training"]["distilbert_size"]
    distil.update(rounds=7, batch_size=16, seq_len=256, shape={"layers": 4, "hidden": 512, "heads": 8, "ffn": 2048,
                                                                "vocab": 28996})
    results["training"]["bundled"]["validation"].update(abs_diff=3.2e-5 * results["training"]["bundled"]
                                                        ["validation"]["baseline_loss"])
    distil.update(baseline_tokens_per_s=1000.0, project_tokens_per_s=1650.0, ratio=1.65, peak_gflops=400.0,
                  baseline_runs_tokens_per_s=[1000.0, 1010.0], project_runs_tokens_per_s=[1560.0, 1717.0],
                  baseline_flops_per_token=400e6, useful_flops_per_token=250e6, baseline_gflops=401.0,
                  achieved_gflops=412.0, fraction_of_peak=0.81)
    results["training"]["bundled"].update(baseline_tokens_per_s=12345.4, project_tokens_per_s=23456.6, ratio=1.9)
    results["masking"].update(project_sequences_per_s=100000.0, collator_sequences_per_s=4000.0, ratio=25.0,
                              collator_direct_sequences_per_s=8000.0, direct_ratio=12.5)
    text = B.readme_summary(results)
    for quoted in ("commit abc1234", "2 CPU cores (Some CPU, measured fp32 matmul peak 400 GFLOP/s)",
                   "it took 5.5 minutes", "| bundled `bert-mini-news` | 12,345 | 23,457 | 1.90x |",
                   "| 1,000 | 1,650 | 1.65x |", "100,000 sequences/s", "25x the collator", "(4,000/s)",
                   "12x the collator called on its own (8,000/s)", "81% of the measured matmul peak",
                   "the recipe needs 400 MFLOP, the project path 250 MFLOP: 1.60x less", "(401 and 412 GFLOP/s here)",
                   "the 2 project runs were 1.56x to 1.70x", "the 1.6x target", "(this run: PASS)",
                   "median of 7 interleaved runs, batch 16 x 256 tokens", "(4 layers, hidden 512, vocabulary 28,996)",
                   "(relative difference 3e-5)", "For a model that size at 256 tokens"):
        assert quoted in " ".join(text.split()), quoted
    assert all(len(line) <= 110 for line in text.splitlines() if not line.startswith("|"))
    distil.update(ratio=1.55)  # the verdict follows the target check, not the text
    assert "(this run: FAIL)" in " ".join(B.readme_summary(results).split())


def test_readme_summary_refuses_results_that_cannot_be_quoted():
    quick = _reference()
    quick["settings"]["quick"] = True
    with pytest.raises(ValueError, match="--quick"):
        B.readme_summary(quick)
    partial = _reference()
    del partial["training"]["distilbert_size"]
    with pytest.raises(ValueError, match="full `make bench` run"):
        B.readme_summary(partial)


# --------------------------------------------------------------------------- padding


def test_packed_layout_counts_a_separator_at_the_first_position_of_the_tail():
    # Rows of 8 hold 6 stream tokens. Stream of [6, 1]: indices 0-5 text, 6 separator, 7 text, 8 separator
    # -> 9 tokens, 1 row; the tail (indices 6, 7, 8) is separator, text, separator: 1 text token lost.
    packed = B.layout_cost([6, 1], "packed", 8)
    assert (packed.rows, packed.positions, packed.padding, packed.text_tokens, packed.text_dropped) == (1, 8, 0, 7, 1)


# --------------------------------------------------------------------------- medians


def test_median_rates_take_the_median_of_the_rates():
    # 8 units in 1, 2 and 8 s: rates 8, 4, 1 -> median 4 (the mean would be 13/3)
    odd = B.Timings({"a": [1.0, 2.0, 8.0]}, {"a": []}, [])
    assert odd.median_rates({"a": 8}) == {"a": 4.0}
    # 8 units in 1, 2, 4, 8 s: rates 8, 4, 2, 1 -> median (4 + 2) / 2 = 3 (8 / median seconds would be 8/3)
    even = B.Timings({"a": [1.0, 2.0, 4.0, 8.0]}, {"a": []}, [])
    assert even.median_rates({"a": 8}) == {"a": 3.0}


# --------------------------------------------------------------------------- targets


def _results(distil_ratio, bundled_ratio, relative_loss_diff, fraction, masking):
    validation = {"baseline_loss": 4.0, "abs_diff": 4.0 * relative_loss_diff}
    return {"training": {"bundled": {"ratio": bundled_ratio, "validation": validation},
                         "distilbert_size": {"ratio": distil_ratio, "fraction_of_peak": fraction}},
            "masking": {"ratio": masking}}


def test_a_measurement_exactly_at_its_target_passes():
    checks = B.target_checks(_results(1.6, 1.0, 1e-3, 0.7, 20.0))
    assert {c["key"]: c["passed"] for c in checks} == {
        "distilbert_speed": True, "bundled_speed": True, "equal_loss": True, "flops_fraction": True,
        "masking_speed": True}
    below = B.target_checks(_results(1.59, 0.99, 1.01e-3, 0.69, 19.9))
    assert not any(c["passed"] for c in below)


# --------------------------------------------------------------------------- the comparisons, without timing


class _Labels:
    def __init__(self, array):
        self.array = array

    def numpy(self):
        return self.array


class _FakeData:
    """Stands in for training_dataset: ``steps`` batches whose labels mask 1, then 3, ... of 16 positions."""

    def __init__(self, batch_size, width, steps):
        self.batch_size, self.width, self.steps = batch_size, width, steps

    def repeat(self):
        return self

    def __iter__(self):
        for step in range(self.steps):
            labels = np.full((self.batch_size, self.width), -100)
            labels.flat[:2 * step + 1] = 7
            yield {"labels": _Labels(labels)}


def test_training_comparison_reports_median_tokens_per_second_ratio_and_masked_share(monkeypatch):
    import mlm_tutorial.training as T

    class FakeModel:
        def __init__(self, name):
            self.name = name
            self.compiled = False

        def compile(self, **kwargs):
            self.compiled = True

    # one warm-up run (9 s) then three measured runs per path
    seconds = {"baseline": iter([9.0, 2.0, 4.0, 1.0]), "project": iter([9.0, 1.0, 1.0, 2.0])}
    copies = iter(["baseline", "project"])  # the recipe's copy is made first
    monkeypatch.setattr(B, "clone_model", lambda model, dropout=True: FakeModel(next(copies)))
    monkeypatch.setattr(B, "course_recipe_dataset", lambda *args, **kwargs: "recipe data")
    monkeypatch.setattr(B, "_fit_runner", lambda trainer, data, steps: (lambda: next(seconds[trainer.name])))
    monkeypatch.setattr(T, "build_trainer", lambda model, optimizer, fast_head: model)
    monkeypatch.setattr(T, "make_optimizer", lambda schedule: None)
    monkeypatch.setattr(T, "make_schedule", lambda *args: None)
    monkeypatch.setattr(T, "training_dataset", lambda rows, tokenizer, batch_size, steps, seed=42:
                        _FakeData(batch_size, rows.shape[1], steps))
    rows = np.zeros((4, 8), dtype=np.int64)
    given = FakeModel("given")
    got = B.training_comparison(given, None, rows, batch_size=2, steps_per_run=2, rounds=3, warmup=1)
    assert not given.compiled  # both paths train copies
    # a run: 2 steps x 2 rows x 8 tokens = 32 tokens
    assert got["tokens_per_run"] == 32
    assert got["baseline_runs_tokens_per_s"] == [16.0, 8.0, 32.0]  # 32 / (2, 4, 1)
    assert got["project_runs_tokens_per_s"] == [32.0, 32.0, 16.0]  # 32 / (1, 1, 2)
    assert got["baseline_tokens_per_s"] == 16.0 and got["project_tokens_per_s"] == 32.0
    assert got["ratio"] == 2.0  # project / recipe
    assert got["warmup_seconds"] == {"baseline": [9.0], "project": [9.0]}
    assert got["order"] == ["baseline (warm-up)", "project (warm-up)"] + ["baseline", "project"] * 3
    # masked positions: 1 of 16 in step 0, 3 of 16 in step 1 -> 4 / 32
    assert got["masked_share"] == 0.125


def test_training_comparison_leaves_the_given_model_as_it_was(bert_tokenizer):
    """Notebook 05 goes on using its model after the live comparison: neither path may train it."""
    from mlm_tutorial.chunking import chunk_texts
    from mlm_tutorial.resources import load_mlm_model, load_news_corpus

    model = load_mlm_model("auto")
    before = [w.copy() for w in model.get_weights()]
    rows = chunk_texts(list(load_news_corpus("auto")["train"]["text"][:40]), bert_tokenizer, 32)[:16]
    got = B.training_comparison(model, bert_tokenizer, rows, batch_size=8, steps_per_run=1, rounds=1, warmup=0,
                                learning_rate=1e-2)
    assert got["baseline_tokens_per_s"] > 0 and got["project_tokens_per_s"] > 0
    assert model.optimizer is None
    for was, now in zip(before, model.get_weights()):
        np.testing.assert_array_equal(was, now)


def test_masking_comparison_counts_only_the_full_batches_the_collator_yields(monkeypatch, bert_tokenizer):
    seen = {}

    def fake_run_interleaved(runners, rounds, warmup=1):
        seen["names"], seen["rounds"], seen["warmup"] = list(runners), rounds, warmup
        return B.Timings({name: [1.0] for name in runners}, {name: [] for name in runners}, [])

    monkeypatch.setattr(B, "run_interleaved", fake_run_interleaved)
    rows = np.full((10, 8), bert_tokenizer.convert_tokens_to_ids("the"), dtype=np.int64)
    got = B.masking_comparison(rows, bert_tokenizer, batch_size=4, rounds=2, warmup=1, project_passes=3,
                               collator_passes=1)
    assert seen == {"names": ["project", "collator", "collator_direct"], "rounds": 2, "warmup": 1}
    # one run per second: project 3 passes of 2 full batches of 4 and collator 1 such pass (both pipelines drop
    # the last 2 rows); collator alone 1 pass x 10 rows
    assert got["project_sequences_per_s"] == 24.0
    assert got["collator_sequences_per_s"] == 8.0
    assert got["collator_direct_sequences_per_s"] == 10.0
    assert got["ratio"] == 24.0 / 8.0 and got["direct_ratio"] == 2.4
    assert got["runs_sequences_per_s"] == {"project": [24.0], "collator": [8.0], "collator_direct": [10.0]}


def test_masking_comparison_drains_the_training_pipeline_and_destroys_iterators_after_the_clock(
        monkeypatch, bert_tokenizer):
    import mlm_tutorial.training as T

    built, events = [], []
    real_training_dataset = T.training_dataset

    class Watched:  # a dataset whose iterators say when they are made, exhausted and destroyed
        def __init__(self, data):
            self.data = data

        def __iter__(self):
            events.append("iter")
            outer = self

            class Iterator:
                def __init__(self):
                    self.inner = iter(outer.data)

                def __iter__(self):
                    return self

                def __next__(self):
                    try:
                        return next(self.inner)
                    except StopIteration:
                        events.append("end")
                        raise

                def __del__(self):
                    events.append("destroyed")
            return Iterator()

    def training_dataset(*args, **kwargs):
        built.append((args[2:], kwargs))
        return Watched(real_training_dataset(*args, **kwargs))

    clock_reads = []
    real_clock = B.time.perf_counter
    monkeypatch.setattr(T, "training_dataset", training_dataset)
    monkeypatch.setattr(B.time, "perf_counter", lambda: clock_reads.append(len(events)) or real_clock())
    rows = np.full((10, 8), bert_tokenizer.convert_tokens_to_ids("the"), dtype=np.int64)
    got = B.masking_comparison(rows, bert_tokenizer, batch_size=4, rounds=1, warmup=0, project_passes=3, seed=7)
    assert built == [((4, 6), {"seed": 7})]  # the project's own pipeline: 3 passes of 2 full batches
    assert events == ["iter", "end", "destroyed"]
    # the project run read the clock before its iterator was made and after it ended, not after it was destroyed
    assert clock_reads[:2] == [0, 2]
    assert got["project_sequences_per_s"] > 0 and len(got["runs_sequences_per_s"]["project"]) == 1


def test_equal_loss_check_compares_relative_to_the_loss(monkeypatch):
    import mlm_tutorial.evaluation as E
    import mlm_tutorial.training as T

    class FakeModel:
        def compile(self, **kwargs):
            pass

        def fit(self, *args, **kwargs):
            pass

    def run(initial, baseline, project):
        losses = iter([initial, baseline, project])  # scored in this order: start, recipe copy, project copy
        monkeypatch.setattr(E, "masked_lm_score", lambda model, masked, labels: SimpleNamespace(loss=next(losses)))
        return B.equal_loss_check(object(), None, np.zeros((4, 8), np.int64), np.zeros((2, 8), np.int64), steps=2,
                                  batch_size=2)

    monkeypatch.setattr(B, "clone_model", lambda model, dropout=True: FakeModel())
    monkeypatch.setattr(E, "fixed_masks", lambda rows, tokenizer, seed: (rows, np.array([[5, -100, 6]])))
    monkeypatch.setattr(T, "build_trainer", lambda model, optimizer, fast_head: model)
    monkeypatch.setattr(T, "make_optimizer", lambda schedule: None)
    monkeypatch.setattr(T, "make_schedule", lambda *args: None)
    monkeypatch.setattr(T, "training_dataset", lambda *args, **kwargs: None)
    # |diff| 8e-4 on a loss of 0.2 is 0.4% apart: not equal at 0.1%, although 8e-4 < 1e-3
    low = run(1.0, 0.2, 0.2008)
    assert low["equal"] is False and low["validation_masked_tokens"] == 2
    # |diff| 4e-3 on a loss of 5 is 0.08% apart: equal, although 4e-3 > 1e-3
    assert run(6.0, 5.0, 5.004)["equal"] is True


# --------------------------------------------------------------------------- matmul peak


def test_matmul_peak_counts_two_flops_per_multiply_add_and_keeps_the_fastest_call(monkeypatch):
    # sizes 16, 32, 64, two timed calls each; the fake clock makes size 32 the fastest
    durations = iter([2**-10, 2**-9,   # 16: best 2**-10 s -> 2 * 16**3 * 2**10 / 1e9
                      2**-9, 2**-10,   # 32: best 2**-10 s -> 2 * 32**3 * 2**10 / 1e9 (the peak)
                      1.0, 0.5])       # 64: best 0.5 s -> 2 * 64**3 / 0.5 / 1e9
    state = {"now": 0.0, "started": False}

    def perf_counter():
        if state["started"]:
            state["now"] += next(durations)
        state["started"] = not state["started"]
        return state["now"]

    monkeypatch.setattr(B, "time", SimpleNamespace(perf_counter=perf_counter))
    got = B.matmul_peak(64, repeats=2)
    assert got["gflops_by_size"] == pytest.approx({16: 2 * 16**3 * 2**10 / 1e9, 32: 2 * 32**3 * 2**10 / 1e9,
                                                   64: 2 * 64**3 / 0.5 / 1e9})
    assert got["peak_gflops"] == pytest.approx(2 * 32**3 * 2**10 / 1e9)
    assert got["seconds"] == pytest.approx([1.0, 0.5])  # the calls of the largest size


# --------------------------------------------------------------------------- models


def test_model_from_config_is_seeded(tf_ready):
    config = B.tiny_bert_config(vocab_size=40)
    first, again, other = (B.model_from_config(config, seed=s) for s in (7, 7, 8))
    assert all((a == b).all() for a, b in zip(first.get_weights(), again.get_weights()))
    assert not all((a == b).all() for a, b in zip(first.get_weights(), other.get_weights()))


def test_dropout_free_copies_zero_every_dropout_of_bert_and_distilbert():
    distil = B._dropout_free(B.distilbert_size_config(vocab_size=40, tiny=True))
    assert (distil.dropout, distil.attention_dropout) == (0.0, 0.0)
    bert = B._dropout_free(B.tiny_bert_config(vocab_size=40))
    assert (bert.hidden_dropout_prob, bert.attention_probs_dropout_prob) == (0.0, 0.0)
    assert B.distilbert_size_config(vocab_size=40, tiny=True).dropout > 0  # the original is left alone
