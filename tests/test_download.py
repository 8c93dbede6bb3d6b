"""Download, resume, verify and safe extraction, against archives the tests build,
served over file:// and from a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import kws
from kws import cli
from kws import download as dl
from kws.download import (
    DEFAULT_DATA_URL,
    MARKER_NAME,
    DownloadError,
    maybe_download_and_extract,
    safe_extract,
    verify_archive,
)
from kws.train.data import DatasetIndex, which_set


def build_dataset_archive(tmp: Path) -> tuple[Path, dict[str, bytes]]:
    """A small Speech Commands-like tar.gz (~400 KB, incompressible noise clips)."""
    src = tmp / "src"
    rng = np.random.default_rng(0)
    for word in ("yes", "no", "cat"):
        (src / word).mkdir(parents=True)
        for i in range(4):
            kws.write_wav(src / word / f"{word}{i:03d}_nohash_0.wav",
                           rng.uniform(-0.5, 0.5, 16000), 16000)
    (src / "_background_noise_").mkdir()
    kws.write_wav(src / "_background_noise_" / "white.wav", rng.uniform(-0.3, 0.3, 40000), 16000)
    archive = tmp / "speech_commands_test.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for p in sorted(src.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(src)), recursive=False)
    files = {str(p.relative_to(src)): p.read_bytes() for p in src.rglob("*.wav")}
    return archive, files


@pytest.fixture()
def archive(tmp_path):
    return build_dataset_archive(tmp_path)


def check_extracted(dest: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        assert (dest / rel).read_bytes() == data, rel
    assert (dest / MARKER_NAME).is_file()
    idx = DatasetIndex(dest, ["yes", "no"], validation_percentage=0, testing_percentage=0)
    assert idx.words == {"yes": 4, "no": 4, "cat": 4}


class Server:
    """A bounded HTTP server on 127.0.0.1 serving one archive with Range support.

    `cut_after`: the first full-body response stops after that many bytes and drops the
    connection. `ignore_range`: always answer 200 with the whole file."""

    def __init__(self, payload: bytes, cut_after: int | None = None, ignore_range=False):
        self.payload = payload
        self.cut_after = cut_after
        self.ignore_range = ignore_range
        self.requests: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10

            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.endswith(".tar.gz"):
                    self.send_error(404)
                    return
                rng = self.headers.get("Range")
                outer.requests.append(rng)
                start = 0
                if rng and not outer.ignore_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(outer.payload):
                        self.send_response(416)
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(outer.payload) - 1}/{len(outer.payload)}")
                else:
                    self.send_response(200)
                body = outer.payload[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.cut_after is not None:
                    cut, outer.cut_after = outer.cut_after, None
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.timeout = 10
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def test_default_url_and_empty_url(tmp_path):
    assert DEFAULT_DATA_URL.endswith("speech_commands_v0.02.tar.gz")
    dest = tmp_path / "data"
    assert maybe_download_and_extract("", dest) == dest
    assert not dest.exists()  # no download, nothing written


def test_file_url_extract_and_skip(archive, tmp_path):
    path, files = archive
    dest = tmp_path / "data"
    maybe_download_and_extract(path.as_uri(), dest, progress=False)
    check_extracted(dest, files)
    assert (dest / path.name).read_bytes() == path.read_bytes()
    # Already there: skipped, even with the source gone.
    path.unlink()
    (dest / "yes" / "yes000_nohash_0.wav").write_bytes(b"user edit")
    maybe_download_and_extract(path.as_uri(), dest, progress=False)
    assert (dest / "yes" / "yes000_nohash_0.wav").read_bytes() == b"user edit"


def test_http_interrupted_download_resumes(archive, tmp_path):
    path, files = archive
    payload = path.read_bytes()
    cut = len(payload) // 3
    with Server(payload, cut_after=cut) as server:
        dest = tmp_path / "data"
        maybe_download_and_extract(server.url(path.name), dest, progress=False)
    assert server.requests[0] is None
    assert server.requests[1] == f"bytes={cut}-"
    assert len(server.requests) == 2
    check_extracted(dest, files)
    assert hashlib.sha256((dest / path.name).read_bytes()).hexdigest() == hashlib.sha256(
        payload).hexdigest()
    assert not (dest / (path.name + ".part")).exists()


def test_http_resumes_a_partial_file_from_an_earlier_run(archive, tmp_path):
    path, files = archive
    payload = path.read_bytes()
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / (path.name + ".part")).write_bytes(payload[:12345])
    with Server(payload) as server:
        maybe_download_and_extract(server.url(path.name), dest, progress=False,
                                   checksum=hashlib.sha256(payload).hexdigest())
    assert server.requests == ["bytes=12345-"]
    check_extracted(dest, files)


def test_http_server_ignoring_range_restarts(archive, tmp_path):
    path, files = archive
    payload = path.read_bytes()
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / (path.name + ".part")).write_bytes(b"x" * 5000)  # junk: must be discarded
    with Server(payload, ignore_range=True) as server:
        maybe_download_and_extract(server.url(path.name), dest, progress=False)
    check_extracted(dest, files)


def test_file_url_resumes_by_offset(archive, tmp_path):
    path, files = archive
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / (path.name + ".part")).write_bytes(path.read_bytes()[:1000])
    maybe_download_and_extract(path.as_uri(), dest, progress=False)
    check_extracted(dest, files)


def test_http_errors(tmp_path):
    with Server(b"") as server:
        with pytest.raises(DownloadError, match="HTTP 404"):
            maybe_download_and_extract(server.url("missing.zip"), tmp_path / "d", progress=False)
    with pytest.raises(ValueError, match="only http, https and file URLs"):
        maybe_download_and_extract("ftp://example.com/a.tar.gz", tmp_path / "d", progress=False)


def test_checksum_and_corrupt_archives(archive, tmp_path):
    path, _ = archive
    dest = tmp_path / "data"
    with pytest.raises(ValueError, match=r"sha256 [0-9a-f]{64} does not match the expected 00"):
        maybe_download_and_extract(path.as_uri(), dest, checksum="00" * 32, progress=False)
    assert (dest / (path.name + ".bad")).is_file() and not (dest / MARKER_NAME).exists()
    truncated = tmp_path / "cut" / "trunc.tar.gz"
    truncated.parent.mkdir()
    truncated.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"trunc\.tar\.gz: not a valid tar\.gz archive"):
        verify_archive(truncated)
    notgz = tmp_path / "cut" / "plain.tar.gz"
    notgz.write_bytes(b"hello" * 100)
    with pytest.raises(ValueError, match="not a valid tar.gz"):
        maybe_download_and_extract(notgz.as_uri(), tmp_path / "d2", progress=False)
    assert verify_archive(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def evil_archive(tmp: Path, name: str, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    path = tmp / name
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("yes/fine.wav")
        ok.size = 4
        tar.addfile(ok, io.BytesIO(b"RIFF"))
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if data else None)
    return path


def info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    t = tarfile.TarInfo(name)
    t.type = kind
    t.linkname = link
    return t


@pytest.mark.parametrize(
    "member,message",
    [
        (info("../evil.txt"), "would be written outside"),
        (info("yes/../../evil.txt"), "would be written outside"),
        (info("/tmp/evil.txt"), "has an absolute path"),
        (info("yes/link", tarfile.SYMTYPE, "/etc/passwd"), "points to the absolute path"),
        (info("yes/link", tarfile.SYMTYPE, "../../outside"), "points outside"),
        (info("yes/hard", tarfile.LNKTYPE, "../outside"), "hard link .* points outside"),
        (info("yes/dev", tarfile.CHRTYPE), "device file or FIFO"),
        (info("yes/fifo", tarfile.FIFOTYPE), "device file or FIFO"),
    ],
)
def test_malicious_archives_are_refused(tmp_path, member, message):
    src = evil_archive(tmp_path, "evil.tar.gz", member, b"pwned" if member.isfile() else b"")
    dest = tmp_path / "data"
    with pytest.raises(ValueError, match=message):
        maybe_download_and_extract(src.as_uri(), dest, progress=False)
    # Nothing was extracted: every member is checked before writing.
    assert sorted(p.name for p in dest.iterdir()) == ["evil.tar.gz"]
    assert not (tmp_path / "evil.txt").exists()


def test_links_inside_the_folder_are_fine(tmp_path):
    src = evil_archive(tmp_path, "ok.tar.gz", info("yes/alias.wav", tarfile.SYMTYPE, "fine.wav"))
    dest = tmp_path / "data"
    safe_extract(src, dest)
    assert os.readlink(dest / "yes" / "alias.wav") == "fine.wav"
    assert (dest / "yes" / "alias.wav").read_bytes() == b"RIFF"


def test_cli_download(archive, tmp_path, capsys):

    path, files = archive
    dest = tmp_path / "data"
    assert cli.main(["download", "--data_url", path.as_uri(), "--data_dir", str(dest), "--quiet",
                     "--keep_archive", "0"]) == 0
    assert "downloaded and extracted" in capsys.readouterr().out
    check_extracted(dest, files)
    assert not (dest / path.name).exists()
    assert cli.main(["download", "--data-url", path.as_uri(), "--data-dir", str(dest)]) == 0
    assert "already there" in capsys.readouterr().out
    assert cli.main(["download", "--data_url", "", "--data_dir", str(dest)]) == 0
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not an archive")
    assert cli.main(["download", "--data_url", bad.as_uri(), "--data_dir", str(tmp_path / "x"),
                     "--quiet"]) == 2
    assert "not a valid tar.gz" in capsys.readouterr().err


def test_the_sample_is_fetched_as_a_user_would(speech_dir, sample_fetcher, tmp_path):
    """Without a local sample the tests fetch the official test set with `kws download`:
    here an archive built from real clips in the test set's layout (word folders,
    `_unknown_/<word>_<clip>`, `_silence_`, no background noise), served on 127.0.0.1. The
    result is a usable Speech Commands folder in the full dataset's layout, every clip in
    the classic `testing` partition; the fixture's noise excerpt fills in the missing
    noise."""
    src = tmp_path / "src"
    for word in ("yes", "no", "stop", "go"):
        (src / word).mkdir(parents=True)
        for clip in sorted((speech_dir / word).glob("*.wav")):
            (src / word / clip.name).write_bytes(clip.read_bytes())
    (src / "_unknown_").mkdir()
    for word in ("bed", "cat"):
        for clip in sorted((speech_dir / word).glob("*.wav")):
            (src / "_unknown_" / f"{word}_{clip.name}").write_bytes(clip.read_bytes())
    (src / "_silence_").mkdir()
    for clip in sorted((speech_dir / "_silence_").glob("*.wav")):
        (src / "_silence_" / clip.name).write_bytes(clip.read_bytes())
    archive = tmp_path / "speech_commands_test_set_v0.02.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for p in sorted(src.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(src)), recursive=False)
    dest = tmp_path / "fetched"
    with Server(archive.read_bytes()) as server:
        assert sample_fetcher(server.url(archive.name), dest) == dest
        assert server.requests  # it really went over HTTP
    for rel in (p.relative_to(src) for p in src.rglob("*.wav")):
        if rel.parts[0] == "_unknown_":
            word, name = rel.name.split("_", 1)
            rel_out = Path(word) / name
        else:
            rel_out = rel
        assert (dest / rel_out).read_bytes() == (src / rel).read_bytes(), rel
    assert not (dest / "_unknown_").exists()
    noise = dest / "_background_noise_" / "doing_the_dishes.wav"
    assert noise.read_bytes() == (
        speech_dir / "_background_noise_" / "doing_the_dishes.wav").read_bytes()
    index = DatasetIndex(dest, ["yes", "no", "stop", "go"], validation_percentage=10,
                         testing_percentage=10)
    assert index.words["bed"] == 1 and index.words["cat"] == 1
    assert len(index.background_noise) == 1
    clips = [p for p in dest.glob("*/*.wav") if not p.parent.name.startswith("_")]
    assert len(clips) == sum(1 for p in src.rglob("*.wav") if p.parent.name != "_silence_")
    assert {which_set(str(p), 10, 10) for p in clips} == {"testing"}
    # A second fetch finds it extracted and does not download again.
    with Server(b"") as server:
        assert sample_fetcher(server.url(archive.name), dest) == dest
        assert server.requests == []
    # An unreachable address is an error that says so, never a silent skip.
    with pytest.raises(RuntimeError, match="kws download: error"):
        sample_fetcher("http://127.0.0.1:9/speech_commands_test_set_v0.02.tar.gz",
                       tmp_path / "never")


def test_unfold_unknown_moves_test_set_clips_to_word_folders_and_loses_nothing(tmp_path):
    """`_unknown_/<word>_<speaker>_nohash_<n>.wav` moves to `<word>/`; a clip already there
    with the same bytes is dropped from `_unknown_`, one with other bytes or an unexpected
    name stays; a second run changes nothing; `--keep_layout` keeps the archive's names."""
    unknown = tmp_path / "_unknown_"
    unknown.mkdir()
    (unknown / "bed_0a2b400e_nohash_0.wav").write_bytes(b"bed0")
    (unknown / "tree_0a2b400e_nohash_1.wav").write_bytes(b"tree1")
    (unknown / "cat_12345678_nohash_0.wav").write_bytes(b"same")
    (unknown / "dog_12345678_nohash_0.wav").write_bytes(b"theirs")
    (unknown / "readme.txt").write_bytes(b"odd")
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "12345678_nohash_0.wav").write_bytes(b"same")
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "12345678_nohash_0.wav").write_bytes(b"ours")
    assert dl.unfold_unknown(tmp_path) == 2
    assert (tmp_path / "bed" / "0a2b400e_nohash_0.wav").read_bytes() == b"bed0"
    assert (tmp_path / "tree" / "0a2b400e_nohash_1.wav").read_bytes() == b"tree1"
    assert sorted(p.name for p in unknown.iterdir()) == ["dog_12345678_nohash_0.wav",
                                                         "readme.txt"]
    assert (tmp_path / "dog" / "12345678_nohash_0.wav").read_bytes() == b"ours"
    assert dl.unfold_unknown(tmp_path) == 0
    assert len(list(unknown.iterdir())) == 2
    # Through the command: the default unfolds, --keep_layout does not.
    src = tmp_path / "src" / "_unknown_"
    src.mkdir(parents=True)
    (src / "bed_0a2b400e_nohash_0.wav").write_bytes(b"bed0")
    archive = tmp_path / "t.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src.parent, arcname=".")
    for flags, where in (([], "bed/0a2b400e_nohash_0.wav"),
                         (["--keep_layout"], "_unknown_/bed_0a2b400e_nohash_0.wav")):
        out = tmp_path / f"out{len(flags)}"
        assert cli.main(["download", "--data_url", archive.as_uri(), "--data_dir", str(out),
                         "--quiet", *flags]) == 0
        assert (out / where).read_bytes() == b"bed0"
        assert len(list(out.rglob("*.wav"))) == 1
    # A folder extracted with the archive's names is unfolded when fetched again.
    assert cli.main(["download", "--data_url", archive.as_uri(), "--data_dir",
                     str(tmp_path / "out1"), "--quiet"]) == 0
    assert [p.relative_to(tmp_path / "out1").as_posix()
            for p in (tmp_path / "out1").rglob("*.wav")] == ["bed/0a2b400e_nohash_0.wav"]


def test_failed_download_leaves_no_folder_behind(tmp_path):
    """A dataset folder created for a download that fails is removed, so the next run
    tries again instead of taking an empty folder for a dataset; a folder that existed
    before is left."""
    import socket

    from kws import download

    with socket.socket() as s:  # a port nobody listens on: the connection is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/speech_commands.tar.gz"
    fresh = tmp_path / "data"
    with pytest.raises(download.DownloadError):
        download.maybe_download_and_extract(url, fresh, retries=1, timeout=2, progress=False)
    assert not fresh.exists()
    existing = tmp_path / "mine"
    existing.mkdir()
    (existing / "notes.txt").write_text("keep")
    with pytest.raises(download.DownloadError):
        download.maybe_download_and_extract(url, existing, retries=1, timeout=2,
                                            progress=False)
    assert (existing / "notes.txt").read_text() == "keep"
