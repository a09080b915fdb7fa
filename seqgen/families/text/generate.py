"""Sampling text from a trained TextLSTM: priming, temperature, batches; `seqgen-sample` and previews.

Each symbol is drawn from softmax(logits / temperature): temperature < 1 sharpens the distribution,
> 1 flattens it (1 = the model's own distribution).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from tqdm import trange

from seqgen.core.family import get_family
from seqgen.errors import SeqgenError
from seqgen.io import atomic_write
from seqgen.nn.modes import evaluates_first_arg
from seqgen.sampling.budget import check_request

SEPARATOR = "\n\n----\n\n"
DEFAULT_PRIME = "The "  # seqgen-sample's prime (prime=null) where the vocabulary can write it


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


def preview_prime(model: Any) -> str:
    """The configured preview prime, keeping only the characters the corpus has."""
    prime = model.hparams.preview_prime or ""
    vocab = model.vocab
    return "".join(ch for ch in prime if ch.encode("utf-8")[0] in vocab.symbols or ord(ch) in vocab.symbols)


def default_prime(vocab: Any) -> str:
    """DEFAULT_PRIME where the vocabulary can write it, else no prime: a corpus without a capital T
    must still sample with the defaults (a prime the user gives is refused instead)."""
    try:
        vocab.encode(DEFAULT_PRIME)
    except SeqgenError:
        return ""
    return DEFAULT_PRIME


def sample_command(model: Any, cfg: Any, out_dir: Path) -> dict[str, Any]:
    """`seqgen-sample` for text: prime, length, temperature, num_samples, seed -> samples.txt."""
    generator = torch.Generator(device=model.device).manual_seed(int(cfg.seed))
    options = get_family("text").sample_settings(cfg)  # TextSampleOptions: null = its default
    prime = default_prime(model.vocab) if options.prime is None else options.prime
    length, temperature = options.length, options.temperature
    # the ids (int64) and one row of logits per sample and step
    check_request(cfg, f"length={length} x num_samples={cfg.num_samples}", int(cfg.num_samples) * length, 8 + 4 * len(model.vocab), "length or num_samples")
    texts = sample_text(model, prime, length, temperature, int(cfg.num_samples), generator, progress=True)
    path = atomic_write(Path(out_dir) / "samples.txt", SEPARATOR.join(texts))
    for index, text in enumerate(texts):
        print(f"--- sample {index} ---\n{text}\n")
    return {"samples": str(path)}


def preview(model: Any, out_dir: Path, tag: str) -> dict[str, Any]:
    """Two short samples after a validation; the text is logged (W&B) and kept in `<tag>.txt`."""
    texts = sample_text(
        model, preview_prime(model), length=model.hparams.preview_length, temperature=model.hparams.preview_temperature, num_samples=2
    )
    text = SEPARATOR.join(texts)
    atomic_write(Path(out_dir) / f"{tag}.txt", text)
    return {"samples/text": text}


def run_samples(model: Any, run_dir: Path, length: int = 1000, num_samples: int = 4) -> Path:
    """End of training: a few longer samples in `<run>/samples.txt`."""
    texts = sample_text(model, preview_prime(model), length=length, temperature=model.hparams.preview_temperature, num_samples=num_samples)
    return atomic_write(Path(run_dir) / "samples.txt", SEPARATOR.join(texts))
