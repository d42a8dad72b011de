"""`python -m keyloop_sandbox --port N ...`: serve the sandbox until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_TOKEN_TTL_SECONDS,
    SandboxConfig,
    default_stores,
    load_stores_file,
    merge_stores,
)
from .server import start_sandbox
from .subscription import Subscription


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        config = _config(args)
    except (OSError, ValueError) as exc:
        print(f"keyloop_sandbox: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        server = start_sandbox(config, args.host, args.port)
    except OSError as exc:
        print(f"keyloop_sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    with server:
        print(f"Keyloop sandbox listening on {server.url}", flush=True)
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stop.wait(0.5):
            pass
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m keyloop_sandbox", description="Serve the Keyloop DMS sandbox."
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument("--token-ttl", type=float, default=DEFAULT_TOKEN_TTL_SECONDS)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument(
        "--subscribe",
        metavar="URL",
        action="append",
        default=[],
        help="post Keyloop events (CloudEvents) to this URL; survives /_sandbox/reset",
    )
    parser.add_argument(
        "--events-secret", default="", help="sent as x-api-key with every event posted"
    )
    parser.add_argument(
        "--stores", type=Path, help="JSON list of stores (with ids) added to the defaults"
    )
    return parser


def _config(args: argparse.Namespace) -> SandboxConfig:
    if args.token_ttl < 0 or args.latency_ms < 0:
        raise ValueError("--token-ttl and --latency-ms must not be negative")
    stores = default_stores()
    if args.stores is not None:
        stores = merge_stores(stores, load_stores_file(args.stores))
    return SandboxConfig(
        client_id=args.client_id,
        client_secret=args.client_secret,
        token_ttl_seconds=args.token_ttl,
        latency_ms=args.latency_ms,
        stores=stores,
        subscriptions=tuple(Subscription(url, args.events_secret) for url in args.subscribe),
    )


if __name__ == "__main__":
    sys.exit(main())
