"""The planner's structured plan, parsed from a small model's free text, with a simpler plan to fall back on."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

StepKind = Literal["research", "calculate", "answer"]
_STEP_LINE = re.compile(r"^\s*\d+\s*[.)]\s*(research|calculate|answer)\b\s*:?\s*(.*)$", re.IGNORECASE)


class PlanError(ValueError):
    """A plan the model wrote that cannot be followed."""


class PlanStep(BaseModel):
    kind: StepKind
    task: str = Field("", max_length=500)


class Plan(BaseModel):
    steps: list[PlanStep] = Field(min_length=1)
    fallback: bool = False

    @model_validator(mode="after")
    def _ends_with_answer(self) -> Plan:
        body = [s for s in self.steps if s.kind != "answer"]
        for step in body:
            if not step.task.strip():
                raise ValueError(f"a {step.kind} step needs a task")
        self.steps = [*body, PlanStep(kind="answer")]
        return self

    @property
    def work(self) -> list[PlanStep]:
        return [s for s in self.steps if s.kind != "answer"]


def parse_plan(text: str, *, max_steps: int, can_research: bool) -> Plan:
    """Reads numbered ``research:`` / ``calculate:`` / ``answer`` lines; raises PlanError if none make sense."""
    steps: list[PlanStep] = []
    for line in text.splitlines():
        match = _STEP_LINE.match(line)
        if match is None:
            if steps and line.strip():
                break  # the model moved on to something else: the plan is over
            continue
        kind, task = match.group(1).lower(), match.group(2).strip()
        if kind == "answer":
            break
        if kind == "research" and not can_research:
            continue
        steps.append(PlanStep(kind=kind, task=task))  # type: ignore[arg-type]
    if not steps:
        raise PlanError("no research or calculate steps in the plan")
    if len(steps) > max_steps:
        raise PlanError(f"plan has {len(steps)} steps, more than {max_steps}")
    if len({(s.kind, s.task.lower()) for s in steps}) < len(steps):
        raise PlanError("plan repeats a step")  # small models loop; a loop is not a plan
    try:
        return Plan(steps=steps)
    except ValidationError as exc:
        raise PlanError(str(exc)) from exc


def fallback_plan(question: str, *, can_research: bool) -> Plan:
    """Research the whole question, then answer: what a plan degenerates to when the planner fails."""
    steps = [PlanStep(kind="research", task=question[:500])] if can_research else []
    return Plan(steps=[*steps, PlanStep(kind="answer")], fallback=True)
