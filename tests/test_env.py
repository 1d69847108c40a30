import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from dockmon.env import env_bool, env_int, env_list, env_str, persistent_secret

ROOT = Path(__file__).resolve().parents[1]


def test_booleans_accept_clear_words_and_reject_typos(monkeypatch):
    monkeypatch.setenv("FLAG", "Yes")
    assert env_bool("FLAG") is True
    monkeypatch.setenv("FLAG", "off")
    assert env_bool("FLAG", True) is False
    monkeypatch.setenv("FLAG", "ture")
    with pytest.raises(ImproperlyConfigured, match="FLAG='ture' is not a boolean"):
        env_bool("FLAG")


def test_empty_values_count_as_unset(monkeypatch):
    # Compose passes variables the operator did not set as empty strings.
    for name in ("EMPTY_STR", "EMPTY_BOOL", "EMPTY_LIST"):
        monkeypatch.setenv(name, "")
    assert env_str("EMPTY_STR", "fallback") == "fallback"
    assert env_bool("EMPTY_BOOL", True) is True
    assert env_list("EMPTY_LIST", ["localhost"]) == ["localhost"]


def test_numbers_and_lists(monkeypatch):
    monkeypatch.setenv("HOURS", "0")
    with pytest.raises(ImproperlyConfigured, match="must be at least 1"):
        env_int("HOURS", 24, minimum=1)
    monkeypatch.setenv("HOURS", "many")
    with pytest.raises(ImproperlyConfigured, match="not a whole number"):
        env_int("HOURS", 24)
    monkeypatch.setenv("HOSTS", " a.example, b.example ,,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]


def test_a_secret_can_come_from_a_file(monkeypatch, tmp_path):
    (tmp_path / "pw").write_text("s3cret\n")
    monkeypatch.setenv("DB_PASSWORD_FILE", str(tmp_path / "pw"))
    assert env_str("DB_PASSWORD") == "s3cret"
    monkeypatch.setenv("DB_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env_str("DB_PASSWORD")


def test_generated_secrets_are_private_and_never_regenerated(tmp_path):
    first = persistent_secret(tmp_path / "data", "secret_key", lambda: "generated-once")
    again = persistent_secret(tmp_path / "data", "secret_key", lambda: "generated-twice")
    assert first == again == "generated-once"
    assert stat.S_IMODE((tmp_path / "data" / "secret_key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["secret_key"]  # no temporary files left


def test_an_unusable_data_dir_gets_a_clear_message(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(ImproperlyConfigured, match=r"DOCKMON_DATA_DIR .* cannot be used: .*Not a directory"):
        persistent_secret(blocker / "data", "secret_key", lambda: "x")


def run_manage(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "dockmon.settings", "DOCKMON_DATA_DIR": str(data_dir), **(env or {})}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_sqlite_lives_in_the_data_dir_in_wal_mode(tmp_path):
    result = run_manage(
        tmp_path,
        "shell",
        "-c",
        "from django.db import connection; c = connection.cursor(); c.execute('PRAGMA journal_mode'); "
        "print(c.fetchone()[0], connection.settings_dict['NAME'])",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["wal", str(tmp_path / "dockmon.sqlite3")]


def test_every_process_of_make_run_links_to_the_web_port(tmp_path):
    # honcho hands the worker a PORT of its own; links in its notifications must name the web's.
    ports = {"PORT": "8865", "DOCKMON_WEB_PORT": "8765"}
    script = "from django.conf import settings; print(settings.EXTERNAL_URL)"
    result = run_manage(tmp_path, "shell", "-c", script, env=ports)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "http://127.0.0.1:8765"


def read_only(directory: Path, *args: str) -> subprocess.CompletedProcess:
    """Run manage.py with `directory` mounted read-only (a private mount namespace; needs root, as in CI)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "dockmon.settings", "DOCKMON_DATA_DIR": str(directory)}
    env.pop("DATABASE_URL", None)
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "-", str(directory), sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_read_only_empty_data_dir_stops_start_up_with_one_clear_line(tmp_path):
    result = read_only(tmp_path, "check")
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"DockMon cannot start: DOCKMON_DATA_DIR {tmp_path} is not writable")
    assert "Traceback" not in result.stderr


def test_a_read_only_data_dir_with_its_keys_is_reported_by_the_checks(tmp_path):
    assert run_manage(tmp_path, "migrate", "--noinput").returncode == 0
    result = read_only(tmp_path, "check")
    assert result.returncode == 1
    assert "dockmon.E001" in result.stderr and "is read-only" in result.stderr
