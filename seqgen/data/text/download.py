"""Download a corpus archive: streamed, checksummed, atomic (``.part`` file then ``os.replace``)."""

from __future__ import annotations

import hashlib
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from seqgen.errors import SeqgenError

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download(
    url: str,
    dest: Path,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Fetch ``url`` into ``dest`` and return ``dest``.

    * If ``dest`` exists and either no ``sha256`` is given or its sha256 matches, nothing is
      downloaded. An existing file with the wrong sha256 is downloaded again.
    * The body is streamed to ``dest.part`` (with a tqdm bar when ``progress``), hashed on the fly
      and moved to ``dest`` with ``os.replace`` only when complete and (if ``sha256`` is given)
      verified, so ``dest`` is never a partial file.
    * Network failure or checksum mismatch -> :class:`SeqgenError`; the ``.part`` file is removed.
    """
    dest = Path(dest)
    expected = sha256.lower().strip() if sha256 else None
    if dest.is_file():
        if expected is None or sha256_file(dest) == expected:
            return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SeqgenError(f"cannot create folder {dest.parent} for the download of {url}: {err}") from err
    part = dest.with_suffix(dest.suffix + ".part")
    digest = hashlib.sha256()
    manual = f"download it by hand into {dest.parent} (as {dest.name}) and run again"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
            total = int(length) if length and length.isdigit() else None
            with open(part, "wb") as fh, tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=f"download {dest.name}",
                disable=not progress,
                leave=False,
            ) as bar:
                while True:
                    block = response.read(_CHUNK)
                    if not block:
                        break
                    fh.write(block)
                    digest.update(block)
                    bar.update(len(block))
                fh.flush()
                os.fsync(fh.fileno())
            if total is not None and part.stat().st_size != total:
                raise SeqgenError(
                    f"download of {url} was cut short ({part.stat().st_size} of {total} bytes); "
                    f"run again or {manual}"
                )
    except SeqgenError:
        part.unlink(missing_ok=True)
        raise
    except (urllib.error.URLError, socket.timeout, OSError, ValueError) as err:
        part.unlink(missing_ok=True)
        if isinstance(err, urllib.error.URLError) and not isinstance(err, urllib.error.HTTPError):
            reason = err.reason
        else:
            reason = err
        raise SeqgenError(f"could not download {url}: {reason}; {manual}") from err
    got = digest.hexdigest()
    if expected is not None and got != expected:
        part.unlink(missing_ok=True)
        raise SeqgenError(
            f"checksum mismatch for {url}: expected sha256 {expected}, got {got}; "
            f"the file was deleted. Check the URL/sha256 or {manual}"
        )
    os.replace(part, dest)
    return dest
