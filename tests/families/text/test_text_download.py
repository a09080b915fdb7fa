"""download(): local http.server, checksums, atomicity, unreachable hosts, corpus download=True."""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from seqgen.data.text.corpora import Enwik8Corpus
from seqgen.data.text.download import download
from seqgen.errors import SeqgenError


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A folder served over HTTP on 127.0.0.1 at a random port: (base url, folder)."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _make_zip(path: Path, member: str, data: bytes) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, data)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_checksum_ok_then_wrong(served, tmp_path: Path):
    base, www = served
    sha = _make_zip(www / "enwik8.zip", "enwik8", b"<mediawiki>hello</mediawiki>\n" * 50)
    dest = tmp_path / "data" / "enwik8.zip"

    got = download(f"{base}/enwik8.zip", dest, sha256=sha, progress=False)
    assert got == dest and dest.read_bytes() == (www / "enwik8.zip").read_bytes()
    assert not dest.with_suffix(".zip.part").exists()

    # already there with a matching checksum: not fetched again (works even with the server file gone)
    (www / "enwik8.zip").rename(www / "moved.zip")
    assert download(f"{base}/enwik8.zip", dest, sha256=sha, progress=False) == dest
    (www / "moved.zip").rename(www / "enwik8.zip")

    other = tmp_path / "other" / "enwik8.zip"
    with pytest.raises(SeqgenError) as info:
        download(f"{base}/enwik8.zip", other, sha256="0" * 64, progress=False)
    msg = str(info.value)
    assert "0" * 64 in msg and sha in msg
    assert not other.exists()
    assert list(other.parent.iterdir()) == []  # no .part left behind


def test_download_unreachable_and_404(served, tmp_path: Path):
    base, _ = served
    url = f"http://127.0.0.1:{_closed_port()}/enwik8.zip"
    dest = tmp_path / "enwik8.zip"
    with pytest.raises(SeqgenError) as info:
        download(url, dest, progress=False, timeout=5)
    assert url in str(info.value) and str(tmp_path) in str(info.value)
    assert not dest.exists() and not dest.with_suffix(".zip.part").exists()

    with pytest.raises(SeqgenError, match="404"):
        download(f"{base}/missing.zip", dest, progress=False)
    assert list(tmp_path.iterdir()) == [tmp_path / "www"]


def test_corpus_download_true(served, tmp_path: Path):
    base, www = served
    data = b"<page><title>A</title><text>Some wiki text.</text></page>\n" * 40
    sha = _make_zip(www / "enwik8.zip", "enwik8", data)
    root = tmp_path / "corpus"
    with pytest.raises(SeqgenError, match="download=true"):
        Enwik8Corpus(root=str(root)).load_splits()
    corpus = Enwik8Corpus(root=str(root), download=True, url=f"{base}/enwik8.zip", sha256=sha)
    splits = corpus.load_splits()
    assert (root / "enwik8.zip").is_file()
    assert splits["train"] + splits["valid"] + splits["test"] == data
