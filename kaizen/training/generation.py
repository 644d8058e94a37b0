"""Evaluation's generation: greedy answers through the serving engine, its decoding loop, dtype and adapter loader.

The gate must score what serving will answer. So an exam runs the base model in serving's dtype on serving's
device (``Settings.model_dtype``, ``Settings.device``), with the adapter installed by serving's loader
(``kaizen.llm.adapters.install_adapter``), decoded by a ``GenerationEngine`` with serving's stop strings: the
answers are serving's, token for token, for every PEFT method serving runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path

from peft import PeftModel

from kaizen.config import get_settings
from kaizen.llm.adapters import install_adapter
from kaizen.llm.device import resolve_device, resolve_dtype
from kaizen.llm.engine import GenerationEngine
from kaizen.llm.model import LoadedModel, load_model
from kaizen.llm.types import Completion
from kaizen.reasoning.text import STOP_AFTER_LINE
from kaizen.training.memory import check_memory

# Requests queued in the engine beyond its batch: enough to refill rows as they finish, few enough that a memory
# cap hit (checked between answers) stops the exam after these.
_AHEAD = 2
EXAM_ADAPTER = "exam"  # the adapter under exam, in the exam's own engine


def exam_runtime() -> str:
    """What decides an exam's answers besides the weights: the decoding path and the dtype serving runs in."""
    settings = get_settings()
    dtype = resolve_dtype(settings.model_dtype, resolve_device(settings.device))
    return f"engine:{str(dtype).removeprefix('torch.')}"


def exam_model(model_dir: Path) -> LoadedModel:
    """A fresh base model as serving runs it: serving's dtype, on serving's device."""
    settings = get_settings()
    return load_model(Path(model_dir), settings.model_dtype, device=settings.device)


def generate_answers(
    lm: LoadedModel,
    prompts: Sequence[str],
    *,
    adapter_dir: Path | None = None,
    max_new_tokens: int = 48,
    batch_size: int = 8,
) -> list[str]:
    """Greedy completions, one per prompt, in order, cut where serving stops."""
    done = complete_all(lm, prompts, adapter_dir=adapter_dir, max_new_tokens=max_new_tokens, batch_size=batch_size)
    return [c.text for c in done]


def complete_all(
    lm: LoadedModel,
    prompts: Sequence[str],
    *,
    adapter_dir: Path | None = None,
    max_new_tokens: int = 48,
    batch_size: int = 8,
) -> list[Completion]:
    """The engine's completions of ``prompts`` (continuously batched, ``batch_size`` rows at most), in order.

    With ``adapter_dir``, the adapter answers, installed for this exam as serving installs it and removed after,
    so ``lm`` is the base model again. A model already wrapped by peft is refused: its adapter would not be the
    one serving loads from the registry (save it and pass its directory).
    """
    if isinstance(lm.model, PeftModel):
        raise ValueError("the exam installs adapters as serving does: pass the saved adapter's directory")
    engine = GenerationEngine(
        lm, max_batch_size=batch_size, batch_window_ms=0.0, kv_cache_mb=get_settings().kv_cache_mb
    )
    adapter = EXAM_ADAPTER if adapter_dir is not None else None
    # Shortest first: rows prefilled together pad little, and rows of a batch end close together.
    order = iter(sorted(range(len(prompts)), key=lambda i: len(prompts[i])))
    running: dict[Future[Completion], int] = {}
    done: dict[int, Completion] = {}
    with engine:
        if adapter_dir is not None:
            install_adapter(engine, EXAM_ADAPTER, Path(adapter_dir))

        def submit(index: int) -> None:
            future = engine.submit(prompts[index], max_new_tokens=max_new_tokens, stop=STOP_AFTER_LINE, adapter=adapter)
            running[future] = index

        try:
            for _ in range(batch_size * _AHEAD):
                if (index := next(order, None)) is not None:
                    submit(index)
            while running:
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                check_memory()
                for future in finished:
                    done[running.pop(future)] = future.result()
                    if (index := next(order, None)) is not None:
                        submit(index)
        finally:
            for future in running:
                future.cancel()  # those not started yet; the engine finishes the others before it closes
        if adapter_dir is not None:
            engine.run_in_worker(lambda: _uninstall(engine)).result()
    return [done[i] for i in range(len(prompts))]


def _uninstall(engine: GenerationEngine) -> None:
    engine.lm.model = engine.served.delete(engine.lm.model, EXAM_ADAPTER)
