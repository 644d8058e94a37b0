"""Canary routing: sticky per user, and the configured share of users."""

from __future__ import annotations

import pytest

from kaizen.llm.canary import CanaryRouter


def test_a_user_stays_on_one_side() -> None:
    router = CanaryRouter(share=0.3)
    for user in (f"user-{i}" for i in range(200)):
        first = router.choose(user, "active", "candidate")
        assert all(router.choose(user, "active", "candidate") == first for _ in range(5))
        assert CanaryRouter(share=0.3).choose(user, "active", "candidate") == first  # across processes too


@pytest.mark.parametrize("share", [0.0, 0.1, 0.5, 1.0])
def test_share_of_users_goes_to_the_candidate(share: float) -> None:
    router = CanaryRouter(share=share)
    chosen = [router.choose(f"user-{i}", "active", "candidate") for i in range(10_000)]
    assert abs(chosen.count("candidate") / len(chosen) - share) < 0.02


def test_growing_the_share_keeps_canary_users_in_the_canary() -> None:
    small, large = CanaryRouter(share=0.1), CanaryRouter(share=0.4)
    users = [f"user-{i}" for i in range(2_000)]
    assert all(large.in_canary(u) for u in users if small.in_canary(u))


def test_without_candidate_everyone_gets_the_active_adapter() -> None:
    router = CanaryRouter(share=1.0)
    assert router.choose("anyone", "v1", None) == "v1"
    assert router.choose("anyone", None, None) is None


def test_share_is_validated() -> None:
    with pytest.raises(ValueError):
        CanaryRouter(share=1.5)
