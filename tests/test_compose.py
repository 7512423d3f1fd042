"""compose.yaml against the image it runs: no compose engine runs here, so these read it.

The image's side comes from the Dockerfile (its ENV, ENTRYPOINT, CMD, HEALTHCHECK) and
scripts/entrypoint.sh (its roles); `make image-test` runs that image's roles for real.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
APP_ROLES = {"web", "worker", "cron", "engine", "migrate"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "compose.yaml").read_text()))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def _dockerfile_env() -> dict[str, str]:
    """The final stage's ENV, as `KEY=value` pairs (values without $ references)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    final = text.rsplit("\nFROM ", 1)[1]
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            env.update(re.findall(r"(\w+)=(\S+)", line))
    return env


def _entrypoint_roles() -> set[str]:
    script = (ROOT / "scripts" / "entrypoint.sh").read_text()
    return set(re.findall(r"^\s+(\w+)\)", script, re.M)) - {"manage"}


def _settings_read() -> str:
    """The source of everything that reads the environment: the settings and the engine."""
    files = [ROOT / "upscaler_site" / "settings.py", *(ROOT / "apixo_engine").glob("*.py")]
    return "\n".join(f.read_text() for f in files)


def test_it_has_a_service_for_every_role_of_the_image(services: dict[str, Any]) -> None:
    assert _entrypoint_roles() == APP_ROLES
    assert set(services) == APP_ROLES | {"postgres", "redis"}
    for role in APP_ROLES:
        assert services[role]["command"] == [role], role
        # The role goes to the image's ENTRYPOINT; nothing overrides it.
        assert "entrypoint" not in services[role], role


def test_every_app_service_runs_the_image_built_from_this_repo(
    services: dict[str, Any],
) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["scripts/entrypoint.sh"]' in dockerfile
    assert 'CMD ["web"]' in dockerfile
    for role in APP_ROLES:
        assert services[role]["build"] == ".", role
        assert services[role]["image"] == "upscaler:latest", role


def test_the_environment_points_at_the_services_and_real_settings(
    services: dict[str, Any],
) -> None:
    source = _settings_read()
    for role in APP_ROLES:
        env = services[role]["environment"]
        for name in env:
            assert re.search(rf"\b{name}\b", source), f"{role}: {name} is read by nothing"
    env = services["web"]["environment"]
    assert env["DEBUG"] == "false"
    assert env["DATABASE_URL"].startswith("postgres://upscaler:")
    assert env["DATABASE_URL"].endswith("@postgres:5432/upscaler")
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert services["postgres"]["environment"]["POSTGRES_DB"] == "upscaler"
    assert services["postgres"]["environment"]["POSTGRES_USER"] == "upscaler"
    # The same settings for every Django role: they share one database, Redis and media.
    for role in ("worker", "cron", "migrate"):
        assert services[role]["environment"] == env, role


def test_the_secrets_it_requires_are_in_the_deploy_guide(compose: dict[str, Any]) -> None:
    raw = (ROOT / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", raw))
    assert required == {"SECRET_KEY", "SITE_URL", "POSTGRES_PASSWORD"}
    guide = (ROOT / "docs" / "deploy.md").read_text()
    for name in required:
        assert f"\n{name}=" in guide, name


def test_the_engine_is_reached_where_the_app_looks_for_it(services: dict[str, Any]) -> None:
    engine = services["engine"]
    assert engine["profiles"] == ["engine"]
    # It shares web's network, so the workers' ENGINE_URL names web, on ENGINE_PORT.
    assert engine["network_mode"] == "service:web"
    port = engine["environment"]["ENGINE_PORT"]
    assert services["worker"]["environment"]["ENGINE_URL"] == f"http://web:{port}"
    assert engine["environment"]["ENGINE_PUBLIC_URL"] == f"http://web:{port}"
    # It fetches uploads from the web on the shared loopback, at the image's port.
    web_port = _dockerfile_env()["BIND"].rpartition(":")[2]
    assert f"localhost:{web_port}" in engine["environment"]["ENGINE_ALLOWED_HOSTS"]


def test_volumes_are_where_the_image_writes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    image_env = _dockerfile_env()
    media = f"{image_env['DATA_DIR']}/media"  # settings: MEDIA_ROOT = DATA_DIR / "media"
    for role in ("web", "worker", "cron", "migrate"):
        assert services[role]["volumes"] == [f"media:{media}"], role
    assert services["engine"]["volumes"] == [f"engine:{image_env['ENGINE_DATA_DIR']}"]
    used = {v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if ":" in v}
    assert used == set(compose["volumes"])


def test_the_web_port_is_the_image_port_on_loopback_only(services: dict[str, Any]) -> None:
    image_port = _dockerfile_env()["BIND"].rpartition(":")[2]
    assert "EXPOSE " + image_port in (ROOT / "Dockerfile").read_text()
    assert services["web"]["ports"] == [f"127.0.0.1:{image_port}:{image_port}"]
    for name, service in services.items():
        if name != "web":
            assert "ports" not in service, name


def test_health_checks_cover_what_others_wait_for(services: dict[str, Any]) -> None:
    # The app roles use the image's HEALTHCHECK (scripts/healthcheck.py); no service turns
    # it off or replaces it.
    assert "HEALTHCHECK" in (ROOT / "Dockerfile").read_text()
    for role in APP_ROLES:
        assert "healthcheck" not in services[role], role
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):  # plain start order, no condition
            continue
        for needed, how in depends.items():
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[needed], f"{name} waits on {needed}"
            if how["condition"] == "service_completed_successfully":
                assert services[needed]["restart"] == "no", f"{name} waits on {needed}"


def test_migrations_run_first_and_the_rest_wait_for_them(services: dict[str, Any]) -> None:
    after_migrate = {
        "migrate": {"condition": "service_completed_successfully"},
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    for role in ("web", "worker", "cron"):
        assert services[role]["depends_on"] == after_migrate, role
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["engine"]["depends_on"] == ["web"]


def test_there_is_exactly_one_cron(services: dict[str, Any]) -> None:
    # The reconciler must run once per deployment: nothing may scale it.
    cron = services["cron"]
    assert "deploy" not in cron and "scale" not in cron
    assert "replicas" not in str(cron)
    assert services["worker"]["stop_grace_period"]  # a warm shutdown for a job in hand
