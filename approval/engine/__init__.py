"""The approval suite: the gateway client, the probes, the checks, classification and routing evidence."""
