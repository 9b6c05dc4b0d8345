"""`mmnet demo VIDEO -o demo.mp4`: the original's phone demo made from any clip: the input, the matte and the
composite side by side, with the frame rate drawn on it.

Frames are matted one after another as a live camera feed would be (network input, network, temporal
smoothing, full-size matte, composite), and the rate drawn is that of this whole loop on this machine,
averaged over the last second of frames, with the network's own time beside it. Reading and writing reuse
`mmnet.runtime.videoio` and `videowriters` (audio and timestamps kept).
"""
from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from mmnet.data.io import MAX_PIXELS
from mmnet.files import refuse_existing, refuse_input
from mmnet.runtime.model import load
from mmnet.runtime.render import render_options
from mmnet.runtime.smoothing import SMOOTH_DEFAULT, Smoother
from mmnet.runtime.sources import UsageError
from mmnet.runtime.stats import Stats
from mmnet.runtime.videoio import Reader, VideoError, import_av
from mmnet.runtime.videowriters import VideoWriter

MAX_HEIGHT = 720  # default panel height: the clip's, at most this
LABELS = ("input", "matte", "composite")
WINDOW = 30  # frames averaged for the rate drawn
WHITE, BLACK = (255, 255, 255), (0, 0, 0)


class _Framed:
    """The reader as `VideoWriter` sees it, with the demo's frame size (three panels wide)."""

    def __init__(self, reader: Reader, width: int, height: int) -> None:
        self._reader, self.width, self.height = reader, width, height

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)


def panel_size(width: int, height: int, panel_height: int | None) -> tuple[int, int]:
    """(width, height) of one panel: the clip scaled to `panel_height` (default: its own, at most
    MAX_HEIGHT), both even as H.264 wants them."""
    target = panel_height or min(height, MAX_HEIGHT)
    if target < 16:
        raise UsageError(f"--height must be at least 16, got {target}")
    even = lambda value: max(2, 2 * round(value / 2))  # noqa: E731
    return even(width * target / height), even(target)


def make_demo(video: str | Path, output: str | Path, *, model: str | None = None, background: str = "blur",
              height: int | None = None, threads: int | None = None, smooth: float | None = None,
              progress: bool = True, overwrite: bool = False) -> Stats:
    """Write the side-by-side demo of `video` to `output` (atomically; an existing file only if `overwrite`);
    its frames and seconds."""
    av = import_av("mmnet demo")
    strength = SMOOTH_DEFAULT if smooth is None else smooth
    if not 0 <= strength < 1:
        raise UsageError(f"--smooth must be in [0, 1), got {strength}")
    source, target = Path(video), Path(output)
    refuse_input(target, [source, *(Path(path) for path in (background, model) if path and Path(path).is_file())])
    refuse_existing(target, overwrite)
    render = render_options("composite", background, 0.5, None)
    matting = load(model, threads=threads)
    reader = Reader(av, source, MAX_PIXELS)
    width, panel_height = panel_size(reader.width, reader.height, height)
    try:
        writer = VideoWriter(av, target, _Framed(reader, 3 * width, panel_height), "composite")
    except BaseException:
        reader.close()
        raise
    stats, smoother = Stats(), Smoother(strength)
    loops: deque[float] = deque(maxlen=WINDOW)
    networks: deque[float] = deque(maxlen=WINDOW)
    start = time.perf_counter()
    try:
        with tqdm(total=reader.frames, unit="frame", desc=source.name, disable=not progress, leave=False) as bar:
            for pts, rgb in reader.decode(stats):
                since = time.perf_counter()
                frame = rgb if rgb.shape[:2] == (panel_height, width) else cv2.resize(
                    rgb, (width, panel_height), interpolation=cv2.INTER_AREA)
                small = matting.network_input(frame)
                network = time.perf_counter()
                alpha = matting.infer(small[None])[0]
                networks.append(time.perf_counter() - network)
                full = matting.to_full(smoother(alpha, small), frame, small)
                composite = render(frame, full)
                loops.append(time.perf_counter() - since)
                stats.add("matte", since)
                matte = np.repeat((np.clip(full, 0, 1) * 255 + 0.5).astype(np.uint8)[..., None], 3, axis=2)
                caption = (f"{len(loops) / sum(loops):.0f} fps   network {1000 * sum(networks) / len(networks):.1f} ms"
                           f"   {matting.path.stem}")
                since = time.perf_counter()
                writer.write(pts, draw(np.hstack([frame, matte, composite]), width, caption))
                stats.add("encode", since)
                bar.update(1)
        writer.flush()
        reader.close()
        stats.frames = writer.commit()
    except BaseException as error:
        reader.close()
        writer.discard()
        if isinstance(error, (av.FFmpegError, OSError)):
            raise VideoError(target, f"cannot write ({str(error).strip() or type(error).__name__})") from None
        raise
    stats.seconds = time.perf_counter() - start
    return stats


def draw(canvas: np.ndarray, width: int, caption: str) -> np.ndarray:
    """The panels' labels at their top left and `caption` at the bottom left, white on a dark outline."""
    height = canvas.shape[0]
    scale = max(0.4, height / 720)
    for index, label in enumerate(LABELS):
        _text(canvas, label, (index * width + round(12 * scale), round(36 * scale)), scale)
    _text(canvas, caption, (round(12 * scale), height - round(16 * scale)), scale * 0.9)
    return canvas


def _text(canvas: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    thickness = max(1, round(2 * scale))
    for colour, extra in ((BLACK, 2 * thickness), (WHITE, 0)):
        cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness + extra, cv2.LINE_AA)
