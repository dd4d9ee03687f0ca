"""Test support: a fault-injection gateway (``fault_gateway``) and a real LiteLLM proxy launcher (``peer_gateway``)."""
