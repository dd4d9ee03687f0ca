"""The built-in agent profiles, one YAML file each (validated by approval/schemas/profile.schema.json)."""
