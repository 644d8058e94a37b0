"""The serving service: ``python -m services.serving``."""
