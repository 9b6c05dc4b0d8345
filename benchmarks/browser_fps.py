"""Frames per second of the live page (`mmnet serve`) in headless Chromium on this machine, with
onnxruntime-web's WebAssembly backend (SIMD, threads), for each model (needs Debian's chromium).

    python benchmarks/browser_fps.py [--models mmnet-1.0-256 mmnet-1.0-128] [--seconds 10] [--threads N]
                                     [--screenshot docs/images/serve.png]

The fake camera plays a 480×640 (portrait) 30 fps clip panning over examples/astronaut.jpg. The page mattes
frames back to back (`?pace=free`, so the camera's 30 fps is no cap) for --seconds after a warm-up, and
reports from `window.mmnetStats`: frames/s (the whole loop: S×S input, the network, the composite over a
blurred background at 480×640), and the mean time of the network alone (`session.run`). Threads: the page's
default (the cores, at most 4) unless --threads. --screenshot saves the page (live composite, HUD) of the
first model, paced by the camera as a person sees it. Writes benchmarks/results/browser_fps.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from matte_speed import machine  # a sibling script

ROOT = Path(__file__).resolve().parents[1]
WARM_UP_FRAMES = 5
HUD_MEAN_OF = 30  # app.js's MEAN_OF: the page's HUD shows the mean times of the last 30 frames


def measure(page, url: str, model: str, seconds: float, threads: int | None) -> dict:
    """Open the page on `model` and count its frames over `seconds`."""
    from mmnet.bench.serve_harness import wait_for_frames

    query = f"?model={model}&ep=wasm&pace=free" + (f"&threads={threads}" if threads else "")
    page.goto(f"{url}/{query}")
    stats = wait_for_frames(page, WARM_UP_FRAMES)
    start, first = time.perf_counter(), stats["frames"]
    time.sleep(seconds)
    stats = page.evaluate("() => window.mmnetStats")
    elapsed = time.perf_counter() - start
    return {"model": model, "ep": stats["ep"], "threads": stats["threads"],
            "cross_origin_isolated": stats["crossOriginIsolated"], "frames": stats["frames"] - first,
            "seconds": elapsed, "fps": (stats["frames"] - first) / elapsed, "network_ms": stats["inferMs"],
            "frame_ms": stats["frameMs"], "output": f"{stats['width']}x{stats['height']}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["mmnet-1.0-256", "mmnet-1.0-128"])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured per model, after the warm-up")
    parser.add_argument("--threads", type=int, help="WebAssembly threads (default: the page's)")
    parser.add_argument("--screenshot", type=Path, help="save the page of the first model here (PNG)")
    args = parser.parse_args()

    from mmnet.bench.serve_harness import browser_page, camera_clip, chromium, running_server, wait_for_frames
    from mmnet.data.io import read_image
    from mmnet.files import atomic_write, write_atomic
    from mmnet.serve import assets

    if chromium() is None:
        raise SystemExit("needs Chromium: apt-get install chromium")
    print(f"machine   {machine()}")
    print(f"browser   {chromium()} (headless), onnxruntime-web {assets.VERSION}, WebAssembly backend")
    results = []
    with tempfile.TemporaryDirectory(prefix="browser-fps-") as scratch, running_server("--workers", "1") as url:
        clip = camera_clip(Path(scratch) / "camera.y4m", read_image(ROOT / "examples" / "astronaut.jpg"))
        with browser_page(clip) as page:
            print(f"{'model':<15} {'threads':>7} {'frames/s':>9} {'network ms':>11} {'frame ms':>9}")
            for model in args.models:
                row = measure(page, url, model, args.seconds, args.threads)
                results.append(row)
                print(f"{model:<15} {row['threads']:>7} {row['fps']:>9.1f} {row['network_ms']:>11.1f} "
                      f"{row['frame_ms']:>9.1f}", flush=True)
            if args.screenshot:
                page.goto(f"{url}/?model={args.models[0]}&ep=wasm")
                wait_for_frames(page, WARM_UP_FRAMES + HUD_MEAN_OF)  # the HUD's times past the warm-up's
                atomic_write(args.screenshot, lambda path: page.screenshot(path=str(path), type="png"),
                             suffix=".png")
                print(f"wrote {args.screenshot}")
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), "browser": chromium(),
              "onnxruntime_web": assets.VERSION, "camera": "480x640 y4m, 30 fps", "results": results}
    out = ROOT / "benchmarks" / "results" / "browser_fps.json"
    write_atomic(out, json.dumps(report, indent=2).encode())
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
