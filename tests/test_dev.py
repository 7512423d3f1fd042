"""Development comfort: a log a person can follow, emails a person can click (printed, and on
/dev/emails/ for staff), sample images and links that follow the configured ports, and
`make run` stopping Redis last."""

from __future__ import annotations

import importlib.util
import logging
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import django_rq
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from jobs import dev
from tests.conftest import free_port
from tests.test_deploy import ROOT, _settings_value, clean_env, run_with_settings

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

DEV_MAIL = {"default": {"BACKEND": "jobs.dev.ConsoleEmailBackend"}}


@pytest.fixture(autouse=True)
def _no_noted_emails() -> Iterator[None]:
    django_rq.get_connection("default").delete(dev.EMAILS_KEY)
    yield
    django_rq.get_connection("default").delete(dev.EMAILS_KEY)


@pytest.fixture
def development(settings: Any) -> Any:
    """DEBUG on, with the development email backend (the test run's default is locmem)."""
    settings.DEBUG = True
    settings.MAILERS = DEV_MAIL
    return settings


def _reset(client: Client, user: User) -> None:
    r = client.post(reverse("password_reset"), {"email": user.email})
    assert r.status_code == 302


# --- the console email ------------------------------------------------------------------


def test_the_printed_reset_link_is_whole_and_works(
    development: Any, alice: User, capsys: pytest.CaptureFixture[str]
) -> None:
    _reset(Client(), alice)
    printed = capsys.readouterr().out

    assert "quoted-printable" not in printed and "=\n" not in printed
    assert "To: alice@example.org" in printed
    links = re.findall(r"^http://testserver(/accounts/reset/\S+)$", printed, re.MULTILINE)
    assert len(links) == 1
    # The link as a person copies it from the terminal leads to the new-password form.
    r = Client().get(links[0], follow=True)
    assert "invalid" not in r.content.decode()
    assert "new_password1" in r.content.decode()


def test_it_prints_the_text_as_written(
    development: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from django.core.mail import send_mail

    long_line = "You’ve been invited: " + "https://example.org/invite/" + "x" * 120
    send_mail("Hello", long_line, None, ["bob@example.org"])

    assert long_line in capsys.readouterr().out.splitlines()


# --- /dev/emails/ -------------------------------------------------------------------------


def test_it_lists_a_reset_link_for_staff(
    development: Any, alice: User, staff_client: Client
) -> None:
    _reset(Client(), alice)

    page = staff_client.get(reverse("dev_emails")).content.decode()

    assert "Password reset on testserver" in page
    assert re.search(r'<a href="http://testserver/accounts/reset/[^"]+/">', page)


def test_it_lists_an_invitation_link(
    development: Any, alice: User, staff_client: Client, alice_client: Client
) -> None:
    from tests.conftest import make_team

    team = make_team(alice)
    r = alice_client.post(
        reverse("team_invite", args=[team.code]), {"email": "new@example.org", "role": "member"}
    )
    assert r.status_code == 302

    page = staff_client.get(reverse("dev_emails")).content.decode()

    assert "invited to Acme" in page
    assert re.search(rf'<a href="{re.escape(development.SITE_URL)}/invite/[^"]+/">', page)


def test_it_lists_emails_other_processes_sent(development: Any, staff_client: Client) -> None:
    """The worker sends batch and spend emails: the page shows what any process printed."""
    import os

    env = clean_env(REDIS_URL=os.environ["REDIS_URL"], SQLITE_PATH="/nonexistent/db.sqlite3")
    sent = subprocess.run(
        [sys.executable, "manage.py", "sendtestemail", "ops@example.org"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sent.returncode == 0, sent.stderr
    assert "To: ops@example.org" in sent.stdout

    page = staff_client.get(reverse("dev_emails")).content.decode()

    assert "Test email from" in page and "ops@example.org" in page


def test_it_requires_login(development: Any) -> None:
    r = Client().get(reverse("dev_emails"))
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]


def test_it_is_404_for_non_staff(development: Any, alice: User, alice_client: Client) -> None:
    _reset(Client(), alice)
    assert alice_client.get(reverse("dev_emails")).status_code == 404


def test_it_is_404_when_debug_is_off(development: Any, alice: User, staff_client: Client) -> None:
    _reset(Client(), alice)
    development.DEBUG = False
    assert staff_client.get(reverse("dev_emails")).status_code == 404


def test_it_keeps_no_copy_when_debug_is_off(
    development: Any, alice: User, staff_client: Client
) -> None:
    development.DEBUG = False
    _reset(Client(), alice)
    development.DEBUG = True
    assert "No email sent yet" in staff_client.get(reverse("dev_emails")).content.decode()


def test_it_keeps_the_last_twenty(development: Any, staff_client: Client) -> None:
    from django.core.mail import send_mail

    for n in range(dev.EMAILS_KEPT + 3):
        send_mail(f"Message {n}", "body", None, ["x@example.org"])

    emails = staff_client.get(reverse("dev_emails")).context["emails"]

    assert [e["subject"] for e in emails] == [
        f"Message {n}" for n in range(dev.EMAILS_KEPT + 2, 2, -1)
    ]


# --- the development log ------------------------------------------------------------------


def _record(name: str, message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


@pytest.mark.parametrize(
    ("name", "message", "level", "shown"),
    [
        ("rq.worker", "default: Job OK (0ad1e3dc)", logging.INFO, False),
        ("rq.scheduler", "Scheduler for default started", logging.INFO, False),
        ("rq.worker", "Work-horse terminated unexpectedly", logging.ERROR, True),
        ("axes.handlers.database", "AXES: Successful login by alice", logging.INFO, False),
        ("axes.handlers.database", "AXES: Locking out alice", logging.WARNING, True),
        ("django.server", '"GET / HTTP/1.1" 200 6629', logging.INFO, True),
        ("django.server", '"GET /gallery/poll/ HTTP/1.1" 500 0', logging.ERROR, True),
        ("django.server", '"GET /static/css/app.css HTTP/1.1" 304 0', logging.INFO, False),
        ("django.server", '"GET /static/css/gone.css HTTP/1.1" 404 179', logging.WARNING, True),
        ("jobs.models", "job 1 logo.png: pending -> success (2k jpg, 2 s)", logging.INFO, True),
    ],
)
def test_the_development_log_drops_only_routine_lines(
    name: str, message: str, level: int, shown: bool
) -> None:
    assert dev.QuietDevelopmentLog().filter(_record(name, message, level)) is shown


def test_the_development_log_drops_the_live_poll() -> None:
    url = reverse("gallery_poll") + "?since=0&oldest=0&v=4924.1796"
    assert not dev.QuietDevelopmentLog().filter(
        _record("django.server", f'"GET {url} HTTP/1.1" 204 0')
    )


def _log_through_settings(**env: str) -> str:
    """What the console shows of a job line and an RQ line, logged with this environment's
    settings (as a worker process configures them)."""
    code = textwrap.dedent(
        """
        import django, logging
        django.setup()
        logging.getLogger("rq.worker").setLevel("INFO")  # as rqworker sets it
        logging.getLogger("rq.worker").info("default: Job OK (abc)")
        logging.getLogger("jobs.models").info("job 1 a.png: queued -> submitting")
        """
    )
    return run_with_settings(code, **env).stderr


def test_development_logs_job_changes_without_rqs_lines() -> None:
    shown = _log_through_settings()
    assert "job 1 a.png: queued -> submitting" in shown
    assert "Job OK" not in shown


def test_production_keeps_rqs_lines() -> None:
    shown = _log_through_settings(DEBUG="false", SECRET_KEY="x" * 50)
    assert "Job OK" in shown and "queued -> submitting" in shown


# --- sample images and the configured ports -----------------------------------------------


def test_the_gallery_offers_the_engines_samples(settings: Any, alice_client: Client) -> None:
    settings.ENGINE_URL = "http://127.0.0.1:8200"
    page = alice_client.get(reverse("gallery")).content.decode()
    assert "Try a sample" in page
    for name in ("landscape.jpg", "logo.png"):
        assert f'href="http://127.0.0.1:8200/samples/{name}" data-sample' in page


def test_the_gallery_offers_no_samples_with_a_real_key(settings: Any, alice_client: Client) -> None:
    settings.USING_ENGINE = False
    assert "Try a sample" not in alice_client.get(reverse("gallery")).content.decode()


def test_the_sample_on_the_configured_engine_port_is_allowed() -> None:
    check = "__import__('lib.fetch').fetch.check_url('http://127.0.0.1:8200/samples/logo.png')"
    assert _settings_value(check, ENGINE_URL="http://127.0.0.1:8200").endswith("/logo.png")


def test_only_the_engine_is_allow_listed() -> None:
    allowed = _settings_value("settings.FETCH_ALLOWED_HOSTS", ENGINE_URL="http://127.0.0.1:8200")
    assert allowed == ["127.0.0.1:8200"]


def test_an_engine_url_without_a_port_is_allowed_on_its_default_port() -> None:
    allowed = _settings_value("settings.FETCH_ALLOWED_HOSTS", ENGINE_URL="http://Engine.local")
    assert allowed == ["engine.local:80"]


# --- scripts/run.py -----------------------------------------------------------------------


def _run_script(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("run_script", ROOT / "scripts" / "run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_banner_follows_the_configured_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    run = _run_script(monkeypatch, PORT="8080", ENGINE_PORT="8180")
    text = run.banner()
    assert "http://127.0.0.1:8080/" in text
    assert "http://127.0.0.1:8180/samples/landscape.jpg" in text
    assert "staff superuser, for local use only" in text


def test_it_knows_when_redis_answers(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    run = _run_script(monkeypatch)
    assert run.redis_answers(int(redis_url.rsplit(":", 1)[1].split("/")[0]))
    assert not run.redis_answers(free_port())


def test_it_stops_redis_last(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A worker still talking to Redis while it stops (releasing its locks) finds it there."""
    run = _run_script(monkeypatch)
    log = tmp_path / "stopped"
    child = textwrap.dedent(
        """
        import signal, sys, time
        def stop(*_):
            time.sleep(float(sys.argv[2]))  # a worker finishing its job first
            open(sys.argv[3], "a").write(sys.argv[1] + "\\n")
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        print("ready", flush=True)
        while True:
            time.sleep(0.1)
        """
    )

    def start(name: str, delay: str) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-c", child, name, delay, str(log)]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE)
        assert p.stdout is not None and p.stdout.readline() == b"ready\n"
        return p

    procs = [("redis", start("redis", "0")), ("worker", start("worker", "0.5"))]
    procs.append(("web", start("web", "0")))

    run.stop_all(procs)

    assert log.read_text().splitlines() == ["web", "worker", "redis"]
    assert all(p.returncode == 0 for _, p in procs)
