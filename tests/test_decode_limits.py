"""A pixel limit on every decode, checked in the header before a pixel is decoded: every format OpenCV reads
here, crafted headers that claim gigapixels in a few bytes, and the command line naming the flag that lifts it."""
from __future__ import annotations

import contextlib
import os
import struct
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import BOMBS, SIZE, matte, png_header, run
from mmnet.data import encode, io
from mmnet.data.header import image_size
from mmnet.data.io import ImageReadError, ImageTooLarge, decode_image_bytes, read_image

FORMATS = [".jpg", ".png", ".webp", ".bmp", ".tiff", ".ppm", ".pgm", ".pbm", ".pfm", ".hdr", ".sr", ".jp2",
           ".avif", ".pam", ".gif"]


def encoded(suffix: str, height: int = 37, width: int = 53) -> bytes:
    image = (np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8)
    if suffix in (".pgm", ".pbm"):
        image = image[..., 0]
    if suffix in (".pfm", ".hdr"):
        image = image.astype(np.float32) / 255
    ok, data = cv2.imencode(suffix, image)
    assert ok, suffix
    return data.tobytes()


@pytest.mark.parametrize("suffix", FORMATS)
def test_every_format_opencv_reads_has_its_size_read_from_the_header(suffix):
    data = encoded(suffix)
    assert image_size(data) == (53, 37)
    if suffix in (".pfm", ".hdr"):  # float samples: decoded, then refused as before
        with pytest.raises(ImageReadError, match="unsupported sample type float32"):
            decode_image_bytes(data, f"x{suffix}")
    else:
        assert decode_image_bytes(data, f"x{suffix}").shape == (37, 53, 3)
    with pytest.raises(ImageTooLarge, match=rf"x{suffix}: 53×37 is 0.0 megapixels, over the limit of 0.001"):
        decode_image_bytes(data, f"x{suffix}", max_pixels=1000)


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_small_file_claiming_gigapixels_is_refused_before_decoding(name, monkeypatch):
    def no_decoding(*args):
        raise AssertionError("decoded")

    monkeypatch.setattr(io.cv2, "imdecode", no_decoding)
    with pytest.raises(ImageTooLarge, match=f"{name}: .* megapixels, over the limit of 110"):
        decode_image_bytes(BOMBS[name], name)


def test_a_format_whose_size_cannot_be_read_is_refused(monkeypatch):
    monkeypatch.setattr(io.cv2, "imdecode", lambda *args: pytest.fail("decoded"))
    with pytest.raises(ImageReadError, match="unknown format"):
        decode_image_bytes(b"\x76\x2f\x31\x01" + b"\0" * 64, "x.exr")  # OpenEXR: no reader for its size here
    with pytest.raises(ImageReadError, match="damaged"):  # a known format whose header does not give the size
        decode_image_bytes(b"#?RADIANCE\n\n-Y oops\n", "x.hdr")


def test_the_limit_is_none_for_trusted_callers():
    data = encoded(".png")
    assert decode_image_bytes(data, "x.png", max_pixels=None).shape == (37, 53, 3)


def test_command_line_names_the_file_and_the_flag(model_path, tmp_path, capsys):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(BOMBS["bomb.png"])
    before = bomb.read_bytes()
    assert matte(model_path, str(bomb), "-o", str(tmp_path / "out.png")) == 1
    err = capsys.readouterr().err
    assert f"{bomb}: 20000×20000 is 400.0 megapixels, over the limit of 110 (--max-pixels lifts it)" in err
    assert bomb.read_bytes() == before and not (tmp_path / "out.png").exists()


def test_command_line_limit_is_the_flag(model_path, photos, tmp_path, capsys):
    assert matte(model_path, str(photos / "synth_00000.jpg"), "-o", str(tmp_path / "a.png"),
                 "--max-pixels", "1000") == 1
    assert "120×160 is 0.0 megapixels, over the limit of 0.001" in capsys.readouterr().err
    for value in ("0", "nan", "inf", "-5"):  # a usage error: argparse's exit code 2
        assert matte(model_path, str(photos / "synth_00000.jpg"), "-o", str(tmp_path / "a.png"), "--max-pixels",
                     value) == 2
        assert f"{value} is not a positive, finite number of pixels" in capsys.readouterr().err
    assert matte(model_path, str(photos / "synth_00000.jpg"), "-o", str(tmp_path / "a.png"), "--threads",
                 "100000") == 2
    assert "100000 is not from 1 to 256" in capsys.readouterr().err


def test_a_record_is_joined_into_the_png_without_changing_the_bytes(tmp_path):
    """png_with_record joins views (one copy of a large PNG, not three): the bytes are those of the plain
    concatenation, the photo decodes to the same pixels, and the record reads back."""
    photo = cv2.imread(str(Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg"))[..., ::-1]
    plain = encode.encode_png(np.ascontiguousarray(photo))
    record = '{"input": ["astronaut.jpg", 74962, 1], "format": "rgba"}'
    joined = encode.encode_image(np.ascontiguousarray(photo), ".png", record)
    text = encode._png_chunk(b"tEXt", b"mmnet\0" + record.encode("latin-1"))
    assert isinstance(joined, bytes) and joined == plain[:33] + text + plain[33:]
    (tmp_path / "out.png").write_bytes(joined)
    assert encode.read_record(tmp_path / "out.png") == record
    assert np.array_equal(read_image(tmp_path / "out.png"), photo)


# ------------------------------------------------------------------------ issue 24: what is read before the check
def test_a_stray_pipe_or_device_never_stalls_a_folder(model_path, photos, tmp_path):
    """A named pipe in a folder (no writer) reads as empty, and is named; a device (/dev/zero) is not read."""
    folder = tmp_path / "album"
    folder.mkdir()
    (folder / "good.jpg").write_bytes((photos / "synth_00000.jpg").read_bytes())
    os.mkfifo(folder / "pipe.jpg")
    (folder / "zero.jpg").symlink_to("/dev/zero")
    result = run(model_path, str(folder), "-o", str(tmp_path / "out"))  # a hang ends in its timeout, failing
    err = result.stderr.decode()
    assert result.returncode == 1 and "done 1, skipped 0, failed 2" in err
    assert f"{folder / 'pipe.jpg'}: empty file" in err and f"{folder / 'zero.jpg'}: not a file or a pipe" in err


def test_a_photo_from_a_pipe_is_matted(model_path, photos, tmp_path):
    """`mmnet matte <(cat photo.jpg) -o out.png`: the shell hands over /dev/fd/N, a pipe."""
    out = tmp_path / "out.png"
    command = (f"{sys.executable} -m mmnet.cli matte <(cat {photos / 'synth_00000.jpg'}) -o {out} "
               f"--model {model_path} --size {SIZE}")
    result = subprocess.run(["bash", "-c", command], capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).shape == (160, 120)


def test_a_stream_is_read_no_further_than_its_header_allows(tmp_path):
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)

    def feed() -> None:
        with contextlib.suppress(BrokenPipeError), open(pipe, "wb") as writer:
            writer.write(png_header(10, 10)[:-12])  # a 10×10 PNG's header, then endless data
            while True:
                writer.write(b"\0" * 65536)

    threading.Thread(target=feed, daemon=True).start()
    with pytest.raises(ImageReadError, match=r"a stream longer than a 10×10 image takes \(1 MB\)"):
        read_image(pipe)


def test_a_pipe_whose_writer_comes_late_is_read_whole(tmp_path):
    """A named pipe opened for reading before its writer opens it is waited for (up to io.PIPE_WAIT_S), not
    read as empty."""
    pipe = tmp_path / "late.png"
    os.mkfifo(pipe)
    photo = encoded(".png")

    def feed() -> None:
        threading.Event().wait(0.3)
        with open(pipe, "wb") as writer:
            writer.write(photo)

    threading.Thread(target=feed, daemon=True).start()
    assert read_image(pipe).shape == (37, 53, 3)


def test_a_file_larger_than_its_limit_allows_is_refused_unread(tmp_path):
    big = tmp_path / "big.jpg"
    with open(big, "wb") as file:  # sparse: 3 GB that take no disk
        file.truncate(3 << 30)
    with pytest.raises(ImageReadError, match=r"3221 MB is more than an image of up to 110 megapixels takes"):
        read_image(big)


def test_the_header_is_checked_before_the_rest_is_read(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header(20000, 20000) + b"\0" * (2 * io.HEADER_BYTES))
    reads = []
    real = io.open_input

    def recording(path):
        file, status = real(path)
        original = file.read
        file.read = lambda size=-1: reads.append(size) or original(size)
        return file, status

    monkeypatch.setattr(io, "open_input", recording)
    with pytest.raises(ImageTooLarge):
        read_image(bomb)
    assert reads == [io.HEADER_BYTES]  # the header only, never the whole file


# ------------------------------------------------------------- issue 24: the size the decoder will produce counts
def tiff_stating_two_sizes(width: int, height: int) -> bytes:
    """A real width×height TIFF whose directory states ImageWidth and ImageLength again, 10×10, at its end: libtiff
    takes the first, and decodes the whole image."""
    data = bytearray(cv2.imencode(".tiff", np.zeros((height, width), np.uint8))[1].tobytes())
    offset = struct.unpack_from("<I", data, 4)[0]
    count = struct.unpack_from("<H", data, offset)[0]
    entries = [bytes(data[offset + 2 + 12 * i:offset + 14 + 12 * i]) for i in range(count)]
    fake = [struct.pack("<HHII", 256, 4, 1, 10), struct.pack("<HHII", 257, 4, 1, 10)]
    entries = [*entries, *fake]
    directory = struct.pack("<H", len(entries)) + b"".join(entries) + b"\0\0\0\0"
    struct.pack_into("<I", data, 4, len(data) + len(data) % 2)
    return bytes(data) + b"\0" * (len(data) % 2) + directory


def test_a_tiff_stating_its_size_twice_counts_the_larger():
    data = tiff_stating_two_sizes(300, 200)
    assert image_size(data) == (300, 200)
    with pytest.raises(ImageTooLarge, match="300×200"):
        decode_image_bytes(data, "two.tiff", max_pixels=10_000)


def test_a_radiance_resolution_line_is_read_where_the_decoder_reads_it():
    real = encoded(".hdr", 30, 40)
    blank = real.find(b"\n\n") + 2
    line_end = real.find(b"\n", blank)
    spaced = real[:blank] + b"-Y   30  +X   40" + real[line_end:]  # the decoder takes it; a strict regex did not
    assert image_size(spaced) == (40, 30)
    lure = real[:blank] + b"-Y  30 +X  40" + real[line_end:line_end + 1] + b"\n\n-Y 1 +X 1\n" + real[line_end + 1:]
    assert image_size(lure) == (40, 30)  # a well-formed line further on is not the one decoded


def test_a_jp2_box_saying_less_than_its_codestream_counts_the_codestream():
    data = bytearray(encoded(".jp2", 60, 80))
    box = data.find(b"ihdr")
    struct.pack_into(">II", data, box + 4, 1, 1)
    assert image_size(bytes(data)) == (80, 60)


def test_the_decoded_size_is_checked_too(monkeypatch):
    monkeypatch.setattr(io, "image_size", lambda data: (10, 10))  # a header lie that no reader here catches
    with pytest.raises(ImageTooLarge, match="53×37"):
        decode_image_bytes(encoded(".png"), "lie.png", max_pixels=1000)


def test_a_jpeg_of_thousands_of_scans_is_not_decoded():
    data = cv2.imencode(".jpg", np.zeros((64, 64, 3), np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    last_scan = data.rfind(b"\xff\xda")
    scans = data[last_scan:-2] * (io.MAX_JPEG_SCANS + 1)  # the last refinement scan, over and over
    with pytest.raises(ImageReadError, match=r"a JPEG of \d+ scans"):
        decode_image_bytes(data[:last_scan] + scans + b"\xff\xd9", "scans.jpg")
    assert decode_image_bytes(data, "progressive.jpg").shape == (64, 64, 3)  # a real progressive one passes


def test_every_video_frame_counts(model_path, tmp_path, capsys):
    """A clip whose 4th frame is larger than the first three: refused at that frame, before it is converted."""
    av = pytest.importorskip("av")
    from fractions import Fraction
    clip = tmp_path / "clip.mkv"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("mjpeg", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        for index in range(6):
            shape = (200, 200) if index == 3 else (48, 64)
            packet = av.Packet(cv2.imencode(".jpg", np.full((*shape, 3), 90, np.uint8))[1].tobytes())
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, index, index, Fraction(1, 25)
            container.mux(packet)
    assert matte(model_path, str(clip), "-o", str(tmp_path / "out.mp4"), "--max-pixels", "10000") == 1
    assert f"{clip}: frame 3 is 200×200, 0.04 megapixels: over the limit of 0.01" in capsys.readouterr().err
    assert not (tmp_path / "out.mp4").exists()
