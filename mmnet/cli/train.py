"""The training world's verbs: `mmnet train`, `evaluate`, `plot`, `info` and `average` (each imports torch only
when it runs)."""
from __future__ import annotations

import argparse

from mmnet.cli.args import add_architecture_flags, input_size
from mmnet.training.presets import PRESETS


def register(sub: argparse._SubParsersAction) -> None:
    for add in (_add_train, _add_evaluate, _add_info, _add_average, _add_plot):
        add(sub)


def _add_train(sub: argparse._SubParsersAction) -> None:
    from mmnet.training.flags import add_settings_flags  # plain data, no torch
    p = sub.add_parser("train", help="train a model on <dataset>/<split>/{image,mask}")
    p.add_argument("--preset", choices=sorted(PRESETS), help="the original's script settings")
    add_settings_flags(p, {"size": input_size})
    p.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> None:
    from mmnet.training.trainer import TrainConfig, train
    fields = TrainConfig.__dataclass_fields__
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    if config.max_steps is None and config.epochs is None:
        raise SystemExit("mmnet train: give --max-steps or --epochs (or a --preset)")
    train(config)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a checkpoint, the newest of a train dir, or every one (--loop)")
    p.add_argument("--preset", choices=sorted(PRESETS), help="accepted for the original's scripts")
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


def _add_plot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="plot a train dir's log.csv (and its evaluation scores) to a PNG")
    p.add_argument("train_dir")
    p.add_argument("-o", "--output", help="default: <train dir>/training.png")
    p.set_defaults(handler=_plot)


def _plot(args: argparse.Namespace) -> None:
    from mmnet.training.plot import plot_training
    print(f"wrote {plot_training(args.train_dir, args.output)}")


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="parameters and MACs of a model")
    add_architecture_flags(p)
    p.add_argument("--size", type=input_size, default=256, help="input side, a multiple of 16")
    p.set_defaults(handler=_info)


def _info(args: argparse.Namespace) -> None:
    from mmnet.models.complexity import count_macs, count_parameters
    from mmnet.models.variants import ModelVariant
    model = ModelVariant.from_options(args.model, args.size, vars(args)).create()
    counts = count_parameters(model)
    print(f"model          {type(model).__name__} ({args.model})")
    print(f"parameters     {counts['params']:,} (without the aux head)")
    print(f"  with aux     {counts['params_with_aux']:,}")
    print(f"  + BN stats   {counts['params_with_bn_stats']:,}")
    print(f"MACs           {count_macs(model, args.size) / 1e6:,.1f} M at {args.size}x{args.size}")


def _add_average(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("average", help="average the weights of fine-tunes of one model into one checkpoint "
                       "(a model soup)")
    p.add_argument("models", nargs="+", help="shipped model names, checkpoint .pt files or train dirs (their "
                   "newest), all of one variant")
    p.add_argument("-o", "--output", required=True, help="the averaged checkpoint (.pt)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing -o")
    p.add_argument("--weights", type=float, nargs="+", help="one per model (default: equal)")
    p.set_defaults(handler=_average)


def _average(args: argparse.Namespace) -> None:
    from mmnet.files import refuse_existing, refuse_input
    from mmnet.training.average import average_checkpoints
    from mmnet.training.checkpoint import resolve_checkpoint
    try:
        refuse_input(args.output, [resolve_checkpoint(model) for model in args.models])
        refuse_existing(args.output, args.overwrite)
        soup = average_checkpoints(args.models, args.weights)
    except (OSError, ValueError) as error:  # each names the file or the mismatch
        raise SystemExit(f"mmnet average: {error}") from None
    soup.save(args.output)
    parts = ", ".join(f"{part['source']} × {part['weight']:.3g}" for part in soup.averaged_from)
    print(f"wrote {args.output}: {parts}")
