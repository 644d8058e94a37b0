"""Tables opened while another process creates them (the first ``make demo`` crashed on this race)."""

from __future__ import annotations

import multiprocessing
import time
from datetime import timedelta
from pathlib import Path

from kaizen.retrieval.lancedb_store import LanceDBStore
from kaizen.retrieval.types import KnowledgeBaseNotFound
from tests.fixtures.retrieval import DIM
from tests.support.lancedb_writer import create_knowledge_bases

NAMES = [f"kb-{i}" for i in range(40)]


def test_reader_never_sees_a_listed_table_it_cannot_open(tmp_path: Path) -> None:
    """A reader polling while another process creates tables sees each one absent, then complete; never an error."""
    reader = LanceDBStore(tmp_path, dimension=DIM, read_consistency=timedelta(0))
    writer = multiprocessing.get_context("spawn").Process(target=create_knowledge_bases, args=(str(tmp_path), NAMES))
    writer.start()
    seen: set[str] = set()
    polls = absent = 0
    deadline = time.monotonic() + 240
    try:
        while (writer.is_alive() or len(seen) < len(NAMES)) and time.monotonic() < deadline:
            polls += 1
            for name in NAMES:
                if name in seen:
                    continue
                try:
                    if reader.count(tenant="default", knowledge_base=name) == 1:
                        seen.add(name)
                except KnowledgeBaseNotFound:
                    absent += 1
            if not writer.is_alive() and len(seen) < len(NAMES):
                break
    finally:
        writer.join(timeout=60)
        reader.close()
    assert writer.exitcode == 0
    assert seen == set(NAMES)
    assert absent > 0  # the reader really polled while tables were being created


def test_two_processes_create_the_same_tables(tmp_path: Path) -> None:
    """Both create each table at once (and race to index it); each table ends with both documents."""
    spawn = multiprocessing.get_context("spawn")
    writers = [
        spawn.Process(target=create_knowledge_bases, args=(str(tmp_path), NAMES[:15], f"doc-{i}")) for i in range(2)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=240)
    assert [w.exitcode for w in writers] == [0, 0]
    store = LanceDBStore(tmp_path, dimension=DIM)
    assert sorted(store.knowledge_bases(tenant="default")) == sorted(NAMES[:15])
    assert all(store.count(tenant="default", knowledge_base=name) == 2 for name in NAMES[:15])
