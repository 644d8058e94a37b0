"""Faust tables the curator core can use as plain mappings, written from batches and timers alike.

A Faust table sends each change to the changelog partition of the *current event*. The curator handles events
in batches (``take_events``) and expires waiting feedback from a timer, where there is no single current event,
so the partition is set explicitly here: per event while a batch is handled, and recorded with each value so a
timer can delete it on the right partition.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator, MutableMapping
from contextvars import ContextVar
from typing import Any

import faust

_PARTITION: ContextVar[int | None] = ContextVar("kaizen_table_partition", default=None)
_HEADER = struct.Struct(">H")


@contextlib.contextmanager
def writing_partition(partition: int) -> Iterator[None]:
    """Table writes in this block go to ``partition`` (the partition of the event being handled)."""
    token = _PARTITION.set(partition)
    try:
        yield
    finally:
        _PARTITION.reset(token)


class PartitionedTable(faust.Table):
    def partition_for_key(self, key: Any) -> int | None:
        partition = _PARTITION.get()
        return partition if partition is not None else super().partition_for_key(key)


def make_table(app: faust.App, name: str, *, partitions: int) -> PartitionedTable:
    table = PartitionedTable(
        app,
        name=name,
        key_type=str,
        value_type=bytes,
        partitions=partitions,
        beacon=app.tables.beacon,
    )
    # Values are already JSON bytes; Faust's default codec for a plain type is json. Set before the store
    # (created lazily) copies the serializers.
    table.value_serializer = "raw"
    return app.tables.add(table)  # type: ignore[return-value]


class TableMapping(MutableMapping[str, bytes]):
    """A ``str -> bytes`` view of a table whose values remember their partition (2-byte header)."""

    def __init__(self, table: faust.Table) -> None:
        self.table = table

    def __getitem__(self, key: str) -> bytes:
        return bytes(self.table[key])[_HEADER.size :]

    def get(self, key: str, default: Any = None) -> Any:
        raw = self.table.get(key)
        return default if raw is None else bytes(raw)[_HEADER.size :]

    def __setitem__(self, key: str, value: bytes) -> None:
        partition = _PARTITION.get()
        if partition is None:
            raise RuntimeError("table write outside writing_partition(): the changelog partition is unknown")
        self.table[key] = _HEADER.pack(partition) + value

    def __delitem__(self, key: str) -> None:
        raw = self.table.get(key)
        if raw is None:
            raise KeyError(key)
        with writing_partition(_HEADER.unpack_from(bytes(raw))[0]):
            del self.table[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.table.keys()))

    def __len__(self) -> int:
        return len(self.table)
