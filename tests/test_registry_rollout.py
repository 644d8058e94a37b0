"""The adapter rollout state machine: per-tenant promote, canary share, rollback, leases, retiring, the LRU."""

from __future__ import annotations

import pytest

from kaizen.events import AdapterAction, AdapterEvent
from kaizen.registry.rollout import AdapterNotFound, AdapterRollout, TenantAdapters, VersionState, in_canary

CHECKSUM = "c" * 64


def event(action: AdapterAction, version: str, tenant: str = "alpha", **extra: object) -> AdapterEvent:
    return AdapterEvent(
        tenant=tenant, action=action, version=version, manifest_url=f"file:///r/{version}", checksum=CHECKSUM, **extra
    )


def loaded_rollout(max_loaded: int = 16) -> AdapterRollout:
    """A rollout whose every committed version is loaded at once, as serving does."""
    return AdapterRollout(default_share=0.25, max_loaded=max_loaded)


def commit_and_load(rollout: AdapterRollout, e: AdapterEvent) -> set[str]:
    transition = rollout.plan(e)
    for version in transition.to_load:
        rollout.mark_loaded(version)
    return rollout.commit(transition)


def test_promotion_replaces_the_promoted_version_and_ends_the_canary() -> None:
    rollout = AdapterRollout()
    rollout.apply(event(AdapterAction.promoted, "a1"))
    rollout.apply(event(AdapterAction.canary, "a2", canary_share=0.3))
    assert rollout.tenant("alpha") == TenantAdapters(promoted="a1", canary="a2", share=0.3, history=(None,))
    dropped = rollout.apply(event(AdapterAction.promoted, "a3"))
    assert dropped == {"a1", "a2"}
    assert rollout.tenant("alpha") == TenantAdapters(promoted="a3", history=(None, "a1"))
    assert rollout.state("a3") == VersionState.promoted and rollout.state("a1") == VersionState.previous
    assert rollout.state("a2") == VersionState.unloaded


def test_promoting_the_canary_keeps_it_loaded_and_a_canary_of_the_promoted_version_is_a_no_op() -> None:
    rollout = AdapterRollout()
    rollout.apply(event(AdapterAction.promoted, "a1"))
    assert rollout.apply(event(AdapterAction.canary, "a1")) == set()
    assert rollout.tenant("alpha").canary is None
    rollout.apply(event(AdapterAction.canary, "a2"))
    assert rollout.tenant("alpha").share == 0.1  # the default share when the event names none
    transition = rollout.plan(event(AdapterAction.promoted, "a2"))
    assert transition.to_load == set() and transition.dropped == {"a1"}


def test_rollback_serves_the_named_version_pops_history_and_drops_the_canary() -> None:
    rollout = AdapterRollout()
    for version in ("a1", "a2"):
        rollout.apply(event(AdapterAction.promoted, version))
    rollout.apply(event(AdapterAction.canary, "a3"))
    assert rollout.apply(event(AdapterAction.rollback, "a1", previous_version="a2")) == {"a2", "a3"}
    assert rollout.tenant("alpha") == TenantAdapters(promoted="a1", history=(None,))


def test_canary_share_is_one_stable_hash_of_the_user() -> None:
    users = [f"u{i}" for i in range(2000)]
    share = sum(in_canary(u, 0.1) for u in users) / len(users)
    assert 0.07 < share < 0.13
    assert [in_canary(u, 0.1) for u in users] == [in_canary(u, 0.1) for u in users]
    assert not any(in_canary(u, 0.0) for u in users) and all(in_canary(u, 1.0) for u in users)
    smaller = {u for u in users if in_canary(u, 0.1)}
    assert smaller <= {u for u in users if in_canary(u, 0.4)}  # growing a canary only adds users

    rollout = AdapterRollout()
    rollout.apply(event(AdapterAction.promoted, "a1"))
    rollout.apply(event(AdapterAction.canary, "a2", canary_share=0.1))
    assert {u for u in users if rollout.choose("alpha", u) == "a2"} == smaller


def test_tenants_are_apart_and_pins_stay_inside_their_tenant() -> None:
    rollout = AdapterRollout()
    rollout.apply(event(AdapterAction.promoted, "a1"))
    rollout.apply(event(AdapterAction.promoted, "b1", tenant="beta"))
    rollout.apply(event(AdapterAction.candidate, "b2", tenant="beta"))
    assert [rollout.choose(t, "u") for t in ("alpha", "beta", "gamma")] == ["a1", "b1", None]
    assert rollout.choose("beta", "u", pin="b2") == "b2"  # its own candidate may be pinned
    for tenant, pin in (("alpha", "b1"), ("alpha", "b2"), ("gamma", "a1"), ("beta", "beta-v0001")):
        with pytest.raises(AdapterNotFound, match=f"tenant '{tenant}' has no adapter '{pin}'"):
            rollout.choose(tenant, "u", pin=pin)
    with pytest.raises(ValueError, match="belongs to tenant 'beta'"):
        rollout.plan(event(AdapterAction.promoted, "b1", tenant="alpha"))
    assert rollout.roles() == [("alpha", "a1", "active"), ("beta", "b1", "active")]


def test_leases_keep_a_retired_version_loaded_until_released() -> None:
    rollout = loaded_rollout()
    commit_and_load(rollout, event(AdapterAction.promoted, "a1"))
    rollout.acquire("a1")  # a request is answering with a1
    commit_and_load(rollout, event(AdapterAction.promoted, "a2"))
    assert rollout.state("a1") == VersionState.retiring and rollout.to_unload() == []
    rollout.release("a1")
    assert rollout.to_unload() == ["a1"]
    rollout.mark_unloaded("a1")
    assert rollout.state("a1") == VersionState.previous and rollout.loaded == ["a2"]


def test_past_max_loaded_idle_tenants_go_first_and_versions_without_a_role_before_them() -> None:
    rollout = loaded_rollout(max_loaded=3)
    for tenant in ("t1", "t2", "t3"):
        commit_and_load(rollout, event(AdapterAction.promoted, f"{tenant}-v1", tenant=tenant))
    assert rollout.to_unload() == []
    rollout.touch("t1-v1")  # t1 answered a request: t2 is now the idlest
    commit_and_load(rollout, event(AdapterAction.promoted, "t4-v1", tenant="t4"))
    assert rollout.to_unload() == ["t2-v1"]

    rollout.mark_unloaded("t2-v1")
    rollout.acquire("t2-v1")  # t2's next request reloads it
    rollout.mark_loaded("t2-v1")
    rollout.acquire("t1-v1")
    assert rollout.to_unload() == ["t3-v1"]  # leased ones never go, t1 included
    rollout.release("t1-v1")

    commit_and_load(rollout, event(AdapterAction.promoted, "t2-v2", tenant="t2"))
    # t2-v1 lost its role but is leased; once released it goes before any serving version.
    assert "t2-v1" not in rollout.to_unload()
    rollout.release("t2-v1")
    assert rollout.to_unload()[0] == "t2-v1"


def test_relevant_history_replays_to_the_same_state_per_tenant() -> None:
    history = [
        event(AdapterAction.promoted, "a1"),
        event(AdapterAction.promoted, "b1", tenant="beta"),
        event(AdapterAction.candidate, "a-exp"),
        event(AdapterAction.promoted, "a2"),
        event(AdapterAction.canary, "b2", tenant="beta", canary_share=0.5),
        event(AdapterAction.canary, "a3"),
        event(AdapterAction.canary, "a4", canary_share=0.2),
        event(AdapterAction.rollback, "b1", tenant="beta", previous_version="b1"),
    ]
    full, short = AdapterRollout(), AdapterRollout()
    for e in history:
        full.apply(e)
    relevant = AdapterRollout.relevant(history)
    assert [e.version for e in relevant] == ["a-exp", "a2", "a4", "b1"]
    for e in relevant:
        short.apply(e)
    for tenant in ("alpha", "beta"):
        now, replayed = full.tenant(tenant), short.tenant(tenant)
        assert (now.promoted, now.canary, now.share) == (replayed.promoted, replayed.canary, replayed.share)
    assert short.choose("alpha", "u", pin="a-exp") == "a-exp"
