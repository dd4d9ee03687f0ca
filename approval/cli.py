"""`approval` command line: run an approval, validate a record, compare two records."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from approval import __version__, exitcodes
from approval.console import fail_line, say
from approval.errors import ConfigError

ENV_HELP = (
    "environment: GATEWAY_API_KEY (the key; never a flag), GATEWAY_BASE_URL and CANDIDATE_MODEL_ID (used when the flags "
    "and the config leave them open).\nexit codes: 0 approved, 1 not approved, 2 configuration or usage error (nothing "
    "sent), 3 no verdict (internal error)."
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one clear line, exit 2, no usage dump
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):  # name the options only: a value given by mistake (`--api-key KEY`) is never echoed
            names = [arg.split("=", 1)[0] for arg in message.removeprefix(prefix).split() if arg.startswith("-")]
            message = prefix + (" ".join(names) or "(extra values, not shown)")
        fail_line(f"{message} — see `{self.prog} --help`")
        raise SystemExit(exitcodes.CONFIG_ERROR)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="approval", description="Approve a candidate model on an OpenAI-compatible gateway.", epilog=ENV_HELP,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"approval {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    run = sub.add_parser("run", help="run the approval suite", epilog=ENV_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--base-url", help="gateway base URL including /v1 (env GATEWAY_BASE_URL)")
    run.add_argument("--model", action="append", dest="models", metavar="ID",
                     help="candidate model ID; repeat or comma-separate for several (env CANDIDATE_MODEL_ID)")
    run.add_argument("--endpoint", choices=("chat", "responses"), help="endpoint family (default chat)")
    run.add_argument("--prompt-file", help="representative prompt (.md/.txt, or .yaml/.json with messages and expect)")
    run.add_argument("--config", help="gateway.yaml with paths, auth, thresholds, approved models, expectations")
    run.add_argument("--max-latency-ms", type=str, help="latency bound for the p50 of the samples (default 30000)")
    run.add_argument("--samples", type=str, help="latency samples (default 3)")
    run.add_argument("--timeout", type=str, help="deadline for the whole run in seconds (default 300)")
    run.add_argument("--checks", help="comma-separated checks to run (default: the standard set)")
    run.add_argument("--baseline-model", help="the model approved today, run side by side (does not gate)")
    run.add_argument("--concurrency", type=str, help="cap on concurrent requests to the gateway (default 8)")
    run.add_argument("--record-out", default="approval-record.json", help="where to write the record (default %(default)s)")
    run.add_argument("--report-out", help="where to write the markdown report")
    run.add_argument("--approved-by", help="who approves (default: in CI '$GITHUB_ACTOR via run $GITHUB_RUN_ID/$GITHUB_JOB', else your login)")
    run.add_argument("--include-model-output", action="store_true", help="show the first sample's answer in the markdown report")
    run.add_argument("--quiet", action="store_true", help="print only the verdict")
    val = sub.add_parser("validate-record", help="validate a record against the shipped schema")
    val.add_argument("file")
    diff = sub.add_parser("diff", help="show what changed between two records")
    diff.add_argument("old")
    diff.add_argument("new")
    diff.add_argument("--exit-code", action="store_true", help="exit 1 when the records differ in verdict or any check status")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "validate-record":
            return cmd_validate(args.file)
        if args.command == "diff":
            return cmd_diff(args.old, args.new, args.exit_code)
    except ConfigError as exc:
        fail_line(exc.line())
        return exitcodes.CONFIG_ERROR
    except KeyboardInterrupt:
        fail_line("interrupted")
        return exitcodes.NO_VERDICT
    parser.print_help()
    return exitcodes.CONFIG_ERROR


def cmd_run(args: argparse.Namespace) -> int:
    from approval.config import build_settings
    from approval.pipeline import execute
    from approval.report import progress_line, render_text

    flags = {
        "base_url": args.base_url,
        "models": args.models,
        "endpoint": args.endpoint,
        "prompt_file": args.prompt_file,
        "config": args.config,
        "max_latency_ms": args.max_latency_ms,
        "samples": args.samples,
        "timeout": args.timeout,
        "checks": args.checks,
        "baseline_model": args.baseline_model,
        "concurrency": args.concurrency,
        "approved_by": args.approved_by,
        "include_model_output": args.include_model_output,
    }
    settings = build_settings(flags, os.environ)
    record_out = _output_path(args.record_out, "--record-out")
    report_out = _output_path(args.report_out, "--report-out") if args.report_out else None
    several = len(settings.candidates) > 1 or settings.baseline_model is not None
    if not args.quiet:
        who = ", ".join(settings.candidates) + (f" (baseline {settings.baseline_model})" if settings.baseline_model else "")
        say(f"approval {__version__}: {who} on {settings.base_url} [{settings.endpoint}], checks: {', '.join(settings.checks)}; "
            f"deadline {settings.total_timeout_s:g}s")
    result = execute(settings, record_out, report_out,
                     on_check=None if args.quiet else lambda model, check: say(progress_line(model, check, several)))
    for problem in result.output_errors:
        fail_line(problem)
    if result.internal_error:
        written = f"a failing record was written to {result.records[0][0]}" if result.records else "no record could be written"
        fail_line(f"no verdict: {result.internal_error}; {written}")
        return exitcodes.NO_VERDICT
    assert result.run is not None
    say(render_text(result.run))
    for path, _ in result.records:
        say(f"record: {path}")
    if report_out:
        say(f"report: {report_out}")
    return exitcodes.APPROVED if result.result == "pass" else exitcodes.NOT_APPROVED


def _output_path(text: str, flag: str) -> Path:
    path = Path(text)
    if path.is_dir():
        raise ConfigError(f"{flag} {text!r} is a directory", f"give {flag} a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if flag == "--record-out" and path.exists() and not path.is_file():
        raise ConfigError(f"{flag} {text!r} is not a regular file", f"give {flag} a file path: the record is replaced atomically")
    if parent.exists() and not parent.is_dir():
        raise ConfigError(f"{flag} {text!r}: {parent} is not a directory", f"give {flag} a writable path")
    if parent.exists() and not os.access(parent, os.W_OK):
        raise ConfigError(f"{flag} {text!r}: {parent} is not writable", f"give {flag} a writable path")
    try:  # created now, before anything is sent: a folder that cannot be made must not cost a whole run
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{flag} {text!r}: its folder cannot be created ({exc.strerror or type(exc).__name__})",
                          f"give {flag} a writable path") from None
    return path


def _load_record(path_text: str) -> dict[str, Any]:
    path = Path(path_text)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"record {path_text!r} does not exist", "give the path of an approval record JSON file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"record {path_text!r} cannot be read ({exc})", "give a readable JSON file") from None
    except (ValueError, RecursionError):
        raise ConfigError(f"record {path_text!r} is not valid JSON", "give an approval record JSON file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"record {path_text!r} is not a JSON object", "give an approval record JSON file")
    return data


def _load_approval_record(path_text: str) -> dict[str, Any]:
    data = _load_record(path_text)
    if data.get("record_type") != "model_candidate_approval":
        raise ConfigError(f"{path_text!r} is not an approval record (no record_type 'model_candidate_approval')",
                          "give two records written by `approval run` or the action (approval-record.json)")
    return data


def cmd_validate(path_text: str) -> int:
    from approval.record import RecordInvalid, validate_record
    from approval.record_consistency import inconsistencies

    data = _load_record(path_text)
    try:
        validate_record(data)
    except RecordInvalid as exc:
        fail_line(f"{path_text}: invalid record: {exc}")
        return exitcodes.NOT_APPROVED
    problems = inconsistencies(data, os.environ.get("GATEWAY_API_KEY", "").strip() or None)
    for problem in problems:
        fail_line(f"{path_text}: invalid record: {problem}")
    if problems:
        return exitcodes.NOT_APPROVED
    say(f"{path_text}: valid approval record ({data.get('candidate_model_id')}, {data.get('overall_result')}; schema "
        f"{data.get('schema_version')}, consistent with its checks)")
    return exitcodes.APPROVED


def cmd_diff(old_path: str, new_path: str, exit_code: bool) -> int:
    from approval.diff import diff_records

    old, new = _load_approval_record(old_path), _load_approval_record(new_path)
    changes, material = diff_records(old, new)
    if not changes:
        say("no differences in verdict, checks, latency or environment")
    for line in changes:
        say(line)
    return exitcodes.NOT_APPROVED if exit_code and material else exitcodes.APPROVED


if __name__ == "__main__":
    sys.exit(main())
