from pathlib import Path

from kaizen import schemas

REPO = Path(__file__).resolve().parents[1]


def test_checked_in_schemas_match_the_code() -> None:
    assert schemas.stale(REPO / "schemas") == [], "run `kaizen schemas export`"


def test_stale_detects_drift(tmp_path: Path) -> None:
    schemas.export(tmp_path)
    assert schemas.stale(tmp_path) == []
    (tmp_path / "feedback.json").write_text("{}")
    (tmp_path / "gone.json").write_text("{}")
    assert schemas.stale(tmp_path) == ["feedback.json", "gone.json"]
