-- Assistants with their versions, thread TTLs and crons (app.store.platform_postgres).
-- "seq" keeps insertion order, the tie-breaker between equal sort keys (as SQLite's rowid).
CREATE TABLE IF NOT EXISTS assistants (
    assistant_id  TEXT PRIMARY KEY,
    seq           BIGINT GENERATED ALWAYS AS IDENTITY,
    graph_id      TEXT NOT NULL,
    name          TEXT NOT NULL,
    description   TEXT,
    config        JSONB NOT NULL,
    context       JSONB NOT NULL,
    metadata      JSONB NOT NULL,
    version       INTEGER NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS assistants_metadata ON assistants USING gin (metadata jsonb_path_ops);

CREATE TABLE IF NOT EXISTS assistant_versions (
    assistant_id  TEXT NOT NULL REFERENCES assistants (assistant_id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    graph_id      TEXT NOT NULL,
    name          TEXT NOT NULL,
    description   TEXT,
    config        JSONB NOT NULL,
    context       JSONB NOT NULL,
    metadata      JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (assistant_id, version)
);

CREATE TABLE IF NOT EXISTS thread_ttl (
    thread_id    TEXT PRIMARY KEY,
    strategy     TEXT NOT NULL,
    ttl_minutes  DOUBLE PRECISION NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS thread_ttl_expires_at ON thread_ttl (expires_at);

CREATE TABLE IF NOT EXISTS crons (
    cron_id           TEXT PRIMARY KEY,
    seq               BIGINT GENERATED ALWAYS AS IDENTITY,
    assistant_id      TEXT NOT NULL,
    thread_id         TEXT,
    schedule          TEXT NOT NULL,
    timezone          TEXT,
    end_time          TIMESTAMPTZ,
    payload           JSONB NOT NULL,
    metadata          JSONB NOT NULL,
    enabled           BOOLEAN NOT NULL,
    on_run_completed  TEXT,
    user_id           TEXT,
    next_run_date     TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
-- What the schedulers of every instance poll: enabled crons by their next tick.
CREATE INDEX IF NOT EXISTS crons_due ON crons (next_run_date) WHERE enabled;
