from kaizen.llm.types import Completion
from kaizen.retrieval.types import Chunk
from kaizen.training.bootstrap import BootstrapParams, bootstrap_examples, pick_fact
from kaizen.training.data import to_training_examples
from kaizen.training.prompting import parse_answer
from kaizen.training.triggers import new_examples_decision


class ScriptedLLM:
    """Test double: answers question prompts with a question and answer prompts with a word of the fact."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    async def generate(self, prompt, *, max_new_tokens=128, temperature=0.0, stop=None, adapter=None, seed=None):  # type: ignore[no-untyped-def]
        self.prompts.append(prompt)
        if prompt.endswith("Question:"):
            return Completion(text=" Where was the treaty signed?\nFact: junk")
        return Completion(text=" Ostrelle")


def chunk(i: int, text: str) -> Chunk:
    return Chunk(chunk_id=f"d{i}#0", document_id=f"d{i}", knowledge_base="kb", text=text)


async def test_bootstrap_writes_raft_examples_quoting_the_oracle() -> None:
    chunks = [
        chunk(0, "Short. The treaty of the seven rivers was signed in Ostrelle in 1712."),
        chunk(1, "Rivers flow north in Vandria during the long winter months."),
        chunk(2, "Tiny."),
    ]
    llm = ScriptedLLM()
    out = await bootstrap_examples(llm, chunks, BootstrapParams(distractors=1, oracle_share=1.0))
    assert len(out) == 2  # the chunk without a usable sentence is skipped
    first = out[0]
    assert first.question == "Where was the treaty signed?" and first.final_answer == "Ostrelle"
    assert first.oracle_included and sum(d.oracle for d in first.documents) == 1 and len(first.documents) == 2
    # The example's own answer cites its oracle, so it is valid RAFT training data.
    ex = to_training_examples([first])[0]
    answer, cited = parse_answer(ex.target(open_book=True))
    assert answer == "The treaty of the seven rivers was signed in Ostrelle"  # the oracle's words, to the answer
    assert cited == ex.oracle_numbers and len(cited) == 1
    # An answer the fact does not contain falls back to the fact itself.
    assert out[1].final_answer == pick_fact(chunks[1].text, 30)
    again = await bootstrap_examples(ScriptedLLM(), chunks, BootstrapParams(distractors=1, oracle_share=1.0))
    assert [e.example_id for e in again] == [e.example_id for e in out]


def test_new_examples_trigger(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from kaizen.registry import AdapterManifest, AdapterRegistry

    reg = AdapterRegistry(tmp_path)
    first = new_examples_decision(reg, tenant="default", dataset_examples=60, threshold=50)
    assert first.retrain and first.new_examples == 60 and first.last_version is None
    src = tmp_path / "src"
    src.mkdir()
    (src / "w").write_text("x")
    reg.register(
        src, AdapterManifest(version="default-v0001", base_model="b", base_model_hash="h", dataset_examples=60)
    )
    assert not new_examples_decision(reg, tenant="default", dataset_examples=100, threshold=50).retrain
    assert new_examples_decision(reg, tenant="default", dataset_examples=110, threshold=50).retrain
