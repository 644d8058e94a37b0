"""Reading files into ``LoadedDocument``s: plain text, Markdown, HTML (beautifulsoup4) and PDF (pypdf)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from kaizen.retrieval.documents import DocumentFormat, LoadedDocument, LoadFailure, LoadResult

SUFFIXES: dict[str, DocumentFormat] = {
    ".txt": "text",
    ".text": "text",
    ".rst": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_SKIPPED_TAGS = {"script", "style", "noscript", "template", "head"}
_BLOCK_TAGS = {
    "p", "div", "li", "ul", "ol", "br", "tr", "table", "pre", "blockquote", "section", "article",
    "header", "footer", "dd", "dt", "figcaption", "hr",
}  # fmt: skip
_MD_H1 = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)


class UnreadableDocument(ValueError):
    """A file that cannot be turned into text; the message says why."""


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableDocument(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _html_to_markdown(html: str) -> tuple[str, str]:
    """Text of the page with h1-h6 as ``#`` lines; returns (title, text)."""
    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    root = soup.body or soup
    lines: list[str] = []
    current: list[str] = []

    def flush() -> None:
        line = " ".join(" ".join(current).split())
        if line:
            lines.append(line)
        current.clear()

    def walk(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                current.append(str(child))
            elif isinstance(child, Tag):
                if child.name in _SKIPPED_TAGS:
                    continue
                if child.name in _HEADINGS:
                    flush()
                    heading = child.get_text(" ", strip=True)
                    if heading:
                        lines.append(f"{'#' * _HEADINGS[child.name]} {heading}")
                    continue
                block = child.name in _BLOCK_TAGS
                if block:
                    flush()
                walk(child)
                if block:
                    flush()

    walk(root)
    flush()
    return title, "\n\n".join(lines)


def _pdf_text(path: Path) -> tuple[str, str]:
    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise UnreadableDocument("the PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str((reader.metadata or {}).get("/Title") or "")
    except PyPdfError as exc:
        raise UnreadableDocument(f"not a readable PDF: {exc}") from exc
    return title, "\n\n".join(p.strip() for p in pages if p.strip())


def load_file(path: Path, *, document_id: str | None = None) -> LoadedDocument:
    """Load one file; raises ``UnreadableDocument`` (or ``OSError``) with the reason when it cannot."""
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise UnreadableDocument(f"unsupported file type {path.suffix or '(none)'!r}; known: {sorted(SUFFIXES)}")
    title = ""
    if fmt == "pdf":
        title, text = _pdf_text(path)
    elif fmt == "html":
        title, text = _html_to_markdown(_read_text(path))
    else:
        text = _read_text(path)
        if fmt == "markdown" and (match := _MD_H1.search(text)):
            title = match.group(1)
    if not text.strip():
        raise UnreadableDocument("no text in the file (empty, or a PDF without a text layer)")
    return LoadedDocument(
        document_id=document_id or document_id_for(path),
        source=str(path),
        format=fmt,
        title=title or path.stem,
        text=text,
        metadata={"source": str(path), "format": fmt},
    )


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named, and supported files found under folders named (sorted, so runs are reproducible)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        else:
            yield path


def document_id_for(path: Path) -> str:
    """The absolute path: the same file gets the same id whether named alone or found in a folder."""
    return path.resolve().as_posix()


def load_paths(
    paths: Iterable[Path], *, on_progress: Callable[[Path, LoadedDocument | LoadFailure], None] | None = None
) -> LoadResult:
    """Load every file under ``paths``; a file that fails is listed in ``failures`` and the batch goes on."""
    result = LoadResult()
    for root in paths:
        for path in iter_files([root]):
            outcome: LoadedDocument | LoadFailure
            try:
                outcome = load_file(path, document_id=document_id_for(path))
                result.documents.append(outcome)
            except (UnreadableDocument, OSError) as exc:
                outcome = LoadFailure(path=path, reason=str(exc) or type(exc).__name__)
                result.failures.append(outcome)
            if on_progress:
                on_progress(path, outcome)
    return result
