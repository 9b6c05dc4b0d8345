"""The data verbs: `mmnet synthetic` (a synthetic dataset for smoke runs), `mmnet pack` (a recipe's training data,
small, to carry to a GPU machine) and `mmnet prepare-alpha` (binary masks to soft mattes)."""
from __future__ import annotations

import argparse
import sys

from mmnet.data.holdout import HOLDOUT_PERCENT


def register(sub: argparse._SubParsersAction) -> None:
    for add in (_add_synthetic, _add_pack, _add_prepare_alpha):
        add(sub)


def _add_synthetic(sub: argparse._SubParsersAction) -> None:
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


def _add_pack(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pack", help="the training part of a recipe's data at training resolution, in one small "
                                    "folder (to carry to a GPU machine)")
    p.add_argument("out", help="the pack folder (layout: <set name>/<split>/{image,mask}, backgrounds/)")
    p.add_argument("--dataset-path", required=True, help="the first people set, as for mmnet train")
    p.add_argument("--add-dataset", dest="add_datasets", action="append", default=[], metavar="PATH",
                   help="another people set (repeatable)")
    p.add_argument("--backgrounds", help="background photos: their training part is packed")
    p.add_argument("--dataset-split-name", default="train")
    p.add_argument("--size", type=int, default=256, help="short side of every photo, matte and background")
    p.add_argument("--val-holdout", type=float, default=HOLDOUT_PERCENT,
                   help="percent of each set held out: not packed")
    p.add_argument("--quality", type=int, default=78, help="WebP quality of the people's photos")
    p.add_argument("--background-quality", type=int, default=70, help="WebP quality of the backgrounds")
    p.add_argument("--max-mib", type=float, default=50.0, help="refuse to write a larger pack")
    p.add_argument("--overwrite", action="store_true", help="replace an existing pack (only a pack made by mmnet pack)")
    p.add_argument("--workers", type=int, default=2, help="threads")
    p.set_defaults(handler=_pack)


def _pack(args: argparse.Namespace) -> None:
    from mmnet.data import pack
    summary = pack.pack(args.out, [args.dataset_path, *args.add_datasets], args.backgrounds,
                        split=args.dataset_split_name, size=args.size, holdout_percent=args.val_holdout,
                        quality=args.quality, background_quality=args.background_quality,
                        cap_bytes=int(args.max_mib * pack.MIB), overwrite=args.overwrite, workers=args.workers)
    print(summary.report())


def _add_prepare_alpha(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare-alpha", help="binary person masks -> soft alpha mattes (closed-form matting)")
    p.add_argument("images", help="folder of photos")
    p.add_argument("masks", help="folder of binary masks, matched to the photos by file stem")
    p.add_argument("out", help="folder for the <stem>.png mattes (created; existing ones are skipped), or with "
                              "--split the root of a dataset")
    p.add_argument("--split", metavar="NAME",
                   help="write the dataset layout that mmnet train --add-dataset and mmnet pack take: the mattes "
                        "in OUT/NAME/mask, links to their photos in OUT/NAME/image")
    p.add_argument("--band", type=int, default=10, help="unknown band, px on each side of the mask's edge")
    p.add_argument("--workers", type=int, default=2, help="processes")
    p.add_argument("--overwrite", action="store_true", help="redo mattes that are already there")
    p.set_defaults(handler=_prepare_alpha)


def _prepare_alpha(args: argparse.Namespace) -> None:
    from mmnet.data.prepare_alpha import prepare_alpha
    summary = prepare_alpha(args.images, args.masks, args.out, band=args.band, workers=args.workers,
                            overwrite=args.overwrite, split=args.split)
    print(summary.report(), file=sys.stderr if summary.failed else sys.stdout)
    if summary.failed:
        raise SystemExit(1)
