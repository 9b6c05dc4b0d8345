"""Decode photos and alpha mattes into uint8 arrays, with errors that name the file (numpy + cv2 only;
`mmnet.data.encode` writes them).

One decode path: `decode_image_bytes` / `decode_mask_bytes` take the encoded bytes (a file, stdin, an
upload); `read_image` / `read_mask` read a file and call them. `IMAGE_SUFFIXES` and `find_photos` say which
files are photos; `to_uint8` is the one conversion of pixels and mattes to 8 bits.

- EXIF orientation: `cv2.imdecode` applies it for every flag set except exactly `IMREAD_UNCHANGED`; we
  decode with `IMREAD_ANYDEPTH | IMREAD_ANYCOLOR`, which keeps 16-bit samples, drops alpha, expands
  palettes and applies the orientation.
- Size: the width and height are read from the header (`mmnet.data.header`) and checked against a pixel
  limit before a pixel is decoded, so that a small file cannot decode to gigabytes; a format whose size
  cannot be read first is refused.
- Truncation: OpenCV 4.x decodes a truncated JPEG with only a warning (grey fill), so before decoding
  we walk the JPEG marker segments (and PNG chunks) and require that they reach the end-of-image
  marker (JPEG EOI, PNG IEND). Other formats fail in the decoder itself when truncated.
"""
from __future__ import annotations

import os
import select
import stat
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from mmnet.data.header import image_size, known_format
from mmnet.errors import MmnetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")  # the files taken as photos
MAX_PIXELS = 110_000_000  # the default limit on width × height: a 100-megapixel photo (11648×8736) passes
_DECODE_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
JPEG_SOI = b"\xff\xd8"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ROWS = 256  # rows per band of `to_uint8` for a float matte
MAX_JPEG_SCANS = 256  # progressive JPEGs have about 10; each scan is a pass over the whole image (60,000: 58 s)
HEADER_BYTES = 1 << 20  # read first, and the size in it checked, before the rest of a file
FILE_BYTES_PER_PIXEL = 16  # the most an image file holds per pixel (uncompressed float RGBA); more is refused


class ImageReadError(MmnetError, ValueError):
    """An image or mask that cannot be used; the message is "{path}: {problem}"."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


class ImageTooLarge(ImageReadError):
    """An image whose header claims more pixels than the limit; refused before decoding."""

    def __init__(self, path: str | Path, width: int, height: int, limit: int) -> None:
        super().__init__(path, f"{width}×{height} is {width * height / 1e6:.1f} megapixels, over the limit of "
                               f"{limit / 1e6:g}")
        self.width, self.height, self.limit = width, height, limit


def read_image(path: str | Path, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """The photo at `path` as uint8 H×W×3 RGB; `max_pixels`: see `decode_image_bytes`."""
    return decode_image_bytes(_read_bytes(path, max_pixels), str(path), max_pixels)


def read_mask(path: str | Path, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """The alpha matte at `path` as uint8 H×W."""
    return decode_mask_bytes(_read_bytes(path, max_pixels), str(path), max_pixels)


def decode_image_bytes(data: bytes, name: str, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """Encoded bytes -> uint8 H×W×3 RGB. Grey is repeated, alpha dropped, 16-bit rounded to 8-bit.
    More than `max_pixels` pixels in the header raises ImageTooLarge before decoding (None: no limit)."""
    pixels = to_uint8(_decode(data, name, max_pixels))
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)


def decode_mask_bytes(data: bytes, name: str, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """Encoded bytes -> uint8 H×W matte. A colour mask gives its first channel when all channels are
    equal, else its luminance (0.299 R + 0.587 G + 0.114 B); alpha is dropped; 16-bit -> 8-bit."""
    pixels = _decode(data, name, max_pixels)
    if pixels.ndim == 3:
        first = pixels[..., 0]
        equal = np.array_equal(first, pixels[..., 1]) and np.array_equal(first, pixels[..., 2])
        pixels = np.ascontiguousarray(first) if equal else cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    return to_uint8(pixels)


def _read_bytes(path: str | Path, max_pixels: int | None = None) -> bytes:
    """The bytes of a file or a named pipe (`open_input`). With `max_pixels`: the size in the first HEADER_BYTES
    is checked before the rest is read, and no more is read than an image of that many pixels could take
    (`most_bytes`): a larger file is refused unread, a longer stream as it passes the mark."""
    try:
        file, status = open_input(path)
        with file:
            regular = stat.S_ISREG(status.st_mode)
            if max_pixels is not None and regular and status.st_size > most_bytes(max_pixels):
                raise ImageReadError(path, f"{status.st_size / 1e6:.0f} MB is more than an image of up to "
                                           f"{max_pixels / 1e6:g} megapixels takes (--max-pixels lifts it)")
            head = file.read(HEADER_BYTES)
            claimed = image_size(head)
            if claimed is not None and max_pixels is not None and claimed[0] * claimed[1] > max_pixels:
                raise ImageTooLarge(path, *claimed, max_pixels)
            if regular or max_pixels is None or not head:  # an empty pipe: at its end already
                return head + file.read()
            if claimed is None:
                raise ImageReadError(path, "not a readable image (a stream whose first MB does not give its size)")
            most = most_bytes(claimed[0] * claimed[1])
            data = head + file.read(most + 1 - len(head))
            if len(data) > most:
                raise ImageReadError(path, f"a stream longer than a {claimed[0]}×{claimed[1]} image takes "
                                           f"({most / 1e6:.0f} MB); not read further")
            return data
    except FileNotFoundError:
        raise ImageReadError(path, "file does not exist") from None
    except OSError as error:
        raise ImageReadError(path, f"cannot read file ({error.strerror or error})") from None


def most_bytes(pixels: int) -> int:
    """The most an image file of `pixels` pixels holds: FILE_BYTES_PER_PIXEL each, and a header's worth."""
    return pixels * FILE_BYTES_PER_PIXEL + HEADER_BYTES


PIPE_WAIT_S = 2.0  # how long a named pipe is given to start its stream before it counts as empty


def open_input(path: str | Path) -> tuple[BinaryIO, os.stat_result]:
    """`path` open for reading, and its status: a regular file (a link to one too), or a named pipe (`<(cat
    photo.jpg)`), opened without waiting for a writer and given PIPE_WAIT_S to start its stream (one with none
    reads as empty then, so a stray pipe in a folder does not hang the run). ImageReadError for a folder, a
    device (/dev/zero never ends) or a socket."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    status = os.fstat(descriptor)
    if not (stat.S_ISREG(status.st_mode) or stat.S_ISFIFO(status.st_mode)):
        os.close(descriptor)
        raise ImageReadError(path, "is a directory, not an image file" if stat.S_ISDIR(status.st_mode) else
                             "not a file or a pipe (a device or a socket); not read")
    if stat.S_ISFIFO(status.st_mode):  # a writer that opens it after us would otherwise find it read as empty
        select.select([descriptor], [], [], PIPE_WAIT_S)
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb"), status


def _decode(data: bytes, name: str, max_pixels: int | None) -> np.ndarray:
    """The shared core: checks, then cv2 decode -> H×W or H×W×3 (BGR), uint8 or uint16."""
    data = bytes(data)
    if not data:
        raise ImageReadError(name, "empty file")
    check_size(data, name, max_pixels)
    scans = _jpeg_scans(data) if data.startswith(JPEG_SOI) else 0
    if scans is None:
        raise ImageReadError(name, "truncated JPEG (no end-of-image marker)")
    if scans > MAX_JPEG_SCANS:
        raise ImageReadError(name, f"a JPEG of {scans} scans (a photo has a few, at most a few dozen); not "
                                   f"decoded, each costs a pass over the whole image")
    if data.startswith(PNG_SIGNATURE) and not _png_is_complete(data):
        raise ImageReadError(name, "truncated PNG (no IEND chunk)")
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), _DECODE_FLAGS)
    except cv2.error as error:
        raise ImageReadError(name, f"cannot decode image ({str(error).strip().splitlines()[-1]})") from None
    if pixels is None or pixels.size == 0:
        raise ImageReadError(name, "not a readable image (unknown format, or corrupt or truncated data)")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(name, f"unsupported sample type {pixels.dtype} (expected 8- or 16-bit)")
    height, width = pixels.shape[:2]
    if max_pixels is not None and width * height > max_pixels:  # a header that lied in a way not caught above
        raise ImageTooLarge(name, width, height, max_pixels)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim == 3 and pixels.shape[2] != 3:
        raise ImageReadError(name, f"unsupported channel count {pixels.shape[2]}")
    return pixels


def read_size(path: str | Path, prefix: int = 1 << 20) -> tuple[int, int] | None:
    """(width, height) of the image file at `path` from the first `prefix` bytes, or None where they do not
    say (a TIFF may keep its directory at the end) or the file cannot be read."""
    try:
        file, status = open_input(path)
        with file:  # a pipe's data would be gone for the decoder: its size is not known beforehand
            return image_size(file.read(prefix)) if stat.S_ISREG(status.st_mode) else None
    except (OSError, ImageReadError):
        return None


def check_size(data: bytes, name: str, max_pixels: int | None) -> tuple[int, int] | None:
    """(width, height) from the header; ImageTooLarge past `max_pixels`, and with a limit, ImageReadError
    for a format whose size cannot be read before decoding."""
    size = image_size(data)
    if size is None and max_pixels is not None and known_format(data):
        raise ImageReadError(name, "truncated or damaged: its header ends before it gives the image size")
    if size is None and max_pixels is not None:
        raise ImageReadError(name, "not a readable image (unknown format, or a damaged header that does not "
                                   "give the size)")
    if size is not None and max_pixels is not None and size[0] * size[1] > max_pixels:
        raise ImageTooLarge(name, *size, max_pixels)
    return size


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """An image or matte as uint8: uint8 as it is, uint16 by round(x / 257) (65535 -> 255, and 8-bit values
    stored as 16-bit survive), float in [0, 1] clipped and rounded, bool as 0/255."""
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.uint16:
        return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if pixels.dtype.kind == "f":  # band by band: no full-size float temporaries for a large matte
        out = np.empty(pixels.shape, np.uint8)
        for top in range(0, len(pixels), ROWS):
            out[top:top + ROWS] = np.clip(pixels[top:top + ROWS], 0.0, 1.0) * 255 + 0.5
        return out
    if pixels.dtype == np.bool_:
        return pixels.astype(np.uint8) * 255
    raise ImageReadError("<array>", f"unsupported dtype {pixels.dtype} (expected uint8, uint16 or float in [0, 1])")


def find_photos(folder: Path, exclude: Path | None = None) -> list[Path]:
    """Image files under `folder`, recursively and sorted, skipping hidden names and `exclude`'s tree. Linked
    folders are followed, each real folder once (a link back up the tree is a loop: not walked again)."""
    skip = exclude.resolve() if exclude is not None else None
    photos, seen = [], {Path(folder).resolve()}
    for root, dirs, files in os.walk(folder, followlinks=True):
        here = Path(root)
        kept = []
        for name in sorted(d for d in dirs if not d.startswith(".")):
            real = (here / name).resolve()
            if real != skip and real not in seen:
                seen.add(real)
                kept.append(name)
        dirs[:] = kept
        photos += [here / f for f in sorted(files)
                   if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES]
    return photos


def _jpeg_scans(data: bytes) -> int | None:
    """Follow the JPEG marker segments from SOI: the number of scans (SOS) when they reach an EOI marker, None
    when they do not (truncated). Segment lengths skip embedded thumbnails; after each SOS the entropy-coded
    data is scanned for the next real marker."""
    pos, end, scans = 2, len(data), 0
    while pos + 1 < end:
        if data[pos] != 0xFF:  # extraneous bytes between segments: libjpeg skips them too
            pos = data.find(b"\xff", pos)
            if pos < 0:
                return None
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # EOI
            return scans
        pos += 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn and TEM stand alone
            continue
        if pos + 2 > end:
            return None
        pos += int.from_bytes(data[pos:pos + 2], "big")
        if marker == 0xDA:  # SOS: skip entropy-coded data up to a marker that is not FF00 or RSTn
            scans += 1
            pos = _skip_entropy_coded(data, pos)
            if pos < 0:
                return None
    return None


def _skip_entropy_coded(data: bytes, pos: int) -> int:
    """Position of the first marker after entropy-coded data starting at `pos`, or -1 at the end."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return -1
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            pos += 2
        elif following == 0xFF:
            pos += 1
        else:
            return pos


def _png_is_complete(data: bytes) -> bool:
    """Follow the PNG chunks; True when they reach IEND within the data."""
    pos, end = len(PNG_SIGNATURE), len(data)
    while pos + 8 <= end:
        length = int.from_bytes(data[pos:pos + 4], "big")
        if data[pos + 4:pos + 8] == b"IEND":
            return True
        pos += 12 + length  # length, type, data, CRC
    return False
