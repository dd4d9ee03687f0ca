"""Test support: a fault-injection gateway (``fault_gateway``) and launchers of real gateways, LiteLLM and Portkey (``peer_gateway``)."""
