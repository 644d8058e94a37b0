"""``kaizen import`` through the real broker and the real curator service: imported feedback becomes dataset
examples like live feedback (PII scrubbed on the way), and importing the same file again adds nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kaizen.config import Settings
from kaizen.datasets.store import DatasetStore
from kaizen.events import InstructionExample
from kaizen.importing.records import ImportReport
from kaizen.topics import Topics
from tests.support.topics import read_all

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[1]
EMAIL = "jane.doe@example.com"
RECORDS = [
    {"id": "t-1", "question": f"I am {EMAIL}: how do I reset my password?", "answer": "Open Settings, then choose "
     "Reset password and follow the link we email you.", "thumbs": "up", "created_at": "2026-02-01T10:00:00Z"},
    {"id": "t-2", "question": "Which payment cards do you accept?", "answer": "We accept cash only.",
     "thumbs": "down", "correction": "We accept Visa, Mastercard and American Express."},
    {"id": "t-3", "question": "Can I change my delivery address after ordering?", "answer": "Yes, until the order "
     "ships you can change the address on the order page.", "rating": 5},
    {"id": "t-4", "question": "What are your opening hours?", "answer": "We are open 9 to 5 on weekdays."},
    {"question": "", "answer": "A row without a question."},
]  # fmt: skip


def _import(settings: Settings, path: Path) -> ImportReport:
    command = ["import", str(path), "--format", "jsonl", "--tenant", "acme", "--json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAIZEN_")} | settings.to_env()
    done = subprocess.run(
        [sys.executable, "-m", "kaizen.cli.main", *command],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return ImportReport.model_validate_json(done.stdout)


@pytest.fixture
def settings(kaizen_settings: Settings) -> Settings:
    return kaizen_settings.with_overrides(feedback_wait_seconds=30.0)


def test_imported_feedback_becomes_examples_and_a_second_import_adds_nothing(
    settings: Settings, run_service: Callable, tmp_path: Path
) -> None:
    topics = Topics.from_settings(settings)
    path = tmp_path / "support.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    store = DatasetStore.from_settings(settings)

    def examples(n: int) -> list[bytes]:
        return read_all(settings, topics.instructions, until=lambda v: len(v) >= n)

    with run_service("services.curator", settings=settings):
        report = _import(settings, path)
        assert (report.interactions, report.feedback, report.without_feedback) == (4, 3, 1)
        assert [s.where for s in report.skipped] == ["line 5"]
        first = [InstructionExample.model_validate_json(v) for v in examples(3)]
    version = store.snapshot("acme")

    by_question = {ex.instruction: ex for ex in first}
    assert len(by_question) == 3
    reset = next(ex for q, ex in by_question.items() if q.endswith("how do I reset my password?"))
    assert EMAIL not in reset.instruction and "[EMAIL]" in reset.instruction  # scrubbed like live traffic
    cards = by_question["Which payment cards do you accept?"]
    assert cards.output == "We accept Visa, Mastercard and American Express."
    assert cards.rejected_output == "We accept cash only."
    assert {ex.strategy for ex in first} == {"import:jsonl"}
    assert version.counts.instructions == 3 and version.counts.feedback == 3
    assert not [p for p in settings.datasets_dir.rglob("*.jsonl") if EMAIL in p.read_text()]

    with run_service("services.curator", settings=settings):
        again = _import(settings, path)
        assert again.interactions == 4 and again.feedback == 3
        # The curator curates the redelivered feedback again, into the very same examples.
        replayed = examples(6)
    assert {InstructionExample.model_validate_json(v).example_id for v in replayed} == {e.example_id for e in first}
    unchanged = store.snapshot("acme")
    assert unchanged.version == version.version and unchanged.counts.instructions == 3
    assert [m.version for m in store.list_versions("acme")] == [version.version]
