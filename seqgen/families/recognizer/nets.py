"""The recogniser network: a bidirectional LSTM over frames with a CTC output layer (Graves et al.
2009 for online handwriting, Graves et al. 2013 for phonemes in speech).

    frames   f_s = [x_{ks}, ..., x_{ks+k-1}]          k = `subsample` consecutive input rows of
                                                      `input_dim` values: (dx, dy, eos) pen offsets
                                                      or one audio feature frame
    input    z_s = tanh(W_in f_s + b_in)
    BLSTM    h_s = [LSTM_fwd(z)_s ; LSTM_bwd(z)_s]     `num_layers` bidirectional layers
    output   y_s = log softmax(W_out h_s + b_out)      over blank + the characters

Stacking k rows into one frame divides the sequence length (and the time of the recurrent
loop) by k; with ~25 pen points per character, k = 4 still leaves ~6 frames per character,
more than CTC needs (one per label, plus a blank between repeated labels); with 12.5 ms audio
frames and ~8 frames per phoneme, k = 2 leaves ~4.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqgen.families.recognizer.config import RecognizerConfig


class RecognizerNet(nn.Module):
    def __init__(self, n_labels: int, config: RecognizerConfig, input_dim: int = 3) -> None:
        super().__init__()
        hidden_size, num_layers, dropout = config.hidden_size, config.num_layers, config.dropout
        self.subsample = config.subsample
        self.input_dim = int(input_dim)
        self.inp = nn.Linear(self.input_dim * self.subsample, hidden_size)
        self.lstm = nn.LSTM(
            hidden_size, hidden_size, num_layers, batch_first=True, bidirectional=True, dropout=dropout if num_layers > 1 else 0.0
        )
        self.out = nn.Linear(2 * hidden_size, n_labels + 1)  # + blank (id 0)

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Frames after subsampling for `lengths` input rows."""
        return torch.div(lengths + self.subsample - 1, self.subsample, rounding_mode="floor")

    def forward(self, points: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, input_dim) normalised rows, zero-padded; (B,) rows per sequence -> (B, S, C) log-probs, (B,) frames."""
        batch, steps, _ = points.shape
        k = self.subsample
        pad = (-steps) % k
        if pad:
            points = torch.cat([points, points.new_zeros(batch, pad, self.input_dim)], dim=1)
        frames = points.reshape(batch, (steps + pad) // k, self.input_dim * k)  # one projection for the whole sequence
        z = torch.tanh(self.inp(frames))
        n_frames = self.frame_lengths(lengths).clamp_min(1)
        # Packing keeps the backward direction from starting in the padding.
        packed = pack_padded_sequence(z, n_frames.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = self.lstm(packed)
        h, _ = pad_packed_sequence(h, batch_first=True, total_length=frames.shape[1])
        return torch.log_softmax(self.out(h), dim=-1), n_frames
