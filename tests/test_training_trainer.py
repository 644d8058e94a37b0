"""The training loop's batching: every example once per epoch, in batches of similar length, in random order."""

from __future__ import annotations

import random

from kaizen.training.config import TrainingConfig
from kaizen.training.data import Encoded
from kaizen.training.trainer import _micro_batches


def _item(i: int, length: int) -> Encoded:
    return Encoded(example_id=f"e{i}", input_ids=[1] * length, labels=[1] * length)


def test_batches_group_similar_lengths_and_cover_the_epoch() -> None:
    rng = random.Random(0)
    # Short instructions and long RAFT examples interleaved, as a curated dataset mixes them.
    items = [_item(i, 60 + i % 7 if i % 3 else 900 + i) for i in range(40)]
    batches = _micro_batches(items, TrainingConfig(batch_size=4), random.Random(1))
    assert sorted(it.example_id for b in batches for it in b) == sorted(it.example_id for it in items)
    padded = sum(len(b) * max(len(it.input_ids) for it in b) for b in batches)
    real = sum(len(it.input_ids) for it in items)
    assert padded < 1.2 * real  # sorted pools: little padding (one batch may straddle the two lengths)
    shuffled = items[:]
    rng.shuffle(shuffled)
    naive = sum(4 * max(len(it.input_ids) for it in shuffled[i : i + 4]) for i in range(0, 40, 4))
    assert naive > 1.5 * padded  # what unsorted batches would have cost
    again = _micro_batches(items, TrainingConfig(batch_size=4), random.Random(1))
    assert [[it.example_id for it in b] for b in again] == [[it.example_id for it in b] for b in batches]
    lengths = [len(b[0].input_ids) for b in batches]
    assert lengths != sorted(lengths)  # batches come in random order, not shortest first


def test_learning_rate_warms_up_then_falls_linearly_or_holds() -> None:
    import itertools

    from kaizen.training.trainer import lr_factor

    linear = [lr_factor(s, 2, 10, "linear") for s in range(10)]
    assert linear[:2] == [0.5, 1.0]
    assert all(a > b for a, b in itertools.pairwise(linear[1:])) and 0 < linear[-1] < 0.2
    assert [lr_factor(s, 1, 5, "constant") for s in range(5)] == [1.0] * 5
