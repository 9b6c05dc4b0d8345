"""mmnet's cache folder: where it is, what it holds, and keeping it bounded (the standard library only).

The folder is $MMNET_CACHE, else $XDG_CACHE_HOME/mmnet, else ~/.cache/mmnet. It holds training checkpoints
exported to ONNX once (`<stem>-<checksum>-<size>.onnx`, by `mmnet.load` and `mmnet matte --model RUN`), the
page's onnxruntime-web (`onnxruntime-web/`, by `mmnet serve`), the benchmark peers' models (`peers/`) and the
training sets' foreground colours (`foregrounds/`, one file of about 237 MB per set of EG1800's size at 256²,
by `mmnet train --composite`): all remade when needed. The foregrounds are bounded: past FOREGROUNDS_CAP_BYTES
the least recently used files go. `mmnet cache` shows the folder; `mmnet cache --clear` deletes what is remade
when needed, `--clear PART ...` the parts named (anything else kept there, such as prepared datasets, only so).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

FOREGROUNDS = "foregrounds"
FOREGROUNDS_CAP_BYTES = 2 << 30  # 2 GiB: the shipped recipe's sets (EG1800 and CCP, at 128² and 256²) fit
REMADE = (FOREGROUNDS, "onnxruntime-web", "peers")  # and the exported checkpoints, *.onnx


def remade(name: str) -> bool:
    """Whether a top-level entry of the cache is one that mmnet makes again when it is needed."""
    return name in REMADE or name.endswith(".onnx")


def cache_dir() -> Path:
    """$MMNET_CACHE, else $XDG_CACHE_HOME/mmnet, else ~/.cache/mmnet."""
    if os.environ.get("MMNET_CACHE"):
        return Path(os.environ["MMNET_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mmnet"


def size_of(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (links not followed)."""
    if path.is_dir() and not path.is_symlink():
        return sum(size_of(child) for child in path.iterdir())
    return path.lstat().st_size


def parts(folder: Path | None = None) -> dict[str, int]:
    """The cache's top-level entries and their sizes in bytes, by name."""
    folder = folder or cache_dir()
    return {entry.name: size_of(entry) for entry in sorted(folder.iterdir())} if folder.is_dir() else {}


def clear(names: Sequence[str] = (), folder: Path | None = None) -> list[str]:
    """Delete the named top-level entries (when none are named, those that are `remade`); the names deleted. A
    name that is not there raises KeyError."""
    folder = folder or cache_dir()
    present = parts(folder)
    unknown = sorted(set(names) - set(present))
    if unknown:
        raise KeyError(f"not in {folder}: {', '.join(unknown)} (there: {', '.join(present) or 'nothing'})")
    chosen = list(names) or [name for name in present if remade(name)]
    for name in chosen:
        entry = folder / name
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    return chosen


def mark_used(path: Path) -> None:
    """Record that a cached file was just used (its modification time: `evict` removes the oldest first)."""
    try:
        os.utime(path)
    except OSError:  # a read-only cache: it is still used, only not bounded
        pass


def evict(files: Iterable[Path], cap_bytes: int, keep: Path | None = None) -> list[Path]:
    """Delete the least recently used of `files` (oldest modification time first) until they hold at most
    `cap_bytes`, never `keep`; the files deleted."""
    present = [(path.stat().st_mtime, path.stat().st_size, path) for path in files if path.is_file()]
    total = sum(size for _, size, _ in present)
    deleted = []
    for _, size, path in sorted(present, key=lambda item: item[0]):
        if total <= cap_bytes:
            break
        if keep is not None and path == keep:
            continue
        path.unlink(missing_ok=True)
        total -= size
        deleted.append(path)
    return deleted
