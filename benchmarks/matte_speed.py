"""How fast `mmnet matte` is on this machine's CPU, on synthetic 600×800 JPEGs (runs anywhere).

    python benchmarks/matte_speed.py [--model NAME|PATH] [--size 256] [--threads N] [--photos 48] [--runs 30]

(a) one photo through `Matting.predict`, from the JPEG file to the float alpha (median over runs), with
    the other per-photo costs beside it (guided upsampling, cut-out, composite);
(b) a folder of JPEGs to alpha PNGs with the batch pipeline, in photos/s;
(c) `mmnet matte one.jpg -o out.png` as a user runs it, start-up included: median of 5 processes.

Without --model: the shipped default model.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEIGHT, WIDTH = 800, 600


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"{cpu}, {os.cpu_count()} logical CPUs{load}; {platform.system()} {platform.release()}"


def median_ms(function, runs: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a shipped name, .onnx or .pt (default: the default model)")
    parser.add_argument("--size", type=int, help="input side (for a dynamic .onnx)")
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads (default: its choice)")
    parser.add_argument("--photos", type=int, default=48, help="photos in the folder of (b)")
    parser.add_argument("--runs", type=int, default=30, help="repeats of (a)")
    args = parser.parse_args()

    import onnxruntime

    from mmnet.data.io import read_image
    from mmnet.data.synthetic import make_dataset
    from mmnet.runtime import compose
    from mmnet.runtime.batch import matte
    from mmnet.runtime.model import load

    with tempfile.TemporaryDirectory(prefix="matte-speed-") as scratch:
        scratch = Path(scratch)
        model = args.model
        folder = make_dataset(scratch / "photos", args.photos, HEIGHT, WIDTH) / "image"
        one = folder / "synth_00000.jpg"
        matting = load(model, threads=args.threads, size=args.size)
        print(f"machine   {machine()}")
        print(f"runtime   onnxruntime {onnxruntime.__version__}, {matting.session.get_providers()[0]}, "
              f"intra-op threads: {args.threads or 'onnxruntime default'}")
        print(f"model     {matting.path} (input {matting.size}x{matting.size}, batch "
              f"{matting.max_batch or 'dynamic'})")
        print(f"photos    synthetic {WIDTH}x{HEIGHT} (WxH) JPEGs, quality 92")

        rgb = read_image(one)
        alpha = matting.predict(rgb)
        print("\n(a) one photo, median of", args.runs)
        print(f"    predict(path): decode -> alpha      {median_ms(lambda: matting.predict(one), args.runs):7.1f} ms"
              f"  (refine {'on' if matting.refine else 'off'}, the default)")
        print(f"    predict(path, refine=False)         "
              f"{median_ms(lambda: matting.predict(one, refine=False), args.runs):7.1f} ms")
        print(f"    of which decoding the JPEG          {median_ms(lambda: read_image(one), args.runs):7.1f} ms")
        print(f"    of which the network                "
              f"{median_ms(lambda: matting.infer(matting.network_input(rgb)[None]), args.runs):7.1f} ms")
        print(f"    + cut-out colours (rgba)            {median_ms(lambda: compose.cutout(rgb, alpha), args.runs):7.1f} ms")
        print(f"    + composite over a colour           "
              f"{median_ms(lambda: compose.composite(rgb, alpha, (0, 255, 0)), args.runs):7.1f} ms")

        print(f"\n(b) a folder of {args.photos} photos to PNGs, refine on (model load included)")
        for fmt in ("alpha", "rgba"):
            start = time.perf_counter()
            code = matte([str(folder)], str(scratch / f"out-{fmt}"), model=model, size=args.size,
                         threads=args.threads, format=fmt, overwrite=True)
            seconds = time.perf_counter() - start
            print(f"    --format {fmt:6s} {args.photos / seconds:6.1f} photos/s  ({seconds:.2f} s, exit {code})")

        command = [sys.executable, "-m", "mmnet.cli", "matte", str(one), "-o", str(scratch / "one.png"),
                   "--overwrite"] + (["--model", str(model)] if model else []) \
            + (["--size", str(args.size)] if args.size else []) \
            + (["--threads", str(args.threads)] if args.threads else [])
        walls = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            walls.append(time.perf_counter() - start)
        print("\n(c) mmnet matte one.jpg -o out.png, start-up included (median of 5 processes)")
        print(f"    {1000 * statistics.median(walls):7.0f} ms  (min {1000 * min(walls):.0f}, max {1000 * max(walls):.0f})")


if __name__ == "__main__":
    main()
