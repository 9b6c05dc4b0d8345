"""`mmnet serve`: the HTTP API against a real server process with a real HTTP client, and the live page in
headless Chromium with a fake camera (skipped, saying so, only where Chromium is not installed)."""
from __future__ import annotations

import asyncio
import io
import struct
import tarfile
import zlib
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

import mmnet
from helpers import BOMBS
from mmnet.bench.serve_harness import browser_page, camera_clip, chromium, running_server, wait_for_frames
from mmnet.data.encode import encode_png
from mmnet.data.io import decode_image_bytes, read_image
from mmnet.runtime.backends import choose
from mmnet.runtime.compose import to_uint8
from mmnet.serve import assets

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg"  # 512×512
MODEL = "mmnet-1.0-128"
MAX_MB, MAX_PIXELS = 1, 300_000


@pytest.fixture(scope="module")
def api() -> str:
    with running_server("--api-only", "--model", MODEL, "--workers", "2", "--threads", "1",
                        "--max-upload-mb", str(MAX_MB), "--max-pixels", str(MAX_PIXELS)) as url:
        yield url


@pytest.fixture(scope="module")
def photo() -> bytes:
    return EXAMPLE.read_bytes()


def _post(url: str, files: dict | None = None, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}/api/matte", files=files, timeout=60, **kwargs)


def _png(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED)


# ------------------------------------------------------------------------------------------------ API
@pytest.mark.parametrize("shape", [(1, 1), (1, 20000), (20000, 1)])
def test_odd_shapes_are_matted(api: str, shape: tuple[int, int]) -> None:
    data = encode_png(np.full((*shape, 3), 128, np.uint8))
    assert _png(_post(api, {"file": ("odd.png", data, "image/png")})).shape[:2] == shape


def test_alpha_is_the_models_matte(api: str, photo: bytes) -> None:
    alpha = _png(_post(api, {"file": ("astronaut.jpg", photo, "image/jpeg")}))
    expected = to_uint8(mmnet.load(MODEL, threads=1).predict(read_image(EXAMPLE)))
    assert alpha.shape == expected.shape == (512, 512)
    difference = np.abs(alpha.astype(int) - expected)
    assert difference.max() <= 2 and difference.mean() < 0.1
    assert 20 < alpha.mean() < 235  # a person and a background, not a blank


def test_rgba_carries_the_alpha(api: str, photo: bytes) -> None:
    alpha = _png(_post(api, {"file": ("a.jpg", photo)}))
    rgba = cv2.cvtColor(_png(_post(api, {"file": ("a.jpg", photo)}, params={"output": "rgba"})), cv2.COLOR_BGRA2RGBA)
    assert rgba.shape == (512, 512, 4)
    assert np.array_equal(rgba[..., 3], alpha)


def test_composite_over_a_colour_an_image_and_blur(api: str, photo: bytes) -> None:
    alpha = _png(_post(api, {"file": ("a.jpg", photo)}))
    background = alpha == 0
    assert background.mean() > 0.05
    green = decode_image_bytes(_post(api, {"file": ("a.jpg", photo)},
                                     data={"output": "composite", "background": "#00ff00"}).content, "green")
    assert np.array_equal(green[background], np.broadcast_to([0, 255, 0], green[background].shape))
    wall = np.full((40, 30, 3), (200, 40, 10), np.uint8)  # covers the photo once resized
    walled = decode_image_bytes(_post(api, {"file": ("a.jpg", photo), "background": ("wall.png", encode_png(wall))},
                                      data={"output": "composite"}).content, "walled")
    assert np.abs(walled[background].astype(int) - (200, 40, 10)).max() <= 1
    blurred = decode_image_bytes(_post(api, {"file": ("a.jpg", photo)},
                                       params={"output": "composite", "background": "blur"}).content, "blur")
    original = read_image(EXAMPLE)
    assert blurred.shape == original.shape and not np.array_equal(blurred, original)


def test_every_response_is_cross_origin_isolated(api: str) -> None:
    response = httpx.get(f"{api}/api/models")
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert response.headers["cross-origin-embedder-policy"] == "require-corp"
    body = response.json()
    expected = choose(MODEL)[0].name  # the file that the default backend runs
    assert body["api"] == {"model": expected, "size": 128} and expected.startswith(MODEL)
    assert {m["name"]: m["size"] for m in body["models"]}[MODEL] == 128
    assert httpx.get(f"{api}/").status_code == 404  # --api-only: no page


def test_concurrent_requests_all_answered(api: str, photo: bytes) -> None:
    async def many() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=api, timeout=120) as client:
            return await asyncio.gather(*[client.post("/api/matte", files={"file": ("a.jpg", photo)})
                                          for _ in range(8)])

    responses = asyncio.run(many())
    assert [r.status_code for r in responses] == [200] * 8
    assert len({r.content for r in responses}) == 1


@pytest.mark.parametrize("files, data, params, status, words", [
    ({"file": ("notes.txt", b"just some text", "text/plain")}, None, None, 415, "notes.txt: not a readable image"),
    ({"image": ("a.jpg", b"x")}, None, None, 400, "no field 'file'"),
    (None, {"file": "astronaut.jpg"}, None, 400, "field 'file' is text"),
    ({"file": ("a.jpg", b"")}, None, None, 415, "a.jpg: empty file"),
    ({"file": ("a.jpg", "PHOTO")}, None, {"output": "sepia"}, 400, "output must be one of"),
    ({"file": ("a.jpg", "PHOTO")}, None, {"output": "composite", "background": "/etc/passwd"}, 400,
     "background must be a colour"),
    ({"file": ("a.jpg", "PHOTO")}, {"background": "red"}, None, 400, "background goes with output=composite"),
    ({"file": ("a.jpg", "PHOTO")}, None, {"refine": "maybe"}, 400, "refine must be true or false"),
])
def test_bad_requests_get_a_clear_4xx(api: str, photo: bytes, files, data, params, status, words) -> None:
    if files and files.get("file", (None, None))[1] == "PHOTO":
        files = {"file": ("a.jpg", photo)}
    response = _post(api, files, data=data, params=params)
    assert response.status_code == status
    assert words in response.json()["error"]


def test_a_raw_body_is_told_to_use_multipart(api: str, photo: bytes) -> None:
    response = httpx.post(f"{api}/api/matte", content=photo, headers={"content-type": "image/jpeg"})
    assert response.status_code == 400
    assert "multipart/form-data" in response.json()["error"] and "image/jpeg" in response.json()["error"]


def test_a_truncated_photo_is_named(api: str, photo: bytes) -> None:
    response = _post(api, {"file": ("cut.jpg", photo[: len(photo) // 2])})
    assert response.status_code == 415
    assert "cut.jpg: truncated JPEG" in response.json()["error"]


def test_too_many_bytes(api: str) -> None:
    big = np.random.default_rng(0).integers(0, 255, MAX_MB * 2**20 + 1000, np.uint8).tobytes()
    response = _post(api, {"file": ("big.jpg", big)})
    assert response.status_code == 413 and f"the limit is {MAX_MB} MB" in response.json()["error"]

    def chunks():  # chunked transfer: no Content-Length to check up front
        boundary = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jpg\"\r\n\r\n"
        yield boundary
        for start in range(0, len(big), 65536):
            yield big[start:start + 65536]
        yield b"\r\n--b--\r\n"

    response = httpx.post(f"{api}/api/matte", content=chunks(), timeout=60,
                          headers={"content-type": "multipart/form-data; boundary=b"})
    assert response.status_code == 413 and "over the limit" in response.json()["error"]


def _png_header(width: int, height: int) -> bytes:
    """A PNG that states a size and holds no pixels (what a decompression bomb looks like to a header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + \
        chunk(b"IEND", b"")


def test_too_many_pixels_before_decoding(api: str) -> None:
    # 2000×2000 of one colour: a PNG of a few KB, 4 megapixels once decoded.
    small = encode_png(np.zeros((2000, 2000), np.uint8), compression=9)
    assert len(small) < 100_000
    response = _post(api, {"file": ("wide.png", small)})
    assert response.status_code == 413
    assert "wide.png: 2000×2000 is 4.0 megapixels, over the limit of 0.3" in response.json()["error"]
    for side in (3000, 60000):  # under and over Pillow's own bomb limit
        response = _post(api, {"file": ("bomb.png", _png_header(side, side))})
        assert response.status_code == 413 and "bomb.png: " in response.json()["error"]
    # Formats Pillow cannot read (the report's 16 MB Radiance file decoded 6 GB before its 415).
    for name, data in BOMBS.items():
        response = _post(api, {"file": (name, data)})
        assert response.status_code == 413 and f"{name}: " in response.json()["error"], name


# -------------------------------------------------------------------------------------- browser runtime
def test_assets_refuse_a_tarball_that_is_not_the_pinned_package(tmp_path: Path) -> None:
    fake = tmp_path / "onnxruntime-web.tgz"
    with tarfile.open(fake, "w:gz") as archive:
        data = b"export {}"
        member = tarfile.TarInfo(f"package/dist/{assets.WASM}")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    with pytest.raises(assets.AssetsError, match="not the onnxruntime-web@.* package"):
        assets.check_integrity(fake)


def test_assets_say_how_to_get_them_without_npm(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MMNET_CACHE", str(tmp_path))
    with pytest.raises(assets.AssetsError, match="mmnet serve --setup"):
        assets.ensure(fetch=False)
    monkeypatch.setattr(assets.shutil, "which", lambda name: None)
    with pytest.raises(assets.AssetsError, match="npm is not installed.*--setup onnxruntime-web-.*tgz"):
        assets.ensure()


# ----------------------------------------------------------------------------------------------- page
@pytest.fixture(scope="module")
def page_server() -> str:
    if chromium() is None:
        pytest.skip("the page test needs Chromium: apt-get install chromium (Debian; .ci/run installs it)")
    with running_server("--model", MODEL, "--workers", "1", timeout=600) as url:  # fetches onnxruntime-web once
        yield url


@pytest.mark.slow
@pytest.mark.network
def test_page_mattes_the_camera_live(page_server: str, tmp_path: Path) -> None:
    clip = camera_clip(tmp_path / "camera.y4m", read_image(EXAMPLE), frames=30)
    with browser_page(clip) as page:
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(f"{page_server}/?model={MODEL}&ep=wasm")
        stats = wait_for_frames(page, 8)
        assert stats["model"] == MODEL and stats["size"] == 128 and stats["ep"] == "wasm"
        assert stats["crossOriginIsolated"] and stats["threads"] >= 1
        assert stats["fps"] > 0 and stats["inferMs"] > 0
        assert (stats["width"], stats["height"]) == (480, 640)
        assert 0.03 < stats["alphaMean"] < 0.97  # a person and a background: neither empty nor everything
        assert "fps" in page.inner_text("#hud")

        # a photo as the source: the page's matte agrees with the Python runtime's on the same ONNX file. The
        # photo is already S×S, so that neither side resamples it (the browser's resampling differs from
        # OpenCV's: on the 512² example the two mattes' means differed by 0.035)
        photo = tmp_path / "astronaut-128.png"
        cv2.imwrite(str(photo), cv2.resize(cv2.imread(str(EXAMPLE)), (128, 128), interpolation=cv2.INTER_AREA))
        page.set_input_files("#clip", str(photo))
        page.wait_for_function("() => window.mmnetStats.width === 128", timeout=60_000)
        frames = page.evaluate("() => window.mmnetStats.frames")
        page.wait_for_function(f"() => window.mmnetStats.frames >= {frames + 2}", timeout=60_000)
        model = mmnet.load(MODEL, backend="onnxruntime")
        network_alpha = model.infer(model.network_input(read_image(photo))[None])[0]
        assert abs(page.evaluate("() => window.mmnetStats.alphaMean") - network_alpha.mean()) < 0.01

        # a green background: the canvas turns green where the matte is background
        page.select_option("#background", "colour")
        page.eval_on_selector("#colour", "(el) => { el.value = '#00ff00'; }")
        frames = page.evaluate("() => window.mmnetStats.frames")
        page.wait_for_function(f"() => window.mmnetStats.frames >= {frames + 3}", timeout=60_000)
        green = page.evaluate("""() => {
            const c = document.getElementById('output');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] < 40 && d[i + 1] > 215 && d[i + 2] < 40) n += 1;
            return n / (d.length / 4);
        }""")
        assert 0.05 < green < 0.98

        # another model, chosen on the page
        page.select_option("#model", "mmnet-1.0-256")
        page.wait_for_function("() => window.mmnetStats.model === 'mmnet-1.0-256' && window.mmnetStats.frames >= 2",
                               timeout=120_000)

        # everything came from mmnet serve itself: no CDN
        assert any(url.endswith(".wasm") for url in requested)
        assert [url for url in requested if not url.startswith((page_server, "data:", "blob:"))] == []

        shot = tmp_path / "serve.png"
        page.screenshot(path=str(shot))
        pixels = read_image(shot)
        assert pixels.shape[0] > 300 and pixels.std() > 10


# ----------------------------------------------------------------------- other pages in the user's browser
def test_a_foreign_host_name_is_refused(api: str, photo: bytes) -> None:
    """DNS rebinding: a page's own name resolved to 127.0.0.1 reaches the server with that name as Host."""
    port = api.rsplit(":", 1)[1]
    response = _post(api, {"file": ("a.jpg", photo)}, headers={"host": f"attacker.example:{port}"})
    assert response.status_code == 421 and "--allowed-hosts attacker.example" in response.json()["error"]
    assert httpx.get(f"{api}/api/models", headers={"host": "attacker.example"}).status_code == 421
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "192.168.1.20:8000"):
        assert httpx.get(f"{api}/api/models", headers={"host": host}).status_code == 200, host


def test_a_cross_origin_post_is_refused(api: str, photo: bytes) -> None:
    """A form on another site posting to localhost: the browser sends its Origin."""
    response = _post(api, {"file": ("a.jpg", photo)}, headers={"origin": "https://evil.example"})
    assert response.status_code == 403 and "--cors https://evil.example" in response.json()["error"]
    same = _post(api, {"file": ("a.jpg", photo)}, headers={"origin": api})
    assert same.status_code == 200 and "access-control-allow-origin" not in same.headers


def test_cors_allows_the_named_origin_only(photo: bytes) -> None:
    with running_server("--api-only", "--model", MODEL, "--workers", "1", "--threads", "1",
                        "--cors", "https://app.example", "--allowed-hosts", "matte.lan") as url:
        allowed = _post(url, {"file": ("a.jpg", photo)}, headers={"origin": "https://app.example"})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        preflight = httpx.options(f"{url}/api/matte", headers={"origin": "https://app.example",
                                                              "access-control-request-method": "POST"})
        assert preflight.status_code == 204 and "POST" in preflight.headers["access-control-allow-methods"]
        other = _post(url, {"file": ("a.jpg", photo)}, headers={"origin": "https://evil.example"})
        assert other.status_code == 403
        assert httpx.get(f"{url}/api/models", headers={"host": "matte.lan:80"}).status_code == 200
