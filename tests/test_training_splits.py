from pathlib import Path

from kaizen.training.data import TrainingExample
from kaizen.training.regression import RegressionStore, general_set
from kaizen.training.splits import Split, make_splits, split_of


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
    store = RegressionStore(tmp_path, general=0)
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


def test_without_a_general_set_an_empty_regression_bucket_is_not_frozen(tmp_path: Path) -> None:
    store = RegressionStore(tmp_path, general=0)
    make_splits(examples(3), heldout_fraction=0.0, regression_fraction=0.0, store=store)
    assert store.load("default") is None


def test_a_first_small_dataset_gets_a_regression_set_from_day_one(tmp_path: Path) -> None:
    store = RegressionStore(tmp_path)
    few = examples(8)
    assert not [e for e in few if split_of(e.split_key, heldout_fraction=0.2, regression_fraction=0.1) == "regression"]
    oldest_first = ["e5", "e2", "e7"]
    splits = make_splits(few, heldout_fraction=0.2, regression_fraction=0.1, store=store, accepted=oldest_first)
    general = general_set("default")
    assert len(general) == 16 and all(e.tenant == "default" for e in general)
    # The earliest accepted answer (10% of 8 interactions, rounded up) plus the shipped general-ability set.
    assert [e.example_id for e in splits.regression] == ["e5", *(e.example_id for e in general)]
    assert "e5" not in {e.example_id for e in splits.train + splits.heldout}
    assert len(splits.train) + len(splits.heldout) == 7
    assert store.load("default") == splits.regression  # frozen: the next retrain judges on the same questions
    later = make_splits(examples(100), heldout_fraction=0.2, regression_fraction=0.1, store=store, accepted=["e9"])
    assert later.regression == splits.regression


def test_a_single_interaction_is_left_to_train_on(tmp_path: Path) -> None:
    store = RegressionStore(tmp_path, general=2)
    splits = make_splits(examples(1), heldout_fraction=0.0, regression_fraction=0.1, store=store, accepted=["e0"])
    assert [e.example_id for e in splits.train] == ["e0"]
    assert [e.example_id for e in splits.regression] == ["general:general-01", "general:general-02"]


def test_both_forms_of_one_interaction_share_a_split(tmp_path: Path) -> None:
    pairs = [
        TrainingExample(example_id=f"{kind}-{i}", group_id=f"fb{i}", kind=kind, question=f"q{i}", reference="a")
        for i in range(200)
        for kind in ("instruction", "raft")
    ]
    store = RegressionStore(tmp_path, general=0)
    splits = make_splits(pairs, heldout_fraction=0.2, regression_fraction=0.1, store=store)
    side = {}
    for name, members in (("train", splits.train), ("heldout", splits.heldout), ("regression", splits.regression)):
        for ex in members:
            assert side.setdefault(ex.group_id, name) == name, f"{ex.group_id} is on two sides"
    assert len(side) == 200 and splits.heldout and splits.regression
