"""`mmnet matte` as a user runs it: every kind of INPUT and every format, skipping and overwriting, bad
photos and outputs named while the good ones are done, no temporary files left, and --watch."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from helpers import SIZE, matte, outputs, read, run, wait_for
from mmnet.files import TEMP_SUFFIX
from mmnet.runtime import compose
from mmnet.runtime.model import load


def no_temporaries(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(TEMP_SUFFIX)]


def test_single_image_to_a_named_file(model_path, photos, tmp_path, capsys):
    target = tmp_path / "new" / "one.png"
    code = matte(model_path, str(photos / "synth_00000.jpg"), "-o", str(target))
    assert code == 0
    alpha = read(target)
    expected = compose.to_uint8(load(model_path, size=SIZE).predict(photos / "synth_00000.jpg"))
    np.testing.assert_array_equal(alpha, expected)
    assert "done 1, skipped 0, failed 0" in capsys.readouterr().err


def test_folder_recursive_keeps_relative_paths(model_path, photos, tmp_path, capsys):
    code = matte(model_path, str(photos), "-o", str(tmp_path / "out"))
    assert code == 0
    assert outputs(tmp_path / "out") == ["sub/deeper/synth_00004.png", "sub/deeper/synth_00005.png",
                                         "synth_00000.png", "synth_00001.png", "synth_00002.png", "synth_00003.png"]
    assert read(tmp_path / "out" / "sub" / "deeper" / "synth_00004.png").shape == (160, 120)
    assert "done 6, skipped 0, failed 0" in capsys.readouterr().err and no_temporaries(tmp_path / "out")


def test_globs(model_path, photos, tmp_path):
    matte(model_path, str(photos / "*.jpg"), "-o", str(tmp_path / "flat"))
    assert outputs(tmp_path / "flat") == [f"synth_0000{i}.png" for i in range(4)]
    matte(model_path, str(photos / "**" / "*04.jpg"), "-o", str(tmp_path / "deep"))
    assert outputs(tmp_path / "deep") == ["sub/deeper/synth_00004.png"]


def test_stdin_to_stdout(model_path, photos):
    result = run(model_path, "-", "--format", "rgba", stdin=(photos / "synth_00001.jpg").read_bytes())
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.startswith(b"\x89PNG")
    rgba = cv2.imdecode(np.frombuffer(result.stdout, np.uint8), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (160, 120, 4)


def test_every_format(model_path, photos, tmp_path):
    photo = str(photos / "synth_00002.jpg")
    made = {}
    for name, args, shape in (("alpha", [], (160, 120)), ("rgba", [], (160, 120, 4)),
                              ("colour", ["--background", "#00ff00"], (160, 120, 3)),
                              ("blur", ["--background", "blur"], (160, 120, 3)),
                              ("image", ["--background", photo], (160, 120, 3)),
                              ("mask", ["--threshold", "0.5"], (160, 120))):
        format = name if name in ("alpha", "rgba", "mask") else "composite"
        target = tmp_path / f"{name}.png"
        assert matte(model_path, photo, "-o", str(target), "--format", format, *args) == 0
        made[name] = read(target)
        assert made[name].shape == shape, name
    np.testing.assert_array_equal(made["rgba"][..., 3], made["alpha"])
    assert set(np.unique(made["mask"])) <= {0, 255}
    np.testing.assert_array_equal(made["mask"] == 255, made["alpha"] > 127.5)


def test_background_needs_composite_and_must_exist(model_path, photos, tmp_path, capsys):
    assert matte(model_path, str(photos), "-o", str(tmp_path), "--background", "white") == 1
    assert "--background goes with --format composite" in capsys.readouterr().err
    assert matte(model_path, str(photos), "-o", str(tmp_path), "--format", "composite",
                 "--background", "nowhere.jpg") == 1
    assert "nowhere.jpg" in capsys.readouterr().err


def test_existing_outputs_are_skipped_unless_overwrite(model_path, photos, tmp_path, capsys):
    out = tmp_path / "out"
    matte(model_path, str(photos / "*.jpg"), "-o", str(out))
    capsys.readouterr()
    stale = out / "synth_00000.png"
    stale.write_bytes(b"old")  # not made by mmnet: named, and kept
    matte(model_path, str(photos / "*.jpg"), "-o", str(out))
    err = capsys.readouterr().err
    assert "done 0, skipped 3, failed 1" in err and f"{stale}: exists and was not made by mmnet" in err
    assert stale.read_bytes() == b"old"
    matte(model_path, str(photos / "*.jpg"), "-o", str(out), "--overwrite")
    assert "done 4, skipped 0, failed 0" in capsys.readouterr().err and read(stale).shape == (160, 120)


def test_bad_inputs_are_named_and_the_good_ones_done(model_path, photos, tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(photos, folder)
    good = (folder / "synth_00001.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (folder / "notes.jpg").write_text("this is no photo")
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").write_text("a file where the sub/ folder should go")  # sub/... cannot be written
    result = run(model_path, str(folder), str(tmp_path / "missing.jpg"), "-o", str(out))
    err = result.stderr.decode()
    assert result.returncode == 1
    for name in ("truncated.jpg", "notes.jpg", "missing.jpg", "synth_00004.png", "synth_00005.png"):
        assert name in err, name
    assert "done 4, skipped 0, failed 5" in err
    assert outputs(out) == ["sub"] + [f"synth_0000{i}.png" for i in range(4)]
    assert no_temporaries(out)


def test_missing_model_is_named(photos, tmp_path):
    result = subprocess.run([sys.executable, "-m", "mmnet.cli", "matte", str(photos), "-o", str(tmp_path),
                             "--model", str(tmp_path / "gone.onnx")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "gone.onnx: model file does not exist" in result.stderr
    assert not list(tmp_path.iterdir())


def test_watch_picks_up_new_photos(model_path, photos, tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    shutil.copy(photos / "synth_00000.jpg", inbox / "early.jpg")
    process = subprocess.Popen([sys.executable, "-m", "mmnet.cli", "matte", str(inbox), "-o", str(out), "--watch",
                                "--model", str(model_path), "--size", str(SIZE)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(out / "early.png", process)
        (inbox / "later").mkdir()
        shutil.copy(photos / "synth_00001.jpg", inbox / "later" / "new.jpg")
        assert wait_for(out / "later" / "new.png", process)
    finally:
        process.terminate()  # SIGTERM: stops as Ctrl-C does, with the summary
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err.decode()
    assert "done 2, skipped 0, failed 0" in err.decode()
    assert read(out / "later" / "new.png").shape == (160, 120) and no_temporaries(out)
