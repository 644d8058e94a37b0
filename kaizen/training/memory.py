"""A retrain's resident-memory cap: sampled while it runs, checked at every training step and generation batch,
so a retrain that would grow past the cap fails with a reason instead of being OOM-killed with others."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import sys
import threading
from collections.abc import Iterator
from types import TracebackType

import psutil

MB = 1024 * 1024


class MemoryCapExceeded(RuntimeError):
    pass


class MemoryGuard:
    """Samples this process's RSS every ``interval`` seconds; ``check()`` raises once it passed ``cap_mb``.

    ``cap_mb`` 0 only measures. ``peaks`` holds the highest RSS (MB) seen in each named stage.
    """

    def __init__(self, cap_mb: int, *, interval: float = 0.2, setting: str = "KAIZEN_RETRAIN_MEMORY_MB") -> None:
        self.cap_mb = cap_mb
        self.interval = interval
        self.setting = setting
        self.peaks: dict[str, float] = {}
        self._stage = "start"
        self._over: tuple[str, float] | None = None
        self._process = psutil.Process()
        # What the retrain adds: an in-process caller (the demo) already holds its own models and platform. Measured
        # after handing freed heap back, or the first stage's trim could hide that much growth under the cap.
        release_freed_memory()
        self._start_mb = self._process.memory_info().rss / MB
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_loop, name="memory-guard", daemon=True)

    def __enter__(self) -> MemoryGuard:
        global _active
        _active = self
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        global _active
        _active = None
        self._stop.set()
        self._thread.join(timeout=2)
        self.sample()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        previous, self._stage = self._stage, name
        try:
            yield
            self.sample()
            self.check()
        finally:
            self._stage = previous
            release_freed_memory()  # each stage loads its own model copy: give the last one back

    def sample(self) -> float:
        rss = self._process.memory_info().rss / MB
        stage = self._stage
        self.peaks[stage] = max(self.peaks.get(stage, 0.0), round(rss, 1))
        if self.cap_mb and rss - self._start_mb > self.cap_mb and self._over is None:
            self._over = (stage, rss)
        return rss

    def _sample_loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def check(self) -> None:
        if self._over is not None:
            stage, rss = self._over
            raise MemoryCapExceeded(
                f"resident memory reached {rss:.0f} MB during {stage}, {rss - self._start_mb:.0f} MB more than at the "
                f"start: over the retrain cap of {self.cap_mb} MB "
                f"({self.setting}); peaks so far: {self.peaks}"
            )


def release_freed_memory() -> None:
    """Collect, then hand freed heap pages back to the OS (glibc keeps them otherwise, and RSS only grows)."""
    gc.collect()
    if sys.platform.startswith("linux") and (libc := ctypes.util.find_library("c")):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(libc).malloc_trim(0)


# Process-wide, as RSS is: one retrain runs per flow-run process, and the training loop and generation check it
# without every layer in between passing a guard along.
_active: MemoryGuard | None = None


def check_memory() -> None:
    """Raise ``MemoryCapExceeded`` if the running retrain's guard saw RSS over its cap; no guard: nothing."""
    if _active is not None:
        _active.check()
