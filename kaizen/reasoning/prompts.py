"""Versioned, named prompt templates.

Templates live as ``<root>/<name>/<version>.j2`` (for example ``kaizen/prompts/rag/v1.j2``). A rendered prompt
carries ``name@version#hash`` so every response records exactly which text produced it: the hash changes when a
file is edited without bumping its version, which would otherwise make two different prompts look the same.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

PACKAGED_PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
_VERSION_FILE = re.compile(r"^v(\d+)\.j2$")


class PromptNotFound(LookupError):
    """No template with that name (and version) in any prompt directory."""


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: str
    source: str

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()[:10]

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}#{self.content_hash}"


@dataclass(frozen=True)
class RenderedPrompt:
    text: str
    ref: str


class PromptLibrary:
    """Loads templates from one or more directories; later directories override earlier ones per name."""

    def __init__(self, roots: list[Path] | None = None, pinned: dict[str, str] | None = None) -> None:
        self._roots = [Path(r) for r in (roots or [PACKAGED_PROMPTS])]
        # Pinning lets a deployment hold a prompt at an older version while a newer one is evaluated.
        self._pinned = dict(pinned or {})
        # Sandboxed: a template edited by an operator must not reach Python internals.
        self._env = SandboxedEnvironment(
            undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True
        )
        self._templates = self._load()

    def _load(self) -> dict[str, dict[str, PromptTemplate]]:
        found: dict[str, dict[str, PromptTemplate]] = {}
        for root in self._roots:
            if not root.is_dir():
                continue
            for path in sorted(root.glob("*/v*.j2")):
                if not _VERSION_FILE.match(path.name):
                    continue
                name, version = path.parent.name, path.stem
                found.setdefault(name, {})[version] = PromptTemplate(name, version, path.read_text("utf-8"))
        return found

    def names(self) -> list[str]:
        return sorted(self._templates)

    def versions(self, name: str) -> list[str]:
        return sorted(self._templates.get(name, {}), key=lambda v: int(v[1:]))

    def get(self, name: str, version: str | None = None) -> PromptTemplate:
        versions = self._templates.get(name)
        if not versions:
            raise PromptNotFound(f"no prompt named {name!r} in {[str(r) for r in self._roots]}")
        wanted = version or self._pinned.get(name) or self.versions(name)[-1]
        if wanted not in versions:
            raise PromptNotFound(f"prompt {name!r} has no version {wanted!r}; have {self.versions(name)}")
        return versions[wanted]

    def render(self, name: str, /, **variables: Any) -> RenderedPrompt:
        template = self.get(name)
        text = self._env.from_string(template.source).render(**variables)
        return RenderedPrompt(text=text, ref=template.ref)
