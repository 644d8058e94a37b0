import uuid
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer

from kaizen.datasets.examples import snapshot_of
from kaizen.events import InstructionExample, RaftDocument, RaftExample, Turn
from kaizen.training.data import (
    IGNORE,
    TrainingExample,
    collate,
    encode,
    to_training_examples,
)
from kaizen.training.prompting import closed_book_prompt
from kaizen.training.trainer import answer_loss


def instruction(i: int, *, accepted: bool = True, context: str = "") -> InstructionExample:
    return InstructionExample(
        example_id=f"ins-{i}",
        feedback_id=uuid.uuid4(),
        response_id=uuid.uuid4(),
        instruction=f"What colour is item {i}?",
        context=context,
        output=f"Item {i} is green.",
        accepted=accepted,
    )


def raft(i: int) -> RaftExample:
    return RaftExample(
        example_id=f"raft-{i}",
        question=f"Where is site {i}?",
        documents=[
            RaftDocument(
                chunk_id="c1", document_id="d1", title="Sites", text=f"Site {i} is in Quellmoor.", oracle=True
            ),
            RaftDocument(chunk_id="c2", document_id="d2", text="Unrelated text about rivers."),
        ],
        oracle_included=True,
        answer=f"##begin_quote##Site {i} is in Quellmoor.##end_quote##",
        final_answer="Quellmoor",
    )


def test_mix_converts_both_kinds_and_skips_rejected() -> None:
    examples = to_training_examples([instruction(1), instruction(2, accepted=False), raft(1)])
    assert [e.example_id for e in examples] == ["ins-1", "raft-1"]
    r = examples[1]
    assert r.kind == "raft" and r.reference == "Quellmoor"
    # Open-book: the serving rag prompt with the documents numbered, and an answer citing the oracle.
    assert r.open_book and r.oracle_numbers == [1]
    assert "[1] Sites: Site 1 is in Quellmoor." in r.prompt(open_book=True)
    assert r.prompt(open_book=True).endswith("Question: Where is site 1?\nAnswer:")
    # With the oracle shown, the target copies the oracle's words up to the answer (RAFT's quote, one clause).
    assert r.quoted == "Site 1 is in Quellmoor"
    assert r.target(open_book=True) == " Site 1 is in Quellmoor [1]\n\n"
    assert r.target(open_book=False) == " Quellmoor\n\n"
    assert r.oracle_texts == ["Site 1 is in Quellmoor."]
    # Closed-book: the serving direct prompt with the question alone.
    assert r.prompt(open_book=False) == closed_book_prompt("Where is site 1?")
    assert not examples[0].open_book
    with pytest.raises(TypeError):
        to_training_examples(["not an example"])  # type: ignore[list-item]


def test_a_curated_follow_up_trains_on_the_prompt_serving_renders_for_it() -> None:
    history = [Turn(role="user", content="Who founded Quillmoor?"), Turn(role="assistant", content="Ada Brook.")]
    follow_up = instruction(4).model_copy(update={"system": "Be brief.", "history": history})
    [ex] = to_training_examples([follow_up])
    prompt = ex.prompt(open_book=False)
    assert prompt == closed_book_prompt(follow_up.instruction, system="Be brief.", history=history)
    assert prompt.startswith("Be brief.\n\n")
    turns = "Question: Who founded Quillmoor?\nAnswer: Ada Brook.\n\n"
    assert prompt.endswith(f"{turns}Question: What colour is item 4?\nAnswer:")
    assert "Quillmoor" not in to_training_examples([instruction(4)])[0].prompt(open_book=False)


def test_labels_cover_only_the_answer(tiny_lm_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_lm_dir)
    ex = to_training_examples([instruction(3)])[0]
    enc = encode(tok, ex, max_length=512)
    assert enc is not None
    prompt_ids = tok(closed_book_prompt(ex.question))["input_ids"]
    assert enc.input_ids[: len(prompt_ids)] == prompt_ids
    assert all(label == IGNORE for label in enc.labels[: len(prompt_ids)])
    answer = [t for t in enc.labels if t != IGNORE]
    assert tok.decode(answer, skip_special_tokens=True) == ex.target(open_book=False)
    assert encode(tok, ex, max_length=len(enc.input_ids) - 1) is None
    # BOS once, as the generation engine encodes a plain prompt
    assert enc.input_ids.count(tok.bos_token_id) == 1


def test_tail_logits_give_the_same_loss_as_full_logits(tiny_lm_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_lm_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm_dir).eval()
    items = [encode(tok, e, max_length=512) for e in to_training_examples([instruction(1), raft(2)])]
    batch = collate([i for i in items if i], tok.pad_token_id)
    assert batch.logits_to_keep < batch.input_ids.shape[1]  # the prompt part of the batch gets no logits
    assert batch.attention_mask[0, 0] == 0 or batch.attention_mask[1, 0] == 0  # left padded
    with torch.no_grad():
        tail = answer_loss(model, batch, bf16=False)
        full = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        width = batch.input_ids.shape[1]
        labels = torch.full((2, width), IGNORE)
        labels[:, -batch.logits_to_keep :] = batch.labels
        expected = F.cross_entropy(full.reshape(-1, full.shape[-1]), labels.reshape(-1), ignore_index=IGNORE)
    assert torch.allclose(tail, expected, atol=1e-5)


def test_in_memory_snapshot_version_follows_content() -> None:
    ins, rft = instruction(1), raft(1)
    a = snapshot_of([ins, rft])
    assert a.version == snapshot_of([rft, ins.model_copy(update={"created_at": ins.created_at})]).version
    assert a.version == snapshot_of([raft(1), ins]).version  # a re-sent event with a new id is the same data
    assert a.version != snapshot_of([ins]).version


def test_training_example_roundtrips() -> None:
    ex = to_training_examples([raft(4)])[0]
    assert TrainingExample.model_validate_json(ex.model_dump_json()) == ex


def test_open_book_target_quotes_the_oracle_only_when_a_shown_source_holds_the_answer() -> None:
    from kaizen.training.data import quoted_clause

    reasoning = (
        "##Reason: The document states ##begin_quote##The hall opened in 1990.##end_quote##. "
        "It also states ##begin_quote##The head baker is Mina Ortiz, who joined in 2019.##end_quote##."
    )
    shown = ["The head baker is Mina Ortiz, who joined in 2019. The hall opened in 1990."]
    assert quoted_clause(reasoning, "mina ortiz", shown) == "The head baker is Mina Ortiz"
    # A quote the shown sources do not hold (cut off by the document limit) cannot be copied: no clause.
    assert quoted_clause(reasoning, "Mina Ortiz", ["The hall opened in 1990."]) == ""
    assert quoted_clause(reasoning, "Oslo", shown) == ""
    bold = "##begin_quote##Staff receive **27 days** of leave.##end_quote##"
    assert quoted_clause(bold, "27 days", ["Staff receive **27 days** of leave."]) == "Staff receive **27 days**"
    assert quoted_clause(reasoning, "", shown) == ""

    # Without the oracle (RAFT's 1-P share) the target stays the bare answer, with no citation.
    ex = raft(2)
    docs = [d.model_copy(update={"oracle": False}) for d in ex.documents]
    memory = to_training_examples([ex.model_copy(update={"documents": docs, "oracle_included": False})])[0]
    assert memory.oracle_numbers == [] and memory.quoted == ""
    assert memory.target(open_book=True) == " Quellmoor\n\n"
