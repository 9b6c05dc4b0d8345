"""`mmnet serve`: the live camera page and the HTTP API. Its limits' defaults are `mmnet.serve.limits.Limits`'s."""
from __future__ import annotations

import argparse

from mmnet.cli.args import pixel_count, thread_count
from mmnet.serve.limits import MB, Limits

LIMITS = Limits()


def register(sub: argparse._SubParsersAction) -> None:
    _add_serve(sub)


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="the live camera page (matting in the browser) and the HTTP API")
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to be reached from other machines")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", help="the API's model: a shipped name, an .onnx or a .pt (default: shipped)")
    p.add_argument("--workers", type=thread_count, help="API requests matted at once (default: the cores, at most 4)")
    p.add_argument("--threads", type=thread_count, help="intra-op threads per worker (default: cores / workers)")
    p.add_argument("--max-upload-mb", type=float, default=LIMITS.max_bytes / MB,
                   help="the API's request body limit")
    p.add_argument("--max-pixels", type=pixel_count, default=LIMITS.max_pixels,
                   help="the API's limit on pixels per image")
    p.add_argument("--max-requests", type=int, help="API requests under way at once, more get 503 (default: 4 per "
                                                    "worker)")
    p.add_argument("--max-connections", type=int, default=LIMITS.max_connections,
                   help="open connections; more are closed at once")
    p.add_argument("--header-timeout", type=float, default=LIMITS.header_seconds,
                   help="seconds for a request's headers to arrive")
    p.add_argument("--body-timeout", type=float, default=LIMITS.body_seconds,
                   help="seconds for an upload to arrive (then 408)")
    p.add_argument("--api-only", action="store_true", help="no page (needs no onnxruntime-web)")
    p.add_argument("--setup", nargs="?", const="npm", metavar="TARBALL",
                   help="fetch the page's onnxruntime-web with npm (or from a `npm pack` TARBALL) and exit")
    p.add_argument("--certfile", help="HTTPS certificate (a phone's browser gives the camera only over HTTPS)")
    p.add_argument("--keyfile", help="HTTPS private key")
    p.add_argument("--allowed-hosts", nargs="+", default=[], metavar="NAME",
                   help="host names served besides localhost and IP addresses (* for any)")
    p.add_argument("--cors", nargs="+", default=[], metavar="ORIGIN",
                   help="web origins allowed to call the API from their pages (e.g. https://app.example)")
    p.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> None:
    if args.setup:
        from mmnet.serve import assets
        folder = assets.install(None if args.setup == "npm" else args.setup)
        print(f"onnxruntime-web {assets.VERSION} is in {folder}")
        return
    from mmnet.runtime.memory import keep_freed_memory
    from mmnet.serve.app import serve
    keep_freed_memory()
    limits = Limits(max_bytes=int(args.max_upload_mb * MB), max_pixels=int(args.max_pixels),
                    max_requests=args.max_requests, max_connections=args.max_connections,
                    header_seconds=args.header_timeout, body_seconds=args.body_timeout)
    serve(args.host, args.port, model=args.model, threads=args.threads, workers=args.workers, limits=limits,
          page=not args.api_only, certfile=args.certfile, keyfile=args.keyfile, allowed_hosts=args.allowed_hosts,
          cors=args.cors)
