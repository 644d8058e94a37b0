from pathlib import Path

from kaizen.demo.report import CycleReport, DemoReport, Score


def test_flywheel_improved_needs_both_forms(tmp_path: Path) -> None:
    base = CycleReport(cycle=0, closed_book=Score(correct=1, total=10), open_book=Score(correct=5, total=10))
    better = CycleReport(cycle=1, closed_book=Score(correct=4, total=10), open_book=Score(correct=7, total=10))
    only_closed = CycleReport(cycle=1, closed_book=Score(correct=4, total=10), open_book=Score(correct=5, total=10))
    assert DemoReport(cycles=[base, better]).flywheel_improved()
    assert not DemoReport(cycles=[base, only_closed]).flywheel_improved()
    assert not DemoReport(cycles=[base]).flywheel_improved()
    json_path, png_path = DemoReport(cycles=[base, better]).write(tmp_path)
    assert DemoReport.model_validate_json(json_path.read_text()).cycles[1].closed_book.accuracy == 0.4
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
