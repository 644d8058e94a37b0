"""What the soak (bench/soak.py) samples: the RSS of every process under ``kaizen up`` by part, the retrain flow
runs by state from the Prefect API, and the kernel's OOM-kill counter."""

from __future__ import annotations

import ast
import contextlib
from pathlib import Path

import httpx
import psutil
from pydantic import BaseModel

MB = 1024 * 1024
FLOW_RUN = "flow-run"  # the prefix of a flow run's part name: flow-run:<flow>:<id>
# The command-line marks of each part `kaizen up` starts (its direct children; Tansu and SeaweedFS run under the
# supervisor's embedded broker).
_PART_MARKS = (
    ("services.serving", "serving"),
    ("services.curator", "curator"),
    ("services.indexer", "indexer"),
    ("services.gateway", "gateway"),
    ("flows serve", "flows"),
    ("prefect server", "prefect"),
    ("tansu", "broker"),
    ("weed", "broker-store"),
)
PEAK_MARK = "peak resident memory by stage (MB): "


class ProcessRss(BaseModel):
    pid: int
    part: str
    rss_mb: float


def part_of(cmdline: list[str]) -> str:
    joined = " ".join(cmdline)
    for mark, part in _PART_MARKS:
        if mark in joined:
            return part
    return "other"


def _flow_run_id(proc: psutil.Process) -> str | None:
    with contextlib.suppress(psutil.Error):
        return proc.environ().get("PREFECT__FLOW_RUN_ID")
    return None


def tree_rss(root_pid: int, flow_names: dict[str, str]) -> list[ProcessRss]:
    """Every live process under ``root_pid``, named by the part whose child of the root it descends from.

    A process the flow runner started for a flow run is ``flow-run:<flow>:<id>`` (its id from the environment
    Prefect gives it; the flow's name from ``flow_names``, id -> name, when known).
    """
    try:
        root = psutil.Process(root_pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
    rows = []
    for proc in procs:
        try:
            rss = proc.memory_info().rss / MB
            if proc.pid == root_pid:
                part = "supervisor"
            else:
                chain = [proc, *proc.parents()]
                top = next(p for p in chain if p.ppid() == root_pid)
                part = part_of(top.cmdline())
                run_id = _flow_run_id(proc) if part == "flows" and proc is not top else None
                if run_id is not None:
                    part = f"{FLOW_RUN}:{flow_names.get(run_id, '?')}:{run_id}"
        except (psutil.Error, StopIteration):
            continue  # it ended while we looked
        rows.append(ProcessRss(pid=proc.pid, part=part, rss_mb=round(rss, 1)))
    return rows


def oom_kills() -> int | None:
    """The kernel's machine-wide count of OOM kills since boot (/proc/vmstat, readable without root)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/vmstat").read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    return None


class FlowRun(BaseModel):
    id: str
    name: str
    flow: str
    state: str
    deployment: str | None = None
    expected_start_time: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    message: str = ""


class PrefectProbe:
    """The Prefect REST API, read with httpx: the soak must not load Prefect (and its memory) into itself."""

    def __init__(self, api_url: str) -> None:
        self._http = httpx.Client(base_url=api_url.rstrip("/") + "/", timeout=20)
        self._flows: dict[str, str] = {}
        self._deployments: dict[str, str] = {}

    def _name(self, cache: dict[str, str], kind: str, key: str | None) -> str | None:
        if key is None:
            return None
        if key not in cache:
            cache[key] = self._http.get(f"{kind}/{key}").json()["name"]
        return cache[key]

    def flow_runs(self) -> list[FlowRun]:
        runs: list[FlowRun] = []
        offset = 0
        while True:
            page = self._http.post("flow_runs/filter", json={"limit": 200, "offset": offset}).json()
            for r in page:
                runs.append(
                    FlowRun(
                        id=r["id"],
                        name=r["name"],
                        flow=self._name(self._flows, "flows", r["flow_id"]) or "?",
                        deployment=self._name(self._deployments, "deployments", r.get("deployment_id")),
                        state=r["state_type"] or "?",
                        expected_start_time=r.get("expected_start_time"),
                        start_time=r.get("start_time"),
                        end_time=r.get("end_time"),
                        message=(r.get("state") or {}).get("message") or "",
                    )
                )
            if len(page) < 200:
                return runs
            offset += 200

    def logs(self, run_ids: list[str]) -> dict[str, list[str]]:
        """Each run's log messages, oldest first."""
        out: dict[str, list[str]] = {rid: [] for rid in run_ids}
        for rid in run_ids:
            offset = 0
            while True:
                body = {"logs": {"flow_run_id": {"any_": [rid]}}, "limit": 200, "offset": offset}
                page = self._http.post("logs/filter", json=body).json()
                out[rid] += [entry["message"] for entry in sorted(page, key=lambda e: e["timestamp"])]
                if len(page) < 200:
                    break
                offset += 200
        return out

    def close(self) -> None:
        self._http.close()


def logged_peaks(messages: list[str]) -> dict[str, float]:
    """The retrain flow's own ``peak resident memory by stage`` line (MemoryGuard), parsed; empty when absent."""
    for message in messages:
        if message.startswith(PEAK_MARK):
            with contextlib.suppress(ValueError, SyntaxError):
                return {str(k): float(v) for k, v in ast.literal_eval(message[len(PEAK_MARK) :]).items()}
    return {}
