"""Download and safely extract a dataset archive (the Speech Commands tar.gz by default).

`maybe_download_and_extract(data_url, dest_dir)`:
  - an empty `data_url` means "no download" (use what is in `dest_dir`);
  - skipped when `dest_dir` holds the marker file of a finished extraction of that URL;
  - downloads to `dest_dir/<archive name>.part` with a progress bar, resuming a partial
    `.part` file (HTTP Range; `file://` URLs resume by offset) and retrying a cut
    connection; the finished file is renamed to `<archive name>`;
  - verifies the archive: it must decompress to its end as a valid tar.gz (gzip CRC and
    length checked) and match `checksum` (sha256 hex) when one is given;
  - extracts safely: every member is checked before anything is written; absolute paths,
    `..` escapes, links pointing outside the folder, device files and FIFOs are refused
    with a ValueError naming the member;
  - lays the official test set out as the full dataset (`unfold_unknown`): its
    `_unknown_/<word>_<speaker>_nohash_<n>.wav` clips move to
    `<word>/<speaker>_nohash_<n>.wav`, so that the classic partition hash sees the speaker
    and puts every test-set clip in `testing`, as it does for the ten command words.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath

DEFAULT_DATA_URL = (
    "https://storage.googleapis.com/download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
)
# The dataset's official test set (4,890 clips of 12 labels in folders: the 10 command
# words, `_unknown_` and `_silence_`): a quick way to real voices for evaluation.
TEST_SET_URL = (
    "https://storage.googleapis.com/download.tensorflow.org/data/"
    "speech_commands_test_set_v0.02.tar.gz"
)
MARKER_NAME = ".kws_download_complete"
UNKNOWN_DIR = "_unknown_"
# A test-set unknown clip: the word, then the name the clip has in the full dataset.
_UNKNOWN_CLIP = re.compile(r"^([a-z]+)_([^_]+_nohash_\d+\.wav)$")
_CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """The archive could not be fetched (network, HTTP status, too many cut connections)."""


def archive_name(data_url: str) -> str:
    name = os.path.basename(urllib.parse.urlparse(data_url).path)
    if not name:
        raise ValueError(f"--data_url {data_url} does not name a file")
    return name


def _marker(dest_dir: Path) -> Path:
    return dest_dir / MARKER_NAME


def is_extracted(data_url: str, dest_dir: str | os.PathLike) -> bool:
    """True when `dest_dir` holds a finished extraction of `data_url`."""
    marker = _marker(Path(dest_dir))
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()).get("url") == data_url
    except (ValueError, OSError):
        return False


# --------------------------------------------------------------------------- download


def _progress_bar(total: int | None, initial: int, name: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                desc=f"downloading {name}")


def _fetch_once(data_url: str, part: Path, timeout: float, progress: bool) -> bool:
    """One attempt: appends to `part` from its current size. True when complete."""
    have = part.stat().st_size if part.exists() else 0
    scheme = urllib.parse.urlparse(data_url).scheme
    if scheme == "file":
        src = Path(urllib.request.url2pathname(urllib.parse.urlparse(data_url).path))
        if not src.is_file():
            raise DownloadError(f"{data_url}: no such file")
        total = src.stat().st_size
        if have > total:
            have = 0
            part.unlink()
        bar = _progress_bar(total, have, part.name[:-5], progress)
        with open(src, "rb") as fin, open(part, "ab") as fout:
            fin.seek(have)
            while chunk := fin.read(_CHUNK):
                fout.write(chunk)
                if bar:
                    bar.update(len(chunk))
        if bar:
            bar.close()
        return True
    if scheme not in ("http", "https"):
        raise ValueError(f"--data_url {data_url}: only http, https and file URLs are supported")
    request = urllib.request.Request(data_url, headers={"User-Agent": "kws-download"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to send: the part file is complete
            return True
        raise DownloadError(f"{data_url}: HTTP {e.code} {e.reason}") from e
    with response:
        status = response.status
        if have and status != 206:  # the server ignored the range: start over
            have = 0
            part.unlink(missing_ok=True)
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        total = have + expected if expected is not None else None
        bar = _progress_bar(total, have, part.name[:-5], progress)
        received = 0
        try:
            with open(part, "ab") as fout:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except Exception:  # IncompleteRead, reset, timeout: resume next attempt
                        return False
                    if not chunk:
                        break
                    fout.write(chunk)
                    received += len(chunk)
                    if bar:
                        bar.update(len(chunk))
        finally:
            if bar:
                bar.close()
    return expected is None or received >= expected


def download(data_url: str, dest_dir: str | os.PathLike, *, retries: int = 5,
             timeout: float = 60.0, progress: bool = True) -> Path:
    """Downloads `data_url` to `dest_dir/<archive name>` (resuming `<name>.part`)."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / archive_name(data_url)
    part = target.with_name(target.name + ".part")
    for attempt in range(retries + 1):
        try:
            done = _fetch_once(data_url, part, timeout, progress)
        except (urllib.error.URLError, OSError) as e:
            if isinstance(e, urllib.error.HTTPError) or attempt == retries:
                raise DownloadError(f"{data_url}: {e}") from e
            done = False
        if done:
            os.replace(part, target)
            return target
        time.sleep(min(0.2 * 2**attempt, 5.0))
    raise DownloadError(
        f"{data_url}: the connection was cut {retries + 1} times; {part} keeps the "
        "partial download and the next run resumes it"
    )


# --------------------------------------------------------------------------- verify + extract


def verify_archive(path: str | os.PathLike, checksum: str | None = None) -> str:
    """Checks that `path` is a complete, valid tar.gz (and matches `checksum`, a sha256
    hex digest, if given). Returns its sha256. Raises ValueError naming the problem."""
    path = Path(path)
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    digest = sha.hexdigest()
    if checksum:
        want = checksum.lower().removeprefix("sha256:").strip()
        if digest != want:
            raise ValueError(f"{path}: sha256 {digest} does not match the expected {want}")
    try:
        with gzip.open(path, "rb") as g:  # reads to the end: gzip CRC and length checked
            while g.read(1 << 20):
                pass
        with tarfile.open(path, "r:gz") as tar:
            if not tar.getmembers():
                raise ValueError(f"{path}: the archive is empty")
    except (OSError, EOFError, tarfile.TarError, gzip.BadGzipFile) as e:
        raise ValueError(f"{path}: not a valid tar.gz archive ({e})") from e
    return digest


def _inside(root: Path, target: Path) -> bool:
    try:
        target.relative_to(root)
        return True
    except ValueError:
        return False


def check_members(tar: tarfile.TarFile, dest_dir: Path, archive: str = "") -> None:
    """Raises ValueError for any member that would escape `dest_dir` or is not a plain
    file, folder or an inside-pointing link."""
    root = dest_dir.resolve()
    where = f"{archive}: " if archive else ""
    for m in tar.getmembers():
        name = m.name
        if name.startswith(("/", "\\")) or PurePosixPath(name).is_absolute() or (
            len(name) > 1 and name[1] == ":"
        ):
            raise ValueError(f"{where}member '{name}' has an absolute path")
        target = (root / name).resolve()
        if not _inside(root, target):
            raise ValueError(f"{where}member '{name}' would be written outside {dest_dir}")
        if m.isdev() or m.isfifo():
            raise ValueError(f"{where}member '{name}' is a device file or FIFO")
        if m.issym():
            link = m.linkname
            if os.path.isabs(link):
                raise ValueError(f"{where}symlink '{name}' points to the absolute path {link}")
            if not _inside(root, (target.parent / link).resolve()):
                raise ValueError(f"{where}symlink '{name}' -> '{link}' points outside {dest_dir}")
        elif m.islnk():
            link = m.linkname
            if os.path.isabs(link) or not _inside(root, (root / link).resolve()):
                raise ValueError(f"{where}hard link '{name}' -> '{link}' points outside {dest_dir}")
        elif not (m.isfile() or m.isdir()):
            raise ValueError(f"{where}member '{name}' has an unsupported type")


def safe_extract(archive: str | os.PathLike, dest_dir: str | os.PathLike) -> None:
    """Extracts a tar.gz into `dest_dir` after checking every member (nothing is written
    when one member is refused)."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        check_members(tar, dest, str(archive))
        if hasattr(tarfile, "data_filter"):  # defence in depth where Python has it
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover - old Pythons; members were checked above
            tar.extractall(dest)


def unfold_unknown(dest_dir: str | os.PathLike) -> int:
    """Moves `dest_dir/_unknown_/<word>_<rest>.wav` to `dest_dir/<word>/<rest>.wav` (the
    full dataset's layout) and returns how many clips moved. A clip whose target already
    holds the same bytes is removed from `_unknown_`; one whose target differs, or whose
    name is not `<word>_<speaker>_nohash_<n>.wav`, stays where it is. `_unknown_` is
    removed once empty. Running it again is harmless."""
    unknown = Path(dest_dir) / UNKNOWN_DIR
    if not unknown.is_dir():
        return 0
    moved = 0
    for clip in sorted(unknown.iterdir()):
        m = _UNKNOWN_CLIP.match(clip.name)
        if not m or not clip.is_file() or clip.is_symlink():
            continue
        target = Path(dest_dir) / m.group(1) / m.group(2)
        if target.exists():
            if target.is_file() and target.read_bytes() == clip.read_bytes():
                clip.unlink()
            continue
        target.parent.mkdir(exist_ok=True)
        os.replace(clip, target)
        moved += 1
    if not any(unknown.iterdir()):
        unknown.rmdir()
    return moved


def maybe_download_and_extract(
    data_url: str,
    dest_dir: str | os.PathLike,
    *,
    checksum: str | None = None,
    keep_archive: bool = True,
    unfold: bool = True,
    retries: int = 5,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Makes sure `dest_dir` holds the extracted `data_url` archive; returns `dest_dir`.

    Empty `data_url`: nothing to do. Already extracted (marker file): skipped. An archive
    already downloaded is verified and extracted without downloading again. `unfold`
    applies `unfold_unknown` to the folder, extracted now or before (a no-op when it has
    no `_unknown_`).
    """
    dest = Path(dest_dir)
    if not data_url:
        return dest
    if is_extracted(data_url, dest):
        if unfold:  # a folder extracted before unfolding existed
            unfold_unknown(dest)
        return dest
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / archive_name(data_url)
    if not archive.is_file():
        try:
            archive = download(data_url, dest, retries=retries, timeout=timeout,
                               progress=progress)
        except BaseException:
            # A folder made here and left empty (or half-filled) would look like a dataset
            # to the next run, which would then never retry: remove what was created.
            if created:
                shutil.rmtree(dest, ignore_errors=True)
            raise
    try:
        digest = verify_archive(archive, checksum)
    except ValueError as e:
        # A corrupt download is useless: move it aside so the next run starts afresh.
        bad = archive.with_name(archive.name + ".bad")
        shutil.move(archive, bad)
        raise ValueError(f"{e} (moved to {bad})") from e
    safe_extract(archive, dest)
    if unfold:
        unfold_unknown(dest)
    _marker(dest).write_text(json.dumps({"url": data_url, "sha256": digest}) + "\n")
    if not keep_archive:
        archive.unlink()
    return dest
