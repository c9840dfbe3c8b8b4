"""Where a running fleet (started by ``edgefleet up``) records itself, so that
``down``, ``status``, ``infer`` and ``tui`` find it without flags."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgefleet.constants import API_KEY_ENV, DEFAULT_ROUTER_ADDRESS

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
