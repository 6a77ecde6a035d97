"""``make bench``: measure the project's fine-tuning path against the Hugging Face course recipe.

Writes ``build/bench.json`` (or ``--output``) and prints a table with each target marked PASS or FAIL.
The measuring itself lives in :mod:`mlm_tutorial.benchmarking`; this file only reads the command line.
What is measured and how: ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import time

from mlm_tutorial.benchmarking import BenchSettings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = BenchSettings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny smoke run (tiny models, batch 4 x 32 tokens, 2 steps): checks that everything "
                             "runs; its numbers mean nothing")
    parser.add_argument("--output", default=None, help="JSON file to write (default: build/bench.json)")
    parser.add_argument("--rounds", type=int, default=None,
                        help=f"measured runs per path, interleaved A B A B (default {defaults.rounds})")
    parser.add_argument("--warmup", type=int, default=None,
                        help=f"unmeasured warm-up runs per path before them (default {defaults.warmup})")
    parser.add_argument("--batch-size", type=int, default=None, help=f"default {defaults.batch_size}")
    parser.add_argument("--seq-len", type=int, default=None, help=f"tokens per chunk (default {defaults.seq_len})")
    parser.add_argument("--bundled-steps", type=int, default=None,
                        help=f"optimizer steps per run on the bundled model (default {defaults.bundled_steps})")
    parser.add_argument("--distilbert-steps", type=int, default=None,
                        help="optimizer steps per run on the DistilBERT-size model "
                             f"(default {defaults.distilbert_steps})")
    parser.add_argument("--loss-steps", type=int, default=None,
                        help=f"steps of the equal-validation-loss check (default {defaults.loss_steps})")
    parser.add_argument("--masking-rounds", type=int, default=None,
                        help=f"measured runs per masking path (default {defaults.masking_rounds})")
    parser.add_argument("--matmul-size", type=int, default=None,
                        help=f"matrix size for the matmul peak (default {defaults.matmul_size})")
    parser.add_argument("--no-distilbert", action="store_true", help="skip the DistilBERT-size model (the slow part)")
    return parser.parse_args(argv)


#: The settings a flag can change; each one's flag is its name with dashes (batch_size: --batch-size).
FLAG_SETTINGS = ("rounds", "warmup", "batch_size", "seq_len", "bundled_steps", "distilbert_steps", "loss_steps",
                 "masking_rounds", "matmul_size")


def settings_from(args: argparse.Namespace) -> BenchSettings:
    chosen = {name: getattr(args, name) for name in FLAG_SETTINGS if getattr(args, name) is not None}
    if args.no_distilbert:
        chosen["distilbert"] = False
    return BenchSettings.quick_settings(**chosen) if args.quick else BenchSettings(**chosen)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from mlm_tutorial.benchmarking import format_table, prepare, results_path, run_benchmarks, write_results

    try:
        settings = settings_from(args)
    except (TypeError, ValueError) as error:
        message = str(error)
        name = message.split(" ", 1)[0]
        if name in FLAG_SETTINGS:  # name the flag the user typed, not the settings field
            message = "--" + name.replace("_", "-") + message[len(name):]
        print(f"bad option: {message}")
        return 2
    try:
        output = results_path(args.output)  # checked now, not after minutes of measuring
    except (TypeError, ValueError) as error:
        print(f"bad option: --output: {error}")
        return 2
    prepare(settings.seed)
    began = time.perf_counter()
    results = run_benchmarks(settings)
    results["seconds"] = time.perf_counter() - began
    print()
    print(format_table(results))  # printed first: the numbers are on screen whatever happens to the file
    path = write_results(results, output)
    print(f"\nwritten to {path} ({results['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
