"""Which files of a run or sweep folder this user's seqgen wrote: digests in a signed record.

A folder may come from someone else (copied, downloaded, on a shared disk), and some of its files
decide what code runs (a config's `_target_`s, Ray Tune's pickled state). When seqgen writes such a
file it adds the file's sha256 to `<folder>/.seqgen-record.json`, signed with an HMAC whose key
(`state_key`) lives in the user's own config folder (`$XDG_CONFIG_HOME/seqgen/state.key`, else
`~/.config/seqgen/state.key`, mode 0600). `written_here(folder, file)` is then True only for a
file this user's seqgen wrote on this machine and nobody changed since: a record copied along with
a folder from elsewhere, edited, or forged does not verify. Every digest a file has had stays
accepted, so a command killed between two writes leaves a folder that still verifies.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Iterable

from seqgen.errors import SeqgenError
from seqgen.io import atomic_write, sha256_file

RECORD = ".seqgen-record.json"

log = logging.getLogger(__name__)


def state_key() -> bytes | None:
    """This user's secret for signing records (created on first use, readable by the user only);
    None where it cannot be created (a read-only home): nothing is then trusted as this user's."""
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "seqgen"
    path = base / "state.key"
    try:
        if not path.exists():
            base.mkdir(parents=True, exist_ok=True)
            fresh = atomic_write(base / f".state.key.{os.getpid()}", secrets.token_hex(32))
            os.chmod(fresh, 0o600)
            with contextlib.suppress(FileExistsError):
                os.link(fresh, path)  # the first writer wins: two processes never sign with two keys
            fresh.unlink()
        return path.read_text().strip().encode() or None
    except (OSError, SeqgenError) as err:
        log.warning("no key to sign what seqgen writes (%s): run and sweep folders count as someone else's", err)
        return None


def _sign(files: dict[str, list[str]]) -> str | None:
    key = state_key()
    if key is None:
        return None
    return hmac.new(key, json.dumps(files, sort_keys=True).encode(), hashlib.sha256).hexdigest()


def read_record(folder: Path) -> dict[str, list[str]] | None:
    """The accepted digests per file (relative path), or None without a valid signed record."""
    try:
        record = json.loads((Path(folder) / RECORD).read_text())
        files = record["files"]
        signature = _sign(files) if isinstance(files, dict) else None
        valid = signature is not None and hmac.compare_digest(str(record["hmac"]), signature)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return files if valid else None


def record_files(folder: Path, paths: Iterable[tuple[str, Path]]) -> None:
    """Add the digests of `paths` ((relative name in `folder`, file to digest)) to the record."""
    folder = Path(folder)
    if state_key() is None:
        return  # unsigned: the folder is checked like anyone else's later (safe, only less convenient)
    files = read_record(folder) or {}
    for rel, path in paths:
        if Path(path).is_file():
            digest = sha256_file(path)
            accepted = files.setdefault(rel, [])
            if digest not in accepted:
                accepted.append(digest)
    atomic_write(folder / RECORD, json.dumps({"files": files, "hmac": _sign(files)}, indent=1, sort_keys=True) + "\n")


def written_here(folder: Path, rel: str, record: dict[str, list[str]] | None = None) -> bool:
    """Whether `<folder>/<rel>` is a file this user's seqgen wrote and nobody changed since."""
    path = Path(folder) / rel
    record = read_record(folder) if record is None else record
    return record is not None and path.is_file() and sha256_file(path) in record.get(rel, [])
