"""The wire contract: every event Kaizen puts on a topic.

Producers in any language validate against the JSON Schemas exported from these models into ``schemas/``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1
# Hard ceiling on any free text on the wire; Settings.max_text_chars may be lower, never higher.
MAX_TEXT = 100_000
TENANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a timezone (UTC)")
    return value.astimezone(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> datetime:
    return datetime.now(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Tenant = Annotated[str, Field(pattern=TENANT_PATTERN, description="Tenant the event belongs to.")]
KbName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")]


class Event(BaseModel):
    """Fields every event carries."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    kind: ClassVar[str]

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    schema_version: Literal[1] = SCHEMA_VERSION
    created_at: UtcDatetime = Field(default_factory=now)
    tenant: Tenant = "default"

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class Mode(StrEnum):
    auto = "auto"
    direct = "direct"
    cot = "cot"
    rag = "rag"
    chain = "chain"
    agent = "agent"


class RequestOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_new_tokens: int = Field(128, ge=1, le=4096)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_k: int = Field(5, ge=1, le=50, description="Chunks retrieved per query.")
    self_consistency: int = Field(0, ge=0, le=16, description="Sampled chains for a majority vote; 0 = off.")
    max_rounds: int = Field(3, ge=1, le=8, description="Retrieval-chain rounds / agent review loops.")
    adapter: str | None = Field(None, description="Pin an adapter version; None = the active one.")


class Turn(BaseModel):
    """One earlier turn of a conversation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["user", "assistant"]
    content: Text


class InteractionRequest(Event):
    kind: ClassVar[str] = "interaction_request"

    user_id: str = Field("anonymous", max_length=256)
    session_id: str | None = Field(
        None, max_length=256, description="Groups the turns of one conversation (curation keeps them together)."
    )
    question: Text = Field(min_length=1, description="The last user message: what this request answers.")
    system: Text | None = Field(None, description="The conversation's system prompt, honoured by every strategy.")
    history: list[Turn] = Field(
        default_factory=list, max_length=256, description="Earlier turns, oldest first, before the question."
    )
    mode: Mode = Mode.auto
    knowledge_bases: list[KbName] = Field(default_factory=list, max_length=16)
    options: RequestOptions = Field(default_factory=RequestOptions)
    stream: bool = Field(False, description="Publish the answer's deltas on the response-delta topic as decoded.")

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question is blank")
        return value


class Citation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    document_id: str
    chunk_id: str
    knowledge_base: str
    title: str = ""
    quote: str = Field("", max_length=MAX_TEXT)
    score: float | None = None


class TraceStep(BaseModel):
    """One model call, retrieval, tool call or decision made while answering."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: str = Field(description="e.g. generate, retrieve, tool, plan, review, route")
    name: str = ""
    detail: dict[str, Any] = Field(default_factory=dict)
    started_ms: float = 0.0
    duration_ms: float = 0.0


class InteractionResponse(Event):
    kind: ClassVar[str] = "interaction_response"

    request_id: uuid.UUID
    response_id: uuid.UUID = Field(description="Stable id derived from request_id: duplicates share it.")
    user_id: str = "anonymous"
    question: Text = ""
    mode: Mode = Mode.direct
    strategy: str = Field("", description="The strategy that actually ran (auto resolves to one).")
    answer: Text = ""
    reasoning: list[Text] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)
    retrieved_chunk_ids: list[str] = Field(default_factory=list)
    trace: list[TraceStep] = Field(default_factory=list)
    adapter_version: str | None = None
    prompt_version: str | None = None
    latency_ms: float = 0.0
    session_id: str | None = Field(None, max_length=256, description="The request's conversation, if it named one.")
    system: Text | None = Field(None, description="The request's system prompt: curation keeps the whole exchange.")
    history: list[Turn] = Field(default_factory=list, max_length=256, description="The request's earlier turns.")
    error: str | None = None
    error_code: str | None = Field(
        None, max_length=64, description="Why it failed, for machines: e.g. adapter_not_found (a refused pin)."
    )

    @staticmethod
    def response_id_for(request_id: uuid.UUID) -> uuid.UUID:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"kaizen:response:{request_id}")


class InteractionDelta(Event):
    """A piece of an answer as it is decoded, keyed by request id; the pieces, in ``index`` order, join to the start
    of the response's ``answer``. The response itself is unchanged: these are only for clients watching live."""

    kind: ClassVar[str] = "interaction_delta"

    request_id: uuid.UUID
    index: int = Field(ge=0, description="0, 1, 2, ... within one request.")
    text: Text


class Thumbs(StrEnum):
    up = "up"
    down = "down"


class Feedback(Event):
    kind: ClassVar[str] = "feedback"

    response_id: uuid.UUID
    user_id: str = "anonymous"
    thumbs: Thumbs | None = None
    rating: int | None = Field(None, ge=1, le=5)
    correction: Text | None = None
    comment: Text | None = None
    labels: list[str] = Field(default_factory=list, max_length=32)
    source_document_ids: list[str] = Field(
        default_factory=list, description="Documents the user names as the right source."
    )


class DocumentOp(StrEnum):
    upsert = "upsert"
    delete = "delete"


class DocumentEvent(Event):
    kind: ClassVar[str] = "document"

    document_id: str = Field(min_length=1, max_length=512)
    knowledge_base: KbName
    op: DocumentOp = DocumentOp.upsert
    title: str = Field("", max_length=1024)
    text: Text = ""
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @field_validator("text")
    @classmethod
    def _upsert_needs_text(cls, value: str, info: Any) -> str:
        if info.data.get("op", DocumentOp.upsert) == DocumentOp.upsert and not value.strip():
            raise ValueError("an upsert needs non-empty text")
        return value


class InstructionExample(Event):
    kind: ClassVar[str] = "instruction_example"

    example_id: str = Field(description="Deterministic: one example per feedback event.")
    feedback_id: uuid.UUID
    response_id: uuid.UUID
    instruction: Text
    context: Text = ""
    output: Text
    reasoning: list[Text] = Field(
        default_factory=list,
        description="The accepted answer's reasoning steps (chain-of-thought strategies); empty for corrections.",
    )
    rejected_output: Text | None = Field(None, description="Set for preference pairs.")
    accepted: bool = True
    source_ids: list[str] = Field(default_factory=list)
    strategy: str = ""
    session_id: str | None = Field(None, max_length=256, description="The conversation the exchange belongs to.")
    system: Text | None = Field(None, description="The conversation's system prompt.")
    history: list[Turn] = Field(
        default_factory=list, max_length=256, description="Turns before the instruction, oldest first."
    )

    def prompt_messages(self) -> list[dict[str, str]]:
        """The whole exchange up to the answer: system prompt, earlier turns, then the instruction."""
        user = f"{self.context}\n\n{self.instruction}" if self.context else self.instruction
        system = [{"role": "system", "content": self.system}] if self.system else []
        turns = [{"role": t.role, "content": t.content} for t in self.history]
        return [*system, *turns, {"role": "user", "content": user}]

    def to_chat(self) -> list[dict[str, str]]:
        return [*self.prompt_messages(), {"role": "assistant", "content": self.output}]


class RaftDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    chunk_id: str
    document_id: str
    title: str = ""
    text: Text
    oracle: bool = False


class RaftExample(Event):
    kind: ClassVar[str] = "raft_example"

    example_id: str
    feedback_id: uuid.UUID | None = None
    question: Text
    documents: list[RaftDocument]
    oracle_included: bool
    answer: Text = Field(description="Reasoning quoting the oracle with ##begin_quote##...##end_quote##.")
    final_answer: Text
    knowledge_base: str = ""


class AdapterAction(StrEnum):
    candidate = "candidate"
    promoted = "promoted"
    canary = "canary"
    rollback = "rollback"


class AdapterEvent(Event):
    kind: ClassVar[str] = "adapter"

    action: AdapterAction
    version: str = Field(min_length=1, max_length=128)
    manifest_url: str
    checksum: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the adapter weights.")
    base_model: str = ""
    canary_share: float | None = Field(None, ge=0.0, le=1.0)
    previous_version: str | None = None


class DeadLetter(Event):
    kind: ClassVar[str] = "dead_letter"

    original: str = Field(description="The original value, base64.")
    original_key: str | None = None
    topic: str
    partition: int = -1
    offset: int = -1
    error: str
    error_type: str = ""
    service: str = ""


ALL_EVENTS: tuple[type[Event], ...] = (
    InteractionRequest,
    InteractionResponse,
    InteractionDelta,
    Feedback,
    DocumentEvent,
    InstructionExample,
    RaftExample,
    AdapterEvent,
    DeadLetter,
)
EVENTS_BY_KIND: dict[str, type[Event]] = {cls.kind: cls for cls in ALL_EVENTS}
