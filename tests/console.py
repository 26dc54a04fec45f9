"""The `vigil` console script the tests drive: the one installed beside the interpreter running them (so
`.venv/bin/python -m pytest` works without activating the venv), else whatever is on PATH.

Tests that need it skip when it is missing, except under CI=true, where they run and fail instead."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

VIGIL = shutil.which("vigil", path=str(Path(sys.executable).parent)) or shutil.which("vigil")
MISSING = VIGIL is None and os.environ.get("CI") != "true"
