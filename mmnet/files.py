"""Atomic file writes, shared by the training and the runtime worlds: the data goes to a hidden temporary
name in the same folder, then `os.replace` puts it in place, so a reader never sees half a file and an
interrupted run leaves none behind."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write(path: str | Path, write: Callable[[Path], None], suffix: str = ".tmp") -> Path:
    """Call `write(temporary_path)`, then rename the temporary file over `path` (its folder is created).
    `suffix` ends the temporary name, for writers that look at the extension."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(descriptor)
    temporary = Path(temporary)
    try:
        write(temporary)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` so that it appears complete or not at all."""
    return atomic_write(path, lambda temporary: temporary.write_bytes(data))
