"""Faults of stored state for bench/faults.py: an adapter's files corrupted, a full disk under a dataset version."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from bench._faults_harness import TENANT, FaultResult, Suite, answered_by, refused_adapter_events
from kaizen.datasets.store import DatasetStore


def fault_corrupt_adapter(suite: Suite, n: int) -> FaultResult:
    """A registered adapter's weights truncated before its promotion: refused at load, the active one serves on."""
    from bench.serving import make_adapters
    from kaizen.llm.prepare import resolve_base_model
    from kaizen.registry import AdapterRegistry

    model_dir = resolve_base_model(suite.settings)
    good, corrupt = make_adapters(suite.settings, model_dir, ["faults-good", "faults-corrupt"], tenant=TENANT)
    weights = AdapterRegistry(suite.settings.registry_dir).adapter_path(corrupt.version) / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with suite.producer() as producer:
        producer.send(suite.topics.adapters, good.to_bytes(), key=TENANT.encode())
        producer.flush()
    deadline = time.monotonic() + 120
    while "faults-good" not in answered_by(suite, "warm", 1):
        assert time.monotonic() < deadline, "the good adapter was never served"
    refused_before = refused_adapter_events(suite)
    started = time.monotonic()
    with suite.producer() as producer:
        producer.send(suite.topics.adapters, corrupt.to_bytes(), key=TENANT.encode())
        producer.flush()
    while refused_adapter_events(suite) <= refused_before and time.monotonic() - started < 120:
        time.sleep(0.5)
    refused = refused_adapter_events(suite) - refused_before
    versions = answered_by(suite, "after the corrupt one", n)
    served_good = sum(v == "faults-good" for v in versions)
    return FaultResult(
        fault="adapter corrupted after registration",
        sent=n,
        answered=served_good,
        lost=n - len(versions),
        duplicated=0,
        recover_s=None,
        passed=served_good == n and refused >= 1,
        note=f"kaizen_adapter_events_total{{outcome=failed}} +{refused:.0f}; every answer by the promoted adapter",
    )


def fault_disk_full(n: int) -> FaultResult:
    """A dataset version written to a 256 kB tmpfs that fills up: nothing half-written is ever visible."""

    from kaizen.events import InstructionExample

    mount = Path(tempfile.mkdtemp(prefix="kaizen-full-"))
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)]).returncode:
        return FaultResult(
            fault="disk full while writing a dataset version",
            sent=0,
            answered=0,
            lost=0,
            duplicated=0,
            passed=True,
            note="skipped: mounting a tmpfs needs root",
        )
    try:
        store = DatasetStore(mount / "datasets", writer="faults")

        def examples(count: int, size: int) -> list[InstructionExample]:
            return [
                InstructionExample(
                    tenant=TENANT,
                    example_id=f"full-{i}",
                    feedback_id=uuid.uuid5(uuid.NAMESPACE_URL, f"full/{i}"),
                    response_id=uuid.uuid5(uuid.NAMESPACE_URL, f"full/r/{i}"),
                    instruction=f"Question {i}?",
                    output="x" * size,
                )
                for i in range(count)
            ]

        kept = store.add_version(TENANT, instructions=examples(3, 100), source="faults")
        try:
            store.add_version(TENANT, instructions=examples(200, 2000), source="faults")  # ~400 kB
            failed = False
        except OSError:
            failed = True
        visible = [m.version for m in store.list_versions(TENANT)]
        leftovers = [p.name for p in store.versions_dir.iterdir() if p.name.startswith(".tmp")]
        ok = failed and visible == [kept.version] and not leftovers and store.verify(kept.version)
        return FaultResult(
            fault="disk full while writing a dataset version",
            sent=2,
            answered=1,
            lost=0,
            duplicated=0,
            passed=ok,
            note=f"write refused by ENOSPC: {failed}; visible versions {len(visible)}; temp dirs left {len(leftovers)}",
        )
    finally:
        subprocess.run(["umount", str(mount)], check=False)
