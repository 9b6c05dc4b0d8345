"""`mmnet serve`: the live camera page and the HTTP API, one Starlette app run by uvicorn.

- `GET /`: the page (`static/`). It opens the camera and runs a shipped ONNX model in the browser with
  onnxruntime-web (`mmnet.serve.assets`, served under `/ort/`); the models are under `/models/`.
- `GET /api/models`: the shipped models the page can run, with their input side S.
- `POST /api/matte`: multipart/form-data, the image in field `file`; `output` = alpha (default), rgba,
  composite or mask; for composite, `background` = a colour (white, #00ff00, 0,255,0) or blur, or an image
  uploaded in field `background`; `refine` = true/false. Query parameters or form fields alike. A PNG back.

Every response carries the cross-origin isolation headers (COOP/COEP), so that the browser lets
onnxruntime-web use threads (SharedArrayBuffer). Requests are served concurrently: each is decoded, matted,
rendered and encoded in a pool thread (the runtimes and OpenCV release the GIL) with a model instance of its
own (`Models`; a backend's session need not be safe to share), while the event loop stays free.
"""
from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import os
import queue
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from mmnet.data.encode import encode_png
from mmnet.data.io import ImageReadError, ImageTooLarge, decode_image_bytes
from mmnet.manifest import read_manifest
from mmnet.runtime import compose
from mmnet.runtime.model import Matting, load
from mmnet.runtime.render import Render, check_background, check_format, colour_or_blur
from mmnet.runtime.sources import UsageError
from mmnet.runtime.weights import resolve
from mmnet.serve.guard import Guard, adding_headers
from mmnet.serve.limits import MB, Limits

ISOLATION = [(b"cross-origin-opener-policy", b"same-origin"), (b"cross-origin-embedder-policy", b"require-corp"),
             (b"cross-origin-resource-policy", b"same-origin")]
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")

mimetypes.add_type("text/javascript", ".mjs")  # StaticFiles guesses by extension; some systems lack these
mimetypes.add_type("application/wasm", ".wasm")


class Gate:
    """The API requests under way (each holds its upload and its photo), at most `limit`: one more is refused
    with 503 and Retry-After before its body is read. Used from the event loop only."""

    def __init__(self, limit: int) -> None:
        self.limit, self.inside = limit, 0

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        if self.inside >= self.limit:
            raise HTTPException(503, f"busy: {self.limit} requests under way; try again in a moment",
                                headers={"Retry-After": "1"})
        self.inside += 1
        try:
            yield
        finally:
            self.inside -= 1


def static_dir() -> Path:
    return Path(str(resources.files("mmnet.serve") / "static"))


class Models:
    """`count` instances of one model, each used by one thread at a time (`borrow`)."""

    def __init__(self, model: str | Path | None, count: int, threads: int | None) -> None:
        self.free: queue.Queue[Matting] = queue.Queue()
        for _ in range(count):
            self.free.put(load(model, threads=threads))
        self.first = self.free.queue[0]

    @contextlib.contextmanager
    def borrow(self) -> Iterator[Matting]:
        matting = self.free.get()
        try:
            yield matting
        finally:
            self.free.put(matting)


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def create_app(model: str | Path | None = None, *, threads: int | None = None, workers: int | None = None,
               limits: Limits = Limits(), assets: Path | None = None, allowed_hosts: Sequence[str] = (),
               cors: Sequence[str] = ()) -> Starlette:
    """The app: the API runs `model` (see `mmnet.load`) in `workers` threads (default: the cores, at most
    4), each model instance with `threads` intra-op threads (default: the cores shared out among the
    workers); the page is served when `assets` (the folder of onnxruntime-web, `mmnet.serve.assets.ensure()`)
    is given, else only the API. Requests for other host names, and cross-origin API requests, are refused
    (`mmnet.serve.guard`) unless `allowed_hosts` and `cors` name them."""
    workers = workers or default_workers()
    models = Models(model, workers, threads or max(1, (os.cpu_count() or 1) // workers))
    pool = ThreadPoolExecutor(workers, thread_name_prefix="matte")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        pool.shutdown(wait=True, cancel_futures=True)

    routes = [Route("/api/models", _models), Route("/api/matte", _matte, methods=["POST"])]
    if assets is not None:
        routes += [Route("/", _page), Route("/models/{name}.onnx", _model_file),
                   Mount("/static", StaticFiles(directory=static_dir()), name="static"),
                   Mount("/ort", StaticFiles(directory=assets), name="ort")]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _error})
    app.state.models, app.state.pool, app.state.limits = models, pool, limits
    app.state.gate = Gate(limits.max_requests or 4 * workers)
    app.state.shipped = shipped_models()
    app.add_middleware(CrossOriginIsolation)
    app.add_middleware(Guard, allowed_hosts=allowed_hosts, cors=cors)
    return app


class CrossOriginIsolation:
    """ASGI middleware: adds the COOP/COEP/CORP headers to every response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        await self.app(scope, receive, adding_headers(send, ISOLATION))


# ------------------------------------------------------------------------------------------- the page
async def _page(request: Request) -> Response:
    return FileResponse(static_dir() / "index.html", headers={"cache-control": "no-cache"})


def shipped_models() -> dict[str, tuple[Path, int]]:
    """{name: (ONNX file, side S)} of the shipped models, checked as `mmnet.load` checks them."""
    return {name: resolve(name) for name in read_manifest().models}


async def _models(request: Request) -> JSONResponse:
    models = [{"name": name, "size": size, "url": f"/models/{name}.onnx"}
              for name, (_, size) in request.app.state.shipped.items()]
    matting: Matting = request.app.state.models.first
    return JSONResponse({"default": read_manifest().default, "models": models,
                         "api": {"model": matting.path.name, "size": matting.size}})


async def _model_file(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in request.app.state.shipped:
        raise HTTPException(404, f"no shipped model {name!r}")
    return FileResponse(request.app.state.shipped[name][0], media_type="application/octet-stream")


# -------------------------------------------------------------------------------------------- the API
async def _error(request: Request, error: HTTPException) -> JSONResponse:
    return JSONResponse({"error": error.detail}, status_code=error.status_code, headers=error.headers)


async def _matte(request: Request) -> Response:
    limits: Limits = request.app.state.limits
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limits.max_bytes:
        raise HTTPException(413, f"the upload is {int(length) / MB:.1f} MB; the limit is {limits.max_bytes / MB:g} MB")
    with request.app.state.gate.admit():
        capped = Request(request.scope, _capped(request.receive, limits.max_bytes, limits.body_seconds))
        async with capped.form(max_files=2, max_fields=8) as form:
            upload = await _upload(form, request)
            render = await _render(form, request, limits)
            name = upload.filename or "file"
            data = await upload.read()
        loop = asyncio.get_running_loop()
        png = await loop.run_in_executor(request.app.state.pool, _process, request.app.state.models, render, data,
                                         name, limits)
    return Response(png, media_type="image/png")


def _capped(receive: Callable[[], Awaitable[dict]], limit: int, seconds: float) -> Callable[[], Awaitable[dict]]:
    """`receive` that raises 413 once the body passes `limit` bytes (a chunked upload has no Content-Length),
    and 408 when it has not all come `seconds` after its first part was asked for."""
    total, deadline = 0, None

    async def capped() -> dict:
        nonlocal total, deadline
        loop = asyncio.get_running_loop()
        deadline = deadline or loop.time() + seconds
        try:
            message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            raise HTTPException(408, f"the upload did not arrive within {seconds:g} s") from None
        total += len(message.get("body", b""))
        if total > limit:
            raise HTTPException(413, f"the upload is over the limit of {limit / MB:g} MB")
        return message

    return capped


async def _upload(form: FormData, request: Request) -> UploadFile:
    upload = form.get("file")
    if isinstance(upload, UploadFile):
        return upload
    if upload is not None:
        raise HTTPException(400, "field 'file' is text; send the image as a file upload in field 'file'")
    kind = request.headers.get("content-type", "none").split(";")[0]
    fields = ", ".join(sorted(set(form.keys()))) or "none"
    raise HTTPException(400, f"no field 'file': send multipart/form-data with the image in field 'file' "
                             f"(got Content-Type {kind}, fields: {fields})")


def _parameter(form: FormData, request: Request, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else request.query_params.get(name)


async def _render(form: FormData, request: Request, limits: Limits) -> Render:
    """The output asked for, checked as the command line checks it (400 for a bad value)."""
    output = _parameter(form, request, "output") or "alpha"
    refine = (_parameter(form, request, "refine") or "").lower()
    uploaded, text = form.get("background"), _parameter(form, request, "background")
    try:
        check_format(output, name="output")
        if refine and refine not in TRUE + FALSE:
            raise UsageError(f"refine must be true or false, got {refine!r}")
        check_background(output, uploaded is not None or bool(text), name="background", composite="output=composite")
    except UsageError as error:
        raise HTTPException(400, str(error)) from None
    background: compose.Background = "white"
    if isinstance(uploaded, UploadFile):
        data = await uploaded.read()
        loop = asyncio.get_running_loop()  # decoded in the pool, as the photo is: the event loop stays free
        background = await loop.run_in_executor(request.app.state.pool, decode_checked, data,
                                                 uploaded.filename or "background", limits.max_pixels)
    elif text:
        background = colour_or_blur(text)
        if background is None:
            raise HTTPException(400, f"background must be a colour (white, #00ff00, 0,255,0), blur, or an image "
                                     f"file in field 'background'; got {text!r}")
    return Render(output, background, refine=None if not refine else refine in TRUE)


def _process(models: Models, render: Render, data: bytes, name: str, limits: Limits) -> bytes:
    """In a pool thread: decode, matte, render, encode."""
    rgb = decode_checked(data, name, limits.max_pixels)
    with models.borrow() as matting:
        alpha = matting.predict(rgb, refine=render.refine)
    return encode_png(render(rgb, alpha))


def decode_checked(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    """`decode_image_bytes` with 415 for what is not an image and 413 for more than `max_pixels` pixels, read
    from the header before decoding (for every format OpenCV decodes; one whose size cannot be read is 415)."""
    try:
        return decode_image_bytes(data, name, max_pixels)
    except ImageTooLarge as error:
        raise HTTPException(413, str(error)) from None
    except ImageReadError as error:
        raise HTTPException(415, str(error)) from None


def serve(host: str = "127.0.0.1", port: int = 8000, *, model: str | Path | None = None, threads: int | None = None,
          workers: int | None = None, limits: Limits = Limits(), page: bool = True, certfile: str | None = None,
          keyfile: str | None = None, allowed_hosts: Sequence[str] = (), cors: Sequence[str] = ()) -> None:
    """Run the app with uvicorn until Ctrl-C. `page`: fetch onnxruntime-web if needed and serve the page;
    `certfile`/`keyfile`: HTTPS, which a phone's browser needs for the camera on anything but localhost."""
    import uvicorn

    from mmnet.serve import assets as browser_runtime

    folder = browser_runtime.ensure() if page else None
    app = create_app(model, threads=threads, workers=workers, limits=limits, assets=folder,
                     allowed_hosts=allowed_hosts, cors=cors)
    scheme = "https" if certfile else "http"
    shown = f"[{host}]" if ":" in host else host
    print(f"mmnet serve: {scheme}://{shown}:{port}/" + ("  (the page; API: POST /api/matte)" if page else
                                                          "  (API only: POST /api/matte)"), flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, ssl_certfile=certfile,
                ssl_keyfile=keyfile, http=bounded_protocol(limits))


def bounded_protocol(limits: Limits) -> type:
    """uvicorn's HTTP/1.1 protocol, bounded: a connection past `limits.max_connections` is closed as it comes (file
    descriptors are finite), and one whose request headers are not all there `limits.header_seconds` after it
    opened (or after its last response) is closed (uvicorn waits for ever on a client that sends a byte now and
    then). Each kind of refusal is said once on stderr, not once a connection."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    said: set[str] = set()

    def refuse(transport: Any, why: str) -> None:
        if why not in said:
            said.add(why)
            print(f"mmnet serve: closing connections {why} (said once)", file=sys.stderr, flush=True)
        transport.close()

    class Bounded(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self.deadline: asyncio.TimerHandle | None = None
            if len(self.connections) > limits.max_connections:
                refuse(transport, f"beyond {limits.max_connections} open at once")
                return
            self._await_headers()

        def _await_headers(self) -> None:
            waiting = self.cycle  # a new request cycle means its headers came

            def expire() -> None:
                if self.cycle is waiting and not self.transport.is_closing():
                    refuse(self.transport, f"that sent no whole request headers within {limits.header_seconds:g} s")

            self.deadline = self.loop.call_later(limits.header_seconds, expire)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.deadline is not None:
                self.deadline.cancel()
            if not self.transport.is_closing():
                self._await_headers()

        def connection_lost(self, exc: Exception | None) -> None:
            if getattr(self, "deadline", None) is not None:
                self.deadline.cancel()
            super().connection_lost(exc)

    return Bounded
