"""LoRA adapters in serving, through peft: several in one model, rows of one batch routed by ``adapter_names``."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from peft import PeftConfig, PeftModel, get_peft_model
from peft.utils import load_peft_weights, set_peft_model_state_dict

from kaizen.llm.decoding import BASE_ADAPTER
from kaizen.llm.methods.base import AdapterError, ServedMethod


class ServedLora(ServedMethod):
    def read(self, path: Path, version: str) -> tuple[PeftConfig, dict[str, Any]]:
        try:
            config = PeftConfig.from_pretrained(str(path))
            weights = load_peft_weights(str(path), device="cpu")
        except Exception as exc:
            raise AdapterError(f"refusing adapter {version}: no readable peft LoRA adapter ({exc})") from exc
        kind = str(getattr(config.peft_type, "value", config.peft_type)).upper()
        if kind != "LORA":
            raise AdapterError(f"refusing adapter {version}: recorded as LoRA, but its peft type is {kind}")
        config.inference_mode = True
        return config, weights

    def install(self, model: Any, name: str, payload: object) -> Any:
        """Add ``name`` to the peft model (wrapping the base model the first time)."""
        config, weights = payload  # type: ignore[misc]
        first = not isinstance(model, PeftModel)
        if first:
            model = get_peft_model(model, config, adapter_name=name, low_cpu_mem_usage=True)
        else:
            model.add_adapter(name, config, low_cpu_mem_usage=True)
        try:
            result = set_peft_model_state_dict(model, weights, adapter_name=name, low_cpu_mem_usage=True)
            missing = [k for k in result.missing_keys if name in k and "lora_" in k]
            if result.unexpected_keys or missing:
                raise AdapterError(
                    f"refusing adapter {name}: weights do not fit the model "
                    f"(unexpected {list(result.unexpected_keys)[:3]}, missing {missing[:3]})"
                )
        except Exception:
            if first:
                model.unload()  # removes the injected layers in place: the engine keeps the bare base model
            else:
                model.delete_adapter(name)
            raise
        return model

    def delete(self, model: Any, name: str) -> Any:
        """Remove ``name``; the last LoRA adapter gone, the bare base model comes back."""
        if not isinstance(model, PeftModel) or name not in model.peft_config:
            return model
        if len(model.peft_config) == 1:
            return model.unload()
        model.delete_adapter(name)
        return model

    def prepare(self, model: Any, names: list[str | None]) -> tuple[AbstractContextManager[object], dict[str, Any]]:
        """peft's per-row ``adapter_names`` routes every LoRA layer row by row, which doubled decode time in the
        demo (measured); a batch on one adapter, the usual case, runs that adapter (or none) directly instead."""
        if not isinstance(model, PeftModel):
            return nullcontext(), {}  # no LoRA adapter loaded: every row runs the plain layers
        rows = [BASE_ADAPTER if n is None else n for n in names]
        if len(set(rows)) > 1:
            return nullcontext(), {"adapter_names": rows}
        if rows[0] == BASE_ADAPTER:
            return model.disable_adapter(), {}
        if model.active_adapter != rows[0]:
            model.set_adapter(rows[0])
        return nullcontext(), {}
