"""Loaders: text, Markdown, HTML and PDF into LoadedDocument; bad files reported per file, batch goes on."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaizen.retrieval.loaders import UnreadableDocument, load_file, load_paths
from tests.fixtures.retrieval import write_pdf

HTML = """<html><head><title>Kaizen Guide</title><style>p {color: red}</style></head>
<body><h1>Install</h1><p>Run <b>pip</b> install.</p><script>alert('x')</script>
<h2>Offline</h2><ul><li>Set HF_HUB_OFFLINE</li><li>Use wheels</li></ul><!-- a comment --></body></html>"""


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("plain words\n# not a heading in text\n")
    doc = load_file(path)
    assert (doc.format, doc.title, doc.text) == ("text", "notes", "plain words\n# not a heading in text\n")
    assert doc.metadata == {"source": str(path), "format": "text"}
    assert len(doc.content_hash) == 64


def test_markdown_title_from_first_h1(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text("Intro\n\n# The Guide\n\n## Part\nbody\n")
    doc = load_file(path, document_id="guide")
    assert (doc.document_id, doc.format, doc.title) == ("guide", "markdown", "The Guide")
    assert "## Part" in doc.text


def test_html_headings_become_markdown_and_noise_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(HTML)
    doc = load_file(path)
    assert doc.title == "Kaizen Guide"
    assert doc.text.splitlines()[0] == "# Install"
    assert "Run pip install." in doc.text
    assert "## Offline" in doc.text and "Set HF_HUB_OFFLINE" in doc.text
    assert "alert" not in doc.text and "color" not in doc.text and "comment" not in doc.text


def test_pdf_text_and_title(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "paper.pdf", ["Hello from page one", "Second page text"], title="A Paper")
    doc = load_file(path)
    assert (doc.format, doc.title) == ("pdf", "A Paper")
    assert doc.text == "Hello from page one\n\nSecond page text"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "no text"),
        ("blank.md", b"  \n\n", "no text"),
        ("latin1.txt", "café".encode("latin-1"), "not UTF-8"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "not a readable PDF"),
        ("image.png", b"\x89PNG", "unsupported file type"),
    ],
)
def test_unreadable_files_raise_with_reason(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnreadableDocument, match=reason):
        load_file(path)


def test_scanned_pdf_without_text_layer(tmp_path: Path) -> None:
    with pytest.raises(UnreadableDocument, match="no text"):
        load_file(write_pdf(tmp_path / "scan.pdf", [""]))


def test_batch_reports_failures_per_file_and_keeps_going(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.md").write_text("# A\ntext a")
    (docs / "sub" / "b.txt").write_text("text b")
    (docs / "sub" / "empty.txt").write_text("")
    (docs / "c.html").write_text(HTML)
    (docs / "ignored.bin").write_bytes(b"\x00")  # not a supported suffix inside a folder: not listed at all
    single = tmp_path / "single.txt"
    single.write_text("alone")
    missing = tmp_path / "missing.txt"
    seen: list[Path] = []

    result = load_paths([docs, single, missing], on_progress=lambda path, _: seen.append(path))

    expected = [docs / "a.md", docs / "c.html", docs / "sub" / "b.txt", single]
    assert [d.document_id for d in result.documents] == [p.resolve().as_posix() for p in expected]
    assert {f.path.name: f.reason.split(" (")[0] for f in result.failures} == {
        "empty.txt": "no text in the file",
        "missing.txt": f"[Errno 2] No such file or directory: '{missing}'",
    }
    assert not result.ok and len(seen) == 6
