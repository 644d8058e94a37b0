"""``kaizen ingest`` and ``kaizen search`` end to end (real model, real LanceDB, real broker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from kaizen.cli import knowledge
from kaizen.cli.main import app
from kaizen.config import Settings
from kaizen.events import DocumentEvent
from kaizen.streaming.consumer import EventReader
from kaizen.topics import Topics

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "shipping.md").write_text("# Shipping\n\n## Times\n\nParcels ship within two business days.\n")
    (folder / "returns.html").write_text(
        "<title>Returns</title><h1>Policy</h1><p>Returns are accepted for 30 days.</p>"
    )
    (folder / "empty.txt").write_text("")
    return folder


def _env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    # Wide consoles: table cells must not wrap mid-word in the captured output.
    monkeypatch.setattr(knowledge, "console", Console(width=250))
    monkeypatch.setattr(knowledge, "err", Console(width=250, stderr=True))
    for key, value in settings.to_env().items():
        monkeypatch.setenv(key, value)


def test_ingest_direct_then_search(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, docs: Path) -> None:
    _env(monkeypatch, Settings(data_dir=tmp_path / "data"))
    result = runner.invoke(app, ["ingest", str(docs), "--kb", "shop", "--direct"])
    assert result.exit_code == 1, result.output  # one file skipped
    assert "indexed 2 documents (2 inserted)" in result.output
    assert "empty.txt" in result.output and "no text in the file" in result.output

    again = runner.invoke(app, ["ingest", str(docs / "shipping.md"), "--kb", "shop", "--direct"])
    assert again.exit_code == 0 and "1 unchanged" in again.output

    found = runner.invoke(app, ["search", "when will my parcel arrive", "--kb", "shop", "--top-k", "1"])
    assert found.exit_code == 0, found.output
    assert "shipping.md" in found.output and "Shipping > Times" in found.output
    assert "returns" not in found.output
    keyword = runner.invoke(app, ["search", "returns", "--kb", "shop", "--mode", "keyword"])
    assert keyword.exit_code == 0 and "returns.html" in keyword.output

    missing = runner.invoke(app, ["search", "x", "--kb", "nope"])
    assert missing.exit_code == 1 and "knowledge base 'nope' does not exist" in missing.output
    other_tenant = runner.invoke(app, ["search", "parcel", "--kb", "shop", "--tenant", "acme"])
    assert other_tenant.exit_code == 1


def test_ingest_sends_document_events(monkeypatch: pytest.MonkeyPatch, kaizen_settings: Settings, docs: Path) -> None:
    _env(monkeypatch, kaizen_settings)
    result = runner.invoke(
        app, ["ingest", str(docs / "shipping.md"), str(docs / "returns.html"), "--kb", "shop", "--tenant", "acme"]
    )
    assert result.exit_code == 0, result.output
    reader = EventReader(kaizen_settings, Topics.from_settings(kaizen_settings).documents, DocumentEvent)
    try:
        events = reader.collect(until=lambda found: len(found) >= 2, timeout=30)
    finally:
        reader.close()
    assert sorted(e.document_id for e in events) == [
        (docs / n).resolve().as_posix() for n in ("returns.html", "shipping.md")
    ]
    assert {(e.tenant, e.knowledge_base) for e in events} == {("acme", "shop")}
    assert next(e for e in events if e.document_id.endswith(".md")).metadata["format"] == "markdown"


def test_ingest_needs_a_broker_or_direct(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, docs: Path) -> None:
    _env(monkeypatch, Settings(data_dir=tmp_path / "data"))
    monkeypatch.delenv("KAIZEN_KAFKA_BOOTSTRAP", raising=False)
    result = runner.invoke(app, ["ingest", str(docs), "--kb", "shop"])
    assert result.exit_code == 2 and "--direct" in result.output
    bad = runner.invoke(app, ["ingest", str(docs), "--kb", "bad name!", "--direct"])
    assert bad.exit_code == 2 and "invalid knowledge base name" in bad.output
