"""Real text for bench/retrieval.py: docstrings of the packages installed next to Kaizen, and known-answer questions.

Docstrings are read with ``ast`` (nothing is imported). Each function or class docstring is one document titled by
its qualified name; questions come in two kinds whose answer (the document) is known:
  summary: the docstring's first sentence;  name: the qualified name's words ("read_csv" -> "read csv").
"""

from __future__ import annotations

import ast
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
PACKAGES = ["numpy", "torch", "transformers", "pyarrow", "prefect", "pydantic", "faust", "rich", "sqlalchemy", "httpx"]


class Doc(BaseModel):
    document_id: str
    title: str
    text: str


class Question(BaseModel):
    kind: str
    query: str
    document_id: str


def _docstrings(path: Path, module: str) -> Iterator[Doc]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return

    def visit(node: ast.AST, prefix: str) -> Iterator[Doc]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                doc = ast.get_docstring(child)
                if doc and len(doc.split()) >= 20 and not child.name.startswith("_"):
                    yield Doc(document_id=f"{module}:{name}", title=f"{module}.{name}", text=doc)
                if isinstance(child, ast.ClassDef):
                    yield from visit(child, f"{name}.")

    yield from visit(tree, "")


def documents() -> Iterator[Doc]:
    """Docstrings package by package (round-robin over files, so a short run still mixes packages)."""
    per_package = []
    for package in PACKAGES:
        root = SITE / package
        if root.is_dir():
            files = sorted(p for p in root.rglob("*.py") if "test" not in p.parts and "tests" not in p.parts)
            per_package.append(iter(files))
    seen: set[str] = set()
    while per_package:
        for files in list(per_package):
            path = next(files, None)
            if path is None:
                per_package.remove(files)
                continue
            module = ".".join(path.relative_to(SITE).with_suffix("").parts).removesuffix(".__init__")
            for doc in _docstrings(path, module):
                if doc.text not in seen:  # inherited copies of one docstring would make answers ambiguous
                    seen.add(doc.text)
                    yield doc


def _summary(text: str) -> str:
    first = re.split(r"(?<=[.!?])\s|\n\s*\n", text.strip(), maxsplit=1)[0]
    return " ".join(first.split())


def questions(docs: list[Doc], n: int, seed: int = 0) -> list[Question]:
    """``n`` questions of each kind, about documents whose summary and name are unique in the corpus."""
    summaries: dict[str, list[str]] = {}
    names: dict[str, list[str]] = {}
    for doc in docs:
        summaries.setdefault(_summary(doc.text), []).append(doc.document_id)
        names.setdefault(doc.title.rsplit(".", 1)[-1].lower(), []).append(doc.document_id)
    rng = random.Random(seed)
    out: list[Question] = []
    unique_summaries = [(s, ids[0]) for s, ids in summaries.items() if len(ids) == 1 and len(s.split()) >= 6]
    for summary, doc_id in rng.sample(unique_summaries, min(n, len(unique_summaries))):
        out.append(Question(kind="summary", query=summary, document_id=doc_id))
    unique_names = [(nm, ids[0]) for nm, ids in names.items() if len(ids) == 1 and "_" in nm.strip("_")]
    for name, doc_id in rng.sample(unique_names, min(n, len(unique_names))):
        out.append(Question(kind="name", query=name.replace("_", " ").strip(), document_id=doc_id))
    return out
