"""Tools role agents may call, kept in a registry; every call is validated and recorded, and fails softly."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field

from kaizen.reasoning.agent.calculator import CalculatorError, calculate, format_number
from kaizen.reasoning.context import RunContext
from kaizen.retrieval.types import SearchHit


class ToolError(ValueError):
    """A tool call that could not run: unknown tool, malformed input, or the tool's own failure."""


class ToolResult(BaseModel):
    tool: str
    input: str
    output: str
    hits: list[SearchHit] = Field(default_factory=list)


ToolFn = Callable[[RunContext, str], Awaitable[ToolResult]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    run: ToolFn


class ToolRegistry:
    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools or []:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def names(self) -> list[str]:
        return sorted(self._tools)

    def __contains__(self, name: str) -> bool:
        return name in self._tools

    async def call(self, ctx: RunContext, name: str, tool_input: str) -> ToolResult:
        """Runs a tool; a failure is recorded in the trace and raised as ToolError for the caller to degrade on."""
        started = ctx.elapsed_ms()
        try:
            if name not in self._tools:
                raise ToolError(f"unknown tool {name!r}; have {self.names()}")
            if not tool_input.strip():
                raise ToolError(f"empty input for tool {name!r}")
            result = await self._tools[name].run(ctx, tool_input.strip())
        except ToolError as exc:
            ctx.record("tool", name, {"input": tool_input, "error": str(exc)}, started)
            raise
        except CalculatorError as exc:
            ctx.record("tool", name, {"input": tool_input, "error": str(exc)}, started)
            raise ToolError(str(exc)) from exc
        ctx.record("tool", name, {"input": tool_input, "output": result.output}, started)
        return result


async def _search(ctx: RunContext, query: str) -> ToolResult:
    hits = await ctx.retrieve("researcher", query, ctx.knowledge_bases)
    return ToolResult(tool="search", input=query, output=f"{len(hits)} chunks", hits=hits)


async def _calculator(ctx: RunContext, expression: str) -> ToolResult:
    return ToolResult(tool="calculator", input=expression, output=format_number(calculate(expression)))


SEARCH = Tool("search", "Hybrid search over the request's knowledge bases.", _search)
CALCULATOR = Tool("calculator", "Evaluates plain arithmetic: + - * / // % ** ( ), abs round min max sqrt.", _calculator)


def default_tools(with_search: bool) -> ToolRegistry:
    return ToolRegistry([SEARCH, CALCULATOR] if with_search else [CALCULATOR])
