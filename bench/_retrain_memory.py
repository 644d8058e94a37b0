"""Why a retrain reached 10-12 GB (#19): peak RSS of one LoRA step on four ~1,090-token RAFT examples (four 800-char
documents each, as a user's own domain makes them), unsplit against ``max_batch_tokens=512``, each in its own process.

    python bench/_retrain_memory.py   ->   prints one JSON line per budget (peaks near 12 GB: not part of make bench)
"""

import json
import multiprocessing as mp
import resource


def worker(budget, q):
    import torch

    torch.set_num_threads(1)
    from kaizen.config import get_settings
    from kaizen.demo.domain import shipped_domain
    from kaizen.llm.model import load_model, load_tokenizer
    from kaizen.llm.prepare import resolve_base_model
    from kaizen.training.adapters import attach
    from kaizen.training.config import MASTER_DTYPE, Method, default_config
    from kaizen.training.data import TrainingExample, encode
    from kaizen.training.prompting import as_source
    from kaizen.training.trainer import train

    d = shipped_domain()
    docs = d.documents()
    model_dir = resolve_base_model(get_settings())
    tok = load_tokenizer(model_dir)
    exs = []
    for i, qq in enumerate(d.questions("stream")[:4]):
        srcs = [
            as_source(j + 1, docs[(i * 4 + j) % len(docs)].title, docs[(i * 4 + j) % len(docs)].text, 800)
            for j in range(4)
        ]
        exs.append(
            TrainingExample(
                example_id=f"e{i}",
                kind="raft",
                question=qq.question,
                reference=qq.answer,
                sources=srcs,
                oracle_numbers=[1],
                quoted=qq.answer,
            )
        )
    lengths = [len(encode(tok, e, max_length=4096).input_ids) for e in exs]
    config = default_config(4, method=Method.lora, steps=1, batch_size=4, max_batch_tokens=budget)
    lm = load_model(model_dir, MASTER_DTYPE)
    model = attach(lm.model, config)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    train(model, tok, exs, config)
    q.put(
        {
            "max_batch_tokens": budget,
            "tokens_per_example": lengths,
            "padded_tokens": 4 * max(lengths),
            "rss_mb_before_step": round(before),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
    )


if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    out = []
    for budget in (512, 10**6):
        q = ctx.Queue()
        p = ctx.Process(target=worker, args=(budget, q))
        p.start()
        out.append(q.get())
        p.join()
        print(json.dumps(out[-1]), flush=True)
