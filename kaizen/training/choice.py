"""``training_method=auto``: the PEFT method that measured best for the nearest model size and dataset size.

The table (kaizen/data/method_choice.json) is written by ``bench/training.py``: each row is one benchmark run of
every method on the demo domain at one (model, n_train). Nearness is on a log scale in both axes (a 270M model is
as far from 1B as 20 examples are from ~75). Without a row, or when no method beat the base model in the nearest
row, the choice is LoRA, the default every other path uses. Rows of a model more than ``MODEL_RANGE`` times larger or
smaller do not count: what a 270M model measured says little about a 7B one.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from pydantic import BaseModel, Field

from kaizen.training.config import Method

log = logging.getLogger(__name__)

TABLE = Path(__file__).resolve().parent.parent / "data" / "method_choice.json"
FALLBACK = Method.lora
MODEL_RANGE = 4.0


class MeasuredRow(BaseModel):
    """One benchmark run of every method at one model size and training-set size."""

    model: str
    model_params: int = Field(ge=1)
    n_train: int = Field(ge=1)
    metric: str = Field(description="The held-out metric the gains are in (the gate's).")
    gains: dict[Method, float] = Field(description="Held-out gain over the base model, per method.")
    train_seconds: dict[Method, float] = Field(default_factory=dict, description="Breaks ties: the cheaper wins.")
    steps: int | None = None

    def best(self) -> Method | None:
        """The method with the largest gain (ties: fewer training seconds); None when none beat the base."""
        if not self.gains or max(self.gains.values()) <= 0:
            return None
        return max(self.gains, key=lambda m: (self.gains[m], -self.train_seconds.get(m, math.inf)))


class ChoiceTable(BaseModel):
    source: str = ""
    machine: str = ""
    rows: list[MeasuredRow] = Field(default_factory=list)

    def upsert(self, row: MeasuredRow) -> None:
        """A new measurement replaces the one for the same model and size."""
        self.rows = [r for r in self.rows if (r.model, r.n_train) != (row.model, row.n_train)] + [row]
        self.rows.sort(key=lambda r: (r.model_params, r.n_train))


class MethodChoice(BaseModel):
    method: Method
    reason: str
    row: MeasuredRow | None = None


def load_table(path: Path | None = None) -> ChoiceTable:
    path = path or TABLE
    if not path.exists():
        return ChoiceTable()
    return ChoiceTable.model_validate(json.loads(path.read_text()))


def _distance(row: MeasuredRow, model_params: int | None, n_train: int) -> float:
    d = abs(math.log(max(n_train, 1) / row.n_train))
    if model_params:
        d += abs(math.log(model_params / row.model_params))
    return d


def choose_method(n_train: int, model_params: int | None = None, table: ChoiceTable | None = None) -> MethodChoice:
    """The measured best method for the row nearest (``model_params``, ``n_train``); LoRA without evidence."""
    table = load_table() if table is None else table
    size = f"{model_params:,} params" if model_params else "model size unknown"
    rows = [
        r
        for r in table.rows
        if not model_params or abs(math.log(model_params / r.model_params)) <= math.log(MODEL_RANGE)
    ]
    if not rows:
        reason = f"auto ({size}): no measurement for a model of this size in the method table, {FALLBACK.value}"
        log.info(reason)
        return MethodChoice(method=FALLBACK, reason=reason)
    row = min(rows, key=lambda r: _distance(r, model_params, n_train))
    where = f"nearest measurement {row.model} ({row.model_params:,} params), n_train={row.n_train}"
    best = row.best()
    if best is None:
        reason = f"auto ({size}, n_train={n_train}): {where}: no method beat the base model, {FALLBACK.value}"
        choice = MethodChoice(method=FALLBACK, reason=reason, row=row)
    else:
        gain = f"{row.metric} gain {row.gains[best]:+.3f}"
        reason = f"auto ({size}, n_train={n_train}): {where}: {best.value} measured best ({gain})"
        choice = MethodChoice(method=best, reason=reason, row=row)
    log.info(choice.reason)
    return choice


def model_parameters(model_dir: Path) -> int | None:
    """Parameter count from the safetensors headers (no weights read); None when there are none."""
    from safetensors import safe_open

    files = sorted(Path(model_dir).glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for file in files:
        with safe_open(str(file), framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                total += math.prod(f.get_slice(key).get_shape())
    return total
