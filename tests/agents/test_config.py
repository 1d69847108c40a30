"""The agent's configuration: flags over environment variables, the server URL, the credential file.

Pure functions and files in tmp_path: no Docker, no database.
"""

from __future__ import annotations

import json
import os
import ssl
import stat
import threading
from pathlib import Path

import pytest

from dockmon_agent.config import (
    CREDENTIAL_FILE,
    Config,
    ConfigError,
    Credential,
    load_config,
    load_credential,
    save_credential,
    server_url,
)
from dockmon_agent.engine.docker_api import SocketEngine, TlsEngine
from tests.dockerenv.certs import generate_tls_certs

SERVER = "wss://dockmon.example.com/ws/agent/"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The least environment that loads: a server, a token and a data dir of the test's own."""
    return {
        "DOCKMON_SERVER": "https://dockmon.example.com",
        "DOCKMON_TOKEN": "t0ken",
        "DOCKMON_AGENT_DATA": str(tmp_path),
    }


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- flags and variables --------------------------------------------------------------------------------------


def test_environment_alone_configures_the_agent(env: dict[str, str], tmp_path: Path) -> None:
    config = load_config([], env)
    assert config.server == SERVER
    assert config.token == "t0ken"
    assert config.data_dir == tmp_path
    assert config.credential_path == tmp_path / CREDENTIAL_FILE
    assert (config.name, config.ca_bundle, config.insecure, config.separate_host) == ("", None, False, False)
    assert (config.docker.url, config.docker_tls) == ("unix:///var/run/docker.sock", False)
    assert "t0ken" not in repr(config)


def test_flags_win_over_environment_variables(env: dict[str, str], tmp_path: Path) -> None:
    env |= {"DOCKMON_AGENT_NAME": "from-env", "DOCKMON_INSECURE": "true", "DOCKMON_SEPARATE_HOST": "yes"}
    flags = ["--server", "https://other.example.com:8443", "--token", "flag-token", "--data-dir", str(tmp_path / "d")]
    flags += ["--name", "from-flag", "--no-insecure", "--no-separate-host"]
    config = load_config(flags, env)
    assert config.server == "wss://other.example.com:8443/ws/agent/"
    assert (config.token, config.name, config.data_dir) == ("flag-token", "from-flag", tmp_path / "d")
    assert (config.insecure, config.separate_host) == (False, False)
    # Without the flags, the variables decide.
    config = load_config([], env)
    assert (config.name, config.insecure, config.separate_host) == ("from-env", True, True)
    assert load_config(["--insecure", "--separate-host"], env | {"DOCKMON_INSECURE": "0"}).insecure


def test_a_token_may_start_with_a_dash(env: dict[str, str]) -> None:
    assert load_config(["--token=-Xy_z"], env).token == "-Xy_z"
    assert load_config(["--token", "-Xy_z", "--name", "n"], env).token == "-Xy_z"
    assert load_config(["--token", "--Xy_z"], env).token == "--Xy_z"


def test_a_boolean_variable_must_say_true_or_false(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="DOCKMON_INSECURE='maybe'"):
        load_config([], env | {"DOCKMON_INSECURE": "maybe"})


def test_default_data_dir_depends_on_the_user(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    del env["DOCKMON_AGENT_DATA"]
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert load_config([], env).data_dir == Path("/var/lib/dockmon-agent")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert load_config([], env).data_dir == Path("~/.local/share/dockmon-agent").expanduser()


def test_missing_server_or_token_is_a_clear_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="No server: give --server or DOCKMON_SERVER"):
        load_config([], {k: v for k, v in env.items() if k != "DOCKMON_SERVER"})
    with pytest.raises(ConfigError, match=r"No registration token.*--token or DOCKMON_TOKEN"):
        load_config([], {k: v for k, v in env.items() if k != "DOCKMON_TOKEN"})


def test_a_stored_credential_replaces_the_token(env: dict[str, str], tmp_path: Path) -> None:
    del env["DOCKMON_TOKEN"]
    save_credential(tmp_path, Credential(SERVER, 7, "cred"))
    config = load_config([], env)
    assert load_credential(config) == Credential(SERVER, 7, "cred")
    # A credential for another server does not count: that server would not know it.
    with pytest.raises(ConfigError, match="No registration token"):
        load_config(["--server", "https://elsewhere.example.com"], env)


def test_insecure_and_ca_bundle_exclude_each_other(env: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="contradict"):
        load_config(["--insecure", "--ca-bundle", str(tmp_path / "ca.pem")], env)


# --- the server URL -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("https://dockmon.example.com", "wss://dockmon.example.com/ws/agent/"),
        ("https://dockmon.example.com/", "wss://dockmon.example.com/ws/agent/"),
        ("HTTPS://dockmon.example.com:8443", "wss://dockmon.example.com:8443/ws/agent/"),
        ("https://example.com/dockmon/", "wss://example.com/dockmon/ws/agent/"),
        ("wss://dockmon.example.com/ws/agent/", "wss://dockmon.example.com/ws/agent/"),
        ("wss://dockmon.example.com/ws/agent", "wss://dockmon.example.com/ws/agent/"),
        ("https://[2001:db8::1]:8443", "wss://[2001:db8::1]:8443/ws/agent/"),
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/ws/agent/"),
        ("http://127.8.9.10", "ws://127.8.9.10/ws/agent/"),
        ("ws://localhost:8000/ws/agent/", "ws://localhost:8000/ws/agent/"),
        ("http://[::1]:8000", "ws://[::1]:8000/ws/agent/"),
    ],
)
def test_server_url_is_normalised_to_the_agent_websocket(given: str, url: str) -> None:
    assert server_url(given) == url


@pytest.mark.parametrize("given", ["http://dockmon.example.com", "ws://192.168.1.20:8000", "http://[2001:db8::1]"])
def test_plain_websocket_is_refused_off_loopback(given: str) -> None:
    with pytest.raises(ConfigError, match=r"unencrypted.*only allowed to this machine"):
        server_url(given)


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("dockmon.example.com", "is not a URL like https://"),
        ("ftp://dockmon.example.com", "is not a URL like https://"),
        ("https://", "is not a URL like https://"),
        ("https://user:pw@dockmon.example.com", "without user, query or fragment"),
        ("https://dockmon.example.com/?x=1", "without user, query or fragment"),
        ("https://dockmon.example.com:99999", "port"),
    ],
)
def test_unusable_server_addresses_are_refused(given: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        server_url(given)


# --- TLS: the server's certificate, and the Docker daemon's ---------------------------------------------------------


def test_server_certificate_is_verified_unless_insecure(env: dict[str, str], tmp_path: Path) -> None:
    context = load_config([], env).ssl_context()
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    context = load_config(["--insecure"], env).ssl_context()
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_NONE, False)
    assert load_config(["--server", "http://127.0.0.1:8000"], env).ssl_context() is None


def test_ca_bundle_must_be_a_certificate(env: dict[str, str], tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(generate_tls_certs().ca.cert)
    context = load_config(["--ca-bundle", str(ca)], env).ssl_context()
    (ca_cert,) = context.get_ca_certs()
    assert dict(name for (name,) in ca_cert["subject"])["commonName"] == "dockenv-test-ca"
    with pytest.raises(ConfigError, match="not a readable PEM certificate"):
        load_config(["--ca-bundle", str(tmp_path / "missing.pem")], env).ssl_context()


def test_docker_host_and_tls_come_from_dockers_own_variables(env: dict[str, str], tmp_path: Path) -> None:
    files = generate_tls_certs().write(tmp_path / "certs")
    tls_env = env | {"DOCKER_HOST": "tcp://127.0.0.1:2376", "DOCKER_TLS_VERIFY": "1"}
    tls_env["DOCKER_CERT_PATH"] = str(files.directory)
    config = load_config([], tls_env)
    assert config.docker_tls
    assert config.docker.ca_pem == files.ca.read_text()
    assert config.docker.key_pem == files.client.key.read_text()
    with config.engine() as engine:
        assert isinstance(engine, TlsEngine)
    with load_config([], env | {"DOCKER_HOST": "tcp://127.0.0.1:2375"}).engine() as engine:
        assert isinstance(engine, SocketEngine)

    with pytest.raises(ConfigError, match=r"key\.pem cannot be read"):
        files.client.key.unlink()
        load_config([], tls_env)
    with pytest.raises(ConfigError, match="DOCKER_HOST: “unix://relative” is not a socket address"):
        load_config([], env | {"DOCKER_HOST": "unix://relative"}).engine()


# --- the credential file ----------------------------------------------------------------------------------------------


def test_credential_file_is_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    path = save_credential(data_dir, Credential(SERVER, 12, "s3cret"))
    assert path == data_dir / CREDENTIAL_FILE
    assert (mode(data_dir), mode(path)) == (0o700, 0o600)
    assert json.loads(path.read_text()) == {"server": SERVER, "host": 12, "credential": "s3cret"}
    assert "s3cret" not in repr(Credential(SERVER, 12, "s3cret"))


def test_an_existing_open_data_dir_is_tightened(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)  # what a fresh Docker volume looks like
    save_credential(tmp_path, Credential(SERVER, 1, "a"))
    assert mode(tmp_path) == 0o700


def test_credential_is_replaced_atomically(tmp_path: Path) -> None:
    """Readers see the old or the new file, never a partial one; no temporary files are left behind."""
    save_credential(tmp_path, Credential(SERVER, 1, "old" * 1000))
    seen: set[str] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.add(json.loads((tmp_path / CREDENTIAL_FILE).read_text())["credential"][:3])

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(200):
            save_credential(tmp_path, Credential(SERVER, 1, ("new" if n % 2 else "old") * 1000))
    finally:
        done.set()
        reader.join()
    assert seen <= {"old", "new"}  # json.loads would have raised on a torn file
    assert [p.name for p in tmp_path.iterdir()] == [CREDENTIAL_FILE]
    assert mode(tmp_path / CREDENTIAL_FILE) == 0o600


def test_a_failed_write_keeps_the_old_credential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_credential(tmp_path, Credential(SERVER, 1, "old"))

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        save_credential(tmp_path, Credential(SERVER, 1, "new"))
    monkeypatch.undo()
    config = Config(server=SERVER, data_dir=tmp_path)
    assert load_credential(config) == Credential(SERVER, 1, "old")
    assert [p.name for p in tmp_path.iterdir()] == [CREDENTIAL_FILE]


def test_a_damaged_credential_file_says_what_to_do(tmp_path: Path) -> None:
    config = Config(server=SERVER, data_dir=tmp_path)
    (tmp_path / CREDENTIAL_FILE).write_text("{not json")
    with pytest.raises(ConfigError, match="Delete it and register again"):
        load_credential(config)
    (tmp_path / CREDENTIAL_FILE).write_text('{"server": "x", "host": "seven", "credential": "c"}')
    with pytest.raises(ConfigError, match="is damaged"):
        load_credential(config)


def test_registering_needs_a_data_dir_the_agent_can_write(env: dict[str, str], tmp_path: Path) -> None:
    """Checked before the one-time token is spent on a credential that could not be kept."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"--data-dir .*a-file/data: Not a directory"):
        load_config(["--data-dir", str(blocker / "data")], env)
    load_config(["--data-dir", str(tmp_path / "new" / "data")], env)
    assert mode(tmp_path / "new" / "data") == 0o700
