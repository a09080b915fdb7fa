"""The writer-identification network: a small classifier over pen-stroke sequences.

    frames   f_s = [x_{ks}, ..., x_{ks+k-1}]            k = `subsample` consecutive (dx, dy, eos) rows
    input    z_s = tanh(W_in f_s + b_in)
    BLSTM    h_s = [LSTM_fwd(z)_s ; LSTM_bwd(z)_s]
    pooling  e   = W_e [mean_s h_s ; max_s h_s]            over the line's real frames: the style embedding
    output   p(w | line) = softmax(W_out tanh(e) + b_out)  over the training writers

Style lives in slant, size, spacing, speed and pen-up habits spread over the whole line, so the
line is pooled over time; `e` is the embedding the style distance is measured on.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqgen.families.writer_id.config import WriterIdConfig


class WriterNet(nn.Module):
    def __init__(self, n_writers: int, config: WriterIdConfig) -> None:
        """`n_writers` classes (the data's training writers); the sizes from `config`."""
        super().__init__()
        c = config
        self.subsample = c.subsample
        self.inp = nn.Linear(3 * self.subsample, c.hidden_size)
        self.lstm = nn.LSTM(c.hidden_size, c.hidden_size, c.num_layers, batch_first=True, bidirectional=True,
                            dropout=c.dropout if c.num_layers > 1 else 0.0)
        self.embed = nn.Linear(4 * c.hidden_size, c.embedding_size)
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(c.embedding_size, n_writers)

    def embedding(self, points: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, 3) normalised offsets, zero-padded; (B,) points per line -> (B, E) style embeddings."""
        batch, steps, _ = points.shape
        k = self.subsample
        pad = (-steps) % k
        if pad:
            points = torch.cat([points, points.new_zeros(batch, pad, 3)], dim=1)
        z = torch.tanh(self.inp(points.reshape(batch, (steps + pad) // k, 3 * k)))
        frames = torch.div(lengths + k - 1, k, rounding_mode="floor").clamp(1, z.shape[1])
        packed = pack_padded_sequence(z, frames.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=z.shape[1])
        real = (torch.arange(z.shape[1], device=z.device)[None, :] < frames[:, None].to(z.device))[..., None]
        mean = (h * real).sum(1) / real.sum(1).clamp_min(1)
        peak = h.masked_fill(~real, float("-inf")).amax(1)
        return self.embed(torch.cat([mean, peak], dim=-1))

    def forward(self, points: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (B, W) writer logits and (B, E) embeddings."""
        e = self.embedding(points, lengths)
        return self.out(self.drop(torch.tanh(e))), e
