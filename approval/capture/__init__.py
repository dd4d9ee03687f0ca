"""`approval capture`: a recording proxy between a coding agent and its gateway that writes the agent's request shape —
never its content, key or identifying values — as an agent profile. `shape` maps the requests seen to a profile (pure);
`proxy` is the proxy itself (I/O)."""
