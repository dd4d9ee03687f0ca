"""The documented exit codes (README, design): every front end returns one of these."""

APPROVED = 0
NOT_APPROVED = 1
CONFIG_ERROR = 2
NO_VERDICT = 3
INTERRUPTED = 130  # stopped with Ctrl-C (the shell's 128 + SIGINT): no verdict
