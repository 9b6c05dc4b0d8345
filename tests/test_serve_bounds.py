"""What `mmnet serve` holds at once (issue 24, item 6): API requests under way (one more: 503 with Retry-After,
before its upload is read), open connections (more closed as they come), and the time a request's headers and
its upload may take (a client that trickles them in is dropped, not waited on for ever)."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

from mmnet.bench.serve_harness import running_server  # noqa: E402

MODEL = "mmnet-1.0-128"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg"


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def answer(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection (b"": closed without a word)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_one_request_past_the_limit_gets_503_before_its_upload_is_read():
    files = {"file": ("astronaut.jpg", EXAMPLE.read_bytes(), "image/jpeg")}
    with running_server("--api-only", "--model", MODEL, "--workers", "1", "--max-requests", "1") as url:
        with connect(url) as holding:  # admitted, and waiting for the rest of its upload
            holding.sendall(b"POST /api/matte HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                            b"boundary=x\r\nContent-Length: 100000\r\n\r\n--x\r\n")
            for _ in range(50):  # until the server has let the first one in
                busy = httpx.post(f"{url}/api/matte", files=files, timeout=30)
                if busy.status_code == 503:
                    break
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1" and "busy" in busy.json()["error"]
        for _ in range(50):  # until the server has seen the first one go
            if httpx.post(f"{url}/api/matte", files=files, timeout=30).status_code == 200:
                break
        else:
            raise AssertionError("a request that left did not free its place")


def test_trickled_headers_and_uploads_are_dropped():
    with running_server("--api-only", "--model", MODEL, "--workers", "1", "--header-timeout", "1",
                        "--body-timeout", "1") as url:
        with connect(url) as slow:
            slow.sendall(b"POST /api/matte HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the rest
            assert answer(slow) == b""
        with connect(url) as slow:
            slow.sendall(b"POST /api/matte HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                         b"boundary=x\r\nContent-Length: 100000\r\n\r\n--x\r\n")  # and never the rest
            assert answer(slow).startswith(b"HTTP/1.1 408")
        assert httpx.get(f"{url}/api/models", timeout=30).status_code == 200  # the server is fine


def test_connections_past_the_limit_are_closed_as_they_come():
    with running_server("--api-only", "--model", MODEL, "--workers", "1", "--max-connections", "2") as url:
        with connect(url) as first, connect(url) as second, connect(url) as third:
            assert answer(third) == b""
            first.sendall(b"GET /api/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            assert answer(first).startswith(b"HTTP/1.1 200")
            assert second.fileno() >= 0
