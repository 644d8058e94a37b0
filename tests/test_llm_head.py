"""The vocabulary head: the same logits and gradients as the Linear it replaces, on the same (tied) weight."""

from __future__ import annotations

import torch
from torch import nn

from kaizen.llm.head import VocabHead, use_vocab_head


def test_same_logits_and_gradients_as_the_linear() -> None:
    torch.manual_seed(0)
    linear = nn.Linear(16, 100, bias=False)
    head = VocabHead(linear.weight)
    hidden = torch.randn(3, 5, 16, requires_grad=True)
    sliced = hidden[:, -2:, :]  # non-contiguous, as a model slices the positions it needs logits for
    expected, got = linear(sliced), head(sliced)
    assert got.shape == expected.shape == (3, 2, 100)
    torch.testing.assert_close(got, expected)
    (grad_expected,) = torch.autograd.grad(expected.square().sum(), hidden)
    (grad_got,) = torch.autograd.grad(head(sliced).square().sum(), hidden)
    torch.testing.assert_close(grad_got, grad_expected)


def test_swaps_only_a_bias_free_linear_head_and_keeps_weights_tied() -> None:
    model = nn.Module()
    model.embed = nn.Embedding(100, 16)
    model.lm_head = nn.Linear(16, 100, bias=False)
    model.lm_head.weight = model.embed.weight
    use_vocab_head(model)
    assert isinstance(model.lm_head, VocabHead) and model.lm_head.weight is model.embed.weight
    assert set(dict(model.named_parameters())) == {"embed.weight"}  # still one tied parameter
    other = nn.Module()
    other.lm_head = nn.Linear(16, 100, bias=True)
    assert isinstance(use_vocab_head(other).lm_head, nn.Linear)
