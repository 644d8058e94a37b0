"""``python -m services.indexer``: run the indexer worker."""

from __future__ import annotations

from kaizen.config import Settings
from services.indexer.app import build_app
from services.runner import run_worker


def main() -> None:
    run_worker(build_app(Settings()))


if __name__ == "__main__":
    main()
