"""Production: the documented environment passes `check --deploy`, the image's scripts build
and serve the app the way Docker would, and the APIXO key stays out of pages, logs and
error reports. Docker itself can't run here, so the scripts it calls are tested instead."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import responses
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path
from django.views.debug import ExceptionReporter

from devtools.procs import CHROMIUM, CHROMIUM_ARGS
from jobs import apixo
from jobs.models import Job
from tests.conftest import free_port, make_job, make_user
from tests.integration.conftest import _database_env

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-live-0123456789abcdef-do-not-leak"


def documented_env() -> dict[str, str]:
    """The production environment block of docs/deploy.md, as a dict."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    block = text.split("<!-- production-env -->", 1)[1].split("```sh\n", 1)[1].split("```")[0]
    pairs = (line.split("=", 1) for line in block.splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs}


def clean_env(**values: str) -> dict[str, str]:
    """A child's environment: nothing of ours (DEBUG, DATABASE_URL...) leaks in."""
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT")
    return {**{k: os.environ[k] for k in keep if k in os.environ}, **values}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- check --deploy -------------------------------------------------------------------------


def test_check_deploy_is_clean_with_the_documented_env(tmp_path: Path) -> None:
    env = clean_env(**documented_env())
    # The documented secrets are files (Docker secrets): make them, with strong values.
    for name in [n for n in env if n.endswith("_FILE")]:
        secret = tmp_path / name.lower()
        secret.write_text(secrets.token_urlsafe(50))
        env[name] = str(secret)
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_is_not_clean_on_plain_http() -> None:
    """The check above really checks: the same settings on http:// are flagged."""
    env = clean_env(DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50))
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    for code in ("W004", "W008", "W012", "W016"):
        assert code in result.stderr


def run_with_settings(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run Python code in a child that loads the settings module with this environment."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean_env(DJANGO_SETTINGS_MODULE="upscaler_site.settings", PYTHONPATH=str(ROOT), **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result


def _settings_value(expression: str, **env: str) -> Any:
    """Evaluate an expression over the settings module in a child with this environment."""
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({expression}, default=str))"
    )
    return json.loads(run_with_settings(code, **env).stdout)


def test_it_enforces_csp_only_with_debug_off() -> None:
    csp = "django.middleware.csp.ContentSecurityPolicyMiddleware"
    assert csp not in _settings_value("settings.MIDDLEWARE")
    production = _settings_value("settings.MIDDLEWARE", DEBUG="false", SECRET_KEY="x" * 50)
    assert (
        production.index(csp)
        == production.index("django.middleware.security.SecurityMiddleware") + 1
    )


# --- media on S3 ----------------------------------------------------------------------------


def test_it_keeps_media_on_the_filesystem_by_default() -> None:
    backend = _settings_value("settings.STORAGES['default']['BACKEND']")
    assert backend == "django.core.files.storage.FileSystemStorage"


def _s3_storage() -> dict[str, Any]:
    return dict(
        _settings_value(
            "settings.STORAGES['default']",
            MEDIA_S3_BUCKET="upscaler-media",
            AWS_S3_ENDPOINT_URL="https://s3.example.com",
            AWS_S3_REGION_NAME="us-east-1",
            AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
            AWS_SECRET_ACCESS_KEY="not-a-real-secret",
        )
    )


def test_it_switches_media_to_s3() -> None:
    assert _s3_storage() == {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "upscaler-media",
            "location": "media",
            "default_acl": "private",
            "file_overwrite": False,
            "querystring_auth": True,
            "endpoint_url": "https://s3.example.com",
            "region_name": "us-east-1",
            "access_key": "AKIDEXAMPLE",
            "secret_key": "not-a-real-secret",
        },
    }


@pytest.mark.django_db
def test_it_serves_a_result_kept_on_s3(
    settings: Any, alice: User, alice_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's own paths (storage.save, the access-checked view) work on a bucket."""
    import boto3
    from moto import mock_aws

    s3 = _s3_storage()
    del s3["OPTIONS"]["endpoint_url"]  # moto answers for AWS's own endpoints
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="upscaler-media")
        settings.STORAGES = {**settings.STORAGES, "default": s3}
        name = default_storage.save("results/x.jpg", ContentFile(b"upscaled bytes"))
        job = make_job(alice, Job.State.SUCCESS, result_file=name)
        r = alice_client.get(f"/jobs/{job.code}/result/")
        assert r.status_code == 200
        assert b"".join(r.streaming_content) == b"upscaled bytes"  # type: ignore[attr-defined]
        objects = boto3.client("s3", region_name="us-east-1").list_objects_v2(
            Bucket="upscaler-media"
        )
        assert [o["Key"] for o in objects["Contents"]] == ["media/results/x.jpg"]


# --- templates and CSP ----------------------------------------------------------------------

TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_have_no_inline_scripts_or_styles(template: Path) -> None:
    """`script-src 'self'` and `style-src 'self'` would block them in production."""
    html = template.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert "<style" not in html, "inline <style>"
    assert not re.search(r"\sstyle=", html), "style= attribute"
    assert not re.search(r"<[a-zA-Z][^>]*\son[a-z]+\s*=", html), "on...= handler attribute"
    assert "javascript:" not in html


def test_templates_need_no_eval() -> None:
    for template in TEMPLATES:
        html = template.read_text()
        assert not re.search(r"hx-trigger=\"[^\"]*\[", html), f"{template}: hx-trigger filter"
        assert "hx-on" not in html, f"{template}: hx-on"
        assert "js:" not in html, f"{template}: js: in hx-vals"


# --- the APIXO key ---------------------------------------------------------------------------


@pytest.fixture
def real_key(settings: Any) -> str:
    settings.APIXO_API_KEY = KEY
    settings.APIXO_KEY = KEY
    settings.USING_ENGINE = False
    settings.APIXO_BASE_URL = "https://api.apixo.test/api/v1"
    return KEY


@pytest.mark.django_db
def test_the_key_is_not_in_pages(real_key: str, alice: User, alice_client: Client) -> None:
    make_job(alice, Job.State.FAILED, fail_code="Unauthorized", fail_msg="APIXO answered 401")
    for url in ("/", "/accounts/password_change/"):
        r = alice_client.get(url)
        assert r.status_code == 200
        assert real_key.encode() not in r.content


def test_the_key_is_not_in_logs(real_key: str, caplog: pytest.LogCaptureFixture) -> None:
    url = "https://api.apixo.test/api/v1/generateTask/image-upscaler"
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock() as rs:
        rs.add(responses.POST, url, body="<html>bad gateway</html>", status=200)
        rs.add(responses.POST, url, json={"code": 418, "message": "teapot"}, status=418)
        rs.add(responses.POST, url, body=OSError("connection reset"))
        for _ in range(3):
            with pytest.raises(Exception):  # noqa: B017 (any failure will do)
                apixo.submit_task("https://images.example.com/a.jpg", "2k", "jpg")
    assert caplog.records  # the unreadable answers were logged...
    assert real_key not in caplog.text  # ...without the key


def _report_html(exc_info: Any) -> str:
    return ExceptionReporter(None, *exc_info).get_traceback_html()


def _failed_submit_report() -> str:
    """The HTML error report of a submit that blew up inside requests. (Its own frame, so
    the report's frames are the app's and requests', not the test's, which holds the key.)"""
    url = "https://api.apixo.test/api/v1/generateTask/image-upscaler"
    with responses.RequestsMock() as rs:
        rs.add(responses.POST, url, body=RuntimeError("unexpected"))
        try:
            apixo.submit_task("https://images.example.com/a.jpg", "2k", "jpg")
        except RuntimeError:
            return _report_html(sys.exc_info())
    raise AssertionError("the submit did not fail")


def test_the_key_is_not_in_error_reports(real_key: str, settings: Any) -> None:
    settings.DEBUG = False  # reports filter only with DEBUG off, as in production
    html = _failed_submit_report()
    assert "Authorization" in html or "sensitive" in html.lower()  # the frames are there
    assert real_key not in html


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("something broke")


urlpatterns = [path("boom/", boom), path("", include("upscaler_site.urls"))]


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False])
def test_the_key_is_not_in_a_500_page(real_key: str, settings: Any, debug: bool) -> None:
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = debug  # True: Django's technical page, with the settings listed
    client = Client(raise_request_exception=False)
    client.force_login(make_user("dora"))
    r = client.get("/boom/")
    assert r.status_code == 500
    assert real_key.encode() not in r.content
    if debug:
        assert b"APIXO_API_KEY" in r.content  # listed, but masked


# --- the image's scripts, outside Docker -----------------------------------------------------


def _get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """GET without following redirects: (status, headers, body)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def _wait_for(url: str, status: int = 200, seconds: float = 30, **headers: str) -> bytes:
    deadline = time.monotonic() + seconds
    last: object = None
    while time.monotonic() < deadline:
        try:
            code, _, body = _get(url, **headers)
            if code == status:
                return body
            last = (code, body[:300])
        except OSError as e:
            last = e
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer {status} in {seconds} s: {last}")


def _start(role: str, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(ROOT / "scripts" / "entrypoint.sh"), role, *args], cwd=ROOT, env=env
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def production(
    request: pytest.FixtureRequest, tmp_path: Path, redis_url: str, transactional_db: None
) -> Iterator[dict[str, Any]]:
    """The image's steps, run here: build (collectstatic), then gunicorn and a worker, with
    DEBUG off, this run's test database and a Redis database of its own. SITE_URL is
    https (so behind a TLS proxy) unless the test parametrizes it."""
    queue_url = redis_url.rsplit("/", 1)[0] + "/9"
    redis.Redis.from_url(queue_url).flushdb()
    port = free_port()
    env = clean_env(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        SITE_URL=getattr(request, "param", "https://upscale.test"),
        STATIC_ROOT=str(tmp_path / "static"),
        DATA_DIR=str(tmp_path / "data"),
        REDIS_URL=queue_url,
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        PYTHON=sys.executable,
        **_database_env(),
    )
    build = subprocess.run(
        [str(ROOT / "scripts" / "build.sh"), "--no-install"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    procs = [_start("web", env), _start("worker", env)]
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(f"{base}/healthz", seconds=40)  # up, and the worker has registered
        yield {"url": base, "env": env, "static": tmp_path / "static"}
    finally:
        for proc in procs:
            _stop(proc)
        redis.Redis.from_url(queue_url).flushdb()


HTTPS = {"X-Forwarded-Proto": "https"}


@pytest.mark.timeout(180)
def test_the_production_server_works(production: dict[str, Any]) -> None:
    base = production["url"]

    # /healthz: every check ok, over plain HTTP (no redirect for load balancers).
    status, _, body = _get(f"{base}/healthz")
    assert status == 200
    assert json.loads(body)["checks"] == {"database": "ok", "redis": "ok", "worker": "ok"}

    # Plain HTTP is redirected to HTTPS everywhere else.
    status, headers, _ = _get(f"{base}/accounts/login/")
    assert status == 301
    assert headers["Location"] == "https://127.0.0.1:{}/accounts/login/".format(
        base.rsplit(":", 1)[1]
    )

    # A page over HTTPS (as the proxy tells it): strict headers, secure cookies, and hashed
    # static names from the manifest that collectstatic wrote.
    status, headers, body = _get(f"{base}/accounts/login/", **HTTPS)
    assert status == 200
    assert headers["Content-Security-Policy"] == (
        "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    cookie = headers["Set-Cookie"]
    assert cookie.startswith("csrftoken=")
    assert "; Secure" in cookie
    manifest = json.loads((production["static"] / "staticfiles.json").read_text())["paths"]
    css = manifest["css/app.css"]
    assert css != "css/app.css"
    assert f'href="/static/{css}"'.encode() in body

    # Static files: hashed, compressed, cached for good.
    status, headers, body = _get(f"{base}/static/{css}", **HTTPS, **{"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Type"].startswith("text/css")
    assert headers["Content-Encoding"] == "gzip"
    assert "immutable" in headers["Cache-Control"]
    status, _, _ = _get(f"{base}/static/{manifest['django_htmx/htmx-2.min.js']}", **HTTPS)
    assert status == 200

    # Docker's HEALTHCHECK script agrees.
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "healthcheck.py"), "web"],
        env=production["env"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.timeout(180)
@pytest.mark.parametrize("production", ["http://localhost"], indirect=True)
def test_no_page_breaks_the_csp_in_chromium(production: dict[str, Any], settings: Any) -> None:
    """Chromium enforces the real policy: any inline style or script, or a style htmx
    injects, shows up as a console error. Logged in, so the gallery (htmx, app.js) loads.
    (Plain HTTP here: the browser can't sit behind a TLS proxy; CSP is on all the same.)"""
    from playwright.sync_api import sync_playwright

    # A hash the server can check: the test run's fast MD5 hasher isn't in its settings.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    User.objects.create_user("erin", "erin@example.org", "a-long-password-1")
    base = production["url"].replace("127.0.0.1", "localhost")
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{base}/accounts/login/")
            page.fill("input[name=username]", "erin")
            page.fill("input[name=password]", "a-long-password-1")
            page.click("button[type=submit], input[type=submit]")
            page.wait_for_url(f"{base}/")
            page.wait_for_load_state("networkidle")
            assert page.evaluate("typeof window.htmx") == "object"
        finally:
            browser.close()
    assert problems == []


@pytest.mark.timeout(120)
def test_the_entrypoint_migrates_and_runs_the_engine(tmp_path: Path) -> None:
    env = clean_env(SQLITE_PATH=str(tmp_path / "db.sqlite3"), PYTHON=sys.executable)
    migrate = subprocess.run(
        [str(ROOT / "scripts" / "entrypoint.sh"), "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert "Applying jobs.0001_initial... OK" in migrate.stdout

    port = str(free_port())
    env.update(ENGINE_HOST="127.0.0.1", ENGINE_PORT=port, ENGINE_DATA_DIR=str(tmp_path / "e"))
    engine = _start("engine", env)
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz")
        check = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "healthcheck.py"), "engine"],
            env=env,
            timeout=30,
        )
        assert check.returncode == 0
    finally:
        _stop(engine)
    assert engine.returncode == 0  # a clean stop on SIGTERM
