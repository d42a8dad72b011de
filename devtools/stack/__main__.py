"""`python -m devtools.stack` (make dev): the stack in the foreground, its banner, then its logs."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn, get_args

from ..processes import StartError
from .banner import banner
from .config import FirestoreMode, StackConfig
from .lifecycle import Stack


def follow(path: Path, offset: int, interval: float = 0.3) -> NoReturn:
    """Print what is appended to `path` from `offset` on, until interrupted."""
    with path.open("rb") as log:
        log.seek(offset)
        while True:
            chunk = log.read()
            if chunk:
                sys.stdout.write(chunk.decode(errors="replace"))
                sys.stdout.flush()
            else:
                time.sleep(interval)


def wait_forever() -> NoReturn:
    while True:
        signal.pause()


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _parser() -> argparse.ArgumentParser:
    defaults = StackConfig()
    parser = argparse.ArgumentParser(
        prog="python -m devtools.stack",
        description="Run the local stack (sandbox, Firestore, functions and auth emulators) "
        "until Ctrl-C.",
    )
    parser.add_argument("--project", default=defaults.project)
    parser.add_argument("--host", default=defaults.host)
    for name, port in defaults.ports().items():
        parser.add_argument(f"--{name}-port", type=int, default=port, metavar="PORT")
    parser.add_argument("--firestore", choices=get_args(FirestoreMode), default="auto")
    parser.add_argument(
        "--no-follow", action="store_true", help="don't print the function logs after start"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = StackConfig(
            project=args.project,
            host=args.host,
            firestore=args.firestore,
            **{f"{name}_port": getattr(args, f"{name}_port") for name in StackConfig().ports()},
        )
    except ValueError as exc:
        print(f"devtools.stack: {exc}", file=sys.stderr)
        return 2
    # Ctrl-C, kill and a closed terminal all stop the stack. SIGINT explicitly: a shell that
    # starts us in the background hands it down ignored, and Python then never raises for it.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    stack = Stack(config)
    code = 0
    try:
        print(f"Starting the local stack for {config.project} ...", flush=True)
        stack.start(progress=lambda line: print(f"  {line}", flush=True))
        offset = stack.firebase_log.stat().st_size
        print(banner(stack, follow=not args.no_follow), flush=True)
        if args.no_follow:
            wait_forever()
        else:
            follow(stack.firebase_log, offset)
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
    except StartError as exc:
        print(f"devtools.stack: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        with _signals_ignored():
            stack.stop()
        held = stack.held_ports() if stack.launched else []
        if not stack.launched:
            pass  # it failed before starting anything: nothing to report
        elif held:
            print(f"devtools.stack: ports still held: {held}", file=sys.stderr, flush=True)
            code = code or 1
        else:
            ports = ", ".join(str(p) for p in config.ports().values())
            print(f"Stopped. Ports {ports} are free.", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
