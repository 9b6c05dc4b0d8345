"""Atomic file writes and a file's sha256 (`sha256_of`), shared by the training and the runtime worlds: the
data goes to a hidden temporary name in the same folder, then `os.replace` puts it in place, so a reader never
sees half a file and an interrupted run leaves none behind. The data and then the folder are fsynced, so that a
crash of the machine right after the rename leaves the new file or the old one, never an empty one.

The overwrite rule lives here too (`replaced_input`, `foreign`, `ReadOnlyOutput`): an output is never one of
the run's inputs, a file mmnet did not make is replaced only with --overwrite, and a read-only one never."""
from __future__ import annotations

import glob
import hashlib
import os
import secrets
import stat
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Callable

from mmnet.errors import MmnetError

TEMP_SUFFIX = ".tmp"


class ReadOnlyOutput(MmnetError, PermissionError):
    """An output path that holds a read-only file: it is not replaced, whatever the flags."""


class OutputIsInput(MmnetError, ValueError):
    """An output that would replace one of the run's inputs."""

    def __init__(self, output: str | Path, replaced: str | Path, name: str | None = None) -> None:
        super().__init__(f"{name or output}: its output {output} is the input {replaced}; refusing to replace it "
                         f"(give another -o)")


def identity(path: str | Path | None) -> tuple[int, int] | None:
    """(device, inode) of an existing file, None where there is none; `path` None: stdin (a file redirected
    into it has its identity, a pipe or a terminal its own)."""
    try:
        status = os.fstat(sys.stdin.fileno()) if path is None else os.stat(path)
    except (OSError, ValueError, AttributeError):  # no stdin (closed, or replaced by a test's)
        return None
    return status.st_dev, status.st_ino


def replaced_input(output: str | Path | None, inputs: Iterable[str | Path | None]) -> Path | str | None:
    """The input that writing `output` would replace, compared as files (so links and other spellings of a
    path count; None in `inputs` is stdin, named "-"), or None."""
    target = None if output is None else identity(output)
    if target is None:
        return None
    return next(("-" if path is None else Path(path) for path in inputs if identity(path) == target), None)


class OutputExists(MmnetError, FileExistsError):
    """An output path that holds a file, not replaced without --overwrite."""


def refuse_existing(output: str | Path, overwrite: bool) -> None:
    """OutputExists where `output` holds a file and `overwrite` is not given: the verbs with one output (export,
    average, demo), which cannot tell a file they made from one of the user's."""
    if not overwrite and Path(output).exists():
        raise OutputExists(f"{output}: exists; not replaced (--overwrite replaces it)")


def refuse_input(output: str | Path, inputs: Iterable[str | Path | None]) -> None:
    """OutputIsInput where `output` is one of `inputs` (the one check of the verbs with a single output)."""
    replaced = replaced_input(output, inputs)
    if replaced is not None:
        raise OutputIsInput(output, replaced)


def foreign(path: Path, exists: bool, found_record: str | None) -> str | None:
    """Why an existing output is not replaced without --overwrite: it holds no record of mmnet's (it was not made
    by mmnet, so it may be the user's own); None where it may be (absent, or one of mmnet's outputs)."""
    if not exists or found_record is not None:
        return None
    return f"{path}: exists and was not made by mmnet; not replaced (--overwrite replaces it)"


def temporary_name(path: Path, suffix: str = TEMP_SUFFIX) -> Path:
    """A hidden sibling of `path`, unique to this write: `.name.<process id>-<random><suffix>`."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def remove_stale(path: Path, suffix: str = TEMP_SUFFIX) -> None:
    """Delete the temporary files of `path` (`temporary_name`) left by a run that was killed: those whose process
    is gone (a live one may still be writing)."""
    for temporary in path.parent.glob(f".{glob.escape(path.name)}.*-*{suffix}"):
        pid = temporary.name[len(path.name) + 2:].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            temporary.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        pass
    return True


def atomic_write(path: str | Path, write: Callable[[Path], None], suffix: str = TEMP_SUFFIX) -> Path:
    """Call `write(temporary_path)`, then rename the temporary file over `path` (its folder is created).
    `suffix` ends the temporary name, for writers that look at the extension."""
    path = Path(path)
    mode = writable_mode(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path, suffix)
    temporary = temporary_name(path, suffix)
    try:
        write(temporary)
        if mode is not None:
            os.chmod(temporary, mode)
        _fsync(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync(path.parent)
    return path


def writable_mode(path: Path) -> int | None:
    """The permission bits of the file at `path`, kept by the file that replaces it (None: no file there);
    ReadOnlyOutput for a read-only one (no write bit: even root, who could, does not replace it)."""
    try:
        status = path.stat()
    except OSError:
        return None
    mode = stat.S_IMODE(status.st_mode)
    if stat.S_ISREG(status.st_mode) and (not mode & 0o222 or not os.access(path, os.W_OK)):
        raise ReadOnlyOutput(f"{path}: read-only; not replaced")
    return mode


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's entries') data to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` so that it appears complete or not at all."""
    return atomic_write(path, lambda temporary: temporary.write_bytes(data))


def sha256_of(path: str | Path) -> str:
    """The hex sha256 of a file's bytes, read a MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
