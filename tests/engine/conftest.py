"""Fixtures: the engine in-process on a free loopback port, plus loopback helper servers."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from apixo_engine.config import EngineConfig
from apixo_engine.serve import EngineServer

from .support import KEY, Client, ReceiverHandler, RecordingServer, SourceHandler, sources

EngineFactory = Callable[..., EngineServer]


@pytest.fixture(scope="session")
def source() -> Iterator[RecordingServer]:
    """The allow-listed source server (stands in for a public image host)."""
    server = RecordingServer(SourceHandler)
    server.files.update(sources())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def trap() -> Iterator[RecordingServer]:
    """A loopback server that is NOT on the allow-list: it must never receive a request."""
    server = RecordingServer(SourceHandler)
    server.files.update(sources())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[RecordingServer]:
    server = RecordingServer(ReceiverHandler).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def closed_netloc() -> str:
    """A loopback host:port where nothing listens (allow-listed, so it is 'unreachable')."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


@pytest.fixture
def engine_config(tmp_path: Path, source: RecordingServer, closed_netloc: str) -> EngineConfig:
    return EngineConfig(
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "engine",
        api_key=KEY,
        workers=2,
        allowed_hosts=frozenset({source.netloc, closed_netloc}),
        callback_delay_factor=0.01,
        fetch_timeout=5.0,
        poll_interval=0.02,
        model="lanczos",  # fast; tests/engine/test_sr.py runs the real models
    )


@pytest.fixture
def make_engine(engine_config: EngineConfig) -> Iterator[EngineFactory]:
    """Start an engine (config overrides as keyword arguments); all are stopped afterwards."""
    started: list[EngineServer] = []

    def start(**overrides: Any) -> EngineServer:
        config = dataclasses.replace(engine_config, **overrides)
        server = EngineServer(config).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def engine(make_engine: EngineFactory) -> EngineServer:
    return make_engine()


@pytest.fixture
def client(engine: EngineServer) -> Client:
    return Client(engine.url)
