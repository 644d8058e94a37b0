"""``python -m services.serving``: run the serving worker."""

from __future__ import annotations

from kaizen.config import Settings
from services.runner import run_worker
from services.serving.app import build_app


def main() -> None:
    run_worker(build_app(Settings()))


if __name__ == "__main__":
    main()
