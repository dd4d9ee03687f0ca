"""Reliability and security: fault matrix, bad inputs, properties, concurrency."""
