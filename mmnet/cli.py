"""The `mmnet` command line: one subcommand per verb, each a thin call into the library."""
from __future__ import annotations

import argparse
import sys

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
    p = sub.add_parser("train", help="train a model on <dataset>/<split>/{image,mask}")
    p.add_argument("--preset", choices=sorted(_presets()), help="the original's script settings")
    p.add_argument("--dataset-path", required=True)
    p.add_argument("--dataset-split-name", default="train")
    p.add_argument("--add-dataset", dest="add_datasets", action="append", default=[], metavar="PATH",
                   help="another people set in the same layout, trained on together (repeatable; needs --composite)")
    p.add_argument("--train-dir", required=True, help="checkpoints and log.csv go here; resumes from it")
    _model_args(p)
    p.add_argument("--bn-momentum", type=float, help="BatchNorm momentum (default: the model's)")
    p.add_argument("--size", type=input_size, default=256, help="input side, a multiple of 16")
    p.add_argument("--batch-size", type=int, default=32, help="per process")
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd", "rmsprop"])
    p.add_argument("--learning-rate", type=float, default=1e-4)
    p.add_argument("--momentum", type=float, default=0.9, help="for sgd and rmsprop")
    p.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine"])
    p.add_argument("--warmup-steps", type=int, default=0)
    p.add_argument("--weight-decay", type=float, default=4e-7, help="L2 on regular conv kernels only")
    for term in ("alpha", "comp", "grad", "kd", "aux"):
        p.add_argument(f"--lambda-{term}", type=float, default=1.0, help=f"weight of the {term} loss")
    p.add_argument("--original-comp-scale", action="store_true",
                   help="reproduce the reference's double /255 in the compositional loss")
    p.add_argument("--ema-decay", type=float, default=0.0, help="EMA of the weights (0: off)")
    p.add_argument("--init-from", help="start a new run from this checkpoint's weights (not its optimizer)")
    p.add_argument("--freeze-bn", action="store_true",
                   help="batch norm uses and keeps its running statistics, as at inference (a last fine-tune)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--max-steps", type=int)
    length.add_argument("--epochs", type=float)
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--keep-checkpoints", type=int, default=3)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-holdout", type=float, default=0.0,
                   help="percent of the split held out (by file name hash) and never trained on")
    p.add_argument("--color-jitter", type=float, default=0.0)
    p.add_argument("--composite", type=float, default=0.0,
                   help="probability of compositing the person onto one of --backgrounds (0: off)")
    p.add_argument("--composite-two", type=float, default=0.25, help="probability of a second person")
    p.add_argument("--composite-jitter", type=float, default=0.15,
                   help="photometric jitter of composites: brightness, contrast, saturation ×[1−j, 1+j]")
    p.add_argument("--composite-stretch", type=float, default=0.0,
                   help="probability of a person in a composite made a half figure (lower body stretched)")
    p.add_argument("--composite-occlude", type=float, default=0.0,
                   help="probability of an object (a polygon of another background) in front of the people")
    p.add_argument("--composite-scene", type=float, default=0.0,
                   help="probability of a composite being a scene: up to 4 people, each 5-100%% of the height")
    p.add_argument("--backgrounds", help="folder of background photos (15%% held out for validation)")
    p.add_argument("--num-workers", type=int,
                   help="data loading processes (default: 2 on the CPU; on CUDA the cores less one)")
    p.add_argument("--prefetch-factor", type=int, default=2, help="batches each data loading process prepares")
    p.add_argument("--threads", type=int, help="torch intra-op threads")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast (default: on with CUDA, off on the CPU)")
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
    p.add_argument("--out-dir", help="default: <train dir>/eval/<split>")
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


def _add_pack(sub) -> None:
    p = sub.add_parser("pack", help="the training part of a recipe's data at training resolution, in one small "
                                    "folder (to carry to a GPU machine)")
    p.add_argument("out", help="the pack folder (layout: <set name>/<split>/{image,mask}, backgrounds/)")
    p.add_argument("--dataset-path", required=True, help="the first people set, as for mmnet train")
    p.add_argument("--add-dataset", dest="add_datasets", action="append", default=[], metavar="PATH",
                   help="another people set (repeatable)")
    p.add_argument("--backgrounds", help="background photos: their training part is packed")
    p.add_argument("--dataset-split-name", default="train")
    p.add_argument("--size", type=int, default=256, help="short side of every photo, matte and background")
    p.add_argument("--val-holdout", type=float, default=10.0, help="percent of each set held out: not packed")
    p.add_argument("--quality", type=int, default=78, help="WebP quality of the people's photos")
    p.add_argument("--background-quality", type=int, default=70, help="WebP quality of the backgrounds")
    p.add_argument("--max-mib", type=float, default=50.0, help="refuse to write a larger pack")
    p.add_argument("--overwrite", action="store_true", help="replace an existing pack")
    p.add_argument("--workers", type=int, default=2, help="threads")
    p.set_defaults(handler=_pack)


def _pack(args: argparse.Namespace) -> None:
    from mmnet.data import pack
    summary = pack.pack(args.out, [args.dataset_path, *args.add_datasets], args.backgrounds,
                        split=args.dataset_split_name, size=args.size, holdout_percent=args.val_holdout,
                        quality=args.quality, background_quality=args.background_quality,
                        cap_bytes=int(args.max_mib * pack.MIB), overwrite=args.overwrite, workers=args.workers)
    print(summary.report())


def _add_prepare_alpha(sub) -> None:
    p = sub.add_parser("prepare-alpha", help="binary person masks -> soft alpha mattes (closed-form matting)")
    p.add_argument("images", help="folder of photos")
    p.add_argument("masks", help="folder of binary masks, matched to the photos by file stem")
    p.add_argument("out", help="folder for the <stem>.png mattes (created; existing ones are skipped)")
    p.add_argument("--band", type=int, default=10, help="unknown band, px on each side of the mask's edge")
    p.add_argument("--workers", type=int, default=2, help="processes")
    p.add_argument("--overwrite", action="store_true", help="redo mattes that are already there")
    p.set_defaults(handler=_prepare_alpha)


def _prepare_alpha(args: argparse.Namespace) -> None:
    from mmnet.data.prepare_alpha import prepare_alpha
    summary = prepare_alpha(args.images, args.masks, args.out, band=args.band, workers=args.workers,
                            overwrite=args.overwrite)
    print(summary.report(), file=sys.stderr if summary.failed else sys.stdout)
    if summary.failed:
        raise SystemExit(1)


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
    p.add_argument("--threads", type=int, help="intra-op threads (default: the runtime's choice)")
    p.add_argument("--backend", choices=["litert", "onnxruntime", "openvino"],
                   help="inference runtime (default: the fastest installed that runs the model: litert where "
                        "ai-edge-litert is installed and the model ships a .tflite file, in its shipped default "
                        "precision, else onnxruntime)")
    p.add_argument("--overwrite", action="store_true", help="redo existing outputs (default: skip those made from "
                                                             "the same input with the same options)")
    p.add_argument("--refine", action=argparse.BooleanOptionalAction, default=None,
                   help="upsample the matte guided by the photo (default: on)")
    p.add_argument("--smooth", type=float, metavar="S",
                   help="video: temporal smoothing strength in [0, 1), 0 off (default: 0.8)")
    p.add_argument("--max-pixels", type=float, default=_max_pixels(),
                   help="the largest photo or video frame decoded, checked in its header first (default: "
                        "%(default).0f)")
    p.set_defaults(handler=_matte)


def _matte(args: argparse.Namespace) -> None:
    from mmnet.runtime.batch import matte
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
    p.add_argument("--workers", type=int, help="API requests matted at once (default: the cores, at most 4)")
    p.add_argument("--threads", type=int, help="intra-op threads per worker (default: cores / workers)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="the API's request body limit")
    p.add_argument("--max-pixels", type=float, default=40e6, help="the API's limit on pixels per image")
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
    limits = Limits(max_bytes=int(args.max_upload_mb * MB), max_pixels=int(args.max_pixels))
    serve(args.host, args.port, model=args.model, threads=args.threads, workers=args.workers, limits=limits,
          page=not args.api_only, certfile=args.certfile, keyfile=args.keyfile, allowed_hosts=args.allowed_hosts,
          cors=args.cors)


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="a demo video: input, matte and composite side by side, frames/s drawn")
    p.add_argument("video", help="a clip (.mp4, .mov, .mkv, .webm, ...)")
    p.add_argument("-o", "--output", required=True, help="the demo video (.mp4, .mov, .mkv, .webm)")
    p.add_argument("--model", help="a shipped model name, an .onnx file or a .pt checkpoint (default: shipped)")
    p.add_argument("--background", default="blur", help="a colour (#00ff00), an image, or blur (default)")
    p.add_argument("--height", type=int, help="panel height in pixels (default: the clip's, at most 720)")
    p.add_argument("--threads", type=int, help="intra-op threads (default: the runtime's choice)")
    p.add_argument("--smooth", type=float, metavar="S", help="temporal smoothing in [0, 1) (default: as matte)")
    p.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> None:
    from mmnet.runtime.demo import make_demo
    stats = make_demo(args.video, args.output, model=args.model, background=args.background, height=args.height,
                      threads=args.threads, smooth=args.smooth)
    print(f"wrote {args.output} ({stats.frames} frames, {stats.frames / max(stats.seconds, 1e-9):.1f} frames/s)")


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="latency, floor and quality of every variant and peer: table, JSON, figure")
    p.add_argument("-o", "--output", default="bench", help="folder for bench.json, bench.md, bench.png")
    p.add_argument("--dataset", help="EG1800 root: quality on its validation hold-out, real int8 calibration")
    p.add_argument("--readme", help="also put the figure and table between this file's bench markers")
    p.add_argument("--quick", action="store_true", help="few runs, the shipped models and two more variants")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to measure")
    p.add_argument("--runs", type=int, help="timed runs per median (default: 60; quick: 6)")
    p.add_argument("--variants", nargs="+", metavar="NAME", help="only these (e.g. mmnet-1.0-256)")
    p.add_argument("--holdout-limit", type=int, help="score only the first N hold-out portraits")
    p.add_argument("--no-peers", dest="peers", action="store_false", help="leave MediaPipe and RVM out")
    p.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> None:
    import matplotlib  # noqa: F401  (the figure) and torch (the floor, the variants): fail before measuring
    import torch  # noqa: F401
    from mmnet.bench.run import BenchConfig, run_bench
    run_bench(BenchConfig(output=args.output, quick=args.quick, threads=tuple(args.threads), runs=args.runs,
                          variants=args.variants, dataset=args.dataset, holdout_limit=args.holdout_limit,
                          peers=args.peers, readme=args.readme))


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser and its subcommands' parsers by name."""
    parser = argparse.ArgumentParser(prog="mmnet", description="Real-time automatic portrait matting.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from mmnet.cli_models import add_export, add_info  # info and export: the verbs that build a model
    for add in (_add_train, _add_evaluate, add_info, add_export, _add_plot, _add_synthetic, _add_pack,
                _add_prepare_alpha, _add_matte, _add_serve, _add_demo, _add_bench):
        add(sub)
    return parser, sub.choices


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse twice: a `--preset` sets the defaults, and flags given on the command line still win."""
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    preset = getattr(args, "preset", None)
    if preset:
        subparser = commands[args.command]
        subparser.set_defaults(**{k: v for k, v in _presets()[preset].items()
                                  if any(a.dest == k for a in subparser._actions)})
        args = parser.parse_args(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        args.handler(args)
    except (FileNotFoundError, ValueError) as error:  # DatasetError, ImageReadError, bad checkpoints, ...
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
