"""`mmnet cache`: what mmnet keeps in its cache folder, and clearing it."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    _add_cache(sub)


def _add_cache(sub: argparse._SubParsersAction) -> None:
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
