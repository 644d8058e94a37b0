"""The soak: ``kaizen up`` as a user starts it, simulated users asking and giving feedback through the gateway for
an hour, the watch deployment free to trigger retrains. Shows that it holds steady: one retrain at a time, memory
flat, no OOM kill (issue #19: the retrain storm that took the machine down).

Every ~15 s it samples the RSS of every process under ``kaizen up`` by part, the machine's available memory, the
retrain flow runs by state (Prefect API) and the traffic. ``python bench/soak.py [--minutes 60]`` writes
bench/results/soak.json (``--quick``: 5 minutes, written only where no result exists).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._soak_probe import FLOW_RUN, PrefectProbe, logged_peaks, oom_kills, tree_rss  # noqa: E402
from bench._soak_summary import (  # noqa: E402
    RETRAIN_FLOW,
    Sample,
    max_overlap,
    max_sampled_processes,
    max_sampled_running,
    sampled_retrain_peaks,
    summarize_memory,
)
from bench._soak_traffic import TOKEN, Traffic, ingest  # noqa: E402
from kaizen.config import Settings  # noqa: E402
from kaizen.streaming.broker import free_port  # noqa: E402

MB = 1024 * 1024
SLOPE_TARGET = 25.0  # MB per 10 minutes: 150 MB an hour, ~5% of the platform's ~3 GB, is "flat"
IN_FLIGHT = ("SCHEDULED", "PENDING", "RUNNING", "PAUSED")


def up_environment(
    work: Path, settings: Settings, min_examples: int, interval_s: int
) -> tuple[dict[str, str], int, int]:
    gateway, prefect = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAIZEN_", "PREFECT_"))}
    env |= {
        "PYTHONPATH": str(ROOT),  # this checkout's code, in the supervisor and every part it starts
        "COLUMNS": "300",  # status lines unwrapped in the log
        "KAIZEN_DATA_DIR": str(work / "data"),
        "KAIZEN_MODELS_DIR": str(settings.resolved_models_dir.resolve()),  # the prepared model, not a second one
        "KAIZEN_GATEWAY_PORT": str(gateway),
        "KAIZEN_PREFECT_PORT": str(prefect),
        "KAIZEN_API_TOKENS": json.dumps({TOKEN: "default"}),
        # Several triggers within the hour: the point is to show one retrain at a time while more data arrives.
        "KAIZEN_RETRAIN_MIN_NEW_EXAMPLES": str(min_examples),
        # The schedule fires within the run too, beside the watch: both must respect a retrain in flight.
        "KAIZEN_RETRAIN_INTERVAL_SECONDS": str(interval_s),
    }
    return env, gateway, prefect


def wait_ready(up: subprocess.Popen[bytes], log: Path, gateway: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if up.poll() is not None:
            raise RuntimeError(f"kaizen up exited with {up.returncode}:\n{log.read_text()[-3000:]}")
        text = log.read_text(errors="replace")
        if "flows: healthy" in text:
            try:
                if httpx.get(f"{gateway}/healthz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
        time.sleep(2)
    raise TimeoutError(f"kaizen up was not healthy within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def take_sample(up_pid: int, probe: PrefectProbe, traffic: Traffic, started: float) -> Sample:
    runs = probe.flow_runs()
    names = {r.id: r.flow for r in runs}
    rows = tree_rss(up_pid, names)
    parts: dict[str, float] = {}
    flow_runs: dict[str, float] = {}
    for row in rows:
        target = flow_runs if row.part.startswith(FLOW_RUN) else parts
        target[row.part] = round(target.get(row.part, 0.0) + row.rss_mb, 1)
    states: dict[str, int] = {}
    for r in runs:
        if r.flow != RETRAIN_FLOW:
            continue
        states[r.state] = states.get(r.state, 0) + 1
    counts = traffic.counts()
    return Sample(
        t_s=round(time.monotonic() - started, 1),
        parts_mb=parts,
        flow_runs_mb=flow_runs,
        available_mb=round(psutil.virtual_memory().available / MB, 1),
        load_1m=round(os.getloadavg()[0], 2),
        retrain_states=states,
        sent=counts.sent,
        answered=counts.answered,
        failed=counts.submit_failed + counts.timed_out,
    )


def stop_up(up: subprocess.Popen[bytes]) -> int | None:
    """Ctrl-C as a user would (the supervisor stops every part in order); SIGKILL whatever is left after 120 s."""
    try:
        family = psutil.Process(up.pid).children(recursive=True)
    except psutil.Error:
        family = []
    up.send_signal(signal.SIGINT)
    try:
        up.wait(timeout=120)
    except subprocess.TimeoutExpired:
        up.kill()
        up.wait(timeout=10)
    for proc in family:
        try:
            proc.kill()
        except psutil.Error:
            continue
    return up.returncode


def retrain_report(probe: PrefectProbe, cap_mb: int, samples: list[Sample]) -> dict[str, object]:
    runs = probe.flow_runs()
    retrains = sorted((r for r in runs if r.flow == RETRAIN_FLOW), key=lambda r: r.start_time or "~")
    watches = [r for r in runs if r.flow == "watch-new-examples" and r.start_time]
    logs = probe.logs([r.id for r in retrains + watches if r.start_time])
    sampled = sampled_retrain_peaks(samples)
    now = datetime.now(UTC)
    intervals = [
        (datetime.fromisoformat(r.start_time), datetime.fromisoformat(r.end_time) if r.end_time else now)
        for r in retrains
        if r.start_time
    ]
    per_run = []
    for r in retrains:
        peaks = logged_peaks(logs.get(r.id, []))
        peak = max(peaks.values(), default=None)
        per_run.append(
            {
                "name": r.name,
                "deployment": r.deployment,
                "state": r.state,
                "start": r.start_time,
                "end": r.end_time,
                "message": r.message[:300],
                "logged_peak_rss_mb": peak,
                "logged_peaks_by_stage_mb": peaks,
                "sampled_peak_rss_mb": sampled.get(r.id),
                "under_cap": None if peak is None else peak <= cap_mb,
            }
        )
    blocked = sum(any("not starting another" in m for m in logs.get(w.id, [])) for w in watches)
    states = [r.state for r in retrains]
    return {
        "runs": per_run,
        "started": len(intervals),
        "completed": states.count("COMPLETED"),
        "failed": states.count("FAILED"),
        "crashed": states.count("CRASHED"),
        "in_flight_at_end": sum(s in IN_FLIGHT for s in states),
        "max_concurrent_from_run_times": max_overlap(intervals),
        "max_running_sampled": max_sampled_running(samples),
        "max_retrain_processes_sampled": max_sampled_processes(samples),
        "watch_polls": len(watches),
        "watch_polls_refused_as_in_flight": blocked,
        "by_deployment": {d: sum(1 for r in retrains if r.deployment == d) for d in {r.deployment for r in retrains}},
        "memory_cap_mb": cap_mb,
    }


def part_restarts(log: Path) -> list[str]:
    return [line.strip() for line in log.read_text(errors="replace").splitlines() if "exited with code" in line]


def machine(note: str) -> dict[str, object]:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "note": note,
    }


def run(args: argparse.Namespace) -> dict[str, object]:
    settings = Settings()
    work = Path(tempfile.mkdtemp(prefix="kaizen-soak-"))
    env, gateway_port, prefect_port = up_environment(work, settings, args.min_examples, args.interval_s)
    gateway, prefect_api = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{prefect_port}/api"
    log = work / "up.log"
    oom_before = oom_kills()
    print(f"work dir {work}; kaizen up log {log}", flush=True)
    with log.open("wb") as out:
        up = subprocess.Popen(
            [sys.executable, "-m", "kaizen.cli.main", "up"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal would give it
        )
    samples: list[Sample] = []
    probe = PrefectProbe(prefect_api)
    started_up = time.monotonic()
    up_code: int | None = None
    try:
        wait_ready(up, log, gateway)
        ready_s = round(time.monotonic() - started_up, 1)
        print(f"kaizen up healthy after {ready_s} s", flush=True)
        store_settings = Settings(data_dir=work / "data", models_dir=settings.resolved_models_dir)
        documents = ingest(gateway, store_settings)
        traffic = Traffic(gateway, users=args.users, think_s=args.think)
        started = time.monotonic()
        traffic.start()
        with (work / "samples.jsonl").open("w") as trace:
            while (elapsed := time.monotonic() - started) < args.minutes * 60 and up.poll() is None:
                sample = take_sample(up.pid, probe, traffic, started)
                samples.append(sample)
                trace.write(sample.model_dump_json() + "\n")
                trace.flush()
                c = traffic.counts()
                print(
                    f"{elapsed / 60:5.1f} min  platform {sample.platform_mb:7.0f} MB  serving {sample.serving_mb:6.0f}"
                    f"  flow runs {sum(sample.flow_runs_mb.values()):6.0f}  avail {sample.available_mb:6.0f}"
                    f"  retrains {sample.retrain_states}  sent {c.sent} answered {c.answered} failed "
                    f"{c.submit_failed + c.timed_out}",
                    flush=True,
                )
                time.sleep(args.sample_s)
        traffic.stop()
        retrains = retrain_report(probe, settings.retrain_memory_mb, samples)
        alive = up.poll() is None
    finally:
        probe.close()
        up_code = stop_up(up)
    oom_after = oom_kills()
    counts = traffic.counts()
    warmup = min(600.0, 0.3 * args.minutes * 60)
    memory = summarize_memory(samples, warmup)
    restarts = part_restarts(log)
    oom = None if oom_before is None or oom_after is None else oom_after - oom_before
    started_n = int(retrains["started"])  # type: ignore[call-overload]
    peaks = [r["logged_peak_rss_mb"] for r in retrains["runs"] if r["logged_peak_rss_mb"] is not None]  # type: ignore[attr-defined]
    targets = {
        "one_retrain_at_a_time": int(retrains["max_concurrent_from_run_times"]) <= 1  # type: ignore[call-overload]
        and int(retrains["max_running_sampled"]) <= 1,  # type: ignore[call-overload]
        "retrains_exercised": started_n >= 2,
        "no_oom_kill": oom == 0 and int(retrains["crashed"]) == 0,  # type: ignore[call-overload]
        "memory_flat_serving": memory.serving_slope_mb_per_10min is not None
        and memory.serving_slope_mb_per_10min <= SLOPE_TARGET,
        "memory_flat_platform": memory.platform_slope_mb_per_10min is not None
        and memory.platform_slope_mb_per_10min <= SLOPE_TARGET,
        "retrain_peak_under_cap": all(p <= settings.retrain_memory_mb for p in peaks),
        "platform_up_throughout": alive and not restarts,
        "nothing_lost": counts.lost == 0,
    }
    return {
        "minutes": args.minutes,
        "machine": machine(args.note),
        "settings": {
            "users": args.users,
            "think_s": args.think,
            "sample_s": args.sample_s,
            "retrain_min_new_examples": args.min_examples,
            "retrain_interval_seconds": args.interval_s,
            "watch_poll_s": 60,
            "retrain_memory_mb": settings.retrain_memory_mb,
            "documents_ingested": documents,
        },
        "startup_s": ready_s,
        "traffic": counts.model_dump() | traffic.latency(),
        "memory": memory.model_dump(),
        "slope_target_mb_per_10min": SLOPE_TARGET,
        "retrains": retrains,
        "oom_kills": oom,
        "part_restarts": restarts,
        "kaizen_up_exit_code": up_code,
        "targets": targets,
        "passed": all(targets.values()),
        "samples": [s.model_dump() for s in samples],
        "work_dir": str(work),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="5 minutes; the result file is kept if there is one")
    parser.add_argument("--users", type=int, default=2, help="simulated users asking at once")
    parser.add_argument("--think", type=float, default=3.0, help="seconds a user waits between questions")
    parser.add_argument("--sample-s", type=float, default=15.0)
    parser.add_argument("--min-examples", type=int, default=15, help="KAIZEN_RETRAIN_MIN_NEW_EXAMPLES")
    parser.add_argument("--interval-s", type=int, default=600, help="KAIZEN_RETRAIN_INTERVAL_SECONDS")
    parser.add_argument("--note", default="", help="what else ran on the machine")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak.json")
    args = parser.parse_args()
    if args.quick:
        args.minutes = 5.0
    report = run(args)
    if not args.quick or not args.out.exists():
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k not in ("samples", "memory", "retrains")}, indent=1))
    print(json.dumps(report["retrains"], indent=1)[:4000])
    sys.exit(0 if report["passed"] else 1)


if __name__ == "__main__":
    main()
