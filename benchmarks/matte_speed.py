"""How fast `mmnet matte` is on this machine's CPU, on 600×800 JPEGs: the EG1800 hold-out portraits where
../shared is present, else synthetic ones (runs anywhere).

    python benchmarks/matte_speed.py [--model NAME|PATH] [--size 256] [--threads 2] [--backend NAME]
                                     [--photos 48] [--runs 30]

(a) one photo through `Matting.predict`, from the JPEG file to the float alpha (median over runs), and each
    of its stages alone, with the other per-photo costs beside them (PNG encoding, cut-out, composite);
(b) a folder of JPEGs to alpha PNGs (and to RGBA cut-outs) with the batch pipeline, in photos/s, with the
    CPU time it took per photo (all threads; what a busy machine steals shows as a gap between the two);
(c) `mmnet matte one.jpg -o out.png` as a user runs it, start-up included: median of 5 processes (with
    the default backend: the command line has no backend option).

Without --model: the shipped default model. Writes benchmarks/results/matte_speed.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mmnet.bench.machine import describe as machine

HEIGHT, WIDTH = 800, 600
EG1800 = Path(__file__).resolve().parents[2] / "shared" / "data" / "eg1800"
RESULTS = Path(__file__).resolve().parent / "results" / "matte_speed.json"


def median_ms(function: Callable[[], object], runs: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def photo_folder(scratch: Path, count: int) -> tuple[Path, str]:
    """A folder of `count` 600×800 JPEGs (links to EG1800 hold-out portraits, else synthetic), and what they are."""
    folder = scratch / "photos"
    folder.mkdir()
    if (EG1800 / "train" / "image").is_dir():
        from mmnet.data.dataset import find_pairs, select
        from mmnet.data.holdout import HOLDOUT_PERCENT

        pairs = select(find_pairs(EG1800, "train"), HOLDOUT_PERCENT, holdout=True)[:count]
        for pair in pairs:
            (folder / pair.image.name).symlink_to(pair.image.resolve())
        if len(pairs) == count:
            return folder, f"{count} EG1800 hold-out portraits, {WIDTH}x{HEIGHT} (WxH) JPEGs"
        for link in folder.iterdir():
            link.unlink()
    from mmnet.data.synthetic import make_dataset

    made = make_dataset(scratch / "synthetic", count, HEIGHT, WIDTH) / "image"
    for photo in made.iterdir():
        photo.rename(folder / photo.name)
    return folder, f"{count} synthetic {WIDTH}x{HEIGHT} (WxH) JPEGs, quality 92"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a shipped name, .onnx or .pt (default: the default model)")
    parser.add_argument("--size", type=int, help="input side (for a dynamic .onnx)")
    parser.add_argument("--threads", type=int, help="inference threads (default: the runtime's choice)")
    parser.add_argument("--backend", help="litert, onnxruntime or openvino (default: as mmnet.load chooses)")
    parser.add_argument("--photos", type=int, default=48, help="photos in the folder of (b)")
    parser.add_argument("--runs", type=int, default=30, help="repeats of (a)")
    args = parser.parse_args()

    from mmnet.data.encode import encode_png
    from mmnet.data.io import read_image
    from mmnet.files import write_atomic
    from mmnet.runtime import compose
    from mmnet.runtime.matte import matte
    from mmnet.runtime.memory import keep_freed_memory
    from mmnet.runtime.model import load

    keep_freed_memory()  # as the command line does (mmnet.load leaves malloc alone)

    results: dict = {"machine": machine(), "threads": args.threads or "runtime default",
                     "python": platform.python_version()}
    with tempfile.TemporaryDirectory(prefix="matte-speed-") as scratch:
        scratch = Path(scratch)
        folder, described = photo_folder(scratch, args.photos)
        one = sorted(folder.iterdir())[0]
        matting = load(args.model, threads=args.threads, size=args.size, backend=args.backend)
        results.update(model=str(matting.path), backend=repr(matting), input=matting.size, photos=described)
        print(f"machine   {results['machine']}")
        print(f"runtime   {matting!r}, inference threads: {results['threads']}, batch "
              f"{matting.max_batch or 'dynamic'}")
        print(f"photos    {described}")

        rgb = read_image(one)
        small = matting.network_input(rgb)
        raw = matting.infer(small[None])[0]
        alpha = matting.to_full(raw, rgb, small)
        stages = {
            "predict(path), refine on (the default)": lambda: matting.predict(one),
            "predict(path), refine off": lambda: matting.predict(one, refine=False),
            "  decode the JPEG": lambda: read_image(one),
            "  network input (squash-resize)": lambda: matting.network_input(rgb),
            "  network": lambda: matting.infer(small[None]),
            "  to full size, guided (refine)": lambda: matting.to_full(raw, rgb, small, True),
            "  to full size, bilinear": lambda: matting.to_full(raw, rgb, small, False),
            "+ alpha to 8 bits and PNG": lambda: encode_png(compose.to_uint8(alpha)),
            "+ cut-out colours (rgba)": lambda: compose.cutout(rgb, alpha),
            "+ RGBA PNG": lambda: encode_png(compose.cutout(rgb, alpha)),
            "+ composite over a colour": lambda: compose.composite(rgb, alpha, (0, 255, 0)),
            "+ composite over the blurred photo": lambda: compose.composite(rgb, alpha, "blur"),
        }
        print(f"\n(a) one photo, median ms of {args.runs}")
        results["one_photo_ms"] = {}
        for name, function in stages.items():
            milliseconds = median_ms(function, args.runs)
            results["one_photo_ms"][name.strip(" +")] = milliseconds
            print(f"    {name:40s} {milliseconds:7.1f}")

        print(f"\n(b) a folder of {args.photos} photos to PNGs, refine on (model load included)")
        results["folder"] = {}
        for fmt in ("alpha", "rgba"):
            start, cpu = time.perf_counter(), time.process_time()
            code = matte([str(folder)], str(scratch / f"out-{fmt}"), model=args.model, size=args.size,
                         threads=args.threads, format=fmt, overwrite=True, backend=args.backend)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            results["folder"][fmt] = {"photos_per_s": args.photos / seconds, "seconds": seconds,
                                      "cpu_ms_per_photo": 1000 * cpu / args.photos, "exit": code}
            print(f"    --format {fmt:6s} {args.photos / seconds:6.1f} photos/s  ({seconds:.2f} s, "
                  f"{1000 * cpu / args.photos:.0f} ms CPU per photo, exit {code})")

        command = [sys.executable, "-m", "mmnet.cli", "matte", str(one), "-o", str(scratch / "one.png"),
                   "--overwrite"] + (["--model", str(args.model)] if args.model else []) \
            + (["--size", str(args.size)] if args.size else []) \
            + (["--threads", str(args.threads)] if args.threads else [])
        walls = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            walls.append(time.perf_counter() - start)
        results["cli_one_photo_ms"] = {"median": 1000 * statistics.median(walls), "min": 1000 * min(walls),
                                       "max": 1000 * max(walls)}
        print("\n(c) mmnet matte one.jpg -o out.png, start-up included (median of 5 processes)")
        print(f"    {1000 * statistics.median(walls):7.0f} ms  (min {1000 * min(walls):.0f}, "
              f"max {1000 * max(walls):.0f})")
    results["machine_after"] = machine()
    write_atomic(RESULTS, (json.dumps(results, indent=2) + "\n").encode())
    print(f"\nwritten {RESULTS}")


if __name__ == "__main__":
    main()
