"""Configuration from the environment, knob parsing, and the command line entry point."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from apixo_engine.config import EngineConfig, parse_allowed_hosts
from apixo_engine.fetcher import is_global_address
from apixo_engine.knobs import read_knobs

pytestmark = pytest.mark.timeout(20)

ROOT = Path(__file__).resolve().parents[2]


def test_it_reads_the_environment() -> None:
    config = EngineConfig.from_env(
        {
            "APIXO_ENGINE_KEY": "k",
            "ENGINE_WORKERS": "3",
            "ENGINE_BALANCE": "74.87",
            "ENGINE_ALLOWED_HOSTS": "Images.Local:8080, 10.0.0.5:80,bad,nohost:",
            "ENGINE_DELAY": "1.5",
            "ENGINE_FAIL_CODE": "Timeout",
            "ENGINE_429": "2",
            "ENGINE_TIME_FACTOR": "0.5",
            "ENGINE_CALLBACK_DELAY_FACTOR": "0.1",
            "ENGINE_PUBLIC_URL": "https://engine.example/",
            "ENGINE_DETAIL": "1.7",
        },
        port=9000,
    )

    assert config.api_key == "k"
    assert config.workers == 3
    assert config.initial_balance == Decimal("74.87")
    assert config.allowed_hosts == {"images.local:8080", "10.0.0.5:80"}
    assert (config.delay, config.fail_code, config.rate_limit_n) == (1.5, "Timeout", 2)
    assert (config.time_factor, config.callback_delay_factor) == (0.5, 0.1)
    assert config.base_url == "https://engine.example"
    assert config.detail == 1.0  # clamped: at most the model alone
    assert config.port == 9000
    assert {"127.0.0.1:9000", "engine.example:443"} <= config.fetch_allow_list()


def test_it_has_safe_defaults() -> None:
    config = EngineConfig.from_env({"ENGINE_BALANCE": "lots", "ENGINE_WORKERS": "x"})

    assert config.api_key == "embedded-engine-key"
    assert config.initial_balance == Decimal("100.00")
    assert 1 <= config.workers <= 2
    assert config.base_url == "http://127.0.0.1:8100"
    assert config.fetch_allow_list() == {"127.0.0.1:8100"}
    assert config.data_dir == Path("var/engine")
    assert config.detail == 0.75


def test_it_parses_ipv6_allow_list_entries() -> None:
    assert parse_allowed_hosts("[::1]:8000") == {"[::1]:8000"}


def test_it_lets_url_markers_win_over_env_defaults() -> None:
    config = EngineConfig(delay=2.0, fail_code="Timeout", rate_limit_n=1, time_factor=0.5)

    from_url = read_knobs(
        "https://x/y.jpg?engine_delay=4&engine_fail=Unknown%20error&engine_429=3&engine_http=502&engine_stall=1",
        config,
    )
    defaults = read_knobs("https://x/y.jpg?engine_http=418&engine_delay=nan", config)

    assert from_url.delay == 2.0 and from_url.fail_code == "Unknown error"
    assert (from_url.rate_limit_n, from_url.http_error, from_url.stall) == (3, 502, True)
    assert defaults.delay == 1.0 and defaults.fail_code == "Timeout"
    assert (defaults.rate_limit_n, defaults.http_error, defaults.stall) == (1, None, False)


@pytest.mark.parametrize(
    ("address", "is_global"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("::ffff:127.0.0.1", False),
        ("fd00::1", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("64:ff9b::808:808", True),
        ("2002:a9fe:a9fe::1", False),
        ("2001::5601:5601", False),
        ("::a9fe:a9fe", False),
        ("::ffff:0:a9fe:a9fe", False),
    ],
)
def test_it_classifies_addresses(address: str, is_global: bool) -> None:
    assert is_global_address(address) is is_global


def test_it_runs_as_a_module_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "APIXO_ENGINE_KEY": "cli-key", "ENGINE_MODEL": "lanczos"}
    process = subprocess.Popen(
        [sys.executable, "-m", "apixo_engine", "--port", "0", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("APIXO engine listening on http://127.0.0.1:")
        base = line.split()[4]
        assert process.stdout.readline().strip().startswith("model lanczos (ENGINE_MODEL=lanczos")
        health = requests.get(f"{base}/healthz", timeout=5).json()
        assert (health["status"], health["model"]) == ("ok", "lanczos")
        balance = requests.get(
            f"{base}/api/v1/apikeys/current-balance",
            headers={"Authorization": "Bearer cli-key"},
            timeout=5,
        )
        assert balance.json()["data"] == 100
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert (tmp_path / "engine.sqlite3").exists()
