"""`approval` command line: run an approval, validate a record, compare two records, summarize many, promote an approved model.

Lazy imports: each command imports what it needs inside its own function, so `approval --version` and the commands
that read records start without loading the suite, requests or PyGithub.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from approval import __version__
from approval.common import exitcodes
from approval.common.console import fail_line, one_line, run_to_end, say
from approval.common.errors import ConfigError

ENV_HELP = (
    "environment: GATEWAY_API_KEY (the key; never a flag), GATEWAY_BASE_URL and CANDIDATE_MODEL_ID (used when the flags "
    "and the config leave them open).\nexit codes: 0 approved, 1 not approved, 2 configuration or usage error (nothing "
    "sent), 3 no verdict (internal error), 130 interrupted."
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
    run.add_argument("--endpoint", choices=("chat", "responses"), help="endpoint family (default: the config's, else the profile's, else chat)")
    run.add_argument("--profile", metavar="NAME|PATH",
                     help="the agent the verdict holds for: a built-in profile (generic-tools, plain-chat, codex-cli, opencode, cline, aider, "
                          "openhands, qwen-code, openai-agents) or a profile YAML file (default: the config's agent.profile, else generic-tools)")
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
    run.add_argument("--reapprove", action="store_true",
                     help="without --model: re-approve every model of the registry (approved_models, approved_models_file) and model_in_use")
    run.add_argument("--registry-base", action="append", metavar="FILE",
                     help="the registry as the target branch has it (its gateway.yaml and/or approved-models markdown file; repeat for "
                          "both): checks registry-guard, what this change does to the approved list")
    run.add_argument("--quiet", action="store_true", help="print only the verdict")
    val = sub.add_parser("validate-record", help="validate a record against the shipped schema")
    val.add_argument("file")
    diff = sub.add_parser("diff", help="show what changed between two records")
    diff.add_argument("old", help="a record file, or REF:PATH of one in git (e.g. on the record-store branch: origin/approval-records:…)")
    diff.add_argument("new", help="a record file, or REF:PATH")
    diff.add_argument("--exit-code", action="store_true", help="exit 1 when the records differ in verdict or any check status")
    summ = sub.add_parser("summarize", help="one table over many records (matrix legs); exit 1 unless every candidate passed")
    summ.add_argument("paths", nargs="+", metavar="PATH", help="record files, or folders searched for approval-record*.json")
    summ.add_argument("--format", choices=("text", "markdown"), default="text", help="text for a terminal, markdown for a job summary")
    promote = sub.add_parser("promote", help="write an approved model and its evidence into the registry (AGENTS.md or gateway.yaml)")
    promote.add_argument("--record", required=True, help="the approval record of a passing run (approval-record.json)")
    promote.add_argument("--registry", required=True,
                         help="the markdown file with the approved-models block (e.g. AGENTS.md), or the gateway.yaml with approved_models")
    promote.add_argument("--config", help="the gateway.yaml that names a markdown registry (approved_models_file): the record must be "
                                          "from its gateway and endpoint")
    capture = sub.add_parser("capture", help="record an agent's request shape (never its content or key) as an agent profile, through "
                                             "a proxy on loopback", formatter_class=argparse.RawDescriptionHelpFormatter,
                             epilog="exit codes: 0 profile written, 2 usage error (nothing listened), 3 no model request arrived "
                                    "(no profile written), 130 interrupted before it could write.")
    capture.add_argument("--upstream", required=True, metavar="URL", help="the gateway's base URL the requests are forwarded to, e.g. "
                                                                          "http://127.0.0.1:4000/v1")
    capture.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT",
                         help="where the proxy listens (default %(default)s: a free port on loopback)")
    capture.add_argument("--listen-any", action="store_true", help="allow a --listen address that is not loopback")
    capture.add_argument("--out", required=True, metavar="PATH", help="the profile YAML file to write")
    capture.add_argument("--requests", metavar="N", help="stop after N model requests (answered)")
    capture.add_argument("--seconds", metavar="S", help=f"stop after S seconds (default {DEFAULT_CAPTURE_SECONDS:g} when --requests is not given)")
    capture.add_argument("--name", help="the profile's name (default: captured-<the agent's product name>)")
    return parser


DEFAULT_CAPTURE_SECONDS = 300.0


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
        if args.command == "summarize":
            return cmd_summarize(args.paths, args.format)
        if args.command == "promote":
            return cmd_promote(args.record, args.registry, args.config)
        if args.command == "capture":
            return cmd_capture(args)
    except ConfigError as exc:
        fail_line(exc.line())
        return exitcodes.CONFIG_ERROR
    parser.print_help()
    return exitcodes.CONFIG_ERROR


def cmd_run(args: argparse.Namespace) -> int:
    from approval.engine.checks import CATALOGUE
    from approval.settings.build import build_settings
    from approval.settings.flags import Flags

    flags = Flags(
        base_url=args.base_url,
        models=tuple(args.models or ()),
        endpoint=args.endpoint,
        profile=args.profile,
        prompt_file=args.prompt_file,
        config=args.config,
        max_latency_ms=args.max_latency_ms,
        samples=args.samples,
        timeout=args.timeout,
        checks=args.checks,
        baseline_model=args.baseline_model,
        concurrency=args.concurrency,
        approved_by=args.approved_by,
        include_model_output=args.include_model_output,
        reapprove=args.reapprove,
    )
    _refuse_conflicting_flags(args)
    settings = build_settings(flags, os.environ, CATALOGUE)
    if args.reapprove and not settings.approved_models and not settings.model_in_use:  # else the config's candidate would run instead
        raise ConfigError("--reapprove is given but the registry lists no model (no approved_models, approved_models_file or model_in_use)",
                          "pass --config with the gateway.yaml that lists them, or give --model instead of --reapprove")
    for notice in settings.notices:
        say(f"warning: {notice}", sys.stderr)
    base = _registry_base(args.registry_base, settings) if args.registry_base else None  # read before anything is sent
    record_out = _output_path(args.record_out, "--record-out")
    report_out = _output_path(args.report_out, "--report-out") if args.report_out else None
    try:
        return _run(args, settings, base, record_out, report_out)
    except Exception as exc:  # noqa: BLE001 - a bug of ours outside the pipeline: the records still say so
        from approval.frontends.pipeline import no_verdict

        return _no_verdict(no_verdict(settings, record_out, exc))


def _run(args: argparse.Namespace, settings: Any, base: tuple[Any, str, str] | None, record_out: Path, report_out: Path | None) -> int:
    from approval.frontends.pipeline import execute, write_text_file
    from approval.report.render import progress_line, render_markdown, render_text

    several = len(settings.candidates) > 1 or settings.baseline_model is not None
    if not args.quiet:
        who = ", ".join(settings.candidates) + (f" (baseline {settings.baseline_model})" if settings.baseline_model else "")
        say(f"approval {__version__}: {who} on {settings.base_url} [{settings.endpoint}], checks: {', '.join(settings.checks)}; "
            f"deadline {settings.total_timeout_s:g}s")
    # with --registry-base the report also carries registry-guard: written once, below (a pipe given as --report-out sees one report)
    result = execute(settings, record_out, None if base is not None else report_out,
                     on_check=None if args.quiet else lambda model, check: say(progress_line(model, check, several)))
    if result.internal_error:
        return _no_verdict(result)
    assert result.run is not None
    run_checks = []
    output_errors = list(result.output_errors)
    if base is not None:
        from approval.lifecycle.guard import Verification, record_hashes, registry_guard, verdicts_of
        from approval.settings.configfile import head_registry
        from approval.settings.profile import with_file_sha

        registry, label, files = base
        head = head_registry(settings.config_path, settings.approved_models_file)
        named = with_file_sha(settings.profile)
        verdicts = verdicts_of([(o.model, o.result, o.checks) for o in result.run.candidates], named.name, named.sha256)
        verify = Verification(records=record_hashes(result.records))
        run_checks.append(registry_guard(registry, head, verdicts, registry_files=files, base_label=label, verify=verify))
        if report_out:
            try:
                write_text_file(report_out, render_markdown(result.run, promotions=result.promotions, run_checks=run_checks))
            except OSError as exc:  # as in the pipeline: the report is a copy, the verdict stands
                output_errors.append(f"the report could not be written to {report_out} ({exc.strerror or type(exc).__name__}); the verdict stands")
    for problem in output_errors:
        fail_line(problem)
    say(render_text(result.run, run_checks))
    for path, _ in result.records:
        say(f"record: {path}")
    if report_out and not output_errors:
        say(f"report: {report_out}")
    gated = any(c.result.blocking for c in run_checks)
    return exitcodes.APPROVED if result.result == "pass" and not gated else exitcodes.NOT_APPROVED


def _no_verdict(result: Any) -> int:
    for problem in result.output_errors:
        fail_line(problem)
    written = f"a failing record was written to {result.records[0][0]}" if result.records else "no record could be written"
    fail_line(f"no verdict: {result.internal_error}; {written}")
    return exitcodes.NO_VERDICT


def _refuse_conflicting_flags(args: argparse.Namespace) -> None:
    """One rule for values given on the command line: a flag overrides gateway.yaml and the environment (the documented
    precedence), but flags that contradict each other are a usage error, never one silently dropped."""
    if args.reapprove and args.models:
        raise ConfigError("--reapprove and --model both choose the candidates",
                          "give --model to approve those models, or --reapprove alone to re-approve every model of the registry")
    if args.include_model_output and not args.report_out:
        raise ConfigError("--include-model-output shows the answer in the markdown report, but no --report-out is given",
                          "add --report-out PATH, or drop --include-model-output")


def _registry_base(files: list[str], settings: Any) -> tuple[Any, str, str]:
    """The registry at the target branch, from `--registry-base` files: (registry, how to name it, the files compared)."""
    from approval.common.userfile import YamlAmbiguous, YamlTooLarge, load_yaml, read_user_file
    from approval.lifecycle.promote import registry_kind
    from approval.settings.configfile import load_config_file
    from approval.settings.registry import MAX_REGISTRY_BYTES, registry_of, registry_sources

    given: dict[str, tuple[str, str]] = {}
    for name in files:
        kind = registry_kind(name)
        if kind in given:
            raise ConfigError(f"--registry-base names two {kind} files ({given[kind][0]}, {name})", "give at most one gateway.yaml and one markdown file")
        text, _ = read_user_file(name, "--registry-base file", MAX_REGISTRY_BYTES, "give the registry file as the target branch has it",
                                 "keep the registry file under 1 MiB")
        given[kind] = (name, text)
    head_doc = load_config_file(settings.config_path)[0] if settings.config_path else None
    sources = registry_sources(head_doc, settings.config_path, settings.approved_models_file)
    if not sources:
        raise ConfigError("--registry-base is given but no registry is configured",
                          "list approved_models (or approved_models_file) and model_in_use in the gateway.yaml passed with --config")
    wanted = {"yaml": settings.config_path if settings.config_path in sources else None, "markdown": settings.approved_models_file}
    for wanted_kind, head_file in wanted.items():
        if head_file and wanted_kind not in given:
            raise ConfigError(f"--registry-base has no base version of {head_file}", f"add --registry-base with {head_file} as the target branch has it")
    doc: Any = {}
    if "yaml" in given:
        import yaml

        try:
            doc = load_yaml(given["yaml"][1]) or {}
        except YamlAmbiguous as exc:
            raise ConfigError(f"--registry-base file {given['yaml'][0]!r}: {exc}", exc.fix) from None
        except (yaml.YAMLError, YamlTooLarge, RecursionError):
            raise ConfigError(f"--registry-base file {given['yaml'][0]!r} is not valid YAML", "give the gateway.yaml as the target branch has it") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"--registry-base file {given['yaml'][0]!r} is not a mapping of keys", "give the gateway.yaml as the target branch has it")
    block = given.get("markdown")
    registry = registry_of(doc, block[1] if block else None, block[0] if block else "", given["yaml"][0] if "yaml" in given else "")
    label = "the base (" + ", ".join(name for name, _ in given.values()) + ")"
    return registry, label, ", ".join(sources)


def _output_path(text: str, flag: str) -> Path:
    """Check an output the user named before anything is sent: a regular file (replaced atomically, through a temporary
    file beside it) needs a writable folder; a device or pipe that exists (/dev/stdout, /dev/fd/N, a FIFO) is written
    as it is, so only itself must be writable. The record must be a regular file."""
    path = Path(text)
    if path.is_dir():
        raise ConfigError(f"{flag} {text!r} is a directory", f"give {flag} a file name")
    from approval.frontends.pipeline import descriptor_of, written_in_place

    special = written_in_place(path)
    if special and flag == "--record-out":
        raise ConfigError(f"{flag} {text!r} is not a regular file", f"give {flag} a file path: the record is replaced atomically")
    if special:
        fd = descriptor_of(path)
        try:
            writable = os.fstat(fd) is not None if fd is not None else os.access(path, os.W_OK)
        except OSError:
            writable = False
        if not writable:
            raise ConfigError(f"{flag} {text!r} is not {'open' if fd is not None else 'writable'}", f"give {flag} a writable path")
        return path
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise ConfigError(f"{flag} {text!r}: {parent} is not a directory", f"give {flag} a writable path")
    if parent.exists() and not os.access(parent, os.W_OK):
        raise ConfigError(f"{flag} {text!r}: {parent} is not writable", f"give {flag} a path in a folder you can write")
    try:  # created now, before anything is sent: a folder that cannot be made must not cost a whole run
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{flag} {text!r}: its folder cannot be created ({exc.strerror or type(exc).__name__})",
                          f"give {flag} a writable path") from None
    return path


def _load_record(path_text: str) -> dict[str, Any]:
    return _read_record(path_text)[0]


def _read_record(path_text: str) -> tuple[dict[str, Any], bytes]:
    """The record as JSON and its bytes (the sha256 the registry keeps is of the bytes): a regular file, bounded, strict
    JSON (approval.common.userfile.read_record_file)."""
    from approval.common.userfile import read_record_file

    return read_record_file(path_text)


MAX_GIT_RECORD_BYTES = 2 * 1024 * 1024  # a record is a few kB: a larger blob is not one, and is never read whole


def _record_from_git(spec: str) -> dict[str, Any]:
    """A record kept in git, e.g. on the record-store branch: `origin/approval-records:<host>/<model>/<file>.json`.

    The REF is resolved to a commit first (`rev-parse --verify --end-of-options`, so nothing the user gives is read
    as an option), the PATH must stay inside the tree, and the blob's size is checked before it is read."""
    import subprocess

    from approval.common.userfile import record_from_bytes

    fix = "fetch the branch first (git fetch origin approval-records), and give REF:PATH of a record on it"
    ref, _, inner = spec.partition(":")
    parts = inner.split("/")
    if ref.startswith("-") or not ref or any(ch in ref for ch in "\x00\n"):
        raise ConfigError(f"record {spec!r} is not a file, and {ref!r} is not a git ref", fix)
    if inner.startswith("/") or any(part in ("..", ".") for part in parts) or "\x00" in inner:
        raise ConfigError(f"record {spec!r}: the path in git must stay inside the tree (no '/' at the start, no '..' or '.')", fix)

    def git(*args: str) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(["git", *args], capture_output=True, timeout=30, check=False, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            raise ConfigError(f"record {spec!r} is not a file, and git could not be run to read it as REF:PATH", fix) from None

    def reason(proc: subprocess.CompletedProcess[bytes]) -> str:
        return (proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["not found"])[0]

    commit = git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if commit.returncode != 0:
        raise ConfigError(f"record {spec!r} is not a file, nor in git ({ref!r} is not a commit here)", fix)
    obj = f"{commit.stdout.decode('ascii', 'replace').strip()}:{inner}"  # a hex commit: never an option
    size = git("cat-file", "-s", obj)
    if size.returncode != 0:
        raise ConfigError(f"record {spec!r} is not a file, nor in git ({reason(size)})", fix)
    if int(size.stdout.strip() or 0) > MAX_GIT_RECORD_BYTES:
        raise ConfigError(f"record {spec!r} is over the {MAX_GIT_RECORD_BYTES}-byte limit of a record", "give REF:PATH of an approval record")
    shown = git("cat-file", "blob", obj)
    if shown.returncode != 0:
        raise ConfigError(f"record {spec!r} is not a file, nor in git ({reason(shown)})", fix)
    return record_from_bytes(shown.stdout, spec)  # strict JSON, as a record file is read


def _load_approval_record(path_text: str) -> dict[str, Any]:
    in_git = not Path(path_text).exists() and re.match(r"^[^\s:]+:[^\s:].*\.json$", path_text) is not None
    data = _record_from_git(path_text) if in_git else _load_record(path_text)
    if data.get("record_type") != "model_candidate_approval":
        raise ConfigError(f"{path_text!r} is not an approval record (no record_type 'model_candidate_approval')",
                          "give two records written by `approval run` or the action (approval-record.json)")
    return data


def cmd_validate(path_text: str) -> int:
    from approval.record.consistency import record_problems

    data = _load_record(path_text)
    problems = record_problems(data, _key_to_look_for())
    for problem in problems:
        fail_line(f"{path_text}: invalid record: {problem}")
    if problems:
        return exitcodes.NOT_APPROVED
    say(f"{path_text}: valid approval record ({one_line(str(data.get('candidate_model_id')))}, {data.get('overall_result')}; schema "
        f"{data.get('schema_version')}, consistent with its checks)")
    return exitcodes.APPROVED


def _key_to_look_for() -> str | None:
    """The key a record must not hold: GATEWAY_API_KEY when it is set."""
    return os.environ.get("GATEWAY_API_KEY", "").strip() or None


def cmd_diff(old_path: str, new_path: str, exit_code: bool) -> int:
    from approval.record.diff import diff_records

    old, new = _load_approval_record(old_path), _load_approval_record(new_path)
    changes, material = diff_records(old, new)
    if not changes:
        say("no differences in verdict, checks, latency or environment")
    for line in changes:
        say(one_line(line))
    return exitcodes.NOT_APPROVED if exit_code and material else exitcodes.APPROVED


def cmd_summarize(paths: list[str], output_format: str) -> int:
    from approval.record.consistency import record_problems
    from approval.report.summary import find_record_files, invalid_row, render_markdown, render_text, row_from_record, summarize

    rows = []
    for path in find_record_files(paths):
        try:
            data = _load_record(str(path))
        except ConfigError as exc:
            rows.append(invalid_row(None, str(path), exc.problem))
            continue
        problems = record_problems(data, _key_to_look_for())
        if problems:  # a record that is malformed or contradicts itself (a hand-edited verdict) counts as not approved
            rows.append(invalid_row(data, str(path), f"{path}: {problems[0]}"))
            continue
        rows.append(row_from_record(data, str(path)))
    summary = summarize(rows)
    say(render_markdown(summary) if output_format == "markdown" else render_text(summary))
    return exitcodes.APPROVED if summary.all_approved else exitcodes.NOT_APPROVED


def cmd_promote(record_path: str, registry_path: str, config_path: str | None = None) -> int:
    """Add the record's model with its evidence to the registry (or refresh its evidence). Exit 1 and no change when
    the record does not approve it; exit 2 when the registry cannot be edited safely."""
    from approval.common.userfile import read_user_file
    from approval.lifecycle.promote import approval_for_record, check_gateway, promote_text, registry_kind, write_registry
    from approval.record.consistency import record_problems
    from approval.settings.registry import MAX_REGISTRY_BYTES

    data, raw = _read_record(record_path)
    problems = record_problems(data, _key_to_look_for())
    if problems:
        fail_line(f"{record_path}: not promoted: not a valid approval record ({'; '.join(problems)})")
        return exitcodes.NOT_APPROVED
    model = str(data["candidate_model_id"])
    if data["overall_result"] != "pass":
        fail_line(f"{record_path}: not promoted: {one_line(model)} was not approved in that run ({one_line(str(data.get('notes', '')))})")
        return exitcodes.NOT_APPROVED
    kind = registry_kind(registry_path)
    text, raw_registry = read_user_file(registry_path, "registry", MAX_REGISTRY_BYTES, "give an existing AGENTS.md or gateway.yaml",
                                        "keep the registry file under 1 MiB")
    unchecked = check_gateway(data, kind, registry_path, text, config_path)
    edit = promote_text(kind, text, model, approval_for_record(raw, data), registry_path)
    if not edit.changed(text):
        say(f"{registry_path} already lists {one_line(model)} with this record's evidence: nothing changed")
        return exitcodes.APPROVED
    bom = "\ufeff" if raw_registry.startswith(b"\xef\xbb\xbf") else ""  # read without it, written back with it: a diff of one line
    written = write_registry(registry_path, bom + edit.text)
    say(f"promoted {one_line(model)} in {registry_path}" + (f" (the file it links to, {written})" if written != Path(registry_path) else "") + ":")
    for line in edit.removed:
        say(f"- {one_line(line)}")
    for line in edit.added:
        say(f"+ {one_line(line)}")
    if unchecked:
        say(f"warning: {one_line(unchecked)}", sys.stderr)
    return exitcodes.APPROVED


def _capture_limits(requests: str | None, seconds: str | None) -> tuple[int | None, float | None]:
    """--requests and --seconds as numbers (each bounded); --seconds defaults to 300 when neither is given."""
    count = None
    if requests is not None:
        if not requests.strip().isdigit() or not 1 <= int(requests) <= 100_000:
            raise ConfigError(f"--requests {requests[:40]!r} is not a whole number from 1 to 100000", "give --requests N, e.g. 4")
        count = int(requests)
    wait = None if count is not None else DEFAULT_CAPTURE_SECONDS
    if seconds is not None:
        try:
            wait = float(seconds)
        except ValueError:
            wait = -1.0
        if not 0 < wait <= 86_400:
            raise ConfigError(f"--seconds {seconds[:40]!r} is not a number of seconds from 0 to 86400", "give --seconds S, e.g. 120")
    return count, wait


def cmd_capture(args: argparse.Namespace) -> int:
    """Record the agent's requests through a loopback proxy and write its profile (approval.capture)."""
    from approval.capture.proxy import NothingCaptured, Recorder, check_out, listen, parse_listen, parse_upstream, serve, write_profile
    from approval.settings.profile import profile_schema

    upstream = parse_upstream(args.upstream)
    host, port = parse_listen(args.listen, args.listen_any)
    out = check_out(args.out)
    count, seconds = _capture_limits(args.requests, args.seconds)
    if args.name is not None and not re.fullmatch(profile_schema()["properties"]["name"]["pattern"], args.name):
        raise ConfigError(f"--name {args.name[:80]!r} is not a profile name", "give a short lower-case name (letters, digits, . _ -), e.g. my-agent")
    recorder = Recorder(count)
    server = listen(host, port, upstream, recorder, lambda line: say(f"capture: {one_line(line)}"))
    shown = f"[{host}]" if ":" in host else host
    say(f"capture: point the agent at http://{shown}:{server.server_address[1]}{upstream.base_path}")
    bounds = " or ".join([*([f"{count} model requests"] if count else []), *([f"{seconds:g} s"] if seconds else [])])
    say(f"capture: forwarding to {upstream.origin}{upstream.base_path}; stops after {bounds}, or on Ctrl-C")
    why = serve(server, recorder, seconds)
    try:
        captured = write_profile(out, recorder.seen, args.name)
    except NothingCaptured:
        waited = "before Ctrl-C" if why == "interrupt" else f"in {seconds:g} s" if why == "time" else ""
        fail_line(f"no model request (POST to /chat/completions or /responses) arrived {waited}; no profile written — point the agent's "
                  f"base URL at http://{shown}:{server.server_address[1]}{upstream.base_path} and give it a task")
        return exitcodes.NO_VERDICT
    from approval.capture.shape import summary_lines

    ended = {"limit": "after the requests asked for", "time": "at the time limit", "interrupt": "on Ctrl-C"}[why]
    say(f"capture: stopped {ended}; wrote {captured.path} (sha256 {captured.sha256[:12]}), to review before use:")
    for line in summary_lines(captured.shape):
        say(one_line(line))
    say(f"capture: replay it with: approval run --profile {captured.path} --model MODEL")
    return exitcodes.APPROVED


def console() -> NoReturn:
    """The `approval` console script and `python -m approval`: `main()` under the last-resort handler the action's
    container shares (Ctrl-C exits 130, a bug of ours exits 3 with one line), then a quick exit (see end_process)."""
    run_to_end(main, fail_line)


if __name__ == "__main__":
    console()
