"""Which questions the demo streams and holds out: reproducible, never mixed, popular facts asked several ways."""

from collections import Counter

from kaizen.demo.domain import shipped_domain
from kaizen.demo.plan import DemoOptions, make_plan


def test_plan_is_reproducible_and_never_streams_heldout() -> None:
    options = DemoOptions(cycles=3, questions=30, heldout=12)
    plan = make_plan(options)
    assert plan == make_plan(options)
    assert [len(b) for b in plan.stream] == [10, 10, 10]
    assert len(plan.heldout) == 12
    assert {q.split for q in plan.heldout} == {"heldout"}
    assert {q.split for q in plan.stream_questions} == {"stream"}
    streamed_facts = {q.fact_id for q in plan.stream_questions}
    rephrased = [q for q in plan.heldout if q.fact_id in streamed_facts]
    assert 0 < len(rephrased) < len(plan.heldout), "both seen-fact and unseen-fact held-out questions"


def test_rephrased_heldout_facts_are_streamed_in_every_phrasing() -> None:
    plan = make_plan(DemoOptions())
    phrasings = Counter(q.fact_id for q in shipped_domain().questions("stream"))
    streamed = Counter(q.fact_id for q in plan.stream_questions)
    rephrased = [q for q in plan.heldout if q.fact_id in streamed]
    assert len(rephrased) == round(len(plan.heldout) * 2 / 3)
    for q in rephrased:
        assert streamed[q.fact_id] == phrasings[q.fact_id] >= 3, q.fact_id
    assert len(plan.stream_questions) == DemoOptions().questions
    assert len({q.question_id for q in plan.stream_questions}) == len(plan.stream_questions)


def test_unseen_heldout_facts_are_never_streamed() -> None:
    plan = make_plan(DemoOptions())
    streamed = {q.fact_id for q in plan.stream_questions}
    unseen = [q for q in plan.heldout if q.fact_id not in streamed]
    assert len(unseen) == len(plan.heldout) - round(len(plan.heldout) * 2 / 3)
    heldout_facts = {q.fact_id for q in shipped_domain().questions("heldout")}
    # The fill (facts asked once) takes facts no held-out question asks about.
    once = [f for f, n in Counter(q.fact_id for q in plan.stream_questions).items() if n == 1]
    assert once and not set(once) & heldout_facts


def test_phrasings_of_a_fact_spread_over_the_cycles() -> None:
    plan = make_plan(DemoOptions(cycles=2))
    per_cycle = [{q.fact_id for q in batch} for batch in plan.stream]
    assert per_cycle[0] & per_cycle[1], "a later cycle asks about facts an earlier one was taught"


def test_fast_plan_fits_the_fast_budget() -> None:
    plan = make_plan(DemoOptions.fast_defaults())
    assert [len(b) for b in plan.stream] == [24]
    assert len(plan.heldout) == 12
