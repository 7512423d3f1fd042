"""Engine configuration: one frozen dataclass, read from the environment and the CLI."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

from .weights import default_dir

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8100
DEFAULT_DATA_DIR = Path("var/engine")
DEFAULT_API_KEY = "embedded-engine-key"
DEFAULT_BALANCE = Decimal("100.00")


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


@dataclass(frozen=True)
class EngineConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = DEFAULT_DATA_DIR
    api_key: str = DEFAULT_API_KEY
    # Base of result URLs; None means http://<host>:<port> (0.0.0.0 / :: become 127.0.0.1).
    public_url: str | None = None
    workers: int = field(default_factory=default_workers)
    initial_balance: Decimal = DEFAULT_BALANCE
    # Extra "host:port" pairs the fetcher may reach even though they are not global.
    allowed_hosts: frozenset[str] = frozenset()
    # Global knob defaults (a source URL's own markers win).
    delay: float = 0.0
    fail_code: str | None = None
    rate_limit_n: int = 0
    time_factor: float = 1.0
    callback_delay_factor: float = 1.0
    # Limits.
    fetch_timeout: float = 20.0
    max_source_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 3
    callback_timeout: float = 30.0
    callback_retry_delays: tuple[float, ...] = (1.0, 2.0, 4.0)
    max_body_bytes: int = 1024 * 1024
    # How often serve_forever checks for shutdown (seconds).
    poll_interval: float = 0.1
    # Super-resolution (sr.py): `auto`, a model name, or `lanczos`; where the weights are;
    # the most seconds `auto` lets a model take per task; ncnn threads (0: every core);
    # input tile size; `auto` uses a Vulkan GPU when ncnn finds one, `off` never; the
    # model's share of the result (the rest: a Lanczos resize; 1 = the model alone).
    model: str = "auto"
    model_dir: Path | None = None
    time_budget: float = 120.0
    threads: int = 0
    tile: int = 200
    gpu: str = "auto"
    detail: float = 0.75

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "results"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "engine.sqlite3"

    def fetch_allow_list(self) -> frozenset[str]:
        """The configured pairs plus the engine's own address, so /samples/ URLs work."""
        own = {host_port(self.host, self.port)}
        public = urlsplit(self.base_url)
        if public.hostname:
            default = 443 if public.scheme == "https" else 80
            own.add(host_port(public.hostname, public.port or default))
        return self.allowed_hosts | own

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> EngineConfig:
        """Build a config from ENGINE_* / APIXO_ENGINE_KEY variables; overrides win."""
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "host": env.get("ENGINE_HOST") or DEFAULT_HOST,
            "port": _int(env, "ENGINE_PORT", DEFAULT_PORT),
            "data_dir": Path(env.get("ENGINE_DATA_DIR") or DEFAULT_DATA_DIR),
            "api_key": env.get("APIXO_ENGINE_KEY") or DEFAULT_API_KEY,
            "public_url": env.get("ENGINE_PUBLIC_URL") or None,
            "workers": max(1, _int(env, "ENGINE_WORKERS", default_workers())),
            "initial_balance": _money(env, "ENGINE_BALANCE", DEFAULT_BALANCE),
            "allowed_hosts": parse_allowed_hosts(env.get("ENGINE_ALLOWED_HOSTS", "")),
            "delay": max(0.0, _float(env, "ENGINE_DELAY", 0.0)),
            "fail_code": env.get("ENGINE_FAIL_CODE") or None,
            "rate_limit_n": max(0, _int(env, "ENGINE_429", 0)),
            "time_factor": max(0.0, _float(env, "ENGINE_TIME_FACTOR", 1.0)),
            "callback_delay_factor": max(0.0, _float(env, "ENGINE_CALLBACK_DELAY_FACTOR", 1.0)),
            "model": (env.get("ENGINE_MODEL") or "auto").strip().lower(),
            "model_dir": Path(env.get("ENGINE_MODEL_DIR") or default_dir()),
            "time_budget": max(0.0, _float(env, "ENGINE_TIME_BUDGET", 120.0)),
            "threads": max(0, _int(env, "ENGINE_THREADS", 0)),
            "tile": max(16, _int(env, "ENGINE_TILE", 200)),
            "detail": min(1.0, max(0.0, _float(env, "ENGINE_DETAIL", 0.75))),
            "gpu": "off" if env.get("ENGINE_GPU", "").strip().lower() == "off" else "auto",
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def host_port(host: str, port: int) -> str:
    host = host.strip().lower().strip("[]")
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"


def parse_allowed_hosts(raw: str) -> frozenset[str]:
    """'a:1, B:2' -> {'a:1', 'b:2'}; entries without a numeric port are ignored."""
    pairs: set[str] = set()
    for item in raw.split(","):
        host, sep, port = item.strip().rpartition(":")
        if sep and host and port.isdigit():
            pairs.add(host_port(host, int(port)))
    return frozenset(pairs)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name, "").strip())
    except ValueError:
        return default


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name, "").strip())
    except ValueError:
        return default
    return value if math.isfinite(value) else default


def _money(env: Mapping[str, str], name: str, default: Decimal) -> Decimal:
    try:
        value = Decimal(env.get(name, "").strip())
    except InvalidOperation:
        return default
    if not value.is_finite() or value < 0:
        return default
    return value.quantize(Decimal("0.01"))
