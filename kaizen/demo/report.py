"""The demo's report: what each cycle measured, as JSON, a rich table and a PNG chart."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field, computed_field
from rich.table import Table

from kaizen.events import now


class Score(BaseModel):
    correct: int = 0
    total: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def add(self, correct: bool) -> None:
        self.correct += int(correct)
        self.total += 1


class AnswerRecord(BaseModel):
    """One held-out answer, kept so every accuracy in the report can be recomputed from what serving said."""

    question_id: str
    mode: str
    expected: str
    answer: str
    correct: bool
    adapter_version: str | None = None
    response_id: str


class CycleReport(BaseModel):
    """Cycle 0 is the base model before any training."""

    cycle: int
    adapter_version: str | None = None
    closed_book: Score = Field(default_factory=Score, description="Held-out, mode=direct.")
    open_book: Score = Field(default_factory=Score, description="Held-out, mode=rag.")
    stream_by_mode: dict[str, Score] = Field(default_factory=dict, description="Simulated users' questions.")
    feedback_sent: int = 0
    instruction_examples: int = 0
    raft_examples: int = 0
    dataset_version: str | None = None
    pii_removed: int = 0
    answers_remembered: int = Field(0, description="Verified answers in the tenant's answers knowledge base.")
    promoted: bool = False
    gate_reason: str = ""
    heldout_adapter_versions: list[str | None] = Field(
        default_factory=list, description="Adapter versions named by the held-out responses of this cycle."
    )
    heldout_answers: list[AnswerRecord] = Field(default_factory=list)
    stage_seconds: dict[str, float] = Field(default_factory=dict)


HELDOUT_MEASURES = (
    "The held-out questions are never streamed or trained on. Rephrased: other wordings of facts the stream "
    "taught (can training generalise beyond the phrasings it saw?). Never streamed: facts no user asked about "
    "(only retrieval from the knowledge base can answer them, closed-book training cannot)."
)


class DemoReport(BaseModel):
    started_at: datetime = Field(default_factory=now)
    options: dict[str, int | bool | str] = Field(default_factory=dict)
    domain: str = ""
    heldout_measures: str = HELDOUT_MEASURES
    heldout_rephrased: list[str] = Field(
        default_factory=list, description="Held-out question ids that rephrase a fact the stream asks about."
    )
    heldout_unstreamed: list[str] = Field(
        default_factory=list, description="Held-out question ids about facts the stream never asks about."
    )
    documents: int = 0
    chunks_indexed: int = 0
    questions_stream: int = 0
    questions_heldout: int = 0
    cycles: list[CycleReport] = Field(default_factory=list)
    total_seconds: float = 0.0
    prefect_dashboard: str = ""

    def heldout_score(self, cycle: CycleReport, mode: str, part: str) -> Score:
        """Accuracy of one cycle's held-out answers in ``mode`` on one part (rephrased or unstreamed)."""
        ids = set(self.heldout_rephrased if part == "rephrased" else self.heldout_unstreamed)
        score = Score()
        for answer in cycle.heldout_answers:
            if answer.mode == mode and answer.question_id in ids:
                score.add(answer.correct)
        return score

    @property
    def base(self) -> CycleReport:
        return self.cycles[0]

    @property
    def last(self) -> CycleReport:
        return self.cycles[-1]

    def flywheel_improved(self) -> bool:
        """Held-out accuracy after the last cycle above the base model, closed-book and open-book."""
        return (
            len(self.cycles) > 1
            and self.last.closed_book.accuracy > self.base.closed_book.accuracy
            and self.last.open_book.accuracy > self.base.open_book.accuracy
        )

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        json_path = directory / "demo-report.json"
        json_path.write_text(self.model_dump_json(indent=2))
        png_path = directory / "demo-accuracy.png"
        plot_accuracy(self, png_path)
        return json_path, png_path


def plot_accuracy(report: DemoReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    cycles = [c.cycle for c in report.cycles]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    ax.plot(cycles, [c.closed_book.accuracy for c in report.cycles], marker="o", label="closed-book (direct)")
    ax.plot(cycles, [c.open_book.accuracy for c in report.cycles], marker="s", label="open-book (rag)")
    ax.set_xticks(cycles, ["base" if c == 0 else f"cycle {c}" for c in cycles])
    ax.set_ylim(0, 1)
    ax.set_ylabel("held-out accuracy")
    ax.set_title("Kaizen flywheel: held-out accuracy per cycle")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _pct(score: Score) -> str:
    return f"{score.accuracy:.0%} ({score.correct}/{score.total})" if score.total else "-"


def _label(cycle: CycleReport) -> str:
    return "base" if cycle.cycle == 0 else str(cycle.cycle)


def _stream(cycle: CycleReport) -> Score:
    return Score(
        correct=sum(s.correct for s in cycle.stream_by_mode.values()),
        total=sum(s.total for s in cycle.stream_by_mode.values()),
    )


def summary_table(report: DemoReport) -> Table:
    """Accuracy per cycle: the held-out test in both forms, what users got, and the gate's verdict."""
    table = Table(title="Kaizen demo: the flywheel, cycle by cycle")
    for column in ("cycle", "adapter", "closed-book", "open-book", "users got", "gate"):
        table.add_column(column)
    for cycle in report.cycles:
        table.add_row(
            _label(cycle),
            cycle.adapter_version or "base",
            _pct(cycle.closed_book),
            _pct(cycle.open_book),
            _pct(_stream(cycle)),
            ("promoted" if cycle.promoted else "refused") if cycle.cycle else "-",
        )
    return table


def heldout_table(report: DemoReport) -> Table:
    """The held-out accuracy split by what it measures: rephrasings of taught facts, facts never streamed."""
    table = Table(
        title=f"Held-out: {len(report.heldout_rephrased)} rephrasings of streamed facts, "
        f"{len(report.heldout_unstreamed)} facts never streamed",
        caption=report.heldout_measures,
    )
    for column in ("cycle", "rephrased closed", "rephrased open", "never streamed closed", "never streamed open"):
        table.add_column(column)
    for cycle in report.cycles:
        cells = [
            _pct(report.heldout_score(cycle, mode, part))
            for part in ("rephrased", "unstreamed")
            for mode in ("direct", "rag")
        ]
        table.add_row(_label(cycle), *cells)
    return table


def data_table(report: DemoReport) -> Table:
    """What each cycle's feedback became: the dataset, the PII scrubbed from it, the verified answers."""
    table = Table(title="Data per cycle (datasets are cumulative; answers: verified answers kept)")
    for column in ("cycle", "dataset", "instruction", "RAFT", "PII removed", "answers", "seconds"):
        table.add_column(column, justify="left" if column in ("cycle", "dataset") else "right")
    for cycle in report.cycles:
        table.add_row(
            _label(cycle),
            (cycle.dataset_version or "-")[:12],
            str(cycle.instruction_examples),
            str(cycle.raft_examples),
            str(cycle.pii_removed),
            str(cycle.answers_remembered),
            f"{sum(cycle.stage_seconds.values()):.0f}",
        )
    return table


def mode_table(report: DemoReport) -> Table:
    modes = sorted({m for c in report.cycles for m in c.stream_by_mode})
    table = Table(title="Simulated users' accuracy per mode (the answer they got, before their feedback)")
    table.add_column("cycle")
    for mode in modes:
        table.add_column(mode, no_wrap=True)
    for cycle in report.cycles:
        if cycle.stream_by_mode:
            table.add_row(str(cycle.cycle), *[_pct(cycle.stream_by_mode.get(m, Score())) for m in modes])
    return table


def stage_table(report: DemoReport) -> Table:
    """Seconds per stage and cycle: where the time of a flywheel turn goes."""
    stages = list(dict.fromkeys(stage for c in report.cycles for stage in c.stage_seconds))
    table = Table(title="Seconds per stage")
    table.add_column("stage")
    for cycle in report.cycles:
        table.add_column("base" if cycle.cycle == 0 else f"cycle {cycle.cycle}", justify="right")
    for stage in stages:
        cells = [c.stage_seconds.get(stage) for c in report.cycles]
        table.add_row(stage, *["-" if v is None else f"{v:.0f}" for v in cells])
    return table
