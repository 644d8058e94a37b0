"""A demo domain: a directory of documents and a questions file about them.

The shipped one, Quillmoor Robotics (a fictional company no base model can know), is ``kaizen/data/domains/
quillmoor``; ``kaizen demo --domain DIR`` runs the same flywheel on any directory laid out the same way:

- documents: ``documents.jsonl`` (``document_id``, ``knowledge_base``, ``title``, ``text``), or a ``documents/``
  folder of ``.md`` / ``.txt`` files, one knowledge base per sub-folder (files at the top go to ``docs``);
- ``questions.jsonl``: each question with its short answer, stated literally in its source document (responses
  are scored by whether they contain it), and optionally ``paraphrases`` (other wordings of the same question),
  a ``group`` shared by questions about one fact, and a ``split``.

Held-out questions are never streamed. Without an explicit split, one wording of every fact asked several ways
is held out (a rephrasing of a streamed fact, which closed-book training can generalise to) and a third of the
facts asked once are held out whole (never streamed: only the knowledge base can answer them).
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import as_file, files
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from kaizen.events import KbName

Split = Literal["stream", "heldout"]
QuestionKind = Literal["lookup", "multi_hop", "arithmetic"]
DEFAULT_KB = "docs"
DOCUMENT_SUFFIXES = (".md", ".markdown", ".txt")


class DemoDataError(ValueError):
    """The domain directory is not usable; the message names the file, the line and the problem."""


class DemoDocument(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    document_id: str = Field(min_length=1)
    knowledge_base: KbName
    title: str = Field(min_length=1)
    text: str = Field(min_length=1, description="Markdown.")


class QuestionEntry(BaseModel):
    """One line of ``questions.jsonl`` as a person writes it (the shipped file's longer names are accepted too)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: str | None = Field(None, validation_alias=AliasChoices("id", "question_id"), min_length=1)
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1, max_length=200, description="Short; stated literally in the document.")
    document: str = Field(validation_alias=AliasChoices("document", "document_id"), min_length=1)
    knowledge_base: KbName | None = Field(None, description="Must be the document's, if given.")
    paraphrases: list[str] = Field(default_factory=list, description="Other wordings of the same question.")
    group: str | None = Field(
        None, validation_alias=AliasChoices("group", "fact_id"), description="Questions sharing it ask one fact."
    )
    split: Split | None = None
    kind: QuestionKind = "lookup"
    supporting_documents: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("supporting_documents", "supporting_document_ids")
    )


class DemoQuestion(BaseModel):
    """A question as the demo asks it: every field resolved."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question_id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1, description="Short; stated literally in the answering document.")
    document_id: str = Field(description="The document that states the answer.")
    knowledge_base: KbName
    split: Split
    kind: QuestionKind = "lookup"
    fact_id: str = Field(description="Questions sharing it ask about the same fact in different words.")
    supporting_document_ids: list[str] = Field(
        default_factory=list, description="Other documents a multi-hop question needs before the answering one."
    )


def _fraction(key: str) -> float:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0x1_0000_0000


class DomainInfo(BaseModel):
    """The optional ``domain.json``: a name for the report, and the knowledge bases' order in requests."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    description: str = ""
    knowledge_bases: list[KbName] = Field(default_factory=list)


class Domain(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    description: str = ""
    root: Path
    knowledge_bases: tuple[str, ...]
    all_documents: tuple[DemoDocument, ...]
    all_questions: tuple[DemoQuestion, ...]

    def documents(self, knowledge_base: str | None = None) -> list[DemoDocument]:
        """The documents, optionally of one knowledge base, in a stable order."""
        return [d for d in self.all_documents if knowledge_base is None or d.knowledge_base == knowledge_base]

    def questions(self, split: Split | None = None) -> list[DemoQuestion]:
        return [q for q in self.all_questions if split is None or q.split == split]

    def documents_by_id(self) -> dict[str, DemoDocument]:
        return {d.document_id: d for d in self.all_documents}


# --- reading --------------------------------------------------------------------------------------------------
def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors())


def _jsonl(path: Path, model: type[BaseModel]) -> list[tuple[int, BaseModel]]:
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((number, model.model_validate_json(line)))
        except ValidationError as exc:
            raise DemoDataError(f"{path.name} line {number}: {_errors(exc)}") from exc
    return items


def _title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip() or fallback
    return fallback


def _read_documents(root: Path) -> list[DemoDocument]:
    jsonl, folder = root / "documents.jsonl", root / "documents"
    if jsonl.is_file():
        return [doc for _, doc in _jsonl(jsonl, DemoDocument)]  # type: ignore[misc]
    if not folder.is_dir():
        raise DemoDataError(f"{root}: no documents.jsonl and no documents/ folder")
    docs = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES):
        relative = path.relative_to(folder)
        kb = relative.parts[0] if len(relative.parts) > 1 else DEFAULT_KB
        text = path.read_text(encoding="utf-8")
        try:
            docs.append(
                DemoDocument(
                    document_id=relative.with_suffix("").as_posix().replace("/", "-"),
                    knowledge_base=kb,
                    title=_title(text, path.stem.replace("-", " ").replace("_", " ")),
                    text=text,
                )
            )
        except ValidationError as exc:
            raise DemoDataError(f"documents/{relative}: {_errors(exc)}") from exc
    if not docs:
        raise DemoDataError(f"{folder}: no {', '.join(DOCUMENT_SUFFIXES)} files")
    return docs


def _resolve(entries: list[tuple[int, QuestionEntry]], docs: dict[str, DemoDocument]) -> list[DemoQuestion]:
    """Every entry and paraphrase as a question, checked against the documents; splits assigned where unset."""
    rows: list[tuple[int, QuestionEntry, str, str, str]] = []  # line, entry, id, wording, group
    for number, e in entries:
        where = f"questions.jsonl line {number}"
        doc = docs.get(e.document)
        if doc is None:
            raise DemoDataError(f"{where}: document {e.document!r} is not in the documents")
        if e.knowledge_base is not None and e.knowledge_base != doc.knowledge_base:
            raise DemoDataError(
                f"{where}: knowledge_base {e.knowledge_base!r}, but {e.document!r} is in {doc.knowledge_base!r}"
            )
        if e.answer.casefold() not in doc.text.casefold():
            raise DemoDataError(f"{where}: the answer {e.answer!r} is not stated in document {e.document!r}")
        missing = [s for s in e.supporting_documents if s not in docs]
        if missing:
            raise DemoDataError(f"{where}: supporting documents not in the documents: {', '.join(missing)}")
        qid = e.id or f"q{number:04d}"
        group = e.group or f"{e.document}#{qid}"
        rows.append((number, e, qid, e.question, group))
        rows.extend((number, e, f"{qid}~{n}", p, group) for n, p in enumerate(e.paraphrases, start=1))
    seen: dict[str, int] = {}
    for number, _, qid, wording, _ in rows:
        for key in (f"id {qid!r}", f"question {wording!r}"):
            if key in seen:
                raise DemoDataError(f"questions.jsonl line {number}: {key} repeats line {seen[key]}")
            seen[key] = number
    splits = _assign_splits(rows)
    return [
        DemoQuestion(
            question_id=qid,
            question=wording,
            answer=e.answer,
            document_id=e.document,
            knowledge_base=docs[e.document].knowledge_base,
            split=splits[qid],
            kind=e.kind,
            fact_id=group,
            supporting_document_ids=e.supporting_documents,
        )
        for _, e, qid, wording, group in rows
    ]


def _assign_splits(rows: list[tuple[int, QuestionEntry, str, str, str]]) -> dict[str, Split]:
    splits: dict[str, Split] = {qid: e.split for _, e, qid, _, _ in rows if e.split is not None}
    groups: dict[str, list[str]] = {}
    for _, e, qid, _, group in rows:
        if e.split is None:
            groups.setdefault(group, []).append(qid)
    for group, ids in groups.items():
        explicit = any(q not in ids for _, _, q, _, g in rows if g == group)
        if explicit or (len(ids) == 1 and _fraction(f"split:{group}") >= 1 / 3):
            splits |= {q: "stream" for q in ids}
        elif len(ids) == 1:
            splits[ids[0]] = "heldout"  # a fact never streamed
        else:
            held = min(ids, key=lambda q: _fraction(f"heldout:{q}"))  # one wording held out, the rest taught
            splits |= {q: "heldout" if q == held else "stream" for q in ids}
    return splits


def load_domain(root: Path) -> Domain:
    """The domain in ``root``, validated; DemoDataError says what is wrong and where."""
    root = Path(root)
    if not root.is_dir():
        raise DemoDataError(f"{root}: not a directory")
    questions_file = root / "questions.jsonl"
    if not questions_file.is_file():
        raise DemoDataError(f"{root}: no questions.jsonl")
    info = DomainInfo()
    if (root / "domain.json").is_file():
        try:
            info = DomainInfo.model_validate_json((root / "domain.json").read_text(encoding="utf-8"))
        except ValidationError as exc:
            raise DemoDataError(f"domain.json: {_errors(exc)}") from exc
    documents = _read_documents(root)
    found = tuple(dict.fromkeys(d.knowledge_base for d in documents))
    if info.knowledge_bases and set(info.knowledge_bases) != set(found):
        raise DemoDataError(f"domain.json: knowledge_bases {info.knowledge_bases} but the documents have {list(found)}")
    by_id: dict[str, DemoDocument] = {}
    for d in documents:
        if d.document_id in by_id:
            raise DemoDataError(f"{root}: document id {d.document_id!r} appears twice")
        by_id[d.document_id] = d
    questions = _resolve(_jsonl(questions_file, QuestionEntry), by_id)  # type: ignore[arg-type]
    counts = {s: sum(1 for q in questions if q.split == s) for s in ("stream", "heldout")}
    if not counts["stream"] or not counts["heldout"]:
        raise DemoDataError(
            f"{questions_file}: the demo needs stream and held-out questions, found {counts['stream']} stream and "
            f"{counts['heldout']} held-out (give some questions paraphrases, or set split)"
        )
    return Domain(
        name=info.name or root.name,
        description=info.description,
        root=root,
        knowledge_bases=tuple(info.knowledge_bases) or found,
        all_documents=tuple(documents),
        all_questions=tuple(questions),
    )


@cache
def shipped_domain() -> Domain:
    """Quillmoor Robotics, shipped as package data."""
    with as_file(files("kaizen").joinpath("data/domains/quillmoor")) as root:
        return load_domain(root)
