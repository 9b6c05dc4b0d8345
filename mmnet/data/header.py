"""An encoded image's width and height read from its header, without decoding a pixel (numpy-free, stdlib only).

Every format OpenCV decodes here has a reader: JPEG, PNG, WebP, AVIF, GIF, BMP, TIFF (and BigTIFF), JPEG 2000
(JP2 and raw codestreams), PBM/PGM/PPM/PAM, PFM, Radiance HDR and Sun raster. `image_size` returns None for
anything else, which the decoders then refuse: a size that cannot be read first cannot be bounded.
"""
from __future__ import annotations

import re
import struct
from collections.abc import Callable

Size = tuple[int, int]  # (width, height)
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_NUMBER = re.compile(rb"\s*(?:#[^\n]*\n\s*)*(\d+)")


def image_size(data: bytes) -> Size | None:
    """(width, height) of an encoded image from its header, or None for a format not known here or a header
    too short or damaged to say."""
    for magic, reader in _READERS:
        if data.startswith(magic):
            try:
                return reader(data)
            except (struct.error, ValueError, IndexError):
                return None
    if data[4:8] == b"ftyp":
        return _isobmff(data)
    return None


def known_format(data: bytes) -> bool:
    """Whether `data` starts like an image format that `image_size` reads (its size may still be missing)."""
    return any(data.startswith(magic) for magic, _ in _READERS) or data[4:8] == b"ftyp"


def _jpeg(data: bytes) -> Size | None:
    """The frame header (SOFn) reached by following the marker segments (thumbnails sit inside APP1)."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:
            pos += 2
            continue
        length = struct.unpack_from(">H", data, pos + 2)[0]
        if marker in _SOF:
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return width, height
        if marker in (0xDA, 0xD9):  # scan or end before any frame header
            return None
        pos += 2 + length
    return None


def _png(data: bytes) -> Size:
    width, height = struct.unpack_from(">II", data, 16)
    return width, height


def _webp(data: bytes) -> Size | None:
    if data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 ":
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    return None


def _gif(data: bytes) -> Size:
    width, height = struct.unpack_from("<HH", data, 6)
    return width, height


def _bmp(data: bytes) -> Size:
    if struct.unpack_from("<I", data, 14)[0] == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack_from("<HH", data, 18)
        return width, height
    width, height = struct.unpack_from("<ii", data, 18)
    return abs(width), abs(height)  # negative height: stored top-down


def _tiff(data: bytes) -> Size | None:
    """ImageWidth (256) and ImageLength (257) of the first IFD, the page OpenCV decodes; a tag stated twice
    counts at its larger value (libtiff takes the first, a reader the last: either may be the lie)."""
    order = "<" if data[:2] == b"II" else ">"
    big = struct.unpack_from(order + "H", data, 2)[0] == 43
    if big:  # BigTIFF: 8-byte offsets and counts, 20-byte entries
        offset = struct.unpack_from(order + "Q", data, 8)[0]
        count, entry, first = struct.unpack_from(order + "Q", data, offset)[0], 20, offset + 8
    else:
        offset = struct.unpack_from(order + "I", data, 4)[0]
        count, entry, first = struct.unpack_from(order + "H", data, offset)[0], 12, offset + 2
    types = {3: "H", 4: "I", 16: "Q"}  # SHORT, LONG, LONG8
    found = {}
    for index in range(min(count, 4096)):
        pos = first + index * entry
        tag, kind = struct.unpack_from(order + "HH", data, pos)
        if tag in (256, 257):
            if kind not in types:
                return None
            value = struct.unpack_from(order + types[kind], data, pos + (12 if big else 8))[0]
            found[tag] = max(found.get(tag, 0), value)
    return (found[256], found[257]) if len(found) == 2 else None


def _pnm(data: bytes) -> Size | None:
    """P1-P6: magic, width, height as whitespace-separated numbers, with # comments between."""
    width = _NUMBER.match(data, 2)
    height = _NUMBER.match(data, width.end()) if width else None
    return (int(width.group(1)), int(height.group(1))) if height else None


def _pam(data: bytes) -> Size | None:
    header = data[:4096]
    width, height = re.search(rb"\nWIDTH\s+(\d+)", header), re.search(rb"\nHEIGHT\s+(\d+)", header)
    return (int(width.group(1)), int(height.group(1))) if width and height else None


def _pfm(data: bytes) -> Size | None:
    return _pnm(data)


def _hdr(data: bytes) -> Size | None:
    """Radiance RGBE: header lines, a blank line, then the resolution string, e.g. "-Y 480 +X 640": the line
    right after the first blank one, as the decoder reads it (any spaces, or none, between its parts)."""
    blank = data.find(b"\n\n", 0, 65536)
    match = re.match(rb"\s*([-+])([XY])\s*(\d+)\s*([-+])([XY])\s*(\d+)", data[blank + 2:blank + 258]) \
        if blank >= 0 else None
    if not match or match.group(2) == match.group(5):
        return None
    first, second = int(match.group(3)), int(match.group(6))
    return (second, first) if match.group(2) == b"Y" else (first, second)


def _sun_raster(data: bytes) -> Size:
    width, height = struct.unpack_from(">ii", data, 4)
    return abs(width), abs(height)


def _jp2(data: bytes) -> Size | None:
    """The JP2 header's image header box (height, then width) and its codestream's SIZ segment, the larger
    (the decoder follows the codestream, a crafted box may say less)."""
    pos = data.find(b"ihdr", 0, 65536)
    if pos < 0:
        return None
    height, width = struct.unpack_from(">II", data, pos + 4)
    stream = data.find(b"\xff\x4f\xff\x51", pos, 1 << 20)
    if stream >= 0:
        width, height = max((width, height), _j2k(data[stream:]), key=lambda size: size[0] * size[1])
    return width, height


def _j2k(data: bytes) -> Size:
    """A raw codestream: the SIZ segment right after SOC gives the reference grid and its offset."""
    x_size, y_size, x_offset, y_offset = struct.unpack_from(">IIII", data, 8)
    return x_size - x_offset, y_size - y_offset


def _isobmff(data: bytes) -> Size | None:
    """AVIF/HEIF: the largest image spatial extents ('ispe') property (a grid's is its whole size)."""
    sizes = []
    pos = data.find(b"ispe", 0, 1 << 20)
    while pos >= 0:
        width, height = struct.unpack_from(">II", data, pos + 8)  # after version and flags
        sizes.append((width, height))
        pos = data.find(b"ispe", pos + 4, 1 << 20)
    return max(sizes, key=lambda size: size[0] * size[1]) if sizes else None


_READERS: list[tuple[bytes, Callable[[bytes], Size | None]]] = [
    (b"\xff\xd8", _jpeg), (b"\x89PNG\r\n\x1a\n", _png), (b"RIFF", _webp), (b"GIF87a", _gif), (b"GIF89a", _gif),
    (b"BM", _bmp), (b"II*\x00", _tiff), (b"MM\x00*", _tiff), (b"II+\x00", _tiff), (b"MM\x00+", _tiff),
    *((f"P{kind}".encode(), _pnm) for kind in "123456"), (b"P7", _pam), (b"PF", _pfm), (b"Pf", _pfm),
    (b"#?", _hdr), (b"\x59\xa6\x6a\x95", _sun_raster), (b"\x00\x00\x00\x0cjP  ", _jp2), (b"\xff\x4f\xff\x51", _j2k),
]
