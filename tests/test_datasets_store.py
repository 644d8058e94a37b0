"""The versioned dataset store, its exports and the ``kaizen datasets`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kaizen.cli.main import app
from kaizen.curation.pipeline import Curator, CuratorConfig
from kaizen.curation.raft import RaftConfig
from kaizen.curation.records import CurationResult
from kaizen.datasets.export import ExportFormat, export_hf_dir, export_lines, statistics
from kaizen.datasets.store import DatasetCorrupt, DatasetNotFound, DatasetStore
from kaizen.events import RaftDocument, RaftExample, Thumbs, Turn
from tests.support.curation_events import feedback, response


def curated(n: int = 6, tenant: str = "acme") -> list[CurationResult]:
    """A realistic mix: accepted, corrected, rejected pair, a refusal, a near duplicate, PII."""
    curator = Curator(CuratorConfig(raft=RaftConfig(oracle_probability=1.0, chain_of_thought=True)))
    items = [
        (response("The capital of France is Paris.", tenant=tenant), {"thumbs": Thumbs.up}),
        (response("Lyon.", "Which city is the capital of France?", tenant=tenant), {"correction": "Paris is."}),
        (response("Berlin is the capital of Spain.", "Capital of Spain?", tenant=tenant), {"rating": 1}),
        (response("I'm sorry, but I can't help with that.", "Help me?", tenant=tenant), {"thumbs": Thumbs.up}),
        # the same question and answer again: an exact duplicate once normalised
        (response("the capital of France is Paris!", tenant=tenant), {"rating": 5}),
        (response("Mail me at bob@example.com about Rome.", "Capital of Italy?", tenant=tenant), {"rating": 5}),
    ][:n]
    results = []
    for resp, kw in items:
        curator.add_response(resp)
        results.append(curator.add_feedback(feedback(resp, **kw)))
    return results


@pytest.fixture
def store(tmp_path: Path) -> DatasetStore:
    return DatasetStore(tmp_path / "datasets", writer="test")


def test_snapshot_builds_a_version_with_manifest(store: DatasetStore) -> None:
    assert store.append(curated()) == 6
    m = store.snapshot("acme", filters=["empty", "refusal"])
    assert len(m.version) == 16 and m.content_hash.startswith(m.version)
    assert m.counts.feedback == 6
    assert (m.counts.accepted, m.counts.corrected, m.counts.rejected_pairs) == (2, 1, 1)
    assert m.counts.instructions == 4 and m.counts.raft == 3 and m.counts.raft_oracle_included == 3
    assert m.rejections == {"exact_duplicate": 1, "refusal": 1}
    assert m.pii_counts == {"EMAIL": 1}
    assert m.filters_applied == ["empty", "refusal", "dedup_exact", "dedup_near>=0.8"]
    assert m.sources.strategies == {"rag": 4} and m.sources.knowledge_bases == {"kb": 3}
    assert m.parent is None and store.verify(m.version)
    texts = [e.output for e in store.instructions(m.version)]
    assert all("bob@example.com" not in t for t in texts)


def test_versions_are_content_addressed_and_append_only(store: DatasetStore) -> None:
    results = curated(3)
    store.append(results)
    first = store.snapshot("acme")
    # Replaying the same results (a topic replay) changes nothing: same content, same version.
    store.append(results)
    assert store.snapshot("acme").version == first.version
    assert len(store.list_versions("acme")) == 1
    store.append(curated(6)[3:])
    second = store.snapshot("acme")
    assert second.version != first.version and second.parent == first.version
    assert [m.version for m in store.list_versions()] == [first.version, second.version]
    assert store.instructions(first.version)  # the old version is still there, unchanged
    assert store.verify(first.version)


def test_identical_content_gives_the_identical_hash_in_another_store(tmp_path: Path) -> None:
    results = curated()
    a, b = DatasetStore(tmp_path / "a"), DatasetStore(tmp_path / "b")
    a.append(results)
    b.append(list(reversed(results)))
    assert a.snapshot("acme").content_hash == b.snapshot("acme").content_hash


def test_tenants_are_kept_apart(store: DatasetStore) -> None:
    store.append(curated(2, tenant="acme") + curated(1, tenant="globex"))
    assert store.tenants() == ["acme", "globex"]
    assert store.snapshot("globex").counts.instructions == 1
    assert store.snapshot("acme").counts.instructions == 2


def test_a_partly_written_line_waits_for_the_next_snapshot(store: DatasetStore) -> None:
    store.append(curated(1))
    path = next((store.root / "staging" / "acme").glob("*.jsonl"))
    with path.open("a") as fh:
        fh.write('{"feedback_id": "unfinished')
    assert len(list(store.staged("acme"))) == 1


def test_resolve_errors_are_clear(store: DatasetStore) -> None:
    with pytest.raises(DatasetNotFound, match="no dataset version"):
        store.manifest("abcd")
    with pytest.raises(DatasetNotFound, match="not a version"):
        store.manifest("zz")
    with pytest.raises(DatasetNotFound, match="tenant"):
        store.manifest("latest:acme")
    with pytest.raises(ValueError, match="invalid tenant"):
        store.snapshot("../etc")


def bootstrap_like(i: int, tenant: str = "acme") -> RaftExample:
    doc = RaftDocument(chunk_id=f"d{i}#0", document_id=f"d{i}", text=f"Site {i} is in Ostrelle.", oracle=True)
    return RaftExample(
        tenant=tenant,
        example_id=f"boot-{i}",
        question=f"Where is site {i}?",
        documents=[doc],
        oracle_included=True,
        answer=f"##begin_quote##Site {i} is in Ostrelle.##end_quote##",
        final_answer="Ostrelle",
        knowledge_base="kb",
    )


def test_examples_written_outside_curation_are_a_version_like_any_other(store: DatasetStore) -> None:
    m = store.add_version("acme", raft=[bootstrap_like(1), bootstrap_like(2)], source="bootstrap")
    assert m.source == "bootstrap" and m.counts.raft == 2 and m.counts.feedback == 0 and store.verify(m.version)
    # The same examples as new events (new ids, new times) are the same version: a rerun is reproducible.
    again = store.add_version("acme", raft=[bootstrap_like(1), bootstrap_like(2)], source="bootstrap")
    assert again.version == m.version and len(store.list_versions("acme")) == 1
    loaded = store.load("latest:acme", tenant="acme")
    assert loaded.version == m.version and [e.example_id for e in loaded.examples] == ["boot-1", "boot-2"]
    # A curated snapshot follows it in the tenant's lineage; training reads both kinds, typed by file.
    store.append(curated(2))
    curated_version = store.snapshot("acme")
    assert curated_version.parent == m.version and curated_version.source == "curation"
    kinds = {type(e).__name__ for e in store.load(curated_version.version).examples}
    assert kinds == {"InstructionExample", "RaftExample"}
    with pytest.raises(ValueError, match="belong to tenant"):
        store.add_version("globex", raft=[bootstrap_like(3)], source="bootstrap")
    with pytest.raises(DatasetNotFound, match="belongs to tenant 'acme'"):
        store.load(m.version, tenant="globex")


def test_a_bad_line_names_its_file_and_line(store: DatasetStore) -> None:
    m = store.add_version("acme", raft=[bootstrap_like(1)], source="bootstrap")
    path = store.path(m.version) / "raft.jsonl"
    path.write_text(path.read_text() + '{"question": "q"}\n')
    with pytest.raises(DatasetCorrupt, match=r"raft.jsonl:2: not a raft_example"):
        store.load(m.version)
    assert not store.verify(m.version)


def test_exports(store: DatasetStore) -> None:
    store.append(curated())
    version = store.snapshot("acme").version
    chat = [json.loads(line) for line in export_lines(store, version, ExportFormat.chat)]
    assert len(chat) == 3  # accepted + corrected; the rejected pair is not a target
    assert all(row["messages"][0]["role"] == "user" for row in chat)
    raft = [json.loads(line) for line in export_lines(store, version, ExportFormat.raft)]
    assert len(raft) == 3 and all("<DOCUMENT>" in row["instruction"] for row in raft)
    assert all("##begin_quote##" in row["cot_answer"] for row in raft)
    raw = list(export_lines(store, version, ExportFormat.jsonl))
    assert len(raw) == 4
    report = statistics(store, version)
    assert report.labels == {"accepted": 3, "rejected_pair": 1}


def test_preference_pairs_from_corrections_and_rejected_answers(store: DatasetStore) -> None:
    results = curated()
    # A thumbs-down on a wrong answer to a question that also has an accepted answer: a rejected pair with a partner.
    curator = Curator(CuratorConfig())
    wrong = response("The capital of France is Marseille.", tenant="acme")
    curator.add_response(wrong)
    results.append(curator.add_feedback(feedback(wrong, thumbs=Thumbs.down)))
    store.append(results)
    version = store.snapshot("acme").version
    pairs = [json.loads(line) for line in export_lines(store, version, ExportFormat.preference)]
    by_rejected = {p["rejected"]: p for p in pairs}
    # the correction over the answer it corrected
    assert by_rejected["Lyon."]["chosen"] == "Paris is." and "capital of France" in by_rejected["Lyon."]["prompt"]
    # the rejected answer under the accepted answer to the same question
    # (dedup keeps one of the two near-identical accepted answers, whichever came first)
    chosen = by_rejected["The capital of France is Marseille."]["chosen"]
    assert chosen in {"The capital of France is Paris.", "the capital of France is Paris!"}
    # a rejected answer to a question nobody answered well has nothing to prefer: left out
    assert "Berlin is the capital of Spain." not in by_rejected and len(pairs) == 2
    assert statistics(store, version).preference_pairs == 2


def test_openai_exports_validate_against_the_openai_types(store: DatasetStore) -> None:
    from openai.types.chat import ChatCompletionAssistantMessageParam, ChatCompletionMessageParam
    from pydantic import TypeAdapter

    message, assistant = TypeAdapter(ChatCompletionMessageParam), TypeAdapter(ChatCompletionAssistantMessageParam)
    curator = Curator(CuratorConfig())
    wrong = response("The capital of France is Marseille.", tenant="acme")
    curator.add_response(wrong)
    store.append([*curated(), curator.add_feedback(feedback(wrong, thumbs=Thumbs.down))])
    version = store.snapshot("acme").version
    chat = [json.loads(line) for line in export_lines(store, version, ExportFormat.openai)]
    assert len(chat) == 3
    for row in chat:
        assert set(row) == {"messages"}  # strict: no key OpenAI does not know
        for m in row["messages"]:
            assert set(m) == {"role", "content"} and m["content"].strip()
            message.validate_python(m)
        assert row["messages"][-1]["role"] == "assistant"
    dpo = [json.loads(line) for line in export_lines(store, version, ExportFormat.openai_dpo)]
    assert len(dpo) == 2
    for row in dpo:
        assert set(row) == {"input", "preferred_output", "non_preferred_output"}
        for m in row["input"]["messages"]:
            message.validate_python(m)
        for side in ("preferred_output", "non_preferred_output"):
            assert len(row[side]) == 1
            assistant.validate_python(row[side][0])


def test_a_conversation_exports_as_its_whole_exchange(store: DatasetStore) -> None:
    """Chat exports carry the system prompt and earlier turns as messages; a preference pair keeps them too."""
    history = [
        Turn(role="user", content="Who founded Quillmoor?"),
        Turn(role="assistant", content="Ada Brook founded Quillmoor."),
    ]
    conversation = {"session_id": "s-9", "system": "Answer briefly.", "history": history}
    curator = Curator(CuratorConfig())
    good = response("Ada Brook was born in 1820.", "When was she born?", tenant="acme", cited=False, **conversation)
    bad = response("She was born in Paris in 1999.", "When was she born?", tenant="acme", cited=False, **conversation)
    alone = response("The question has no context.", "When was she born?", tenant="acme", cited=False)
    for resp, kw in ((good, {"thumbs": Thumbs.up}), (bad, {"thumbs": Thumbs.down}), (alone, {"rating": 5})):
        curator.add_response(resp)
        store.append([curator.add_feedback(feedback(resp, **kw))])
    version = store.snapshot("acme").version
    # the same follow-up without the turns is another example, not a duplicate
    chats = [json.loads(line)["messages"] for line in export_lines(store, version, ExportFormat.openai)]
    [chat] = [m for m in chats if len(m) > 2]
    assert chat == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Who founded Quillmoor?"},
        {"role": "assistant", "content": "Ada Brook founded Quillmoor."},
        {"role": "user", "content": "When was she born?"},
        {"role": "assistant", "content": "Ada Brook was born in 1820."},
    ]
    assert len(chats) == 2
    # the rejected answer pairs with the accepted one after the same turns, not with the one without them
    [dpo] = [json.loads(line) for line in export_lines(store, version, ExportFormat.openai_dpo)]
    assert dpo["input"]["messages"] == chat[:-1]
    assert dpo["preferred_output"][0]["content"] == "Ada Brook was born in 1820."
    [pair] = [json.loads(line) for line in export_lines(store, version, ExportFormat.preference)]
    assert set(pair) == {"id", "prompt", "chosen", "rejected"} and pair["prompt"] == "When was she born?"


def test_hf_export_loads_with_datasets_and_carries_a_card(
    store: DatasetStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    import datasets

    store.append(curated())
    manifest = store.snapshot("acme")
    out = tmp_path / "hf" / manifest.version
    counts = export_hf_dir(store, manifest.version, out)
    assert counts == {"sft": 3, "raft": 3, "preference": 1}
    card = (out / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert [c["config_name"] for c in header["configs"]] == ["sft", "raft", "preference"]
    assert manifest.content_hash in card
    cache = str(tmp_path / "hf-cache")
    sft = datasets.load_dataset(str(out), "sft", split="train", cache_dir=cache)
    assert sft.num_rows == 3 and sft[0]["messages"][0]["role"] == "user"
    pref = datasets.load_dataset(str(out), "preference", split="train", cache_dir=cache)
    assert pref.column_names == ["id", "prompt", "chosen", "rejected"] and pref[0]["chosen"] == "Paris is."
    raft = datasets.load_dataset(str(out), "raft", split="train", cache_dir=cache)
    assert raft.num_rows == 3 and "##begin_quote##" in raft[0]["cot_answer"]
    default = datasets.load_dataset(str(out), split="train", cache_dir=cache)  # the card's default config
    assert default.num_rows == 3


def test_cli(store: DatasetStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KAIZEN_DATASETS_URL", f"file://{store.root}")
    runner = CliRunner()
    store.append(curated())
    result = runner.invoke(app, ["datasets", "snapshot", "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    version = store.latest("acme").version  # type: ignore[union-attr]
    listed = runner.invoke(app, ["datasets", "list"])
    assert listed.exit_code == 0 and version in listed.output
    shown = runner.invoke(app, ["datasets", "show", version[:8]])
    assert shown.exit_code == 0 and version in shown.output
    out = tmp_path / "chat.jsonl"
    exported = runner.invoke(app, ["datasets", "export", "latest:acme", "--format", "chat", "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    assert len(out.read_text().splitlines()) == 3
    raft = runner.invoke(app, ["datasets", "export", version, "--format", "raft"])
    assert raft.exit_code == 0 and raft.output.count("##begin_quote##") >= 3
    stats = runner.invoke(app, ["datasets", "stats", version])
    assert stats.exit_code == 0 and "RAFT examples" in stats.output and "EMAIL=1" in stats.output
    hf = runner.invoke(app, ["datasets", "export", version, "--format", "hf", "-o", str(tmp_path / "hf")])
    assert hf.exit_code == 0 and "sft=3" in hf.output and (tmp_path / "hf" / "README.md").exists()
    no_dir = runner.invoke(app, ["datasets", "export", version, "--format", "hf"])
    assert no_dir.exit_code == 1 and "--output" in no_dir.output
    missing = runner.invoke(app, ["datasets", "show", "ffff"])
    assert missing.exit_code == 1 and "no dataset version" in missing.output
