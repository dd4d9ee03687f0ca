"""Unit tests: fast, no network beyond 127.0.0.1."""
