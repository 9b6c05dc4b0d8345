"""What a user sees when something is missing or wrong at the command line: which extra to install, which size
would do, every dataset problem at once; never a traceback."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmnet.data.dataset import DatasetError, MattingDataset
from mmnet.data.synthetic import make_dataset

ROOT = Path(__file__).resolve().parents[1]
# Runs the command line in a fresh interpreter where the given modules cannot be imported, as on an install
# without their extra (a None entry in sys.modules makes `import name` raise ModuleNotFoundError).
WITHOUT = ("import sys\n"
           "for name in sys.argv[1].split(','):\n"
           "    sys.modules[name] = None\n"
           "from mmnet.cli import main\n"
           "sys.exit(main(sys.argv[2:]))\n")


def run_without(modules: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT, modules, *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def assert_says_extra(result: subprocess.CompletedProcess, extra: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert f"pip install 'mmnet[{extra}]'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("args", [
    ("train", "--dataset-path", "DATA", "--train-dir", "RUN", "--max-steps", "1"),
    ("info", "--size", "256"),
    ("evaluate", "--dataset-path", "DATA", "--checkpoint-path", "RUN"),
    ("export", "mmnet-1.0-256", "-o", "model.onnx"),
    ("bench", "--quick", "-o", "bench"),
])
def test_verbs_that_need_torch_name_the_train_extra(args, tmp_path):
    result = run_without("torch", *args, cwd=tmp_path)
    assert_says_extra(result, "train")
    assert "torch" in result.stderr
    assert not (tmp_path / "bench").exists() and not (tmp_path / "model.onnx").exists()


def test_plot_without_matplotlib_names_the_train_extra(tmp_path):
    (tmp_path / "log.csv").write_text("step,loss\n1,0.5\n")
    assert_says_extra(run_without("matplotlib", "plot", str(tmp_path)), "train")


def test_prepare_alpha_without_pymatting_names_the_train_extra(tmp_path):
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), np.zeros((8, 8), np.uint8))
    result = run_without("pymatting", "prepare-alpha", str(tmp_path / "images"), str(tmp_path / "masks"),
                         str(tmp_path / "out"))
    assert_says_extra(result, "train")


@pytest.mark.parametrize("module", ["starlette", "uvicorn"])
def test_serve_without_its_extra_names_it(module):
    assert_says_extra(run_without(module, "serve", "--api-only", "--port", "1"), "serve")


def test_video_without_pyav_names_the_video_extra(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00" * 64)  # never opened: PyAV is missing before that
    result = run_without("av", "matte", str(clip), "-o", str(tmp_path / "out.mp4"))
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert "pip install 'mmnet[video]'" in result.stderr, result.stderr
    assert run_without("av", "demo", str(clip), "-o", str(tmp_path / "demo.mp4")).returncode != 0


def test_an_unknown_missing_module_is_still_a_traceback():
    """Only the modules an extra installs get the hint; a missing part of mmnet itself is a bug to show."""
    result = run_without("mmnet.models.complexity", "info")
    assert result.returncode == 1 and "Traceback" in result.stderr and "pip install" not in result.stderr


@pytest.mark.parametrize("verb", ["train", "info", "evaluate", "export", "matte"])
@pytest.mark.parametrize("size", ["250", "0", "-16", "big"])
def test_every_size_is_checked_where_it_enters(verb, size, tmp_path):
    args = {"train": ["--dataset-path", "d", "--train-dir", "t", "--max-steps", "1"], "info": [],
            "evaluate": ["--dataset-path", "d", "--checkpoint-path", "c"], "export": ["m", "-o", "x.onnx"],
            "matte": ["photo.jpg"]}[verb]
    result = subprocess.run([sys.executable, "-m", "mmnet.cli", verb, *args, "--size", size], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "argument --size" in result.stderr and "Traceback" not in result.stderr
    assert ("multiple of 16" in result.stderr) != (size == "big")
    if size == "250":
        assert "240 or 256" in result.stderr


def test_info_takes_a_multiple_of_16():
    result = subprocess.run([sys.executable, "-m", "mmnet.cli", "info", "--size", "144"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "at 144x144" in result.stdout, result.stderr


def test_dataset_reports_orphans_and_size_mismatches_in_one_error(tmp_path):
    split = make_dataset(tmp_path, n=6)
    (split / "mask" / "synth_00001.png").unlink()                       # an image without its mask
    cv2.imwrite(str(split / "mask" / "extra.png"), np.zeros((8, 8), np.uint8))   # a mask without its image
    cv2.imwrite(str(split / "mask" / "synth_00003.png"), np.zeros((40, 30), np.uint8))  # the wrong size
    (split / "image" / "synth_00004.jpg").write_bytes(b"no jpeg")      # undecodable
    with pytest.raises(DatasetError) as caught:
        MattingDataset(tmp_path, "train", 64, progress=False)
    message = str(caught.value)
    assert "no mask for these images (1): synth_00001.jpg" in message
    assert "no image for these masks (1): extra.png" in message
    assert "synth_00003" in message and "30×40" in message
    assert "synth_00004.jpg" in message


def test_train_reports_every_dataset_problem_in_one_run(tmp_path):
    split = make_dataset(tmp_path, n=4)
    (split / "mask" / "synth_00001.png").unlink()
    cv2.imwrite(str(split / "mask" / "synth_00002.png"), np.zeros((40, 30), np.uint8))
    result = subprocess.run([sys.executable, "-m", "mmnet.cli", "train", "--dataset-path", str(tmp_path),
                             "--train-dir", str(tmp_path / "run"), "--max-steps", "1", "--size", "64"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert "synth_00001" in result.stderr and "no mask" in result.stderr
    assert "synth_00002" in result.stderr and "30×40" in result.stderr
    assert "Traceback" not in result.stderr
