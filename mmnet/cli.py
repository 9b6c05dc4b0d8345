"""The `mmnet` command line: one subcommand per verb, each a thin call into the library."""
from __future__ import annotations

import argparse
import math
import sys

from mmnet import __version__
from mmnet.data.commands import add_pack, add_prepare_alpha
from mmnet.errors import MmnetError

# The optional extra that installs each module a verb may need (pyproject.toml's optional-dependencies).
EXTRAS = {"torch": "train", "onnx": "train", "onnxscript": "train", "matplotlib": "train", "pymatting": "train",
          "starlette": "serve", "uvicorn": "serve", "multipart": "serve", "python_multipart": "serve",
          "PIL": "serve", "av": "video", "openvino": "openvino", "litert_torch": "tflite",
          "ai_edge_litert": "litert", "httpx": "dev", "playwright": "dev"}


def input_size(text: str) -> int:
    """An argparse type: a network input side, a positive multiple of 16 (`mmnet.models.variants.check_size`)."""
    from mmnet.models.variants import size_error  # no torch
    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of pixels") from None
    error = size_error(size)
    if error:
        raise argparse.ArgumentTypeError(error)
    return size


def pixel_count(text: str) -> int:
    """An argparse type: a positive, finite number of pixels (110e6 or 110000000)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of pixels") from None
    if not math.isfinite(value) or value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive, finite number of pixels")
    return int(value)


MAX_THREADS = 256


def thread_count(text: str) -> int:
    """An argparse type: a number of threads (or workers), 1 to MAX_THREADS."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_THREADS:
        raise argparse.ArgumentTypeError(f"{value} is not from 1 to {MAX_THREADS}")
    return value


def missing_extra(error: ModuleNotFoundError) -> str | None:
    """'pip install ...' for a module that an optional extra installs, or None for any other module."""
    name = (error.name or "").split(".")[0]
    if name not in EXTRAS:
        return None
    return f"pip install 'mmnet[{EXTRAS[name]}]'"


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="mmnet", choices=["mmnet", "deeplab"])
    parser.add_argument("--width-multiplier", type=float, default=1.0, help="MMNet width (0.5, 0.75, 1.0, 1.4)")
    parser.add_argument("--depth-multiplier", type=float, default=1.0, help="DeepLab MobileNetV2 width")
    parser.add_argument("--output-stride", type=int, default=16, choices=[8, 16], help="DeepLab output stride")


def _presets() -> dict:
    from mmnet.training.presets import PRESETS  # plain data, no torch
    return PRESETS


def _add_train(sub) -> None:
    from mmnet.training.flags import add_settings_flags  # plain data, no torch
    p = sub.add_parser("train", help="train a model on <dataset>/<split>/{image,mask}")
    p.add_argument("--preset", choices=sorted(_presets()), help="the original's script settings")
    add_settings_flags(p, {"size": input_size})
    p.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> None:
    from mmnet.training.trainer import TrainConfig, train
    fields = TrainConfig.__dataclass_fields__
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    if config.max_steps is None and config.epochs is None:
        raise SystemExit("mmnet train: give --max-steps or --epochs (or a --preset)")
    train(config)


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a checkpoint, the newest of a train dir, or every one (--loop)")
    p.add_argument("--preset", choices=sorted(_presets()), help="accepted for the original's scripts")
    p.add_argument("--dataset-path", required=True)
    p.add_argument("--checkpoint-path", required=True, help="a checkpoint file or a train dir")
    p.add_argument("--dataset-split-name", default="test")
    p.add_argument("--val-holdout", type=float, default=0.0,
                   help="score only the held-out part of the split (as given to mmnet train)")
    p.add_argument("--size", type=input_size, help="input side, a multiple of 16 (default: the checkpoint's)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--loop", action="store_true", help="score every new checkpoint until training finishes")
    p.add_argument("--poll-seconds", type=float, default=10.0)
    p.add_argument("--timeout", type=float, help="stop looping after this many seconds")
    p.add_argument("--no-ema", dest="use_ema", action="store_false", help="score the raw weights, not the EMA")
    p.add_argument("--out-dir", help="default: <train dir>/eval/<split> (<split>-holdout<P> with --val-holdout); "
                                     "for a shipped .pt: ./eval/<name>/<split>...")
    p.set_defaults(handler=_evaluate)


def _evaluate(args: argparse.Namespace) -> None:
    from mmnet.evaluation.evaluate import run_evaluation
    run_evaluation(args.dataset_path, args.checkpoint_path, args.dataset_split_name, args.size,
                   args.val_holdout, args.loop, args.batch_size, args.poll_seconds, args.timeout,
                   args.use_ema, args.out_dir)


def _add_plot(sub) -> None:
    p = sub.add_parser("plot", help="plot a train dir's log.csv (and its evaluation scores) to a PNG")
    p.add_argument("train_dir")
    p.add_argument("-o", "--output", help="default: <train dir>/training.png")
    p.set_defaults(handler=_plot)


def _plot(args: argparse.Namespace) -> None:
    from mmnet.training.plot import plot_training
    print(f"wrote {plot_training(args.train_dir, args.output)}")


def _add_synthetic(sub) -> None:
    p = sub.add_parser("synthetic", help="write a synthetic portrait-like dataset (for smoke runs)")
    p.add_argument("root")
    p.add_argument("--num", type=int, default=64)
    p.add_argument("--split", default="train")
    p.add_argument("--test-num", type=int, default=16,
                   help="pairs in a test split beside it (what mmnet evaluate scores by default; 0: none)")
    p.add_argument("--height", type=int, default=160)
    p.add_argument("--width", type=int, default=120)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=_synthetic)


def _synthetic(args: argparse.Namespace) -> None:
    from mmnet.data.synthetic import make_dataset
    if args.num <= 0 or args.test_num < 0:
        raise SystemExit("mmnet synthetic: --num must be positive and --test-num not negative")
    print(f"wrote {make_dataset(args.root, args.num, args.height, args.width, args.split, args.seed)}")
    if args.test_num and args.split != "test":  # other pairs (another seed), never trained on
        print(f"wrote {make_dataset(args.root, args.test_num, args.height, args.width, 'test', args.seed + 1)}")


def _keep_freed_memory() -> None:
    """This process mattes photo after photo: glibc keeps their freed buffers in it (`mmnet.runtime.memory`; the
    library leaves the process's malloc alone)."""
    from mmnet.runtime import memory
    memory.keep_freed_memory()


def _max_pixels() -> int:
    from mmnet.data.io import MAX_PIXELS  # numpy and OpenCV only
    return MAX_PIXELS


def _add_matte(sub) -> None:
    p = sub.add_parser("matte", help="matte photos (files, folders, globs, - for stdin) to PNGs, and videos")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files, folders (recursive), globs, -, or video files (.mp4, .mov, .mkv, .webm, ...)")
    p.add_argument("-o", "--output", help="output folder, or NAME.png|.jpg|.webp for a single image (default for -: "
                                          "stdout), or NAME.mp4|.webm|.mov|.mkv for a single video; never an input")
    p.add_argument("--watch", action="store_true", help="process new photos in the INPUT folder until Ctrl-C")
    p.add_argument("--format", default="alpha", choices=["alpha", "rgba", "composite", "mask"],
                   help="alpha: 8-bit matte; rgba: transparent cut-out; composite: new background; mask: binary")
    p.add_argument("--background", help="for composite: a colour (white, #00ff00, 0,255,0), an image, or blur "
                                         "(default: white)")
    p.add_argument("--threshold", type=float, default=0.5, help="for mask: alpha above this is person")
    p.add_argument("--model", help="a shipped model name, an .onnx or .tflite file or a .pt checkpoint "
                                    "(default: shipped)")
    p.add_argument("--size", type=input_size, help="input side for a dynamic-size .onnx or a checkpoint (a "
                                                    "multiple of 16)")
    p.add_argument("--threads", type=thread_count, help="intra-op threads (default: the runtime's choice)")
    p.add_argument("--backend", choices=["litert", "onnxruntime", "openvino"],
                   help="inference runtime (default: litert where ai-edge-litert is installed and the model ships a "
                        ".tflite file, in its shipped default precision, else onnxruntime)")
    p.add_argument("--overwrite", action="store_true", help="redo existing outputs, and replace files mmnet did not "
                   "make (default: skip outputs made from the same input with the same options, keep other files)")
    p.add_argument("--refine", action=argparse.BooleanOptionalAction, default=None,
                   help="upsample the matte guided by the photo (default: on)")
    p.add_argument("--smooth", type=float, metavar="S",
                   help="video: temporal smoothing strength in [0, 1), 0 off (default: 0.8)")
    p.add_argument("--max-pixels", type=pixel_count, default=_max_pixels(),
                   help="the largest photo or video frame decoded, checked in its header first (default: "
                        "%(default).0f)")
    p.set_defaults(handler=_matte)


def _matte(args: argparse.Namespace) -> None:
    from mmnet.runtime.matte import matte
    _keep_freed_memory()
    code = matte(args.inputs, args.output, model=args.model, size=args.size, threads=args.threads,
                 watch=args.watch, format=args.format, background=args.background, threshold=args.threshold,
                 overwrite=args.overwrite, refine=args.refine, smooth=args.smooth,
                 backend=args.backend, max_pixels=int(args.max_pixels))
    if code:
        raise SystemExit(code)


def _add_serve(sub) -> None:
    p = sub.add_parser("serve", help="the live camera page (matting in the browser) and the HTTP API")
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to be reached from other machines")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", help="the API's model: a shipped name, an .onnx or a .pt (default: shipped)")
    p.add_argument("--workers", type=thread_count, help="API requests matted at once (default: the cores, at most 4)")
    p.add_argument("--threads", type=thread_count, help="intra-op threads per worker (default: cores / workers)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="the API's request body limit")
    p.add_argument("--max-pixels", type=pixel_count, default=40e6, help="the API's limit on pixels per image")
    p.add_argument("--max-requests", type=int, help="API requests under way at once, more get 503 (default: 4 per "
                                                    "worker)")
    p.add_argument("--max-connections", type=int, default=256, help="open connections; more are closed at once")
    p.add_argument("--header-timeout", type=float, default=10.0, help="seconds for a request's headers to arrive")
    p.add_argument("--body-timeout", type=float, default=60.0, help="seconds for an upload to arrive (then 408)")
    p.add_argument("--api-only", action="store_true", help="no page (needs no onnxruntime-web)")
    p.add_argument("--setup", nargs="?", const="npm", metavar="TARBALL",
                   help="fetch the page's onnxruntime-web with npm (or from a `npm pack` TARBALL) and exit")
    p.add_argument("--certfile", help="HTTPS certificate (a phone's browser gives the camera only over HTTPS)")
    p.add_argument("--keyfile", help="HTTPS private key")
    p.add_argument("--allowed-hosts", nargs="+", default=[], metavar="NAME",
                   help="host names served besides localhost and IP addresses (* for any)")
    p.add_argument("--cors", nargs="+", default=[], metavar="ORIGIN",
                   help="web origins allowed to call the API from their pages (e.g. https://app.example)")
    p.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> None:
    if args.setup:
        from mmnet.serve import assets
        folder = assets.install(None if args.setup == "npm" else args.setup)
        print(f"onnxruntime-web {assets.VERSION} is in {folder}")
        return
    from mmnet.serve.app import MB, Limits, serve
    _keep_freed_memory()
    limits = Limits(max_bytes=int(args.max_upload_mb * MB), max_pixels=int(args.max_pixels),
                    max_requests=args.max_requests, max_connections=args.max_connections,
                    header_seconds=args.header_timeout, body_seconds=args.body_timeout)
    serve(args.host, args.port, model=args.model, threads=args.threads, workers=args.workers, limits=limits,
          page=not args.api_only, certfile=args.certfile, keyfile=args.keyfile, allowed_hosts=args.allowed_hosts,
          cors=args.cors)


def _add_demo(sub) -> None:
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
    _keep_freed_memory()
    stats = make_demo(args.video, args.output, model=args.model, background=args.background, height=args.height,
                      threads=args.threads, smooth=args.smooth, overwrite=args.overwrite)
    print(f"wrote {args.output} ({stats.frames} frames, {stats.frames / max(stats.seconds, 1e-9):.1f} frames/s)")


def _add_bench(sub) -> None:
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
    _keep_freed_memory()
    run_bench(BenchConfig(output=args.output, quick=args.quick, threads=tuple(args.threads), runs=args.runs,
                          variants=args.variants, dataset=args.dataset, holdout_limit=args.holdout_limit,
                          peers=args.peers, readme=args.readme))


def _add_cache(sub) -> None:
    p = sub.add_parser("cache", help="what mmnet keeps in its cache folder (exported checkpoints, onnxruntime-web, "
                                     "the training sets' foreground colours), and clearing it")
    p.add_argument("--clear", nargs="*", metavar="PART",
                   help="delete these parts of it (e.g. foregrounds), or with no PART what mmnet remakes when needed")
    p.set_defaults(handler=_cache)


def _cache(args: argparse.Namespace) -> None:
    from mmnet import cache
    folder = cache.cache_dir()
    if args.clear is not None:
        try:
            cleared = cache.clear(args.clear)
        except KeyError as error:
            raise SystemExit(f"mmnet cache: error: {error.args[0]}") from None
        print(f"cleared {', '.join(cleared) or 'nothing'} in {folder}")
        return
    sizes = cache.parts()
    for name, size in sizes.items():
        print(f"{size / 1e6:10.1f} MB  {name}" + ("" if cache.remade(name) else "  (not mmnet's: --clear keeps it)"))
    print(f"{sum(sizes.values()) / 1e6:10.1f} MB  in {folder} (foregrounds/ is kept under "
          f"{cache.FOREGROUNDS_CAP_BYTES / 2**30:g} GiB; mmnet cache --clear [PART ...] deletes)")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser and its subcommands' parsers by name."""
    parser = argparse.ArgumentParser(prog="mmnet", description="Real-time automatic portrait matting.")
    parser.add_argument("--version", action="version", version=f"mmnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from mmnet.cli_models import add_average, add_export, add_info  # the verbs that build a model
    for add in (_add_train, _add_evaluate, add_info, add_export, add_average, _add_plot, _add_synthetic, add_pack,
                add_prepare_alpha, _add_matte, _add_serve, _add_demo, _add_bench, _add_cache):
        add(sub)
    return parser, sub.choices


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse twice: a `--preset` sets the defaults, and flags given on the command line still win."""
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    preset = getattr(args, "preset", None)
    if preset:
        from mmnet.training.flags import preset_defaults
        commands[args.command].set_defaults(**{k: v for k, v in preset_defaults(preset).items() if k in vars(args)})
        args = parser.parse_args(argv)
    from mmnet.training.flags import gather_loss
    return gather_loss(args)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        args.handler(args)
    except (MmnetError, FileNotFoundError) as error:  # DatasetError, ImageReadError, CheckpointError, ...
        print(f"mmnet {args.command}: error: {error}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as error:  # an optional extra that is not installed: say which one
        hint = missing_extra(error)
        if hint is None:
            raise
        print(f"mmnet {args.command}: error: this needs the {error.name.split('.')[0]} package, which is not "
              f"installed: {hint}", file=sys.stderr)
        return 1
    except ImportError as error:  # our own messages: what is missing and how to install it
        print(f"mmnet {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
