"""Aider, started as its own ``aider`` command starts it, after the loopback guard (loopback_guard.py): run by
harness/agents.py with the interpreter of its own venv (``.tools/agents/aider``), isolated (``-I``), with aider's own
arguments::

    python -I aider_driver.py --model openai/MODEL --read README.md --message "TASK" ...

Aider talks to the gateway through its litellm (``OPENAI_API_BASE``, ``OPENAI_API_KEY``); the files it fetches on its
own (litellm's model prices, its version check) go to the proxy variables' loopback sink or are refused here.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loopback_guard

loopback_guard.install()
del sys.path[0]

from aider.main import main  # noqa: E402  (after the guard: nothing may connect before it is in place)

if __name__ == "__main__":
    sys.exit(main())
