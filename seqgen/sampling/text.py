"""Sampling text from a trained TextLSTM: priming, temperature, batches."""

from __future__ import annotations

import torch
from tqdm import trange

from seqgen.errors import SeqgenError
from seqgen.nn.modes import evaluates_first_arg


@torch.no_grad()
@evaluates_first_arg
def sample_text(
    model: "torch.nn.Module",
    prime: str = "",
    length: int = 500,
    temperature: float = 1.0,
    num_samples: int = 1,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> list[str]:
    """Feed `prime` through the network, then draw `length` symbols per sample.

    temperature < 1 sharpens the softmax (more conservative text), > 1 flattens it.
    """
    if temperature <= 0:
        raise SeqgenError(f"temperature must be > 0 (got {temperature})")
    if length < 0:
        raise SeqgenError(f"length must be >= 0 (got {length})")
    vocab = model.vocab
    device = next(model.parameters()).device
    prime_ids = vocab.encode(prime) if prime else None  # raises on unknown characters
    if prime_ids is None or len(prime_ids) == 0:
        # no prime: start from the most common symbol class, a space or newline if known
        start = next((s for s in (32, 10) if s in vocab.symbols), vocab.symbols[0])
        prime_ids = vocab.encode(chr(start)) if vocab.kind == "char" else vocab.encode(bytes([start]))
    ids = torch.as_tensor(prime_ids, device=device).unsqueeze(0).repeat(num_samples, 1)
    logits, state = model(ids, None)
    out = torch.empty(num_samples, length, dtype=torch.long, device=device)
    next_logits = logits[:, -1]
    for step in trange(length, desc="sampling", unit="char", disable=not progress, leave=False):
        probs = torch.softmax(next_logits.float() / temperature, dim=-1)
        token = torch.multinomial(probs, 1, generator=generator)
        out[:, step] = token[:, 0]
        logits, state = model(token, state)
        next_logits = logits[:, -1]
    return [prime + vocab.decode(row.tolist()) for row in out]
