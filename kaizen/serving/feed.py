"""Reading topics without a consumer group: every replica sees every record (adapter events, responses)."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from kaizen.config import Settings
from kaizen.streaming.admin import bootstrap_servers


async def _partitions(consumer: AIOKafkaConsumer, topic: str, *, attempts: int = 50) -> list[TopicPartition]:
    for _ in range(attempts):
        await consumer.topics()  # refreshes metadata
        if parts := consumer.partitions_for_topic(topic):
            return [TopicPartition(topic, p) for p in sorted(parts)]
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} does not exist (create the topics first: kaizen up creates them)")


async def assigned_consumer(
    settings: Settings,
    *,
    from_start: list[str] = (),
    from_end: list[str] = (),  # type: ignore[assignment]
    from_tail: list[str] = (),  # type: ignore[assignment]
    tail_records: int = 0,
) -> AIOKafkaConsumer:
    """A started consumer assigned every partition of the given topics, positions already resolved.

    ``from_tail`` topics start about ``tail_records`` records before their end (spread over the partitions).
    Positions are resolved before returning, so a record produced after this returns is never skipped. (On Tansu,
    end offsets can be under-reported, so "end" and "tail" may replay a few more records: readers must tolerate
    that.)"""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        start = [tp for topic in from_start for tp in await _partitions(consumer, topic)]
        end = [tp for topic in from_end for tp in await _partitions(consumer, topic)]
        tail = [tp for topic in from_tail for tp in await _partitions(consumer, topic)]
        consumer.assign(start + end + tail)
        if start:
            await consumer.seek_to_beginning(*start)
        if end:
            await consumer.seek_to_end(*end)
        if tail:
            per_partition = -(-tail_records // len(tail))
            first = await consumer.beginning_offsets(tail)
            last = await consumer.end_offsets(tail)
            for tp in tail:
                consumer.seek(tp, max(first[tp], last[tp] - per_partition))
        for tp in start + end + tail:
            await consumer.position(tp)
    except BaseException:
        await consumer.stop()
        raise
    return consumer
