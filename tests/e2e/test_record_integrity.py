"""Record integrity through the installed `approval` command against the echo gateway on 127.0.0.1: one record per
candidate, whatever their names sanitise to, and the evidence `approval promote` keeps is of that candidate's file."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from pathlib import Path

import pytest

from harness.commands import run_approval
from harness.echo_gateway import echo_gateway

pytestmark = pytest.mark.e2e

KEY = "sk-canary-record-integrity-0123456789"


@pytest.mark.parametrize("others", [("vendor:m", "vendor_m", "Vendor/M"), ("vendor%m", "VENDOR_M")], ids=["separators-and-case", "percent"])
def test_candidates_whose_names_sanitise_alike_each_keep_their_own_record(tmp_path: Path, others: tuple[str, ...]) -> None:
    """`vendor/m` passes; the others (not served by the gateway) fail. Before, they shared one file name and the last
    written record replaced the passing one."""
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text("approved_models: [some-old-model]\nmodel_in_use: some-old-model\n", encoding="utf-8")
    record_out, report_out = tmp_path / "out" / "approval-record.json", tmp_path / "out" / "report.md"
    candidates = ["vendor/m", *others]
    with echo_gateway(models=("vendor/m",)) as gw:
        result = run_approval(["run", "--base-url", gw.base_url, "--model", ",".join(candidates), "--config", str(cfg),
                               "--checks", "reachability,happy-path,model-echo", "--record-out", str(record_out),
                               "--report-out", str(report_out), "--timeout", "30"], key=KEY, cwd=tmp_path)
    assert result.code == 1, result.all_text  # the others fail
    written = sorted((tmp_path / "out").glob("approval-record.*.json"))
    assert len(written) == len(candidates), [p.name for p in written]
    by_model = {json.loads(p.read_text())["candidate_model_id"]: p for p in written}
    assert sorted(by_model) == sorted(candidates)  # each candidate's own record, none replaced by another's
    assert len({p.name.casefold() for p in written}) == len(written)  # apart on a case-insensitive file system too
    for model, path in by_model.items():
        record = json.loads(path.read_text())
        assert record["overall_result"] == ("pass" if model == "vendor/m" else "fail"), (model, path.name)
        assert f"record: {path}" in result.stdout
        assert run_approval(["validate-record", str(path)], key=KEY).code == 0

    # the report's promote command names the passing candidate's file, and promote keeps that file's sha256
    report = report_out.read_text(encoding="utf-8")
    command = re.search(r"^approval promote (.+)$", report, re.MULTILINE)
    assert command is not None, report
    args = shlex.split(command.group(1))
    assert Path(args[args.index("--record") + 1]) == by_model["vendor/m"]
    promoted = run_approval(["promote", *args], key=KEY, cwd=tmp_path)
    assert promoted.code == 0, promoted.all_text
    sha = hashlib.sha256(by_model["vendor/m"].read_bytes()).hexdigest()
    assert sha in cfg.read_text(encoding="utf-8") and "vendor/m" in cfg.read_text(encoding="utf-8")
    assert sha in report
