"""``kaizen demo --domain DIR``: a directory of documents and questions runs through the demo's loading and
split code, and a directory that cannot work is refused with an error naming the file, line and problem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kaizen.cli.main import app
from kaizen.config import Settings
from kaizen.demo.domain import DemoDataError, load_domain
from kaizen.demo.plan import DemoOptions, make_plan
from kaizen.demo.report import AnswerRecord, CycleReport, heldout_table
from kaizen.demo.runner import DemoRunner, document_events

LIGHTHOUSE = Path(__file__).parent / "data" / "domains" / "lighthouse"


def test_a_documents_folder_and_questions_with_paraphrases() -> None:
    domain = load_domain(LIGHTHOUSE)
    assert domain.name == "lighthouse"
    # One knowledge base per sub-folder; files at the top go to "docs".
    assert set(domain.knowledge_bases) == {"guide", "rules", "docs"}
    docs = domain.documents_by_id()
    assert set(docs) == {"guide-opening-hours", "guide-tickets", "rules-safety", "history"}
    assert docs["guide-tickets"].title == "Tickets" and docs["history"].title == "history"
    questions = domain.questions()
    assert len(questions) == 12 + 6  # every paraphrase is a question of its own, about the same fact
    groups: dict[str, list] = {}
    for q in questions:
        groups.setdefault(q.fact_id, []).append(q)
        assert q.answer.casefold() in docs[q.document_id].text.casefold()
    # A fact asked several ways: exactly one wording held out, the rest streamed.
    for fact, members in groups.items():
        if len(members) > 1:
            assert sorted(q.split for q in members).count("heldout") == 1, fact
    singles = [members[0].split for members in groups.values() if len(members) == 1]
    assert "heldout" in singles and "stream" in singles  # some facts are never streamed at all


def test_the_plan_holds_out_rephrasings_and_unstreamed_facts() -> None:
    domain = load_domain(LIGHTHOUSE)
    options = DemoOptions(cycles=2, questions=10, heldout=6)
    plan = make_plan(options, domain)
    assert plan == make_plan(options, domain)
    streamed_ids = {q.question_id for q in plan.stream_questions}
    assert not streamed_ids & {q.question_id for q in plan.heldout}
    assert plan.rephrased() and plan.unstreamed()
    assert {q.question_id for q in plan.rephrased() + plan.unstreamed()} == {q.question_id for q in plan.heldout}
    streamed_facts = {q.fact_id for q in plan.stream_questions}
    assert all(q.fact_id in streamed_facts for q in plan.rephrased())
    assert not any(q.fact_id in streamed_facts for q in plan.unstreamed())


def test_the_runner_ingests_the_domain_and_reports_what_heldout_measures(tmp_path: Path) -> None:
    domain = load_domain(LIGHTHOUSE)
    events = document_events(domain, "acme")
    assert [(e.knowledge_base, e.document_id) for e in events] == [
        (d.knowledge_base, d.document_id) for d in domain.documents()
    ]
    assert {e.metadata["source"] for e in events} == {"lighthouse-demo"}
    runner = DemoRunner(Settings(data_dir=tmp_path), DemoOptions(cycles=1, questions=8, heldout=4), domain=domain)
    report = runner.report
    assert report.domain == "lighthouse" and "never streamed" in report.heldout_measures.lower()
    assert report.heldout_rephrased == [q.question_id for q in runner.plan.rephrased()]
    assert report.heldout_unstreamed == [q.question_id for q in runner.plan.unstreamed()]
    # Accuracy per part, from the answers serving gave.
    first = runner.plan.rephrased()[0]
    cycle = CycleReport(
        cycle=0,
        heldout_answers=[
            AnswerRecord(
                question_id=q.question_id,
                mode="direct",
                expected=q.answer,
                answer=q.answer if q is first else "no idea",
                correct=q is first,
                response_id=str(n),
            )
            for n, q in enumerate(runner.plan.heldout)
        ],
    )
    rephrased = report.heldout_score(cycle, "direct", "rephrased")
    assert (rephrased.correct, rephrased.total) == (1, len(report.heldout_rephrased))
    assert report.heldout_score(cycle, "direct", "unstreamed").correct == 0
    assert heldout_table(report.model_copy(update={"cycles": [cycle]})).row_count == 1


def _domain(tmp_path: Path, questions: list[dict] | None = None, **files: str) -> Path:
    root = tmp_path / "domain"
    shutil.copytree(LIGHTHOUSE, root)
    if questions is not None:
        (root / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    for name, text in files.items():
        (root / name).write_text(text)
    return root


GOOD = {"question": "How many steps does the staircase have?", "answer": "212", "document": "rules-safety"}


@pytest.mark.parametrize(
    ("questions", "files", "message"),
    [
        ([{**GOOD, "document": "nope"}], {}, r"line 1: document 'nope' is not in the documents"),
        ([{**GOOD, "answer": "300"}], {}, r"line 1: the answer '300' is not stated in document 'rules-safety'"),
        ([{"question": "Why?", "document": "history"}], {}, r"questions.jsonl line 1: answer: Field required"),
        ([GOOD, {**GOOD, "id": "b"}], {}, r"line 2: question .* repeats line 1"),
        ([{**GOOD, "knowledge_base": "guide"}], {}, r"knowledge_base 'guide', but 'rules-safety' is in 'rules'"),
        ([{**GOOD, "split": "stream"}], {}, r"needs stream and held-out questions, found 1 stream and 0 held-out"),
        ([GOOD, {**GOOD, "question": "x", "colour": "red"}], {}, r"line 2: colour: Extra inputs are not permitted"),
        (None, {"domain.json": '{"knowledge_bases": ["guide"]}'}, r"domain.json: knowledge_bases \['guide'\]"),
    ],
)
def test_wrong_input_is_refused_clearly(tmp_path: Path, questions: list | None, files: dict, message: str) -> None:
    with pytest.raises(DemoDataError, match=message):
        load_domain(_domain(tmp_path, questions, **files))


def test_a_line_that_is_not_json_names_its_line(tmp_path: Path) -> None:
    root = _domain(tmp_path)
    (root / "questions.jsonl").write_text(json.dumps(GOOD) + "\n{oops\n")
    with pytest.raises(DemoDataError, match=r"questions.jsonl line 2: .*Invalid JSON"):
        load_domain(root)


def test_missing_parts_are_named(tmp_path: Path) -> None:
    with pytest.raises(DemoDataError, match="not a directory"):
        load_domain(tmp_path / "absent")
    root = _domain(tmp_path)
    shutil.rmtree(root / "documents")
    (root / "history.txt").unlink(missing_ok=True)
    with pytest.raises(DemoDataError, match=r"no documents\.jsonl and no documents/ folder"):
        load_domain(root)
    (root / "questions.jsonl").unlink()
    with pytest.raises(DemoDataError, match=r"no questions\.jsonl"):
        load_domain(root)


def test_the_cli_refuses_a_bad_domain_before_starting_anything(tmp_path: Path) -> None:
    root = _domain(tmp_path, [{**GOOD, "document": "nope"}])
    result = CliRunner().invoke(app, ["demo", "--domain", str(root)], env={"KAIZEN_DATA_DIR": str(tmp_path / "d")})
    assert result.exit_code == 2
    assert "not usable" in result.output and "'nope' is not in the documents" in result.output
