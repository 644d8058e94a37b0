from pathlib import Path

from kaizen.training.data import TrainingExample
from kaizen.training.splits import RegressionStore, Split, make_splits, split_of


def examples(n: int, start: int = 0) -> list[TrainingExample]:
    return [
        TrainingExample(example_id=f"e{i}", kind="instruction", question=f"q{i}", reference="a")
        for i in range(start, start + n)
    ]


def test_split_is_a_function_of_the_id() -> None:
    kwargs = {"heldout_fraction": 0.2, "regression_fraction": 0.1}
    first = [split_of(e.example_id, **kwargs) for e in examples(500)]
    assert first == [split_of(e.example_id, **kwargs) for e in examples(500)]
    share = {s: first.count(s) / 500 for s in Split}
    assert 0.05 < share[Split.regression] < 0.15 and 0.14 < share[Split.heldout] < 0.26


def test_regression_set_is_frozen_and_never_trained_on(tmp_path: Path) -> None:
    store = RegressionStore(tmp_path)
    first = make_splits(examples(200), heldout_fraction=0.2, regression_fraction=0.1, store=store)
    frozen = {e.example_id for e in first.regression}
    assert frozen and store.path("default").exists()
    second = make_splits(examples(400), heldout_fraction=0.2, regression_fraction=0.1, store=store)
    assert {e.example_id for e in second.regression} == frozen
    assert not frozen & {e.example_id for e in second.train}
    assert not frozen & {e.example_id for e in second.heldout}
    ids = [e.example_id for s in (second.train, second.heldout, second.regression) for e in s]
    assert len(ids) == len(set(ids)) == 400
    # Other tenants get their own set.
    assert store.load("other") is None


def test_empty_regression_bucket_is_not_frozen(tmp_path: Path) -> None:
    store = RegressionStore(tmp_path)
    make_splits(examples(3), heldout_fraction=0.0, regression_fraction=0.0, store=store)
    assert store.load("default") is None


def test_both_forms_of_one_interaction_share_a_split(tmp_path: Path) -> None:
    pairs = [
        TrainingExample(example_id=f"{kind}-{i}", group_id=f"fb{i}", kind=kind, question=f"q{i}", reference="a")
        for i in range(200)
        for kind in ("instruction", "raft")
    ]
    splits = make_splits(pairs, heldout_fraction=0.2, regression_fraction=0.1, store=RegressionStore(tmp_path))
    side = {}
    for name, members in (("train", splits.train), ("heldout", splits.heldout), ("regression", splits.regression)):
        for ex in members:
            assert side.setdefault(ex.group_id, name) == name, f"{ex.group_id} is on two sides"
    assert len(side) == 200 and splits.heldout and splits.regression
