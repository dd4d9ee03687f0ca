"""What a front end was given for one run — command-line flags or action inputs — before gateway.yaml and the
environment are merged in (settings/build.py). Typed, so that a value a front end sets is never silently dropped: a
misspelt or unknown name is an error where it is written, not a setting that quietly keeps its default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flags:
    """Empty (None, "" or ()) means not given: gateway.yaml, then the environment, then the default decides.
    Numbers stay text here, as the user typed them; the settings builder checks them and names the flag."""

    base_url: str | None = None
    models: tuple[str, ...] = ()  # each item may itself be comma- or newline-separated
    endpoint: str | None = None
    prompt_file: str | None = None
    config: str | None = None
    max_latency_ms: str | None = None
    samples: str | None = None
    timeout: str | None = None
    checks: str | None = None  # comma-separated
    baseline_model: str | None = None
    concurrency: str | None = None
    approved_by: str | None = None
    include_model_output: bool = False
    profile: str | None = None  # the agent profile: a built-in's name or a profile file's path
    reapprove: bool = False  # with no models: every approved model and the model in use are the candidates
