"""Training throughput (images/s) and peak memory of one MMNet training step on this machine.

    python benchmarks/train_throughput.py [--sizes 256 128] [--batch-size 32] [--threads 2]

Measures forward + loss + backward + Adam step on random data (the data pipeline runs in worker processes
beside it and is not the bottleneck), in the default memory layout and in channels-last, after a warm-up.
Each configuration runs in a fresh process so that peak memory (max RSS) is its own.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time


def measure(size: int, batch: int, threads: int, channels_last: bool, steps: int, width: float) -> dict:
    import torch

    from mmnet.models import create
    from mmnet.training.losses import MattingLoss, weight_decay_groups

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = create("mmnet", width_multiplier=width).to(memory_format=fmt).train()
    optimizer = torch.optim.Adam(weight_decay_groups(model, 4e-7), lr=1e-4)
    criterion = MattingLoss()
    images = torch.rand(batch, 3, size, size).contiguous(memory_format=fmt)
    alphas = torch.rand(batch, 1, size, size)

    def step() -> None:
        logits, aux = model(images, with_aux=True)
        loss, _ = criterion(logits, aux, alphas, images)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    times.sort()
    median = times[len(times) // 2]
    return {"size": size, "batch": batch, "threads": threads, "channels_last": channels_last,
            "width_multiplier": width, "images_per_s": round(batch / median, 1),
            "step_ms_median": round(1000 * median, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 128])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--width-multiplier", type=float, default=1.0)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration, print JSON
    args = parser.parse_args()
    if args.one:
        size, channels_last = args.one.split(",")
        print(json.dumps(measure(int(size), args.batch_size, args.threads, channels_last == "1", args.steps,
                                 args.width_multiplier)))
        return
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")
    print("| model | input | batch | threads | layout | images/s | step (ms) | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        for channels_last in (False, True):
            out = subprocess.run([sys.executable, __file__, "--one", f"{size},{int(channels_last)}",
                                  "--batch-size", str(args.batch_size), "--threads", str(args.threads),
                                  "--steps", str(args.steps), "--width-multiplier", str(args.width_multiplier)],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            layout = "channels-last" if channels_last else "contiguous"
            print(f"| MMNet {r['width_multiplier']} | {size} | {r['batch']} | {r['threads']} | {layout} | "
                  f"{r['images_per_s']} | {r['step_ms_median']} | {r['peak_rss_mib']} |", flush=True)


if __name__ == "__main__":
    main()
