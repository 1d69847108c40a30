"""Typed readers for environment variables, plus the generated-once secrets.

Every setting DockMon reads from the environment goes through these helpers, so a
typo in a boolean or a number fails loudly at start-up instead of silently
becoming a default.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def env_str(name: str, default: str = "") -> str:
    """A string variable; `NAME_FILE` (Docker secrets) is read when set. Empty counts as unset,
    as compose files pass unset variables through as empty strings."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_path} cannot be read: {exc.strerror}") from exc
    return os.environ.get(name) or default


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    items = [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]
    return items or default


def persistent_secret(data_dir: Path, filename: str, generate: Callable[[], str]) -> str:
    """Read a secret kept in the data dir, creating it (mode 0600) on first start.

    It is never regenerated: secrets encrypted with it would become unreadable.
    """
    path = data_dir / filename
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ImproperlyConfigured(f"DOCKMON_DATA_DIR {data_dir} cannot be used: {path}: {exc.strerror}.") from exc
    value = generate()
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Write a private temporary file, then link it into place: the key appears whole or not
        # at all, and when two processes start at once the second link fails and that process
        # uses the first one's key.
        fd, temporary = tempfile.mkstemp(dir=data_dir, prefix=f".{filename}.")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(value + "\n")
            os.link(temporary, path)
        finally:
            os.unlink(temporary)
    except FileExistsError:
        return path.read_text().strip()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"DOCKMON_DATA_DIR {data_dir} is not writable ({exc.strerror}), so {filename} cannot be "
            f"created. Make the directory writable or set the key through the environment."
        ) from exc
    return value


def generate_secret_key() -> str:
    return secrets.token_urlsafe(50)


def generate_fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()
