"""Model approval gate: decide whether a candidate model on an OpenAI-compatible gateway may be approved."""

__version__ = "0.1.0"
