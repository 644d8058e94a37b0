"""Which adapter version serves each tenant: the one state machine that adapter events drive.

Serving (kaizen.serving.adapters), the gateway's metrics and the adapter feed's replay all read adapter events
through this class, so they agree on what a promotion, a canary or a rollback means and on who is in a canary.
It does no I/O: a transition says what must be loaded before it takes effect, and ``to_unload`` says what may go;
the serving driver loads and unloads. Loaded versions live in an LRU (after vLLM's ``LRUCacheWorkerLoRAManager``):
past ``max_loaded`` the least recently used unleased ones are unloaded, versions without a role first.
"""

from __future__ import annotations

import hashlib
from collections import Counter, OrderedDict
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from kaizen.events import AdapterAction, AdapterEvent

CANARY_SALT = "kaizen:canary:"


def in_canary(user_id: str, share: float) -> bool:
    """A stable hash of the user id against the share: one user always sees the same side of a canary."""
    digest = hashlib.sha256(f"{CANARY_SALT}{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


class AdapterNotFound(LookupError):
    """A pin to a version the tenant does not have. Another tenant's version reads the same as an unknown one."""

    code = "adapter_not_found"

    def __init__(self, tenant: str, version: str) -> None:
        super().__init__(f"tenant {tenant!r} has no adapter {version!r}")
        self.tenant = tenant
        self.version = version


class VersionState(StrEnum):
    """Where one known version stands (a version belongs to one tenant)."""

    candidate = "candidate"  # announced, never served by default; a pin by its own tenant may use it
    canary = "canary"  # answers the tenant's canary share
    promoted = "promoted"  # answers the rest of the tenant's users
    previous = "previous"  # an earlier promoted version: a rollback target
    retiring = "retiring"  # no role any more but still loaded (leased by a running request, or pinned lately)
    unloaded = "unloaded"  # no role and not loaded


class TenantAdapters(BaseModel):
    """One tenant's rollout: what serves by default, the canary and its share, and the versions it replaced."""

    model_config = ConfigDict(frozen=True)

    promoted: str | None = None
    canary: str | None = None
    share: float = Field(0.0, ge=0.0, le=1.0, description="The canary's share of users; 0 without a canary.")
    history: tuple[str | None, ...] = ()  # earlier promoted versions, newest last

    @property
    def serving(self) -> set[str]:
        return {v for v in (self.promoted, self.canary) if v is not None}


class Transition(BaseModel):
    """One event's effect on its tenant, computed before anything changes (loading may still refuse it)."""

    model_config = ConfigDict(frozen=True)

    event: AdapterEvent
    before: TenantAdapters
    after: TenantAdapters

    @property
    def tenant(self) -> str:
        return self.event.tenant

    @property
    def to_load(self) -> set[str]:
        """Versions that start serving: loaded and verified before the transition is committed."""
        return self.after.serving - self.before.serving

    @property
    def dropped(self) -> set[str]:
        return self.before.serving - self.after.serving


class Known(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant: str
    checksum: str


class AdapterRollout:
    def __init__(self, *, default_share: float = 0.1, max_loaded: int = 16) -> None:
        self.default_share = default_share
        self.max_loaded = max_loaded
        self._tenants: dict[str, TenantAdapters] = {}
        self._known: dict[str, Known] = {}
        self._loaded: OrderedDict[str, None] = OrderedDict()  # least recently used first
        self._leases: Counter[str] = Counter()
        self._served: set[str] = set()  # versions that were ever promoted or canary

    # --- reading ----------------------------------------------------------------------------------
    def tenant(self, tenant: str) -> TenantAdapters:
        return self._tenants.get(tenant, TenantAdapters())

    @property
    def tenants(self) -> dict[str, TenantAdapters]:
        return dict(self._tenants)

    def known(self, version: str) -> Known | None:
        return self._known.get(version)

    def state(self, version: str) -> VersionState:
        info = self._known.get(version)
        if info is None:
            raise KeyError(version)
        rollout = self.tenant(info.tenant)
        if version == rollout.promoted:
            return VersionState.promoted
        if version == rollout.canary:
            return VersionState.canary
        if version in self._loaded or self._leases[version]:
            return VersionState.retiring
        if version in rollout.history:
            return VersionState.previous
        return VersionState.unloaded if version in self._served else VersionState.candidate

    # --- transitions --------------------------------------------------------------------------------
    def plan(self, event: AdapterEvent) -> Transition:
        """The event's effect, without applying it. Raises ValueError for a version owned by another tenant."""
        owner = self._known.get(event.version)
        if owner is not None and owner.tenant != event.tenant:
            raise ValueError(f"adapter {event.version} belongs to tenant {owner.tenant!r}, not {event.tenant!r}")
        before = self.tenant(event.tenant)
        return Transition(event=event, before=before, after=self._next(before, event))

    def _next(self, now: TenantAdapters, event: AdapterEvent) -> TenantAdapters:
        version = event.version
        if event.action == AdapterAction.promoted:
            # A promotion ends any canary: the candidate either is the promoted version or lost.
            if version == now.promoted:
                return now.model_copy(update={"canary": None, "share": 0.0})
            return TenantAdapters(promoted=version, history=(*now.history, now.promoted))
        if event.action == AdapterAction.canary:
            if version == now.promoted:
                return now
            share = event.canary_share if event.canary_share is not None else self.default_share
            return now.model_copy(update={"canary": version, "share": share})
        if event.action == AdapterAction.rollback:
            # A rollback event names the version now serving (the one rolled back to) and drops any canary.
            history = now.history
            if version != now.promoted and history and history[-1] == version:
                history = history[:-1]
            return now.model_copy(update={"promoted": version, "canary": None, "share": 0.0, "history": history})
        return now  # candidate: known, not serving

    def commit(self, transition: Transition) -> set[str]:
        """Apply a planned transition; returns the versions that stopped serving."""
        event = transition.event
        self._known.setdefault(event.version, Known(tenant=event.tenant, checksum=event.checksum))
        self._tenants[transition.tenant] = transition.after
        self._served.update(transition.after.serving)
        return transition.dropped

    def apply(self, event: AdapterEvent) -> set[str]:
        """Plan and commit at once: for observers that load nothing (the gateway)."""
        return self.commit(self.plan(event))

    @staticmethod
    def relevant(history: list[AdapterEvent]) -> list[AdapterEvent]:
        """Per tenant, the events whose effect lasts: the last promotion or rollback, and the canary after it.

        Replaying these at start-up gives every tenant the state the whole history gives, without loading every
        adapter that was ever promoted. Candidate events are kept so their versions stay pinnable."""
        keep: dict[str, list[int]] = {}
        for index, event in enumerate(history):
            kept = keep.setdefault(event.tenant, [])
            if event.action in (AdapterAction.promoted, AdapterAction.rollback):
                kept[:] = [i for i in kept if history[i].action == AdapterAction.candidate] + [index]
            elif event.action == AdapterAction.canary:
                kept[:] = [i for i in kept if history[i].action != AdapterAction.canary] + [index]
            else:
                kept.append(index)
        return [history[i] for i in sorted(i for kept in keep.values() for i in kept)]

    # --- routing ------------------------------------------------------------------------------------
    def choose(self, tenant: str, user_id: str, pin: str | None = None) -> str | None:
        """The version that answers (None = the base model). A pin must name one of the tenant's own versions."""
        if pin:
            info = self._known.get(pin)
            if info is None or info.tenant != tenant:
                raise AdapterNotFound(tenant, pin)
            return pin
        rollout = self.tenant(tenant)
        if rollout.canary and in_canary(user_id, rollout.share):
            return rollout.canary
        return rollout.promoted

    # --- memory: leases and the LRU of loaded versions -----------------------------------------------
    @property
    def loaded(self) -> list[str]:
        """Loaded versions, least recently used first."""
        return list(self._loaded)

    @property
    def leases(self) -> dict[str, int]:
        return {v: n for v, n in self._leases.items() if n}

    def is_loaded(self, version: str) -> bool:
        return version in self._loaded

    def acquire(self, version: str) -> None:
        """A request (or a transition) uses ``version``: it is not unloaded until ``release``."""
        self._leases[version] += 1
        self.touch(version)

    def release(self, version: str) -> None:
        self._leases[version] -= 1
        if self._leases[version] <= 0:
            del self._leases[version]

    def touch(self, version: str) -> None:
        if version in self._loaded:
            self._loaded.move_to_end(version)

    def mark_loaded(self, version: str) -> None:
        self._loaded[version] = None
        self._loaded.move_to_end(version)

    def mark_unloaded(self, version: str) -> None:
        self._loaded.pop(version, None)

    def to_unload(self) -> list[str]:
        """Loaded, unleased versions to unload now: every one without a role, then least recently used ones
        (idle tenants' promoted and canary versions) while more than ``max_loaded`` are loaded."""
        serving = {v for t in self._tenants.values() for v in t.serving}
        free = [v for v in self._loaded if not self._leases[v]]
        victims = [v for v in free if v not in serving]
        excess = len(self._loaded) - len(victims) - self.max_loaded
        victims += [v for v in free if v in serving][: max(excess, 0)]
        return victims

    # --- metrics ------------------------------------------------------------------------------------
    def roles(self) -> list[tuple[str, str, str]]:
        """(tenant, version, role) for every promoted and canary version; the base model shows as "base"."""
        rows: list[tuple[str, str, str]] = []
        for tenant, rollout in sorted(self._tenants.items()):
            rows.append((tenant, rollout.promoted or "base", "active"))
            if rollout.canary:
                rows.append((tenant, rollout.canary, "canary"))
        return rows
