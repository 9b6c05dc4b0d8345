"""`mmnet info`, `mmnet export` and `mmnet average`: the verbs that build a network from a variant or from
trained weights."""
from __future__ import annotations

import argparse

from mmnet.cli import _model_args, input_size, missing_extra
from mmnet.data.holdout import HOLDOUT_PERCENT
from mmnet.export import FORMATS


def _build_model(args: argparse.Namespace):
    from mmnet.models.variants import ModelVariant
    return ModelVariant.from_options(args.model, args.size, vars(args)).create()


def add_info(sub) -> None:
    p = sub.add_parser("info", help="parameters and MACs of a model")
    _model_args(p)
    p.add_argument("--size", type=input_size, default=256, help="input side, a multiple of 16")
    p.set_defaults(handler=_info)


def _info(args: argparse.Namespace) -> None:
    from mmnet.models.complexity import count_macs, count_parameters
    model = _build_model(args)
    counts = count_parameters(model)
    print(f"model          {type(model).__name__} ({args.model})")
    print(f"parameters     {counts['params']:,} (without the aux head)")
    print(f"  with aux     {counts['params_with_aux']:,}")
    print(f"  + BN stats   {counts['params_with_bn_stats']:,}")
    print(f"MACs           {count_macs(model, args.size) / 1e6:,.1f} M at {args.size}x{args.size}")


def add_export(sub) -> None:
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


def add_average(sub) -> None:
    p = sub.add_parser("average", help="average the weights of fine-tunes of one model into one checkpoint "
                       "(a model soup)")
    p.add_argument("models", nargs="+", help="shipped model names, checkpoint .pt files or train dirs (their "
                   "newest), all of one variant")
    p.add_argument("-o", "--output", required=True, help="the averaged checkpoint (.pt)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing -o")
    p.add_argument("--weights", type=float, nargs="+", help="one per model (default: equal)")
    p.set_defaults(handler=_average)


def _average(args: argparse.Namespace) -> None:
    import torch

    from mmnet.files import atomic_write, refuse_existing, refuse_input
    from mmnet.training.average import average_checkpoints
    from mmnet.training.checkpoint import resolve_checkpoint
    try:
        refuse_input(args.output, [resolve_checkpoint(model) for model in args.models])
        refuse_existing(args.output, args.overwrite)
        state = average_checkpoints(args.models, args.weights)
    except (OSError, ValueError) as error:  # each names the file or the mismatch
        raise SystemExit(f"mmnet average: {error}") from None
    atomic_write(args.output, lambda tmp: torch.save(state, tmp))
    parts = ", ".join(f"{part['source']} × {part['weight']:.3g}" for part in state["averaged_from"])
    print(f"wrote {args.output}: {parts}")
