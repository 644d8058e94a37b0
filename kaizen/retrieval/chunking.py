"""Token-window chunking that keeps each chunk's document title and Markdown heading path."""

from __future__ import annotations

import re
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from kaizen.retrieval.types import Chunk, MetadataValue

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
HEADING_SEPARATOR = " > "


class Tokenizer(Protocol):
    """The slice of a Hugging Face fast tokenizer the chunker uses."""

    def __call__(self, text: str, **kwargs: object) -> dict[str, list]: ...  # type: ignore[type-arg]


class Section(BaseModel):
    model_config = ConfigDict(frozen=True)

    headings: tuple[str, ...] = ()
    text: str

    @property
    def heading(self) -> str:
        return HEADING_SEPARATOR.join(self.headings)


def split_sections(text: str, *, parse_headings: bool = True) -> list[Section]:
    """Split Markdown-style text at ``#`` headings (not inside fenced code), tracking the heading path."""
    if not parse_headings:
        return [Section(text=text)] if text.strip() else []
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []
    in_fence = False

    def close() -> None:
        joined = "\n".join(body).strip()
        if joined:
            sections.append(Section(headings=tuple(h for _, h in path), text=joined))
        body.clear()

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            close()
            level = len(match.group(1))
            path[:] = [(lvl, h) for lvl, h in path if lvl < level]
            path.append((level, match.group(2)))
        else:
            body.append(line)
    close()
    return sections


def context_line(title: str, heading: str) -> str:
    """``Title > H1 > H2``, without repeating a first heading that is the title itself."""
    parts = heading.split(HEADING_SEPARATOR) if heading else []
    if parts and parts[0] == title:
        parts = parts[1:]
    return HEADING_SEPARATOR.join(p for p in (title, *parts) if p)


def embedding_text(chunk: Chunk) -> str:
    """What gets embedded and full-text indexed: title and heading path give the chunk its context."""
    context = context_line(chunk.title, chunk.heading)
    return f"{context}\n{chunk.text}" if context else chunk.text


class ChunkingOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_tokens: int = Field(256, ge=16, description="Tokens per chunk, context (title, headings) included.")
    overlap: int = Field(32, ge=0)


class Chunker:
    """Windows of ``max_tokens`` model tokens with ``overlap``; each chunk's text is an exact slice of the source."""

    def __init__(self, tokenizer: Tokenizer, options: ChunkingOptions) -> None:
        if options.overlap >= options.max_tokens // 2:
            raise ValueError(f"overlap {options.overlap} must be under half of max_tokens {options.max_tokens}")
        self.tokenizer = tokenizer
        self.options = options

    def _count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def _windows(self, text: str, budget: int) -> list[str]:
        encoding = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        offsets = encoding["offset_mapping"]
        words = encoding.word_ids()
        n = len(offsets)
        windows: list[str] = []
        start = 0
        while start < n:
            end = min(start + budget, n)
            # Never cut a word in two: end before a word that would continue past the window.
            while end < n and end - 1 > start and words[end] is not None and words[end] == words[end - 1]:
                end -= 1
            windows.append(text[offsets[start][0] : offsets[end - 1][1]])
            if end == n:
                break
            nxt = max(end - self.options.overlap, start + 1)
            # Start on a word's first piece; the window then overlaps a little more.
            while nxt > start + 1 and words[nxt] is not None and words[nxt] == words[nxt - 1]:
                nxt -= 1
            start = nxt
        return windows

    def chunk(
        self,
        *,
        document_id: str,
        knowledge_base: str,
        text: str,
        title: str = "",
        tenant: str = "default",
        metadata: dict[str, MetadataValue] | None = None,
        content_hash: str = "",
        parse_headings: bool = True,
    ) -> list[Chunk]:
        chunks: list[Chunk] = []
        for section in split_sections(text, parse_headings=parse_headings):
            context = context_line(title, section.heading)
            # Context is embedded with every chunk; it may take at most half of the window.
            budget = self.options.max_tokens - min(self._count(context) + 1, self.options.max_tokens // 2)
            for window in self._windows(section.text, budget):
                chunks.append(
                    Chunk(
                        chunk_id=f"{document_id}#{len(chunks)}",
                        document_id=document_id,
                        knowledge_base=knowledge_base,
                        tenant=tenant,
                        title=title,
                        heading=section.heading,
                        text=window,
                        position=len(chunks),
                        content_hash=content_hash,
                        metadata=dict(metadata or {}),
                    )
                )
        return chunks
