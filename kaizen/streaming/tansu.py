"""Workarounds for the embedded Tansu broker's end-offset reports (measured: shared/notes/broker.md).

On ``s3://`` storage Tansu 0.6.0 reports a partition's end offset as 1 after more records were written, even one
record per batch; fetches return every record. Faust's table recovery reads each changelog up to that end offset,
so a restarted worker would recover a fraction of its table. Here the end is found by fetching instead."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition


async def fetched_end_offsets(
    bootstrap: str | list[str], reported: Mapping[TopicPartition, int], *, idle_ms: int = 300
) -> dict[TopicPartition, int]:
    """The true end offset of each partition: read from the reported end until a fetch returns nothing."""
    ends = dict(reported)
    if not ends:
        return ends
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(ends))
        for tp, end in ends.items():
            consumer.seek(tp, max(0, end))
        while True:
            batches = await consumer.getmany(timeout_ms=idle_ms, max_records=10_000)
            if not any(batches.values()):
                return ends
            for tp, records in batches.items():
                ends[tp] = max(ends[tp], records[-1].offset + 1)
    finally:
        await consumer.stop()


def patch_faust_recovery(bootstrap: Sequence[str] | str) -> None:
    """Make Faust's end offsets (its changelog "highwaters") fetched ones; only ever applied on Tansu."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    reported = AIOKafkaConsumerThread._highwaters
    if getattr(reported, "_kaizen_fetched", False):
        return

    async def _highwaters(
        self: AIOKafkaConsumerThread, partitions: list[TopicPartition]
    ) -> Mapping[TopicPartition, int]:
        ends = await reported(self, partitions)
        return await fetched_end_offsets(list(bootstrap) if not isinstance(bootstrap, str) else bootstrap, ends)

    _highwaters._kaizen_fetched = True  # type: ignore[attr-defined]
    AIOKafkaConsumerThread._highwaters = _highwaters  # type: ignore[method-assign]
