"""Start a service's Faust worker the same way everywhere (``python -m services.<name>``)."""

from __future__ import annotations

import logging
import sys

from services.app import KaizenApp


def run_worker(app: KaizenApp, loglevel: str = "info") -> None:
    # Faust's own CLI parses argv; give it exactly the worker command so service flags cannot leak into it.
    logging.basicConfig(level=loglevel.upper())
    sys.argv = [sys.argv[0], "worker", "--loglevel", loglevel]
    app.main()
