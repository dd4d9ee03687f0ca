"""The fault-injection gateway behaves as documented (plain `requests`, short timeouts, 127.0.0.1 only)."""

from __future__ import annotations

import pytest

from harness import fault_gateway
from harness.fault_gateway import FAULTS, parse_fault


def test_every_fault_is_documented_and_parsed() -> None:
    doc = fault_gateway.__doc__ or ""
    for name in FAULTS:
        assert f"\n{name} " in doc, name
        assert parse_fault(f"fault:{name}").name == name
    assert parse_fault("slow:250").arg == 250
    for bad in ("nope", "hang:3", "slow:x", "slow:-1"):
        with pytest.raises(ValueError):
            parse_fault(bad)
