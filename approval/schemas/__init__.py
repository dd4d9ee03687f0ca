"""Shipped JSON Schemas: config.schema.json (gateway.yaml) and record.schema.json (approval record)."""
