"""Identity of a base model, so an adapter is only ever loaded on the model it was trained on."""

from __future__ import annotations

import hashlib
from pathlib import Path

# Files that change when the architecture, weights layout or vocabulary change; weights themselves are too big to
# hash on every load, and a different architecture or vocabulary is what makes an adapter incompatible.
_IDENTITY_FILES = ("config.json", "tokenizer.json")


def fingerprint(model_dir: Path) -> str:
    digest = hashlib.sha256()
    for name in _IDENTITY_FILES:
        path = Path(model_dir) / name
        digest.update(name.encode())
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()
