import json
from pathlib import Path

from kaizen import schemas
from kaizen.events import Event

REPO = Path(__file__).resolve().parents[1]


def test_checked_in_schemas_match_the_code() -> None:
    assert schemas.stale(REPO / "schemas") == [], "run `kaizen schemas export`"


def test_stale_detects_drift(tmp_path: Path) -> None:
    schemas.export(tmp_path)
    assert schemas.stale(tmp_path) == []
    (tmp_path / "feedback.json").write_text("{}")
    (tmp_path / "gone.json").write_text("{}")
    assert schemas.stale(tmp_path) == ["feedback.json", "gone.json"]


def _schema(model: type) -> dict:
    return schemas.schema_for(model)  # type: ignore[arg-type]


def test_every_schema_states_the_compatibility_rule() -> None:
    for path in (REPO / "schemas").glob("*.json"):
        assert "backward and forward compatible" in json.loads(path.read_text())["x-compatibility"]


def test_adding_an_optional_field_is_compatible_and_the_rest_is_not() -> None:
    class V1(Event):
        kind = "probe"
        name: str
        size: int = 0

    class AddsOptional(V1):
        note: str = ""

    class AddsRequired(V1):
        owner: str

    class ChangesType(Event):
        kind = "probe"
        name: str
        size: str = ""

    class RemovesField(Event):
        kind = "probe"
        name: str

    old = _schema(V1)
    assert schemas.incompatibilities(old, _schema(AddsOptional)) == []
    assert schemas.incompatibilities(old, _schema(AddsRequired)) == ["owner: newly required"]
    assert schemas.incompatibilities(old, _schema(ChangesType)) == ["size: type changed"]
    assert schemas.incompatibilities(old, _schema(RemovesField)) == ["size: removed"]
    assert schemas.compatibility_report(REPO / "schemas") == {}
