"""`mmnet matte` on videos: every output kind (composite and alpha mp4, PNG sequence, VP9 WebM and ProRes
4444 with alpha), the frame count, timestamps and audio kept, bad videos named while the good ones are
done, no temporary files left, and the temporal smoothing."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import FRAMES, HEIGHT, RATE, SIZE, WIDTH, make_clip, matte
from mmnet.data.synthetic import synthetic_pair
from mmnet.files import TEMP_SUFFIX
from mmnet.runtime.smoothing import Smoother
from mmnet.runtime.videoio import is_video
from mmnet.runtime.videowriters import rgb_to_yuv420p

av = pytest.importorskip("av")

@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4")


@pytest.fixture(scope="module")
def reference(model_path, clip, tmp_path_factory) -> list[np.ndarray]:
    """The alpha of each frame, from the PNG sequence with alpha."""
    out = tmp_path_factory.mktemp("sequence") / "frames"
    assert matte(model_path, str(clip), "-o", str(out), "--format", "rgba") == 0
    assert sorted(p.name for p in out.iterdir()) == [f"{i:06d}.png" for i in range(FRAMES)]
    rgba = [cv2.imread(str(out / f"{i:06d}.png"), cv2.IMREAD_UNCHANGED) for i in range(FRAMES)]
    assert all(image.shape == (HEIGHT, WIDTH, 4) for image in rgba)
    return [image[..., 3] for image in rgba]


def streams(path: Path) -> dict:
    """What a decoder sees in a video file: codecs, pixel format, rate, time base, frame timestamps, audio."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        found = {"codec": video.codec_context.name, "pix_fmt": video.codec_context.pix_fmt,
                 "rate": video.average_rate, "time_base": video.time_base,
                 "pts": [frame.pts for frame in container.decode(video=0)]}
    with av.open(str(path)) as container:
        audio = container.streams.audio
        found["audio"] = audio[0].codec_context.name if audio else None
        found["seconds of audio"] = sum(frame.samples / frame.sample_rate for frame in container.decode(audio=0)) \
            if audio else 0.0
    return found


def no_temporaries(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(TEMP_SUFFIX)]


def close(alphas: list[np.ndarray], reference: list[np.ndarray], levels: float) -> bool:
    return len(alphas) == len(reference) and all(
        np.abs(a.astype(int) - r).mean() < levels for a, r in zip(alphas, reference))


def test_composite_mp4_keeps_frames_timestamps_and_audio(model_path, clip, tmp_path, capsys):
    out = tmp_path / "new" / "composite.mp4"
    assert matte(model_path, str(clip), "-o", str(out), "--format", "composite", "--background", "#00ff00") == 0
    source, made = streams(clip), streams(out)
    assert made["codec"] == "h264" and made["pix_fmt"] == "yuv420p"
    assert len(made["pts"]) == FRAMES == len(source["pts"])
    assert made["pts"] == source["pts"] and made["rate"] == source["rate"] == RATE
    assert made["audio"] == "aac" and made["seconds of audio"] == pytest.approx(source["seconds of audio"], abs=0.03)
    assert "videos: done 1, skipped 0, failed 0" in capsys.readouterr().err
    assert no_temporaries(tmp_path)


def test_alpha_mp4_is_the_matte_in_grey(model_path, clip, reference, tmp_path):
    out = tmp_path / "alpha.mp4"
    assert matte(model_path, str(clip), "-o", str(out), "--format", "alpha") == 0
    with av.open(str(out)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert np.abs(frames[0][..., 0].astype(int) - frames[0][..., 2]).max() <= 2  # grey: no colour
    assert close([frame[..., 1] for frame in frames], reference, levels=3)


def test_png_sequence_has_a_real_alpha(reference):
    assert all(alpha.std() > 5 for alpha in reference)  # a matte, not a constant plane
    assert len({alpha.tobytes() for alpha in reference}) > 1  # follows the sliding portrait


def test_webm_carries_vp9_alpha(model_path, clip, reference, tmp_path):
    out = tmp_path / "cutout.webm"
    assert matte(model_path, str(clip), "-o", str(out), "--format", "rgba") == 0
    made = streams(out)
    assert made["codec"] == "vp9" and len(made["pts"]) == FRAMES
    assert made["audio"] == "opus" and made["seconds of audio"] == pytest.approx(FRAMES / RATE, abs=0.05)
    with av.open(str(out)) as container:  # FFmpeg's own vp9 decoder drops the alpha: libvpx reads it
        decoder = av.CodecContext.create("libvpx-vp9", "r")
        frames = [frame for packet in container.demux(video=0) for frame in decoder.decode(packet)]
    assert frames[0].format.name == "yuva420p"
    assert close([frame.to_ndarray(format="rgba")[..., 3] for frame in frames], reference, levels=3)


def test_mov_is_prores_4444_with_alpha(model_path, clip, reference, tmp_path):
    out = tmp_path / "cutout.mov"
    assert matte(model_path, str(clip), "-o", str(out), "--format", "rgba") == 0
    made = streams(out)
    assert made["codec"] == "prores" and made["pix_fmt"].startswith("yuva444p")
    assert made["pts"] == streams(clip)["pts"] and made["audio"] == "aac"
    with av.open(str(out)) as container:
        alphas = [frame.to_ndarray(format="rgba")[..., 3] for frame in container.decode(video=0)]
    assert close(alphas, reference, levels=1.5)


def test_rgba_into_mp4_is_refused(model_path, clip, tmp_path, capsys):
    assert matte(model_path, str(clip), "-o", str(tmp_path / "x.mp4"), "--format", "rgba") == 1
    assert "has no alpha channel" in capsys.readouterr().err and not list(tmp_path.iterdir())


def test_bad_videos_are_named_and_the_good_ones_done(model_path, clip, tmp_path):
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    (tmp_path / "truncated.mov").write_bytes(clip.read_bytes()[:2000])
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "mmnet.cli", "matte", str(tmp_path / "corrupt.mp4"), str(clip),
                             str(tmp_path / "truncated.mov"), str(tmp_path / "missing.mkv"), "-o", str(out),
                             "--model", str(model_path), "--size", str(SIZE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    for name in ("corrupt.mp4", "truncated.mov", "missing.mkv: file does not exist"):
        assert name in result.stderr, name
    assert "videos: done 1, skipped 0, failed 3" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["clip.mp4"] and len(streams(out / "clip.mp4")["pts"]) == FRAMES
    assert no_temporaries(tmp_path)


def test_unwritable_output_is_named(model_path, clip, tmp_path, capsys):
    (tmp_path / "taken").write_text("a file where a folder should be")
    assert matte(model_path, str(clip), "-o", str(tmp_path / "taken" / "out.webm")) == 1
    assert "taken/out.webm: cannot write" in capsys.readouterr().err
    assert no_temporaries(tmp_path)


def test_photos_and_videos_together(model_path, clip, tmp_path, capsys):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), synthetic_pair(np.random.default_rng(1), 80, 60)[0])
    out = tmp_path / "out"
    assert matte(model_path, str(photo), str(clip), "-o", str(out)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["clip.mp4", "photo.png"]
    assert matte(model_path, str(photo), str(clip), "-o", str(out)) == 0  # done before: skipped
    assert "videos: done 0, skipped 1" in capsys.readouterr().err


def test_photos_and_videos_share_one_model(model_path, clip, tmp_path, monkeypatch):
    """`mmnet matte PHOTO VIDEO` loads the model once: counted where every `mmnet.load` opens a backend."""
    import mmnet.runtime.model
    opened = []
    open_backend = mmnet.runtime.model.open_backend
    monkeypatch.setattr(mmnet.runtime.model, "open_backend",
                        lambda *args, **kwargs: opened.append(args[0]) or open_backend(*args, **kwargs))
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), synthetic_pair(np.random.default_rng(1), 80, 60)[0])
    out = tmp_path / "out"
    assert matte(model_path, str(photo), str(clip), "-o", str(out)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["clip.mp4", "photo.png"]
    assert len(opened) == 1


def test_videos_are_recognised_by_extension_or_content(clip, tmp_path):
    (tmp_path / "clip.dat").write_bytes(clip.read_bytes())
    (tmp_path / "notes.txt").write_text("no video here\n")
    assert is_video(str(clip)) and is_video(str(tmp_path / "clip.dat")) and is_video("not-there.webm")
    assert not is_video(str(tmp_path / "notes.txt")) and not is_video("photo.jpg") and not is_video("-")


def test_image_matting_does_not_import_pyav():
    code = "import sys, mmnet.runtime.matte, mmnet.runtime.video; assert 'av' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_smoothing_calms_a_still_picture_and_follows_a_move():
    rng = np.random.default_rng(0)
    picture = np.zeros((32, 32, 3), np.uint8)
    truth = np.zeros((32, 32), np.float32)
    truth[:, :16] = 1
    smoother, raw, smoothed = Smoother(0.8), [], []
    for _ in range(20):  # the picture holds still, the network's alpha flickers by up to ±0.4 at the edge
        alpha = truth.copy()
        alpha[:, 15:17] = rng.uniform(0.1, 0.9, (32, 2))
        raw.append(alpha)
        smoothed.append(smoother(alpha, picture))
    flicker = [np.abs(np.diff(np.stack(x), axis=0)).mean() for x in (raw, smoothed)]
    assert flicker[1] < 0.5 * flicker[0]
    moved_picture, moved = picture.copy(), np.zeros_like(truth)
    moved_picture[:, :24] = 255  # the person steps right: picture and alpha change together
    moved[:, :24] = 1
    np.testing.assert_allclose(smoother(moved, moved_picture)[:, 18:24], 1.0)  # no ghost of the old edge
    assert Smoother(0.0)(raw[0], picture) is raw[0]


def test_rgb_to_yuv420p_is_swscales_bt709():
    """The encoder's input made by OpenCV: within a level of swscale's limited-range BT.709 in luma; in chroma,
    which each averages over its own footprint, a few levels at the synthetic picture's sharp edges (2 at most on
    an EG1800 photo); the range's ends where they belong."""
    rgb = cv2.resize(synthetic_pair(np.random.default_rng(3), 240, 180)[0], (320, 180))
    swscale = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG").to_ndarray()
    ours = rgb_to_yuv420p(rgb)
    assert ours.shape == swscale.shape == (270, 320) and ours.dtype == np.uint8
    difference = np.abs(ours.astype(int) - swscale.astype(int))
    assert difference[:180].max() <= 1 and difference[180:].max() <= 6 and difference[180:].mean() < 1
    greys = np.repeat(np.array([[0, 0, 255, 255, 128, 128]] * 2, np.uint8)[..., None], 3, axis=2)
    luma = round(16 + 219 * 128 / 255)
    assert rgb_to_yuv420p(greys).tolist() == [[16, 16, 235, 235, luma, luma]] * 2 + [[128] * 6]
