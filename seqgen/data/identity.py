"""Which data a run was trained on: corpus keys for data folders, content fingerprints, checks.

Two corpora prepared under one config name must not share one folder (`data/text_file`), or
training on file A after preparing file B would silently train on B:

* a corpus given by a path is prepared into ``<data_dir>/<name>/<stem>-<key>``, where the key
  (`corpus_key`, the `seqgen_corpus_key` resolver) hashes the resolved path and, for every file,
  its size, modification time and its first and last MiB: another file, or an edit, gets another
  folder;
* `prepare` computes the sha256 of the exact bytes it encodes (`Fingerprint`, streamed) and stores
  it in meta.json as ``fingerprint`` together with the vocabulary;
* every checkpoint stores both (``checkpoint["seqgen"]["data"]``, plain types), and `train` on
  resume and `seqgen-eval` refuse data whose fingerprint or vocabulary differs
  (`check_data_identity`).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from seqgen.errors import SeqgenError

EDGE = 1 << 20  # bytes hashed at each end of every file for the folder key


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
    return [path]


def corpus_key(path: str | os.PathLike[str]) -> str:
    """`<stem>-<12 hex>` naming the prepared folder of the corpus at `path` (file or folder).

    A path that does not exist yet gets a key from the path alone (prepare reports it missing).
    """
    root = Path(os.path.expanduser(os.fspath(path))).resolve()
    digest = hashlib.sha256(str(root).encode())
    if root.exists():
        for file in _files(root):
            stat = file.stat()
            digest.update(f"\0{file.relative_to(root) if root.is_dir() else file.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
            with open(file, "rb") as handle:
                digest.update(handle.read(EDGE))
                if stat.st_size > 2 * EDGE:
                    handle.seek(-EDGE, os.SEEK_END)
                    digest.update(handle.read(EDGE))
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", root.stem or root.name or "corpus").strip("._")[:40] or "corpus"
    return f"{stem}-{digest.hexdigest()[:12]}"


class Fingerprint:
    """sha256 of each split's name and bytes, in order: the identity of the prepared data."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()

    def begin(self, split: str) -> None:
        self._digest.update(split.encode() + b"\0")

    def feed(self, data: bytes) -> None:
        self._digest.update(data)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def data_identity(info: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint stores about its data (plain types): fingerprint and vocabulary."""
    return {"fingerprint": info.get("fingerprint"), "vocab": info.get("vocab"), "corpus": info.get("corpus")}


def check_data_identity(saved: dict[str, Any] | None, info: dict[str, Any], data_dir: Any, action: str, data_option: str) -> None:
    """Refuse `action` (train on resume, eval, sample) when the data differs from the checkpoint's.

    `data_option`: the option of that command that names the data folder (the hint names it).
    Checkpoints written before fingerprints existed (no ``data`` entry) are accepted.
    """
    if not saved:
        return
    current = data_identity(info)
    if saved.get("vocab") is not None and current.get("vocab") is not None and saved["vocab"] != current["vocab"]:
        raise SeqgenError(
            f"{action}: the data in {data_dir} has another vocabulary than the checkpoint's (corpus "
            f"'{current.get('corpus')}' vs '{saved.get('corpus')}'): prepare the run's own corpus again "
            f"(seqgen-prepare with the run's data.* settings) or pass {data_option}=<its prepared folder>"
        )
    if saved.get("fingerprint") and current.get("fingerprint") and saved["fingerprint"] != current["fingerprint"]:
        raise SeqgenError(
            f"{action}: the data in {data_dir} is not the data the checkpoint was trained on (fingerprint "
            f"{current['fingerprint'][:12]} vs {saved['fingerprint'][:12]}): prepare the run's own corpus again "
            f"or pass {data_option}=<its prepared folder>"
        )
