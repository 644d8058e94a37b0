"""Rebuild Gemma's SentencePiece-BPE tokenizer from a GGUF file's vocabulary.

transformers' own GGUF conversion turns this vocabulary into a Unigram model that splits words into characters, so
the tokenizer is rebuilt here from ``tokenizer.ggml.tokens``, ``.scores`` (minus the merge rank) and ``.token_type``.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict
from tokenizers import AddedToken
from transformers import GemmaTokenizer

# Gemma's chat format; the system turn is folded into the first user turn, as Gemma has no system role.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}"
    "{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{ '<start_of_turn>model\n' }}"
    "{%- endif -%}"
)


class TokenType(IntEnum):
    """llama.cpp's token types, as stored in ``tokenizer.ggml.token_type``."""

    normal = 1
    unknown = 2
    control = 3
    user_defined = 4
    unused = 5
    byte = 6


class GGUFVocabulary(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    pieces: list[str]
    scores: np.ndarray
    types: np.ndarray
    bos_id: int
    eos_id: int
    unk_id: int
    pad_id: int


def _array_field(reader: object, key: str) -> np.ndarray:
    field = reader.fields[key]  # type: ignore[attr-defined]
    return np.concatenate([field.parts[i] for i in field.data])


def _int_field(reader: object, key: str) -> int:
    return int(reader.fields[key].contents())  # type: ignore[attr-defined]


def read_vocabulary(gguf_path: Path) -> GGUFVocabulary:
    import gguf

    reader = gguf.GGUFReader(gguf_path)
    tokens = reader.fields["tokenizer.ggml.tokens"]
    # llama.cpp stores SentencePiece's "▁" runs as runs of spaces; the model itself works on "▁".
    pieces = [bytes(tokens.parts[i]).decode("utf-8").replace(" ", "▁") for i in tokens.data]
    return GGUFVocabulary(
        pieces=pieces,
        scores=_array_field(reader, "tokenizer.ggml.scores"),
        types=_array_field(reader, "tokenizer.ggml.token_type"),
        bos_id=_int_field(reader, "tokenizer.ggml.bos_token_id"),
        eos_id=_int_field(reader, "tokenizer.ggml.eos_token_id"),
        unk_id=_int_field(reader, "tokenizer.ggml.unknown_token_id"),
        pad_id=_int_field(reader, "tokenizer.ggml.padding_token_id"),
    )


def bpe_merges(vocab: GGUFVocabulary) -> list[tuple[str, str]]:
    """Every split of a normal piece into two normal pieces, best-scored piece first, ties by the halves' ids."""
    normal_ids = {piece: index for index, piece in enumerate(vocab.pieces) if vocab.types[index] == TokenType.normal}
    ranked: list[tuple[float, int, int, str, str]] = []
    for piece, index in normal_ids.items():
        score = float(vocab.scores[index])
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            left_id, right_id = normal_ids.get(left), normal_ids.get(right)
            if left_id is not None and right_id is not None:
                ranked.append((-score, left_id, right_id, left, right))
    ranked.sort()
    return [(left, right) for _, _, _, left, right in ranked]


def build_tokenizer(vocab: GGUFVocabulary) -> GemmaTokenizer:
    pieces = vocab.pieces
    token_ids = {piece: index for index, piece in enumerate(pieces)}
    if len(token_ids) != len(pieces):
        raise ValueError("the GGUF vocabulary has duplicate pieces; it is not a SentencePiece vocabulary")
    tokenizer = GemmaTokenizer(
        vocab=token_ids,
        merges=bpe_merges(vocab),
        unk_token=pieces[vocab.unk_id],
        bos_token=pieces[vocab.bos_id],
        eos_token=pieces[vocab.eos_id],
        pad_token=pieces[vocab.pad_id],
        add_bos_token=True,
        add_eos_token=False,
    )
    # SentencePiece matches user-defined pieces (newline and "▁" runs, HTML tags) whole, before BPE; they live in
    # the normalized text, hence normalized=True.
    user_defined = [
        AddedToken(pieces[i], special=False, normalized=True, single_word=False, lstrip=False, rstrip=False)
        for i in np.flatnonzero(vocab.types == TokenType.user_defined)
    ]
    control = [
        AddedToken(pieces[i], special=True, normalized=False, single_word=False, lstrip=False, rstrip=False)
        for i in np.flatnonzero(vocab.types == TokenType.control)
    ]
    tokenizer.add_tokens(user_defined)
    tokenizer.add_tokens(control, special_tokens=True)
    tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
    return tokenizer


def save_tokenizer(tokenizer: GemmaTokenizer, target: Path) -> None:
    import json

    tokenizer.save_pretrained(target)
    # save_pretrained drops add_bos_token; without it a reload would not start sequences with <bos>.
    config_path = target / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["add_bos_token"] = True
    config["add_eos_token"] = False
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False))


def convert_tokenizer(gguf_path: Path, target: Path) -> None:
    save_tokenizer(build_tokenizer(read_vocabulary(gguf_path)), target)
