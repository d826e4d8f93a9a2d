"""Deployment settings from the environment (prefix SYNCD_): where things live and listen."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from syncd.errors import ConfigError
from syncd.shards import Shard

if TYPE_CHECKING:
    from publisher.sinks import Sink


class Settings(BaseSettings):
    """Process-level settings; the admin's YAML (config dir) says what to sync and publish."""

    model_config = SettingsConfigDict(env_prefix="SYNCD_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/syncd.db",
        description="SQLAlchemy URL; SQLite by default, postgresql+psycopg://… to scale out.",
    )
    config_dir: Path = Field(default=Path("./config"), description="Folder holding syncd.yaml.")
    publish_dir: Path = Field(default=Path("./public"), description="Folder pages are written to.")
    publish_target: Literal["dir", "s3"] = Field(
        default="dir", description="dir: files under publish_dir; s3: objects in an S3-compatible bucket."
    )
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_endpoint_url: str | None = Field(default=None, description="For MinIO, R2, Wasabi and the like.")
    s3_region: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: console on a terminal, JSON lines otherwise."
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="Bearer token for /metrics; without one it answers loopback only."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    shard: str | None = Field(
        default=None,
        description="i/n (0-based): refresh only the clients of shard i of n, and cover for dead replicas' shards.",
    )
    lease_seconds: float = Field(
        default=30.0, gt=0, description="How long a shard lease lasts unrenewed; renewed every third of it.")
    replica_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}",
        description="This replica's name in the shard leases (the pod name, say).")

    @field_validator("shard")
    @classmethod
    def _shard(cls, value: str | None) -> str | None:
        # Checked at start, with the other settings, rather than when the leases begin.
        if value is not None:
            Shard.parse(value)
        return value

    def public_base_url(self, configured: str | None) -> str:
        """The address pages are reached at: publish.base_url, else the built-in server's."""
        if configured:
            return configured.rstrip("/")
        host = "127.0.0.1" if self.http_host in ("0.0.0.0", "::", "") else self.http_host
        return f"http://{host}:{self.http_port}"


def open_sink(settings: Settings) -> Sink:
    """The publish target the settings name: a folder, or an S3-compatible bucket."""
    from publisher.sinks import DirectorySink

    if settings.publish_target == "s3":
        if not settings.s3_bucket:
            raise ConfigError("SYNCD_PUBLISH_TARGET=s3 needs SYNCD_S3_BUCKET")
        from publisher.s3 import S3Sink

        options = {k: v for k, v in (("endpoint_url", settings.s3_endpoint_url),
                                     ("region_name", settings.s3_region)) if v}
        return S3Sink(settings.s3_bucket, prefix=settings.s3_prefix, **options)
    return DirectorySink(settings.publish_dir)
