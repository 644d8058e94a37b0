from pathlib import Path

import pytest

from kaizen.training import retrain as steps
from kaizen.training.answer_cache import AnswerCache, answer_all
from kaizen.training.config import TrainingConfig
from kaizen.training.data import to_training_examples
from kaizen.training.splits import Splits
from tests.training_facts import fact_examples


def test_answers_survive_a_reload_and_depend_on_the_token_budget(tmp_path: Path) -> None:
    cache = AnswerCache.for_model(tmp_path, base_hash="b1", adapter_checksum="a1", runtime="engine:float32")
    cache.add([("Q: one", "uno"), ("Q: two", "dos")], max_new_tokens=16)
    cache.add([("Q: one", "uno")], max_new_tokens=16)  # known: not written twice
    again = AnswerCache(cache.path)
    assert len(again) == 2 and again.get("Q: one", 16) == "uno" and again.get("Q: one", 32) is None
    assert len(cache.path.read_text().splitlines()) == 2
    # Another adapter (or none) on the same base is another model.
    assert AnswerCache.for_model(tmp_path, base_hash="b1", adapter_checksum=None, runtime="engine:float32").path != (
        cache.path
    )
    assert AnswerCache.for_model(tmp_path, base_hash="b2", adapter_checksum="a1", runtime="engine:float32").path != (
        cache.path
    )
    # The same weights decoded in another dtype answer differently: another cache.
    assert AnswerCache.for_model(tmp_path, base_hash="b1", adapter_checksum="a1", runtime="engine:bfloat16").path != (
        cache.path
    )


def test_only_unknown_prompts_are_generated_in_order(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / "c.jsonl")
    cache.add([("b", "B-cached")], max_new_tokens=8)
    calls: list[list[str]] = []

    def generate(prompts: list[str]) -> list[str]:
        calls.append(prompts)
        return [p.upper() for p in prompts]

    assert answer_all(["a", "b", "c"], generate, cache, 8) == ["A", "B-cached", "C"]
    assert calls == [["a", "c"]]
    assert answer_all(["c", "a", "b"], generate, cache, 8) == ["C", "A", "B-cached"]
    assert calls == [["a", "c"]]  # nothing new: no generation at all
    assert answer_all(["x"], generate, None, 8) == ["X"]


def test_an_unchanged_model_on_an_unchanged_split_is_not_even_loaded(
    tiny_lm_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    examples = to_training_examples(fact_examples())
    splits = Splits(train=[], heldout=examples[:4], regression=examples[4:6])
    config = TrainingConfig(eval_max_new_tokens=6)
    cache = AnswerCache(tmp_path / "base.jsonl")
    first = steps.score_sets(tiny_lm_dir, None, splits, config, cache=cache)
    assert len(cache) == 6

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded although every answer was cached")

    monkeypatch.setattr(steps, "exam_model", no_model)
    second = steps.score_sets(tiny_lm_dir, None, splits, config, cache=AnswerCache(cache.path))
    assert second.heldout == first.heldout and second.regression == first.regression
    # One new held-out example: the model is needed again, for that prompt only.
    monkeypatch.undo()
    grown = splits.model_copy(update={"heldout": [*examples[:4], examples[6]]})
    third = steps.score_sets(tiny_lm_dir, None, grown, config, cache=cache)
    assert len(cache) == 7 and third.heldout["n"] == first.heldout["n"] + 1
