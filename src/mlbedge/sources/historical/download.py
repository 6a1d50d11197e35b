"""``mlbedge data download``: fetch the public season archives into the data folder, with checksums.

Two archives per season, from base URLs that are settings:

- **SBRO** season workbooks (``sbro_archive_base_url`` / ``sbro_archive_file``), saved as
  ``sbr/mlb_odds_sbr_YYYY.xlsx`` (the SBRO loader reads ``.xlsx`` as well as ``.csv``);
- **Retrosheet** game-log zips (``retrosheet_base_url`` / ``retrosheet_archive_file``), saved as
  ``retrosheet/glYYYY.zip`` with the game log ``GLYYYY.TXT`` unzipped beside it.

Every file written is recorded in ``download_manifest.json`` in the data folder: its URL, size,
SHA-256 and when it was fetched (and for a zip, each file taken out of it). A file already on disk
whose checksum matches the manifest is not fetched again (``force`` fetches it anyway); a file
whose bytes no longer match is fetched again. Files are written through a temporary name and
renamed, so an interrupted run never leaves half a file under the real name.

Requests go through the project's :class:`~mlbedge.sources.http.PoliteClient` (its retries and
backoff are the ``http_*`` settings). When a host cannot be reached at all the run stops with
:class:`OfflineError`, whose message says so and what to do instead; an archive the server does
not have (404) is reported and the other seasons still download.

The Retrosheet files come with its notice (printed by the command):
"The information used here was obtained free of charge from and is copyrighted by Retrosheet.
Interested parties may contact Retrosheet at www.retrosheet.org". SBRO data: "Source:
sportsbookreviewsonline.com"; no licence is stated, see the data notes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from mlbedge.settings import Settings, get_settings
from mlbedge.sources.http import FetchResult, PoliteClient, Request

MANIFEST = "download_manifest.json"
Source = Literal["sbro", "retrosheet"]
SOURCES: tuple[Source, ...] = ("sbro", "retrosheet")
EARLIEST_SEASON = {"sbro": 2007, "retrosheet": 1871}  # the first season each archive publishes


class DownloadError(RuntimeError):
    """An archive that could not be downloaded or is not what it should be (names the URL)."""


class OfflineError(DownloadError):
    """A host that cannot be reached at all: no network, a wrong base URL, or a firewall."""


@dataclass(frozen=True)
class Archive:
    """One file to fetch: where from, where to, and what to take out of it."""

    source: Source
    season: int
    url: str
    path: Path  # relative to the data folder
    extract: str | None = None  # for a zip: the member to unzip next to it (matched case-insensitively)


@dataclass
class Downloaded:
    """What happened to one archive."""

    archive: Archive
    status: Literal["downloaded", "kept", "failed"]
    sha256: str | None = None
    size_bytes: int = 0
    extracted: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


@dataclass
class DownloadReport:
    """Every archive of a run, and where the manifest is."""

    data_dir: Path
    manifest: Path
    results: list[Downloaded] = field(default_factory=list)

    @property
    def failed(self) -> list[Downloaded]:
        """The archives that could not be had."""
        return [r for r in self.results if r.status == "failed"]


def parse_seasons(text: str) -> list[int]:
    """``"2015-2019"``, ``"2016"`` or ``"2015,2017-2018"`` as a sorted list of seasons."""
    seasons: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        first, sep, last = part.partition("-")
        try:
            start, end = int(first), int(last) if sep else int(first)
        except ValueError:
            raise ValueError(f"seasons {text!r}: {part!r} is not YYYY or YYYY-YYYY") from None
        if end < start:
            raise ValueError(f"seasons {text!r}: {part!r} ends before it starts")
        seasons.update(range(start, end + 1))
    if not seasons:
        raise ValueError(f"seasons {text!r}: no season given")
    return sorted(seasons)


def _url(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{quote(name)}"


def archives(
    seasons: Iterable[int], *, settings: Settings | None = None, sources: Sequence[Source] = SOURCES
) -> list[Archive]:
    """The archives of ``seasons`` for ``sources``, in season order."""
    settings = settings or get_settings()
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ValueError(f"unknown archive sources {unknown}; known: {', '.join(SOURCES)}")
    out = []
    for season in sorted(set(seasons)):
        for source in sources:
            if season < EARLIEST_SEASON[source]:
                continue
            if source == "sbro":
                name = settings.sbro_archive_file.format(season=season)
                out.append(
                    Archive(
                        "sbro",
                        season,
                        _url(settings.sbro_archive_base_url, name),
                        Path("sbr") / f"mlb_odds_sbr_{season}.xlsx",
                    )
                )
            else:
                name = settings.retrosheet_archive_file.format(season=season)
                out.append(
                    Archive(
                        "retrosheet",
                        season,
                        _url(settings.retrosheet_base_url, name),
                        Path("retrosheet") / f"gl{season}.zip",
                        extract=f"GL{season}.TXT",
                    )
                )
    return out


def sha256_of(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(data_dir: Path) -> dict[str, Any]:
    """The manifest of a data folder (``{"files": {relative path: entry}}``); empty when absent."""
    path = data_dir / MANIFEST
    if not path.is_file():
        return {"files": {}}
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:
        raise DownloadError(f"{path}: not valid JSON ({exc}); remove it to start a new manifest") from exc
    manifest.setdefault("files", {})
    return manifest


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_manifest(data_dir: Path, manifest: dict[str, Any]) -> None:
    manifest["files"] = dict(sorted(manifest["files"].items()))
    _write_atomically(data_dir / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())


def _up_to_date(data_dir: Path, manifest: dict[str, Any], archive: Archive) -> bool:
    """The archive (and what was unzipped from it) is on disk with the recorded checksums."""
    entry = manifest["files"].get(archive.path.as_posix())
    if not entry or not (data_dir / archive.path).is_file():
        return False
    if sha256_of(data_dir / archive.path) != entry.get("sha256"):
        return False
    for member in entry.get("extracted", []):
        target = data_dir / member["path"]
        if not target.is_file() or sha256_of(target) != member["sha256"]:
            return False
    return True


def _check_sbro(archive: Archive, body: bytes) -> None:
    try:
        names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    except zipfile.BadZipFile:
        names = []
    if "xl/workbook.xml" not in names:
        start = body[:60].decode("utf-8", errors="replace").strip()
        raise DownloadError(f"{archive.url}: not an .xlsx workbook (starts with {start!r})")


def _unzip(archive: Archive, body: bytes) -> tuple[str, bytes]:
    assert archive.extract is not None
    try:
        zipped = zipfile.ZipFile(io.BytesIO(body))
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{archive.url}: not a zip archive ({exc})") from exc
    members = {name.rsplit("/", 1)[-1].upper(): name for name in zipped.namelist()}
    member = members.get(archive.extract.upper())
    if member is None:
        raise DownloadError(
            f"{archive.url}: the zip holds {sorted(zipped.namelist())}, not {archive.extract}"
        )
    content = zipped.read(member)
    if not content.strip():
        raise DownloadError(f"{archive.url}: {member} in the zip is empty")
    return member, content


def _offline(archive: Archive, result: FetchResult, data_dir: Path) -> OfflineError:
    host = urlsplit(archive.url).netloc
    return OfflineError(
        f"cannot reach {host} ({result.error}). Are you offline? `mlbedge data download` needs the "
        f"internet, or a reachable archive URL (settings MLBEDGE_SBRO_ARCHIVE_BASE_URL, "
        f"MLBEDGE_RETROSHEET_BASE_URL). Without a network, copy the season files into {data_dir} "
        "by hand: sbr/mlb_odds_sbr_YYYY.csv or .xlsx, retrosheet/GLYYYY.TXT"
    )


def download_archives(
    seasons: Iterable[int],
    *,
    data_dir: Path | None = None,
    settings: Settings | None = None,
    sources: Sequence[Source] = SOURCES,
    force: bool = False,
    client: PoliteClient | None = None,
    on_result: Callable[[Downloaded], None] | None = None,
) -> DownloadReport:
    """Fetch the archives of ``seasons`` into ``data_dir`` (default: the data folder setting).

    Returns what happened to each archive; raises :class:`OfflineError` as soon as a host cannot
    be reached, and :class:`DownloadError` when the data folder cannot be written. The manifest
    is rewritten after each file, so what was fetched before a failure stays recorded.
    """
    settings = settings or get_settings()
    data_dir = data_dir or settings.data_dir
    wanted = archives(seasons, settings=settings, sources=sources)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".write-test-"):
            pass  # the folder takes new files
    except OSError as exc:
        raise DownloadError(
            f"the data folder {data_dir} cannot be written ({exc}); choose another with --data-dir "
            "or MLBEDGE_DATA_DIR"
        ) from exc
    manifest = read_manifest(data_dir)
    report = DownloadReport(data_dir, data_dir / MANIFEST)
    own_client = client is None
    client = client or PoliteClient.from_settings(
        settings, default_interval=settings.download_min_interval_seconds
    )
    try:
        for archive in wanted:
            result = _one(archive, data_dir, manifest, client, force)
            report.results.append(result)
            if on_result is not None:
                on_result(result)
    finally:
        if own_client:
            client.close()
    return report


def _one(
    archive: Archive, data_dir: Path, manifest: dict[str, Any], client: PoliteClient, force: bool
) -> Downloaded:
    key = archive.path.as_posix()
    if not force and _up_to_date(data_dir, manifest, archive):
        entry = manifest["files"][key]
        return Downloaded(archive, "kept", entry["sha256"], entry["size_bytes"], entry.get("extracted", []))
    fetched = client.fetch(Request(f"{archive.source}_archive", "archive", archive.url))
    if fetched.error_kind == "unavailable" and fetched.http_status is None:
        raise _offline(archive, fetched, data_dir)
    if not fetched.ok or fetched.body is None:
        return Downloaded(archive, "failed", error=f"{archive.url}: {fetched.error or 'no body'}")
    body = fetched.body
    try:
        if archive.source == "sbro":
            _check_sbro(archive, body)
            unzipped = None
        else:
            unzipped = _unzip(archive, body)
    except DownloadError as exc:
        return Downloaded(archive, "failed", error=str(exc))
    _write_atomically(data_dir / archive.path, body)
    digest = hashlib.sha256(body).hexdigest()
    extracted = []
    if unzipped is not None:
        member, content = unzipped
        target = archive.path.parent / (archive.extract or member)
        _write_atomically(data_dir / target, content)
        extracted.append(
            {
                "member": member,
                "path": target.as_posix(),
                "sha256": hashlib.sha256(content).hexdigest(),
                "size_bytes": len(content),
            }
        )
    manifest["files"][key] = {
        "source": archive.source,
        "season": archive.season,
        "url": archive.url,
        "sha256": digest,
        "size_bytes": len(body),
        "content_type": fetched.content_type,
        "downloaded_at": fetched.fetched_at.astimezone(UTC).isoformat(),
        "extracted": extracted,
    }
    manifest["updated_at"] = datetime.now(UTC).isoformat()
    _write_manifest(data_dir, manifest)
    return Downloaded(archive, "downloaded", digest, len(body), extracted)
