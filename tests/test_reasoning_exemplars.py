"""The few-shot exemplar pool: MMR selection, growth from the flywheel, persistence, tenant isolation."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from kaizen.events import InstructionExample
from kaizen.reasoning.exemplars import Exemplar, ExemplarFileError, ExemplarPool, mmr
from kaizen.reasoning.testing import hashing_embed


def _example(instruction: str, output: str, *, tenant: str = "acme", accepted: bool = True) -> InstructionExample:
    return InstructionExample(
        example_id=f"ex-{uuid.uuid5(uuid.NAMESPACE_URL, instruction)}",
        feedback_id=uuid.uuid4(),
        response_id=uuid.uuid4(),
        instruction=instruction,
        output=output,
        accepted=accepted,
        tenant=tenant,
        strategy="cot",
    )


def test_mmr_prefers_relevant_then_diverse() -> None:
    query = np.array([1.0, 0.5, 0.0])
    candidates = np.array([[1.0, 0.0, 0.0], [1.0, 0.05, 0.0], [0.3, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert mmr(query, candidates, 2, lambda_=1.0) == [1, 0]  # pure relevance takes the near-duplicate
    assert mmr(query, candidates, 2, lambda_=0.5) == [1, 2]  # MMR skips it for a different, still relevant one
    assert mmr(query, candidates[:0], 2, 0.5) == []


def test_selection_follows_the_question(tmp_path: Path) -> None:
    pool = ExemplarPool(hashing_embed, store_dir=tmp_path)
    chosen = pool.select_sync("How many days of leave are left after using 5 of 30 days?", "acme", 2)
    assert "seed-09" in [e.exemplar_id for e in chosen]
    chosen = pool.select_sync("What day is it 3 days after Monday?", "acme", 1)
    assert [e.exemplar_id for e in chosen] == ["seed-08"]


async def test_flywheel_examples_grow_the_tenant_pool_and_persist(tmp_path: Path) -> None:
    pool = ExemplarPool(hashing_embed, store_dir=tmp_path)
    good = _example(
        "How many Orbit licences do 3 teams of 7 engineers need?",
        "Reasoning: Each engineer needs one licence. 3 teams of 7 is 3 * 7 = 21.\nAnswer: 21 licences",
    )
    added = pool.add_from_example(good)
    assert added is not None and added.source == "flywheel" and added.output == "21 licences"
    assert added.reasoning == "Each engineer needs one licence. 3 teams of 7 is 3 * 7 = 21."
    assert pool.add_from_example(good) is None  # the same example twice is one exemplar
    # Not qualifying: rejected, no reasoning, or no Answer line.
    assert pool.add_from_example(_example("q1?", "Reasoning: x.\nAnswer: y", accepted=False)) is None
    assert pool.add_from_example(_example("q2?", "21 licences")) is None
    assert pool.add_from_example(_example("q3?", "Some thoughts without a conclusion line")) is None

    reopened = ExemplarPool(hashing_embed, store_dir=tmp_path)
    chosen = await reopened.select("How many Orbit licences do 4 teams of 5 engineers need?", "acme", 1)
    assert [e.exemplar_id for e in chosen] == [good.example_id]
    assert good.example_id not in [e.exemplar_id for e in reopened.exemplars("other")]
    assert (tmp_path / "acme.jsonl").exists() and not (tmp_path / "other.jsonl").exists()


def test_curated_reasoning_steps_make_an_exemplar(tmp_path: Path) -> None:
    pool = ExemplarPool(hashing_embed, store_dir=tmp_path)
    curated = _example("How many boxes hold 12 robots, 4 per box?", "3 boxes").model_copy(
        update={"reasoning": ["Each box holds 4 robots.", "12 / 4 = 3."]}
    )
    added = pool.add_from_example(curated)
    assert added is not None and (added.reasoning, added.output) == ("Each box holds 4 robots. 12 / 4 = 3.", "3 boxes")
    corrected = _example("How many crates hold 10 robots, 5 per crate?", "2 crates")  # no steps kept: no exemplar
    assert pool.add_from_example(corrected) is None


def test_pool_caps_each_tenant_dropping_the_oldest(tmp_path: Path) -> None:
    pool = ExemplarPool(hashing_embed, store_dir=tmp_path, max_per_tenant=2)
    for i in range(3):
        pool.add(Exemplar(exemplar_id=f"e{i}", input=f"question {i}?", reasoning="r", output="o", tenant="acme"))
    own = [e.exemplar_id for e in ExemplarPool(hashing_embed, store_dir=tmp_path).exemplars("acme")]
    assert own[-2:] == ["e1", "e2"] and "e0" not in own


def test_bad_seed_file_is_a_clear_error(tmp_path: Path) -> None:
    seed = tmp_path / "seed.jsonl"
    seed.write_text('{"exemplar_id": "a", "input": "q", "reasoning": "r", "output": "o"}\nnot json\n')
    with pytest.raises(ExemplarFileError, match=r"seed\.jsonl:2"):
        ExemplarPool(hashing_embed, seed_files=[seed])


def test_replicas_share_what_each_learned_through_the_pool_file(tmp_path: Path) -> None:
    first, second = ExemplarPool(hashing_embed, store_dir=tmp_path), ExemplarPool(hashing_embed, store_dir=tmp_path)
    assert second.exemplars("acme")  # seeds; the tenant file is read (absent) and remembered
    one = Exemplar(exemplar_id="a", input="first question?", reasoning="r", output="o", tenant="acme")
    assert first.add(one)
    assert "a" in [e.exemplar_id for e in second.exemplars("acme")]  # the other replica sees the new line
    assert second.add(one.model_copy(update={"exemplar_id": "b", "input": "second question?"}))
    assert {"a", "b"} <= {e.exemplar_id for e in first.exemplars("acme")}
