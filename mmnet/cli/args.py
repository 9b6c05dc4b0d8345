"""What several verbs' flags share: the argparse types that check a value as it is parsed, and the architecture
flags of the verbs that build a network from one."""
from __future__ import annotations

import argparse
import math

from mmnet.models.variants import ARCHITECTURES, size_error

MAX_THREADS = 256


def input_size(text: str) -> int:
    """An argparse type: a network input side, a positive multiple of 16 (`mmnet.models.variants.check_size`)."""
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


def thread_count(text: str) -> int:
    """An argparse type: a number of threads (or workers), 1 to MAX_THREADS."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_THREADS:
        raise argparse.ArgumentTypeError(f"{value} is not from 1 to {MAX_THREADS}")
    return value


def add_architecture_flags(parser: argparse.ArgumentParser) -> None:
    """--arch (its old name --model, kept) and the width flags: a network from a variant, as `mmnet train`'s."""
    parser.add_argument("--arch", "--model", dest="model", default="mmnet", choices=sorted(ARCHITECTURES),
                        help="the architecture (--model: its old name)")
    parser.add_argument("--width-multiplier", type=float, default=1.0, help="MMNet width (0.5, 0.75, 1.0, 1.4)")
    parser.add_argument("--depth-multiplier", type=float, default=1.0, help="DeepLab MobileNetV2 width")
    parser.add_argument("--output-stride", type=int, default=16, choices=[8, 16], help="DeepLab output stride")
