"""Results to files: PNG encoding, and atomic writes (a hidden temporary name in the same folder, then
`os.replace`), so that a reader never sees half a file and an interrupted run leaves none behind."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import cv2
import numpy as np

TEMP_SUFFIX = ".tmp"
PNG_COMPRESSION = 1  # zlib level: fastest; mattes compress well anyway


def encode_png(pixels: np.ndarray) -> bytes:
    """uint8 H×W (grey), H×W×3 (RGB) or H×W×4 (RGBA) -> PNG bytes."""
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR if pixels.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ok, encoded = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise ValueError(f"cannot encode a {pixels.shape} {pixels.dtype} array as PNG")
    return encoded.tobytes()


def temporary_name(path: Path) -> Path:
    """A hidden sibling of `path`, unique to this write: `.name.<random>.tmp`."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` (creating its folder) so that it appears complete or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(path)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
