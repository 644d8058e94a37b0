"""Watching scaled-out service replicas from outside: who owns which partitions, and how much each answered."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families


def owned(url: str, topic: str) -> set[int]:
    """The partitions of ``topic`` the replica at ``url`` owns now (its /healthz says)."""
    body = httpx.get(url + "/healthz", timeout=2).json()
    return set(body.get("assignment", {}).get(topic, []))


def wait_split(urls: list[str], topic: str, partitions: int, timeout: float = 60) -> list[set[int]]:
    """Until the group has settled: every replica owns some partitions, none twice, all of them owned."""
    deadline = time.monotonic() + timeout
    while True:
        split = [owned(url, topic) for url in urls]
        union = set().union(*split)
        if all(split) and sum(len(s) for s in split) == len(union) and union == set(range(partitions)):
            return split
        if time.monotonic() > deadline:
            raise TimeoutError(f"the group never split {topic} over {len(urls)} replicas: {split}")
        time.sleep(0.25)


def answered(url: str) -> float:
    """Requests the serving replica at ``url`` has answered (kaizen_interactions_total, every label)."""
    text = httpx.get(url + "/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "kaizen_interactions"
        for sample in family.samples
        if sample.name == "kaizen_interactions_total"
    )
