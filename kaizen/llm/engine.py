"""The generation engine: requests are queued, batched dynamically and run in one dedicated worker thread.

The model never runs on the asyncio loop (Faust heartbeats share it). Anything that changes the model (loading or
deleting an adapter) also runs in the worker, between two decode steps, so it never races a forward pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import torch

from kaizen.config import Settings
from kaizen.llm.decoding import BASE_ADAPTER, Request, Row, run_batch
from kaizen.llm.model import LoadedModel, encode_prompt, load_model
from kaizen.llm.types import Completion, GenerationError, OnDelta, Prompt, Timings

log = logging.getLogger(__name__)

BASE_ALIASES = frozenset({BASE_ADAPTER, "base"})


class _Wake:
    """Queued to wake an idle worker for pending model operations."""


class _Stop:
    """Queued to end the worker."""


class GenerationEngine:
    """Implements the ``LLM`` protocol over one loaded base model and the adapters loaded into it."""

    def __init__(self, lm: LoadedModel, *, max_batch_size: int = 8, batch_window_ms: float = 10.0) -> None:
        self.lm = lm
        self.max_batch_size = max_batch_size
        self.batch_window = batch_window_ms / 1000
        self.default_adapter = BASE_ADAPTER  # what ``adapter=None`` means; the adapter manager moves it
        self._queue: queue.Queue[Request | _Wake | _Stop] = queue.Queue()
        self._ops: list[tuple[Callable[[], Any], Future[Any]]] = []
        self._lock = threading.Lock()
        self._adapters: set[str] = set()  # loaded and accepting requests
        self._refs: dict[str, int] = {}  # queued or running requests per adapter
        self._doomed: set[str] = set()  # to delete once no request uses them
        self._pending_deletes: dict[str, Callable[[Any, str], Any]] = {}
        self._worker: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Settings, model_dir: Path | None = None) -> GenerationEngine:
        from kaizen.llm.prepare import resolve_base_model

        lm = load_model(model_dir or resolve_base_model(settings), settings.model_dtype, settings.torch_threads)
        return cls(lm, max_batch_size=settings.max_batch_size, batch_window_ms=settings.batch_window_ms)

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> GenerationEngine:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="kaizen-llm-worker", daemon=True)
            self._worker.start()
        return self

    def close(self) -> None:
        if self._worker is not None and self._worker.is_alive():
            self._queue.put(_Stop())
            self._worker.join()
        self._worker = None

    def __enter__(self) -> GenerationEngine:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- requests -------------------------------------------------------------------------------
    async def generate(
        self,
        prompt: Prompt,
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        adapter: str | None = None,
        seed: int | None = None,
        on_delta: OnDelta | None = None,
    ) -> Completion:
        future = self.submit(
            prompt,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            stop=stop,
            adapter=adapter,
            seed=seed,
            on_delta=on_delta,
        )
        return await asyncio.wrap_future(future)

    def complete(self, prompt: Prompt, **kwargs: Any) -> Completion:
        """Blocking ``generate`` for scripts and threads (never call it on an event loop)."""
        return self.submit(prompt, **kwargs).result()

    def submit(
        self,
        prompt: Prompt,
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        adapter: str | None = None,
        seed: int | None = None,
        on_delta: OnDelta | None = None,
    ) -> Future[Completion]:
        if self._worker is None:
            raise RuntimeError("the engine is not started: call start() or use it as a context manager")
        if max_new_tokens < 1:
            raise GenerationError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        if temperature < 0:
            raise GenerationError(f"temperature must be >= 0, got {temperature}")
        if isinstance(prompt, str) and not prompt.strip():
            raise GenerationError("empty prompt")
        future: Future[Completion] = Future()
        with self._lock:
            name = self._resolve(adapter)
            self._refs[name] = self._refs.get(name, 0) + 1
        request = Request(prompt, max_new_tokens, temperature, list(stop or []), name, seed, future, on_delta)
        future.add_done_callback(lambda _f: self._release(name))
        self._queue.put(request)
        return future

    def _resolve(self, adapter: str | None) -> str:
        name = self.default_adapter if adapter is None else adapter
        if name in BASE_ALIASES:
            return BASE_ADAPTER
        if name not in self._adapters:
            known = ", ".join(sorted(self._adapters)) or "none"
            raise GenerationError(f"unknown adapter {name!r} (loaded: {known})")
        return name

    def _release(self, name: str) -> None:
        with self._lock:
            self._refs[name] -= 1
            if self._refs[name] == 0:
                del self._refs[name]
        if name in self._doomed:
            self._queue.put(_Wake())

    # --- adapters (called by the adapter manager) -----------------------------------------------
    @property
    def adapters(self) -> list[str]:
        with self._lock:
            return sorted(self._adapters)

    def in_use(self, name: str) -> int:
        with self._lock:
            return self._refs.get(name, 0)

    def add_adapter(self, name: str, install: Callable[[Any], Any]) -> None:
        """Run ``install(model) -> model`` in the worker, then accept requests for ``name``. Blocks until done."""
        if name in BASE_ALIASES:
            raise GenerationError(f"{name!r} is reserved for the base model")
        with self._lock:
            if name in self._doomed:  # unloaded but not deleted yet (requests still used it): keep it after all
                self._doomed.discard(name)
                self._pending_deletes.pop(name, None)
                self._adapters.add(name)
                return

        def run() -> None:
            self.lm.model = install(self.lm.model)
            self.lm.model.eval()

        self.run_in_worker(run).result()
        with self._lock:
            self._doomed.discard(name)
            self._adapters.add(name)

    def remove_adapter(self, name: str, delete: Callable[[Any, str], Any]) -> None:
        """Stop accepting requests for ``name``; ``delete(model, name)`` runs once no request uses it."""
        with self._lock:
            self._adapters.discard(name)
            self._doomed.add(name)
            self._pending_deletes[name] = delete
        self._queue.put(_Wake())

    def run_in_worker(self, operation: Callable[[], Any]) -> Future[Any]:
        """Run ``operation`` in the worker between two decode steps (or at once when idle)."""
        if self._worker is None:
            raise RuntimeError("the engine is not started")
        future: Future[Any] = Future()
        with self._lock:
            self._ops.append((operation, future))
        self._queue.put(_Wake())
        return future

    # --- the worker -----------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, _Stop):
                self._between_steps()
                return
            if isinstance(item, _Wake):
                self._between_steps()
                continue
            batch, stop = self._collect(item)
            self._run(batch)
            self._between_steps()
            if stop:
                return

    def _collect(self, first: Request) -> tuple[list[Request], bool]:
        batch = [first]
        deadline = time.perf_counter() + self.batch_window
        while len(batch) < self.max_batch_size:
            try:
                item = self._queue.get(timeout=max(deadline - time.perf_counter(), 0))
            except queue.Empty:
                break
            if isinstance(item, _Stop):
                return batch, True
            if isinstance(item, Request):
                batch.append(item)
            # a _Wake is served after this batch (ops also run between its steps)
        return batch, False

    def _run(self, batch: list[Request]) -> None:
        started = time.perf_counter()
        rows = [row for row in (self._admit(request, started) for request in batch) if row is not None]
        if not rows:
            return
        size = len(rows)

        def done(row: Row, timings: Timings) -> None:
            self._resolve_row(row, timings, size)

        try:
            run_batch(self.lm, rows, self._between_steps, done)
        except Exception as exc:
            if len(rows) == 1:
                _fail(rows[0].request, GenerationError(f"generation failed: {exc}"))
                return
            # One bad row must not fail its batch-mates: retry the unfinished ones alone.
            log.warning("batch of %d failed (%s); retrying its rows one by one", len(rows), exc)
            for row in rows:
                if not row.done:
                    self._run_alone(row.request)

    def _run_alone(self, request: Request) -> None:
        row = self._admit(request, time.perf_counter(), already_running=True)
        if row is None:
            return
        try:
            run_batch(self.lm, [row], self._between_steps, lambda r, t: self._resolve_row(r, t, 1))
        except Exception as exc:
            _fail(request, GenerationError(f"generation failed: {exc}"))

    def _admit(self, request: Request, started: float, already_running: bool = False) -> Row | None:
        if not already_running and not request.future.set_running_or_notify_cancel():
            return None  # cancelled while queued
        try:
            prompt_ids = encode_prompt(self.lm.tokenizer, request.prompt)  # type: ignore[arg-type]
        except GenerationError as exc:
            _fail(request, exc)
            return None
        except Exception as exc:
            _fail(request, GenerationError(f"cannot encode the prompt: {exc}"))
            return None
        room = self.lm.context_length - len(prompt_ids)
        if room < 1:
            _fail(
                request,
                GenerationError(
                    f"prompt has {len(prompt_ids)} tokens; the model's context is {self.lm.context_length}"
                ),
            )
            return None
        generator = torch.Generator().manual_seed(request.seed) if request.seed is not None else None
        return Row(request, prompt_ids, min(request.max_new_tokens, room), started, generator)

    def _resolve_row(self, row: Row, timings: Timings, batch_size: int) -> None:
        adapter = None if row.request.adapter == BASE_ADAPTER else row.request.adapter
        completion = Completion(
            text=row.text,
            tokens=row.generated,
            prompt_tokens=len(row.prompt_ids),
            finish_reason=row.finish_reason,
            timings=timings,
            adapter_version=adapter,
            batch_size=batch_size,
        )
        with contextlib.suppress(Exception):  # the caller may have gone away
            row.request.future.set_result(completion)

    def _between_steps(self) -> None:
        with self._lock:
            ops, self._ops = self._ops, []
            deletable = [name for name in self._doomed if self._refs.get(name, 0) == 0]
        for operation, future in ops:
            try:
                future.set_result(operation())
            except Exception as exc:
                future.set_exception(exc)
        for name in deletable:
            delete = self._pending_deletes.pop(name, None)
            with self._lock:
                if name not in self._doomed or self._refs.get(name, 0):
                    continue  # re-added or used again meanwhile
                self._doomed.discard(name)
            if delete is not None:
                try:
                    self.lm.model = delete(self.lm.model, name) or self.lm.model
                except Exception:
                    log.exception("could not delete adapter %s", name)


def _fail(request: Request, error: Exception) -> None:
    with contextlib.suppress(Exception):
        request.future.set_exception(error)
