"""The command line and the GitHub Action: each builds Settings from its own source and calls the one pipeline."""
