"""The agent's configuration (flags, then environment variables) and its stored credential.

Everything the agent needs is checked here, before it connects anywhere, so a mistake ends the agent with
one clear line instead of a reconnect loop: an unusable server address, plain ws:// to a remote host, a
missing CA bundle or Docker certificate, no token for the first registration.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import ssl
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from dockmon_agent import __version__, protocol
from dockmon_agent.engine.base import Engine, EngineError
from dockmon_agent.engine.docker_api import DEFAULT_SOCKET_URL, ConnectionSpec, SocketEngine, TlsEngine

CREDENTIAL_FILE = "credential.json"
SYSTEM_DATA_DIR = Path("/var/lib/dockmon-agent")
USER_DATA_DIR = Path("~/.local/share/dockmon-agent")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class ConfigError(Exception):
    """The configuration cannot work; `str(error)` says what to change."""


@dataclass(frozen=True)
class Credential:
    """What the server handed out at registration, kept in `<data dir>/credential.json`."""

    server: str  # the normalised WebSocket URL it is valid for
    host: int
    credential: str = field(repr=False)


@dataclass(frozen=True)
class Config:
    server: str  # wss://…/ws/agent/ (or ws:// to loopback)
    data_dir: Path
    # "" means: the name the Docker daemon reports (the host's name even when the agent runs in a container).
    name: str = ""
    token: str = field(default="", repr=False)
    ca_bundle: Path | None = None
    insecure: bool = False
    separate_host: bool = False
    docker: ConnectionSpec = field(default_factory=lambda: ConnectionSpec(DEFAULT_SOCKET_URL))
    docker_tls: bool = False
    verbose: bool = False

    @property
    def credential_path(self) -> Path:
        return self.data_dir / CREDENTIAL_FILE

    def engine(self) -> Engine:
        """The engine for the local Docker daemon; raises ConfigError for an unusable DOCKER_HOST."""
        try:
            return TlsEngine(self.docker) if self.docker_tls else SocketEngine(self.docker)
        except EngineError as exc:
            raise ConfigError(f"DOCKER_HOST: {exc}") from None

    def ssl_context(self) -> ssl.SSLContext | None:
        """How to check the server's certificate: None for ws://, else the system CAs or the given bundle."""
        if self.server.startswith("ws://"):
            return None
        try:
            context = ssl.create_default_context(cafile=str(self.ca_bundle) if self.ca_bundle else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"--ca-bundle {self.ca_bundle}: not a readable PEM certificate file ({exc}).") from None
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


# --- parsing ------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dockmon-agent",
        description="Connects this host's Docker daemon to a DockMon server over an outgoing WebSocket.",
        epilog="Every flag has an environment variable; a flag wins over its variable. See agent/README.md.",
    )
    parser.add_argument("--server", help="DockMon's address, e.g. https://dockmon.example.com ($DOCKMON_SERVER)")
    parser.add_argument("--token", help="one-time registration token, first start only ($DOCKMON_TOKEN)")
    parser.add_argument("--data-dir", help="where the credential is kept ($DOCKMON_AGENT_DATA)")
    parser.add_argument("--name", help="this host's name in DockMon ($DOCKMON_AGENT_NAME; default: Docker's)")
    parser.add_argument("--ca-bundle", help="CA certificate(s) to verify the server with ($DOCKMON_CA_BUNDLE)")
    parser.add_argument(
        "--insecure",
        action=argparse.BooleanOptionalAction,
        help="do NOT verify the server's certificate ($DOCKMON_INSECURE)",
    )
    parser.add_argument(
        "--separate-host",
        action=argparse.BooleanOptionalAction,
        help="register as a new host although DockMon knows this Docker engine id, e.g. a cloned VM "
        "($DOCKMON_SEPARATE_HOST)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _flag_or_env(flag: str | None, environ: Mapping[str, str], name: str) -> str:
    return (flag if flag is not None else environ.get(name, "")).strip()


def _bool(flag: bool | None, environ: Mapping[str, str], name: str) -> bool:
    if flag is not None:
        return flag
    value = environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={environ[name]!r}: use true or false.")


def is_loopback(hostname: str) -> bool:
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def server_url(value: str) -> str:
    """The agent's WebSocket URL from what people paste: DockMon's https:// address (with a path prefix when
    it is served below one) or the wss:// URL itself. Plain ws:// / http:// is accepted for loopback only."""
    if not value:
        raise ConfigError("No server: give --server or DOCKMON_SERVER, e.g. https://dockmon.example.com")
    parts = urlsplit(value)
    scheme = {"https": "wss", "wss": "wss", "http": "ws", "ws": "ws"}.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise ConfigError(f"--server {value!r} is not a URL like https://dockmon.example.com")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(f"--server {value!r}: give the address only, without user, query or fragment.")
    try:
        parts.port  # noqa: B018  # raises for a port out of range
    except ValueError:
        raise ConfigError(f"--server {value!r}: the port is not a number from 1 to 65535.") from None
    if scheme == "ws" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"--server {value!r}: plain ws:// or http:// would send the agent's credential and Docker's answers "
            "unencrypted. Use https:// (wss://); plain connections are only allowed to this machine (loopback)."
        )
    path = parts.path.rstrip("/")
    if not path.endswith(protocol.PATH.rstrip("/")):
        path += protocol.PATH.rstrip("/")
    return urlunsplit((scheme, parts.netloc, f"{path}/", "", ""))


def default_data_dir() -> Path:
    return SYSTEM_DATA_DIR if os.geteuid() == 0 else USER_DATA_DIR.expanduser()


def _docker(environ: Mapping[str, str]) -> tuple[ConnectionSpec, bool]:
    url = environ.get("DOCKER_HOST", "").strip() or DEFAULT_SOCKET_URL
    # Like the docker CLI: any non-empty DOCKER_TLS_VERIFY turns TLS (with verification) on.
    if not environ.get("DOCKER_TLS_VERIFY", ""):
        return ConnectionSpec(url), False
    cert_path = Path(environ.get("DOCKER_CERT_PATH", "").strip() or "~/.docker").expanduser()
    pems = {}
    for name in ("ca.pem", "cert.pem", "key.pem"):
        try:
            pems[name] = (cert_path / name).read_text()
        except OSError as exc:
            raise ConfigError(
                f"DOCKER_TLS_VERIFY is set, but {cert_path / name} cannot be read ({exc.strerror}); "
                "DOCKER_CERT_PATH must hold ca.pem, cert.pem and key.pem."
            ) from None
    return ConnectionSpec(url, ca_pem=pems["ca.pem"], cert_pem=pems["cert.pem"], key_pem=pems["key.pem"]), True


def _token_glued(argv: Sequence[str]) -> list[str]:
    """`--token X` as `--token=X`: argparse refuses a value that starts with "-", and a random token may."""
    glued = list(argv)
    for n, arg in enumerate(glued[:-1]):
        if arg == "--token":
            glued[n : n + 2] = [f"--token={glued[n + 1]}"]
            break
    return glued


def load_config(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """The configuration from `argv` (default: sys.argv) and `environ` (default: os.environ); raises
    ConfigError. argparse itself exits with status 2 for unknown flags."""
    environ = os.environ if environ is None else environ
    args = _parser().parse_args(_token_glued(sys.argv[1:] if argv is None else argv))
    server = server_url(_flag_or_env(args.server, environ, "DOCKMON_SERVER"))
    data_dir = _flag_or_env(args.data_dir, environ, "DOCKMON_AGENT_DATA")
    ca_bundle = _flag_or_env(args.ca_bundle, environ, "DOCKMON_CA_BUNDLE")
    docker, docker_tls = _docker(environ)
    config = Config(
        server=server,
        data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(),
        name=_flag_or_env(args.name, environ, "DOCKMON_AGENT_NAME"),
        token=_flag_or_env(args.token, environ, "DOCKMON_TOKEN"),
        ca_bundle=Path(ca_bundle).expanduser() if ca_bundle else None,
        insecure=_bool(args.insecure, environ, "DOCKMON_INSECURE"),
        separate_host=_bool(args.separate_host, environ, "DOCKMON_SEPARATE_HOST"),
        docker=docker,
        docker_tls=docker_tls,
        verbose=args.verbose,
    )
    if config.ca_bundle and config.insecure:
        raise ConfigError("--ca-bundle and --insecure contradict each other: keep --ca-bundle.")
    if load_credential(config) is None:
        if not config.token:
            raise ConfigError(
                f"No registration token, and no credential for {server} in {config.credential_path}. For the first "
                "start, create a token on the host's page in DockMon and pass it with --token or DOCKMON_TOKEN."
            )
        # Checked before registering: a credential that cannot be kept would waste the one-time token.
        try:
            _private_dir(config.data_dir)
        except OSError as exc:
            raise ConfigError(f"--data-dir {config.data_dir}: {exc.strerror}.") from None
        if not os.access(config.data_dir, os.W_OK):
            raise ConfigError(f"--data-dir {config.data_dir}: the agent may not write there.")
    return config


# --- the credential file ---------------------------------------------------------------------------------------


def load_credential(config: Config) -> Credential | None:
    """The stored credential if it is for `config.server`; None when there is none (or it is another server's).
    Raises ConfigError for a file that cannot be read or parsed."""
    path = config.credential_path
    try:
        raw = json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None  # a data dir that is no directory is reported when the agent needs to write it
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} cannot be read ({exc}). Delete it and register again with a new token.") from None
    try:
        stored = Credential(server=raw["server"], host=raw["host"], credential=raw["credential"])
    except (KeyError, TypeError):
        raise ConfigError(f"{path} is damaged. Delete it and register again with a new token.") from None
    if not (isinstance(stored.server, str) and isinstance(stored.host, int) and isinstance(stored.credential, str)):
        raise ConfigError(f"{path} is damaged. Delete it and register again with a new token.")
    return stored if stored.server == config.server else None


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)  # an existing directory (a fresh Docker volume is 0755) is tightened too


def save_credential(data_dir: Path, credential: Credential) -> Path:
    """Write the credential file atomically: a reader (or a crash) sees the old file or the new one, never half
    of it. The directory is made 0700 and the file is 0600 from its creation on."""
    _private_dir(data_dir)
    text = json.dumps({"server": credential.server, "host": credential.host, "credential": credential.credential})
    fd, temp = tempfile.mkstemp(dir=data_dir, prefix=".credential-", suffix=".tmp")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
        path = data_dir / CREDENTIAL_FILE
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    # The rename itself must survive a power cut, or the server's credential (the only copy) is lost.
    dir_fd = os.open(data_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path
