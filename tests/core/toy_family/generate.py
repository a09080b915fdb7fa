"""Sampling (checklist step 5): symbols drawn one at a time from the GRU's softmax."""

from __future__ import annotations

import torch

from toy_family.config import ToySampleOptions


@torch.no_grad()
def sample(model: torch.nn.Module, count: int, options: ToySampleOptions, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    symbols = torch.randint(0, model.vocab_size, (count, 1), generator=generator)
    state, out = None, [symbols]
    for _ in range(options.length - 1):
        logits, state = model.net(symbols, state)
        probs = torch.softmax(logits[:, -1] / options.temperature, -1)
        symbols = torch.multinomial(probs, 1, generator=generator)
        out.append(symbols)
    return torch.cat(out, 1)
