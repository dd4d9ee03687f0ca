"""agent-client: the client agents are built on (the official openai SDK, configured as the agent configures it) gets
a usable answer to the representative prompt, a typed 4xx error after one attempt for each malformed request, and no
call that makes it wait longer than agent.max_wait_seconds, its retries included.

Blame follows the cause, as in every check. A well-formed call that gets no usable answer for a reason outside the
model (5xx, 429, no answer within agent.max_wait_seconds, a refused key; a wrong path: `config`) leaves the candidate
unobserved: `error`, category `infrastructure` — the SDK retried as designed, and the check says how many attempts and
how long that cost an agent. A malformed request answered with a 5xx or a 429 is a `gateway` finding: the gateway
turned a client error into one every SDK retries — unless the well-formed call failed the same way, in which case the
gateway is simply down and the malformed requests prove nothing (`error`). A call cut by the run's deadline is
`error` and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from approval.engine.agent_calls import MALFORMED, AgentRun, SDKCall
from approval.engine.checks.base import STATUS_ORDER, CheckSpec, Evidence, result
from approval.engine.checks.error_path import PROBES
from approval.engine.classify import auth_hint, failure_status, path_miss
from approval.engine.results import Category, CheckResult, Status

NAME = "agent-client"
SPEC = CheckSpec(
    NAME,
    default="always",
    own_answers=False,
    summary=("the official `openai` SDK, configured as the agent configures it, parses the answer, raises its typed 4xx "
             "error after **one** attempt for each malformed request, and no call takes longer than "
             "`agent.max_wait_seconds`"),
)
TITLES = {"answer": "answer", "stream": "stream", **{short: title for _label, short, title, _required in PROBES}}
REQUIRED_BY_DEFAULT = {short: required for _label, short, _title, required in PROBES}
ACCESS_STATUSES = (401, 403, 407)
# Statuses the SDK retries (with x-should-retry absent): a malformed request answered with one costs every agent retries.
SDK_RETRIED = (408, 409, 429)
SHOWN_FIRST = (Status.FAIL, Status.ERROR, Status.WARN, Status.PASS, Status.SKIP)


@dataclass(frozen=True)
class Part:
    status: Status
    category: Category
    text: str


FAILURE_WORDS = {"transport": "connection failed", "connect": "connection failed", "timeout": "timed out", "too-large": "too large"}


def attempts_text(call: SDKCall) -> str:
    """'1 attempt, 0.09 s' / '3 attempts (HTTP 500, 500, 500), 15.40 s' / '2 attempts (connection failed, HTTP 400), 1.50 s'."""
    n = len(call.attempts)
    seen: list[str] = []
    after_status = False  # "HTTP" is said once per run of statuses: "HTTP 500, 500"
    for a in call.attempts:
        failure = FAILURE_WORDS.get(a.failure or "", a.failure)
        if a.status is None:
            seen.append(failure or "no answer")
        else:
            seen.append(("" if after_status else "HTTP ") + str(a.status) + (f" then {failure}" if failure else ""))
        after_status = a.status is not None
    shown = n > 1 or any(a.status is None or a.failure for a in call.attempts)
    return f"{n} attempt{'' if n == 1 else 's'}{' (' + ', '.join(seen) + ')' if shown else ''}, {call.seconds:.2f} s"


def _raised(call: SDKCall) -> str:
    status = f" {call.status}" if call.status is not None else ""
    code = f" code {call.code!r}" if call.code and call.code != str(call.status) else ""
    return f"{call.raised}{status}{code}"


def _message(call: SDKCall) -> str:
    """The message the SDK extracted from the error body, without its 'Error code: N - ' prefix ('' when none)."""
    return call.message.split(" - ", 1)[1] if call.message.startswith("Error code:") and " - " in call.message else ""


def _said(call: SDKCall) -> str:
    message = _message(call)
    return f' "{message[:36]}{"…" if len(message) > 36 else ""}"' if message else ""


def _unhandled(call: SDKCall) -> str:
    """What the SDK raised on an answer it could not turn into its types or errors."""
    if call.raised == "BodyTooLarge":
        return "the answer is larger than the size cap (max_response_bytes)"
    return f"the SDK could not handle the answer ({call.raised})"


def _cut(call: SDKCall, ev: Evidence, blame: Category, status: Status) -> Part:
    """A call the check stopped watching: at the run's deadline (an evidence gap), or at agent.max_wait_seconds."""
    so_far = attempts_text(call)
    if call.cut == "deadline":
        when = (f"after {so_far}" if call.attempts else
                "before its first attempt could be sent (no free request slot under the concurrency cap)")
        return Part(Status.ERROR, Category.INFRASTRUCTURE, f"cut by the run's deadline of {ev.settings.total_timeout_s:g} s {when}")
    policy = ""
    if ev.agent is not None:
        per_attempt = f"{ev.agent.timeout_s:g} s" if ev.agent.timeout_s is not None else "no limit"
        policy = f" (the SDK allows {per_attempt} per attempt and {ev.agent.max_retries} retries)"
    return Part(status, blame, f"not done within agent.max_wait_seconds ({ev.settings.agent.max_wait_s:g} s): {so_far} so far{policy}")


def _answer_error(call: SDKCall, status: int, path_key: str) -> tuple[Category, str]:
    """Whose the SDK's error on a well-formed call is, and what it says (as classify.describe_failure has it)."""
    said = _said(call)
    if status in ACCESS_STATUSES:
        return Category.INFRASTRUCTURE, f"{_raised(call)}: access refused — check the API key{said}"
    if status in SDK_RETRIED or status >= 500:
        return Category.INFRASTRUCTURE, f"{_raised(call)} after {attempts_text(call)}{said}"
    if 300 <= status < 400:
        return Category.GATEWAY, f"{_raised(call)}: a redirect (never followed)"
    if path_miss(status, _message(call) or None):
        return Category.CONFIG, f"{_raised(call)}{said}: this path does not answer on the gateway — check {path_key} and base_url"
    if status == 400 and auth_hint(call.message):
        return Category.INFRASTRUCTURE, f"{_raised(call)} that reads as an access problem{said} — check the API key"
    return Category.MODEL, f"{_raised(call)}: the gateway rejected the call to this model{said}"


def judge_answer(call: SDKCall, ev: Evidence) -> Part:
    """A well-formed call: the representative prompt, or its stream. No usable answer for a reason outside the model
    (no answer, a refused key, a rate limit, a provider's 5xx, a wrong path) leaves the candidate unobserved: `error`,
    as in every check; what the gateway or the model did answer is a finding."""
    if call.cut:  # no answer yet: a hang and a provider that fails every attempt look alike from here
        return _cut(call, ev, Category.INFRASTRUCTURE, Status.ERROR)
    if call.raised and call.status is not None:
        category, text = _answer_error(call, call.status, f"paths.{ev.settings.endpoint}")
        return Part(failure_status(category), category, text)
    if call.raised in ("APIConnectionError", "APITimeoutError"):
        return Part(Status.ERROR, Category.INFRASTRUCTURE, f"{call.raised} after {attempts_text(call)}")
    if call.raised == "APIError":  # an error event inside a 200 stream, raised by the SDK
        return Part(Status.FAIL, Category.GATEWAY, f"APIError from inside the 200 answer{': ' + call.message[:60] if call.message else ''}")
    if call.raised:
        return Part(Status.FAIL, Category.GATEWAY, _unhandled(call))
    if call.finding:
        return Part(Status.FAIL, call.finding_category, f"{call.parsed}: {call.finding}")
    if call.retried:  # what the old bounded-retry warned about: the gateway needed the SDK's retries
        return Part(Status.WARN, Category.INFRASTRUCTURE, f"{call.parsed} only after {attempts_text(call)}: the SDK's retries recovered")
    return Part(Status.PASS, Category.NONE, f"{call.parsed}, {call.output_chars} chars, {attempts_text(call)}")


def judge_malformed(call: SDKCall, ev: Evidence, gateway_down: str | None, path_wrong: str | None = None) -> Part:
    """A malformed request: a typed 4xx after one attempt, or a finding (a warning when not required)."""
    required = REQUIRED_BY_DEFAULT[call.name] or f"error-path.{call.name}" in ev.settings.required
    miss = Status.FAIL if required else Status.WARN
    status = call.status
    retried_by_gateway = any(a.status is not None and (a.status in SDK_RETRIED or a.status >= 500) for a in call.attempts)
    if call.cut == "deadline":
        return _cut(call, ev, Category.INFRASTRUCTURE, Status.ERROR)
    if path_wrong:
        return Part(Status.ERROR, Category.CONFIG, f"not judged: the well-formed call shows the path does not answer ({path_wrong})")
    if gateway_down and (retried_by_gateway or call.cut or call.raised in ("APIConnectionError", "APITimeoutError")):
        return Part(Status.ERROR, Category.INFRASTRUCTURE, f"not judged: the well-formed call failed too ({gateway_down})")
    if call.cut:  # the gateway's 5xx kept the SDK retrying past the bound: a finding; a hang: no answer to judge
        return _cut(call, ev, Category.GATEWAY, miss) if retried_by_gateway else _cut(call, ev, Category.INFRASTRUCTURE, Status.ERROR)
    if call.raised and status is not None:
        if status in ACCESS_STATUSES or auth_hint(call.message):
            return Part(Status.ERROR, Category.INFRASTRUCTURE, f"not judged: {_raised(call)} reads as an access refusal — check the API key")
        if retried_by_gateway:
            return Part(miss, Category.GATEWAY, f"{_raised(call)} after {attempts_text(call)}: a client error answered so makes every "
                                                f"SDK-based agent retry it")
        if 400 <= status < 500 and not call.retried:
            return Part(Status.PASS, Category.NONE, f"{_raised(call)}{_said(call)}, 1 attempt")
        if 400 <= status < 500 and all(a.status is None for a in call.attempts[:-1]):  # the connection failed, not the answer
            return Part(Status.WARN, Category.INFRASTRUCTURE, f"{_raised(call)}{_said(call)} only after {attempts_text(call)}: the SDK "
                                                              f"retried a connection that failed before the gateway answered")
        if 400 <= status < 500:
            return Part(miss, Category.GATEWAY, f"{_raised(call)} after {attempts_text(call)}: the gateway asked the SDK to retry it")
        return Part(miss, Category.GATEWAY, f"{_raised(call)} (expected a 4xx)")
    if call.raised in ("APIConnectionError", "APITimeoutError"):
        return Part(Status.ERROR, Category.INFRASTRUCTURE, f"not judged: {call.raised} after {attempts_text(call)}")
    if call.raised:
        return Part(miss, Category.GATEWAY, _unhandled(call))
    if not required:  # an answer is no trouble for the agent's client; error-path reports the acceptance itself
        return Part(Status.PASS, Category.NONE, f"accepted (HTTP 2xx, a {call.parsed}; error-path reports it), {attempts_text(call)}")
    return Part(miss, Category.GATEWAY, f"accepted: the SDK returned a {call.parsed} (HTTP 2xx), not an error")


def _down(answer: SDKCall, part: Part) -> str | None:
    """What shows that the gateway itself is failing (the well-formed call got a 5xx, a 429 or no answer), or None."""
    if part.status is not Status.ERROR or part.category is not Category.INFRASTRUCTURE:
        return None
    if answer.raised:
        return f"{answer.raised}{' ' + str(answer.status) if answer.status is not None else ''}"
    statuses = [a.status for a in answer.attempts if a.status is not None]
    return f"HTTP {statuses[-1]}, still retrying" if statuses else "no answer"


def metrics_of(agent: AgentRun, ev: Evidence) -> dict[str, object]:
    """Counts, the SDK's settings and the bound in seconds as configured; every duration in ms (what the suite empties
    when another model answered the run's calls)."""
    metrics: dict[str, object] = {
        "calls": len(agent.calls),
        "attempts": sum(len(c.attempts) for c in agent.calls),
        "worst_call_ms": round(max((c.seconds for c in agent.calls), default=0.0) * 1000, 1),
        "max_wait_s": ev.settings.agent.max_wait_s,
        "max_retries": agent.max_retries,
        "timeout_s": agent.timeout_s,
        "sdk_import_ms": round(agent.import_ms, 1),
    }
    for call in agent.calls:
        key = call.name.replace("-", "_")
        metrics[f"{key}_attempts"] = len(call.attempts)
        metrics[f"{key}_ms"] = round(call.seconds * 1000, 1)
    return metrics


def evaluate(ev: Evidence) -> CheckResult:
    agent = ev.agent
    if agent is None:
        return result(NAME, Status.ERROR, Category.INFRASTRUCTURE,
                      f"could not be checked: the SDK calls did not finish before the run's deadline of {ev.settings.total_timeout_s:g} s")
    if agent.setup_error:
        return result(NAME, Status.ERROR, Category.CONFIG, f"could not be checked: the openai SDK could not be set up ({agent.setup_error})")
    answer = agent.call("answer")
    if answer is None:  # never a pass without the SDK's answer to the representative prompt
        return result(NAME, Status.ERROR, Category.INFRASTRUCTURE, "could not be checked: the SDK made no call with the representative prompt")
    family = "Responses API" if ev.settings.endpoint == "responses" else "chat completions"
    answer_part = judge_answer(answer, ev)
    parts: list[tuple[str, Part]] = [("answer", answer_part)]
    stream = agent.call("stream")
    if stream is not None:
        parts.append(("stream", judge_answer(stream, ev)))
    down = _down(answer, answer_part)
    wrong_path = _raised(answer) if answer_part.category is Category.CONFIG else None
    for name in MALFORMED:
        call = agent.call(name)
        if call is not None:
            parts.append((name, judge_malformed(call, ev, down, wrong_path)))
    statuses = [p.status for _, p in parts]
    # a finding outranks a gap: a check that failed on evidence it gathered says so, whatever else it could not judge
    overall = Status.FAIL if Status.FAIL in statuses else max(statuses, key=lambda s: STATUS_ORDER[s], default=Status.PASS)
    category = next((p.category for _, p in parts if p.status is overall), Category.NONE)
    worst = max(agent.calls, key=lambda c: c.seconds, default=None)
    ordered = sorted(parts, key=lambda item: SHOWN_FIRST.index(item[1].status))  # what blocks first: the detail is cut at 300 chars
    texts = [f"{TITLES[name]}: {part.text}{' (warning)' if part.status is Status.WARN else ''}" for name, part in ordered]
    bound = (f"worst call {worst.seconds:.2f} s ({TITLES[worst.name]}) within {ev.settings.agent.max_wait_s:g} s" if worst is not None
             and not worst.cut else "")
    detail = f"{agent.sdk}, {family}: " + "; ".join([*texts, *([bound] if bound and overall is Status.PASS else [])])
    duration = max((c.seconds for c in agent.calls), default=0.0) * 1000
    return result(NAME, overall, category, detail, duration_ms=duration, metrics=metrics_of(agent, ev))
