"""Where models run and in which dtype: ``Settings.device`` and ``Settings.model_dtype`` resolved for this machine.

``auto`` picks CUDA when torch sees a GPU. The dtype follows the device: bf16 on GPUs that support it; on CPUs
float32 unless the CPU has AMX tiles. Measured on this project's CPU (AVX-512 with avx512_bf16, no AMX): a bf16
matmul alone is 2.3x faster than fp32, yet the model's bf16 prefill is 6.4x slower and a decode step 1.35x slower
(bench/llm.py ``dtype_prefill``): the other ops (norms, attention, softmax) upcast and copy. AMX (Sapphire Rapids
and later) is where oneDNN's bf16 kernels win end to end.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import torch

DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?)$"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class DeviceError(ValueError):
    """A device setting this machine cannot honour (CUDA asked for, none available)."""


def resolve_device(
    setting: str = "auto", *, cuda_available: bool | None = None, cuda_count: int | None = None
) -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` as a torch device; an explicit CUDA device must exist."""
    if not re.match(DEVICE_PATTERN, setting):
        raise DeviceError(f"device {setting!r} is not one of auto, cpu, cuda, cuda:N")
    available = torch.cuda.is_available() if cuda_available is None else cuda_available
    if setting == "auto":
        return torch.device("cuda", 0) if available else torch.device("cpu")
    if setting == "cpu":
        return torch.device("cpu")
    if not available:
        raise DeviceError(f"device {setting!r} asked for, but torch sees no CUDA GPU (KAIZEN_DEVICE=auto or cpu)")
    index = int(setting.partition(":")[2] or 0)
    count = torch.cuda.device_count() if cuda_count is None else cuda_count
    if index >= count:
        raise DeviceError(f"device {setting!r} asked for, but there are {count} CUDA device(s)")
    return torch.device("cuda", index)


def resolve_dtype(
    setting: str = "auto",
    device: torch.device | None = None,
    *,
    gpu_bf16: bool | None = None,
    cpu_amx: bool | None = None,
) -> torch.dtype:
    """An explicit dtype wins; ``auto`` is bf16 on bf16-capable GPUs and AMX CPUs, float32 elsewhere."""
    if setting != "auto":
        if setting not in DTYPES:
            raise DeviceError(f"dtype {setting!r} is not one of auto, {', '.join(DTYPES)}")
        return DTYPES[setting]
    device = device or torch.device("cpu")
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported() if gpu_bf16 is None else gpu_bf16
        return torch.bfloat16 if supported else torch.float32
    return torch.bfloat16 if (cpu_has_amx() if cpu_amx is None else cpu_amx) else torch.float32


@lru_cache(maxsize=1)
def cpu_has_amx(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    try:
        flags = cpuinfo.read_text()
    except OSError:
        return False
    return "amx_bf16" in flags


def device_of(model: torch.nn.Module) -> torch.device:
    for param in model.parameters():
        return param.device
    return torch.device("cpu")
