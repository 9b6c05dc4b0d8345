"""Photos of odd shapes (1×1, 1×20000, 20000×1) have mattes like any other, and one that still meets a bug is
named at the end while the folder's other photos are done (issue 24, item 8)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from helpers import SIZE, matte, read
from mmnet.runtime import matte as matte_module

ODD = {"dot": (1, 1), "wide": (1, 20000), "tall": (20000, 1), "two": (2, 3)}  # name: (height, width)


@pytest.fixture
def album(photos, tmp_path):
    folder = tmp_path / "album"
    folder.mkdir()
    for index, name in enumerate(sorted(p.name for p in photos.glob("synth_*.jpg"))):
        (folder / f"{index}.jpg").write_bytes((photos / name).read_bytes())
    rng = np.random.default_rng(0)
    for name, shape in ODD.items():
        cv2.imwrite(str(folder / f"{name}.png"), rng.integers(0, 256, (*shape, 3), dtype=np.uint8))
    return folder


@pytest.mark.parametrize("format", ["alpha", "rgba", "composite", "mask"])
def test_odd_shapes_are_matted_with_the_others(model_path, album, tmp_path, capsys, format):
    out = tmp_path / "out"
    extra = ["--background", "blur"] if format == "composite" else []
    assert matte(model_path, str(album), "-o", str(out), "--format", format, *extra) == 0
    assert "failed 0" in capsys.readouterr().err
    for name, shape in ODD.items():
        assert read(out / f"{name}.png").shape[:2] == shape


@pytest.mark.parametrize("refine", [True, False])
def test_the_library_mattes_odd_shapes(model_path, refine):
    from mmnet.runtime.model import load
    model = load(str(model_path), size=SIZE)
    for shape in ODD.values():
        alpha = model.predict(np.full((*shape, 3), 128, np.uint8), refine=refine)
        assert alpha.shape == shape and np.isfinite(alpha).all()


def test_a_photo_that_meets_a_bug_is_named_and_the_others_done(model_path, album, tmp_path, capsys, monkeypatch):
    real = matte_module.encode_image

    def broken_for_the_dot(pixels, *args, **kwargs):
        if pixels.shape[:2] == ODD["dot"]:
            raise ZeroDivisionError("division by zero")
        return real(pixels, *args, **kwargs)

    monkeypatch.setattr(matte_module, "encode_image", broken_for_the_dot)
    out = tmp_path / "out"
    assert matte(model_path, str(album), "-o", str(out)) == 1
    err = capsys.readouterr().err
    assert f"{album / 'dot.png'}: unexpected ZeroDivisionError (division by zero)" in err and "failed 1" in err
    assert len(list(out.glob("*.png"))) == len(list(album.iterdir())) - 1
