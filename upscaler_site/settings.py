"""Settings for Upscaler, read from environment variables.

Every setting has a default that runs on a laptop with no environment at all: SQLite,
DEBUG on, Redis on localhost, and no APIXO key (which points the client at the embedded
engine). The README has a table of every variable.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import tempfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

# Lets generic classes such as ModelAdmin[Job] be subscripted at run time, for mypy.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


def envstr(name: str, default: str) -> str:
    """Return the variable, or the contents of the file named by NAME_FILE, or default."""
    path = os.getenv(name + "_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.getenv(name, default)


def envbool(name: str, default: str) -> bool:
    value = envstr(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), not {value!r}")


def envint(name: str, default: str) -> int:
    value = envstr(name, default)
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def envfloat(name: str, default: str) -> float:
    value = envstr(name, default)
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in envstr(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", "true")
SECRET_KEY = envstr("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"

DATA_DIR = Path(envstr("DATA_DIR", str(BASE_DIR / "var")))

SITE_URL = envstr("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
SITE_NAME = "Upscaler"
_site = urlsplit(SITE_URL)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", f"{_site.hostname},localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = [f"{_site.scheme}://{_site.netloc}"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_rq",
    "axes",
    "jobs",
    "teams",
    "accounts",
    "spend",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Before CsrfViewMiddleware, which reads the body: one upload at a time per user.
    "lib.uploads.one_upload_at_a_time",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "upscaler_site.urls"
WSGI_APPLICATION = "upscaler_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "jobs.context_processors.site",
            ],
            "builtins": ["jobs.templatetags.upscaler"],
        },
    },
]

# SQLite by default, tuned so the web process, the worker and concurrent tests don't hit
# "database is locked": WAL lets readers run beside a writer, IMMEDIATE takes the write
# lock at BEGIN (no deadlocking upgrade), and the timeout waits for it instead of failing.
DATABASE_URL = envstr("DATABASE_URL", "")
if DATABASE_URL:
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    _sqlite_path = Path(envstr("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")))
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(_sqlite_path),
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            # A file, not memory, so worker processes started by the tests can open it;
            # one per test run, so a crashed run's leftovers never trip the next one.
            "TEST": {
                "NAME": envstr(
                    "SQLITE_TEST_PATH",
                    str(Path(tempfile.gettempdir()) / f"upscaler-test-{os.getpid()}.sqlite3"),
                )
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login brute force: after AXES_FAILURE_LIMIT wrong passwords for one username from one
# address, that pair waits AXES_COOLOFF_MINUTES. Keyed on the pair, so an attacker can't
# lock the real user out from elsewhere, and the cool-off means no lockout lasts for ever.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", "5")
AXES_COOLOFF_TIME = timedelta(minutes=envint("AXES_COOLOFF_MINUTES", "15"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Behind the TLS proxy (docs/deploy.md) every request comes from the proxy's address: list
# where it connects from (addresses or networks, e.g. 127.0.0.1 for a proxy on the host, or
# Docker's 172.16.0.0/12), and the client's address is read from its X-Forwarded-For. Only
# from those: anyone else could write the header themselves.
TRUSTED_PROXIES = envlist("TRUSTED_PROXIES", "")
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"TRUSTED_PROXIES must list addresses or networks, not {_proxy!r}"
        ) from None
AXES_CLIENT_IP_CALLABLE = "accounts.services.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "gallery"
LOGOUT_REDIRECT_URL = None  # show registration/logged_out.html

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(envstr("MEDIA_ROOT", str(DATA_DIR / "media")))
# Media is never served by URL: every file goes through an access-checked view.
MEDIA_URL = "/media-not-served/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Console email by default (password resets are printed by the web process). In development
# as plain text a person can click, and listed for staff at /dev/emails/ (jobs/dev.py).
_console_email = (
    "jobs.dev.ConsoleEmailBackend" if DEBUG else "django.core.mail.backends.console.EmailBackend"
)
MAILERS = {
    "default": {
        "BACKEND": envstr("EMAIL_BACKEND", _console_email),
        "OPTIONS": {
            k.lower(): v
            for k, v in {
                "HOST": envstr("EMAIL_HOST", ""),
                "PORT": envint("EMAIL_PORT", "587"),
                "USERNAME": envstr("EMAIL_HOST_USER", ""),
                "PASSWORD": envstr("EMAIL_HOST_PASSWORD", ""),
                "USE_TLS": envbool("EMAIL_USE_TLS", "true"),
            }.items()
            if envstr("EMAIL_HOST", "")
        },
    }
}
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "upscaler@localhost")

REDIS_URL = envstr("REDIS_URL", "redis://127.0.0.1:6379/0")
# Nothing reads an RQ job's result (the database holds every outcome), so a finished RQ
# job is kept a minute, not ten: polling every 7 s, ten minutes of them came to about
# 440 KiB of Redis per image in flight (bench/sizing.py, docs/deploy.md).
RQ_QUEUES = {
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600, "DEFAULT_RESULT_TTL": 60},
}
# Our heartbeat for /healthz, and a work loop that waits out a Redis outage.
RQ = {"WORKER_CLASS": "jobs.heartbeat.Worker"}
# Redis-backed, so rate limits, the circuit breaker and sessions are shared by every web
# and worker process (a local-memory cache would count per process).
CACHES = {
    "default": {
        # A Redis outage reads as an empty cache, not a 500 (jobs/cache.py).
        "BACKEND": "jobs.cache.TolerantRedisCache",
        "LOCATION": envstr("CACHE_URL", REDIS_URL),
        "KEY_PREFIX": "upscaler",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 5},
    }
}
# Sessions read from the cache first, so a live poll needn't touch the database for them.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- APIXO -------------------------------------------------------------------------------
# With no key, the ordinary client talks to the embedded engine (apixo_engine/), which
# serves the same HTTP contract locally. One code path serves both.
APIXO_API_KEY = envstr("APIXO_API_KEY", "")
ENGINE_URL = envstr("ENGINE_URL", "http://127.0.0.1:8100").rstrip("/")
ENGINE_API_KEY = envstr("APIXO_ENGINE_KEY", "embedded-engine-key")
USING_ENGINE = not APIXO_API_KEY
APIXO_BASE_URL = envstr(
    "APIXO_BASE_URL",
    f"{ENGINE_URL}/api/v1" if USING_ENGINE else "https://api.apixo.ai/api/v1",
).rstrip("/")
APIXO_KEY = APIXO_API_KEY or ENGINE_API_KEY
APIXO_TIMEOUT = envfloat("APIXO_TIMEOUT", "20")

# Polling schedule (seconds). APIXO advises a first poll 10-15 s after creation, then every
# 5-10 s, and 10 s or more for 8k. The embedded engine is local and quick, so it polls
# sooner by default.
APIXO_FIRST_POLL = envfloat("APIXO_FIRST_POLL", "2" if USING_ENGINE else "12")
APIXO_POLL_INTERVAL = envfloat("APIXO_POLL_INTERVAL", "2" if USING_ENGINE else "7")
APIXO_POLL_INTERVAL_8K = envfloat("APIXO_POLL_INTERVAL_8K", "3" if USING_ENGINE else "12")
APIXO_BACKOFF_BASE = envfloat("APIXO_BACKOFF_BASE", "5")
APIXO_BACKOFF_MAX = envfloat("APIXO_BACKOFF_MAX", "120")
APIXO_DEADLINE = envint("APIXO_DEADLINE", "1800")
APIXO_SUBMIT_ATTEMPTS = envint("APIXO_SUBMIT_ATTEMPTS", "8")
APIXO_MAX_SUBMITS_IN_FLIGHT = envint("APIXO_MAX_SUBMITS_IN_FLIGHT", "8")
APIXO_BREAKER_SECONDS = envint("APIXO_BREAKER_SECONDS", "300")
# Callback mode: "auto" uses it when SITE_URL is a public https URL APIXO can reach.
APIXO_CALLBACKS = envstr("APIXO_CALLBACKS", "auto").lower()
if APIXO_CALLBACKS not in ("auto", "on", "off"):
    raise ImproperlyConfigured("APIXO_CALLBACKS must be auto, on or off")
# In callback mode a slow safety poll still finishes a job whose callback never came.
APIXO_SAFETY_POLL = envfloat("APIXO_SAFETY_POLL", "20" if USING_ENGINE else "300")

# The reconciler (python manage.py runcron) re-enqueues work Redis lost: every
# RECONCILE_INTERVAL s it looks for jobs whose next step is RECONCILE_GRACE s overdue.
RECONCILE_INTERVAL = envint("RECONCILE_INTERVAL", "15")
RECONCILE_GRACE = envfloat("RECONCILE_GRACE", "60")
# Queued jobs may wait in a long queue legitimately, so they get a longer grace.
RECONCILE_QUEUED_GRACE = envfloat("RECONCILE_QUEUED_GRACE", "600")
# A job "submitting" longer than this lost its worker mid-request: outcome unknown.
SUBMIT_STUCK_AFTER = envint("SUBMIT_STUCK_AFTER", "300")
# A submit whose outcome is unknown is sent again this many times (each a possible APIXO
# charge recorded as an operator cost) before the job waits for an admin.
SUBMIT_UNKNOWN_RESENDS = envint("SUBMIT_UNKNOWN_RESENDS", "2")
SUBMIT_RATE_LIMIT = envint("SUBMIT_RATE_LIMIT", "30")  # form posts per user per minute

# --- Sources and outbound fetches --------------------------------------------------------
UPLOAD_MAX_BYTES = envint("UPLOAD_MAX_BYTES", str(10 * 1024 * 1024))
UPLOAD_MAX_PIXELS = envint("UPLOAD_MAX_PIXELS", str(50_000_000))
RESULT_MAX_BYTES = envint("RESULT_MAX_BYTES", str(300 * 1024 * 1024))
BATCH_MAX_IMAGES = envint("BATCH_MAX_IMAGES", "50")
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# A far hard stop: lib.uploads skips the data of every file past BATCH_MAX_IMAGES and the
# form says how many were sent, which Django's own refusal (a bare 400 page) can't.
DATA_UPLOAD_MAX_NUMBER_FILES = BATCH_MAX_IMAGES * 20
# Stops reading a file past UPLOAD_MAX_BYTES instead of spooling all of it to disk.
FILE_UPLOAD_HANDLERS = [
    "lib.uploads.SizeCappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# host:port pairs that lib/fetch.py may reach although they are not global addresses:
# the embedded engine (its results and its sample images) in development, wherever
# ENGINE_URL puts it. Everything else must be public.
_engine = urlsplit(ENGINE_URL)
_engine_host = f"[{_engine.hostname}]" if ":" in (_engine.hostname or "") else _engine.hostname
_engine_port = _engine.port or (443 if _engine.scheme == "https" else 80)
_default_allowed = f"{_engine_host}:{_engine_port}" if USING_ENGINE and _engine_host else ""
FETCH_ALLOWED_HOSTS = envlist("FETCH_ALLOWED_HOSTS", _default_allowed)
FETCH_TIMEOUT = envfloat("FETCH_TIMEOUT", "20")
SOURCE_URL_MAX_AGE = envint("SOURCE_URL_MAX_AGE", str(24 * 3600))

DEFAULT_QUOTA_CENTS = envint("DEFAULT_QUOTA_CENTS", "100")
PRICE_CENTS = 1  # APIXO bills $0.01 per submitted image, whatever the tier or format.

# --- Outgoing webhooks (the JSON API's "job finished" events) -----------------------------
WEBHOOK_TIMEOUT = envfloat("WEBHOOK_TIMEOUT", "10")
WEBHOOK_ATTEMPTS = envint("WEBHOOK_ATTEMPTS", "6")
# Retries wait 1, 4, 16, 64 minutes... (base times 4 each time), at most the max.
WEBHOOK_BACKOFF_BASE = envfloat("WEBHOOK_BACKOFF_BASE", "60")
WEBHOOK_BACKOFF_MAX = envfloat("WEBHOOK_BACKOFF_MAX", "21600")

# --- Teams, accounts, retention ----------------------------------------------------------
# A new team's monthly budget, which is also the most its admins may set until staff
# raise it on the spend page.
TEAM_DEFAULT_QUOTA_CENTS = envint("TEAM_DEFAULT_QUOTA_CENTS", "100")
INVITATION_DAYS = envint("INVITATION_DAYS", "7")
SHARE_LINK_DAYS = envint("SHARE_LINK_DAYS", "7")
# "open": anyone may sign up; "invite": only through a team invitation link.
SIGNUP_MODE = envstr("SIGNUP_MODE", "open").lower()
if SIGNUP_MODE not in ("open", "invite"):
    raise ImproperlyConfigured("SIGNUP_MODE must be open or invite")
# With a real APIXO key, a new account must confirm its email before it can log in.
SIGNUP_VERIFY_EMAIL = envbool("SIGNUP_VERIFY_EMAIL", "false" if USING_ENGINE else "true")
SIGNUP_VERIFY_MAX_AGE = envint("SIGNUP_VERIFY_MAX_AGE", str(3 * 24 * 3600))
# Sources and results older than this many days are deleted by jobs.retention.purge_expired
# (0 keeps them until their owner deletes them).
RETENTION_DAYS = envint("RETENTION_DAYS", "0")
# A batch whose submitter ticked "email me" gets an email when it finishes if it had more
# than this many images, or took longer than this many minutes (jobs.notifications).
BATCH_NOTIFY_MIN_IMAGES = envint("BATCH_NOTIFY_MIN_IMAGES", "10")
BATCH_NOTIFY_MIN_MINUTES = envint("BATCH_NOTIFY_MIN_MINUTES", "5")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # In development, one line per job state change: not RQ's lines for every job it runs
    # (a poll every few seconds), nor runserver's for every live poll or static file.
    "filters": {"quiet": {"()": "jobs.dev.QuietDevelopmentLog"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["quiet"] if DEBUG else [],
        }
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    # pyvips logs every libvips step at INFO.
    "loggers": {
        "django": {"level": "INFO"},
        "rq": {"level": "WARNING"},
        "pyvips": {"level": "WARNING"},
    },
}

# --- Production ----------------------------------------------------------------------------
# docs/deploy.md lists the environment `manage.py check --deploy` passes with.
STATIC_ROOT = Path(envstr("STATIC_ROOT", str(STATIC_ROOT)))

# Media on S3-compatible storage, so several web and worker hosts share it. Files are still
# served only through the access-checked views, never by a public bucket URL.
MEDIA_S3_BUCKET = envstr("MEDIA_S3_BUCKET", envstr("AWS_STORAGE_BUCKET_NAME", ""))
if MEDIA_S3_BUCKET:
    _s3_options: dict[str, object] = {
        "bucket_name": MEDIA_S3_BUCKET,
        "location": envstr("MEDIA_S3_PREFIX", "media"),
        "default_acl": "private",
        "file_overwrite": False,
        "querystring_auth": True,
    }
    for _option, _variable in [
        ("endpoint_url", "AWS_S3_ENDPOINT_URL"),
        ("region_name", "AWS_S3_REGION_NAME"),
        ("access_key", "AWS_ACCESS_KEY_ID"),
        ("secret_key", "AWS_SECRET_ACCESS_KEY"),
    ]:
        if envstr(_variable, ""):
            _s3_options[_option] = envstr(_variable, "")
    # (mypy took STORAGES for a dict of strings from its first, option-less, value.)
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": _s3_options}  # type: ignore[dict-item]

# Only our own files: no inline scripts or styles, no eval, no other origins.
SECURE_CSP = {
    "default-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}

if not DEBUG:
    # An https SITE_URL means TLS ends at a proxy in front of gunicorn (which speaks plain
    # HTTP), so trust the proxy's X-Forwarded-Proto, redirect plain HTTP and send HSTS.
    # With an http SITE_URL (a trial on a LAN) secure-only cookies would break logging in.
    _https = _site.scheme == "https"
    if envbool("SECURE_PROXY_SSL_HEADER", str(_https)):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", str(_https))
    # Load balancers and Docker's HEALTHCHECK probe over plain HTTP from inside.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = envbool("SECURE_COOKIES", str(_https))
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "31536000" if _https else "0")
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "true")
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "true")
    # Django's debug error page is inline, so the policy is enforced only here.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "django.middleware.csp.ContentSecurityPolicyMiddleware",
    )

with contextlib.suppress(ImportError):
    from .local_settings import *  # type: ignore[import-not-found]  # noqa: F403
