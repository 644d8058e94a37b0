"""``python -m services.gateway``: serve the gateway with uvicorn on settings.gateway_host:gateway_port."""

from __future__ import annotations

import uvicorn

from kaizen.config import Settings
from kaizen.gateway.app import create_app


def main() -> None:
    settings = Settings()
    if not settings.kafka_bootstrap:
        raise SystemExit("the gateway needs a broker: set KAIZEN_KAFKA_BOOTSTRAP (kaizen up does it for you)")
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_level="info",
        # The gateway is the edge: it reads X-Forwarded-* only from a proxy on this host.
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )


if __name__ == "__main__":
    main()
