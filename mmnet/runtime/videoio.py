"""Reading video files through PyAV (FFmpeg): which INPUTs are videos, a `Reader` of a clip's frames (RGB,
upright) and timestamps, and the errors of both directions (`mmnet.runtime.videowriters` writes them).

PyAV is imported only when a video is processed: `pip install 'mmnet[video]'`.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.data.io import IMAGE_SUFFIXES
from mmnet.errors import MmnetError
from mmnet.runtime.sources import STDIN, UsageError
from mmnet.runtime.stats import Stats

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
FALLBACK_RATE = Fraction(25)  # frames/s for a stream that states none
NOT_IMAGE_DEMUXERS = ("image2", "tty")  # FFmpeg demuxers that open stills or text, not video


class VideoError(MmnetError, ValueError):
    """A video that cannot be read or written; the message is "{path}: {problem}"."""
    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = str(path), problem


def import_av(reason: str = "matting video") -> Any:
    """The `av` module, or a UsageError saying how to install it."""
    try:
        import av
    except ImportError:
        raise UsageError(f"{reason} needs PyAV: pip install 'mmnet[video]' (or pip install av)") from None
    return av


def is_video(argument: str) -> bool:
    """A video INPUT: by its extension, or, for a file with neither a video nor an image extension, by
    asking FFmpeg (when PyAV is installed) whether it holds a video stream."""
    path = Path(argument)
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return True
    if argument == STDIN or suffix in IMAGE_SUFFIXES or not path.is_file():
        return False
    try:
        import av
    except ImportError:
        return False
    try:
        with av.open(argument) as container:
            name = container.format.name
            return bool(container.streams.video) and not name.endswith("_pipe") and name not in NOT_IMAGE_DEMUXERS
    except Exception:  # FFmpeg's errors for anything it cannot open
        return False


def error_reason(error: BaseException) -> str:
    """An FFmpeg or OS error in a few words."""
    if isinstance(error, (FileExistsError, NotADirectoryError)):
        return f"a file stands where a folder should be: {error.filename}"
    if getattr(error, "strerror", None):
        return error.strerror
    return str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__


def quarter_turns(av: Any, path: Path) -> int:
    """Counter-clockwise quarter turns (0-3) that put the first video stream's frames upright: its display
    matrix (the rotation tag of a phone's video), read from the first frame; 0 where there is none."""
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                return round((frame.rotation or 0) / 90) % 4
    except (av.FFmpegError, OSError, ValueError):  # damaged at its start: taken as upright
        pass
    return 0


class Reader:
    """An input video's first video stream, decoded to upright RGB frames (a rotation tag applied), and its
    first audio stream."""

    def __init__(self, av: Any, path: Path, max_pixels: int | None = None) -> None:
        """max_pixels: the largest frame decoded (None: any), the stream's and every frame's own size."""
        if not path.exists():
            raise VideoError(path, "file does not exist")
        if path.is_dir():
            raise VideoError(path, "is a directory, not a video file")
        self.av, self.path = av, path
        try:
            self.container = av.open(str(path))
        except (av.FFmpegError, OSError) as error:
            raise VideoError(path, f"not a video FFmpeg can read ({error_reason(error)})") from None
        if not self.container.streams.video:
            self.container.close()
            raise VideoError(path, "has no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.rate: Fraction = self.stream.average_rate or self.stream.guessed_rate or FALLBACK_RATE
        self.time_base: Fraction = self.stream.time_base or 1 / self.rate
        self.width, self.height = self.stream.codec_context.width, self.stream.codec_context.height
        seconds = self.container.duration / 1e6 if self.container.duration else None  # for the progress bar
        self.seconds = seconds  # what the container says the clip lasts
        self.counted = self.stream.frames or 0  # the container's own count, where it has one (read now: not after
        # the container is closed, when PyAV's stream reads freed memory)
        self.frames: int | None = self.counted or (round(seconds * self.rate) if seconds else None)
        self.audio = self.container.streams.audio[0] if self.container.streams.audio else None
        if not self.width or not self.height:
            self.close()
            raise VideoError(path, "its video stream has no frame size")
        self.max_pixels = max_pixels
        try:
            self.check_size(self.width, self.height, "its frames are")
        except VideoError:
            self.close()
            raise
        self.turns = quarter_turns(av, path)  # a phone's rotation tag: frames are handed out upright
        if self.turns % 2:
            self.width, self.height = self.height, self.width
        self.decoded = 0  # frames decoded
        self.last_pts: int | None = None  # the last frame's timestamp
        self.undecodable = 0  # packets the decoder refused as damaged data (their frames are left out)
        self.corrupt = 0  # frames the decoder flagged as damaged (decoded with concealment)

    def decode(self, stats: Stats) -> Iterator[tuple[int, np.ndarray]]:
        """(pts in `time_base`, uint8 H×W×3 RGB) of each frame, timestamps made strictly increasing.

        Damaged data in the middle does not stop the clip: a packet that the decoder refuses is counted in
        `undecodable` and left out (the decoder picks up again at the next frame it can use), a frame decoded
        with errors is counted in `corrupt`; `damage()` says what was affected. A clip of which not one frame
        can be decoded raises VideoError."""
        last = None
        packets = self.container.demux(self.stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except (self.av.FFmpegError, OSError) as error:
                raise VideoError(self.path, f"cannot read past frame {self.decoded} ({error_reason(error)})") from None
            since = time.perf_counter()
            try:
                frames = packet.decode()
            except self.av.InvalidDataError:  # damaged data: this frame is lost
                self.undecodable += 1
                continue
            except (self.av.FFmpegError, OSError) as error:
                raise VideoError(self.path, f"cannot decode frame {self.decoded} ({error_reason(error)})") from None
            stats.add("decode", since)
            for frame in frames:
                self.check_size(frame.width, frame.height, f"frame {self.decoded} is")  # before it is converted
                since = time.perf_counter()
                rgb = frame.to_ndarray(format="rgb24")
                if self.turns:
                    rgb = np.ascontiguousarray(np.rot90(rgb, self.turns))
                self.corrupt += bool(frame.is_corrupt)
                stats.add("decode", since)
                index = self.decoded
                pts = frame.pts if frame.pts is not None else round(index / self.rate / self.time_base)
                pts = pts if last is None or pts > last else last + 1
                last, self.decoded = pts, index + 1
                self.last_pts = last
                yield pts, rgb
        if not self.decoded:
            raise VideoError(self.path, "not one frame could be decoded" + (
                f" (damaged video data: {self.undecodable} packets refused)" if self.undecodable else ""))

    def check_size(self, width: int, height: int, what: str) -> None:
        """VideoError where `what` ("its frames are", "frame 3 is") is more than `max_pixels` pixels."""
        if self.max_pixels is not None and width * height > self.max_pixels:
            raise VideoError(self.path, f"{what} {width}×{height}, {width * height / 1e6:.3g} megapixels: over the "
                                        f"limit of {self.max_pixels / 1e6:g} (--max-pixels lifts it)")

    def damage(self) -> str | None:
        """What damaged data cost, in frames ("3 of 120 frames could not be decoded ..."), or where a clip with no
        frame count ends well before the duration its container states (a truncated file), or None."""
        expected = self.counted
        lost = max(self.undecodable, expected - self.decoded)
        if not lost and not self.corrupt:
            return self._truncated()
        total = f" of {max(expected, self.decoded + lost)}" if expected else ""
        parts = []
        if lost:
            parts.append(f"{lost}{total} frames could not be decoded (left out of the output)")
        if self.corrupt:
            parts.append(f"{self.corrupt}{total if not lost else ''} frames were decoded with errors (concealed)")
        return "damaged video data: " + " and ".join(parts)

    def _truncated(self) -> str | None:
        """Where a clip's frames end short of its container's duration: by more than two frames and a tenth."""
        if self.counted or not self.seconds or self.last_pts is None:
            return None
        ends = float(self.last_pts * self.time_base + 1 / self.rate)  # the end of its last frame
        if ends >= 0.9 * self.seconds or self.seconds - ends <= 2 / self.rate:
            return None
        return f"truncated: its frames end at {ends:.2f} s of the {self.seconds:.2f} s its container states"

    def close(self) -> None:
        self.container.close()
