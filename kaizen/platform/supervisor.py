"""``Platform``: start the broker, the services and Prefect as supervised children; stop them all, always."""

from __future__ import annotations

import atexit
import functools
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType

from kaizen.config import Settings
from kaizen.platform import parts as p
from kaizen.platform.process import ManagedProcess, PartSpec, port_in_use, read_tail
from kaizen.platform.restarts import RestartPolicy, Restarts
from kaizen.platform.state import PartState, PartStatus, PlatformError
from kaizen.streaming.broker import EmbeddedBroker, free_port

log = logging.getLogger(__name__)


@contextmanager
def _signals_ignored() -> Iterator[None]:
    """A second Ctrl-C while stopping must not abandon children half-stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Platform:
    """Supervises the platform's parts. ``specs`` replaces the default parts (tests run small fake parts)."""

    def __init__(
        self,
        settings: Settings,
        *,
        parts: Sequence[str] | None = None,
        specs: Sequence[PartSpec] | None = None,
        grace_seconds: float = 10.0,
        poll_seconds: float = 0.25,
        on_change: Callable[[PartStatus], None] | None = None,
    ) -> None:
        self.settings = settings
        self.parts = list(parts) if parts is not None else None
        self._custom_specs = list(specs) if specs is not None else None
        self.grace_seconds = grace_seconds
        self.poll_seconds = poll_seconds
        self._on_change = on_change or (lambda status: None)
        self._broker: EmbeddedBroker | None = None
        self._procs: dict[str, ManagedProcess] = {}
        self._specs: list[PartSpec] = []
        self._selected: list[str] = []
        self._prefect_port: int | None = None
        self.child_settings: Settings = settings
        self._started = False
        self._restarts = Restarts(RestartPolicy(max_restarts=settings.platform_restarts))
        self._due: dict[str, float] = {}  # part -> when its restart is due

    # --- addresses -----------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return self.child_settings.kafka_bootstrap

    @property
    def gateway_url(self) -> str | None:
        return self._address_of(p.GATEWAY)

    @property
    def prefect_dashboard_url(self) -> str | None:
        if self._prefect_port is not None:
            return f"http://{p.LOOPBACK}:{self._prefect_port}"
        api = self.child_settings.prefect_api_url
        return api.removesuffix("/").removesuffix("/api") or None

    def _address_of(self, name: str) -> str | None:
        proc = self._procs.get(name)
        return proc.spec.address if proc else None

    def process(self, name: str) -> ManagedProcess | None:
        """The running child of part ``name`` (None for the broker and parts not started)."""
        return self._procs.get(name)

    # --- start -----------------------------------------------------------------------------------
    def known_parts(self) -> list[str]:
        if self._custom_specs is None:
            return list(p.ALL_PARTS)
        return [p.BROKER, *(s.name for s in self._custom_specs)]

    def _select(self, parts: Sequence[str] | None) -> list[str]:
        if parts is None:
            default = self.known_parts()
            return default if self._custom_specs is None else default[1:]
        unknown = [name for name in parts if name not in self.known_parts()]
        if unknown:
            raise PlatformError(f"unknown part(s): {', '.join(unknown)}; known: {', '.join(self.known_parts())}")
        return [name for name in self.known_parts() if name in parts]

    def start(self, parts: Sequence[str] | None = None) -> Platform:
        if self._started:
            raise PlatformError("the platform is already started")
        self._selected = self._select(parts if parts is not None else self.parts)
        self._started = True
        atexit.register(self.stop)
        try:
            self._start_broker()
            self._configure()
            self._launch_all()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_broker(self) -> None:
        settings = self.settings
        if p.BROKER not in self._selected or not settings.embedded_broker:
            return
        log = p.logs_dir(settings) / "broker.log"
        self._broker = EmbeddedBroker(settings, log_path=log)
        try:
            self._broker.start(timeout=settings.platform_start_timeout)
        except Exception as exc:
            raise PlatformError(
                f"broker failed to start: {exc}", part=p.BROKER, log_path=log, log_tail=read_tail(log)
            ) from exc
        self._on_change(self._broker_status())

    def _configure(self) -> None:
        """Fix the addresses every child is told about, then build the specs."""
        settings = self.settings
        overrides: dict[str, object] = {}
        if self._broker is not None:
            overrides |= {"kafka_bootstrap": self._broker.bootstrap, "broker_kind": "tansu"}
        if p.PREFECT in self._selected and not settings.prefect_api_url:
            self._prefect_port = self._claim_port("prefect", settings.prefect_port, "KAIZEN_PREFECT_PORT")
            overrides["prefect_api_url"] = p.prefect_api_url(self._prefect_port)
        if p.GATEWAY in self._selected and self._custom_specs is None:
            host = p._probe_host(settings.gateway_host)
            overrides["gateway_port"] = self._claim_port("gateway", settings.gateway_port, "KAIZEN_GATEWAY_PORT", host)
        self.child_settings = settings.with_overrides(**overrides)
        if self._custom_specs is not None:
            specs = self._custom_specs
        else:
            needs_broker = set(self._selected) & {*p.SERVICES, p.GATEWAY}
            if needs_broker and not self.child_settings.kafka_bootstrap:
                raise PlatformError(
                    f"{', '.join(sorted(needs_broker))} need a broker: include the broker part or set "
                    "KAIZEN_KAFKA_BOOTSTRAP"
                )
            specs = p.default_parts(self.child_settings, prefect_port=self._prefect_port)
        self._specs = [s for s in specs if s.name in self._selected]

    @staticmethod
    def _claim_port(what: str, port: int, setting: str, host: str = p.LOOPBACK) -> int:
        if not port:
            return free_port()
        # Something else answering on the port would pass our health check: refuse instead.
        if port_in_use(host, port):
            raise PlatformError(f"port {port} for the {what} is already in use: stop what uses it or set {setting}")
        return port

    def _launch_all(self) -> None:
        logs = p.logs_dir(self.settings)
        pending = list(self._specs)
        names = {s.name for s in self._specs}
        while True:
            for spec in list(pending):
                deps = [self._procs.get(d) for d in spec.after if d in names]
                if all(dep is not None and dep.healthy_at is not None for dep in deps):
                    pending.remove(spec)
                    proc = ManagedProcess(spec, logs / f"{spec.name}.log")
                    self._procs[spec.name] = proc
                    proc.start()
                    self._on_change(self._status(proc))
            starting = [proc for proc in self._procs.values() if proc.healthy_at is None]
            for proc in starting:
                self._check_starting(proc)
            if not pending and all(proc.healthy_at is not None for proc in self._procs.values()):
                return
            time.sleep(self.poll_seconds)

    def _check_starting(self, proc: ManagedProcess) -> None:
        if proc.check_health():
            self._on_change(self._status(proc))
            return
        if not proc.alive():
            raise self._failure(proc, f"exited with code {proc.returncode} before it was healthy")
        assert proc.started_at is not None
        if time.monotonic() - proc.started_at > proc.spec.start_timeout:
            raise self._failure(
                proc, f"was not healthy within {proc.spec.start_timeout:.0f} s (GET {proc.spec.health_url})"
            )

    def _failure(self, proc: ManagedProcess, reason: str) -> PlatformError:
        return PlatformError(
            f"{proc.spec.name} {reason}; stopping the platform",
            part=proc.spec.name,
            log_path=proc.log_path,
            log_tail=proc.tail(),
        )

    # --- running ---------------------------------------------------------------------------------
    def check(self) -> None:
        """Restart a part that stopped on its own, with backoff; raise ``PlatformError`` once one keeps crashing."""
        now = time.monotonic()
        if self._broker is not None and not self._broker.is_running():
            self._recover_broker(now)
        for name, proc in list(self._procs.items()):
            if proc.alive():
                if proc.healthy_at is None:
                    self._check_starting(proc)
                continue
            if name not in self._due:
                self._schedule_restart(name, now, proc.returncode, failure=functools.partial(self._failure, proc))
            elif now >= self._due[name]:
                del self._due[name]
                proc.close()
                again = ManagedProcess(proc.spec, proc.log_path)
                self._procs[name] = again
                again.start()
                self._on_change(self._status(again))

    def _schedule_restart(
        self, name: str, now: float, returncode: int | None, *, failure: Callable[[str], PlatformError]
    ) -> None:
        delay = self._restarts.crashed(name, now)
        crashes = self._restarts.count(name)
        if delay is None:
            window = self._restarts.policy.window_seconds
            tail = f" ({crashes} crashes within {window:.0f} s: not restarted again)" if crashes > 1 else ""
            raise failure(f"exited with code {returncode}{tail}")
        self._due[name] = now + delay
        log.warning("%s exited with code %s; restarting in %.0f s", name, returncode, delay)
        self._on_change(
            PartStatus(
                name=name,
                state=PartState.restarting,
                detail=f"exited with code {returncode}; restart {crashes} of {self._restarts.policy.max_restarts} "
                f"in {delay:.0f} s",
            )
        )

    def _recover_broker(self, now: float) -> None:
        assert self._broker is not None
        log_path = p.logs_dir(self.settings) / "broker.log"
        if p.BROKER not in self._due:
            code = self._broker.returncode

            def failure(why: str) -> PlatformError:
                tail = read_tail(log_path)
                return PlatformError(f"the broker {why}", part=p.BROKER, log_path=log_path, log_tail=tail)

            self._schedule_restart(p.BROKER, now, code, failure=failure)
        elif now >= self._due[p.BROKER]:
            del self._due[p.BROKER]
            self._broker.stop(timeout=self.grace_seconds)
            # Same port, same storage: the services' clients reconnect and find every topic and offset.
            self._broker.start(timeout=self.settings.platform_start_timeout, create_topics=False)
            self._on_change(self._broker_status())

    def wait(self, poll_seconds: float = 1.0) -> None:
        """Block until a part stops on its own (``PlatformError``) or the caller is interrupted."""
        while True:
            self.check()
            time.sleep(poll_seconds)

    # --- status ----------------------------------------------------------------------------------
    def _broker_status(self) -> PartStatus:
        if self._broker is None:
            return PartStatus(name=p.BROKER, state=PartState.external, address=self.child_settings.kafka_bootstrap)
        store = self._broker.store
        running = self._broker.is_running() and (store is None or store.is_running())
        storage = f"durable in {self.settings.broker_dir}" if store else "in memory: lost when it stops"
        return PartStatus(
            name=p.BROKER,
            state=PartState.healthy if running else PartState.stopped,
            address=self._broker.bootstrap,
            pid=self._broker.pid,
            detail=storage,
            log_path=self._broker.log_path,
        )

    def _status(self, proc: ManagedProcess) -> PartStatus:
        if proc.alive():
            state = PartState.healthy if proc.healthy_at is not None else PartState.starting
            detail = ""
        else:
            state = PartState.exited if proc.started_at is not None else PartState.waiting
            detail = f"exit code {proc.returncode}" if proc.returncode is not None else ""
        return PartStatus(
            name=proc.spec.name,
            state=state,
            address=proc.spec.address,
            pid=proc.pid,
            detail=detail,
            log_path=proc.log_path,
        )

    def statuses(self) -> list[PartStatus]:
        rows = []
        if p.BROKER in self._selected and (self._broker is not None or self.child_settings.kafka_bootstrap):
            rows.append(self._broker_status())
        for spec in self._specs:
            proc = self._procs.get(spec.name)
            if proc is None:
                rows.append(PartStatus(name=spec.name, state=PartState.waiting, address=spec.address))
            else:
                rows.append(self._status(proc))
        if p.PREFECT in self._selected and self._prefect_port is None and self.child_settings.prefect_api_url:
            rows.append(
                PartStatus(name=p.PREFECT, state=PartState.external, address=self.child_settings.prefect_api_url)
            )
        return rows

    # --- stop ------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop every child (SIGTERM to its process group, SIGKILL after the grace period), then the broker.

        A part stops before the parts it started ``after``: the flow runner still needs the Prefect API to pause
        its deployments while it shuts down.
        """
        if not self._started:
            return
        self._started = False
        atexit.unregister(self.stop)
        with _signals_ignored():
            remaining = list(reversed(self._procs.values()))
            while remaining:
                wave = [
                    proc
                    for proc in remaining
                    if not any(proc.spec.name in other.spec.after for other in remaining if other is not proc)
                ] or remaining
                self._stop_wave(wave)
                remaining = [proc for proc in remaining if proc not in wave]
            if self._broker is not None:
                self._broker.stop(timeout=self.grace_seconds)
                self._on_change(self._broker_status())

    def _stop_wave(self, procs: list[ManagedProcess]) -> None:
        for proc in procs:
            proc.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        for proc in procs:
            if not proc.wait_group(deadline):
                proc.signal_group(signal.SIGKILL)
                proc.wait_group(time.monotonic() + 5.0)
            proc.close()
            stopped = self._status(proc).model_copy(update={"state": PartState.stopped})
            if proc.returncode in (0, -signal.SIGTERM):
                stopped.detail = ""  # the expected way to end; anything else stays visible
            self._on_change(stopped)

    def __enter__(self) -> Platform:
        if not self._started:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
