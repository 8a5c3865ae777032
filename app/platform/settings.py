"""Settings sections of the platform features: the store, thread TTL, crons, webhooks.

Kept apart from ``app.settings`` (which only names these sections) so the
shell's settings module stays small. Environment variables follow the same
rule: ``SWITCHYARD_<SECTION>_<FIELD>``, e.g. ``SWITCHYARD_WEBHOOKS_SECRET``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

__all__ = ["CronSettings", "LongTermStoreSettings", "ThreadSettings", "WebhookSettings"]


class LongTermStoreSettings(BaseModel):
    """The long-term memory store (``/store/items``), shared with graphs."""

    sqlite_path: Path = Field(
        Path("store.db"), description="SQLite file of the store, relative to the data dir."
    )
    index_embed: Literal["openai", "local"] | None = Field(
        None,
        description="Embed items for semantic search: 'openai' (any OpenAI-compatible endpoint)"
        " or 'local' (the semantic router's model, from the semantic extra). Unset: no index.",
    )
    index_dims: int | None = Field(
        None, ge=1, description="Embedding size; default 512 (local) or 1536 (openai)."
    )
    index_fields: list[str] = Field(["$"], description="JSON paths of a value to embed.")
    index_model: str = Field("text-embedding-3-small", description="Model name for 'openai'.")
    index_base_url: str | None = Field(
        None, description="Embeddings endpoint; falls back to the LLM endpoint."
    )
    index_api_key: SecretStr | None = Field(None, description="Falls back to the LLM key.")
    ttl_refresh_on_read: bool = Field(True, description="A get or search renews an item's TTL.")
    default_ttl_minutes: float | None = Field(
        None, gt=0, description="TTL of items put without one (SQLite only)."
    )
    ttl_sweep_interval_s: float = Field(
        60.0, gt=0, description="Seconds between deletions of expired items."
    )


class ThreadSettings(BaseModel):
    """Thread lifecycle: TTL and its sweeper."""

    default_ttl_minutes: float | None = Field(
        None, gt=0, description="Threads idle this long are swept (unless they set a TTL)."
    )
    default_ttl_strategy: Literal["delete", "keep_latest"] = "delete"
    sweep_interval_s: float = Field(60.0, gt=0, description="Seconds between TTL sweeps.")


class CronSettings(BaseModel):
    enabled: bool = Field(True, description="Run the cron scheduler in this process.")
    poll_interval_s: float = Field(
        10.0, gt=0, description="Seconds between looks for due crons (a tick fires within it)."
    )


class WebhookSettings(BaseModel):
    """Calls to a run's ``webhook`` URL when the run ends."""

    enabled: bool = Field(True, description="False: runs with a webhook are refused (422).")
    secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key; unset: requests carry no signature."
    )
    allowed_hosts: list[str] = Field(
        [], description="Host names (or '*.suffix') webhooks may call; empty: any public host."
    )
    allow_private: bool = Field(
        False, description="Allow loopback, private and link-local addresses (tests, intranets)."
    )
    timeout_s: float = Field(10.0, gt=0, description="Per attempt.")
    max_attempts: int = Field(5, ge=1, description="Attempts per delivery, with backoff.")
    backoff_s: float = Field(1.0, gt=0, description="First retry delay; doubles each time.")
    max_backoff_s: float = Field(60.0, gt=0, description="Longest delay between attempts.")
