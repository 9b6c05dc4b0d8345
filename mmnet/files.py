"""Atomic file writes, shared by the training and the runtime worlds: the data goes to a hidden temporary
name in the same folder, then `os.replace` puts it in place, so a reader never sees half a file and an
interrupted run leaves none behind. The data and then the folder are fsynced, so that a crash of the machine
right after the rename leaves the new file or the old one, never an empty one."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable

TEMP_SUFFIX = ".tmp"


def temporary_name(path: Path, suffix: str = TEMP_SUFFIX) -> Path:
    """A hidden sibling of `path`, unique to this write: `.name.<random><suffix>`."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")


def atomic_write(path: str | Path, write: Callable[[Path], None], suffix: str = TEMP_SUFFIX) -> Path:
    """Call `write(temporary_path)`, then rename the temporary file over `path` (its folder is created).
    `suffix` ends the temporary name, for writers that look at the extension."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(path, suffix)
    try:
        write(temporary)
        _fsync(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync(path.parent)
    return path


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
