"""python -m apixo_engine [--host 127.0.0.1] [--port 8100] [--data-dir var/engine]"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from .config import EngineConfig
from .serve import EngineServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m apixo_engine",
        description="Embedded, APIXO-compatible image-upscaler engine (no network, no key).",
    )
    parser.add_argument("--host", help="bind address (env ENGINE_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (env ENGINE_PORT, default 8100)")
    parser.add_argument(
        "--data-dir", type=Path, help="SQLite file and results (env ENGINE_DATA_DIR, var/engine)"
    )
    parser.add_argument("--verbose", action="store_true", help="log requests and tasks")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = EngineConfig.from_env(host=args.host, port=args.port, data_dir=args.data_dir)
    try:
        server = EngineServer(config)
    except OSError as exc:
        print(
            f"APIXO engine could not start on {config.host}:{config.port}: {exc}", file=sys.stderr
        )
        return 1

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    server.start()
    cfg = server.config
    print(
        f"APIXO engine listening on {server.url} (data dir {cfg.data_dir}, "
        f"{cfg.workers} worker{'s' if cfg.workers != 1 else ''}, results at {cfg.base_url}/files/)"
        f"\n  {server.app.engine.upscaler.describe()}",
        flush=True,
    )
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
