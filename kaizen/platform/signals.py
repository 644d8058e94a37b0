"""SIGTERM and SIGHUP behave like Ctrl-C, so one cleanup path stops every child."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def termination_interrupts() -> Iterator[None]:
    """Inside, SIGINT, SIGTERM and SIGHUP raise ``KeyboardInterrupt`` (main thread only).

    SIGINT is set explicitly: a shell that starts a job in the background makes it ignore SIGINT, and
    Python then never installs its Ctrl-C handler.
    """
    handlers = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: _interrupt, signal.SIGHUP: _interrupt}
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
