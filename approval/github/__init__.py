"""GitHub publishers: run context, inputs, workflow commands, PR comment, tracking issue, artifact upload."""
