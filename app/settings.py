"""Every knob of the server, read from ``SWITCHYARD_*`` environment variables.

One ``Settings`` object is built by ``create_app`` (or by a test) and passed
down; there is no module-level singleton, so each test builds its own.

Nested sections use one underscore after the section name:
``SWITCHYARD_SSE_HEARTBEAT_S=2`` sets ``settings.sse.heartbeat_s``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.auth.settings import AuthSettings, CorsSettings
from app.mcp.config import McpSettings
from app.observability.settings import LogSettings, MetricsSettings, TraceSettings
from app.platform.settings import (
    CronSettings,
    LongTermStoreSettings,
    ThreadSettings,
    WebhookSettings,
)
from app.runs.retries import NodeRetry
from routers.config import RouterSettings
from routers.llm import Provider


class StorageSettings(BaseModel):
    """Where threads, runs and checkpoints live ("postgres" needs ``SWITCHYARD_POSTGRES_URL``)."""

    backend: Literal["sqlite", "memory", "postgres"] = "sqlite"
    # Relative paths are resolved against ``Settings.data_dir``.
    sqlite_path: Path = Path("switchyard.db")


class PostgresSettings(BaseModel):
    """The Postgres server of the "postgres" storage backend (``SWITCHYARD_POSTGRES_*``)."""

    url: SecretStr | None = Field(
        None,
        description="A libpq URL, e.g. postgresql://user@host:5432/db (may hold a password).",
    )
    pool_min: int = Field(1, ge=0, description="Connections each process keeps open.")
    pool_max: int = Field(20, ge=1, description="Connections each process may open at most.")
    connect_timeout_s: float = Field(
        10.0, gt=0, description="Give up waiting for a pooled connection after this long."
    )


class RedisSettings(BaseModel):
    """Redis for the shared event log, cancel signals and queue wake-ups (``SWITCHYARD_REDIS_*``).

    Unset ``url`` keeps everything in process (one process only).
    """

    url: SecretStr | None = Field(None, description="e.g. redis://localhost:6379/0")
    prefix: str = Field(
        "switchyard:", min_length=1, description="Every key and channel starts with this."
    )
    retry_s: float = Field(
        10.0, gt=0, description="Retry a dropped connection this long, then report an error."
    )


class SSESettings(BaseModel):
    heartbeat_s: float = Field(5.0, gt=0, description="Seconds between `: heartbeat` comments.")
    send_timeout_s: float | None = Field(
        30.0, gt=0, description="Drop a client that cannot take one event for this long."
    )


class RunSettings(BaseModel):
    max_concurrency: int = Field(64, ge=1, description="Runs executing at once; the rest pend.")
    timeout_s: float = Field(600.0, gt=0, description="A run still going after this times out.")
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Larger bodies get 413.")
    max_batch_size: int = Field(1000, ge=1, description="Items allowed in one batch request.")
    recent_stateless: int = Field(
        10_000, ge=1, description="Finished stateless runs still answerable by GET and resume."
    )
    recent_outputs: int = Field(
        1_000, ge=0, description="Of those, how many keep their output for /join."
    )
    recovery: Literal["resume", "fail"] = Field(
        "resume",
        description="A run whose worker died: resume it from its last checkpoint, or fail it.",
    )
    lease_s: float = Field(
        10.0,
        gt=0,
        description="A run whose instance stops renewing its lease this long is taken over.",
    )
    recent_max_bytes: int = Field(
        64 << 20, ge=0, description="What those runs may hold in all (JSON bytes; app.runs.recent)."
    )
    # Transient node failures (app.runs.retries); a run may bring its own.
    retry: NodeRetry = NodeRetry()
    retry_by_assistant: dict[str, NodeRetry] = Field(default_factory=dict)


class EventLogSettings(BaseModel):
    retention_s: float = Field(600.0, ge=0, description="Keep a finished run's events this long.")
    max_events: int = Field(100_000, ge=1, description="Events kept per run (oldest dropped).")


class WebSocketSettings(BaseModel):
    """The ``/ws`` channel. Idle clients and slow consumers are closed, never kept forever."""

    idle_timeout_s: float = Field(
        60.0, gt=0, description="Close (1001) a socket that follows no run and sent nothing."
    )
    send_queue_max: int = Field(
        256, ge=1, description="Messages queued per socket; a full queue makes producers wait."
    )
    send_timeout_s: float = Field(
        10.0, gt=0, description="Close (1013) a socket whose full queue did not move for this long."
    )
    close_timeout_s: float = Field(
        5.0, gt=0, description="How long to try to deliver a close frame to a stuck client."
    )
    max_runs: int = Field(32, ge=1, description="Runs one socket may follow at once.")


class LLMSettings(BaseModel):
    """An OpenAI-compatible endpoint for LLM nodes. Unset ``base_url`` means offline."""

    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str = "gpt-4o-mini"
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(3, ge=0, description="Retries on 429/5xx/timeouts, with backoff.")

    @property
    def enabled(self) -> bool:
        return self.base_url is not None


class FlowSettings(BaseModel):
    """Declarative flows (``graphs.flows``) and their components."""

    files: list[Path] = Field(
        default_factory=list,
        description="Flow documents (JSON/YAML files, or directories of them) loaded at startup.",
    )
    components: list[str] = Field(
        default_factory=list,
        description="Component plugins as 'module:attribute', beside the entry-point group "
        "'switchyard.components'.",
    )
    function_modules: list[str] = Field(
        default_factory=list,
        description="Module prefixes the 'function' component may call into (none by default).",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SWITCHYARD_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="ignore",
    )

    host: str = "127.0.0.1"
    port: int = Field(8123, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    data_dir: Path = Path(".switchyard")
    graphs: Path | None = Field(
        None, description="A langgraph.json whose graphs are served alongside the built-ins."
    )
    builtins: bool = Field(True, description="Serve the built-in graphs.")
    skip_broken: bool = Field(
        False, description="Start even if a graph fails to load; list it as failed in /info."
    )
    gc_freeze: bool = Field(
        True, description="After startup, exempt long-lived objects from GC scans (gc.freeze)."
    )
    gc_threshold: int = Field(
        50_000,
        ge=1,
        description="Container allocations between young GC collections (Python's own: 700).",
    )

    storage: StorageSettings = StorageSettings()
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    sse: SSESettings = SSESettings()
    runs: RunSettings = RunSettings()
    events: EventLogSettings = EventLogSettings()
    llm: LLMSettings = LLMSettings()
    router: RouterSettings = RouterSettings()
    ws: WebSocketSettings = WebSocketSettings()
    # The platform API (app.platform.settings): /store, thread TTL, crons, webhooks.
    store: LongTermStoreSettings = LongTermStoreSettings()
    threads: ThreadSettings = ThreadSettings()
    crons: CronSettings = CronSettings()
    webhooks: WebhookSettings = WebhookSettings()
    auth: AuthSettings = AuthSettings()
    cors: CorsSettings = CorsSettings()
    flows: FlowSettings = FlowSettings()
    mcp: McpSettings = McpSettings()
    metrics: MetricsSettings = MetricsSettings()
    logs: LogSettings = LogSettings()
    traces: TraceSettings = TraceSettings()

    @model_validator(mode="after")
    def _openai_fallbacks(self) -> Settings:
        # The OpenAI client's own variables are honoured, but only an explicit
        # base URL turns the LLM on: a stray OPENAI_API_KEY must not make an
        # offline install try to reach the internet.
        if self.llm.base_url is None and os.environ.get("OPENAI_BASE_URL"):
            self.llm.base_url = os.environ["OPENAI_BASE_URL"]
        if self.llm.api_key is None and os.environ.get("OPENAI_API_KEY"):
            self.llm.api_key = SecretStr(os.environ["OPENAI_API_KEY"])
        return self

    @model_validator(mode="after")
    def _postgres_needs_url(self) -> Settings:
        if self.storage.backend == "postgres" and self.postgres.url is None:
            raise ValueError(
                "storage backend 'postgres' needs a server: set SWITCHYARD_POSTGRES_URL"
                " (e.g. postgresql://user@localhost:5432/switchyard)"
            )
        if self.postgres.pool_min > self.postgres.pool_max:
            raise ValueError(
                "SWITCHYARD_POSTGRES_POOL_MIN must not exceed SWITCHYARD_POSTGRES_POOL_MAX"
            )
        return self

    def router_settings(self) -> RouterSettings:
        """The router's settings; with no providers listed, the LLM endpoint is one."""
        if self.router.llm_enabled or self.llm.base_url is None:
            return self.router
        default = Provider(
            name="default",
            base_url=self.llm.base_url,
            model=self.llm.model,
            api_key=self.llm.api_key or SecretStr("unused"),
        )
        return self.router.model_copy(update={"providers": [default]})

    @property
    def sqlite_file(self) -> Path:
        path = self.storage.sqlite_path
        return path if path.is_absolute() else self.data_dir / path
