"""Settings, read from the environment with safe defaults for the embedded mode.

With nothing configured Allotment keeps its data in SQLite under ./var/ (or
$ALLOTMENT_HOME/var/), so a fresh clone runs the whole system without any service.
"""

import contextlib
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

HOME = Path(os.environ.get("ALLOTMENT_HOME", Path.cwd())).resolve()
VAR_DIR = Path(os.environ.get("ALLOTMENT_VAR_DIR", HOME / "var")).resolve()


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int, lowest: int, highest: int) -> int:
    """A whole number from the environment; a wrong one stops the start, naming the variable."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not lowest <= number <= highest:
        raise ImproperlyConfigured(
            f'{name}="{value}": expected a whole number from {lowest} to {highest}.'
        )
    return number


def _secret_key() -> str:
    """A key from the environment, else one generated once and kept in var/ (never in the repo)."""
    key = os.environ.get("ALLOTMENT_SECRET_KEY")
    if key:
        return key
    path = VAR_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        path.write_text(key)
        path.chmod(0o600)
        return key


SECRET_KEY = _secret_key()
DEBUG = _env_bool("ALLOTMENT_DEBUG")
ALLOWED_HOSTS = os.environ.get("ALLOTMENT_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(
    ","
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_typer",
    "auditlog",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "allotment.core",
    "allotment.projects",
    "allotment.people",
    "allotment.groups",
    "allotment.resources",
    "allotment.grants",
    "allotment.usage",
    "allotment.audit",
    "allotment.agent",
    "allotment.integrations.slurm",
    "allotment.inventory",
    "allotment.burst",
    "allotment.jobs",
    "allotment.access",
    "allotment.applications",
    "allotment.api",
    "allotment.web",
    "allotment.ops",
    "allotment.demo",
    "allotment.cli",
]

# A failed CSRF check gets the portal's error page, not Django's bare one.
CSRF_FAILURE_VIEW = "allotment.web.views.errors.csrf_failure"

MIDDLEWARE = [
    "allotment.ops.middleware.RequestMetricsMiddleware",
    "allotment.core.middleware.RefuseNulBytes",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
]

ROOT_URLCONF = "allotment.urls"
WSGI_APPLICATION = "allotment.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "allotment.applications.context.pending_decisions",
            ],
        },
    },
]

_default_db = f"sqlite:///{VAR_DIR / 'allotment.sqlite3'}"
# Connections are kept between requests (opening one costs 1.5 ms on SQLite with its
# PRAGMAs, about 7 ms on PostgreSQL) and checked before reuse.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or _default_db,
        conn_max_age=int(os.environ.get("ALLOTMENT_DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web app read while the agent or an import writes; IMMEDIATE avoids
    # "database is locked" upgrades from read to write transactions.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    if not os.environ.get("DATABASE_URL"):
        VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["TEST"] = {"NAME": None}
elif (
    DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    and os.environ.get("ALLOTMENT_DB_PREPARED", "1") != "0"
):
    # Server-side binding lets psycopg prepare a statement the second time a connection
    # runs it, so PostgreSQL parses and plans it once rather than on every request: that
    # halves the database's CPU time of an API request (a token lookup, a membership
    # query, a page of rows). Off for a pooler that cannot keep prepared statements
    # (PgBouncer in transaction mode before 1.21): ALLOTMENT_DB_PREPARED=0.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=2
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "people.Person"
AUTHENTICATION_BACKENDS = ["allotment.people.auth.PersonBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "web:login"

# Sign-in through an OpenID Connect provider, when one is configured
# (ALLOTMENT_OIDC_ISSUER or the endpoint URLs, with a client id and secret).
OIDC_RP_CLIENT_ID = os.environ.get("ALLOTMENT_OIDC_CLIENT_ID", "")
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
if OIDC_ENABLED:
    OIDC_RP_CLIENT_SECRET = os.environ.get("ALLOTMENT_OIDC_CLIENT_SECRET", "")
    OIDC_RP_SIGN_ALGO = os.environ.get("ALLOTMENT_OIDC_SIGN_ALGO", "RS256")
    OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ.get("ALLOTMENT_OIDC_AUTHORIZATION_ENDPOINT", "")
    OIDC_OP_TOKEN_ENDPOINT = os.environ.get("ALLOTMENT_OIDC_TOKEN_ENDPOINT", "")
    OIDC_OP_USER_ENDPOINT = os.environ.get("ALLOTMENT_OIDC_USER_ENDPOINT", "")
    OIDC_OP_JWKS_ENDPOINT = os.environ.get("ALLOTMENT_OIDC_JWKS_ENDPOINT", "")
    # Only people already in the ledger may sign in: matched by username claim, not created.
    OIDC_CREATE_USER = False
    AUTHENTICATION_BACKENDS.append("allotment.web.oidc.LedgerOIDCBackend")
# Without a known preferred_username, the provider's email finds the person, when both the
# provider and the ledger verified it and one person holds it. 0 turns that off: sign-in
# then needs the username to match.
ALLOTMENT_OIDC_EMAIL_FALLBACK = _env_bool("ALLOTMENT_OIDC_EMAIL_FALLBACK", True)

# Served over TLS (ALLOTMENT_SECURE=1): cookies only over HTTPS, plain HTTP redirected, and
# HSTS telling browsers never to try HTTP again. Off by default: the embedded mode serves
# http://127.0.0.1, where secure cookies would never come back. The health and metrics
# probes stay on plain HTTP (they carry no cookies, and load balancers probe that way).
ALLOTMENT_SECURE = _env_bool("ALLOTMENT_SECURE")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = ALLOTMENT_SECURE
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = (
    _env_int("ALLOTMENT_HSTS_SECONDS", 31536000, 0, 20 * 31536000) if ALLOTMENT_SECURE else 0
)
# Opt-in: they bind every host under the domain, and preloading is hard to undo.
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("ALLOTMENT_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = _env_bool("ALLOTMENT_HSTS_PRELOAD")
# Behind a proxy that ends TLS: trust its X-Forwarded-Proto (only then: a client could
# send the header itself), or every request looks like HTTP and redirects for ever.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if _env_bool("ALLOTMENT_SECURE_PROXY") else None
)

# Mail for workflows: printed to the console unless a backend is configured;
# ALLOTMENT_EMAIL_FILE_PATH keeps each message as a file (development and tests).
DEFAULT_FROM_EMAIL = os.environ.get("ALLOTMENT_FROM_EMAIL", "allotment@localhost")
SITE_URL = os.environ.get("ALLOTMENT_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
if os.environ.get("ALLOTMENT_EMAIL_FILE_PATH"):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = os.environ["ALLOTMENT_EMAIL_FILE_PATH"]
elif os.environ.get("ALLOTMENT_EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["ALLOTMENT_EMAIL_HOST"]
    EMAIL_PORT = int(os.environ.get("ALLOTMENT_EMAIL_PORT", "25"))
    EMAIL_HOST_USER = os.environ.get("ALLOTMENT_EMAIL_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("ALLOTMENT_EMAIL_PASSWORD", "")
    EMAIL_USE_TLS = _env_bool("ALLOTMENT_EMAIL_TLS")
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# Workflows: how long an invitation's link works, and whether a site administrator
# approves new projects after the institute's leaders.
ALLOTMENT_INVITATION_DAYS = _env_int("ALLOTMENT_INVITATION_DAYS", 14, 1, 36500)
ALLOTMENT_PROJECT_APPROVAL_BY_ADMIN = _env_bool("ALLOTMENT_PROJECT_APPROVAL_BY_ADMIN", True)

# /metrics answers loopback, site administrators, and `Authorization: Bearer` this token.
ALLOTMENT_METRICS_TOKEN = os.environ.get("ALLOTMENT_METRICS_TOKEN", "")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "allotment.api.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "allotment.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "allotment.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Allotment API",
    "DESCRIPTION": "The ledger of a research-computing site: people, projects, grants, "
    "allocations and usage. Send `Authorization: Bearer TOKEN` (`allot token create USERNAME`).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("ALLOTMENT_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
with contextlib.suppress(OSError):  # collectstatic's target; WhiteNoise looks here
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Serve app static files straight from the packages: no collectstatic step at run time.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Audit every table. Django's own bookkeeping tables are left out: they hold no site data.
AUDITLOG_INCLUDE_ALL_MODELS = True
AUDITLOG_EXCLUDE_TRACKING_MODELS = (
    "admin",
    "contenttypes",
    "sessions",
    "auth.permission",
    # Bulk tables, written a million rows at a time: each import is audited as an ImportRun
    # (who, which files, what changed) instead of row by row. The one list of unaudited
    # tables: audit.services.unaudited_models() reads it.
    "usage.job",
    "usage.storagesnapshot",
    "usage.dailyusage",
    "usage.monthlyusage",
    "usage.quarantinedrecord",
    # The agent's loop health: bookkeeping, rewritten every few minutes.
    "agent.loopstatus",
    "agent.agentprocess",
    # What the clouds said last, each burst decision, and VM time (raw usage).
    "burst.cloudstate",
    "burst.cloudimage",
    "burst.cycle",
    "burst.vmcharge",
    # Stored runs of the burst simulator: its output, not the site's state.
    "burst.simulationrun",
)
AUDITLOG_EXCLUDE_TRACKING_FIELDS = ("last_login",)
# Secrets: the log records that one changed, as "(changed)", and no part of its value
# (auditlog's own mask leaves half of it). API token and invitation token hashes included.
AUDITLOG_MASK_TRACKING_FIELDS = ("password", "secret_hash", "token_hash")
AUDITLOG_MASK_CALLABLE = "allotment.audit.masking.hide"
AUDITLOG_STORE_JSON_CHANGES = True

# At most this many nodes move at once over all shifts (each shift has its own --parallel).
ALLOTMENT_SHIFT_MAX_PARALLEL = int(os.environ.get("ALLOTMENT_SHIFT_MAX_PARALLEL", "100"))
# Burst: the tag on every server Allotment boots (the orphan sweep deletes only servers with
# this tag that the database does not know: give each installation sharing a cloud its own),
# and the seconds between the burst loops' passes (decision, VM steps, reading the clouds).
BURST_TAG = os.environ.get("ALLOTMENT_BURST_TAG", "allotment")
BURST_DECIDE_INTERVAL = float(os.environ.get("ALLOTMENT_BURST_DECIDE_INTERVAL", "10"))
BURST_VM_INTERVAL = float(os.environ.get("ALLOTMENT_BURST_VM_INTERVAL", "3"))
BURST_CLOUDS_INTERVAL = float(os.environ.get("ALLOTMENT_BURST_CLOUDS_INTERVAL", "30"))
# Jobs one person may submit through Allotment in an hour, and have unfinished at once
# (jobs.services; 0 per hour closes submission).
ALLOTMENT_JOB_SUBMIT_PER_HOUR = _env_int("ALLOTMENT_JOB_SUBMIT_PER_HOUR", 200, 0, 10**6)
ALLOTMENT_JOB_UNFINISHED_MAX = _env_int("ALLOTMENT_JOB_UNFINISHED_MAX", 1000, 1, 10**7)

# Unix ids handed out for new groups and accounts.
ALLOTMENT_GID_RANGE = (
    int(os.environ.get("ALLOTMENT_GID_MIN", "10000")),
    int(os.environ.get("ALLOTMENT_GID_MAX", "59999")),
)
ALLOTMENT_UID_RANGE = (
    int(os.environ.get("ALLOTMENT_UID_MIN", "10000")),
    int(os.environ.get("ALLOTMENT_UID_MAX", "59999")),
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("ALLOTMENT_LOG_LEVEL", "WARNING")},
}
