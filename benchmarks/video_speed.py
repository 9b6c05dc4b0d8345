"""How fast `mmnet matte clip.mp4 -o out.mp4 --format composite` runs on this machine's CPU, and how much
`--smooth` cuts flicker and what it costs in lag (runs anywhere PyAV is installed).

    python benchmarks/video_speed.py [--model NAME|PATH] [--size S] [--threads 2] [--backend NAME] [--frames 150]
    python benchmarks/video_speed.py --flicker --model PATH [--size S] [--frames 48]

Speed: a 1280×720 30 fps H.264 clip, made at run time by panning and zooming a portrait photo (the first
EG1800 training photo where ../shared is present, else a synthetic one), to a composite mp4 over green:
frames/s end to end and the CPU time per frame (all threads), each stage's cost alone on one frame, the
CPU time of the codecs alone (decoding the clip, encoding its frames), and the seconds per frame of each stage
in the pipeline (they overlap in threads, so they add up to more than the wall time).

Flicker (--flicker): two 640×480 clips made the same way, with camera noise and an H.264 round trip, and
the photo's matte moved along as the ground truth: one where the subject holds still (a slow zoom and
pan), one where it moves (a fast sway). For each smoothing setting: flicker = mean |α_t − α_{t−1}|,
dtSSD ×10² against the ground truth and MAD on both clips, and the lag on the moving one: how much the
smoothed person (α > 0.5) differs from the unsmoothed per-frame one (1 − IoU), on average and at worst.

Without --model: the shipped default model. Writes benchmarks/results/video_speed.json (or, with
--flicker, video_flicker.json).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from matte_speed import machine, median_ms  # a sibling script

from mmnet.files import write_atomic
from mmnet.runtime.memory import keep_freed_memory

EG1800 = Path(__file__).resolve().parents[2] / "shared" / "data" / "eg1800" / "train"
RESULTS = Path(__file__).resolve().parent / "results"
RATE = 30
NOISE = 3.0  # camera noise, standard deviation in 8-bit levels
CRF = "23"  # the clips' H.264 quality: what a phone or a download gives
Camera = Callable[[float], tuple[float, float, float]]  # t in [0, 1] -> (zoom, x shift, y shift) of the frame


def portrait() -> tuple[np.ndarray, np.ndarray, str]:
    """(uint8 RGB photo, float32 matte in [0, 1], where from): an EG1800 photo, else a synthetic one."""
    photos = sorted((EG1800 / "image").glob("*.jpg")) if (EG1800 / "image").is_dir() else []
    for photo in photos:
        matte = EG1800 / "mask" / f"{photo.stem}.png"
        if matte.is_file():
            rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
            return rgb, cv2.imread(str(matte), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255, str(photo)
    from mmnet.data.synthetic import synthetic_pair

    rgb, matte = synthetic_pair(np.random.default_rng(0), 800, 600)
    return rgb, matte.astype(np.float32) / 255, "synthetic portrait"


def still(t: float) -> tuple[float, float, float]:
    """A slow push-in: 5 % zoom and a small drift over the clip."""
    return 1.0 + 0.05 * t, 0.02 * t, 0.01 * t


def sway(t: float) -> tuple[float, float, float]:
    """The subject sways fast: ±15 % of the width, two full swings, with some zoom."""
    return 1.05 + 0.05 * math.sin(4 * math.pi * t), 0.15 * math.sin(4 * math.pi * t), 0.0


def shoot(rgb: np.ndarray, matte: np.ndarray, camera: Camera, frames: int, width: int, height: int,
          seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames of `rgb` filmed by `camera` (covering width×height), with noise, and the matte moved alike."""
    rng = np.random.default_rng(seed)
    cover = max(width / rgb.shape[1], height / rgb.shape[0])
    images, truths = [], []
    for index in range(frames):
        zoom, dx, dy = camera(index / max(1, frames - 1))
        scale = cover * zoom
        shift_x = (width - rgb.shape[1] * scale) / 2 + dx * width
        shift_y = (height - rgb.shape[0] * scale) / 2 + dy * height
        warp = np.float32([[scale, 0, shift_x], [0, scale, shift_y]])
        image = cv2.warpAffine(rgb, warp, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        noisy = image.astype(np.float32) + rng.normal(0, NOISE, image.shape).astype(np.float32)
        images.append(np.clip(noisy + 0.5, 0, 255).astype(np.uint8))
        truths.append(cv2.warpAffine(matte, warp, (width, height), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT))
    return images, truths


def write_clip(path: Path, images: list[np.ndarray]) -> None:
    """An H.264 mp4 at RATE frames/s."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=RATE, options={"crf": CRF, "preset": "veryfast"})
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for image in images:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def read_clip(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


# ---------------------------------------------------------------------------------------------- speed
def speed(args: argparse.Namespace, model: str, scratch: Path) -> dict:
    from mmnet.runtime.model import load
    from mmnet.runtime.render import Render
    from mmnet.runtime.smoothing import SMOOTH_DEFAULT
    from mmnet.runtime.video import matte_video

    rgb, matte, origin = portrait()
    start = time.perf_counter()
    images, _ = shoot(rgb, matte, still, args.frames, 1280, 720)
    clip = scratch / "clip.mp4"
    write_clip(clip, images)
    made = time.perf_counter() - start
    matting = load(model, threads=args.threads, size=args.size, backend=args.backend)
    render = Render("composite", (0, 255, 0))
    results = {"machine": machine(), "threads": args.threads, "workers": args.workers, "model": str(matting.path),
               "backend": repr(matting), "input": f"{args.frames} frames of 1280x720 H.264 at {RATE} fps",
               "output": f"composite over green, H.264 mp4, smoothing {SMOOTH_DEFAULT}, refine on"}
    print(f"machine   {results['machine']}")
    print(f"threads   inference {args.threads}, decode/encode: FFmpeg's choice, pool: {args.workers}")
    print(f"model     {matting!r} (input {matting.size}x{matting.size})")
    print(f"input     {results['input']}, {origin} panned and zoomed (made in {made:.1f} s)")
    print(f"output    {results['output']}")

    frame = images[0]
    small = matting.network_input(frame)
    raw = matting.infer(small[None])[0]
    full = matting.to_full(raw, frame, small)
    alone = {"network input": lambda: matting.network_input(frame), "network": lambda: matting.infer(small[None]),
             "to full size (guided)": lambda: matting.to_full(raw, frame, small),
             "render (composite)": lambda: render(frame, full)}
    results["alone_ms"] = {name: median_ms(function, 20) for name, function in alone.items()}
    print("\none frame, each stage alone (median of 20)")
    for name, milliseconds in results["alone_ms"].items():
        print(f"  {name:22s} {milliseconds:7.1f} ms")

    results["codec_cpu_ms_per_frame"] = codec_alone(clip, images, scratch)
    print("\nthe codecs alone, CPU ms per frame (all of FFmpeg's threads)")
    for name, milliseconds in results["codec_cpu_ms_per_frame"].items():
        print(f"  {name:22s} {milliseconds:7.1f} ms")

    cpu = time.process_time()
    stats = matte_video(matting, clip, scratch / "out.mp4", render, workers=args.workers, progress=False)
    cpu = time.process_time() - cpu
    results.update(frames=stats.frames, seconds=stats.seconds, frames_per_s=stats.frames / stats.seconds,
                   cpu_ms_per_frame=1000 * cpu / stats.frames,
                   stage_ms_per_frame={k: 1000 * v / stats.frames for k, v in stats.stages.items()})
    print(f"\nend to end  {stats.frames / stats.seconds:6.1f} frames/s  ({stats.frames} frames in "
          f"{stats.seconds:.1f} s, model loaded before; {1000 * cpu / stats.frames:.0f} ms CPU per frame, all threads)")
    print("per stage   ms/frame in the pipeline (threads overlap: these add up to more than the wall time)")
    for stage, milliseconds in results["stage_ms_per_frame"].items():
        print(f"  {stage:14s} {milliseconds:7.1f}")
    return results


def codec_alone(clip: Path, images: list[np.ndarray], scratch: Path) -> dict[str, float]:
    """CPU ms per frame of what FFmpeg does in the pipeline, without the rest: decoding the clip to RGB
    (`Reader`), and encoding its frames as the composite mp4 is encoded (`VideoWriter`: to yuv420p, libx264)."""
    import av

    from mmnet.runtime.stats import Stats
    from mmnet.runtime.videoio import Reader
    from mmnet.runtime.videowriters import VideoWriter

    reader = Reader(av, clip)
    try:
        cpu = time.process_time()
        decoded = sum(1 for _ in reader.decode(Stats()))
        decode = 1000 * (time.process_time() - cpu) / decoded
        writer = VideoWriter(av, scratch / "encoded.mp4", reader, "composite")
        cpu = time.process_time()
        for pts, image in enumerate(images):
            writer.write(pts, writer.prepare(image))
        writer.flush()
        encode = 1000 * (time.process_time() - cpu) / len(images)
        writer.commit()
    finally:
        reader.close()
    return {"decode to RGB": decode, "encode (yuv420p, x264)": encode}


# -------------------------------------------------------------------------------------------- flicker
def flicker(args: argparse.Namespace, model: str, scratch: Path) -> dict:
    from mmnet.runtime.model import load
    from mmnet.runtime.smoothing import IMAGE_MOTION, MOTION, Smoother

    matting = load(model, threads=args.threads, size=args.size, backend=args.backend)
    rgb, matte, origin = portrait()
    results = {"machine": machine(), "threads": args.threads, "model": str(matting.path),
               "input": f"2 clips of {args.frames} frames of 640x480 from {origin}, noise {NOISE}, H.264 crf {CRF}",
               "settings": []}
    print(f"machine  {results['machine']}")
    print(f"model    {matting.path} (input {matting.size}x{matting.size}); clips: {args.frames} frames of "
          f"640x480 from {origin}, noise σ={NOISE}, H.264 crf {CRF}")
    clips = {}
    for name, camera in (("still", still), ("moving", sway)):
        images, truths = shoot(rgb, matte, camera, args.frames, 640, 480)
        write_clip(scratch / f"{name}.mp4", images)
        images = read_clip(scratch / f"{name}.mp4")
        smalls = np.stack([matting.network_input(image) for image in images])
        raw = np.concatenate([matting.infer(smalls[i:i + 8]) for i in range(0, len(smalls), 8)])
        clips[name] = (images, truths, smalls, raw)

    def run(name: str, strength: float, motion: float, image_motion: float, refine: bool = True
            ) -> list[np.ndarray]:
        images, _, smalls, raw = clips[name]
        smoother = Smoother(strength, motion, image_motion)
        return [matting.to_full(smoother(alpha, small), image, small, refine)
                for alpha, image, small in zip(raw, images, smalls)]

    settings = [(0.0, MOTION, IMAGE_MOTION)] + [(s, MOTION, IMAGE_MOTION) for s in args.strengths] + \
        [(0.8, MOTION, 0.0), (0.8, MOTION, 0.02), (0.8, MOTION, 0.1), (0.8, 0.1, IMAGE_MOTION),
         (0.8, 0.5, IMAGE_MOTION), (0.8, 1e-6, IMAGE_MOTION), (0.8, math.inf, 0.0), (0.0, MOTION, 0.0, False),
         (0.8, MOTION, IMAGE_MOTION, False)]
    unsmoothed = {name: run(name, 0.0, MOTION, 0.0) for name in clips}
    truth_flicker = {name: _flicker(clips[name][1]) for name in clips}
    print(f"ground truth flicker: still {truth_flicker['still']:.4f}, moving {truth_flicker['moving']:.4f}")
    print("\n                        |         still clip         |                 moving clip")
    print("smooth motion image ref | flicker  dtSSD   MAD       | flicker  dtSSD   MAD    IoU(gt) "
          "| lag 1-IoU(raw) mean  max")
    for strength, motion, image_motion, *refine in settings:
        row = []
        for name in ("still", "moving"):
            alphas = run(name, strength, motion, image_motion, *refine)
            truths = clips[name][1]
            row += [_flicker(alphas), _dtssd(alphas, truths), _mad(alphas, truths)]
        moving = run("moving", strength, motion, image_motion, *refine)
        drops = [1 - _iou(a, b) for a, b in zip(moving, unsmoothed["moving"])]
        truth_iou = np.mean([_iou(a, g) for a, g in zip(moving, clips["moving"][1])])
        label = "plain" if math.isinf(motion) else f"{motion:.2f}"
        results["settings"].append({"smooth": strength, "motion": None if math.isinf(motion) else motion,
                                    "image_motion": image_motion, "refine": refine != [False],
                                    "still": dict(zip(("flicker", "dtssd", "mad"), row[:3])),
                                    "moving": dict(zip(("flicker", "dtssd", "mad"), row[3:])),
                                    "moving_iou": float(truth_iou), "lag_mean": float(np.mean(drops)),
                                    "lag_max": float(max(drops))})
        print(f"{strength:5.2f}  {label:>5s}  {image_motion:4.2f}  {'off' if refine == [False] else 'on':3s} | "
              f"{row[0]:.4f} {row[1]:6.3f} {row[2]:.4f}      | {row[3]:.4f} {row[4]:6.3f} {row[5]:.4f}  "
              f"{truth_iou:.4f} |            {np.mean(drops):.4f} {max(drops):.4f}")
    return results


def _flicker(alphas: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(b - a).mean() for a, b in zip(alphas, alphas[1:])]))


def _dtssd(alphas: list[np.ndarray], truths: list[np.ndarray]) -> float:
    """dtSSD ×10² (metrics.md 3.6), averaged over frames 1..n−1."""
    return 100 * float(np.mean([np.sqrt(np.mean(((a1 - a0) - (g1 - g0)) ** 2))
                                for a0, a1, g0, g1 in zip(alphas, alphas[1:], truths, truths[1:])]))


def _mad(alphas: list[np.ndarray], truths: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(a - g).mean() for a, g in zip(alphas, truths)]))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a > 0.5, b > 0.5).sum()
    return float(np.logical_and(a > 0.5, b > 0.5).sum() / union) if union else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a shipped name, .onnx or .pt (default: the default model)")
    parser.add_argument("--size", type=int, help="input side (for a dynamic .onnx)")
    parser.add_argument("--threads", type=int, default=2, help="inference threads")
    parser.add_argument("--backend", help="litert, onnxruntime or openvino (default: as mmnet.load chooses)")
    parser.add_argument("--workers", type=int, default=2, help="threads upsampling and rendering frames")
    parser.add_argument("--frames", type=int, help="frames per clip (default: 150 for speed, 48 for --flicker)")
    parser.add_argument("--flicker", action="store_true", help="measure flicker and lag of --smooth instead")
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.5, 0.7, 0.8, 0.9, 0.95],
                        help="--flicker: the smoothing strengths to compare with off")
    args = parser.parse_args()
    args.frames = args.frames or (48 if args.flicker else 150)
    keep_freed_memory()  # as mmnet matte does (mmnet.load leaves malloc alone)

    with tempfile.TemporaryDirectory(prefix="video-speed-") as scratch:
        results = (flicker if args.flicker else speed)(args, args.model, Path(scratch))
    out = RESULTS / ("video_flicker.json" if args.flicker else "video_speed.json")
    write_atomic(out, (json.dumps(results, indent=2, default=float) + "\n").encode())
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
