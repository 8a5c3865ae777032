"""The observability sections of ``Settings``: metrics, logs, traces.

Kept here rather than in ``app.settings`` so that the shared settings module
only names the sections (``SWITCHYARD_METRICS_*``, ``SWITCHYARD_LOGS_*``,
``SWITCHYARD_TRACES_*``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

__all__ = ["LogSettings", "MetricsSettings", "TraceSettings"]


class MetricsSettings(BaseModel):
    """``GET /metrics`` in the Prometheus text format."""

    enabled: bool = Field(True, description="Count and serve metrics (off: no /metrics route).")
    # auth:   behind the server's auth gate (any authenticated user; open when
    #         auth is off, like the rest of the server).
    # public: anyone who can reach the port may scrape, even with auth on.
    # token:  scrapers send ``Authorization: Bearer <token>`` (Prometheus'
    #         ``authorization`` scrape option); anything else gets 401.
    # See ``app.observability.endpoint``.
    access: Literal["auth", "public", "token"] = "auth"
    token: SecretStr | None = None

    @model_validator(mode="after")
    def _token_when_needed(self) -> MetricsSettings:
        if self.access == "token" and not self.token:
            raise ValueError("metrics access 'token' needs SWITCHYARD_METRICS_TOKEN")
        return self


class LogSettings(BaseModel):
    """What ``switchyard serve`` writes to stderr."""

    # json: one object per line with request/run/thread/assistant/trace ids;
    # text: the human format (``make run`` sets it).
    format: Literal["json", "text"] = "json"
    access_log: bool = Field(True, description="uvicorn's line per request (secrets redacted).")


class TraceSettings(BaseModel):
    """OpenTelemetry spans; off by default (needs the ``otel`` extra when on)."""

    enabled: bool = False
    # OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces; unset
    # falls back to the OTel SDK's own OTEL_EXPORTER_OTLP_* variables.
    otlp_endpoint: str | None = None
    service_name: str = "switchyard"
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0, description="Root spans sampled.")
