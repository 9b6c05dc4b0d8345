"""The server's limits, in one place: `mmnet serve`'s flags take their defaults from `Limits` (no Starlette
needed to read them)."""
from __future__ import annotations

from dataclasses import dataclass

MB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one API request may send (bytes in the body, pixels in each image, seconds for its headers and for
    its body), and what the server holds at once: API requests under way (None: 4 per worker; one more is
    answered 503 with Retry-After) and open connections (more are closed as they come)."""

    max_bytes: int = 20 * MB
    max_pixels: int = 40_000_000
    max_requests: int | None = None
    max_connections: int = 256
    header_seconds: float = 10.0
    body_seconds: float = 60.0
