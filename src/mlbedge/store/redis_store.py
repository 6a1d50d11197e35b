"""The Redis online store: one MessagePack blob per game and slate version, switched atomically.

Key layout (``P`` is the key prefix, ``D`` an ISO date, ``T`` a slate token)::

    {P}:slates        hash  D -> slate entry [T, feature set version, schema id, [game ids]]
    {P}:games         hash  game id -> D              (which slate a game is in)
    {P}:schemas       hash  schema id -> layout       (feature names and dtypes, stored once)
    {P:D}:T:<game id> string: the game's blob, with a TTL
    {P:D}:T:<kind>:<key>:<game id>   what a reader derived from that blob (serving's ready answers)

The braces are Redis Cluster hash tags: every blob of one date lives in one slot (a slate is one
MGET on one node) and different dates spread over the cluster; the three catalogue hashes share
the ``{P}`` slot.

Why readers never see a mixed slate: a slate token is a hash of its feature set version and
content, and the blobs under a token are written once and never changed. A write stores every
blob of the new tokens first, then switches all the slates of the batch with ONE ``HSET`` on
``{P}:slates``. A reader reads the slate entries and the blobs of the tokens it knows in one
pipeline; if an entry has moved on it re-reads with the new token. Whatever it returns comes from
one token per slate, so from one complete write. Replaced tokens stay readable for a grace
period (for readers that were mid-request) and then expire.

Writing the same rows again yields the same tokens: nothing switches (idempotent), and the TTLs
are refreshed. A blob whose TTL ran out reads as a missing game (its slate entry stays until the
next write of that date).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import ormsgpack
import polars as pl
import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from mlbedge.store.base import (
    FeatureRow,
    ReadResult,
    StoreError,
    StoreHealth,
    StoreUnavailableError,
    WriteReport,
)
from mlbedge.store.codec import Codec, Layout, MsgpackCodec, as_of_from_us, encode_frame, missing_columns

# Commands per pipeline flush when writing blobs: large enough to amortise round trips, small
# enough to keep one request's buffer modest on the server.
_WRITE_CHUNK = 2_000
# Re-reads allowed when a slate switches during one read (each needs a new switch to happen).
_READ_ATTEMPTS = 8
# Errors that mean "the server is not there", as opposed to a bad command.
_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, ConnectionError, OSError)
# Any way a Redis call can fail (unreachable, or a refused command): for readers that only degrade.
REDIS_ERRORS = (redis.RedisError, OSError)


@dataclass(frozen=True)
class Keys:
    """Every key name of one store namespace."""

    prefix: str

    @property
    def slates(self) -> str:
        return f"{{{self.prefix}}}:slates"

    @property
    def games(self) -> str:
        return f"{{{self.prefix}}}:games"

    @property
    def schemas(self) -> str:
        return f"{{{self.prefix}}}:schemas"

    def blob(self, day: str, token: str, game_id: str) -> str:
        """The key of one game's blob in the slate version ``token`` of date ``day``."""
        return f"{{{self.prefix}:{day}}}:{token}:{game_id}"

    def derived(self, day: str, token: str, kind: str, key: str, game_id: str) -> str:
        """The key of something of ``kind`` derived (under ``key``) from one game's blob of the slate
        version ``token``: in the date's slot, beside the blob, and of that version only."""
        return f"{{{self.prefix}:{day}}}:{token}:{kind}:{key}:{game_id}"

    def patterns(self) -> tuple[str, str]:
        """SCAN patterns that match every key of the namespace (braces are literal in globs)."""
        return f"{{{self.prefix}}}:*", f"{{{self.prefix}:*}}:*"


@dataclass(frozen=True)
class _Slate:
    """A parsed slate entry: which token, version and schema, and the key of each game."""

    raw: bytes
    day: date
    token: str
    version: str
    schema_id: str
    games: tuple[str, ...]
    keys: tuple[str, ...]
    position: dict[str, int]


def _entry(token: str, version: str, schema_id: str, games: Sequence[str]) -> bytes:
    return ormsgpack.packb([token, version, schema_id, list(games)])


class RedisStore:
    """The online store on one Redis (standalone or embedded); see the module docstring.

    Safe to share between threads: the connection pool hands each request its own connection,
    and the in-process caches only ever hold entries read from Redis.
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        *,
        prefix: str = "mlbedge",
        ttl_seconds: int = 30 * 86400,
        grace_seconds: float = 60.0,
        layout: Layout | None = None,
        codec: Codec | None = None,
        backend: str = "redis",
    ) -> None:
        self.client = client
        self.keys = Keys(prefix)
        self.ttl_ms = int(ttl_seconds * 1000) if ttl_seconds > 0 else None
        self.grace_ms = int(grace_seconds * 1000)
        self.layout = layout or Layout.from_registry()
        self.codec: Codec = codec or MsgpackCodec()
        self.backend = backend
        self._schema_id = self.layout.schema_id
        self._layouts: dict[str, tuple[str, ...]] = {self._schema_id: self.layout.names}
        self._slates: dict[str, _Slate] = {}
        self._day_of: dict[str, str] = {}

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "mlbedge",
        ttl_seconds: int = 30 * 86400,
        grace_seconds: float = 60.0,
        timeout_seconds: float = 0.5,
        max_connections: int = 32,
        layout: Layout | None = None,
        backend: str = "redis",
        cluster: bool = False,
    ) -> RedisStore:
        """A store on the Redis at ``url`` (``redis://``, ``rediss://`` or ``unix://``).

        A blocking pool of ``max_connections`` (a busy API waits for a connection instead of
        failing), the hiredis parser when installed (redis-py picks it), short timeouts so a dead
        server fails a read quickly, and one immediate retry so a connection left stale by a
        Redis restart is replaced transparently. ``cluster``: ``url`` is any node of a Redis
        Cluster (the key layout keeps each request's keys in one slot per date).
        """
        kwargs = {"prefix": prefix, "ttl_seconds": ttl_seconds, "grace_seconds": grace_seconds}
        if cluster:
            node_client = RedisCluster.from_url(
                url,
                max_connections=max_connections,
                socket_timeout=timeout_seconds,
                socket_connect_timeout=timeout_seconds,
            )
            return cls(node_client, layout=layout, backend=backend, **kwargs)  # type: ignore[arg-type]
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_seconds * 4,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 1),
        )
        return cls(redis.Redis(connection_pool=pool), layout=layout, backend=backend, **kwargs)  # type: ignore[arg-type]

    # ------------------------------------------------------------------------------------------
    # writing

    def write_batch(self, feature_set_version: str, rows: pl.DataFrame) -> WriteReport:
        """Write ``rows`` as the new version of the slates (dates) they cover, then switch them.

        Each date's slate is replaced whole by the rows of that date (a game absent from the
        rows leaves its slate). Every blob is stored before the single switch; re-writing the
        same rows switches nothing.
        """
        started = time.perf_counter()
        if rows.is_empty():
            return WriteReport(feature_set_version, 0, 0, [], [], 0.0)
        missing = missing_columns(rows, self.layout)
        if missing:
            raise StoreError(
                f"write_batch({feature_set_version}): rows lack columns {missing[:10]}"
                f"{' ...' if len(missing) > 10 else ''} ({len(missing)} in all)"
            )
        frame = rows.sort("date", "game_id")
        duplicated = frame.filter(pl.col("game_id").is_duplicated())["game_id"].unique().sort().to_list()
        if duplicated:
            raise StoreError(f"write_batch({feature_set_version}): game ids appear twice: {duplicated[:10]}")
        nulls = frame.select(pl.col(c).null_count().alias(c) for c in ("game_id", "date", "as_of")).row(0)
        if any(nulls):
            raise StoreError(f"write_batch({feature_set_version}): null game_id/date/as_of counts {nulls}")

        blobs = encode_frame(frame, self.layout, self.codec)
        game_ids: list[str] = frame["game_id"].to_list()
        spans = (
            frame.with_row_index("_i")
            .group_by("date", maintain_order=True)
            .agg(pl.col("_i").first().alias("start"), pl.len().alias("n"))
            .with_columns(pl.col("date").cast(pl.String).alias("iso"))
        )
        entries: dict[str, bytes] = {}
        slate_games: dict[str, list[str]] = {}
        tokens: dict[str, str] = {}
        for iso, start, n in spans.select("iso", "start", "n").iter_rows():
            games = game_ids[start : start + n]
            digest = hashlib.sha256(f"{feature_set_version}\x00{self._schema_id}".encode())
            for gid, blob in zip(games, blobs[start : start + n], strict=True):
                digest.update(gid.encode() + b"\x00" + len(blob).to_bytes(4, "big") + blob)
            token = f"{feature_set_version}.{digest.hexdigest()[:12]}"
            tokens[iso] = token
            slate_games[iso] = games
            entries[iso] = _entry(token, feature_set_version, self._schema_id, games)
        day_of = {gid: iso for iso, games in slate_games.items() for gid in games}

        try:
            self._write_blobs(
                (self.keys.blob(day_of[gid], tokens[day_of[gid]], gid), blob)
                for gid, blob in zip(game_ids, blobs, strict=True)
            )
            self.client.hset(self.keys.schemas, self._schema_id, self.layout.pack())
            switched, unchanged, replaced = self._switch(entries, day_of)
            self._retire(replaced, entries, day_of)
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError(
                f"{self.backend} store: write of {len(game_ids)} games failed: {exc}"
            ) from exc
        return WriteReport(
            feature_set_version,
            len(game_ids),
            len(entries),
            [date.fromisoformat(d) for d in switched],
            [date.fromisoformat(d) for d in unchanged],
            time.perf_counter() - started,
        )

    def _write_blobs(self, items: Iterable[tuple[str, bytes]]) -> None:
        pipe = self.client.pipeline(transaction=False)
        pending = 0
        for key, blob in items:
            pipe.set(key, blob, px=self.ttl_ms)
            pending += 1
            if pending >= _WRITE_CHUNK:
                pipe.execute()
                pending = 0
        if pending:
            pipe.execute()

    def _switch(
        self, entries: dict[str, bytes], day_of: dict[str, str]
    ) -> tuple[list[str], list[str], dict[str, bytes]]:
        """Point every slate of ``entries`` at its new entry in one HSET (and index the games),
        under WATCH so that a concurrent writer or delete is never overwritten blindly. Returns
        the switched dates, the unchanged ones, and the entries that were replaced."""
        days = list(entries)

        def attempt(pipe: Any) -> tuple[list[str], list[str], dict[str, bytes]]:
            current = pipe.hmget(self.keys.slates, days)
            changed = {d: entries[d] for d, old in zip(days, current, strict=True) if old != entries[d]}
            replaced = {
                d: old for d, old in zip(days, current, strict=True) if old is not None and d in changed
            }
            pipe.multi()
            if changed:
                pipe.hset(self.keys.slates, mapping=changed)
            pipe.hset(self.keys.games, mapping=day_of)
            return list(changed), [d for d in days if d not in changed], replaced

        return self.client.transaction(attempt, self.keys.slates, value_from_callable=True)

    def _retire(self, replaced: dict[str, bytes], entries: dict[str, bytes], day_of: dict[str, str]) -> None:
        """Let the blobs of replaced slate versions expire after the grace period, and drop
        games that left their slate (and every other slate) from the game index."""
        pipe = self.client.pipeline(transaction=False)
        gone: list[tuple[str, str]] = []
        for iso, old_raw in replaced.items():
            old_token, _, _, old_games = ormsgpack.unpackb(old_raw)
            if old_token == _token_of(entries[iso]):
                continue
            for gid in old_games:
                key = self.keys.blob(iso, old_token, gid)
                if self.grace_ms > 0:
                    pipe.pexpire(key, self.grace_ms)
                else:
                    pipe.delete(key)
                if gid not in day_of:
                    gone.append((gid, iso))
        if gone:
            # Only drop index entries still pointing at the slate the game left.
            current = self.client.hmget(self.keys.games, [g for g, _ in gone])
            stale = [
                g
                for (g, iso), now in zip(gone, current, strict=True)
                if now is not None and now.decode() == iso
            ]
            if stale:
                pipe.hdel(self.keys.games, *stale)
        pipe.execute()

    def delete(self, game_ids: Sequence[str]) -> int:
        """Remove games from their slates (the slate entry changes at once); returns how many were
        found. Their blobs are deleted right away."""
        ids = list(dict.fromkeys(game_ids))
        if not ids:
            return 0
        try:
            days = self.client.hmget(self.keys.games, ids)
            located = [(g, d.decode()) for g, d in zip(ids, days, strict=True) if d is not None]
            if not located:
                return 0
            by_day: dict[str, set[str]] = {}
            for gid, iso in located:
                by_day.setdefault(iso, set()).add(gid)

            def attempt(pipe: Any) -> list[str]:
                current = pipe.hmget(self.keys.slates, list(by_day))
                updates: dict[str, bytes] = {}
                empty: list[str] = []
                keys: list[str] = []
                for iso, raw in zip(by_day, current, strict=True):
                    if raw is None:
                        continue
                    token, version, schema_id, games = ormsgpack.unpackb(raw)
                    keep = [g for g in games if g not in by_day[iso]]
                    keys += [self.keys.blob(iso, token, g) for g in games if g in by_day[iso]]
                    if keep:
                        updates[iso] = _entry(token, version, schema_id, keep)
                    else:
                        empty.append(iso)
                pipe.multi()
                if updates:
                    pipe.hset(self.keys.slates, mapping=updates)
                if empty:
                    pipe.hdel(self.keys.slates, *empty)
                pipe.hdel(self.keys.games, *[g for g, _ in located])
                return keys

            keys = self.client.transaction(attempt, self.keys.slates, value_from_callable=True)
            if keys:
                self.client.delete(*keys)
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError(f"{self.backend} store: delete failed: {exc}") from exc
        for gid, _ in located:
            self._day_of.pop(gid, None)
        return len(keys)

    def clear(self) -> int:
        """Delete every key of this store's namespace (and nothing else); returns how many."""
        deleted = 0
        try:
            for pattern in self.keys.patterns():
                batch: list[bytes] = []
                for key in self.client.scan_iter(match=pattern, count=1000):
                    batch.append(key)
                    if len(batch) >= 1000:
                        deleted += self.client.delete(*batch)
                        batch = []
                if batch:
                    deleted += self.client.delete(*batch)
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError(f"{self.backend} store: clear failed: {exc}") from exc
        self._slates.clear()
        self._day_of.clear()
        return deleted

    # ------------------------------------------------------------------------------------------
    # reading

    def read(self, game_ids: Sequence[str]) -> ReadResult:
        """The current rows of ``game_ids`` (order kept, duplicates once), one pipeline per read
        once the games' dates are known (the first read of a game also asks the game index)."""
        ids = list(dict.fromkeys(game_ids))
        if not ids:
            return ReadResult([], [], backend=self.backend)
        try:
            unknown = [g for g in ids if g not in self._day_of]
            if unknown:
                for gid, day in zip(unknown, self.client.hmget(self.keys.games, unknown), strict=True):
                    if day is not None:
                        self._day_of[gid] = day.decode()
            wanted: dict[str, list[str]] = {}
            for gid in ids:
                iso = self._day_of.get(gid)
                if iso is not None:
                    wanted.setdefault(iso, []).append(gid)
            found, _ = self._read_days(wanted)
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError(
                f"{self.backend} store: read of {len(ids)} games failed: {exc}"
            ) from exc
        rows = [found[g] for g in ids if g in found]
        missing = [g for g in ids if g not in found]
        for gid in missing:
            # Unknown or moved: ask the index again next time.
            self._day_of.pop(gid, None)
        return ReadResult(rows, missing, backend=self.backend)

    def read_slate(self, day: date) -> ReadResult:
        """Every game of ``day``'s slate, in game id order (one pipeline when the slate is cached)."""
        iso = day.isoformat()
        try:
            found, used = self._read_days({iso: None})
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError(f"{self.backend} store: read of slate {iso} failed: {exc}") from exc
        slate = used[iso]
        order = slate.games if slate is not None else ()
        rows = [found[g] for g in order if g in found]
        return ReadResult(rows, [g for g in order if g not in found], backend=self.backend)

    def _read_days(
        self, wanted: dict[str, list[str] | None]
    ) -> tuple[dict[str, FeatureRow], dict[str, _Slate | None]]:
        """Rows of the wanted games of each date (None = the whole slate), all from one version
        per slate. One pipeline: the slate entries, then one MGET per date of the cached keys.
        A date whose entry differs from the cache is re-parsed and the read repeated."""
        days = list(wanted)
        if not days:
            return {}, {}
        for _ in range(_READ_ATTEMPTS):
            # A snapshot: other threads may update the cache while this read is on the wire.
            known = {iso: self._slates.get(iso) for iso in days}
            plan: list[tuple[str, _Slate, list[str]]] = []
            pipe = self.client.pipeline(transaction=False)
            pipe.hmget(self.keys.slates, days)
            for iso, slate in known.items():
                if slate is None:
                    continue
                games = (
                    list(slate.games)
                    if wanted[iso] is None
                    else [g for g in wanted[iso] if g in slate.position]
                )
                if games:
                    plan.append((iso, slate, games))
                    # execute_command, not pipe.mget: Redis Cluster pipelines refuse the mget helper,
                    # and one date's keys share a slot, so a raw MGET is valid on a cluster too.
                    pipe.execute_command("MGET", *[slate.keys[slate.position[g]] for g in games])
            replies = pipe.execute()
            stale = False
            for iso, raw in zip(days, replies[0], strict=True):
                cached = known[iso]
                if raw is None:
                    if cached is not None:
                        self._slates.pop(iso, None)
                        stale = True
                elif cached is None or cached.raw != raw:
                    self._slates[iso] = self._parse(iso, raw)
                    stale = True
            if stale:
                continue
            found: dict[str, FeatureRow] = {}
            for (_iso, slate, games), blobs in zip(plan, replies[1:], strict=True):
                names = self._names(slate.schema_id)
                for gid, blob in zip(games, blobs, strict=True):
                    if blob is not None:  # None: expired by its TTL
                        found[gid] = self._row(gid, slate, names, blob)
            return found, known
        raise StoreError(f"{self.backend} store: slates {days[:5]} kept switching during one read")

    def _parse(self, iso: str, raw: bytes) -> _Slate:
        token, version, schema_id, games = ormsgpack.unpackb(raw)
        games = tuple(games)
        return _Slate(
            raw=raw,
            day=date.fromisoformat(iso),
            token=token,
            version=version,
            schema_id=schema_id,
            games=games,
            keys=tuple(self.keys.blob(iso, token, g) for g in games),
            position={g: i for i, g in enumerate(games)},
        )

    def _names(self, schema_id: str) -> tuple[str, ...]:
        names = self._layouts.get(schema_id)
        if names is None:
            stored = self.client.hget(self.keys.schemas, schema_id)
            if stored is None:
                raise StoreError(f"{self.backend} store: schema {schema_id} is not in {self.keys.schemas}")
            names = Layout.unpack(stored).names
            self._layouts[schema_id] = names
        return names

    def _row(self, game_id: str, slate: _Slate, names: tuple[str, ...], blob: bytes) -> FeatureRow:
        values = self.codec.decode(blob)
        if len(values) != len(names) + 1:
            raise StoreError(
                f"{self.backend} store: blob {self.keys.blob(slate.day.isoformat(), slate.token, game_id)} "
                f"has {len(values) - 1} values, schema {slate.schema_id} names {len(names)}"
            )
        return FeatureRow(
            game_id=game_id,
            date=slate.day,
            as_of=as_of_from_us(values[0]),  # type: ignore[arg-type]
            feature_set_version=slate.version,
            names=names,
            values=tuple(values[1:]),  # type: ignore[arg-type]
            token=slate.token,
        )

    def learn_slates(self) -> list[date]:
        """Read every slate entry into this process's caches (one ``HGETALL``), so that the next
        reads of any stored game know its date and token; returns the slates' dates, sorted."""
        try:
            entries = self.client.hgetall(self.keys.slates)
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError(f"{self.backend} store: listing slates failed: {exc}") from exc
        for raw_day, raw in entries.items():
            iso = raw_day.decode()
            cached = self._slates.get(iso)
            slate = cached if cached is not None and cached.raw == raw else self._parse(iso, raw)
            self._slates[iso] = slate
            for game_id in slate.games:
                self._day_of[game_id] = iso
        return sorted(date.fromisoformat(raw_day.decode()) for raw_day in entries)

    def located(self, game_id: str) -> tuple[str, bytes, str] | None:
        """Where the last reads found ``game_id``, from this process's caches (no round trip): its
        date (ISO), the raw slate entry of that date and its token; None when not known here.
        A caller must check the entry is still the current one (``HMGET`` of :attr:`Keys.slates`)."""
        iso = self._day_of.get(game_id)
        if iso is None:
            return None
        slate = self._slates.get(iso)
        if slate is None or game_id not in slate.position:
            return None
        return iso, slate.raw, slate.token

    # ------------------------------------------------------------------------------------------
    # operations

    def health(self) -> StoreHealth:
        """PING round trip; never raises."""
        started = time.perf_counter()
        try:
            self.client.ping()
        except _UNAVAILABLE as exc:
            return StoreHealth(False, self.backend, None, detail=str(exc))
        return StoreHealth(True, self.backend, (time.perf_counter() - started) * 1000)

    def slate_dates(self) -> list[date]:
        """Every date with a slate in the store, sorted."""
        try:
            return sorted(date.fromisoformat(d.decode()) for d in self.client.hkeys(self.keys.slates))
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError(f"{self.backend} store: listing slates failed: {exc}") from exc

    def close(self) -> None:
        """Close every pooled connection."""
        self.client.close()
        pool = getattr(self.client, "connection_pool", None)  # a cluster client has one per node
        if pool is not None:
            pool.disconnect()


def _token_of(entry: bytes) -> str:
    return ormsgpack.unpackb(entry)[0]
