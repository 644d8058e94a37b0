"""Kaizen's Prefect flows. Importing this package first points Prefect at Kaizen's offline settings."""

from __future__ import annotations

from flows.env import apply_prefect_env

apply_prefect_env()
