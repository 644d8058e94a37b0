"""Answers a fixed model already gave to an exam prompt.

Every retrain scores the promoted adapter (or the bare base model) again on the regression set, which never
changes, and on a held-out split that only grows. The model did not change either, and greedy decoding answers a
prompt the same way every time, so those answers are kept: a cycle generates only for prompts its baseline has not
seen. A model is identified by its weights (the base model's hash and the adapter's checksum), never by a name, and
by what else decides its answers (the decoding path and dtype, kaizen.training.generation.exam_runtime).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel


class CachedAnswer(BaseModel):
    key: str
    answer: str


class AnswerCache:
    """One model's greedy answers, keyed by prompt and token budget; a JSONL file that only grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._answers: dict[str, str] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = CachedAnswer.model_validate_json(line)
                    self._answers[row.key] = row.answer

    @classmethod
    def for_model(cls, root: Path, *, base_hash: str, adapter_checksum: str | None, runtime: str) -> AnswerCache:
        model = f"{base_hash}\0{adapter_checksum or 'no-adapter'}\0{runtime}"
        identity = hashlib.sha256(model.encode()).hexdigest()[:32]
        return cls(root / f"{identity}.jsonl")

    @staticmethod
    def key(prompt: str, max_new_tokens: int) -> str:
        return hashlib.sha256(f"{max_new_tokens}\0{prompt}".encode()).hexdigest()

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, prompt: str, max_new_tokens: int) -> str | None:
        return self._answers.get(self.key(prompt, max_new_tokens))

    def add(self, pairs: Sequence[tuple[str, str]], max_new_tokens: int) -> None:
        rows = [CachedAnswer(key=self.key(p, max_new_tokens), answer=a) for p, a in pairs]
        rows = [r for r in rows if r.key not in self._answers]
        if not rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Appended whole lines: a second writer (an on-demand evaluate run) only ever adds the same answers.
        with self.path.open("a", encoding="utf-8") as out:
            out.write("".join(json.dumps(r.model_dump()) + "\n" for r in rows))
        self._answers.update((r.key, r.answer) for r in rows)


def answer_all(
    prompts: Sequence[str],
    generate: Callable[[list[str]], list[str]],
    cache: AnswerCache | None,
    max_new_tokens: int,
) -> list[str]:
    """Answers in prompt order: cached ones looked up, the rest generated (in one call) and remembered."""
    if cache is None:
        return generate(list(prompts))
    known = {i: a for i, p in enumerate(prompts) if (a := cache.get(p, max_new_tokens)) is not None}
    missing = [i for i in range(len(prompts)) if i not in known]
    if missing:
        fresh = generate([prompts[i] for i in missing])
        cache.add([(prompts[i], a) for i, a in zip(missing, fresh, strict=True)], max_new_tokens)
        known.update(zip(missing, fresh, strict=True))
    return [known[i] for i in range(len(prompts))]
