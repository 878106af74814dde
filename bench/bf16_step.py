"""One MiniLM-L6 training step (forward, backward, AdamW) in fp32 and under bf16 autocast, alternating.

    python bench/bf16_step.py

Batch 16 of random token ids at 32 sub-tokens (a CoNLL sentence alone, about) and 150 (a sentence with
64 sub-tokens of document context on each side). Prints the median of five steps after a warm-up step, for
fp32, bf16, fp32, bf16 in turn, so that a drift of the machine's speed shows. What `train.bf16 = "auto"`
decides is in src/bertner/precision.py; record `lscpu`'s flags with the numbers.
"""

import time

import torch
from transformers import AutoModel

from bertner.model.encoders import resolve_encoder

torch.manual_seed(0)
m = AutoModel.from_pretrained(resolve_encoder("minilm-l6"))
opt = torch.optim.AdamW(m.parameters(), lr=1e-5)
for L in (32, 150):
    x = torch.randint(1000, 20000, (16, L))
    for mode in ("fp32", "bf16", "fp32", "bf16"):
        ts = []
        for _ in range(6):
            t = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=(mode == "bf16")):
                out = m(input_ids=x).last_hidden_state
            out.float().pow(2).mean().backward()
            opt.step()
            opt.zero_grad()
            ts.append(time.perf_counter() - t)
        print(L, mode, round(sorted(ts[1:])[2], 3))
