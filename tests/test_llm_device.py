"""Device and dtype resolution (KAIZEN_DEVICE, model_dtype=auto), and the model really placed where it says."""

from __future__ import annotations

import pydantic
import pytest
import torch

from kaizen.config import Settings, settings_environment
from kaizen.llm.device import DeviceError, cpu_has_amx, resolve_device, resolve_dtype


@pytest.mark.parametrize(
    ("setting", "available", "expected"),
    [
        ("auto", True, torch.device("cuda", 0)),
        ("auto", False, torch.device("cpu")),
        ("cpu", True, torch.device("cpu")),
        ("cuda", True, torch.device("cuda", 0)),
        ("cuda:1", True, torch.device("cuda", 1)),
    ],
)
def test_devices_resolve(setting: str, available: bool, expected: torch.device) -> None:
    assert resolve_device(setting, cuda_available=available, cuda_count=2) == expected


@pytest.mark.parametrize(("setting", "message"), [("cuda", "no CUDA"), ("cuda:0", "no CUDA"), ("gpu", "not one of")])
def test_an_unusable_device_is_refused_clearly(setting: str, message: str) -> None:
    with pytest.raises(DeviceError, match=message):
        resolve_device(setting, cuda_available=False, cuda_count=0)
    with pytest.raises(DeviceError, match="2 CUDA device"):
        resolve_device("cuda:2", cuda_available=True, cuda_count=2)


def test_dtype_follows_the_device_and_an_explicit_one_wins() -> None:
    gpu, cpu = torch.device("cuda", 0), torch.device("cpu")
    assert resolve_dtype("auto", gpu, gpu_bf16=True) == torch.bfloat16
    assert resolve_dtype("auto", gpu, gpu_bf16=False) == torch.float32
    assert resolve_dtype("auto", cpu, cpu_amx=False) == torch.float32
    assert resolve_dtype("auto", cpu, cpu_amx=True) == torch.bfloat16
    assert resolve_dtype("bfloat16", cpu, cpu_amx=False) == torch.bfloat16
    assert resolve_dtype("float32", gpu, gpu_bf16=True) == torch.float32
    with pytest.raises(DeviceError, match="dtype"):
        resolve_dtype("int8", cpu)


def test_amx_is_read_from_the_cpu_flags(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "amx").write_text("flags\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n")
    (tmp_path / "avx512").write_text("flags\t: fpu avx512f avx512_bf16\n")
    assert cpu_has_amx.__wrapped__(tmp_path / "amx") is True
    assert cpu_has_amx.__wrapped__(tmp_path / "avx512") is False
    assert cpu_has_amx.__wrapped__(tmp_path / "missing") is False


def test_settings_take_the_device_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().device == "auto" and Settings().model_dtype == "auto"
    monkeypatch.setenv("KAIZEN_DEVICE", "cuda:1")
    assert Settings().device == "cuda:1"
    monkeypatch.setenv("KAIZEN_DEVICE", "tpu")
    with pytest.raises(pydantic.ValidationError):
        Settings()


def test_the_engine_loads_on_the_resolved_device_and_dtype(tiny_model_dir) -> None:  # type: ignore[no-untyped-def]
    from kaizen.llm.engine import GenerationEngine

    settings = Settings(device="cpu", torch_threads=1)
    with GenerationEngine.from_settings(settings, tiny_model_dir) as engine:
        lm = engine.lm
        assert lm.device == torch.device("cpu")
        assert lm.dtype == resolve_dtype("auto", lm.device)
        assert {p.device.type for p in lm.model.parameters()} == {"cpu"}
        assert {p.dtype for p in lm.model.parameters()} == {lm.dtype}
        assert len(engine.complete("Water boils at", max_new_tokens=3).tokens) == 3


def test_training_evaluation_and_embeddings_follow_the_device(tiny_model_dir) -> None:  # type: ignore[no-untyped-def]
    from kaizen.llm.device import device_of
    from kaizen.llm.model import load_model
    from kaizen.retrieval.embedder import get_embedder
    from kaizen.training.config import MASTER_DTYPE
    from kaizen.training.generation import exam_model, generate_answers

    model = load_model(tiny_model_dir, MASTER_DTYPE, device="cpu").model
    assert device_of(model) == torch.device("cpu") and next(model.parameters()).dtype == torch.float32
    with settings_environment(Settings(device="cpu", torch_threads=1)):
        lm = exam_model(tiny_model_dir)  # evaluation runs where and in the dtype serving runs
    assert lm.device == torch.device("cpu") and lm.dtype == resolve_dtype("auto", lm.device)
    assert len(generate_answers(lm, ["Water boils at"], max_new_tokens=2)) == 1
    with pytest.raises(DeviceError):
        load_model(tiny_model_dir, device="cuda:7") if not torch.cuda.is_available() else resolve_device("cuda:99")
    embedder = get_embedder(Settings(device="cpu", torch_threads=1))
    assert embedder.model.device.type == "cpu" and embedder.embed(["hello"]).shape == (1, embedder.dimension)
