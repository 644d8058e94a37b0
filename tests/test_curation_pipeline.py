"""The curator core without Faust: policy, joins, waiting feedback, RAFT, PII, determinism."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from kaizen.config import Settings
from kaizen.curation.pipeline import Curator, CuratorConfig
from kaizen.curation.policy import FeedbackPolicy, Verdict
from kaizen.curation.raft import BEGIN_QUOTE, END_QUOTE, RaftConfig, keeps_oracle
from kaizen.curation.records import Outcome
from kaizen.events import Feedback, Thumbs, Turn
from kaizen.retrieval.types import Chunk
from kaizen.training.data import from_raft
from kaizen.training.prompting import answer_target
from tests.support.curation_events import PARIS, T0, feedback, response


@pytest.mark.parametrize(
    ("kw", "verdict"),
    [
        ({"thumbs": Thumbs.up}, Verdict.accepted),
        ({"rating": 5}, Verdict.accepted),
        ({"rating": 4}, Verdict.accepted),
        ({"rating": 3}, Verdict.neutral),
        ({"rating": 1}, Verdict.rejected),
        ({"thumbs": Thumbs.down}, Verdict.rejected),
        ({"thumbs": Thumbs.down, "correction": "Paris."}, Verdict.corrected),
        ({"thumbs": Thumbs.up, "rating": 1}, Verdict.neutral),
        ({"comment": "hmm"}, Verdict.neutral),
        ({"labels": ["hallucination"]}, Verdict.rejected),
        ({"labels": ["Helpful"]}, Verdict.accepted),
    ],
)
def test_policy_decides(kw: dict[str, object], verdict: Verdict) -> None:
    assert FeedbackPolicy().decide(feedback(response(), **kw)) == verdict


def test_policy_is_configurable() -> None:
    strict = FeedbackPolicy(accept_rating=5, keep_rejected_pairs=False)
    assert strict.decide(feedback(response(), rating=4)) == Verdict.neutral
    assert strict.decide(feedback(response(), thumbs=Thumbs.down)) == Verdict.neutral


def test_accepted_answer_becomes_an_instruction_example() -> None:
    curator = Curator()
    resp = response()
    assert curator.add_response(resp) == []
    result = curator.add_feedback(feedback(resp, thumbs=Thumbs.up))
    assert result.outcome == Outcome.example
    ex = result.instruction
    assert ex is not None
    assert (ex.instruction, ex.output, ex.accepted, ex.rejected_output) == (resp.question, resp.answer, True, None)
    assert ex.tenant == "acme" and ex.strategy == "rag" and ex.source_ids == ["geo#0"]
    assert ex.context == PARIS
    assert ex.to_chat()[1] == {"role": "assistant", "content": resp.answer}


def test_reasoning_of_an_accepted_answer_is_kept_scrubbed_and_dropped_on_correction() -> None:
    curator = Curator()
    resp = response(answer="21").model_copy(
        update={"strategy": "cot", "reasoning": ["Ask ops@example.org: 3 teams of 7.", "3 * 7 = 21."]}
    )
    curator.add_response(resp)
    ex = curator.add_feedback(feedback(resp, rating=5)).instruction
    assert ex is not None and ex.reasoning == ["Ask [EMAIL]: 3 teams of 7.", "3 * 7 = 21."]
    wrong = response(answer="20").model_copy(update={"strategy": "cot", "reasoning": ["3 * 7 = 20."]})
    curator.add_response(wrong)
    fixed = curator.add_feedback(feedback(wrong, thumbs=Thumbs.down, correction="21")).instruction
    assert fixed is not None and fixed.output == "21" and fixed.reasoning == []


def test_a_follow_up_keeps_its_conversation_scrubbed() -> None:
    """The example is the whole exchange: system prompt and earlier turns travel with the answer, PII replaced."""
    history = [
        Turn(role="user", content="Who founded Quillmoor? Write to ada@example.com"),
        Turn(role="assistant", content="Ada Brook founded Quillmoor."),
    ]
    resp = response(
        "Ada Brook was born in 1820.",
        "When was she born?",
        cited=False,
        session_id="s-1",
        system="Answer briefly.",
        history=history,
    )
    curator = Curator()
    curator.add_response(resp)
    result = curator.add_feedback(feedback(resp, thumbs=Thumbs.up))
    ex = result.instruction
    assert result.outcome == Outcome.example and ex is not None
    assert (ex.session_id, ex.system) == ("s-1", "Answer briefly.")
    assert [t.role for t in ex.history] == ["user", "assistant"]
    assert "ada@example.com" not in ex.history[0].content and "Who founded Quillmoor?" in ex.history[0].content
    assert ex.history[1].content == "Ada Brook founded Quillmoor."
    assert [m["role"] for m in ex.to_chat()] == ["system", "user", "assistant", "user", "assistant"]
    assert ex.to_chat()[-2]["content"] == "When was she born?"
    assert "ada@example.com" not in curator.responses[str(resp.response_id)].decode()


def test_correction_replaces_the_answer() -> None:
    curator = Curator()
    resp = response(answer="The capital of France is Lyon.")
    curator.add_response(resp)
    fb = feedback(resp, thumbs=Thumbs.down, correction="The capital of France is Paris.")
    ex = curator.add_feedback(fb).instruction
    assert ex is not None
    assert ex.output == "The capital of France is Paris."
    assert ex.rejected_output == "The capital of France is Lyon."
    assert ex.accepted


def test_rejection_without_correction_is_a_rejected_pair_not_a_target() -> None:
    curator = Curator()
    resp = response(answer="Lyon is the capital.")
    curator.add_response(resp)
    result = curator.add_feedback(feedback(resp, thumbs=Thumbs.down))
    ex = result.instruction
    assert ex is not None and not ex.accepted
    assert ex.output == "" and ex.rejected_output == "Lyon is the capital."
    assert result.raft is None  # never a RAFT target either


def test_filtered_and_neutral_feedback_are_counted_with_reasons() -> None:
    curator = Curator()
    refusal = response(answer="I'm sorry, but I can't help with that.")
    curator.add_response(refusal)
    result = curator.add_feedback(feedback(refusal, thumbs=Thumbs.up))
    assert result.outcome == Outcome.rejected and result.reason == "refusal"
    assert result.rejection is not None and result.rejection.reason == "refusal"
    neutral = curator.add_feedback(feedback(refusal, comment="ok"))
    assert neutral.outcome == Outcome.skipped and neutral.reason == "no_usable_signal"


def test_feedback_before_response_waits_then_joins() -> None:
    curator = Curator()
    resp = response()
    fb = feedback(resp, rating=5)
    assert curator.add_feedback(fb, at=T0).outcome == Outcome.pending
    assert curator.add_feedback(fb, at=T0).outcome == Outcome.pending  # a redelivered duplicate waits once
    results = curator.add_response(resp)
    assert [r.outcome for r in results] == [Outcome.example]
    assert not curator.pending
    assert curator.expire(T0 + timedelta(days=1)) == []


def test_feedback_without_response_expires_with_a_reason() -> None:
    curator = Curator(CuratorConfig(feedback_wait_seconds=60))
    resp = response()
    fb = feedback(resp, rating=5)
    curator.add_feedback(fb, at=T0)
    assert curator.expire(T0 + timedelta(seconds=59)) == []
    expired = curator.expire(T0 + timedelta(seconds=60))
    assert [f.event_id for f, _ in expired] == [fb.event_id]
    assert "no response" in expired[0][1] and "60s" in expired[0][1]
    assert not curator.pending


def test_feedback_naming_another_tenants_response_is_dead_lettered() -> None:
    curator = Curator()
    resp = response(tenant="acme")
    curator.add_response(resp)
    fb = Feedback(tenant="other", response_id=resp.response_id, thumbs=Thumbs.up)
    result = curator.add_feedback(fb)
    assert result.outcome == Outcome.dead_letter and "another tenant" in result.reason
    assert result.feedback == fb  # kept whole for the dead-letter topic


def test_same_feedback_gives_identical_examples_in_a_fresh_curator() -> None:
    resp = response()
    fb = feedback(resp, thumbs=Thumbs.up)
    outputs = []
    for _ in range(2):
        kb = FakeKb()
        curator = Curator(lookup=kb, distractor_source=kb)
        curator.add_response(resp)
        result = curator.add_feedback(fb)
        outputs.append((result.instruction.model_dump_json(), result.raft.model_dump_json()))  # type: ignore[union-attr]
    assert outputs[0] == outputs[1]


def test_pii_is_scrubbed_before_the_response_is_stored() -> None:
    curator = Curator()
    resp = response(
        question="My e-mail is jane.doe@example.com, what is the capital?",
        answer="Paris. Call +44 20 7946 0958 for a tour.",
    )
    curator.add_response(resp)
    stored = curator.responses[str(resp.response_id)].decode()
    assert "jane.doe@example.com" not in stored and "7946" not in stored
    fb = feedback(resp, thumbs=Thumbs.down, correction="Paris. Pay with 4111 1111 1111 1111.")
    result = curator.add_feedback(fb)
    ex = result.instruction
    assert ex is not None
    assert ex.instruction == "My e-mail is [EMAIL], what is the capital?"
    assert ex.output == "Paris. Pay with [CARD]."
    assert result.pii_counts == {"CARD": 1, "EMAIL": 1, "PHONE": 1}


class FakeKb:
    """A chunk store double: the real LanceDB store is exercised in test_curation_raft_lancedb.py."""

    def __init__(self) -> None:
        self.chunks = {
            "geo#0": Chunk(chunk_id="geo#0", document_id="geo", knowledge_base="kb", title="Geography", text=PARIS),
            "geo#1": Chunk(chunk_id="geo#1", document_id="geo", knowledge_base="kb", text="Berlin is in Germany."),
            "food#0": Chunk(chunk_id="food#0", document_id="food", knowledge_base="kb", text="Brie is a cheese."),
        }
        self.extra = [
            Chunk(chunk_id=f"misc#{i}", document_id="misc", knowledge_base="kb", text=f"Fact {i}. Mail a{i}@b.org")
            for i in range(5)
        ]

    def get_chunks(self, *, tenant: str, knowledge_base: str, chunk_ids: list[str]) -> list[Chunk]:
        return [self.chunks[c] for c in chunk_ids if c in self.chunks]

    def document_chunks(self, *, tenant: str, knowledge_base: str, document_id: str) -> list[Chunk]:
        return [c for c in self.chunks.values() if c.document_id == document_id]

    def knowledge_bases(self, *, tenant: str) -> list[str]:
        return ["kb"]

    def random_chunks(
        self, *, tenant: str, knowledge_base: str, n: int, exclude: set[str] | None = None, seed: int = 0
    ) -> list[Chunk]:
        return [c for c in self.extra if c.chunk_id not in (exclude or set())][:n]


def test_raft_example_has_oracle_distractors_and_quoted_reasoning() -> None:
    kb = FakeKb()
    config = CuratorConfig(raft=RaftConfig(oracle_probability=1.0, distractors=4, chain_of_thought=True))
    curator = Curator(config, lookup=kb, distractor_source=kb)
    resp = response()
    curator.add_response(resp)
    raft = curator.add_feedback(feedback(resp, thumbs=Thumbs.up)).raft
    assert raft is not None and raft.oracle_included
    oracle = [d for d in raft.documents if d.oracle]
    assert [d.chunk_id for d in oracle] == ["geo#0"]
    distractors = sorted(d.chunk_id for d in raft.documents if not d.oracle)
    assert distractors == ["food#0", "geo#1", "misc#0", "misc#1"]  # retrieved ones first, then random
    assert all("@b.org" not in d.text for d in raft.documents)  # knowledge-base text is scrubbed too
    assert f"{BEGIN_QUOTE}{PARIS}{END_QUOTE}" in raft.answer
    assert raft.answer.endswith(f"##Answer: {resp.answer}")
    assert raft.final_answer == resp.answer and raft.knowledge_base == "kb"


def test_raft_without_chain_of_thought_answers_alone_and_trains_the_short_target() -> None:
    kb = FakeKb()
    config = CuratorConfig(raft=RaftConfig(oracle_probability=1.0, distractors=2, chain_of_thought=False))
    curator = Curator(config, lookup=kb, distractor_source=kb)
    resp = response()
    curator.add_response(resp)
    raft = curator.add_feedback(feedback(resp, thumbs=Thumbs.up)).raft
    assert raft is not None and raft.answer == raft.final_answer == resp.answer
    assert BEGIN_QUOTE not in raft.answer and [d.chunk_id for d in raft.documents if d.oracle] == ["geo#0"]
    example = from_raft(raft)
    assert example.quoted == ""  # nothing to quote: the open-book target is the answer and its citation
    assert example.target(open_book=True) == answer_target(resp.answer, example.oracle_numbers)


def test_settings_carry_the_raft_chain_of_thought_choice() -> None:
    settings = Settings(raft_chain_of_thought=False, raft_distractors=2, raft_oracle_probability=0.5)
    raft = CuratorConfig.from_settings(settings).raft
    assert (raft.chain_of_thought, raft.distractors, raft.oracle_probability) == (False, 2, 0.5)


def test_raft_oracle_named_by_the_user_and_left_out_with_probability() -> None:
    kb = FakeKb()
    config = CuratorConfig(raft=RaftConfig(oracle_probability=0.0, distractors=2, chain_of_thought=True))
    curator = Curator(config, lookup=kb, distractor_source=kb)
    resp = response(answer="Brie.", question="Which cheese is mentioned?")
    curator.add_response(resp)
    fb = feedback(resp, thumbs=Thumbs.down, correction="Brie is the cheese.", source_document_ids=["food"])
    raft = curator.add_feedback(fb).raft
    assert raft is not None and not raft.oracle_included
    assert "food#0" not in {d.chunk_id for d in raft.documents} and len(raft.documents) == 2
    assert f"{BEGIN_QUOTE}Brie is a cheese.{END_QUOTE}" in raft.answer  # the answer still quotes the oracle


def test_raft_oracle_named_by_the_user_is_found_even_when_the_response_never_saw_it() -> None:
    kb = FakeKb()
    curator = Curator(
        CuratorConfig(raft=RaftConfig(oracle_probability=1.0, distractors=2, chain_of_thought=True)), lookup=kb
    )
    closed_book = response(question="Where is Berlin?", answer="In France.", cited=False)
    curator.add_response(closed_book)
    fb = feedback(closed_book, thumbs=Thumbs.down, correction="Germany", source_document_ids=["geo"])
    raft = curator.add_feedback(fb).raft
    assert raft is not None
    # Of the named document's chunks, the one holding the corrected answer is the oracle.
    assert [d.chunk_id for d in raft.documents if d.oracle] == ["geo#1"]
    assert f"{BEGIN_QUOTE}Berlin is in Germany.{END_QUOTE}" in raft.answer
    unknown = response(question="Where is Rome?", answer="Spain.", cited=False)
    curator.add_response(unknown)
    missing = feedback(unknown, thumbs=Thumbs.down, correction="Italy", source_document_ids=["no-such-doc"])
    result = curator.add_feedback(missing)
    assert result.raft is None and result.instruction is not None  # the correction still teaches


def test_raft_oracle_of_an_unsourced_correction_is_the_seen_chunk_holding_it() -> None:
    kb = FakeKb()
    curator = Curator(
        CuratorConfig(raft=RaftConfig(oracle_probability=1.0, distractors=2, chain_of_thought=True)), lookup=kb
    )
    # The wrong answer cited geo#0 (Paris); the correct one is in geo#1, which was retrieved but not cited.
    wrong = response(question="Where is Berlin?", answer="In France [1].")
    curator.add_response(wrong)
    raft = curator.add_feedback(feedback(wrong, thumbs=Thumbs.down, correction="Germany")).raft
    assert raft is not None
    assert [d.chunk_id for d in raft.documents if d.oracle] == ["geo#1"]
    assert f"{BEGIN_QUOTE}Berlin is in Germany.{END_QUOTE}" in raft.answer
    # No chunk the response saw holds the correction: no oracle to quote, so no RAFT example (the
    # instruction example still teaches the correction).
    lost = response(question="Where is Rome?", answer="In France [1].")
    curator.add_response(lost)
    result = curator.add_feedback(feedback(lost, thumbs=Thumbs.down, correction="Italy"))
    assert result.raft is None and result.instruction is not None


def test_raft_falls_back_to_citation_quotes_without_a_chunk_store() -> None:
    curator = Curator(CuratorConfig(raft=RaftConfig(oracle_probability=1.0, chain_of_thought=True)))
    resp = response()
    curator.add_response(resp)
    raft = curator.add_feedback(feedback(resp, thumbs=Thumbs.up)).raft
    assert raft is not None and [d.text for d in raft.documents] == [PARIS]
    uncited = response(cited=False)
    curator.add_response(uncited)
    result = curator.add_feedback(feedback(uncited, thumbs=Thumbs.up))
    assert result.instruction is not None and result.raft is None


def test_oracle_share_follows_p() -> None:
    kept = sum(keeps_oracle(str(uuid.uuid4()), 0.8) for _ in range(4000))
    assert 0.77 < kept / 4000 < 0.83
    eid = str(uuid.uuid4())
    assert keeps_oracle(eid, 0.8) == keeps_oracle(eid, 0.8)
