"""Bad inputs and abuse against the command line and a real `mmnet serve` process: what each should get, what
it got, the peak memory, and whether any input file changed. Prints a Markdown table (about 1-2 minutes).

    python benchmarks/abuse.py [--port 8765]

Bombs are a few bytes that claim a huge size in their header (nothing that large is ever decoded). The inputs
at the limits are real photo-like JPEGs (examples/astronaut.jpg upscaled, with noise so that they do not compress
trivially), written to a temporary folder: 24 MP; 101.8 MP (11648×8736), just under the command line's default
--max-pixels of 110 MP; 40.0 MP (7744×5164), at the server's default --max-pixels of 40 MP. Command-line peak
memory: /usr/bin/time -v's maximum resident set size of the whole process; server: its resident set size polled
every 5 ms during the request (peak, minus nothing).
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
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


def cli(args: list[str], cwd: Path) -> tuple[int, str, float]:
    """(exit code, last line of stderr, peak RSS in MB) of `mmnet ARGS`."""
    result = subprocess.run(["/usr/bin/time", "-v", *MMNET, *args], capture_output=True, text=True, cwd=cwd,
                            timeout=300)
    lines = result.stderr.splitlines()
    rss = next(int(line.split(":")[1]) for line in lines if "Maximum resident set size" in line) / 1024
    said = [line for line in lines if line and not line.startswith("\t") and "Command being timed" not in line
            and "%|" not in line]
    message = next((line for line in said if "error" in line or "warning" in line or "refus" in line or
                    "is the input" in line or "--max-pixels" in line or "not a readable" in line
                    or "truncated" in line), said[-1] if said else "")
    return result.returncode, message.strip(), rss


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


def multipart(name: str, data: bytes) -> tuple[bytes, dict[str, str]]:
    boundary = "mmnetabuse"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


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
            rows.append(("CLI", label, expected, f"exit {code}: {message}", rss))

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
                ("Host: evil.example (DNS rebinding)", "photo.png", {"Host": "evil.example"}, "421"),
                ("cross-origin form POST", "photo.png", {"Origin": "http://evil.example"}, "403"),
                ("24 MP JPEG", "large.jpg", {}, "200"),  # the photos last: the server keeps their freed memory
                (f"40.0 MP photo JPEG (7744×5164, {inputs['40mp.jpg'].stat().st_size / 1e6:.0f} MB): the limit",
                 "40mp.jpg", {}, "200"),
            ]
            for label, what, headers, expected in requests:
                if what is None:
                    rows.append(("server", label, expected, "-", rss_mb(server.pid)))
                    continue
                if isinstance(what, tuple):  # posted at once
                    answers, rss = together(args.port, server.pid, [multipart("upload", inputs[name].read_bytes())
                                                                    for name in what])
                    rows.append(("server", label, expected, "; ".join(f"{status}: {text}" for status, text
                                                                      in answers), rss))
                    continue
                data = what if isinstance(what, bytes) else inputs[what].read_bytes()
                body, form = multipart("upload", data)
                status, text, rss = request(args.port, server.pid, body, {**form, **headers})
                rows.append(("server", label, expected, f"{status}: {text}", rss))
        finally:
            server.terminate()
            server.wait(timeout=20)
        changed = [name for name, value in digest(inputs).items() if before[name] != value]
    print("| where | input | expected | got | peak memory |")
    print("|---|---|---|---|---|")
    for where, label, expected, got, rss in rows:
        got = got.replace(folder + "/", "").replace(large + "/", "").replace("|", "/")
        print(f"| {where} | {label} | {expected} | {got} | {rss:.0f} MB |")
    print(f"\ninput files modified: {', '.join(changed) if changed else 'none'}")


if __name__ == "__main__":
    main()
