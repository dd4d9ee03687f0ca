"""Flags, environment and gateway.yaml in; one validated, immutable Settings out. Every configuration error is raised here."""
