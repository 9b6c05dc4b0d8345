"""Video in `mmnet matte`: a clip to a composite or alpha-matte video, a PNG sequence with alpha, or a
video with an alpha channel (VP9 in `.webm`/`.mkv`, ProRes 4444 in `.mov`), keeping the input's frame
timestamps (so its frame rate and time base), its frame count and its audio.

Decoding, inference and encoding overlap: a thread decodes frames and squash-resizes them for the
network (`Matting.network_input`); the calling thread runs the network on batches (`Matting.infer`) and
the temporal smoothing (`Smoother`, which needs the frames in order); a small pool brings the mattes back
to full size (`Matting.to_full`) and renders them; a thread encodes and muxes them in order. The queues
between the stages are bounded, so memory stays flat however long the clip.

PyAV (FFmpeg) is imported only when a video is processed: `pip install 'mmnet[video]'`.
"""
from __future__ import annotations

import os
import queue
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from tqdm import tqdm

from mmnet.data.dataset import IMAGE_SUFFIXES
from mmnet.data.io import encode_png
from mmnet.files import temporary_name
from mmnet.runtime.sources import STDIN, UsageError

if TYPE_CHECKING:
    from mmnet.runtime.batch import Render
    from mmnet.runtime.model import Matting

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
BATCH = 8  # frames per session run
QUEUE = 2 * BATCH  # frames waiting between two stages
SMOOTH_DEFAULT = 0.8  # `Smoother` strength; from benchmarks/video_speed.py --flicker
MOTION = 0.25  # an alpha change per frame at which smoothing stops (see `Smoother`)
IMAGE_MOTION = 0.05  # a change of the network's input per frame (colours in [0, 1]) at which it stops
FALLBACK_RATE = Fraction(25)  # frames/s for a stream that states none
SEQUENCE_NAME = "{:06d}.png"
NOT_IMAGE_DEMUXERS = ("image2", "tty")  # FFmpeg demuxers that open stills or text, not video

# (encoder, pixel format, encoder options)
H264 = ("libx264", "yuv420p", {"crf": "18", "preset": "veryfast"})
VP9_OPTIONS = {"crf": "30", "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"}
VP9 = ("libvpx-vp9", "yuv420p", VP9_OPTIONS)
VP9_ALPHA = ("libvpx-vp9", "yuva420p", VP9_OPTIONS)
PRORES_4444 = ("prores_ks", "yuva444p10le", {"profile": "4444"})
BT709 = 1  # the AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic code the outputs are tagged with
MPEG_RANGE = 1  # AVCOL_RANGE_MPEG: limited range, as players expect


@dataclass(frozen=True)
class Container:
    """How to write one kind of video file."""

    muxer: str  # FFmpeg's format name
    video: tuple[str, str, dict]  # for --format alpha, mask, composite
    alpha: tuple[str, str, dict] | None  # for --format rgba; None: this container takes no alpha channel
    audio_copy: tuple[str, ...] | None  # audio codecs muxed as they are (None: any)
    audio_encoder: str  # other audio is re-encoded with this
    options: tuple[tuple[str, str], ...] = ()  # muxer options


MP4_AUDIO = ("aac", "mp3", "alac", "ac3", "eac3")
FASTSTART = (("movflags", "+faststart"),)  # the index first: playable while downloading
CONTAINERS = {
    ".mp4": Container("mp4", H264, None, MP4_AUDIO, "aac", FASTSTART),
    ".m4v": Container("mp4", H264, None, MP4_AUDIO, "aac", FASTSTART),
    ".mov": Container("mov", H264, PRORES_4444, MP4_AUDIO + ("pcm_s16le", "pcm_s24le", "pcm_f32le"), "aac",
                      FASTSTART),
    ".mkv": Container("matroska", H264, VP9_ALPHA, None, "aac"),
    ".webm": Container("webm", VP9, VP9_ALPHA, ("opus", "vorbis"), "libopus"),
}
AUDIO_RATES = {"libopus": 48000}  # encoders that take only some sample rates


class VideoError(ValueError):
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


# ------------------------------------------------------------------------------------ the command line
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


def split_inputs(inputs: list[str]) -> tuple[list[str], list[str]]:
    """(video INPUTs, the others) in the order given."""
    videos = [argument for argument in inputs if is_video(argument)]
    return videos, [argument for argument in inputs if argument not in videos]


@dataclass(frozen=True)
class VideoJob:
    """One video: `target` is a video file, or a folder for a PNG sequence."""

    source: Path
    target: Path
    sequence: bool

    def done_before(self) -> bool:
        return (self.target / SEQUENCE_NAME.format(0)).is_file() if self.sequence else self.target.exists()


def plan_videos(videos: list[str], output: str | None, format: str, several: bool
                ) -> tuple[list[VideoJob], list[str]]:
    """Jobs for the video INPUTs, and "INPUT: problem" for those that cannot be done.

    `-o NAME.mp4|.m4v|.mov|.mkv|.webm` takes one INPUT. `-o FOLDER` takes any number: a video goes to
    FOLDER/<stem>.mp4, or with --format rgba to a PNG sequence FOLDER/000000.png... (one INPUT) or
    FOLDER/<stem>/000000.png... (several), without the audio. `several`: other INPUTs (photos) share
    the output."""
    if output is None:
        raise UsageError("give the output with -o OUT.mp4 (or .webm, .mov, .mkv), or a folder")
    out = Path(output)
    suffix = out.suffix.lower()
    if suffix in CONTAINERS:
        if several or len(videos) > 1:
            raise UsageError(f"-o {out}: a video file takes one INPUT; give a folder for several")
        if format == "rgba" and CONTAINERS[suffix].alpha is None:
            raise UsageError(f"-o {out}: {suffix} video has no alpha channel; for --format rgba write .webm "
                             f"(VP9), .mov (ProRes 4444), .mkv, or a folder for PNGs")
        return [VideoJob(Path(videos[0]), out, False)], []
    if suffix in VIDEO_SUFFIXES or suffix in IMAGE_SUFFIXES:
        raise UsageError(f"-o {out}: videos are written as {', '.join(CONTAINERS)} or into a folder")
    if out.is_file():
        raise UsageError(f"{out}: -o names an existing file; give a folder or a video file name")
    sequence = format == "rgba"
    jobs, problems, claimed = [], [], {}
    for video in videos:
        source = Path(video)
        if sequence:
            target = out if len(videos) == 1 and not several else out / source.stem
        else:
            target = out / f"{source.stem}.mp4"
        if claimed.get(target, source) != source:
            problems.append(f"{source}: its output {target} is already the output of {claimed[target]}")
            continue
        if target not in claimed:
            claimed[target] = source
            jobs.append(VideoJob(source, target, sequence))
    return jobs, problems


def matte_videos(videos: list[str], output: str | None, render: Render, *, model: str | None = None,
                 size: int | None = None, threads: int | None = None, overwrite: bool = False,
                 smooth: float | None = None, several: bool = False) -> int:
    """The video part of `mmnet matte`: each video to its output, the failures named at the end;
    the exit code, 0 when every video was done or skipped, else 1."""
    from mmnet.runtime.model import load

    import_av()
    strength = SMOOTH_DEFAULT if smooth is None else smooth
    if not 0 <= strength < 1:
        raise UsageError(f"--smooth must be in [0, 1), got {strength}")
    jobs, failures = plan_videos(videos, output, render.format, several)
    matting = load(model, threads=threads, size=size)
    done = skipped = frames = 0
    start = time.perf_counter()
    for job in jobs:
        if job.done_before() and not overwrite:
            skipped += 1
            continue
        try:
            frames += matte_video(matting, job.source, job.target, render, smooth=strength,
                                  sequence=job.sequence).frames
            done += 1
        except VideoError as error:
            failures.append(str(error))
    seconds = time.perf_counter() - start
    print(f"videos: done {done}, skipped {skipped}, failed {len(failures)} in {seconds:.1f} s "
          f"({frames} frames, {frames / seconds if seconds > 0 else 0:.1f} frames/s)", file=sys.stderr)
    if failures:
        print(f"failed ({len(failures)}):\n  " + "\n  ".join(failures), file=sys.stderr)
    return 1 if failures else 0


# ------------------------------------------------------------------------------------------ smoothing
class Smoother:
    """Temporal smoothing of the network's S×S alpha, frame after frame: an exponential moving average
    s_t = k·s_{t−1} + (1 − k)·α_t whose weight on the past k is `strength` where the pixel holds still
    and 0 where it moves, so that still edges stop shimmering while a moving person is followed at once
    instead of trailing a ghost. A pixel holds still as far as either its alpha changed by less than
    `motion` since s_{t−1}, or the network's input (the S×S frame, if given) changed by less than
    `image_motion` there (mean over colours, 3×3 box): a flicker of the alpha over a still picture is
    smoothed however large, a real move changes both and is followed."""

    def __init__(self, strength: float = SMOOTH_DEFAULT, motion: float = MOTION,
                 image_motion: float = IMAGE_MOTION) -> None:
        self.strength, self.motion, self.image_motion = strength, motion, image_motion
        self.state: np.ndarray | None = None
        self.image: np.ndarray | None = None

    def __call__(self, alpha: np.ndarray, image: np.ndarray | None = None) -> np.ndarray:
        """The smoothed S×S alpha; `image`: the 3×S×S network input it came from."""
        previous, self.image = self.image, image
        if self.strength <= 0 or self.state is None or self.state.shape != alpha.shape:
            self.state = alpha
            return alpha
        still = np.clip(1 - np.abs(alpha - self.state) / self.motion, 0.0, 1.0)
        if image is not None and previous is not None and self.image_motion > 0:
            change = cv2.blur(np.abs(image - previous).mean(axis=0), (3, 3))
            still = np.maximum(still, np.clip(1 - change / self.image_motion, 0.0, 1.0))
        self.state = alpha + self.strength * still * (self.state - alpha)
        return self.state


# ----------------------------------------------------------------------------------------- one video
@dataclass
class Stats:
    """One video's run: frames written, seconds, and the seconds spent in each stage (summed over threads)."""

    frames: int = 0
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, stage: str, since: float) -> float:
        """Add the time since `since` to `stage`; the time now."""
        now = time.perf_counter()
        with self._lock:
            self.stages[stage] = self.stages.get(stage, 0.0) + now - since
        return now


class _Stopped(Exception):
    """Another stage failed or the run was interrupted."""


_END = object()


def matte_video(matting: Matting, source: str | Path, target: str | Path, render: Render, *,
                smooth: float = SMOOTH_DEFAULT, sequence: bool | None = None, workers: int | None = None,
                progress: bool = True) -> Stats:
    """Matte one video into `target` (a video file, or a folder of PNGs when `sequence`; by default a
    folder when `target` has no video extension) with `render` (a `mmnet.runtime.batch.Render`).
    Written atomically; raises VideoError naming the file that failed."""
    av = import_av()
    source, target = Path(source), Path(target)
    sequence = target.suffix.lower() not in CONTAINERS if sequence is None else sequence
    reader = Reader(av, source)
    try:
        writer = SequenceWriter(target) if sequence else VideoWriter(av, target, reader, render.format)
    except BaseException:
        reader.close()
        raise
    stats, stop = Stats(), threading.Event()
    frames: queue.Queue = queue.Queue(QUEUE)
    results: queue.Queue = queue.Queue(QUEUE)
    smoother = Smoother(smooth)
    start = time.perf_counter()
    with ThreadPoolExecutor(workers or min(4, os.cpu_count() or 1)) as pool, \
            tqdm(total=reader.frames, unit="frame", desc=source.name, disable=not progress, leave=False,
                 dynamic_ncols=True) as bar:
        decoder = _Stage(stop, _decode, reader, matting, frames, stop, stats)
        encoder = _Stage(stop, _encode, writer, results, stop, stats, bar)
        failure: BaseException | None = None
        try:
            _infer(matting, render, smoother, pool, frames, results, stop, stats)
        except _Stopped:
            pass
        except BaseException as error:  # KeyboardInterrupt too: stop the other stages, clean up
            failure = error
            stop.set()
        decoder.join()
        encoder.join()
        reader.close()
        failure = failure or decoder.error or encoder.error
        if failure is None:
            try:
                stats.frames = writer.commit()
            except BaseException as error:
                failure = error
        if failure is not None:
            writer.discard()
            if isinstance(failure, (av.FFmpegError, OSError)):
                raise VideoError(target, f"cannot write ({_reason(failure)})") from None
            raise failure
    stats.seconds = time.perf_counter() - start
    return stats


class _Stage(threading.Thread):
    """Runs a stage in a thread; its exception is kept, and stops the others."""

    def __init__(self, stop: threading.Event, target: Any, *args: Any) -> None:
        super().__init__(daemon=True)
        self.stop, self.work, self.args = stop, target, args
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.work(*self.args)
        except _Stopped:
            pass
        except BaseException as error:
            self.error = error
            self.stop.set()


def _put(channel: queue.Queue, item: object, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            channel.put(item, timeout=0.1)
            return
        except queue.Full:
            pass
    raise _Stopped


def _get(channel: queue.Queue, stop: threading.Event) -> Any:
    while not stop.is_set():
        try:
            return channel.get(timeout=0.1)
        except queue.Empty:
            pass
    raise _Stopped


def _decode(reader: Reader, matting: Matting, frames: queue.Queue, stop: threading.Event, stats: Stats) -> None:
    """Decode thread: (pts, RGB frame, network input) in order, then _END."""
    for pts, rgb in reader.decode(stats):
        since = time.perf_counter()
        small = matting.network_input(rgb)
        stats.add("network input", since)
        _put(frames, (pts, rgb, small), stop)
    _put(frames, _END, stop)


def _infer(matting: Matting, render: Render, smoother: Smoother, pool: ThreadPoolExecutor, frames: queue.Queue,
           results: queue.Queue, stop: threading.Event, stats: Stats) -> None:
    """The calling thread: the network on batches, smoothing in order, full size and render in the pool."""
    def finish(rgb: np.ndarray, small: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        since = time.perf_counter()
        full = matting.to_full(alpha, rgb, small, render.refine)
        since = stats.add("to full size", since)
        pixels = render(rgb, full)
        stats.add("render", since)
        return pixels

    ended = False
    while not ended:
        batch = []
        while len(batch) < BATCH:
            item = _get(frames, stop)
            if item is _END:
                ended = True
                break
            batch.append(item)
        if not batch:
            break
        since = time.perf_counter()
        alphas = matting.infer(np.stack([small for _, _, small in batch]))
        since = stats.add("network", since)
        smoothed = [smoother(alpha, small) for (_, _, small), alpha in zip(batch, alphas)]
        stats.add("smooth", since)
        for (pts, rgb, small), alpha in zip(batch, smoothed):
            _put(results, (pts, pool.submit(finish, rgb, small, alpha)), stop)
    _put(results, _END, stop)


def _encode(writer: VideoWriter | SequenceWriter, results: queue.Queue, stop: threading.Event, stats: Stats,
            bar: tqdm) -> None:
    """Encode thread: the rendered frames in order into the writer, then its encoder flushed."""
    while (item := _get(results, stop)) is not _END:
        pts, future = item
        pixels = future.result()
        since = time.perf_counter()
        writer.write(pts, pixels)
        stats.add("encode", since)
        bar.update(1)
    since = time.perf_counter()
    writer.flush()
    stats.add("encode", since)


# ---------------------------------------------------------------------------------- reading and writing
def _reason(error: BaseException) -> str:
    """An FFmpeg or OS error in a few words."""
    if isinstance(error, (FileExistsError, NotADirectoryError)):
        return f"a file stands where a folder should be: {error.filename}"
    if getattr(error, "strerror", None):
        return error.strerror
    return str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:  # its folder is not there or not a folder: nothing to remove
        pass


class Reader:
    """An input video's first video stream, decoded to RGB frames, and its first audio stream."""

    def __init__(self, av: Any, path: Path) -> None:
        if not path.exists():
            raise VideoError(path, "file does not exist")
        if path.is_dir():
            raise VideoError(path, "is a directory, not a video file")
        self.av, self.path = av, path
        try:
            self.container = av.open(str(path))
        except (av.FFmpegError, OSError) as error:
            raise VideoError(path, f"not a video FFmpeg can read ({_reason(error)})") from None
        if not self.container.streams.video:
            self.container.close()
            raise VideoError(path, "has no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.rate: Fraction = self.stream.average_rate or self.stream.guessed_rate or FALLBACK_RATE
        self.time_base: Fraction = self.stream.time_base or 1 / self.rate
        self.width, self.height = self.stream.codec_context.width, self.stream.codec_context.height
        seconds = self.container.duration / 1e6 if self.container.duration else None  # for the progress bar
        self.frames: int | None = self.stream.frames or (round(seconds * self.rate) if seconds else None)
        self.audio = self.container.streams.audio[0] if self.container.streams.audio else None
        if not self.width or not self.height:
            self.close()
            raise VideoError(path, "its video stream has no frame size")

    def decode(self, stats: Stats) -> Iterator[tuple[int, np.ndarray]]:
        """(pts in `time_base`, uint8 H×W×3 RGB) of each frame, timestamps made strictly increasing."""
        last = None
        frames = self.container.decode(self.stream)
        index = 0
        while True:
            since = time.perf_counter()
            try:
                frame = next(frames)
                rgb = frame.to_ndarray(format="rgb24")
            except StopIteration:
                return
            except (self.av.FFmpegError, OSError) as error:
                raise VideoError(self.path, f"cannot decode frame {index} ({_reason(error)})") from None
            stats.add("decode", since)
            pts = frame.pts if frame.pts is not None else round(index / self.rate / self.time_base)
            pts = pts if last is None or pts > last else last + 1
            last, index = pts, index + 1
            yield pts, rgb

    def close(self) -> None:
        self.container.close()


class VideoWriter:
    """Encodes frames into a hidden temporary file beside `target`, muxing the source's audio along;
    `commit` renames it to `target`, `discard` deletes it."""

    def __init__(self, av: Any, target: Path, reader: Reader, format: str) -> None:
        spec = CONTAINERS.get(target.suffix.lower())
        if spec is None:
            raise VideoError(target, f"cannot write this kind of video; use {', '.join(CONTAINERS)}")
        codec = spec.alpha if format == "rgba" else spec.video
        if codec is None:
            raise VideoError(target, f"{target.suffix} video has no alpha channel; use .webm, .mov or .mkv")
        encoder, self.pix_fmt, options = codec
        if self.pix_fmt.startswith(("yuv420", "yuva420")) and (reader.width % 2 or reader.height % 2):
            raise VideoError(reader.path, f"{reader.width}×{reader.height}: {encoder} needs an even width and "
                                          f"height; write .mov (ProRes) or PNGs")
        self.av, self.target, self.frames = av, target, 0
        self.time_base = reader.time_base
        self.temporary = temporary_name(target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.output = av.open(str(self.temporary), "w", format=spec.muxer, options=dict(spec.options))
        except (av.FFmpegError, OSError) as error:
            _remove(self.temporary)
            raise VideoError(target, f"cannot write ({_reason(error)})") from None
        try:
            self.stream = self.output.add_stream(encoder, rate=reader.rate, options=dict(options))
            self.stream.width, self.stream.height, self.stream.pix_fmt = reader.width, reader.height, self.pix_fmt
            self.stream.time_base = reader.time_base
            self.stream.thread_type = "AUTO"  # frame threads where the encoder has them (x264)
            context = self.stream.codec_context
            context.time_base = reader.time_base
            if reader.stream.sample_aspect_ratio:
                context.sample_aspect_ratio = reader.stream.sample_aspect_ratio
            context.colorspace = context.color_primaries = context.color_trc = BT709
            context.color_range = MPEG_RANGE
            self.audio = AudioTrack(av, reader, self.output, spec) if reader.audio is not None else None
        except BaseException:
            self.discard()
            raise

    def write(self, pts: int, pixels: np.ndarray) -> None:
        """One rendered frame (uint8 H×W grey, H×W×3 RGB or H×W×4 RGBA) at `pts` in the source's time base."""
        layout = {2: "gray", 3: "rgb24", 4: "rgba"}[pixels.ndim if pixels.ndim == 2 else pixels.shape[2]]
        frame = self.av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format=layout)
        frame = frame.reformat(format=self.pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG")
        frame.pts, frame.time_base = pts, self.time_base
        for packet in self.stream.encode(frame):
            self.output.mux(packet)
        if self.audio is not None:
            self.audio.mux_until(float(pts * self.time_base))
        self.frames += 1

    def flush(self) -> None:
        for packet in self.stream.encode(None):
            self.output.mux(packet)
        if self.audio is not None:
            self.audio.mux_until(None)

    def commit(self) -> int:
        """Close the file and move it to `target`; the number of frames written."""
        self._close()
        os.replace(self.temporary, self.target)
        return self.frames

    def discard(self) -> None:
        try:
            self._close()
        except Exception:  # an encoder or muxer already in trouble
            pass
        _remove(self.temporary)

    def _close(self) -> None:
        if getattr(self, "audio", None) is not None:
            self.audio.close()
        self.output.close()


class AudioTrack:
    """The source's first audio stream into the output, muxed as the video goes: copied where the
    container takes its codec, else decoded and re-encoded (AAC, or Opus for WebM). It is read by a
    second demuxer of the source, so that the video stages never see audio packets."""

    def __init__(self, av: Any, reader: Reader, output: Any, spec: Container) -> None:
        self.input = av.open(str(reader.path))
        self.source = self.input.streams.audio[0]
        self.output = output
        codec = self.source.codec_context.name
        self.copy = spec.audio_copy is None or codec in spec.audio_copy
        if self.copy:
            self.stream = output.add_stream_from_template(self.source)
        else:
            rate = AUDIO_RATES.get(spec.audio_encoder, self.source.rate)
            self.stream = output.add_stream(spec.audio_encoder, rate=rate)
            self.stream.layout = self.source.layout if self.source.layout.nb_channels <= 2 else "stereo"
        self.packets = self.input.demux(self.source)
        self.waiting: Any = None  # a packet read ahead of the video
        self.ended = False

    def mux_until(self, seconds: float | None) -> None:
        """Mux the audio up to `seconds` of the source's timeline (None: all that is left)."""
        while not self.ended:
            packet = self.waiting or next(self.packets, None)
            self.waiting = None
            if packet is None:
                self.ended = True
                if not self.copy:
                    self._mux(self.stream.encode(None))
                return
            if packet.dts is None and packet.pts is None:  # the demuxer's end-of-stream marker
                continue
            stamp = packet.pts if packet.pts is not None else packet.dts
            if seconds is not None and float(stamp * packet.time_base) > seconds:
                self.waiting = packet
                return
            if self.copy:
                packet.stream = self.stream
                self.output.mux(packet)
            else:
                for frame in packet.decode():
                    frame.pts = None  # the encoder counts samples itself
                    self._mux(self.stream.encode(frame))

    def _mux(self, packets: list) -> None:
        for packet in packets:
            self.output.mux(packet)

    def close(self) -> None:
        self.input.close()


class SequenceWriter:
    """PNG frames 000000.png, 000001.png... into a hidden temporary folder beside `target`; `commit` moves
    them into `target` (removing higher-numbered frames of an older, longer sequence there)."""

    def __init__(self, target: Path) -> None:
        self.target, self.frames = target, 0
        self.temporary = temporary_name(target)
        try:
            self.temporary.mkdir(parents=True)
        except OSError as error:
            raise VideoError(target, f"cannot write ({_reason(error)})") from None

    def write(self, pts: int, pixels: np.ndarray) -> None:
        (self.temporary / SEQUENCE_NAME.format(self.frames)).write_bytes(encode_png(pixels))
        self.frames += 1

    def flush(self) -> None:
        pass

    def commit(self) -> int:
        self.target.mkdir(parents=True, exist_ok=True)
        for index in range(self.frames):
            name = SEQUENCE_NAME.format(index)
            os.replace(self.temporary / name, self.target / name)
        index = self.frames
        while (stale := self.target / SEQUENCE_NAME.format(index)).is_file():
            stale.unlink()
            index += 1
        self.temporary.rmdir()
        return self.frames

    def discard(self) -> None:
        shutil.rmtree(self.temporary, ignore_errors=True)
