"""The prepared default model: files, idempotence, the rebuilt tokenizer, and base-model resolution."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kaizen.config import Settings
from kaizen.llm.model import encode_prompt, load_tokenizer
from kaizen.llm.prepare import LICENSE_FILE, PrepareError, is_prepared, prepare_default_model, resolve_base_model
from kaizen.llm.types import ChatMessage

ROUND_TRIPS = [
    "The quick brown fox jumps over the lazy dog.",
    "Kaizen  keeps   improving:\n\n\tone step at a time.",
    "北京是中华人民共和国的首都，也是全国的政治和文化中心。",
    'def add(a: int, b: int) -> int:\n    """Sum."""\n    return a + b  # done\n',
    "Deploy 🚀 done ✅ — coffee ☕️ and 👩‍💻 at 3 a.m.",
    "<div class='x'>a &amp; b</div>",
]


@pytest.fixture(scope="module")
def tokenizer(base_model_dir: Path):  # type: ignore[no-untyped-def]
    return load_tokenizer(base_model_dir)


def test_prepared_directory_is_complete(base_model_dir: Path) -> None:
    assert is_prepared(base_model_dir)
    config = json.loads((base_model_dir / "config.json").read_text())
    assert config["architectures"] == ["Gemma3ForCausalLM"]
    assert "quantization_config" not in config
    generation = json.loads((base_model_dir / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [1, 106]
    assert (base_model_dir / LICENSE_FILE).stat().st_size > 100_000


def test_prepare_is_idempotent_and_fast_once_done(llm_settings: Settings, base_model_dir: Path) -> None:
    before = (base_model_dir / "model.safetensors").stat().st_mtime_ns
    start = time.perf_counter()
    assert prepare_default_model(llm_settings) == base_model_dir
    assert time.perf_counter() - start < 1.0
    assert (base_model_dir / "model.safetensors").stat().st_mtime_ns == before


def test_tokenizer_pin(tokenizer) -> None:  # type: ignore[no-untyped-def]
    assert tokenizer("The capital of France is Paris.").input_ids == [2, 818, 5279, 529, 7001, 563, 9079, 236761]


@pytest.mark.parametrize("text", ROUND_TRIPS)
def test_tokenizer_round_trips(tokenizer, text: str) -> None:  # type: ignore[no-untyped-def]
    ids = tokenizer(text, add_special_tokens=False).input_ids
    assert tokenizer.decode(ids) == text
    # words are merged pieces, not the single characters of the broken GGUF conversion
    assert len(ids) < len(text)


def test_control_pieces_are_single_tokens(tokenizer) -> None:  # type: ignore[no-untyped-def]
    ids = tokenizer("<start_of_turn>user\nhi<end_of_turn>", add_special_tokens=False).input_ids
    assert ids[0] == 105 and ids[-1] == 106


def test_chat_prompt_has_one_bos(tokenizer) -> None:  # type: ignore[no-untyped-def]
    ids = encode_prompt(tokenizer, [ChatMessage(role="user", content="Hi")])
    assert ids[0] == 2 and ids.count(2) == 1
    text = tokenizer.decode(ids)
    assert text == "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"


def test_system_message_folds_into_first_user_turn(tokenizer) -> None:  # type: ignore[no-untyped-def]
    messages = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="Hi")]
    text = tokenizer.decode(encode_prompt(tokenizer, messages))
    assert "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>" in text


def test_resolve_base_model_prefers_settings(tiny_model_dir: Path, llm_settings: Settings) -> None:
    assert resolve_base_model(llm_settings.with_overrides(base_model=str(tiny_model_dir))) == tiny_model_dir


def test_resolve_base_model_refuses_a_non_model_dir(tmp_path: Path, llm_settings: Settings) -> None:
    with pytest.raises(PrepareError, match="not a Hugging Face model directory"):
        resolve_base_model(llm_settings.with_overrides(base_model=str(tmp_path)))


def test_cli_model_prepare_and_info(base_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console
    from typer.testing import CliRunner

    from kaizen.cli import model as model_cli

    settings = Settings(models_dir=base_model_dir.parent, data_dir=base_model_dir.parent.parent, torch_threads=1)
    monkeypatch.setattr(model_cli, "get_settings", lambda: settings)
    monkeypatch.setattr(model_cli, "console", Console(width=200))
    app = model_cli.model_app
    prepared = CliRunner().invoke(app, ["prepare"])
    assert prepared.exit_code == 0 and "already prepared" in prepared.output
    info = CliRunner().invoke(app, ["info"], terminal_width=200)
    assert info.exit_code == 0, info.output
    from kaizen.llm.device import resolve_device, resolve_dtype

    device = resolve_device(settings.device)
    assert "268,098,176" in info.output and "262,144" in info.output and str(device) in info.output
    assert str(resolve_dtype("auto", device)).removeprefix("torch.") in info.output
    assert fingerprint_of(base_model_dir) in info.output


def fingerprint_of(model_dir: Path) -> str:
    from kaizen.llm.fingerprint import fingerprint

    return fingerprint(model_dir)
