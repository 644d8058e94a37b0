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


def test_tables_fit_an_80_column_terminal() -> None:
    from rich.console import Console

    from kaizen.demo.report import data_table, mode_table, stage_table, summary_table

    base = CycleReport(cycle=0, closed_book=Score(correct=1, total=30), open_book=Score(correct=10, total=30))
    cycle = CycleReport(
        cycle=1,
        adapter_version="default-v0001",
        closed_book=Score(correct=8, total=30),
        open_book=Score(correct=14, total=30),
        stream_by_mode={"rag": Score(correct=2, total=12), "direct": Score(correct=0, total=12)},
        dataset_version="81f3108fff6b9a2c",
        instruction_examples=40,
        raft_examples=20,
        answers_remembered=40,
        promoted=True,
        stage_seconds={"retrain through Prefect": 335.0, "held-out test": 63.0},
    )
    report = DemoReport(cycles=[base, cycle])
    console = Console(width=80, record=True)
    for table in (summary_table, data_table, mode_table, stage_table):
        console.print(table(report))
    text = console.export_text()
    for shown in ("default-v0001", "27% (8/30)", "47% (14/30)", "promoted", "81f3108fff6b", "17% (2/12)", "335"):
        assert shown in text, shown
    assert "…" not in text
