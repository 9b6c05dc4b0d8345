"""`mmnet pack` and the GPU training path: the pack holds exactly the training parts at the training resolution
and trains unchanged; the CUDA-only pieces of the trainer (uint8 batches, the sync-free EMA) match the CPU's."""
from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import run_script
from mmnet.data.backgrounds import split_backgrounds
from mmnet.data.dataset import MattingDataset, find_pairs, in_holdout
from mmnet.data.holdout import HOLDOUT_PERCENT
from mmnet.data.pack import MIB, PackError, pack, short_side_size
from mmnet.data.synthetic import make_dataset
from mmnet.training.presets import PRESETS

SIZE = 48


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """Two people sets (portrait 120×160 and landscape 150×100 photos) and a folder of backgrounds."""
    root = tmp_path_factory.mktemp("sources")
    make_dataset(root / "busts", n=30, height=160, width=120, seed=0)
    make_dataset(root / "figures", n=30, height=100, width=150, seed=1)
    make_dataset(root / "bgsource", n=16, height=90, width=140, seed=2)
    return {"busts": root / "busts", "figures": root / "figures", "backgrounds": root / "bgsource/train/image"}


@pytest.fixture(scope="module")
def packed(sources, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("packs") / "pack"
    pack(out, [sources["busts"], sources["figures"]], sources["backgrounds"], size=SIZE, progress=False)
    return out


def test_pack_holds_the_training_parts_at_the_short_side(sources, packed):
    for name in ("busts", "figures"):
        source = find_pairs(sources[name], "train")
        held = {pair.stem for pair in source if in_holdout(pair.stem, HOLDOUT_PERCENT)}
        pairs = find_pairs(packed / name, "train")
        assert held and {pair.stem for pair in pairs} == {pair.stem for pair in source} - held
        for pair in pairs:
            assert pair.image.suffix == ".webp" and pair.mask.suffix == ".png"
        dataset = MattingDataset(packed / name, size=SIZE, holdout_percent=HOLDOUT_PERCENT, progress=False)
        assert len(dataset) == len(pairs)  # the trainer's --val-holdout (HOLDOUT_PERCENT) keeps every packed pair
        original = MattingDataset(sources[name], size=SIZE, holdout_percent=HOLDOUT_PERCENT, progress=False)
        assert np.allclose(dataset.aspects, original.aspects, atol=0.02)  # aspect kept
    mask = MattingDataset(packed / "figures", size=SIZE, progress=False, keep_full_masks=True).full_mask(0)
    assert mask.shape == (SIZE, 72)  # 150×100 -> short side 48, aspect kept
    backgrounds = sorted((packed / "backgrounds").iterdir())
    training = split_backgrounds(sources["backgrounds"], 15, holdout=False)
    assert 0 < len(training) < 16 and [path.stem for path in backgrounds] == [path.stem for path in training]
    assert split_backgrounds(packed / "backgrounds", 15, holdout=False) == backgrounds  # all of them again
    manifest = json.loads((packed / "pack.json").read_text())
    assert [entry["name"] for entry in manifest["sets"]] == ["busts", "figures"] and manifest["size"] == SIZE


def test_short_side_never_enlarges():
    assert short_side_size(800, 600, 256) == (256, 341)
    assert short_side_size(100, 150, 256) == (150, 100)


def test_pack_refuses_more_than_the_cap_and_writes_nothing(sources, tmp_path):
    out = tmp_path / "pack"
    with pytest.raises(PackError, match=r"MiB over the 0.01 MiB cap") as error:
        pack(out, [sources["busts"]], sources["backgrounds"], size=SIZE, cap_bytes=int(0.01 * MIB), progress=False)
    assert "busts photos" in str(error.value)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_pack_names_an_unreadable_file_and_keeps_an_existing_pack(sources, packed, tmp_path):
    broken = tmp_path / "broken"
    make_dataset(broken, n=12, seed=3)
    stem = next(pair.stem for pair in find_pairs(broken, "train") if not in_holdout(pair.stem, HOLDOUT_PERCENT))
    (broken / "train" / "mask" / f"{stem}.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=f"{stem}.png"):
        pack(tmp_path / "out", [broken], size=SIZE, progress=False)
    assert not (tmp_path / "out").exists()
    with pytest.raises(PackError, match="already exists"):
        pack(packed, [broken], size=SIZE, progress=False)
    assert (packed / "busts").is_dir()  # untouched


def test_overwrite_replaces_only_a_pack(sources, tmp_path):
    data = tmp_path / "DATA"  # mmnet pack DATA --dataset-path DATA/set1 --overwrite: a slip that deleted DATA
    shutil.copytree(sources["busts"], data / "set1")
    (data / "README").write_text("mine")
    with pytest.raises(PackError, match=f"{data}: holds the input {data / 'set1'}"):
        pack(data, [data / "set1"], size=SIZE, overwrite=True, progress=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(PackError, match=f"{other}: not a pack made by mmnet pack"):
        pack(other, [sources["busts"]], size=SIZE, overwrite=True, progress=False)
    assert (data / "README").read_text() == "mine" and (other / "notes.txt").read_text() == "mine"
    assert len(list((data / "set1" / "train" / "image").iterdir())) == 30
    out = tmp_path / "pack"
    pack(out, [sources["busts"]], size=SIZE, progress=False)
    pack(out, [sources["figures"]], size=SIZE, overwrite=True, progress=False)  # a pack: replaced
    assert (out / "figures").is_dir() and not (out / "busts").exists()
    (out / "mine.txt").write_text("mine")  # a file of the user's put into it: no longer only a pack
    with pytest.raises(PackError, match="not a pack made by mmnet pack"):
        pack(out, [sources["busts"]], size=SIZE, overwrite=True, progress=False)
    assert (out / "mine.txt").is_file()


def test_gpu_presets_are_the_scenes_recipe_with_large_batches():
    chain = ["scenes_128", "scenes_256", "scenes_256_freeze_bn", "scenes_128_from_256", "scenes_128_freeze_bn"]
    scaled = {"batch_size", "learning_rate", "warmup_steps", "max_steps", "checkpoint_every", "log_every"}
    images = 0
    for name in chain:
        cpu, gpu = PRESETS[name], PRESETS[f"gpu_{name}"]
        assert {k: v for k, v in gpu.items() if k not in scaled} == {k: v for k, v in cpu.items() if k not in scaled}
        assert gpu["batch_size"] == 256 and gpu["learning_rate"] > cpu["learning_rate"]
        images += gpu["max_steps"] * gpu["batch_size"]
    assert images <= 3000 * 7 * 60  # at 3,000 images/s, 7 minutes of steps (the rest: start-up)


def test_uint8_batches_round_trip():
    from mmnet.training.loader import collate_uint8, to_device
    rng = np.random.default_rng(0)
    batch = [(rng.random((3, 8, 8), np.float32), rng.random((1, 8, 8), np.float32)) for _ in range(4)]
    images, alphas = to_device(collate_uint8(batch), torch.device("cpu"), torch.channels_last)
    assert images.dtype == torch.float32 and images.is_contiguous(memory_format=torch.channels_last)
    assert (images - torch.from_numpy(np.stack([b[0] for b in batch]))).abs().max() <= 0.5 / 255 + 1e-6
    assert (alphas - torch.from_numpy(np.stack([b[1] for b in batch]))).abs().max() <= 0.5 / 255 + 1e-6


def test_sync_free_ema_equals_averaged_model():
    from mmnet.models import create
    from mmnet.training.trainer import ema_update

    @torch.no_grad()
    def warmup_ema(averaged: list[torch.Tensor], current: list[torch.Tensor], count) -> None:
        """AveragedModel's own path with the trainer's decay, min(0.99, (1 + n) / (10 + n))."""
        weight = 1.0 - min(0.99, (1.0 + float(count)) / (10.0 + float(count)))
        for a, c in zip(averaged, current):
            a.lerp_(c, weight) if a.is_floating_point() else a.copy_(c)

    torch.manual_seed(0)
    model = create("mmnet", width_multiplier=0.5)
    reference, ours = (torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=warmup_ema, use_buffers=True)
                       for _ in range(2))
    for _ in range(4):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        model.train()(torch.rand(2, 3, 32, 32))  # moves the batch-norm statistics
        reference.update_parameters(model)
        ema_update(ours, model, 0.99)
    for (name, a), b in zip(reference.module.state_dict().items(), ours.module.state_dict().values()):
        assert torch.equal(a, b), name
    assert int(ours.n_averaged) == int(reference.n_averaged) == 4


@pytest.mark.slow
def test_bf16_autocast_trains_on_the_cpu_when_asked(sources, tmp_path):
    from mmnet.training.trainer import TrainConfig, train
    train(TrainConfig(dataset_path=str(sources["busts"]), train_dir=str(tmp_path), width_multiplier=0.5, size=32,
                      batch_size=4, max_steps=2, log_every=1, num_workers=0, threads=1, device="cpu", amp=True))
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert len(rows) == 3 and all(np.isfinite(float(row.split(",")[3])) for row in rows[1:])


@pytest.mark.slow
def test_train_gpu_script_trains_the_chain_from_a_pack_on_the_cpu(packed, tmp_path, monkeypatch):
    """scripts/train_gpu.sh, shrunk, RECIPE=scenes: every gpu_scenes_* stage, from the shipped weights, on the
    pack's sets."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the foreground cache
    monkeypatch.setenv("RECIPE", "scenes")
    out = tmp_path / "out"
    result = run_script("train_gpu.sh", str(packed), str(out), "--", "--max-steps", "1", "--batch-size", "2",
                        "--size", "32", "--device", "cpu", "--num-workers", "0", "--threads", "1")
    assert result.returncode == 0, result.stderr
    stages = sorted(str(path.relative_to(out)) for path in out.glob("*/*-gpu_scenes_*"))
    assert stages == ["a/1-gpu_scenes_128", "a/2-gpu_scenes_256", "b/1-gpu_scenes_128_from_256",
                      "b/2-gpu_scenes_128_freeze_bn", "c/1-gpu_scenes_256_freeze_bn"]
    first, second, frozen_128, frozen_256 = (
        torch.load(out / stage / "checkpoint-00000001.pt", weights_only=True)["config"]
        for stage in (stages[0], stages[1], stages[3], stages[4]))
    assert first["init_from"].endswith("mmnet/weights/mmnet-1.0-256.pt")
    assert first["dataset_path"] == str(packed / "busts") and first["add_datasets"] == [str(packed / "figures")]
    assert first["backgrounds"] == str(packed / "backgrounds") and first["composite_scene"] == 0.5
    assert second["init_from"] == str(out / stages[0]) and second["size"] == 32
    assert frozen_128["freeze_bn"] and frozen_128["init_from"] == str(out / stages[2])
    assert frozen_256["freeze_bn"] and frozen_256["batch_size"] == 2 and frozen_256["init_from"] == str(out / stages[1])
    assert result.stdout.count("done after") == 3


@pytest.mark.slow
def test_train_gpu_script_trains_the_real_photos_recipe_by_default(packed, tmp_path):
    """scripts/train_gpu.sh, shrunk: gpu_real_256 from the shipped weights on every set of the pack as they are,
    then gpu_real_128_from_256 from it."""
    out = tmp_path / "out"
    result = run_script("train_gpu.sh", str(packed), str(out), "--", "--max-steps", "1", "--batch-size", "2",
                        "--size", "32", "--device", "cpu", "--num-workers", "0", "--threads", "1")
    assert result.returncode == 0, result.stderr
    stages = sorted(str(path.relative_to(out)) for path in out.glob("*/*-gpu_*"))
    assert stages == ["a/1-gpu_real_256", "b/1-gpu_real_128_from_256"]
    first, second = (torch.load(out / stage / "checkpoint-00000001.pt", weights_only=True)["config"]
                     for stage in stages)
    assert first["init_from"].endswith("mmnet/weights/mmnet-1.0-256.pt") and first["composite"] == 0
    assert first["dataset_path"] == str(packed / "busts") and first["add_datasets"] == [str(packed / "figures")]
    assert first["mosaic"] > 0 and second["init_from"] == str(out / stages[0])
    assert result.stdout.count("done after") == 2


@pytest.mark.slow
def test_train_gpu_remote_trains_from_a_carried_tarball_and_collects_the_checkpoints(packed, tmp_path, monkeypatch):
    """scripts/train_gpu_remote.sh, shrunk: the pack as one .tgz, no wheels; each stage's last checkpoint,
    the logs and train.log land in OUT."""
    carry, out = tmp_path / "carry", tmp_path / "out"
    (carry / "whl").mkdir(parents=True), out.mkdir()
    with tarfile.open(carry / "pack.tgz", "w:gz") as tar:
        tar.add(packed, arcname="pack")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OUT", str(out)), monkeypatch.setenv("RUN", str(tmp_path / "run"))
    result = run_script("train_gpu_remote.sh", str(carry), "300", "--", "--max-steps", "1", "--batch-size", "2",
                        "--size", "32", "--device", "cpu", "--num-workers", "0", "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in out.glob("*.pt")) == [
        "a1-00000001.pt", "b1-00000001.pt"]
    assert "train_gpu.sh exit 0" in (out / "train.log").read_text()
    with tarfile.open(out / "logs.tgz") as tar:
        assert "a/1-gpu_real_256/log.csv" in tar.getnames()


@pytest.mark.parametrize("bad", ["flat mattes", "backgrounds"])
def test_pack_checks_every_input_before_packing_any(sources, tmp_path, monkeypatch, bad):
    """A bad last input (a flat folder of mattes, as `mmnet prepare-alpha` without --split writes; backgrounds
    that are not there) is refused before the first set is encoded."""
    import mmnet.data.pack as packing
    encoded = []
    monkeypatch.setattr(packing, "_pack_pair", lambda *args: encoded.append(args) or [])
    flat = tmp_path / "mattes"
    flat.mkdir()
    (flat / "0001.png").write_bytes(b"")
    sets, backgrounds = ([sources["busts"], flat], None) if bad == "flat mattes" else \
        ([sources["busts"]], tmp_path / "nowhere")
    with pytest.raises((PackError, ValueError, FileNotFoundError)):
        pack(tmp_path / "pack", sets, backgrounds, size=SIZE, progress=False)
    assert encoded == [] and not (tmp_path / "pack").exists()


def test_train_gpu_remote_with_a_relative_out_keeps_the_logs(tmp_path):
    """OUT=out (relative): the checkpoints, train.log and logs.tgz land in ./out, not lost inside RUN."""
    import subprocess
    import sys
    carry, run = tmp_path / "carry", tmp_path / "run"
    (carry / "pack").mkdir(parents=True)  # no pack.json: train_gpu.sh stops at once, what RUN holds is collected
    stage = run / "a" / "1-gpu_scenes_128"
    stage.mkdir(parents=True)
    for name in ("log.csv", "finished", "checkpoint-00000002.pt"):
        (stage / name).write_text(name)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "OUT": "out", "RUN": str(run),
           "HOME": str(tmp_path)}
    script = Path(__file__).resolve().parents[1] / "scripts" / "train_gpu_remote.sh"
    result = subprocess.run(["bash", str(script), str(carry), "60"], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert (out / "a1-00000002.pt").is_file() and "train_gpu.sh exit 2" in (out / "train.log").read_text()
    with tarfile.open(out / "logs.tgz") as tar:
        assert sorted(tar.getnames()) == ["a/1-gpu_scenes_128/finished", "a/1-gpu_scenes_128/log.csv"]
