"""The generation engine: requests are queued and decoded in one dedicated worker thread, batched continuously.

Continuous batching: at every decode step the worker admits what has arrived (its prefill joins the running
batch) and finished rows leave at once, so a request never waits for a batch to end. Admission is bounded by
``max_batch_size`` rows and by the KV-cache memory the batch may reach (``kv_cache_mb``). ``batching="window"``
keeps the old behaviour (a batch forms per collection window and runs to its end) for comparison.

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
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal

import torch

from kaizen.config import Settings
from kaizen.llm.batch import Batch
from kaizen.llm.decoding import BASE_ADAPTER, Request, Row
from kaizen.llm.methods import ServedAdapters
from kaizen.llm.model import LoadedModel, encode_prompt, load_model
from kaizen.llm.types import Completion, GenerationError, OnDelta, Prompt

log = logging.getLogger(__name__)

BASE_ALIASES = frozenset({BASE_ADAPTER, "base"})


class _Wake:
    """Queued to wake an idle worker for pending model operations."""


class _Stop:
    """Queued to end the worker."""


class GenerationEngine:
    """Implements the ``LLM`` protocol over one loaded base model and the adapters loaded into it."""

    def __init__(
        self,
        lm: LoadedModel,
        *,
        max_batch_size: int = 8,
        batch_window_ms: float = 10.0,
        batching: Literal["continuous", "window"] = "continuous",
        kv_cache_mb: float = 1024.0,
    ) -> None:
        self.lm = lm
        self.max_batch_size = max_batch_size
        self.batch_window = batch_window_ms / 1000
        self.continuous = batching == "continuous"
        self.kv_cache_tokens = int(kv_cache_mb * 2**20 // lm.kv_bytes_per_token)
        self.default_adapter = BASE_ADAPTER  # what ``adapter=None`` means; the adapter manager moves it
        self.served = ServedAdapters()  # the installed adapters by method; changed only in the worker
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

        lm = load_model(
            model_dir or resolve_base_model(settings), settings.model_dtype, settings.torch_threads, settings.device
        )
        return cls(
            lm,
            max_batch_size=settings.max_batch_size,
            batch_window_ms=settings.batch_window_ms,
            batching=settings.batching,
            kv_cache_mb=settings.kv_cache_mb,
        )

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
        batch = Batch(self.lm, self.served)
        waiting: deque[Row] = deque()  # encoded, waiting for room in the batch
        stopping = False
        while True:
            if not batch and not waiting:
                if stopping:
                    self._between_steps()
                    return
                stopping = self._receive(waiting, block=True)
            elif self.continuous or not batch:
                stopping = self._receive(waiting, block=False) or stopping
            if self.continuous or not batch:
                self._admit(batch, waiting)
            if batch:
                self._step(batch)
            self._between_steps()

    def _receive(self, waiting: deque[Row], *, block: bool) -> bool:
        """Move queued requests into ``waiting``; an idle engine waits one window for more. True on _Stop."""
        deadline = None
        while True:
            try:
                if deadline is None and block:
                    item = self._queue.get()
                elif deadline is None:
                    item = self._queue.get_nowait()
                else:
                    item = self._queue.get(timeout=max(deadline - time.perf_counter(), 0))
            except queue.Empty:
                return False
            if isinstance(item, _Stop):
                return True
            if isinstance(item, Request):
                row = self._encode(item)
                if row is not None:
                    waiting.append(row)
                if block and deadline is None:
                    deadline = time.perf_counter() + self.batch_window
            elif block and deadline is None and not waiting:
                return False  # a _Wake for an idle engine: serve the pending operations

    def _admit(self, batch: Batch, waiting: deque[Row]) -> None:
        """Prefill the waiting rows that fit (rows and KV cache) and join them to ``batch``, in arrival order.

        Only rows of one weight group share a batch (kaizen/llm/methods: a freeze version replaces base weights).
        A new batch takes the oldest waiting row's group; a running one admits nobody while a row of another
        group waits, so that row waits one drain at most.
        """
        if not waiting:
            return
        group_of = self.served.group
        group = group_of((batch.rows[0] if batch else waiting[0]).request.adapter)
        if batch and any(group_of(row.request.adapter) != group for row in waiting):
            return
        newcomers: list[Row] = []
        for row in [r for r in waiting if group_of(r.request.adapter) == group]:
            if len(batch) + len(newcomers) >= self.max_batch_size:
                break
            if batch.reserved_tokens([*newcomers, row]) > self.kv_cache_tokens and (batch or newcomers):
                break  # waits for rows to leave
            newcomers.append(row)
        taken = {id(row) for row in newcomers}
        kept = [row for row in waiting if id(row) not in taken]
        waiting.clear()
        waiting.extend(kept)
        # A prefix must sit right before its prompt (sliding-window layers count distance in cache positions, and
        # a shared prefill pads short prompts between the two): a prefix row prefills alone, then merges.
        prefixed = [[r] for r in newcomers if self.served.prefix(r.request.adapter) is not None]
        rest = [r for r in newcomers if self.served.prefix(r.request.adapter) is None]
        for group in [*prefixed, *([rest] if rest else [])]:
            self._join(batch, group)

    def _join(self, batch: Batch, newcomers: list[Row]) -> None:
        try:
            batch.join(newcomers, self._resolve_row)
        except Exception as exc:
            if len(newcomers) == 1 and not batch:
                _fail(newcomers[0].request, GenerationError(f"generation failed: {exc}"))
                return
            # One bad row must not fail its batch-mates: the newcomers run alone, the batch goes on.
            log.warning("prefill of %d rows failed (%s); running them one by one", len(newcomers), exc)
            for row in newcomers:
                self._run_alone(row)

    def _step(self, batch: Batch) -> None:
        try:
            batch.step(self._resolve_row)
        except Exception as exc:
            rows = batch.clear()
            if len(rows) == 1:
                _fail(rows[0].request, GenerationError(f"generation failed: {exc}"))
                return
            log.warning("batch of %d failed (%s); retrying its rows one by one", len(rows), exc)
            for row in rows:
                self._run_alone(row)

    def _run_alone(self, failed: Row) -> None:
        """Generate ``failed``'s request from scratch in a batch of its own (text already streamed is not resent)."""
        row = Row(
            failed.request, failed.prompt_ids, failed.budget, failed.virtual, generator=self._generator(failed.request)
        )
        row.emitted = failed.emitted
        alone = Batch(self.lm, self.served)
        try:
            alone.join([row], self._resolve_row)
            while alone:
                alone.step(self._resolve_row)
                self._between_steps()
        except Exception as exc:
            _fail(row.request, GenerationError(f"generation failed: {exc}"))

    def _encode(self, request: Request) -> Row | None:
        if not request.future.set_running_or_notify_cancel():
            return None  # cancelled while queued
        try:
            prompt_ids = encode_prompt(self.lm.tokenizer, request.prompt)  # type: ignore[arg-type]
        except GenerationError as exc:
            _fail(request, exc)
            return None
        except Exception as exc:
            _fail(request, GenerationError(f"cannot encode the prompt: {exc}"))
            return None
        extra = self.served.leading(request.adapter)
        room = self.lm.context_length - len(prompt_ids) - extra
        if room < 1:
            _fail(
                request,
                GenerationError(
                    f"prompt has {len(prompt_ids)} tokens (+{extra} of its adapter); the model's context is "
                    f"{self.lm.context_length}"
                ),
            )
            return None
        row = Row(request, prompt_ids, min(request.max_new_tokens, room), extra, generator=self._generator(request))
        if row.reserved_tokens > self.kv_cache_tokens:
            mb = row.reserved_tokens * self.lm.kv_bytes_per_token / 2**20
            _fail(
                request,
                GenerationError(
                    f"prompt ({len(prompt_ids)} tokens) + max_new_tokens ({row.budget}) need {mb:.0f} MB of KV "
                    f"cache; the engine's limit is {self.kv_cache_tokens} tokens (kv_cache_mb)"
                ),
            )
            return None
        return row

    def _generator(self, request: Request) -> torch.Generator | None:
        if request.seed is None:
            return None
        return torch.Generator(device=self.lm.device).manual_seed(request.seed)

    def _resolve_row(self, row: Row, now: float) -> None:
        adapter = None if row.request.adapter == BASE_ADAPTER else row.request.adapter
        completion = Completion(
            text=row.text,
            tokens=row.generated,
            prompt_tokens=len(row.prompt_ids),
            finish_reason=row.finish_reason,
            timings=row.timings(now),
            adapter_version=adapter,
            batch_size=row.peak_batch,
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
