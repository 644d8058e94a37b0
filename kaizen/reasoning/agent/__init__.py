"""The agentic workflow: planner, researcher, solver and reviewer over a shared message pool."""

from kaizen.reasoning.agent.calculator import CalculatorError, calculate
from kaizen.reasoning.agent.plan import Plan, PlanStep, fallback_plan, parse_plan
from kaizen.reasoning.agent.pool import Message, MessagePool
from kaizen.reasoning.agent.sop import run_agent
from kaizen.reasoning.agent.tools import Tool, ToolError, ToolRegistry, default_tools

__all__ = [
    "CalculatorError",
    "Message",
    "MessagePool",
    "Plan",
    "PlanStep",
    "Tool",
    "ToolError",
    "ToolRegistry",
    "calculate",
    "default_tools",
    "fallback_plan",
    "parse_plan",
    "run_agent",
]
