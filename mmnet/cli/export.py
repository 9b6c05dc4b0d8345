"""The verbs that turn trained weights into runtime files: `mmnet export` (one file) and `mmnet ship` (every
format of a model, checked, into the package's weights and manifest)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from mmnet.cli.args import input_size
from mmnet.data.holdout import HOLDOUT_PERCENT
from mmnet.export import FORMATS
from mmnet.extras import missing_extra


def register(sub: argparse._SubParsersAction) -> None:
    _add_export(sub)
    _add_ship(sub)


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a model to ONNX (fp32 or int8) or TFLite (image in [0,1] -> alpha)")
    p.add_argument("model", help="a shipped model name (e.g. mmnet-1.0-256), a checkpoint .pt or a train dir")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--overwrite", action="store_true", help="replace an existing -o")
    p.add_argument("--format", default="onnx", choices=FORMATS)
    p.add_argument("--size", type=input_size, help="input side S, a multiple of 16 (default: the checkpoint's)")
    p.add_argument("--dynamic", action="store_true", help="ONNX: leave batch, height and width free "
                   "(default: a fixed 1x3xSxS input)")
    p.add_argument("--int8", action="store_true", help="ONNX: static int8 quantization (QDQ), calibrated on "
                   "--calibration")
    p.add_argument("--calibration", help="a folder of photos for --int8 (up to 64 used)")
    p.add_argument("--no-ema", dest="use_ema", action="store_false")
    p.add_argument("--check", action="store_true", help="compare with PyTorch: max abs difference, and the "
                   "GAUSS_GRAD change on the held-out part of --dataset-path")
    p.add_argument("--dataset-path", help="with --check: a dataset (<root>/<split>/{image,mask})")
    p.add_argument("--dataset-split-name", default="train")
    p.add_argument("--val-holdout", type=float, default=HOLDOUT_PERCENT, help="percent held out by mmnet train")
    p.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> None:
    from mmnet.export.formats import Trained
    from mmnet.files import refuse_existing, refuse_input
    from mmnet.training.checkpoint import resolve_checkpoint
    if args.int8 and not args.calibration:
        raise SystemExit("mmnet export: --int8 needs --calibration DIR, a folder of photos like the ones to matte")
    try:
        refuse_input(args.output, [resolve_checkpoint(args.model)])
        refuse_existing(args.output, args.overwrite)
        trained = Trained.load(args.model, args.size, args.use_ema)
        calibration = None
        if args.int8:
            from mmnet.export.quantize import calibration_images
            calibration = calibration_images(args.calibration, trained.size)
        out = trained.export(args.output, args.format, args.dynamic, calibration)
    except ModuleNotFoundError as error:
        if missing_extra(error) is None:
            raise SystemExit(f"mmnet export: {error}") from None
        raise  # main says which extra installs it
    except (OSError, ValueError, ImportError) as error:  # each names the file or the missing package
        raise SystemExit(f"mmnet export: {error}") from None
    print(f"wrote {out}")
    if args.check:
        from mmnet.export.check import check_export, validation_split
        dataset = None
        if args.dataset_path:
            dataset = validation_split(args.dataset_path, trained.size, args.dataset_split_name, args.val_holdout)
        print(check_export(trained.model, out, trained.size, dataset))


def _add_ship(sub: argparse._SubParsersAction) -> None:
    from mmnet.export.ship import CALIBRATION_IMAGES  # no torch until it runs
    p = sub.add_parser("ship", help="ship a trained model inside the package: its .pt, .onnx and .tflite files, "
                                    "each checked against PyTorch, and its manifest entry")
    p.add_argument("checkpoint", help="a shipped name (its .pt), a checkpoint file or a train dir (its newest)")
    p.add_argument("name", help="the shipped name, e.g. mmnet-1.0-256")
    p.add_argument("--default", action="store_true", help="make it the model that mmnet.load() gives")
    p.add_argument("--dataset", help="the EG1800 layout (<dataset>/train): int8 calibration photos from its "
                                     f"training part, quality checks on its {HOLDOUT_PERCENT:g} %% hold-out")
    p.add_argument("--calibration", type=int, default=CALIBRATION_IMAGES, help="int8 calibration photos")
    p.add_argument("--no-tflite", dest="tflite", action="store_false",
                   help="ONNX only (LiteRT files need pip install mmnet[tflite])")
    p.add_argument("--weights-dir", type=Path,
                   help="where the files and manifest.json go (default: the package's mmnet/weights)")
    p.set_defaults(handler=_ship)


def _ship(args: argparse.Namespace) -> None:
    from mmnet.export.ship import check_installed, ship
    check_installed(args.tflite)  # before anything is done
    from mmnet.training.checkpoint import resolve_checkpoint
    entry = ship(resolve_checkpoint(args.checkpoint), args.name, args.default, weights_dir=args.weights_dir,
                 dataset=args.dataset, calibration=args.calibration, tflite=args.tflite)
    print(json.dumps(entry.to_json(), indent=2))
