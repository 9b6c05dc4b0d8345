"""Draw the README's picture: the example photo, its matte, and the cut-out on a new background.

    python scripts/readme_figure.py [--model NAME] [-o docs/images/astronaut.png]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

import mmnet
from mmnet.data.encode import encode_png
from mmnet.data.io import read_image
from mmnet.files import write_atomic

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a shipped name (default: the default model)")
    parser.add_argument("--image", default=str(ROOT / "examples" / "astronaut.jpg"))
    parser.add_argument("-o", "--output", default=str(ROOT / "docs" / "images" / "astronaut.png"))
    args = parser.parse_args()
    model = mmnet.load(args.model)
    photo = read_image(args.image)
    alpha = model.predict(photo)
    matte = np.repeat((alpha * 255 + 0.5).astype(np.uint8)[..., None], 3, axis=2)
    height, width = photo.shape[:2]
    gradient = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    backdrop = ((1 - gradient) * np.array([40, 120, 200]) + gradient * np.array([250, 200, 120]))
    backdrop = np.broadcast_to(backdrop, (height, width, 3)).astype(np.uint8)
    composite = model.composite(photo, backdrop)
    gap = np.full((height, 8, 3), 255, np.uint8)
    panel = np.concatenate([photo, gap, matte, gap, composite], axis=1)
    panel = cv2.resize(panel, (panel.shape[1] // 2, height // 2), interpolation=cv2.INTER_AREA)
    write_atomic(args.output, encode_png(panel))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
