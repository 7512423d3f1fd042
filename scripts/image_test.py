"""Build the container image from this checkout and smoke-test every role of it.

    python scripts/image_test.py [--fresh | --no-build] [--keep]

No Docker engine runs on our machines, so this uses Debian's own tools (docs/deploy.md,
"The image without Docker"):

1. base: `mmdebstrap --variant=minbase trixie` made into the local image BASE_IMAGE
   (skipped when it is there already);
2. build: `buildah bud --isolation=chroot` of the Dockerfile with that base, timed;
3. the image: its user, entrypoint, command and health check, no compiler, the engine's
   weights inside it;
4. a deployment of it: one container per role (`buildah run --isolation chroot`, each in
   a working container of its own, on the host's network), as compose.yaml runs them:
   migrate, then the engine, a worker, cron and web; Redis is the host's redis-server on
   a free port (compose's `redis` service) and the database is SQLite in the /data volume
   that web, worker and migrate share (compose's `media` volume);
5. the web's HEALTHCHECK and GET /healthz answer 200 (database, Redis, a worker, the cron
   role's reconciler heartbeat); a
   user signs up through the web, submits an upload and a link in one form, and both
   jobs are fetched, submitted, upscaled by the engine with a real model, downloaded by
   the worker, and served back to the user.

Every wait has a time limit, and the whole run has one (TOTAL_LIMIT), so a hang fails in
minutes. Exit 0 when every check passed. --fresh (CI) makes the base anew and builds with
no cached layer, as on a new machine; --no-build reuses the image built last time; --keep
leaves the containers' volumes and logs in the temp folder it prints.
"""

from __future__ import annotations

import argparse
import contextlib
import http.cookiejar
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: devtools/ is a package at the top level

from devtools import procs  # noqa: E402
from devtools.procs import free_port  # noqa: E402

IMAGE = "localhost/upscaler:test"
BASE_IMAGE = "localhost/debian-minbase:trixie"
# A TLS-intercepting proxy's CA, when the machine has one: handed to the build's PyPI
# steps as a build secret (see the Dockerfile), never copied into the image.
CA_BUNDLE = Path(os.environ.get("IMAGE_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt"))
UPLOAD = ROOT / "tests" / "fixtures" / "chelsea.jpg"
TOTAL_LIMIT = 40 * 60  # seconds, build included
JOB_LIMIT = 240  # seconds for both jobs to finish
ENGINE_MODEL = "realesr-animevideov3-x4"
APP_UID = 10001

START = time.monotonic()
PASSED: list[str] = []


class Failed(Exception):
    """A check failed; str() says which and why."""


def say(message: str) -> None:
    print(f"[image-test {time.monotonic() - START:7.1f}s] {message}", flush=True)


def passed(message: str) -> None:
    """A check that passed: counted for the closing line, and said."""
    PASSED.append(message)
    say(message)


def run(cmd: Sequence[str], timeout: float, **kwargs: Any) -> str:
    """Run a command to its end; return its stdout. Fail with its output otherwise."""
    try:
        done = subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=timeout, check=False, **kwargs
        )
    except subprocess.TimeoutExpired as exc:
        raise Failed(f"{' '.join(cmd[:6])} ... took more than {timeout} s") from exc
    if done.returncode != 0:
        raise Failed(
            f"{' '.join(cmd[:6])} ... exited {done.returncode}:\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return str(done.stdout)


def wait_for(what: str, seconds: float, probe: Any, every: float = 0.5) -> Any:
    """Call probe() until it returns something truthy; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (OSError, Failed) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise Failed(f"{what}: not within {seconds} s (last: {last!r})")


# --- base and build -------------------------------------------------------------------------


def image_exists(name: str) -> bool:
    return (
        subprocess.run(
            ["buildah", "inspect", "--type", "image", name], capture_output=True, check=False
        ).returncode
        == 0
    )


def make_base(tmp: Path, fresh: bool) -> None:
    """Debian 13 minbase from Debian's own archive, as a local image."""
    if image_exists(BASE_IMAGE) and not fresh:
        say(f"base {BASE_IMAGE} is there already")
        return
    tarball = tmp / "base.tar"
    began = time.monotonic()
    run(["mmdebstrap", "--quiet", "--variant=minbase", "trixie", str(tarball)], timeout=600)
    container = run(["buildah", "from", "scratch"], timeout=60).strip()
    try:
        run(["buildah", "add", "--quiet", container, str(tarball), "/"], timeout=300)
        run(["buildah", "config", "--cmd", "bash", container], timeout=60)
        run(["buildah", "commit", "--quiet", container, BASE_IMAGE], timeout=300)
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False)
        tarball.unlink(missing_ok=True)
    say(f"base {BASE_IMAGE} made in {time.monotonic() - began:.0f} s")


def build(log: Path, fresh: bool) -> float:
    """Build the Dockerfile into IMAGE; return the seconds it took."""
    cmd = [
        "buildah",
        "bud",
        "--isolation=chroot",
        "--pull=never",
        "--format=docker",  # keeps HEALTHCHECK, which the OCI format has no field for
        "--layers",
        f"--build-arg=BASE={BASE_IMAGE}",
        f"--tag={IMAGE}",
    ]
    if fresh:
        cmd.append("--no-cache")
    if CA_BUNDLE.is_file():
        cmd.append(f"--secret=id=ca,src={CA_BUNDLE}")
    began = time.monotonic()
    with log.open("w") as out:
        try:
            done = subprocess.run(
                [*cmd, str(ROOT)], stdout=out, stderr=subprocess.STDOUT, timeout=1800, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise Failed("the image build took more than 30 minutes") from exc
    if done.returncode != 0:
        raise Failed(f"the build failed:\n{log.read_text()[-4000:]}")
    return time.monotonic() - began


def inspect_image() -> dict[str, Any]:
    return dict(json.loads(run(["buildah", "inspect", "--type", "image", IMAGE], timeout=60)))


# --- containers -----------------------------------------------------------------------------


class Container:
    """A working container of IMAGE, running one command at a time via `buildah run`."""

    def __init__(self, role: str, env: dict[str, str], volumes: dict[Path, str]) -> None:
        self.role = role
        self.env = env
        self.volumes = volumes
        self.name = f"upscaler-image-test-{role}-{os.getpid()}"
        subprocess.run(["buildah", "rm", self.name], capture_output=True, check=False)
        self.id = run(["buildah", "from", "--pull=never", "--name", self.name, IMAGE], 120)
        self.id = self.id.strip()
        self.mountpoint = run(["buildah", "mount", self.id], 60).strip()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: Path | None = None

    def _cmd(self, argv: Sequence[str], env: dict[str, str] | None = None) -> list[str]:
        cmd = ["buildah", "run", "--isolation", "chroot"]
        for host, inside in self.volumes.items():
            cmd += ["--volume", f"{host}:{inside}"]
        for key, value in {**self.env, **(env or {})}.items():
            cmd += ["--env", f"{key}={value}"]
        return [*cmd, self.id, "--", *argv]

    def exec(self, argv: Sequence[str], timeout: float = 120, **env: str) -> str:
        return run(self._cmd(argv, env), timeout)

    def exit_code(self, argv: Sequence[str], timeout: float = 30) -> int:
        try:
            done = subprocess.run(
                self._cmd(argv), capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return -1
        return done.returncode

    def start(self, argv: Sequence[str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                self._cmd(argv), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pids_inside(self) -> list[int]:
        """Host pids of processes chrooted into this container (chroot isolation makes no
        pid namespace, so this is how leftovers are found)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if os.readlink(entry / "root") == self.mountpoint:
                    pids.append(int(entry.name))
        return pids

    def stop(self) -> None:
        """SIGTERM (the graceful stop `docker stop` sends), then SIGKILL after 20 s."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            for pid in self.pids_inside():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for pid in self.pids_inside():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        subprocess.run(["buildah", "rm", self.id], capture_output=True, check=False)

    def tail(self, lines: int = 40) -> str:
        if self.log is None or not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


# --- the web, as a user sees it -------------------------------------------------------------


class Browser:
    """Cookies, CSRF tokens and forms over urllib: what a person's browser would send."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def request(
        self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        url = path if path.startswith("http") else self.base + path
        req = urllib.request.Request(url, data=data, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def csrf(self, path: str) -> str:
        status, body, _ = self.request(path)
        if status != 200:
            raise Failed(f"GET {path}: {status}")
        found = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
        if not found:
            raise Failed(f"GET {path}: no CSRF token in the page")
        return found.group(1).decode()

    def post_form(self, path: str, fields: dict[str, str]) -> tuple[int, bytes]:
        fields = {"csrfmiddlewaretoken": self.csrf(path), **fields}
        data = urlencode(fields).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        status, body, _ = self.request(path, data, headers)
        return status, body

    def post_multipart(
        self, path: str, form_page: str, fields: dict[str, str], files: dict[str, Path]
    ) -> tuple[int, bytes]:
        boundary = uuid.uuid4().hex
        out = io.BytesIO()
        for name, value in {"csrfmiddlewaretoken": self.csrf(form_page), **fields}.items():
            out.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
        for name, file in files.items():
            out.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{file.name}"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
            )
            out.write(file.read_bytes() + b"\r\n")
        out.write(f"--{boundary}--\r\n".encode())
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        status, body, _ = self.request(path, out.getvalue(), headers)
        return status, body


# --- the smoke test -------------------------------------------------------------------------


def check_image(config: dict[str, Any], probe: Container) -> list[str]:
    """What the image declares and holds. Return the entrypoint, for running each role."""
    oci = config["OCIv1"]["config"]
    entrypoint = list(oci.get("Entrypoint") or [])
    if entrypoint != ["scripts/entrypoint.sh"] or oci.get("Cmd") != ["web"]:
        raise Failed(f"entrypoint/cmd: {entrypoint} {oci.get('Cmd')}")
    if oci.get("User") != f"{APP_UID}:{APP_UID}":
        raise Failed(f"the image runs as {oci.get('User')!r}, not the app's own user")
    health = (config.get("Docker", {}).get("config") or {}).get("Healthcheck") or {}
    if health.get("Test") != ["CMD", "python", "scripts/healthcheck.py"]:
        raise Failed(f"no HEALTHCHECK kept in the image: {health}")
    if probe.exec(["id", "-u"]).strip() != str(APP_UID):
        raise Failed("a container does not run as uid 10001")
    compilers = probe.exec(
        ["sh", "-c", "for c in cc gcc c++ g++ clang make; do command -v $c; done; true"]
    ).split()
    if compilers:
        raise Failed(f"compilers in the final image: {compilers}")
    # The weights are checked where the engine reads them, and offline: the image must not
    # need the registry at run time.
    out = probe.exec(["python", "-m", "apixo_engine.weights"], PIP_NO_INDEX="1")
    if "verified" not in out:
        raise Failed(f"weights: {out}")
    return entrypoint


def start_redis(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    """The host's redis-server, standing in for compose's `redis` service."""
    log = (tmp / "redis.log").open("wb")
    proc = subprocess.Popen(procs.redis_command(port, tmp), stdout=log, stderr=subprocess.STDOUT)

    def answers() -> bool:
        if proc.poll() is not None:
            raise Failed(f"redis-server exited: {(tmp / 'redis.log').read_text()[-1000:]}")
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True

    wait_for("Redis", 20, answers, every=0.1)
    return proc


def deploy(
    tmp: Path, entrypoint: list[str], redis_port: int, containers: list[Container]
) -> dict[str, Any]:
    """Migrate, then start every long-running role; return what the checks need."""
    web_port, engine_port = free_port(), free_port()
    site = f"http://127.0.0.1:{web_port}"
    engine = f"http://127.0.0.1:{engine_port}"
    data, engine_data = tmp / "volumes" / "data", tmp / "volumes" / "engine"
    for folder in (data, engine_data):
        folder.mkdir(parents=True)
        os.chown(folder, APP_UID, APP_UID)
    logs = tmp / "logs"
    logs.mkdir()

    app_env = {
        # compose.yaml's x-app environment, with this run's addresses.
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SITE_URL": site,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "SQLITE_PATH": "/data/db.sqlite3",
        "ENGINE_URL": engine,
        "BIND": f"127.0.0.1:{web_port}",
        "WEB_CONCURRENCY": "1",
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        # Quick polls, as in the integration tests: a smoke test, not a load test.
        "APIXO_FIRST_POLL": "0.5",
        "APIXO_POLL_INTERVAL": "0.5",
        "APIXO_POLL_INTERVAL_8K": "0.5",
    }
    volumes = {data: "/data"}

    def container(role: str, env: dict[str, str], vols: dict[Path, str]) -> Container:
        c = Container(role, env, vols)
        containers.append(c)
        return c

    migrate = container("migrate", app_env, volumes)
    began = time.monotonic()
    migrate.exec([*entrypoint, "migrate"], timeout=300)
    passed(f"migrate: done in {time.monotonic() - began:.0f} s")

    engine_env = {
        **app_env,
        "ENGINE_HOST": "127.0.0.1",
        "ENGINE_PORT": str(engine_port),
        "ENGINE_PUBLIC_URL": engine,
        "ENGINE_ALLOWED_HOSTS": f"127.0.0.1:{web_port},localhost:{web_port}",
        # A real model from the image's weights, but the light one: `auto` picks
        # realesrgan-x4plus for small sources, minutes of CPU on a shared 2-core machine.
        "ENGINE_MODEL": ENGINE_MODEL,
    }
    started = {
        "engine": container("engine", engine_env, {engine_data: "/data/engine"}),
        "worker": container("worker", app_env, volumes),
        "cron": container("cron", app_env, volumes),
        "web": container("web", app_env, volumes),
    }
    for role, c in started.items():
        c.start([*entrypoint, role], logs / f"{role}.log")
    return {"site": site, "engine_url": engine, **started}


def healthy(web: Container, engine: Container, site: str) -> None:
    # The image's HEALTHCHECK, with the role named: under chroot isolation PID 1 is the
    # host's, so the script cannot read the role from it (in Docker and podman it does).
    def ok(c: Container, role: str) -> bool:
        if not c.alive():
            raise Failed(f"the {c.role} container exited:\n{c.tail()}")
        return c.exit_code(["python", "scripts/healthcheck.py", role]) == 0

    wait_for("the engine's health check", 90, lambda: ok(engine, "engine"))
    passed("engine: HEALTHCHECK passes")
    wait_for("the web's health check", 180, lambda: ok(web, "web"), every=1)
    # The cron container's heartbeat too: the reconciler runs in the image's cron role.
    checks = {"database": "ok", "redis": "ok", "worker": "ok"}
    body: dict[str, object] = {}

    def all_ok() -> bool:
        nonlocal body
        with urllib.request.urlopen(site + "/healthz", timeout=10) as response:
            body = json.loads(response.read())
        return body == {"status": "ok", "checks": checks, "reconciler": "ok"}

    try:
        wait_for("/healthz with every check ok", 60, all_ok, every=2)
    except Failed as exc:
        raise Failed(f"/healthz: {body}") from exc
    passed(f"web: HEALTHCHECK passes; GET /healthz 200 {body['checks']}, reconciler ok")


def form_errors(page: bytes) -> list[str]:
    """The messages of a page's error lists, as text."""
    lists = re.findall(rb'class="(?:errorlist|errors)[^"]*"[^>]*>(.*?)</(?:ul|div)>', page, re.S)
    return [re.sub(rb"<[^>]+>|\s+", b" ", item).decode().strip() for item in lists]


def submit_and_fetch(site: str, engine: str) -> None:
    user = Browser(site)
    name = f"smoke{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(16)
    fields = {"username": name, "email": f"{name}@example.org"}
    status, body = user.post_form(
        "/accounts/signup/", {**fields, "password1": password, "password2": password}
    )
    if status != 200 or b"Log out" not in body and b"logout" not in body:
        raise Failed(f"sign-up: {status} {body[:1500]!r}")
    status, body = user.post_form("/accounts/tokens/", {"name": "image-test"})
    token = re.search(rb"ups_[A-Za-z0-9_-]{20,}", body)
    if status != 201 or not token:
        raise Failed(f"API token: {status}")
    api = {"Authorization": f"Bearer {token.group().decode()}"}

    link = f"{engine}/samples/landscape.jpg"
    form = {"urls": link, "resolution": "2k", "output_format": "jpg", "key": str(uuid.uuid4())}
    status, body = user.post_multipart("/jobs/", "/", form, {"images": UPLOAD})
    if status != 200:
        raise Failed(f"submit: {status} {form_errors(body)}")
    passed("web: a user signed up and submitted an upload and a link")

    def finished() -> list[dict[str, Any]] | str:
        """Both jobs, once neither is in flight; else their states, for the failure."""
        status, body, _ = user.request("/api/v1/jobs", headers=api)
        if status != 200:
            raise Failed(f"GET /api/v1/jobs: {status}")
        jobs = list(json.loads(body)["jobs"])
        in_flight = {"queued", "submitting", "pending", "processing"}
        if len(jobs) == 2 and not any(j["state"] in in_flight for j in jobs):
            return jobs
        return ""  # falsy: keep waiting

    def states() -> str:
        _, body, _ = user.request("/api/v1/jobs", headers=api)
        return str([(j["source"]["name"], j["state"]) for j in json.loads(body)["jobs"]])

    began = time.monotonic()
    try:
        jobs = wait_for("both jobs to finish", JOB_LIMIT, finished, every=1)
    except Failed as exc:
        raise Failed(f"{exc}; jobs: {states()}") from None
    passed(f"worker + engine: both jobs finished in {time.monotonic() - began:.0f} s")
    for job in jobs:
        label = job["source"]["url"] or job["source"]["name"]
        if job["state"] != "success":
            raise Failed(f"{label}: {job['state']} {job['fail_code']} {job['fail_message']}")
        made_by = job["result"]["made_by"]
        if made_by != f"Embedded engine: {ENGINE_MODEL}":
            raise Failed(f"{label}: made by {made_by!r}: are the weights in the image?")
        # The download a person makes (session) and the API's: the same JPEG, 2048 px.
        status, web_bytes, headers = user.request(f"/jobs/{job['id']}/result/")
        if status != 200:
            raise Failed(f"{label}: the result page download answered {status}")
        status, api_bytes, _ = user.request(job["result"]["url"], headers=api)
        if status != 200 or api_bytes != web_bytes:
            raise Failed(f"{label}: the API's result differs ({status})")
        with Image.open(io.BytesIO(web_bytes)) as result:
            if result.format != "JPEG" or max(result.size) != 2048:
                raise Failed(f"{label}: result is {result.format} {result.size}")
        status, thumb, _ = user.request(f"/jobs/{job['id']}/thumb/")
        if status != 200 or not thumb:
            raise Failed(f"{label}: no thumbnail ({status})")
        passed(f"{label}: success, {made_by}, {result.size[0]}x{result.size[1]} downloaded")


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def expired(signum: int, frame: Any) -> None:
        raise Failed(f"the whole image test took more than {seconds} s")

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/image_test.py", description=__doc__)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--fresh", action="store_true", help="no cached base or layer (CI)")
    which.add_argument("--no-build", action="store_true", help="reuse the last image")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)
    for tool in ("buildah", "mmdebstrap", "redis-server"):
        if not shutil.which(tool):
            print(f"image-test needs {tool} (make image-deps installs it)", file=sys.stderr)
            return 2
    tmp = Path(tempfile.mkdtemp(prefix="upscaler-image-test-"))
    containers: list[Container] = []
    redis_proc: subprocess.Popen[bytes] | None = None
    failed = 1
    try:
        with time_limit(TOTAL_LIMIT):
            if not args.no_build:
                make_base(tmp, args.fresh)
                seconds = build(tmp / "build.log", args.fresh)
                passed(f"build: {IMAGE} built in {seconds:.0f} s")
            config = inspect_image()
            size = run(["buildah", "images", "--format", "{{.Size}}", IMAGE], 60).strip()
            say(f"image: {IMAGE} is {size}")
            probe = Container("probe", {}, {})
            containers.append(probe)
            entrypoint = check_image(config, probe)
            passed("image: runs as uid 10001, no compiler, weights verified offline")
            redis_port = free_port()
            redis_proc = start_redis(tmp, redis_port)
            parts = deploy(tmp, entrypoint, redis_port, containers)
            healthy(parts["web"], parts["engine"], parts["site"])
            submit_and_fetch(parts["site"], parts["engine_url"])
            for role in ("web", "worker", "cron", "engine"):
                if not parts[role].alive():
                    raise Failed(f"the {role} container exited:\n{parts[role].tail()}")
            passed("every role still running")
        failed = 0
        return 0
    except Failed as exc:
        say(f"FAILED: {exc}")
        for c in containers:
            if c.log is not None:
                print(f"--- {c.role} log (last lines) ---\n{c.tail()}", flush=True)
        return 1
    finally:
        for c in reversed(containers):
            c.stop()
        if redis_proc is not None:
            procs.stop(redis_proc)
        if args.fresh:  # what the rebuild left behind: old bases, layers of earlier builds
            subprocess.run(["buildah", "rmi", "--prune"], capture_output=True, check=False)
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        say("containers removed")
        # The plain closing line a CI reader counts, after the clean-up's own lines.
        print(f"image-test: {len(PASSED)} passed, {failed} failed", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
