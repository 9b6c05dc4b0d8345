"""`mmnet bench`: latency, floor and quality of every variant and peer."""
from __future__ import annotations

import argparse

from mmnet.cli.args import thread_count


def register(sub: argparse._SubParsersAction) -> None:
    _add_bench(sub)


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="latency, floor and quality of every variant and peer: table, JSON, figure")
    p.add_argument("-o", "--output", default="bench", help="folder for bench.json, bench.md, bench.png")
    p.add_argument("--dataset", help="EG1800 root: quality on its validation hold-out, real int8 calibration")
    p.add_argument("--readme", help="also put the figure and table between this file's bench markers")
    p.add_argument("--quick", action="store_true", help="few runs, the shipped models and two more variants")
    p.add_argument("--threads", type=thread_count, nargs="+", default=[1, 2], help="thread counts to measure")
    p.add_argument("--runs", type=int, help="timed runs per median (default: 60; quick: 6)")
    p.add_argument("--variants", nargs="+", metavar="NAME", help="only these (e.g. mmnet-1.0-256)")
    p.add_argument("--holdout-limit", type=int, help="score only the first N hold-out portraits")
    p.add_argument("--no-peers", dest="peers", action="store_false", help="leave MediaPipe and RVM out")
    p.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> None:
    import matplotlib  # noqa: F401  (the figure) and torch (the floor, the variants): fail before measuring
    import torch  # noqa: F401

    from mmnet.bench.run import BenchConfig, run_bench
    from mmnet.runtime.memory import keep_freed_memory
    keep_freed_memory()
    run_bench(BenchConfig(output=args.output, quick=args.quick, threads=tuple(args.threads), runs=args.runs,
                          variants=args.variants, dataset=args.dataset, holdout_limit=args.holdout_limit,
                          peers=args.peers, readme=args.readme))
