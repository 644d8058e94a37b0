"""Create Kaizen's topics on a Kafka cluster from deploy/kafka/topics.yaml (the compose ``topics-init`` job).

Usage: ``python deploy/kafka/init_topics.py [topics.yaml]`` with the ``KAIZEN_*`` settings in the environment.
The file adds the deployment's retention to the topics the code defines (kaizen/topics.py); any disagreement on
names, partitions or compaction stops the job before anything is created.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kaizen.config import Settings
from kaizen.streaming.admin import ensure_topics, wait_for_admin
from kaizen.topics import Topics, TopicSpec

DEFAULT_PATH = Path(__file__).with_name("topics.yaml")


class TopicEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partitions: int = Field(ge=1)
    compacted: bool = False
    retention_ms: int | None = Field(None, ge=-1, description="-1 keeps records forever.")


class TopicsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefix: str = Field(min_length=1)
    topics: dict[str, TopicEntry] = Field(description="Topic name without the prefix -> its configuration.")


class TopicsDriftError(ValueError):
    """topics.yaml and kaizen/topics.py disagree."""


def load_topics_file(path: Path) -> TopicsFile:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    try:
        return TopicsFile.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{path} is not a valid topics file:\n{exc}") from exc


def resolve_specs(topics_file: TopicsFile, settings: Settings) -> list[TopicSpec]:
    """The code's topic specs with the file's retention; raises TopicsDriftError listing every disagreement."""
    expected = {spec.name: spec for spec in Topics.from_settings(settings).specs()}
    declared = {f"{topics_file.prefix}.{suffix}": entry for suffix, entry in topics_file.topics.items()}
    problems: list[str] = []
    if topics_file.prefix != settings.topic_prefix:
        problems.append(f"prefix {topics_file.prefix!r} != KAIZEN_TOPIC_PREFIX {settings.topic_prefix!r}")
    problems += [f"missing topic {name}" for name in sorted(expected.keys() - declared.keys())]
    problems += [f"unknown topic {name}" for name in sorted(declared.keys() - expected.keys())]
    specs: list[TopicSpec] = []
    for name, spec in expected.items():
        entry = declared.get(name)
        if entry is None:
            continue
        if entry.partitions != spec.partitions:
            problems.append(f"{name}: {entry.partitions} partitions in the file, {spec.partitions} in the code")
        if entry.compacted != spec.compacted:
            problems.append(f"{name}: compacted={entry.compacted} in the file, {spec.compacted} in the code")
        if spec.retention_ms is not None and entry.retention_ms != spec.retention_ms:
            problems.append(f"{name}: retention {entry.retention_ms} in the file, {spec.retention_ms} in the code")
        specs.append(spec.model_copy(update={"retention_ms": entry.retention_ms}))
    if problems:
        raise TopicsDriftError("topics.yaml disagrees with kaizen/topics.py:\n  " + "\n  ".join(problems))
    return specs


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_PATH
    settings = Settings()
    try:
        specs = resolve_specs(load_topics_file(path), settings)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    wait_for_admin(settings.kafka_bootstrap, timeout=120)
    created = ensure_topics(settings, specs)
    for spec in specs:
        state = "created" if spec.name in created else "exists"
        print(f"{state:8} {spec.name} partitions={spec.partitions} retention_ms={spec.retention_ms}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
