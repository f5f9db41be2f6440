"""Test settings: the product's own settings with a throw-away data directory."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("WAHA_LOCAL_STORE_BASE_DIR", tempfile.mkdtemp(prefix="waha-tests-"))
os.environ.setdefault("WAHA_API_KEY", "test-api-key-123456")
os.environ.setdefault("WAHA_ENGINE", "fake")

from waha_project.settings import *  # noqa: F403
