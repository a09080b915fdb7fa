"""Symbol vocabularies for text: bytes (enwik8's 205 symbols) or Unicode characters."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from seqgen.errors import SeqgenError


class Vocabulary:
    """Maps symbols (byte values or code points) to dense ids 0..V-1."""

    def __init__(self, symbols: Iterable[int], kind: str = "byte") -> None:
        if kind not in ("byte", "char"):
            raise SeqgenError(f"unknown vocabulary kind '{kind}': use byte or char")
        self.kind = kind
        self.symbols = sorted(set(int(s) for s in symbols))
        if not self.symbols:
            raise SeqgenError("empty vocabulary: the training text is empty")
        self._lookup = np.full(max(self.symbols) + 1, -1, dtype=np.int64)
        self._lookup[self.symbols] = np.arange(len(self.symbols))

    def __len__(self) -> int:
        return len(self.symbols)

    @classmethod
    def from_data(cls, data: bytes, kind: str = "byte") -> "Vocabulary":
        return cls(np.unique(cls.codes(data, kind)).tolist(), kind)

    @staticmethod
    def codes(data: bytes | str, kind: str) -> np.ndarray:
        if kind == "byte":
            raw = data.encode("utf-8") if isinstance(data, str) else data
            return np.frombuffer(raw, dtype=np.uint8).astype(np.int64)
        text = data if isinstance(data, str) else data.decode("utf-8", errors="replace")
        return np.fromiter((ord(ch) for ch in text), dtype=np.int64, count=len(text))

    def encode(self, data: bytes | str) -> np.ndarray:
        codes = self.codes(data, self.kind)
        if isinstance(data, str) and self.kind == "byte" and not self.known(codes):
            # a byte vocabulary sees UTF-8 bytes; the user typed characters: name those
            unknown = [ch for ch in dict.fromkeys(data) if not self.known(self.codes(ch, "byte"))]
            shown = ", ".join(repr(ch) for ch in unknown[:20])
            raise SeqgenError(f"characters not in the model's vocabulary: {shown}; remove them from the text")
        return self.encode_codes(codes)

    def known(self, codes: np.ndarray) -> bool:
        """Whether every symbol code is in the vocabulary."""
        codes = np.asarray(codes, dtype=np.int64)
        inside = codes < len(self._lookup)
        return bool(inside.all() and (self._lookup[codes] >= 0).all())

    def encode_codes(self, codes: np.ndarray) -> np.ndarray:
        """Symbol codes (byte values or code points) -> ids; unknown symbols raise SeqgenError."""
        codes = np.asarray(codes, dtype=np.int64)
        ids = np.full(codes.shape, -1, dtype=np.int64)
        known = codes < len(self._lookup)
        ids[known] = self._lookup[codes[known]]
        if (ids < 0).any():
            unknown = sorted(set(codes[ids < 0].tolist()))
            shown = ", ".join(repr(chr(c)) if self.kind == "char" or c < 128 else f"byte {c}" for c in unknown[:20])
            raise SeqgenError(f"characters not in the model's vocabulary: {shown}; remove them from the text")
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        codes = [self.symbols[int(i)] for i in ids]
        if self.kind == "byte":
            return bytes(codes).decode("utf-8", errors="replace")
        return "".join(chr(c) for c in codes)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "symbols": self.symbols}

    @classmethod
    def from_dict(cls, data: dict) -> "Vocabulary":
        return cls(data["symbols"], data["kind"])
