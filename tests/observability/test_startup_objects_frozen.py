"""What a role loads at start-up lives as long as the process: it is moved out of the garbage
collector's reach (`process.freeze_startup_objects`), so a full collection does not walk it and
pause every thread (the tail of a status's trip to the websockets)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_loading_the_asgi_application_freezes_what_it_loaded():
    probe = ("import gc, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
             "'waha_project.settings'); import waha_project.asgi; "
             "print(gc.get_freeze_count())")

    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                         text=True, timeout=120, check=True).stdout

    # Django, DRF, Channels and the project's modules: tens of thousands of objects.
    assert int(out.strip().splitlines()[-1]) > 50_000
