"""The `approval` console script as the tests run it: the one installed beside this interpreter (what users run)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def require_e2e() -> bool:
    """True when a missing peer (LiteLLM, the console script) must fail the run instead of skipping (CI sets it)."""
    return os.environ.get("APPROVAL_REQUIRE_E2E") == "1"


def approval_command() -> list[str]:
    script = Path(sys.executable).parent / "approval"
    if script.exists():
        return [str(script)]
    found = shutil.which("approval")
    if found:
        return [found]
    if require_e2e():
        pytest.fail("the `approval` console script is not installed in this environment (pip install -e .)")
    pytest.skip("the `approval` console script is not installed (pip install -e .)")
