"""Throughput and latency of `mmnet serve`'s `POST /api/matte` under concurrent load, from a local load
generator (httpx + asyncio) against a real server process on 127.0.0.1 (runs anywhere).

    python benchmarks/serve_load.py [--model NAME] [--workers N] [--threads N] [--output alpha|rgba|composite]
                                    [--concurrency 1 2 4 8 16] [--requests 64]

For each concurrency C: --requests requests of one synthetic 600×800 JPEG (as benchmarks/matte_speed.py
uses), C in flight at any time; requests/s over the whole level, and the latency's p50 and p99 (client
side: upload, decode, network, guided upsampling, render, PNG, download). Every request must answer 200.
Writes benchmarks/results/serve_load.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from matte_speed import HEIGHT, WIDTH, machine  # a sibling script

ROOT = Path(__file__).resolve().parents[1]
WARM_UP = 4


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between ranks."""
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1] if len(values) > 1 else values[0]


async def level(url: str, photo: bytes, output: str, concurrency: int, requests: int) -> dict:
    """`requests` requests, `concurrency` in flight; throughput and latencies."""
    import httpx

    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(client: httpx.AsyncClient) -> None:
        async with gate:
            start = time.perf_counter()
            response = await client.post("/api/matte", params={"output": output},
                                         files={"file": ("photo.jpg", photo, "image/jpeg")})
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        await asyncio.gather(*[one(client) for _ in range(WARM_UP)])
        latencies.clear()
        start = time.perf_counter()
        await asyncio.gather(*[one(client) for _ in range(requests)])
        seconds = time.perf_counter() - start
    ms = [1000 * value for value in latencies]
    return {"concurrency": concurrency, "requests": requests, "seconds": seconds,
            "requests_per_s": requests / seconds, "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99),
            "max_ms": max(ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mmnet-1.0-256", help="the API's model (a shipped name, .onnx, .pt)")
    parser.add_argument("--workers", type=int, help="the server's --workers (default: its own)")
    parser.add_argument("--threads", type=int, help="the server's --threads (default: its own)")
    parser.add_argument("--output", default="alpha", choices=["alpha", "rgba", "composite", "mask"])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--requests", type=int, default=64, help="requests per concurrency level")
    args = parser.parse_args()

    from mmnet.bench.serve_harness import running_server
    from mmnet.data.synthetic import make_dataset
    from mmnet.files import write_atomic
    from mmnet.serve.app import default_workers

    server = ["--api-only", "--model", args.model]
    server += ["--workers", str(args.workers)] if args.workers else []
    server += ["--threads", str(args.threads)] if args.threads else []
    with tempfile.TemporaryDirectory(prefix="serve-load-") as scratch:
        photo = (make_dataset(Path(scratch), 1, HEIGHT, WIDTH) / "image" / "synth_00000.jpg").read_bytes()
    print(f"machine   {machine()}")
    print(f"server    mmnet serve {' '.join(server)} (workers: {args.workers or default_workers()}, "
          f"threads per worker: {args.threads or 'cores / workers'})")
    print(f"requests  POST /api/matte?output={args.output}, a synthetic {WIDTH}x{HEIGHT} JPEG "
          f"({len(photo) / 1024:.0f} KB), {args.requests} per level after {WARM_UP} warm-up")
    print(f"{'in flight':>9}  {'req/s':>7}  {'p50 ms':>7}  {'p99 ms':>7}  {'max ms':>7}")
    results = []
    with running_server(*server) as url:
        for concurrency in args.concurrency:
            row = asyncio.run(level(url, photo, args.output, concurrency, args.requests))
            results.append(row)
            print(f"{concurrency:>9}  {row['requests_per_s']:>7.1f}  {row['p50_ms']:>7.1f}  {row['p99_ms']:>7.1f}  "
                  f"{row['max_ms']:>7.1f}", flush=True)
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), "server": server,
              "workers": args.workers or default_workers(), "threads": args.threads, "output": args.output,
              "photo": f"{WIDTH}x{HEIGHT} JPEG", "levels": results}
    out = write_atomic(ROOT / "benchmarks" / "results" / "serve_load.json", json.dumps(report, indent=2).encode())
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
