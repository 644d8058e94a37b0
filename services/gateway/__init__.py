"""The HTTP gateway: ``python -m services.gateway``."""
