"""Drive the real thing: `mmnet serve` in a child process on a free port, and the page in headless Chromium
(Debian's `chromium`, driven by Playwright's Python package) with a fake camera playing a clip made from a
photo. Shared by the serve tests and benchmarks/browser_fps.py and serve_load.py; nothing here runs inside
the server.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# No sandbox (root in a container), a fake camera allowed without asking, and none of Chromium's own
# traffic to Google's hosts (this machine has no network beyond the package registries).
CHROMIUM_FLAGS = ("--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-quic", "--no-first-run", "--disable-gpu")
START_SECONDS = 60


def chromium() -> str | None:
    """The Chromium executable: $MMNET_CHROMIUM, else Debian's, else None."""
    candidates = [os.environ.get("MMNET_CHROMIUM", ""), *CHROMIUM_PATHS, shutil.which("chromium") or ""]
    return next((path for path in candidates if path and Path(path).is_file()), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_server(*arguments: str, timeout: float = START_SECONDS) -> Iterator[str]:
    """`mmnet serve --port <free> ARGUMENTS` in a child process until the block ends; its base URL, once
    `/api/models` answers. Its output goes to a log file, shown in the error if it does not start."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"mmnet-serve-{port}.log"
    with open(log_file, "w+b") as log:
        process = subprocess.Popen([sys.executable, "-m", "mmnet.cli", "serve", "--port", str(port), *arguments],
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"mmnet serve did not start (exit code {process.poll()}):\n"
                                       f"{log.read().decode(errors='replace')}")
                try:
                    if httpx.get(f"{url}/api/models", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    log_file.unlink(missing_ok=True)


def camera_clip(path: Path, photo: np.ndarray, *, frames: int = 60, width: int = 480, height: int = 640,
                rate: int = 30) -> Path:
    """A Y4M clip (what Chromium's fake camera plays) of `photo` (uint8 RGB) filmed by a camera that pans and
    zooms slowly across it, so that consecutive frames differ as a webcam's do; portrait, as a phone's
    front camera by default."""
    cover = max(width / photo.shape[1], height / photo.shape[0])
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{rate}:1 Ip A1:1 C420jpeg\n".encode())
        for index in range(frames):
            phase = 2 * np.pi * index / frames
            scale = cover * (1.05 + 0.05 * np.sin(phase))
            shift_x = (width - photo.shape[1] * scale) / 2 + 0.04 * width * np.sin(phase)
            shift_y = (height - photo.shape[0] * scale) / 2 + 0.02 * height * np.cos(phase)
            warp = np.float32([[scale, 0, shift_x], [0, scale, shift_y]])
            frame = cv2.warpAffine(photo, warp, (width, height), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT)
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


@contextlib.contextmanager
def browser_page(clip: Path, *, width: int = 1000, height: int = 800) -> Iterator[Any]:
    """A Playwright page in headless Chromium whose camera plays `clip` (see `camera_clip`)."""
    from playwright.sync_api import sync_playwright

    executable = chromium()
    if executable is None:
        raise FileNotFoundError(f"no Chromium at {', '.join(CHROMIUM_PATHS)} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-video-capture={clip}"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def wait_for_frames(page: Any, frames: int, timeout: float = 120) -> dict:
    """Wait until the page has matted `frames` frames (or reports an error); its `window.mmnetStats`."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(f"() => window.mmnetStats && (window.mmnetStats.error || "
                               f"window.mmnetStats.frames >= {frames})", timeout=timeout * 1000, polling=200)
    except PlaywrightTimeout:
        stats = page.evaluate("() => window.mmnetStats")
        raise TimeoutError(f"the page matted {stats and stats.get('frames')} of {frames} frames in {timeout} s; "
                           f"it says: {stats and stats.get('status')}") from None
    stats = page.evaluate("() => window.mmnetStats")
    if stats.get("error"):
        raise RuntimeError(f"the page reports an error: {stats['error']}")
    return stats
