"""Disk full while a dataset version is written: no half-written version is ever visible, and the next try works."""

from __future__ import annotations

import errno
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kaizen.datasets.store import DatasetStore
from kaizen.events import InstructionExample


def examples(n: int, size: int) -> list[InstructionExample]:
    return [
        InstructionExample(
            tenant="acme",
            example_id=f"ex-{i}",
            feedback_id=uuid.uuid5(uuid.NAMESPACE_URL, f"full/{i}"),
            response_id=uuid.uuid5(uuid.NAMESPACE_URL, f"full/r/{i}"),
            instruction=f"Question {i}?",
            output=f"Answer {i}: " + "x" * size,
        )
        for i in range(n)
    ]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 kB tmpfs: a real ENOSPC from the kernel (root only, where mounting is allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_leaves_no_version_and_no_leftovers(small_disk: Path) -> None:
    store = DatasetStore(small_disk / "datasets", writer="test")
    small = store.add_version("acme", instructions=examples(3, 100), source="test")
    with pytest.raises(OSError) as err:
        store.add_version("acme", instructions=examples(200, 2000), source="test")  # ~400 kB on 256 kB
    assert err.value.errno == errno.ENOSPC
    assert [m.version for m in store.list_versions("acme")] == [small.version]
    assert not [p for p in store.versions_dir.iterdir() if p.name.startswith(".tmp")]
    assert store.verify(small.version)


def test_a_write_failing_midway_is_never_visible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = DatasetStore(tmp_path / "datasets", writer="test")
    real = Path.write_text

    def full(self: Path, *args: object, **kwargs: object) -> int:
        if self.name == "manifest.json":  # the examples are written, the manifest is not
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError):
        store.add_version("acme", instructions=examples(3, 10), source="test")
    monkeypatch.undo()
    assert store.list_versions("acme") == []
    assert not [p for p in store.versions_dir.iterdir() if p.name.startswith(".tmp")]
    written = store.add_version("acme", instructions=examples(3, 10), source="test")  # space again: it works
    assert store.verify(written.version)
