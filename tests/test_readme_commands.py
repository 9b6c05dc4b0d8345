"""The README's example commands, and those of docs/training.md, run as written (placeholders filled in, training
shortened), on the dataset that `mmnet synthetic` makes and on photos: every one that does not need ../shared or a
device."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
TRAINING = (ROOT / "docs" / "training.md").read_text()
# What the README's commands take from the user, and the shortened training (the same flags, fewer steps).
SHORTER = {"--max-steps 2000": "--max-steps 2", "--batch-size 32": "--batch-size 4", "--size 256 \\": "--size 64 \\"}
NOT_HERE = ("scripts/", "torchrun", "--format tflite", "--watch", ".mp4", ".webm", "cat photo.jpg", "--readme",
            "../shared", "mmnet serve", "mmnet demo", "mmnet bench", "pip install", "python ")


def readme_commands(section: str, text: str = README) -> list[str]:
    """The `mmnet ...` lines of the bash blocks in a section of the README (or of `text`), continuation lines
    joined, comments cut."""
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", body, re.S):
        for line in re.sub(r"\\\n\s*", "\\ ", block).splitlines():
            command = line.split("  #")[0].strip()
            if command.startswith("mmnet ") and not any(skip in command for skip in NOT_HERE):
                commands.append(command)
    return commands


def run(command: str, cwd: Path, places: dict[str, str]) -> subprocess.CompletedProcess:
    for text, shorter in SHORTER.items():
        command = command.replace(text, shorter)
    command = re.sub(r"\s*\[[^\]]*\]", "", command).replace("\\ ", "")  # optional flags left out
    args = [places.get(word, word) for word in shlex.split(command)]
    return subprocess.run([sys.executable, "-m", "mmnet.cli", *args[1:]], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


@pytest.mark.slow
def test_train_and_evaluate_commands_run_on_the_synthetic_dataset(tmp_path):
    commands = readme_commands("Train and evaluate")
    commands += [command for command in readme_commands("Train and evaluate", TRAINING) if command not in commands]
    names = [command.split()[1] for command in commands]
    assert {"synthetic", "train", "evaluate", "plot", "info", "export", "prepare-alpha"} <= set(names)
    places = {"DATASET": str(tmp_path / "data"), "RUN": str(tmp_path / "run"), "OTHER_RUN": str(tmp_path / "run"),
              "PHOTOS": str(tmp_path / "data" / "test" / "image"), "IMAGES": str(tmp_path / "few" / "image"),
              "MASKS": str(tmp_path / "few" / "mask"), "OUT": str(tmp_path / "alpha")}
    synthetic = next(c for c in commands if c.startswith("mmnet synthetic"))
    result = run(synthetic, tmp_path, places)  # first: the others use its dataset
    assert result.returncode == 0, result.stderr
    result = run("mmnet synthetic DATASET --num 2 --test-num 0", tmp_path, {"DATASET": str(tmp_path / "few")})
    (tmp_path / "few" / "train").rename(tmp_path / "few" / "x")
    places.update(IMAGES=str(tmp_path / "few" / "x" / "image"), MASKS=str(tmp_path / "few" / "x" / "mask"))
    for command in commands:
        if command is synthetic:
            continue
        result = run(command, tmp_path, places)
        assert result.returncode == 0, f"{command}\n{result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr, command
    assert (tmp_path / "run" / "eval" / "test" / "scores.tsv").is_file()
    assert (tmp_path / "model.onnx").is_file() and (tmp_path / "run" / "training.png").is_file()
    assert (tmp_path / "soup.pt").is_file()
    from mmnet.data.dataset import find_pairs
    assert len(find_pairs(tmp_path / "alpha", "train")) == 2  # prepare-alpha --split: a dataset


def test_matte_photo_commands_run(tmp_path):
    import cv2
    import numpy as np

    from mmnet.data.synthetic import synthetic_pair
    commands = readme_commands("Matte photos")
    assert len(commands) >= 5
    photo, _ = synthetic_pair(np.random.default_rng(0), 160, 120)
    for folder in (tmp_path, tmp_path / "photos", tmp_path / "shots"):
        folder.mkdir(exist_ok=True)
        cv2.imwrite(str(folder / "photo.jpg"), photo[..., ::-1])
    for command in commands:
        result = run(command, tmp_path, {})
        assert result.returncode == 0, f"{command}\n{result.stderr[-2000:]}"


def test_the_api_docstring_and_readme_say_rgb():
    import mmnet.runtime.model as model
    assert "RGB" in model.Matting.predict.__doc__ and "BGR" in model.Matting.predict.__doc__
    assert "BGR" in README and "RGB" in README
