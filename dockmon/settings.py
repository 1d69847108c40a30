"""DockMon settings. Everything that differs between installations comes from the
environment (see the configuration table in README.md); defaults are safe for a
single machine."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url

from dockmon.env import (
    env_bool,
    env_int,
    env_list,
    env_str,
    generate_fernet_key,
    generate_secret_key,
    persistent_secret,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = (BASE_DIR / env_str("DOCKMON_DATA_DIR", "data")).resolve()

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY") or persistent_secret(DATA_DIR, "secret_key", generate_secret_key)
FIELD_ENCRYPTION_KEY = env_str("FIELD_ENCRYPTION_KEY") or persistent_secret(
    DATA_DIR, "field_encryption_key", generate_fernet_key
)


# Not "daphne": as an app it only lends runserver its ASGI server, and would load Twisted into the worker
# and beat too (about 19 MiB each). The web process runs daphne itself (Procfile, docker/entrypoint.sh).
INSTALLED_APPS = [
    "dockmon.admin.DockMonAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "django_celery_beat",
    "encrypted_model_fields",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "apps.core",
    "apps.users",
    "apps.tags",
    "apps.hosts",
    "apps.containers",
    "apps.agents",
    "apps.metrics",
    "apps.notifications",
    "apps.alerts",
    "apps.monitors",
    "apps.autorestart",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "apps.users.middleware.FirstRunMiddleware",
    "apps.users.middleware.LoginRequiredMiddleware",
    "apps.core.middleware.HtmxMessagesMiddleware",
]

ROOT_URLCONF = "dockmon.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "dockmon.asgi.application"

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
                "apps.core.context_processors.shell",
            ],
        },
    },
]

# --- Database: SQLite in the data dir unless DATABASE_URL says otherwise -------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "dockmon.sqlite3",
            "OPTIONS": {
                # WAL lets the web, worker and beat processes read while one writes;
                # IMMEDIATE takes the write lock up front instead of failing mid-transaction.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker, channel layer and cache share one URL and one key prefix -----
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_PREFIX = env_str("DOCKMON_REDIS_PREFIX", "dockmon")

CACHES = {
    "default": {
        "BACKEND": "apps.core.cache.TolerantRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_PREFIX,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # No socket timeout: the layer blocks on Redis for 5 s at a time while a socket is idle, and redis-py's
        # default 5 s read timeout would end every idle WebSocket after 5 s.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}], "prefix": f"{REDIS_PREFIX}:asgi"},
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"{REDIS_PREFIX}:celery:", "socket_connect_timeout": 2}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "apps.core.beat:HeartbeatScheduler"
CELERY_TIMEZONE = env_str("TZ", "UTC")

# --- Users, sign-in and sessions ---------------------------------------------------------
AUTH_USER_MODEL = "users.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "core:dashboard"
SESSION_COOKIE_AGE = env_int("DOCKMON_SESSION_HOURS", 24, minimum=1) * 3600
SESSION_ENGINE = "django.contrib.sessions.backends.db"

ACCOUNT_ADAPTER = "apps.users.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = True  # sessions last DOCKMON_SESSION_HOURS, not until the browser closes
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
# 10 failed attempts within 5 minutes, per account and per client address.
ACCOUNT_RATE_LIMITS = {"login_failed": "10/5m/ip,10/5m/key"}
MFA_ADAPTER = "apps.users.adapters.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "DockMon"

# --- E-mail (password reset; notifications have their own channels) ------------------------
EMAIL_HOST = env_str("DOCKMON_EMAIL_HOST")
EMAIL_PORT = env_int("DOCKMON_EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("DOCKMON_EMAIL_USER")
EMAIL_HOST_PASSWORD = env_str("DOCKMON_EMAIL_PASSWORD")
EMAIL_USE_TLS = env_bool("DOCKMON_EMAIL_TLS", EMAIL_PORT == 587)
EMAIL_USE_SSL = env_bool("DOCKMON_EMAIL_SSL", EMAIL_PORT == 465)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("DOCKMON_EMAIL_FROM", "dockmon@localhost")
EMAIL_CONFIGURED = bool(EMAIL_HOST)
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_CONFIGURED
    else "apps.users.adapters.UnconfiguredEmailBackend"
)

# --- Addresses, HTTPS and reverse proxy --------------------------------------------------------
HTTPS = env_bool("DOCKMON_HTTPS", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
# Under `make run` honcho gives every process its own PORT; the web's travels as DOCKMON_WEB_PORT, so the
# worker's links in notifications point where users really go.
WEB_PORT = env_int("DOCKMON_WEB_PORT", env_int("PORT", 8000))
EXTERNAL_URL = env_str("DOCKMON_EXTERNAL_URL", f"{'https' if HTTPS else 'http'}://127.0.0.1:{WEB_PORT}").rstrip("/")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [EXTERNAL_URL])
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DOCKMON_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DOCKMON_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "apps.core.errors.csrf_failure"

# --- Alerts ------------------------------------------------------------------------------------
# How long after a container exits the "stopped" rules wait before firing: a container being recreated
# (compose up, an update) is back under the same name by then and raises nothing.
ALERTS_STOP_GRACE_SECONDS = env_int("DOCKMON_ALERT_STOP_GRACE_SECONDS", 5)

# --- Locale, static files ---------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TZ", "UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- DockMon behaviour ---------------------------------------------------------------------------
ADMIN_USER = env_str("DOCKMON_ADMIN_USER")
ADMIN_PASSWORD = env_str("DOCKMON_ADMIN_PASSWORD")
ADMIN_EMAIL = env_str("DOCKMON_ADMIN_EMAIL")
AUTO_LOCAL_HOST = env_bool("DOCKMON_AUTO_LOCAL_HOST", True)
HEALTH_BEAT_MAX_AGE = timedelta(seconds=env_int("DOCKMON_BEAT_MAX_AGE", 120, minimum=10))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("DOCKMON_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
