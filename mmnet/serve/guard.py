"""ASGI middleware that keeps other web pages away from `mmnet serve`: a page the user has open can make the
browser send requests to localhost, by a name of its own that resolves there (DNS rebinding) or by a
cross-site form or fetch.

- The `Host` header must be an IP address (a rebinding page cannot use one), `localhost`, or one of the
  names allowed (`--allowed-hosts`; `*` allows any): else 421.
- A request to `/api/` that carries an `Origin` other than the server's own is refused (403) unless that
  origin is allowed (`--cors ORIGIN`), which then gets the CORS headers, its preflight included.
"""
from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

LOOPBACK_NAMES = ("localhost",)


class Guard:
    """Checks Host and Origin before the app sees a request."""

    def __init__(self, app: Any, allowed_hosts: Iterable[str] = (), cors: Iterable[str] = ()) -> None:
        self.app = app
        self.hosts = {host.lower() for host in (*LOOPBACK_NAMES, *allowed_hosts)}
        self.cors = {origin.rstrip("/").lower() for origin in cors}

    async def __call__(self, scope: dict, receive: Callable, send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        host = headers.get("host", "")
        if not self.host_allowed(host):
            return await _refuse(send, 421, f"Host {host!r} is not a name of this server; start it with "
                                            f"--allowed-hosts {_name(host) or 'NAME'} to serve that name")
        origin = headers.get("origin")
        extra: list[tuple[bytes, bytes]] = []
        if origin is not None and scope["path"].startswith("/api/"):
            own = f"{scope.get('scheme', 'http')}://{host}".lower()
            allowed = origin.rstrip("/").lower()
            if allowed in self.cors or "*" in self.cors:
                extra = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
            elif allowed != own:
                return await _refuse(send, 403, f"cross-origin request from {origin} refused; start the server "
                                                f"with --cors {origin} to allow that page")
            if scope["method"] == "OPTIONS" and extra:  # the CORS preflight
                return await _respond(send, 204, b"", [*extra, (b"access-control-allow-methods", b"GET, POST"),
                                                         (b"access-control-allow-headers", b"content-type")])
        await self.app(scope, receive, adding_headers(send, extra) if extra else send)

    def host_allowed(self, host: str) -> bool:
        name = _name(host)
        if "*" in self.hosts or name in self.hosts:
            return True
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            return False


def _name(host: str) -> str:
    """The host name of a Host header, without its port or IPv6 brackets, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _refuse(send: Callable[[dict], Awaitable[None]], status: int, error: str) -> None:
    await _respond(send, status, json.dumps({"error": error}).encode(), [(b"content-type", b"application/json")])


async def _respond(send: Callable[[dict], Awaitable[None]], status: int, body: bytes,
                   headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def adding_headers(send: Callable[[dict], Awaitable[None]],
                   headers: Iterable[tuple[bytes, bytes]]) -> Callable[[dict], Awaitable[None]]:
    """An ASGI `send` that appends `headers` to the response's start message."""
    headers = list(headers)

    async def send_with_headers(message: dict) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *headers]}
        await send(message)

    return send_with_headers
