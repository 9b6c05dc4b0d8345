"""Bad inputs and abuse against the command line and a real `mmnet serve` process: what each should get, what
it got, the peak memory, and whether any input file changed. Prints a Markdown table (about 1-2 minutes).

    python benchmarks/abuse.py [--port 8765]

Bombs are a few bytes that claim a huge size in their header (nothing that large is ever decoded). The inputs
at the limits are real photo-like JPEGs (examples/astronaut.jpg upscaled, with noise so that they do not compress
trivially), written to a temporary folder: 24 MP; 101.8 MP (11648×8736), just under the command line's default
--max-pixels of 110 MP; 40.0 MP (7744×5164), at the server's default --max-pixels of 40 MP. Command-line peak
memory: /usr/bin/time -v's maximum resident set size of the whole process; server: its resident set size polled
every 5 ms during the request (peak, minus nothing).

The second round (issue 24: `ROUND2`, `make_round2`) is data that `tests/test_abuse.py` runs too, one test a
row: a pickled payload in a `.pt`, files the run did not make or reads, a pack over a data folder, odd photo
shapes, a named pipe, a 3 GB sparse file. Each row says whether what it got is what it expected (ok / BAD).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mmnet.data.encode import encode_png

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
MMNET = [sys.executable, "-m", "mmnet.cli"]


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


PNG_BOMB = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 6, 0, 0, 0)) + \
    chunk(b"IDAT", zlib.compress(b"\0" * (1 << 20))) + chunk(b"IEND", b"")
HDR_BOMB = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 16000 +X 16000\n" + b"\x02\x02\x3e\x80" * (4 << 20)  # 16 MB


CLI_LIMIT = (11648, 8736)  # 101.8 MP: a 100-megapixel photo, under the command line's default of 110 MP
SERVER_LIMIT = (7744, 5164)  # 39.99 MP: at the server's default --max-pixels of 40 MP


def photo_like(width: int, height: int, noise: float = 6.0, seed: int = 0) -> np.ndarray:
    """A BGR photo of width×height: examples/astronaut.jpg upscaled, with Gaussian noise (σ = `noise` levels) so
    that its JPEG is about 1.5 bits a pixel at quality 90, like a camera's, rather than compressing trivially."""
    source = cv2.imread(str(Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg"))
    photo = cv2.resize(source, (width, height), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(seed)
    for top in range(0, height, 512):  # band by band: no full-size float temporaries
        band = photo[top:top + 512]
        band[:] = np.clip(band + rng.normal(0, noise, band.shape).astype(np.float32), 0, 255)
    return photo


def make_inputs(folder: Path, large: Path) -> dict[str, Path]:
    """The inputs, in `folder`; the photos at the limits in `large` (outside the folder matted into itself)."""
    rng = np.random.default_rng(0)
    small = cv2.GaussianBlur(rng.integers(0, 256, (480, 360, 3), dtype=np.uint8), (9, 9), 0)
    paths = {"photo.png": small, "large.jpg": cv2.resize(small, (6000, 4000), interpolation=cv2.INTER_LINEAR)}
    out = {}
    for name, pixels in paths.items():
        out[name] = folder / name
        cv2.imwrite(str(out[name]), pixels)
    for name, size in {"100mp.jpg": CLI_LIMIT, "40mp.jpg": SERVER_LIMIT}.items():
        out[name] = large / name
        out[name].write_bytes(cv2.imencode(".jpg", photo_like(*size), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    jpeg = cv2.imencode(".jpg", small)[1].tobytes()
    for name, data in {"bomb.png": PNG_BOMB, "bomb.hdr": HDR_BOMB, "truncated.jpg": jpeg[:len(jpeg) // 2],
                       "notes.jpg": b"this is no photo\n"}.items():
        out[name] = folder / name
        out[name].write_bytes(data)
    try:
        from test_matte_safety import damaged_copy
        from test_video import make_clip
        clip = make_clip(folder / "clip.mp4", audio=False)
        out["damaged.mp4"] = damaged_copy(clip, folder / "damaged.mp4", range(4, 6), 0)
    except ImportError:  # no PyAV
        pass
    return out


def digest(paths: dict[str, Path]) -> dict[str, str]:
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in paths.items()}


def cli(args: list[str], cwd: Path, stdin: Path | None = None) -> tuple[int, str, float]:
    """(exit code, the line of stderr that says what happened, peak RSS in MB) of `mmnet ARGS` (`stdin`: a
    file redirected into it)."""
    with open(stdin if stdin is not None else os.devnull, "rb") as feed:
        result = subprocess.run(["/usr/bin/time", "-v", *MMNET, *args], capture_output=True, text=True, cwd=cwd,
                                timeout=300, stdin=feed)
    lines = result.stderr.splitlines()
    rss = next(int(line.split(":")[1]) for line in lines if "Maximum resident set size" in line) / 1024
    said = [line for line in lines if line and not line.startswith("\t") and "Command being timed" not in line
            and "Command exited" not in line and "%|" not in line]
    said = [line for line in said if not line.startswith("usage:") and not line.lstrip().startswith("[")]  # usage
    message = next((line for line in said if "error" in line or "warning" in line or "refus" in line or
                    "is the input" in line or "--max-pixels" in line or "not a readable" in line
                    or "truncated" in line or "not replaced" in line or "not a file" in line
                    or "not an mmnet" in line), said[-1] if said else "")
    return result.returncode, message.strip(), rss


def as_expected(expected: str, got: str) -> bool | None:
    """Whether `got` has the exit code or the HTTP statuses that `expected` names (None: it names neither)."""
    code = re.search(r"exit (\d+)", expected)
    if code:
        return got.startswith(f"exit {code.group(1)}:")
    statuses = re.findall(r"\b\d{3}\b", expected)
    return re.findall(r"(?:^|; )(\d{3}):", got) == statuses if statuses else None


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def request(port: int, pid: int, body: bytes, headers: dict[str, str]) -> tuple[int, str, float]:
    """(status, body's start, peak server RSS in MB during the request)."""
    answers, rss = together(port, pid, [(body, headers)])
    return (*answers[0], rss)


def together(port: int, pid: int, posts: list[tuple[bytes, dict[str, str]]]) -> tuple[list[tuple[int, str]], float]:
    """Each (body, headers) POSTed at once, from a thread of its own: the (status, body's start) of each, and the
    peak server RSS in MB while any was under way."""
    peak, done = [rss_mb(pid)], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak.append(rss_mb(pid))
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    answers: list[tuple[int, str]] = [(0, "")] * len(posts)

    def post(index: int) -> None:
        answers[index] = _post(port, *posts[index])

    senders = [threading.Thread(target=post, args=(index,)) for index in range(len(posts))]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    done.set()
    thread.join()
    return answers, max(peak)


def _post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        try:  # a server that answers 413 from the headers may close before the whole body is sent
            connection.request("POST", "/api/matte", body, {"Host": f"127.0.0.1:{port}", **headers})
        except OSError:
            pass
        response = connection.getresponse()
        data = response.read()
        status = response.status
        text = f"image/png, {len(data)} bytes" if status == 200 else data.decode("utf-8", "replace")
    except OSError as error:
        status, text = 0, f"connection closed ({error})"
    finally:
        connection.close()
    return status, text.strip()[:100]


def half_sent(port: int, pid: int, count: int) -> tuple[str, float, bool]:
    """`count` connections that send half a request's headers and then nothing, held open: (whether the server
    answers a request once they are dropped, what it answered, its peak RSS in MB)."""
    held, peak = [], rss_mb(pid)
    for _ in range(count):
        held.append(socket.create_connection(("127.0.0.1", port), timeout=30))
        with contextlib.suppress(OSError):  # past --max-connections: closed at once
            held[-1].sendall(b"POST /api/matte HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    peak = max(peak, rss_mb(pid))
    time.sleep(11)  # the server's --header-timeout of 10 s
    try:
        status = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/models", timeout=30).status
    except OSError:
        status = 0
    for connection in held:
        connection.close()
    return f"{status}: the server answers", max(peak, rss_mb(pid)), status == 200


def concurrent_uploads(port: int, pid: int, photo: bytes, count: int) -> tuple[str, float, bool]:
    """`count` uploads of `photo` padded to 19.5 MB, posted at once: (what they got, the server's peak RSS in MB,
    whether each got 200 or 503 and the peak stayed under 1.5 GB)."""
    body, form = multipart("upload", photo.ljust(int(19.5e6), b"\0"))  # one body for all: the client's memory
    answers, rss = together(port, pid, [(body, form)] * count)
    statuses = [status for status, _ in answers]
    got = (f"{statuses.count(200)} × 200, {statuses.count(503)} × 503, {statuses.count(0)} closed while still "
           f"sending (after their 503)")
    return got, rss, set(statuses) <= {200, 503, 0} and 200 in statuses and rss < 1500


def multipart(name: str, data: bytes) -> tuple[bytes, dict[str, str]]:
    boundary = "mmnetabuse"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


# ------------------------------------------------------------------------------------- round 2 (issue 24)
@dataclass(frozen=True)
class Case:
    """One command-line abuse: its arguments and what must come of it. `{name}` in `args` and `says` stands for
    the path of the input `name` (`make_round2`); `kept`: inputs that must be left as they were (bytes and
    permissions); `absent`: files that must not appear."""

    label: str
    args: tuple[str, ...]
    expected: str
    code: int
    says: str
    kept: tuple[str, ...] = ()
    stdin: str | None = None
    absent: tuple[str, ...] = ()
    measure: Callable[[dict[str, Path], Path], tuple[bool, str]] | None = None  # (as expected, what it saw)

    def run(self, paths: dict[str, Path], cwd: Path) -> tuple[bool, str, float]:
        """(as expected, what it got, peak RSS in MB)."""
        before = {name: state(paths[name]) for name in self.kept}
        code, message, rss = cli([fill(part, paths) for part in self.args], cwd,
                                 paths[self.stdin] if self.stdin else None)
        changed = [name for name in self.kept if state(paths[name]) != before[name]]
        appeared = [name for name in self.absent if paths[name].exists()]
        ok = code == self.code and fill(self.says, paths) in message and not changed and not appeared
        got = f"exit {code}: {message}" + "".join(f"; {name} CHANGED" for name in changed) + \
            "".join(f"; {name} WRITTEN" for name in appeared)
        if self.measure is not None:
            fine, seen = self.measure(paths, cwd)
            ok, got = ok and fine, f"{got}; {seen}"
        return ok, got, rss


def fill(text: str, paths: dict[str, Path]) -> str:
    """`text` with each `{name}` replaced by the path of that input."""
    for name, path in paths.items():
        text = text.replace(f"{{{name}}}", str(path))
    return text


def state(path: Path) -> tuple[str, int] | None:
    """(sha256 of the bytes, permission bits) of a file; a folder's files all together; None: not there."""
    if not path.exists():
        return None
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else "").encode() + file.read_bytes())
    return digest.hexdigest(), path.stat().st_mode & 0o777


class Payload:
    """Unpickled, it runs a shell command: what a hostile checkpoint does."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return os.system, (self.command,)


def tiff_stating_two_sizes(width: int, height: int) -> bytes:
    """A width×height grey TIFF of zeros (one deflated strip: a few hundred KB for 400 MP) whose directory states
    its size again as 10×10 at its end: libtiff takes the first, a reader taking the last sees 10×10."""
    packer = zlib.compressobj(9)
    row = b"\0" * width
    strip = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    tags = [(256, width), (257, height), (258, 8), (259, 8), (262, 1), (273, 0), (277, 1), (278, height),
            (279, len(strip)), (256, 10), (257, 10)]
    offset = 8 + 2 + 12 * len(tags) + 4
    entries = b"".join(struct.pack("<HHII", tag, 4, 1, offset if tag == 273 else value) for tag, value in tags)
    return b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(tags)) + entries + b"\0" * 4 + strip


def radiance_lure(width: int, height: int) -> bytes:
    """A Radiance header whose resolution line is spaced (the decoder reads it: width×height), followed by a
    well-formed 1×1 line where a strict reader would look."""
    return b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y  %d  +X  %d\n\n\n-Y 1 +X 1\n" % (height, width) + b"\0" * 1024


def jp2_with_a_small_box(width: int, height: int) -> bytes:
    """A real 64×64 JPEG 2000 whose codestream's SIZ is rewritten to width×height, its header box left at 64×64."""
    data = bytearray(cv2.imencode(".jp2", np.zeros((64, 64), np.uint8))[1].tobytes())
    siz = data.find(b"\xff\x4f\xff\x51")
    struct.pack_into(">IIII", data, siz + 8, width, height, 0, 0)
    struct.pack_into(">IIII", data, siz + 24, width, height, 0, 0)  # the tile as large as the image
    return bytes(data)


def jpeg_of_scans(scans: int) -> bytes:
    """A 64×64 progressive JPEG with its last refinement scan repeated until it has `scans` scans."""
    data = cv2.imencode(".jpg", np.zeros((64, 64, 3), np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    last = data.rfind(b"\xff\xda")
    return data[:last] + data[last:-2] * (scans - data.count(b"\xff\xda") + 1) + b"\xff\xd9"


def phone_clip(path: Path, turns: int, frames: int = 4) -> Path:
    """examples/astronaut.jpg (a portrait) as a still H.264 clip stored turned by `turns` counter-clockwise quarter
    turns, with the rotation tag a phone writes to show it upright."""
    import av
    portrait = cv2.cvtColor(cv2.resize(cv2.imread(str(ROOT / "examples" / "astronaut.jpg")), (256, 320)),
                            cv2.COLOR_BGR2RGB)
    stored = np.ascontiguousarray(np.rot90(portrait, turns))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = stored.shape[:2]
        stream.pix_fmt = "yuv420p"
        if turns:
            stream.set_display_rotation(-90 * turns)
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def upright_person(paths: dict[str, Path], cwd: Path) -> tuple[bool, str]:
    """The rotation row's check: the matte of the tagged clip (o32/) is upright and finds the person as the matte
    of the same clip stored upright does (o33/, matted here)."""
    if not (cwd / "o33").exists():
        cli(["matte", str(paths["upright.mp4"]), "-o", "o33", "--format", "rgba"], cwd)

    def area(folder: str) -> tuple[tuple[int, ...], float]:
        first = cv2.imread(str(cwd / folder / "000000.png"), cv2.IMREAD_UNCHANGED)
        return (first.shape[:2], float((first[..., 3] > 127).mean())) if first is not None else ((), 0.0)
    (shape, tagged), (expected_shape, upright) = area("o32"), area("o33")
    return shape == expected_shape and abs(tagged - upright) < 0.05, \
        f"person area {tagged:.3f} at {shape} (stored upright: {upright:.3f} at {expected_shape})"


def truncated_webm(path: Path, frames: int = 25) -> Path:
    """A VP9 WebM of `frames` frames (its container states the duration, not a frame count), cut at half."""
    import av
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx-vp9", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 8 * index, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    return path


def clip_with_a_large_frame(path: Path, side: int, at: int = 3, frames: int = 6) -> Path:
    """An MJPEG clip of 64×48 frames but one, the `at`-th, of side×side (grey: the test is its size)."""
    from fractions import Fraction

    import av
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        for index in range(frames):
            shape = (side, side) if index == at else (48, 64)
            packet = av.Packet(cv2.imencode(".jpg", np.full(shape, 90, np.uint8))[1].tobytes())
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, index, index, Fraction(1, 25)
            container.mux(packet)
    return path


DECODER_BOMBS = {"two-sizes.tiff": lambda: tiff_stating_two_sizes(20000, 20000),
                 "spaced.hdr": lambda: radiance_lure(20000, 20000),
                 "small-box.jp2": lambda: jp2_with_a_small_box(20000, 20000),
                 "scans.jpg": lambda: jpeg_of_scans(60000)}


def make_round2(folder: Path) -> dict[str, Path]:
    """The inputs of `ROUND2` in `folder`, by name (the payload checkpoints touch `pwned` if they ever run)."""
    import torch

    rng = np.random.default_rng(1)
    photo = cv2.GaussianBlur(rng.integers(0, 256, (320, 240, 3), dtype=np.uint8), (9, 9), 0)
    paths = {name: folder / name for name in (
        "photo.png", "other.jpg", "precious.png", "album", "readonly.png", "background.png", "pwned", "payload.pt",
        "run", "a.pt", "b.pt", "DATA", "odd", "piped", "huge.jpg", "frames", "edits", "clip.mp4")}
    for name in ("photo.png", "other.jpg", "precious.png", "readonly.png", "background.png"):
        cv2.imwrite(str(paths[name]), np.roll(photo, len(name), axis=1))
    paths["readonly.png"].chmod(0o444)
    for name in ("album", "run", "odd", "piped", "frames"):
        paths[name].mkdir()
    for stem in ("IMG_1", "IMG_2"):
        cv2.imwrite(str(paths["album"] / f"{stem}.jpg"), photo)
    cv2.imwrite(str(paths["album"] / "IMG_1.png"), photo[::2, ::2])  # the user's own, where IMG_1's matte goes
    payload = {"step": 1, "model_name": "mmnet", "model_kwargs": {}, "size": 256, "model": {},
               "config": Payload(f"touch {paths['pwned']}")}
    torch.save(payload, paths["payload.pt"])
    torch.save(payload, paths["run"] / "checkpoint-00000009.pt")
    for name in ("a.pt", "b.pt"):
        shutil.copyfile(ROOT / "mmnet" / "weights" / "mmnet-1.0-128.pt", paths[name])
    from mmnet.data.synthetic import make_dataset
    make_dataset(paths["DATA"] / "set1", n=6, height=64, width=48)
    (paths["DATA"] / "README").write_text("the user's notes on their data\n")
    for name, shape in {"wide": (1, 20000), "tall": (20000, 1), "dot": (1, 1), "photo": (320, 240)}.items():
        cv2.imwrite(str(paths["odd"] / f"{name}.png"), cv2.resize(photo, shape[::-1]))
    cv2.imwrite(str(paths["piped"] / "photo.png"), photo)
    os.mkfifo(paths["piped"] / "pipe.jpg")
    with open(paths["huge.jpg"], "wb") as file:
        file.truncate(3 << 30)  # sparse: 3 GB that take no disk
    cv2.imwrite(str(paths["frames"] / "000000.png"), photo)  # the user's own frames, where a sequence goes
    try:
        from test_video import make_clip
        make_clip(paths["clip.mp4"], audio=False)
        paths["edits"].mkdir()
        shutil.copyfile(paths["clip.mp4"], paths["edits"] / "clip.mp4")  # the user's edit, where an output goes
    except ImportError:  # no PyAV: the video rows are left out
        del paths["clip.mp4"], paths["edits"]
    for name, make in DECODER_BOMBS.items():
        paths[name] = folder / name
        paths[name].write_bytes(make())
    paths["linked"], paths["elsewhere"] = folder / "linked", folder / "elsewhere"
    for name in ("linked", "elsewhere"):
        paths[name].mkdir()
        cv2.imwrite(str(paths[name] / f"{name}.png"), photo)
    (paths["linked"] / "elsewhere").symlink_to(paths["elsewhere"])
    (paths["linked"] / "loop").symlink_to(paths["linked"])  # back up the tree
    paths["o39.png"] = folder / "o39.png"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    paths["stale"] = folder / f".o39.png.{dead.stdout.strip()}-deadbeef.tmp"  # left by a run that was killed
    paths["stale"].write_bytes(b"half a PNG")
    try:
        paths["large-frame.mkv"] = clip_with_a_large_frame(folder / "large-frame.mkv", 11000)
        paths["phone.mp4"] = phone_clip(folder / "phone.mp4", 1)
        paths["truncated.webm"] = truncated_webm(folder / "truncated.webm")
        paths["upright.mp4"] = phone_clip(folder / "upright.mp4", 0)
    except ImportError:
        pass
    return paths


NOT_OURS = "exists and was not made by mmnet; not replaced"
ROUND2 = [
    Case(".pt payload as --model", ("matte", "{photo.png}", "-o", "o20.png", "--model", "{payload.pt}"),
         "refused by name, nothing run, exit 1", 1, "{payload.pt}: not an mmnet checkpoint", absent=("pwned",)),
    Case(".pt payload to mmnet export", ("export", "{payload.pt}", "-o", "o21.onnx"),
         "refused by name, nothing run, exit 1", 1, "not an mmnet checkpoint", absent=("pwned",)),
    Case(".pt payload planted in a train dir", ("export", "{run}", "-o", "o22.onnx"),
         "refused by name, nothing run, exit 1", 1, "not an mmnet checkpoint", absent=("pwned",)),
    Case(".pt payload to mmnet average", ("average", "{payload.pt}", "{payload.pt}", "-o", "o23.pt"),
         "refused by name, nothing run, exit 1", 1, "not an mmnet checkpoint", absent=("pwned",)),
    Case("-o precious.png (not made by mmnet)", ("matte", "{photo.png}", "-o", "{precious.png}"),
         "kept, named, exit 1", 1, f"{{precious.png}}: {NOT_OURS}", kept=("precious.png",)),
    Case('"album/*.jpg" -o album over the user\'s IMG_1.png', ("matte", "{album}/*.jpg", "-o", "{album}"),
         "IMG_1.png kept and named, IMG_2 done, exit 1", 1, f"{{album}}/IMG_1.png: {NOT_OURS}"),
    Case("read-only 0444 output, --overwrite", ("matte", "{photo.png}", "-o", "{readonly.png}", "--overwrite"),
         "kept read-only, named, exit 1", 1, "{readonly.png}: read-only; not replaced", kept=("readonly.png",)),
    Case("stdin's file as -o, --overwrite", ("matte", "-", "-o", "{photo.png}", "--overwrite"),
         "refused, exit 1", 1, "{photo.png} is the input -", kept=("photo.png",), stdin="photo.png"),
    Case("--background image as -o, --overwrite", ("matte", "{other.jpg}", "-o", "{background.png}", "--format",
                                                   "composite", "--background", "{background.png}", "--overwrite"),
         "refused, exit 1", 1, "is the input {background.png}", kept=("background.png",)),
    Case("export a.pt -o a.pt", ("export", "{a.pt}", "-o", "{a.pt}"), "refused, exit 1", 1,
         "is the input {a.pt}", kept=("a.pt",)),
    Case("export a.pt -o precious.png (exists)", ("export", "{a.pt}", "-o", "{precious.png}"), "kept, exit 1", 1,
         "{precious.png}: exists; not replaced (--overwrite replaces it)", kept=("precious.png",)),
    Case("average a.pt b.pt -o a.pt", ("average", "{a.pt}", "{b.pt}", "-o", "{a.pt}"), "refused, exit 1", 1,
         "is the input {a.pt}", kept=("a.pt",)),
    Case("pack DATA --dataset-path DATA/set1 --overwrite", ("pack", "{DATA}", "--dataset-path", "{DATA}/set1",
                                                            "--overwrite"),
         "refused, DATA kept, exit 1", 1, "{DATA}: holds the input {DATA}/set1", kept=("DATA",)),
    Case("folder with 1×20000, 20000×1 and 1×1 photos", ("matte", "{odd}", "-o", "o24", "--format", "rgba"),
         "all matted, exit 0", 0, "done 4, skipped 0, failed 0"),
    Case("named pipe in a folder (no writer)", ("matte", "{piped}", "-o", "o25"),
         "named, not waited on; the photo done, exit 1", 1, "{piped}/pipe.jpg: empty file"),
    Case("/dev/zero as a photo", ("matte", "/dev/zero", "-o", "o34.png"), "refused unread, exit 1", 1,
         "/dev/zero: not a file or a pipe"),
    Case("--max-pixels nan", ("matte", "{photo.png}", "-o", "o35.png", "--max-pixels", "nan"), "usage error, exit 2",
         2, "nan is not a positive, finite number of pixels"),
    Case("--threads 100000", ("matte", "{photo.png}", "-o", "o36.png", "--threads", "100000"), "usage error, exit 2",
         2, "100000 is not from 1 to 256"),
    Case("3 GB sparse .jpg", ("matte", "{huge.jpg}", "-o", "o26.png"), "refused unread, exit 1", 1,
         "3221 MB is more than an image of up to 110 megapixels takes"),
    Case(f"TIFF stating 20000×20000 and 10×10 ({len(tiff_stating_two_sizes(20000, 20000)) // 1000} KB)",
         ("matte", "{two-sizes.tiff}", "-o", "o27.png"), "refused before decoding, exit 1", 1,
         "20000×20000 is 400.0 megapixels, over the limit"),
    Case("Radiance with a spaced resolution line (20000×20000)", ("matte", "{spaced.hdr}", "-o", "o28.png"),
         "refused before decoding, exit 1", 1, "20000×20000 is 400.0 megapixels, over the limit"),
    Case("JPEG 2000 boxed 64×64, codestream 20000×20000", ("matte", "{small-box.jp2}", "-o", "o29.png"),
         "refused before decoding, exit 1", 1, "20000×20000 is 400.0 megapixels, over the limit"),
    Case("progressive JPEG of 60,000 scans", ("matte", "{scans.jpg}", "-o", "o30.png"), "refused, exit 1", 1,
         "a JPEG of 60000 scans"),
    Case("video whose 4th frame is 11000×11000", ("matte", "{large-frame.mkv}", "-o", "o31.mp4"),
         "refused at that frame, exit 1", 1, "frame 3 is 11000×11000, 121 megapixels: over the limit of 110"),
    Case("phone clip held upright: stored sideways, rotation tag", ("matte", "{phone.mp4}", "-o", "o32", "--format",
                                                                    "rgba"),
         "matted upright, the person found as upright, exit 0", 0, "videos: done 1", measure=upright_person),
    Case("folder with a linked sub-folder and a link back up", ("matte", "{linked}", "-o", "o38"),
         "the link followed, the loop walked once, exit 0", 0, "done 2, skipped 0, failed 0"),
    Case("a killed run's hidden .tmp beside the output", ("matte", "{photo.png}", "-o", "{o39.png}"),
         "cleaned, exit 0", 0, "done 1", absent=("stale",)),
    Case("WebM cut at half", ("matte", "{truncated.webm}", "-o", "o37.mp4"), "matted, truncation said, exit 0", 0,
         "{truncated.webm}: truncated: its frames end at"),
    Case("rgba video into a folder over the user's 000000.png", ("matte", "{clip.mp4}", "-o", "{frames}",
                                                                  "--format", "rgba"),
         "kept, named, exit 1", 1, f"{{frames}}: {NOT_OURS}", kept=("frames",)),
    Case("video -o edits/ over the user's edits/clip.mp4", ("matte", "{clip.mp4}", "-o", "{edits}"),
         "kept, named, exit 1", 1, f"{{edits}}/clip.mp4: {NOT_OURS}", kept=("edits",)),
    Case("demo clip.mp4 -o clip.mp4", ("demo", "{clip.mp4}", "-o", "{clip.mp4}"), "refused, exit 1", 1,
         "is the input {clip.mp4}", kept=("clip.mp4",)),
]


def round2_cases(paths: dict[str, Path]) -> list[Case]:
    """The cases whose inputs are there (the video rows need PyAV)."""
    return [case for case in ROUND2 if fill(" ".join(case.args), paths).count("{") == 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="mmnet-abuse-") as folder, \
            tempfile.TemporaryDirectory(prefix="mmnet-abuse-large-") as large:
        work = Path(folder)
        inputs = make_inputs(work, Path(large))
        before = digest(inputs)
        p = {name: str(path) for name, path in inputs.items()}
        cases = [
            ("photo onto itself, --overwrite", ["matte", p["photo.png"], "-o", p["photo.png"], "--overwrite"],
             "refused, exit 1"),
            ("folder into itself, --overwrite", ["matte", folder, "-o", folder, "--overwrite"],
             "inputs refused, bad files named, exit 1"),
            ("PNG claiming 20000×20000 (1 MB)", ["matte", p["bomb.png"], "-o", "o1.png", "--format", "rgba"],
             "refused before decoding, exit 1"),
            ("Radiance .hdr claiming 16000×16000 (16 MB)", ["matte", p["bomb.hdr"], "-o", "o2.png"],
             "refused before decoding, exit 1"),
            ("24 MP JPEG (6000×4000), rgba", ["matte", p["large.jpg"], "-o", "o3.png", "--format", "rgba"],
             "matted, exit 0"),
            *((f"101.8 MP photo JPEG (11648×8736, {inputs['100mp.jpg'].stat().st_size / 1e6:.0f} MB), {label}",
               ["matte", p["100mp.jpg"], "-o", f"o100-{index}.png", "--format", *options], "matted, exit 0")
              for index, (label, options) in enumerate([("alpha", ["alpha"]), ("rgba", ["rgba"]),
                                                        ("composite, blur", ["composite", "--background", "blur"])])),
            ("truncated JPEG", ["matte", p["truncated.jpg"], "-o", "o4.png"], "named, exit 1"),
            ("text file named .jpg", ["matte", p["notes.jpg"], "-o", "o5.png"], "named, exit 1"),
            ("-o x.jpg --format rgba", ["matte", p["photo.png"], "-o", "x.jpg", "--format", "rgba"],
             "refused (JPEG has no alpha), exit 1"),
            ("train --size 250", ["train", "--dataset-path", "d", "--train-dir", "r", "--size", "250",
                                  "--max-steps", "1"], "usage error, exit 2"),
        ]
        if "damaged.mp4" in p:
            cases.append(("mp4 with 2 damaged packets", ["matte", p["damaged.mp4"], "-o", "o6.mp4"],
                          "warning with the frame count, exit 0"))
        for label, command, expected in cases:
            code, message, rss = cli(command, work)
            rows.append(("CLI", label, expected, f"exit {code}: {message}", rss, None))
        with tempfile.TemporaryDirectory(prefix="mmnet-abuse-2-") as second:
            paths = make_round2(Path(second))
            for case in round2_cases(paths):
                ok, got, rss = case.run(paths, Path(second))
                rows.append(("CLI", case.label, case.expected, got.replace(second + "/", ""), rss, ok))

        server = subprocess.Popen([*MMNET, "serve", "--api-only", "--port", str(args.port), "--workers", "2"],
                                  cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{args.port}/api/models", timeout=1)
                    break
                except urllib.error.HTTPError:
                    break
                except OSError:
                    time.sleep(0.2)
            requests = [
                ("idle server", None, {}, "-"),
                ("PNG claiming 20000×20000", "bomb.png", {}, "413"),
                ("Radiance .hdr claiming 16000×16000 (16 MB)", "bomb.hdr", {}, "413"),
                ("2 pixel bombs at once (the .hdr and the PNG)", ("bomb.hdr", "bomb.png"), {}, "413, 413"),
                ("truncated JPEG", "truncated.jpg", {}, "415"),
                ("text file", "notes.jpg", {}, "415"),
                ("25 MB body", b"\0" * (25 << 20), {}, "413"),
                ("1×1 photo", encode_png(np.zeros((1, 1, 3), np.uint8)), {}, "200"),
                ("1×20000 photo", encode_png(np.zeros((1, 20000, 3), np.uint8)), {}, "200"),
                *((f"{name}: the command line's row above", make(), {}, "415" if "scans" in name else "413")
                  for name, make in DECODER_BOMBS.items()),
                ("Host: evil.example (DNS rebinding)", "photo.png", {"Host": "evil.example"}, "421"),
                ("cross-origin form POST", "photo.png", {"Origin": "http://evil.example"}, "403"),
                ("24 MP JPEG", "large.jpg", {}, "200"),  # the photos last: the server keeps their freed memory
                (f"40.0 MP photo JPEG (7744×5164, {inputs['40mp.jpg'].stat().st_size / 1e6:.0f} MB): the limit",
                 "40mp.jpg", {}, "200"),
            ]
            for label, what, headers, expected in requests:
                if what is None:
                    rows.append(("server", label, expected, "-", rss_mb(server.pid), None))
                    continue
                if isinstance(what, tuple):  # posted at once
                    answers, rss = together(args.port, server.pid, [multipart("upload", inputs[name].read_bytes())
                                                                    for name in what])
                    rows.append(("server", label, expected, "; ".join(f"{status}: {text}" for status, text
                                                                      in answers), rss, None))
                    continue
                data = what if isinstance(what, bytes) else inputs[what].read_bytes()
                body, form = multipart("upload", data)
                status, text, rss = request(args.port, server.pid, body, {**form, **headers})
                rows.append(("server", label, expected, f"{status}: {text}", rss, None))
            rows.append(("server", "1,100 connections sending half their headers, then nothing",
                         "dropped after 10 s, the server answers", *half_sent(args.port, server.pid, 1100)))
            rows.append(("server", "200 concurrent 19.5 MB uploads (the 24 MP JPEG, padded)",
                         "200 or 503 (Retry-After) each, under 1.5 GB",
                         *concurrent_uploads(args.port, server.pid, inputs["large.jpg"].read_bytes(), 200)))
        finally:
            server.terminate()
            server.wait(timeout=20)
        said = len(server.stderr.read())
        changed = [name for name, value in digest(inputs).items() if before[name] != value]
    print("| where | input | expected | got | peak memory | verdict |")
    print("|---|---|---|---|---|---|")
    for where, label, expected, got, rss, ok in rows:
        ok = as_expected(expected, got) if ok is None else ok
        verdict = "-" if ok is None else "ok" if ok else "BAD"
        got = got.replace(folder + "/", "").replace(large + "/", "").replace("|", "/")
        print(f"| {where} | {label} | {expected} | {got} | {rss:.0f} MB | {verdict} |")
    print(f"\ninput files modified: {', '.join(changed) if changed else 'none'}; the server's stderr: {said} bytes")


if __name__ == "__main__":
    main()
