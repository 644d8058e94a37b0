#!/usr/bin/env bash
# The GPU run of the benchmarks, as the device machine ran it: bench/gpu.sh FILES OUT
#   FILES: the default model's config.json, generation_config.json, tokenizer files (tokenizer.json may be .xz)
#   OUT:   where gpu.json, llm-cuda.json and training-cuda.json go
# The weights are random (the 536 MB model does not travel to that machine): every answer runs to its
# max_new_tokens, which is what a throughput benchmark wants; no figure here is about answer quality.
set -uo pipefail
files=$1 out=$2 model=/tmp/gemma-3-270m-random
mkdir -p "$model" "$out"
cp "$files"/*.json "$files"/*.jinja "$model"/ 2>/dev/null
[ -f "$files/tokenizer.json.xz" ] && xz -dc "$files/tokenizer.json.xz" >"$model/tokenizer.json"
python3 - "$model" <<'PY'
import sys, torch
from transformers import AutoConfig, AutoModelForCausalLM
torch.manual_seed(0)
config = AutoConfig.from_pretrained(sys.argv[1])
AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).save_pretrained(sys.argv[1])
PY
export KAIZEN_BASE_MODEL=$model KAIZEN_DATA_DIR=/tmp/kaizen-data PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
note="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); gemma-3-270m config, random bf16 weights"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
timeout 150 python3 bench/gpu.py --out "$out/gpu.json" --note "$note" 2>&1 | grep -v "Loading weights"
timeout 270 python3 bench/llm.py --rates 8 16 32 --requests 96 --tokens 16 128 --batch 32 \
  --out "$out/llm-cuda.json" --note "$note" 2>&1 | grep -v "Loading weights" | tail -40
timeout 130 python3 bench/training.py --only speed --out "$out/training-cuda.json" 2>&1 | grep -v "Loading weights" | tail -12
