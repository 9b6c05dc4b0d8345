"""The runtime's verbs: `mmnet matte` (photos, folders, streams and videos) and `mmnet demo` (a side-by-side
video). Their choices come from the runtime's registries (`render.FORMATS`, `backends.BACKENDS`)."""
from __future__ import annotations

import argparse

from mmnet.cli.args import input_size, pixel_count, thread_count
from mmnet.data.io import MAX_PIXELS
from mmnet.runtime.backends import BACKENDS
from mmnet.runtime.render import FORMATS


def register(sub: argparse._SubParsersAction) -> None:
    _add_matte(sub)
    _add_demo(sub)


def _add_matte(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("matte", help="matte photos (files, folders, globs, - for stdin) to PNGs, and videos")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files, folders (recursive), globs, -, or video files (.mp4, .mov, .mkv, .webm, ...)")
    p.add_argument("-o", "--output", help="output folder, or NAME.png|.jpg|.webp for a single image (default for -: "
                                          "stdout), or NAME.mp4|.webm|.mov|.mkv for a single video; never an input")
    p.add_argument("--watch", action="store_true", help="process new photos in the INPUT folder until Ctrl-C")
    p.add_argument("--format", default="alpha", choices=FORMATS,
                   help="alpha: 8-bit matte; rgba: transparent cut-out; composite: new background; mask: binary")
    p.add_argument("--background", help="for composite: a colour (white, #00ff00, 0,255,0), an image, or blur "
                                         "(default: white)")
    p.add_argument("--threshold", type=float, default=0.5, help="for mask: alpha above this is person")
    p.add_argument("--model", help="a shipped model name, an .onnx or .tflite file or a .pt checkpoint "
                                    "(default: shipped)")
    p.add_argument("--size", type=input_size, help="input side for a dynamic-size .onnx or a checkpoint (a "
                                                    "multiple of 16)")
    p.add_argument("--threads", type=thread_count, help="intra-op threads (default: the runtime's choice)")
    p.add_argument("--backend", choices=BACKENDS,
                   help="inference runtime (default: litert where ai-edge-litert is installed and the model ships a "
                        ".tflite file, in its shipped default precision, else onnxruntime)")
    p.add_argument("--overwrite", action="store_true", help="redo existing outputs, and replace files mmnet did not "
                   "make (default: skip outputs made from the same input with the same options, keep other files)")
    p.add_argument("--refine", action=argparse.BooleanOptionalAction, default=None,
                   help="upsample the matte guided by the photo (default: on)")
    p.add_argument("--smooth", type=float, metavar="S",
                   help="video: temporal smoothing strength in [0, 1), 0 off (default: 0.8)")
    p.add_argument("--max-pixels", type=pixel_count, default=MAX_PIXELS,
                   help="the largest photo or video frame decoded, checked in its header first (default: "
                        "%(default).0f)")
    p.set_defaults(handler=_matte)


def _matte(args: argparse.Namespace) -> None:
    from mmnet.runtime.matte import matte
    from mmnet.runtime.memory import keep_freed_memory
    keep_freed_memory()
    code = matte(args.inputs, args.output, model=args.model, size=args.size, threads=args.threads,
                 watch=args.watch, format=args.format, background=args.background, threshold=args.threshold,
                 overwrite=args.overwrite, refine=args.refine, smooth=args.smooth,
                 backend=args.backend, max_pixels=int(args.max_pixels))
    if code:
        raise SystemExit(code)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="a demo video: input, matte and composite side by side, frames/s drawn")
    p.add_argument("video", help="a clip (.mp4, .mov, .mkv, .webm, ...)")
    p.add_argument("-o", "--output", required=True, help="the demo video (.mp4, .mov, .mkv, .webm)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing -o")
    p.add_argument("--model", help="a shipped model name, an .onnx file or a .pt checkpoint (default: shipped)")
    p.add_argument("--background", default="blur", help="a colour (#00ff00), an image, or blur (default)")
    p.add_argument("--height", type=int, help="panel height in pixels (default: the clip's, at most 720)")
    p.add_argument("--threads", type=thread_count, help="intra-op threads (default: the runtime's choice)")
    p.add_argument("--smooth", type=float, metavar="S", help="temporal smoothing in [0, 1) (default: as matte)")
    p.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> None:
    from mmnet.runtime.demo import make_demo
    from mmnet.runtime.memory import keep_freed_memory
    keep_freed_memory()
    stats = make_demo(args.video, args.output, model=args.model, background=args.background, height=args.height,
                      threads=args.threads, smooth=args.smooth, overwrite=args.overwrite)
    print(f"wrote {args.output} ({stats.frames} frames, {stats.frames / max(stats.seconds, 1e-9):.1f} frames/s)")
