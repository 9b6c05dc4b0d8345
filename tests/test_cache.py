"""`mmnet.cache` and `mmnet cache`: the foreground colours stay under their cap, least recently used out first,
and the cache can be listed and cleared by part."""
from __future__ import annotations

import os

import numpy as np
import pytest

from mmnet import cache
from mmnet.cli import main
from mmnet.data import foregrounds as foreground_module
from mmnet.data.dataset import MattingDataset
from mmnet.data.foregrounds import ForegroundCache


def write(path, size: int, used: float):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (used, used))
    return path


def test_evict_removes_the_least_recently_used_down_to_the_cap_but_never_keep(tmp_path):
    old, middle, new = (write(tmp_path / f"{name}.npy", 100, used) for name, used in
                        (("old", 1000), ("middle", 2000), ("new", 3000)))
    assert cache.evict([old, middle, new], 250) == [old]
    assert cache.evict([middle, new], 100, keep=middle) == [new]
    assert middle.is_file() and not new.exists()


def test_the_foreground_cache_stays_under_its_cap(tmp_path, monkeypatch, synthetic_root):
    monkeypatch.setattr(foreground_module, "_compute_foregrounds",
                        lambda dataset, workers, progress: np.zeros_like(dataset.images))
    folder = tmp_path / "foregrounds"
    sets = [MattingDataset(synthetic_root, "train", size, progress=False) for size in (32, 48, 64)]
    cap = (32 * 32 + 64 * 64) * 3 * 24 + 1024  # the 32² and 64² files (and their headers), not the 48² one too
    first = ForegroundCache(sets[0], folder, cap_bytes=cap, progress=False).path
    second = ForegroundCache(sets[1], folder, cap_bytes=cap, progress=False).path
    os.utime(second, (1000, 1000))  # used long ago
    ForegroundCache(sets[0], folder, cap_bytes=cap, progress=False)  # a hit: first is the most recent now
    third = ForegroundCache(sets[2], folder, cap_bytes=cap, progress=False).path
    assert sorted(folder.iterdir()) == sorted([first, third])


def test_the_default_folder_is_in_the_mmnet_cache(tmp_path, monkeypatch, synthetic_root):
    monkeypatch.setenv("MMNET_CACHE", str(tmp_path))
    monkeypatch.setattr(foreground_module, "_compute_foregrounds",
                        lambda dataset, workers, progress: np.zeros_like(dataset.images))
    made = ForegroundCache(MattingDataset(synthetic_root, "train", 32, progress=False), progress=False)
    assert made.path.parent == tmp_path / cache.FOREGROUNDS


def test_mmnet_cache_lists_and_clears_by_part(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MMNET_CACHE", str(tmp_path))
    write(tmp_path / "foregrounds" / "a.npy", 3_000_000, 1000)
    write(tmp_path / "onnxruntime-web" / "1.30.0" / "ort.wasm", 1_000_000, 1000)
    write(tmp_path / "run-0123-256.onnx", 1_000_000, 1000)
    write(tmp_path / "ccp" / "train" / "mask" / "a.png", 2_000_000, 1000)  # a dataset kept there by hand
    assert main(["cache"]) == 0
    shown = capsys.readouterr().out
    assert "3.0 MB  foregrounds\n" in shown and "1.0 MB  onnxruntime-web\n" in shown and "7.0 MB  in" in shown
    assert "2.0 MB  ccp  (not mmnet's: --clear keeps it)" in shown
    assert main(["cache", "--clear", "foregrounds"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ccp", "onnxruntime-web", "run-0123-256.onnx"]
    with pytest.raises(SystemExit, match="not in .*: peers"):
        main(["cache", "--clear", "peers"])
    assert main(["cache", "--clear"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["ccp"]
    assert main(["cache", "--clear", "ccp"]) == 0
    assert list(tmp_path.iterdir()) == []
