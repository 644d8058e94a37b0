"""Token-window chunking with overlap that keeps the title and heading path (the model's real tokenizer)."""

from __future__ import annotations

import itertools

import pytest

from kaizen.retrieval.chunking import Chunker, ChunkingOptions, embedding_text, split_sections

DOC = """Preface before any heading.

# Guide

Intro paragraph.

## Install

```bash
# this is a shell comment, not a heading
pip install kaizen
```

### Offline

{long}

## Usage

Run it.
"""


def _tokens(tokenizer, text: str) -> int:  # type: ignore[no-untyped-def]
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_sections_track_heading_path_and_skip_fenced_code() -> None:
    sections = split_sections(DOC.format(long="body"))
    assert [s.heading for s in sections] == [
        "",
        "Guide",
        "Guide > Install",
        "Guide > Install > Offline",
        "Guide > Usage",
    ]
    assert "# this is a shell comment" in sections[2].text
    assert split_sections("# not parsed", parse_headings=False)[0].text == "# not parsed"
    assert split_sections("   \n") == []


def test_windows_respect_budget_overlap_and_word_boundaries(minilm_tokenizer) -> None:  # type: ignore[no-untyped-def]
    long = " ".join(f"token{i} interoperability" for i in range(300))
    text = DOC.format(long=long)
    chunker = Chunker(minilm_tokenizer, ChunkingOptions(max_tokens=64, overlap=12))
    chunks = chunker.chunk(document_id="doc", knowledge_base="kb", text=text, title="Manual", tenant="acme")

    offline = [c for c in chunks if c.heading == "Guide > Install > Offline"]
    assert len(offline) > 10
    for chunk in chunks:
        assert chunk.text in text  # an exact slice of the source
        assert _tokens(minilm_tokenizer, embedding_text(chunk)) <= 64 + 1
        assert chunk.title == "Manual" and chunk.tenant == "acme" and chunk.knowledge_base == "kb"
    for before, after in itertools.pairwise(offline):
        assert before.text.split()[-1] in after.text  # overlap carries the tail into the next chunk
        assert after.text.split()[0].startswith("token") or after.text.split()[0] == "interoperability"
    words = set(long.split())
    assert all(set(c.text.split()) <= words for c in offline)  # no word cut into pieces
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert [c.chunk_id for c in chunks[:2]] == ["doc#0", "doc#1"]
    assert embedding_text(chunks[0]).startswith("Manual\n")
    assert embedding_text(offline[0]).startswith("Manual > Guide > Install > Offline\n")


def test_all_text_is_covered(minilm_tokenizer) -> None:  # type: ignore[no-untyped-def]
    words = [f"w{i}" for i in range(500)]
    chunker = Chunker(minilm_tokenizer, ChunkingOptions(max_tokens=32, overlap=4))
    chunks = chunker.chunk(document_id="d", knowledge_base="kb", text=" ".join(words), parse_headings=False)
    seen = {w for c in chunks for w in c.text.split()}
    assert seen == set(words)


def test_overlap_must_leave_room() -> None:
    with pytest.raises(ValueError, match="overlap"):
        Chunker(object(), ChunkingOptions(max_tokens=32, overlap=16))  # type: ignore[arg-type]
