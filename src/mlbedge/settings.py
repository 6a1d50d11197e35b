"""Every URL, path, cutoff and window of mlbedge, read once from the environment (``MLBEDGE_*``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
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
    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI; unset uses a store under home."
    )
    data_dir: Path = Field(default_factory=_default_data_dir, description="Historical files.")
    cutoff_minutes: int = Field(
        default=60,
        ge=0,
        description="Features use only facts observed this long before first pitch.",
    )

    @field_validator("home", "data_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; call ``get_settings.cache_clear()`` after changing the env."""
    return Settings()
