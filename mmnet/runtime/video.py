"""Video in `mmnet matte`: a clip to a composite or alpha-matte video, a PNG sequence with alpha, or a
video with an alpha channel (VP9 in `.webm`/`.mkv`, ProRes 4444 in `.mov`), keeping the input's frame
timestamps (so its frame rate and time base), its frame count and its audio.

Decoding, inference and encoding overlap: a thread decodes frames and squash-resizes them for the
network (`Matting.network_input`); the calling thread runs the network on batches (`Matting.infer`) and
the temporal smoothing (`Smoother`, which needs the frames in order); a small pool brings the mattes back
to full size (`Matting.to_full`), renders them and converts them for the writer (to the encoder's pixel
format, or to PNG); a thread encodes and muxes them in order. The queues
between the stages are bounded, so memory stays flat however long the clip.

Reading and writing the files: `mmnet.runtime.videoio`; the smoothing: `mmnet.runtime.smoothing`.
"""
from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from mmnet.data.io import IMAGE_SUFFIXES
from mmnet.files import ReadOnlyOutput, foreign
from mmnet.runtime.render import Render, fingerprint
from mmnet.runtime.smoothing import SMOOTH_DEFAULT, Smoother
from mmnet.runtime.sources import UsageError, refusal, replaced_input
from mmnet.runtime.stats import Stats
from mmnet.runtime.videoio import VIDEO_SUFFIXES, Reader, VideoError, error_reason, import_av, is_video
from mmnet.runtime.videowriters import CONTAINERS, SequenceWriter, VideoWriter, read_record

if TYPE_CHECKING:
    from mmnet.runtime.model import Matting

BATCH = 8  # frames per session run
QUEUE = 2 * BATCH  # frames waiting between two stages


# ------------------------------------------------------------------------------------ the command line
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

    def found(self, av: Any) -> tuple[bool, str | None]:
        """(whether an output is there: the file, or frames of a sequence; the record it holds, None where there
        is none: not made by mmnet)."""
        if self.sequence:
            exists = self.target.is_dir() and any(self.target.glob("[0-9]" * 6 + ".png"))
        else:
            exists = self.target.exists()
        return exists, read_record(av, self.target, self.sequence) if exists else None


def plan_videos(videos: list[str], output: str | None, format: str, several: bool, reads: Sequence[Path] = ()
                ) -> tuple[list[VideoJob], list[str]]:
    """Jobs for the video INPUTs, and "INPUT: problem" for those that cannot be done.

    `-o NAME.mp4|.m4v|.mov|.mkv|.webm` takes one INPUT. `-o FOLDER` takes any number: a video goes to
    FOLDER/<stem>.mp4, or with --format rgba to a PNG sequence FOLDER/000000.png... (one INPUT) or
    FOLDER/<stem>/000000.png... (several), without the audio. `several`: other INPUTs (photos) share
    the output; `reads`: the other files the run reads (never an output either)."""
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
        replaced = replaced_input(out, [Path(videos[0]), *reads])
        if replaced is not None:
            return [], [refusal(videos[0], out, replaced)]
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
        replaced = replaced_input(target, [*map(Path, videos), *reads])
        if replaced is not None:
            problems.append(refusal(video, target, replaced))
            continue
        if claimed.get(target, source) != source:
            problems.append(f"{source}: its output {target} is already the output of {claimed[target]}")
            continue
        if target not in claimed:
            claimed[target] = source
            jobs.append(VideoJob(source, target, sequence))
    return jobs, problems


def matte_videos(videos: list[str], output: str | None, render: Render, model: Callable[[], Matting], *,
                 overwrite: bool = False, smooth: float | None = None, several: bool = False,
                 max_pixels: int | None = None, options: dict | None = None, reads: Sequence[Path] = ()) -> int:
    """The video part of `mmnet matte`: each video to its output, the failures named at the end;
    the exit code, 0 when every video was done or skipped, else 1 (a video with damaged data is done, with a
    warning that says how many frames were affected). `model`: gives the loaded model, once the INPUTs are
    checked.

    An existing output is skipped (unless `overwrite`) when its record (in its metadata, or in a PNG
    sequence's first frame) says it was made from the same input with the same `options` (the command line's),
    model and smoothing; one with no record (not made by mmnet) is not replaced without `overwrite`, and named.
    `reads`: the other files the run reads (--background), never an output."""
    av = import_av()
    strength = SMOOTH_DEFAULT if smooth is None else smooth
    if not 0 <= strength < 1:
        raise UsageError(f"--smooth must be in [0, 1), got {strength}")
    jobs, failures = plan_videos(videos, output, render.format, several, reads)
    matting = model()
    settings = {**(options or {"format": render.format}), "model": fingerprint(matting.path),
                "size": matting.size, "smooth": strength}
    done = skipped = frames = 0
    warnings = []
    start = time.perf_counter()
    for job in jobs:
        record = json.dumps({"input": fingerprint(job.source), **settings}, sort_keys=True)
        exists, found = job.found(av)
        if not overwrite and exists and found == record:
            skipped += 1
            continue
        if not overwrite and (problem := foreign(job.target, exists, found)):
            failures.append(problem)
            continue
        try:
            stats = matte_video(matting, job.source, job.target, render, smooth=strength, sequence=job.sequence,
                                max_pixels=max_pixels, record=record)
            frames += stats.frames
            done += 1
            if stats.damage:
                warnings.append(f"{job.source}: {stats.damage}")
                print(f"warning: {job.source}: {stats.damage}", file=sys.stderr)
        except (VideoError, ReadOnlyOutput) as error:
            failures.append(str(error))
    seconds = time.perf_counter() - start
    damaged = f" ({len(warnings)} with damaged data)" if warnings else ""
    print(f"videos: done {done}{damaged}, skipped {skipped}, failed {len(failures)} in {seconds:.1f} s "
          f"({frames} frames, {frames / seconds if seconds > 0 else 0:.1f} frames/s)", file=sys.stderr)
    if failures:
        print(f"failed ({len(failures)}):\n  " + "\n  ".join(failures), file=sys.stderr)
    return 1 if failures else 0


# ----------------------------------------------------------------------------------------- one video
class _Stopped(Exception):
    """Another stage failed or the run was interrupted."""


_END = object()


def matte_video(matting: Matting, source: str | Path, target: str | Path, render: Render, *,
                smooth: float = SMOOTH_DEFAULT, sequence: bool | None = None, workers: int | None = None,
                progress: bool = True, max_pixels: int | None = None, record: str | None = None) -> Stats:
    """Matte one video into `target` (a video file, or a folder of PNGs when `sequence`; by default a
    folder when `target` has no video extension) with `render` (a `mmnet.runtime.render.Render`).
    Written atomically; raises VideoError naming the file that failed, and for frames of more than
    `max_pixels` pixels (None: any) before decoding one. `record` (what the output is made from, and how) is
    kept in the video's metadata or beside the PNGs. Damaged data in the middle of the input is left out or
    concealed, and said in `Stats.damage`."""
    av = import_av()
    source, target = Path(source), Path(target)
    sequence = target.suffix.lower() not in CONTAINERS if sequence is None else sequence
    reader = Reader(av, source, max_pixels)
    try:
        writer = SequenceWriter(target, record) if sequence else VideoWriter(av, target, reader, render.format,
                                                                             record)
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
            _infer(matting, render, writer, smoother, pool, frames, results, stop, stats)
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
                raise VideoError(target, f"cannot write ({error_reason(failure)})") from None
            raise failure
    stats.damage = reader.damage()
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


def _infer(matting: Matting, render: Render, writer: VideoWriter | SequenceWriter, smoother: Smoother,
           pool: ThreadPoolExecutor, frames: queue.Queue, results: queue.Queue, stop: threading.Event,
           stats: Stats) -> None:
    """The calling thread: the network on batches, smoothing in order; in the pool: full size, render, and
    the frame made ready for the writer (the encoder's pixel format, or PNG bytes)."""
    def finish(rgb: np.ndarray, small: np.ndarray, alpha: np.ndarray) -> Any:
        since = time.perf_counter()
        full = matting.to_full(alpha, rgb, small, render.refine, parallel=False)
        since = stats.add("to full size", since)
        pixels = render(rgb, full)
        since = stats.add("render", since)
        prepared = writer.prepare(pixels)
        stats.add("prepare frame", since)
        return prepared

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
    """Encode thread: the prepared frames in order into the writer, then its encoder flushed."""
    while (item := _get(results, stop)) is not _END:
        pts, future = item
        frame = future.result()
        since = time.perf_counter()
        writer.write(pts, frame)
        stats.add("encode", since)
        bar.update(1)
    since = time.perf_counter()
    writer.flush()
    stats.add("encode", since)
