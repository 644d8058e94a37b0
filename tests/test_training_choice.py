"""``training_method=auto``: the measured best method for the nearest (model size, dataset size) row."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from transformers import AutoModelForCausalLM

from kaizen.config import Settings
from kaizen.training import choice
from kaizen.training.choice import ChoiceTable, MeasuredRow, choose_method, load_table, model_parameters
from kaizen.training.config import Method
from kaizen.training.retrain import resolve_config

SMALL, LARGE = 268_000_000, 1_000_000_000


def row(params: int, n: int, gains: dict[Method, float], seconds: dict[Method, float] | None = None) -> MeasuredRow:
    return MeasuredRow(
        model=f"m{params}", model_params=params, n_train=n, metric="contains", gains=gains, train_seconds=seconds or {}
    )


TABLE = ChoiceTable(
    rows=[
        row(SMALL, 20, {Method.lora: 0.2, Method.freeze: 0.5, Method.prefix: 0.1}),
        row(SMALL, 60, {Method.lora: 0.6, Method.freeze: 0.3}),
        row(LARGE, 20, {Method.lora: 0.1, Method.bottleneck: 0.4}),
    ]
)


def test_no_measurement_means_lora() -> None:
    picked = choose_method(40, SMALL, ChoiceTable())
    assert picked.method == Method.lora and "no measurement" in picked.reason and picked.row is None


@pytest.mark.parametrize(
    ("n", "params", "expected"),
    [
        (20, SMALL, Method.freeze),
        (30, SMALL, Method.freeze),  # log scale: 30 is nearer 20 than 60
        (40, SMALL, Method.lora),
        (500, SMALL, Method.lora),
        (20, LARGE, Method.bottleneck),
        (20, 800_000_000, Method.bottleneck),
        (20, 10_000_000_000, Method.lora),  # no row within 4x of a 10B model: no evidence
        (20, None, Method.freeze),  # model size unknown: data size alone (the first nearest row wins the tie)
    ],
)
def test_nearest_row_decides(n: int, params: int | None, expected: Method) -> None:
    picked = choose_method(n, params, TABLE)
    assert picked.method == expected and expected.value in picked.reason
    if params and params > 4 * LARGE:
        assert picked.row is None and "no measurement for a model of this size" in picked.reason
    else:
        assert f"n_train={picked.row.n_train}" in picked.reason


def test_no_gain_anywhere_falls_back_to_lora_and_says_why() -> None:
    table = ChoiceTable(rows=[row(SMALL, 20, {Method.freeze: 0.0, Method.prefix: -0.2})])
    picked = choose_method(20, SMALL, table)
    assert picked.method == Method.lora and "no method beat the base" in picked.reason


def test_a_tie_goes_to_the_cheaper_method() -> None:
    tied = row(SMALL, 20, {Method.lora: 0.3, Method.ptuning: 0.3}, {Method.lora: 70.0, Method.ptuning: 40.0})
    assert tied.best() == Method.ptuning
    assert tied.model_copy(update={"train_seconds": {Method.lora: 10.0, Method.ptuning: 40.0}}).best() == Method.lora


def test_upsert_replaces_the_same_measurement() -> None:
    table = TABLE.model_copy(deep=True)
    table.upsert(row(SMALL, 20, {Method.prefix: 0.9}))
    assert len(table.rows) == 3 and choose_method(20, SMALL, table).method == Method.prefix


def test_resolve_config_auto_follows_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "method_choice.json"
    path.write_text(TABLE.model_dump_json())
    monkeypatch.setattr(choice, "TABLE", path)
    auto = Settings(training_method="auto")
    config = resolve_config(auto, 20, model_params=SMALL)
    assert config.method == Method.freeze and "freeze measured best" in config.method_reason
    assert resolve_config(auto, 60, model_params=SMALL).method == Method.lora
    # an explicit setting or override wins over the measurement
    assert resolve_config(Settings(training_method="prefix"), 20, model_params=SMALL).method == Method.prefix
    forced = resolve_config(auto, 20, model_params=SMALL, overrides={"method": "bottleneck"})
    assert forced.method == Method.bottleneck and forced.method_reason == "set explicitly"
    assert config.hyperparameters()["method_reason"] == config.method_reason  # recorded in the manifest
    monkeypatch.setattr(choice, "TABLE", tmp_path / "missing.json")
    assert resolve_config(auto, 20, model_params=SMALL).method == Method.lora


def test_settings_accept_every_method() -> None:
    for method in Method:
        assert Settings(training_method=method.value).training_method == method.value
    with pytest.raises(ValidationError):
        Settings(training_method="adapterx")


def test_the_committed_table_is_valid() -> None:
    table = load_table()
    for measured in table.rows:
        assert set(measured.gains) == set(Method), "a row measures every method"
        assert measured.metric and measured.model_params > 0


def test_model_parameters_match_the_loaded_model(tiny_lm_dir: Path) -> None:
    loaded = AutoModelForCausalLM.from_pretrained(tiny_lm_dir)
    assert model_parameters(tiny_lm_dir) == loaded.num_parameters()  # tied weights once, as stored
    assert model_parameters(tiny_lm_dir.parent / "nothing-here") is None
