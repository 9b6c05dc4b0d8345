"""`mmnet matte`: many photos to PNGs, with decoding, inference and encoding overlapped.

A thread pool decodes and squash-resizes photos ahead of the model (OpenCV releases the GIL); the main
thread runs the model on batches; the pool upsamples, renders, encodes and writes the results
atomically. A bad photo or an unwritable output is reported by name at the end; the others are done.
"""
from __future__ import annotations

import functools
import json
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mmnet.data.encode import encode_image, read_record
from mmnet.data.io import MAX_PIXELS, ImageReadError, ImageTooLarge, decode_image_bytes, read_image, read_size
from mmnet.files import ReadOnlyOutput, foreign, write_atomic
from mmnet.runtime import video
from mmnet.runtime.model import Matting, load
from mmnet.runtime.render import Render, fingerprint, output_options, render_options, with_hint
from mmnet.runtime.sources import Job, UsageError, Watcher, plan

BATCH = 8  # photos per session run
POLL_SECONDS = 0.5
LARGE = 16_000_000  # pixels: photos larger (or of a size not known from the header) are matted one at a time


@dataclass
class Tally:
    """The run so far: counts, the failures as "file: problem", and the time."""

    done: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)
    start: float = field(default_factory=time.perf_counter)

    def summary(self) -> str:
        seconds = time.perf_counter() - self.start
        rate = self.done / seconds if seconds > 0 else 0.0
        return (f"done {self.done}, skipped {self.skipped}, failed {len(self.failures)} "
                f"in {seconds:.1f} s ({rate:.1f} photos/s)")


def matte(inputs: list[str], output: str | None, *, model: str | None = None, size: int | None = None,
          threads: int | None = None, watch: bool = False, format: str = "alpha", background: str | None = None,
          threshold: float = 0.5, overwrite: bool = False, refine: bool | None = None,
          workers: int | None = None, smooth: float | None = None, backend: str | None = None,
          max_pixels: int | None = MAX_PIXELS) -> int:
    """Run `mmnet matte`; the exit code: 0 when every photo or video was done or skipped, else 1.
    Video INPUTs go to `mmnet.runtime.video` (`smooth`: its temporal smoothing), with the model loaded once
    for photos and videos; `backend`: the inference runtime (`mmnet.runtime.model.load`); `max_pixels`: the
    largest photo or video frame decoded (None: any)."""
    if max_pixels is not None and max_pixels <= 0:
        raise UsageError(f"--max-pixels must be positive, got {max_pixels}")
    render = render_options(format, background, threshold, refine, max_pixels)
    options = output_options(format, background, threshold, refine)
    model_once = functools.cache(lambda: load(model, threads=threads, size=size, backend=backend))
    reads = [Path(path) for path in (background, model) if path and Path(path).is_file()]  # never outputs
    videos_failed = 0
    if not watch:
        videos, inputs = video.split_inputs(inputs)
        if videos:
            videos_failed = video.matte_videos(videos, output, render, model_once, overwrite=overwrite,
                                               smooth=smooth, several=bool(inputs), max_pixels=max_pixels,
                                               options=options, reads=reads)
            if not inputs:
                return videos_failed
    if watch:
        if len(inputs) != 1 or not Path(inputs[0]).is_dir() or output is None:
            raise UsageError("--watch takes one INPUT folder and an output folder -o OUT")
        todo = None
    else:
        todo = plan(inputs, output, reads)
    if todo and len(todo.jobs) == 1 and todo.jobs[0].output is not None and format == "rgba" and \
            todo.jobs[0].output.suffix.lower() in (".jpg", ".jpeg"):
        raise UsageError(f"-o {output}: JPEG has no alpha channel; write the cut-out as .png or .webp")
    matting = model_once()  # photos and videos in one call share the model
    options = {**options, "model": fingerprint(matting.path), "size": matting.size,
               "refine": matting.refine if refine is None else refine}
    tally = Tally()
    tally.failures += todo.problems if todo else []
    total = None if todo is None else len(todo.jobs) + len(todo.problems)
    interrupted = False
    try:
        with ThreadPoolExecutor(workers or min(8, os.cpu_count() or 1)) as pool, \
                tqdm(total=total, initial=len(tally.failures), unit="photo", disable=total is not None and total < 2,
                     dynamic_ncols=True) as bar:
            runner = Runner(matting, render, pool, tally, bar, overwrite, max_pixels, options)
            if watch:
                _watch(runner, Watcher(Path(inputs[0]), Path(output), reads))
            else:
                runner.run(todo.jobs)
    except KeyboardInterrupt:  # Ctrl-C: the writes under way have finished; what was done is said
        interrupted = True
    print(("interrupted: " if interrupted else "") + tally.summary(), file=sys.stderr)
    if tally.failures:
        print(f"failed ({len(tally.failures)}):\n  " + "\n  ".join(tally.failures), file=sys.stderr)
    return 130 if interrupted else 1 if tally.failures or videos_failed else 0


def _watch(runner: Runner, watcher: Watcher) -> None:
    """Process photos as they arrive until Ctrl-C (or SIGTERM, as a service manager stops it)."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    runner.unready = watcher.unready  # a photo that fails to decode may still be being copied in
    try:
        while True:
            watch_step(runner, watcher)
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for message in watcher.pending():
            runner.fail(message)


def watch_step(runner: Runner, watcher: Watcher) -> None:
    """One poll of a watched folder: mattes the photos that are ready, and counts the failures that are final
    (a photo that fails to decode and then stays unchanged) or no longer are (it changed: it was being written)."""
    runner.run(watcher.poll())  # the bar counts up without a total
    for message in watcher.retracted:
        runner.retract(message)
    for problem in watcher.refused + watcher.failed:
        runner.fail(problem)
    watcher.refused.clear()
    watcher.failed.clear()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class Runner:
    """Runs jobs through decode -> model -> render/encode/write, updating a tally and a progress bar. A
    result is counted by the thread that wrote it, so what was written before an interrupt is counted."""

    def __init__(self, matting: Matting, render: Render, pool: ThreadPoolExecutor, tally: Tally, bar: tqdm,
                 overwrite: bool, max_pixels: int | None = MAX_PIXELS, options: dict | None = None) -> None:
        """options: how the outputs are made, recorded in each (`record`) so that a later run skips an output
        only when it was made from the same input in the same way."""
        self.matting, self.render, self.pool = matting, render, pool
        self.tally, self.bar, self.overwrite, self.max_pixels = tally, bar, overwrite, max_pixels
        self.options = options or {}
        self._lock = threading.Lock()
        # With --watch: takes (job, message) for a photo that failed to decode, which may be still being copied;
        # None: such a photo fails at once.
        self.unready: Callable[[Job, str], None] | None = None

    def run(self, jobs: list[Job]) -> None:
        """Each job, but an existing output made the same way (skipped) or not by mmnet (named, not replaced)."""
        todo = []
        for job in jobs:
            exists = job.output is not None and not self.overwrite and job.output.exists()
            found = read_record(job.output) if exists else None
            if exists and found is not None and found == self.record(job):
                self._count(skipped=True)
            elif problem := foreign(job.output, exists, found):
                self.fail(problem)
            else:
                todo.append(job)
        pixels = {job: _pixels(job) for job in todo}
        self._pipeline([job for job in todo if pixels[job] <= LARGE])
        for job in todo:  # bounded memory: a large photo alone, all its buffers freed before the next
            if pixels[job] > LARGE:
                self._pipeline([job])

    def _pipeline(self, todo: list[Job]) -> None:
        writes: deque[Future] = deque()
        try:
            for chunk in _chunks(_prefetch(self.pool, self._load, todo, ahead=2 * BATCH), BATCH):
                self._infer(chunk, writes)
                while writes and writes[0].done():
                    writes.popleft().result()  # raises what _save did not expect
            while writes:
                writes.popleft().result()
        except KeyboardInterrupt:
            self.pool.shutdown(wait=True, cancel_futures=True)  # the writes under way finish and count
            raise

    def record(self, job: Job) -> str | None:
        """What an output was made from and how, as ASCII JSON; None for a photo from stdin."""
        if job.source is None:
            return None
        return json.dumps({"input": fingerprint(job.source), **self.options}, sort_keys=True)

    def _load(self, job: Job) -> tuple[np.ndarray, np.ndarray]:
        """Decode and squash-resize one photo (in a pool thread)."""
        rgb = read_image(job.source, self.max_pixels) if job.source is not None else decode_image_bytes(
            sys.stdin.buffer.read(), "<stdin>", self.max_pixels)
        return rgb, self.matting.network_input(rgb)

    def _infer(self, chunk: list[tuple[Job, Future]], writes: deque[Future]) -> None:
        loaded = []
        for job, future in chunk:
            try:
                loaded.append((job, *future.result()))
            except (ImageReadError, OSError) as error:
                message = with_hint(error) if isinstance(error, ImageReadError) else f"{job.name}: {error}"
                if self.unready is not None and job.source is not None and not isinstance(error, ImageTooLarge):
                    self.unready(job, message)  # counted (or retried) by the watcher
                else:
                    self.fail(message)
            except Exception as error:  # a bug met by one odd photo: named, and the others still done
                self.fail(_unexpected(job, error))
        if not loaded:
            return
        try:
            alphas = self.matting.infer(np.stack([small for _, _, small in loaded]))
        except Exception as error:  # the inference runtime's own error types
            for job, _, _ in loaded:
                self.fail(f"{job.name}: inference failed ({str(error).strip().splitlines()[-1]})")
            return
        for (job, rgb, small), alpha in zip(loaded, alphas):
            writes.append(self.pool.submit(self._save, job, rgb, small, alpha))

    def _save(self, job: Job, rgb: np.ndarray, small: np.ndarray, alpha: np.ndarray) -> None:
        """Matte at full size, render, encode, write and count one result (in a pool thread)."""
        try:
            full = self.matting.to_full(alpha, rgb, small, self.render.refine, parallel=False)
            rendered = self.render(rgb, full)
            del full  # a large photo's float matte, freed before encoding
            suffix = job.output.suffix if job.output is not None else ".png"
            data = encode_image(rendered, suffix, self.record(job), in_place=True)
            del rendered
            if job.output is None:
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
            else:
                write_atomic(job.output, data)
        except ReadOnlyOutput as error:
            self.fail(str(error))
        except OSError as error:
            self.fail(f"{job.output}: cannot write ({error.strerror or error})")
        except ValueError as error:
            self.fail(f"{job.name}: {error}")
        except Exception as error:  # a bug met by one odd photo: named, and the others still done
            self.fail(_unexpected(job, error))
        else:
            self._count()

    def fail(self, message: str) -> None:
        with self._lock:
            self.tally.failures.append(message)
            self.bar.update(1)

    def retract(self, message: str) -> None:
        """Take back a failure counted before (--watch: the photo has changed since, so it was not ready)."""
        with self._lock:
            if message in self.tally.failures:
                self.tally.failures.remove(message)

    def _count(self, skipped: bool = False) -> None:
        with self._lock:
            if skipped:
                self.tally.skipped += 1
            else:
                self.tally.done += 1
            self.bar.update(1)


def _unexpected(job: Job, error: Exception) -> str:
    return f"{job.name}: unexpected {type(error).__name__} ({error}); please report it"


def _pixels(job: Job) -> float:
    """The photo's pixels from its header; infinite where unknown (stdin, or a header that does not say)."""
    size = read_size(job.source) if job.source is not None else None
    return size[0] * size[1] if size else float("inf")


def _prefetch(pool: ThreadPoolExecutor, function: Callable, items: Iterable, ahead: int
              ) -> Iterator[tuple[object, Future]]:
    """(item, future of function(item)) in order, keeping up to `ahead` items submitted in advance."""
    queue: deque[tuple[object, Future]] = deque()
    for item in items:
        queue.append((item, pool.submit(function, item)))
        if len(queue) > ahead:
            yield queue.popleft()
    while queue:
        yield queue.popleft()


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
