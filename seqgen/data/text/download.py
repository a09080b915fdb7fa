"""Download a corpus archive: streamed, checksummed, atomic (`seqgen.io.atomic_open`)."""

from __future__ import annotations

import hashlib
import socket
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from seqgen.errors import SeqgenError
from seqgen.io import atomic_open, sha256_file

_CHUNK = 1 << 20


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
    * The body is streamed to a temp file beside ``dest`` (with a tqdm bar when ``progress``),
      hashed on the fly and renamed to ``dest`` only when complete and (if ``sha256`` is given)
      verified, so ``dest`` is never a partial file.
    * Network failure or checksum mismatch -> :class:`SeqgenError`; the temp file is removed.
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
    digest = hashlib.sha256()
    manual = f"download it by hand into {dest.parent} (as {dest.name}) and run again"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
            total = int(length) if length and length.isdigit() else None
            with atomic_open(dest, "wb") as fh, tqdm(
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
                size = fh.tell()
                if total is not None and size != total:
                    raise SeqgenError(f"download of {url} was cut short ({size} of {total} bytes); run again or {manual}")
                got = digest.hexdigest()
                if expected is not None and got != expected:  # raised inside: the temp file is removed
                    raise SeqgenError(
                        f"checksum mismatch for {url}: expected sha256 {expected}, got {got}; "
                        f"the file was deleted. Check the URL/sha256 or {manual}"
                    )
    except SeqgenError:
        raise
    except (urllib.error.URLError, socket.timeout, OSError, ValueError) as err:
        if isinstance(err, urllib.error.URLError) and not isinstance(err, urllib.error.HTTPError):
            reason = err.reason
        else:
            reason = err
        raise SeqgenError(f"could not download {url}: {reason}; {manual}") from err
    return dest
