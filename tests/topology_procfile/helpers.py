"""The Procfile's scaled topology, run for real with `honcho start` from the venv.

Helpers (no pytest here): the environment honcho gets (the venv first on PATH, as after
`source .venv/bin/activate`), and the process tree under honcho, read from /proc.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.support.live_server import PROJECT_ROOT
from tests.support.stack import Child

VENV_BIN = Path(sys.executable).parent
API_KEY = "procfile-api-key-4c2d81"


def honcho_environment(env: Mapping[str, str], web_port: int) -> dict[str, str]:
    return {
        **env,
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', os.defpath)}",
        "VIRTUAL_ENV": str(VENV_BIN.parent),
        "WAHA_API_KEY": API_KEY,
        "WHATSAPP_API_HOSTNAME": "127.0.0.1",
        "WHATSAPP_API_PORT": str(web_port),
    }


def honcho(env: Mapping[str, str], log_dir: Path) -> Child:
    """`honcho start` on the project's Procfile; `-e /dev/null`: never a developer's .env."""
    return Child("honcho", [str(VENV_BIN / "honcho"), "start", "--no-colour",
                            "--procfile", str(PROJECT_ROOT / "Procfile"),
                            "--env", os.devnull], env, log_dir)


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    return int(stat.rsplit(")", 1)[1].split()[1])


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def descendants(root: int) -> dict[int, str]:
    """{pid: command line} of every process below `root`."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = _parent_of(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found: dict[int, str] = {}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found[child] = command_line(child)
            stack.append(child)
    return found


def is_alive(pid: int) -> bool:
    """Running (a zombie has exited: only its parent has not collected it yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
