"""The documented exit codes (docs/cli.md, design): every front end returns one of these."""

APPROVED = 0
NOT_APPROVED = 1
CONFIG_ERROR = 2
NO_VERDICT = 3
