"""The training loop's batching: every example once per epoch, in batches of similar length, in random order."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

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


def test_pieces_stay_within_the_token_budget_and_keep_every_example() -> None:
    from kaizen.training.data import split_by_tokens

    items = [_item(0, 60), _item(1, 400), _item(2, 70), _item(3, 380), _item(4, 900)]
    pieces = split_by_tokens(items, 512)
    assert sorted(it.example_id for p in pieces for it in p) == [f"e{i}" for i in range(5)]
    assert [[it.example_id for it in p] for p in pieces] == [["e0", "e2"], ["e3"], ["e1"], ["e4"]]
    # Within budget, except an example longer than it, which runs alone.
    assert all(len(p) * max(len(it.input_ids) for it in p) <= 512 or len(p) == 1 for p in pieces)
    assert split_by_tokens(items, 10_000) == [sorted(items, key=lambda it: len(it.input_ids))]


def test_a_batch_run_in_pieces_gets_the_gradient_of_the_whole_batch(tiny_lm_dir: Path) -> None:
    """The budget changes memory, not training: the summed piece losses are the batch's mean loss."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from kaizen.events import InstructionExample
    from kaizen.training.data import collate, encode, split_by_tokens, to_training_examples
    from kaizen.training.trainer import answer_loss

    tok = AutoTokenizer.from_pretrained(tiny_lm_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm_dir).eval()  # eval: no dropout, so runs compare exactly
    examples = to_training_examples(
        [
            InstructionExample(
                example_id=f"x{i}",
                feedback_id=uuid.uuid4(),
                response_id=uuid.uuid4(),
                instruction="Where is it? " * (1 + 5 * i),
                output=f"It is in room {i}. " * (1 + i),
                accepted=True,
            )
            for i in range(4)
        ]
    )
    items = [e for e in (encode(tok, ex, max_length=512) for ex in examples) if e is not None]

    def gradient(pieces: list[list[Encoded]]) -> list[torch.Tensor]:
        model.zero_grad()
        normalizer = sum(it.answer_tokens for it in items)
        total = 0.0
        for piece in pieces:
            loss = answer_loss(model, collate(piece, tok.pad_token_id), bf16=False, normalizer=normalizer)
            loss.backward()
            total += float(loss.detach())
        whole = answer_loss(model, collate(items, tok.pad_token_id), bf16=False)
        assert abs(total - float(whole)) < 1e-4
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    budget = 2 * max(len(it.input_ids) for it in items)
    split = split_by_tokens(items, budget)
    assert len(split) > 1
    for a, b in zip(gradient([items]), gradient(split), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
