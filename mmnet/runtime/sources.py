"""The command line's INPUTs -> jobs (a photo to read, a PNG to write): files, folders (recursive), globs,
and `-` (stdin -> stdout); and a folder watcher that hands out photos once they have stopped growing."""
from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mmnet.data.encode import OUTPUT_SUFFIXES
from mmnet.data.io import IMAGE_SUFFIXES, find_photos
from mmnet.errors import MmnetError
from mmnet.files import OutputIsInput, replaced_input

STDIN = "-"
_MAGIC = ("*", "?", "[")
SETTLE_POLLS = 2  # --watch: polls a photo that failed to decode must stay unchanged before it counts as failed


@dataclass(frozen=True)
class Job:
    """One photo: `source` None reads stdin; `output` None writes stdout."""

    source: Path | None
    output: Path | None

    @property
    def name(self) -> str:
        return str(self.source) if self.source is not None else "<stdin>"


@dataclass
class Plan:
    jobs: list[Job]
    problems: list[str]  # "INPUT: what is wrong", one per input that gave nothing to do


class UsageError(MmnetError, ValueError):
    """INPUT/OUTPUT arguments that do not fit together."""


def single_file_output(inputs: list[str], output: str | None) -> bool:
    """True when one image goes to one named file: a single INPUT (a file or -) and `-o NAME.png` (or .jpg,
    .jpeg, .webp: written in that format)."""
    if len(inputs) != 1 or output is None or Path(output).suffix.lower() not in OUTPUT_SUFFIXES:
        return False
    return inputs[0] == STDIN or not (Path(inputs[0]).is_dir() or any(m in inputs[0] for m in _MAGIC))


def plan(inputs: list[str], output: str | None, reads: Sequence[Path] = ()) -> Plan:
    """Jobs for `mmnet matte INPUT... -o OUTPUT`. A folder's photos go to OUTPUT/<relative path>/<stem>.png,
    a glob's relative to its fixed leading folder, a file's to OUTPUT/<stem>.png. `reads`: the other files the
    run reads (a --background image, the model), never written either."""
    if STDIN in inputs and len(inputs) > 1:
        raise UsageError("- (stdin) must be the only INPUT")
    if single_file_output(inputs, output):
        job = Job(None if inputs[0] == STDIN else Path(inputs[0]), Path(output))
        return Plan(*keep_inputs([job], [job.source, *reads]))
    if inputs == [STDIN]:
        if output is not None:
            raise UsageError(f"-o {output}: the image from - (stdin) goes to stdout, or to -o NAME.png")
        return Plan([Job(None, None)], [])
    if output is None:
        raise UsageError("give the output folder with -o OUT (or -o NAME.png for a single image)")
    out = Path(output)
    if out.suffix.lower() in OUTPUT_SUFFIXES:
        raise UsageError(f"-o {out}: a {out.suffix} file takes one image; give a folder for several")
    if out.is_file():
        raise UsageError(f"{out}: -o names an existing file; give a folder (or NAME.png for a single image)")
    jobs, problems, claimed, sources = [], [], {}, []
    for argument in inputs:
        found = _expand(argument, out)
        if isinstance(found, str):
            problems.append(f"{argument}: {found}")
            continue
        sources += [source for source, _ in found]
        for source, relative in found:
            target = output_for(out, relative)
            if claimed.get(target) == source:
                continue  # the same photo named twice
            if target in claimed:
                problems.append(f"{source}: its output {target} is already the output of {claimed[target]}")
                continue
            claimed[target] = source
            jobs.append(Job(source, target))
    jobs, refused = keep_inputs(jobs, [*sources, *reads])
    return Plan(jobs, problems + refused)


def keep_inputs(jobs: list[Job], inputs: list[Path | None]) -> tuple[list[Job], list[str]]:
    """The jobs whose output is none of `inputs` (None: stdin), and a problem naming each job refused because
    its output would replace an input (whatever the flags: an input is never written)."""
    kept, refused = [], []
    for job in jobs:
        replaced = replaced_input(job.output, inputs)
        if replaced is None:
            kept.append(job)
        else:
            refused.append(refusal(job.name, job.output, replaced))
    return kept, refused


def refusal(name: str, output: Path, replaced: Path | str) -> str:
    return str(OutputIsInput(output, replaced, name))


def output_for(out: Path, relative: Path) -> Path:
    """OUT/<relative folder>/<stem>.png."""
    return out / relative.parent / f"{relative.stem}.png"


def _expand(argument: str, out: Path) -> list[tuple[Path, Path]] | str:
    """(photo, its path relative to the output folder) pairs of one INPUT, or what is wrong with it."""
    path = Path(argument)
    if path.is_file() or path.exists() and not path.is_dir():  # a named pipe too: `<(cat photo.jpg)`
        return [(path, Path(path.name))]
    if path.is_dir():
        photos = find_photos(path, exclude=out)
        return [(photo, photo.relative_to(path)) for photo in photos] or "no photos in this folder"
    if any(magic in argument for magic in _MAGIC):
        base = _glob_base(argument)
        photos = sorted(Path(p) for p in glob.glob(argument, recursive=True)
                        if Path(p).is_file() and Path(p).suffix.lower() in IMAGE_SUFFIXES)
        return [(photo, photo.relative_to(base)) for photo in photos] or "no photos match this pattern"
    return "no such file or folder"


def _glob_base(pattern: str) -> Path:
    """The leading folders of a glob pattern that hold no wildcard: the root of its relative paths."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if any(magic in part for magic in _MAGIC):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


class Watcher:
    """Photos under a folder that are new or changed since the last look, reported once their size and
    modification time are the same in two polls in a row (so a photo being copied in is not read half-written).

    A photo that still fails to decode (a copy that paused longer than a poll) is reported back with `unready`:
    if it changes again it was not ready, and it is handed out again once it holds still (`retracted` lists
    its failure if that was already counted); if it stays unchanged for SETTLE_POLLS more polls, its failure
    is final (`failed`)."""

    def __init__(self, folder: Path, output: Path, reads: Sequence[Path] = ()) -> None:
        if folder.resolve() == output.resolve():
            raise UsageError(f"-o {output}: --watch writes outside the watched folder {folder} (its outputs "
                             f"would be photos to matte); give another -o")
        self.folder, self.output, self.reads = folder, output, list(reads)
        self.refused: list[str] = []  # jobs whose output would replace a photo
        self._seen: dict[Path, tuple[int, int]] = {}  # what the last poll saw
        self._done: dict[Path, tuple[int, int]] = {}  # what was handed out
        self._unready: dict[Path, _Unready] = {}  # handed out, failed to decode, maybe still being written
        self.failed: list[str] = []  # failures that became final in the last poll
        self.retracted: list[str] = []  # failures counted before whose photo has changed since

    def unready(self, job: Job, message: str) -> None:
        """`job`'s photo failed to decode: a failure only if the photo then holds still."""
        if job.source is not None and job.source in self._done:
            self._unready[job.source] = _Unready(self._done[job.source], message)

    def pending(self) -> list[str]:
        """The failures not yet final whose photos are still as they were when they failed (for the end of a
        watch: nothing more will come for them)."""
        final = []
        for photo, entry in self._unready.items():
            if not entry.counted and _signature(photo) == entry.signature:
                final.append(entry.message)
        self._unready.clear()
        return final

    def poll(self) -> list[Job]:
        """Jobs for the photos that are ready now."""
        current = {}
        for photo in find_photos(self.folder, exclude=self.output):
            signature = _signature(photo)
            if signature is not None:  # else gone again
                current[photo] = signature
        self.failed, self.retracted = [], []
        for photo, entry in list(self._unready.items()):
            if current.get(photo) != entry.signature:  # still being written (or gone): not a failure
                del self._unready[photo]
                self._done.pop(photo, None)  # handed out again once it holds still
                if entry.counted:
                    self.retracted.append(entry.message)
            elif not entry.counted:
                entry.polls += 1
                if entry.polls >= SETTLE_POLLS:
                    entry.counted = True
                    self.failed.append(entry.message)
        ready = [photo for photo, signature in current.items()
                 if self._seen.get(photo) == signature and self._done.get(photo) != signature]
        self._seen = current
        for photo in ready:
            self._done[photo] = current[photo]
        jobs = [Job(photo, output_for(self.output, photo.relative_to(self.folder))) for photo in ready]
        jobs, refused = keep_inputs(jobs, [*current, *self.reads])
        self.refused += refused
        return jobs


@dataclass
class _Unready:
    signature: tuple[int, int]  # (size, mtime) when it was handed out
    message: str
    polls: int = 0  # polls since, all with the same signature
    counted: bool = False


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns
