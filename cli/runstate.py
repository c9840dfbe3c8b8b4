"""Where a running fleet (started by ``edgefleet up``) records itself, so that
``down``, ``status``, ``infer`` and ``tui`` find it without flags."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgefleet.constants import API_KEY_ENV, DEFAULT_ROUTER_ADDRESS

if TYPE_CHECKING:
    from client import TlsConfig

DEFAULT_ROUTER = DEFAULT_ROUTER_ADDRESS


def home() -> Path:
    """EdgeFleet's per-user state folder (``$EDGEFLEET_HOME``, default ``~/.edgefleet``)."""
    return Path(os.environ.get("EDGEFLEET_HOME", Path.home() / ".edgefleet"))


def state_file() -> Path:
    """The run-state file of the fleet started by ``edgefleet up``."""
    return home() / "run" / "state.json"


@dataclass
class RunState:
    """What ``edgefleet up`` started: the supervisor pid and the addresses."""

    pid: int
    pgid: int
    config: str
    router: str
    ray_address: str = ""
    hosted: dict[str, str] = field(default_factory=dict)
    http: str = ""  # base URL of the router's OpenAI-compatible front door ("" when off)
    log: str = ""
    tls: dict[str, str | None] = field(default_factory=dict)  # ca, cert, key, server_name for clients
    ready: bool = False
    error: str = ""

    def write(self) -> None:
        """Atomically write the state file."""
        path = state_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @staticmethod
    def read() -> RunState | None:
        """The state of the running fleet, or None when none was started."""
        try:
            data = json.loads(state_file().read_text())
        except (OSError, ValueError):
            return None
        known = set(RunState.__dataclass_fields__)
        return RunState(**{k: v for k, v in data.items() if k in known})

    @staticmethod
    def clear() -> None:
        """Remove the state file."""
        state_file().unlink(missing_ok=True)


def router_address(explicit: str | None) -> str:
    """The router to talk to: the flag, else the running fleet's, else the default."""
    if explicit:
        return explicit
    state = RunState.read()
    if state is not None and state.router:
        return state.router
    return DEFAULT_ROUTER


def client_tls(args: object = None) -> TlsConfig | None:
    """TLS to the router: the command's ``--ca/--cert/--key/--server-name`` flags, else
    $EDGEFLEET_TLS_CA / _CERT / _KEY, else what ``edgefleet up --tls dev`` recorded; None: plaintext."""
    from client import TlsConfig

    def pick(flag: str, env: str) -> str | None:
        given = getattr(args, flag, None) if args is not None else None
        return given or os.environ.get(env) or None

    ca = pick("ca", "EDGEFLEET_TLS_CA")
    cert = pick("cert", "EDGEFLEET_TLS_CERT")
    key = pick("key", "EDGEFLEET_TLS_KEY")
    name = getattr(args, "server_name", None) if args is not None else None
    if ca is None and cert is None:
        state = RunState.read()
        if state is None or not state.tls:
            return None
        ca, cert, key = state.tls.get("ca"), state.tls.get("cert"), state.tls.get("key")
        name = name or state.tls.get("server_name")
    return TlsConfig(root_ca=ca, client_cert=cert, client_key=key, server_name=name)


def add_tls_flags(parser: Any) -> None:
    """``--ca``, ``--cert``, ``--key``, ``--server-name``: TLS (or mutual TLS) to the router."""
    parser.add_argument("--ca", help="CA certificate (PEM) of the router's TLS (or $EDGEFLEET_TLS_CA)")
    parser.add_argument("--cert", help="client certificate (PEM) for mutual TLS (or $EDGEFLEET_TLS_CERT)")
    parser.add_argument("--key", help="client key (PEM) for mutual TLS (or $EDGEFLEET_TLS_KEY)")
    parser.add_argument("--server-name", help="name on the router's certificate, when not the address's host")


def api_key(explicit: str | None) -> str | None:
    """The API key to send the router: the flag, else $EDGEFLEET_API_KEY, else none."""
    return explicit or os.environ.get(API_KEY_ENV) or None


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
