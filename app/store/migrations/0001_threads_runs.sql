-- Threads and runs (app.store.postgres). JSON fields are jsonb; "seq" keeps
-- insertion order, the tie-breaker between equal sort keys (as SQLite's rowid).
CREATE TABLE IF NOT EXISTS threads (
    thread_id   TEXT PRIMARY KEY,
    seq         BIGINT GENERATED ALWAYS AS IDENTITY,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    metadata    JSONB NOT NULL,
    status      TEXT NOT NULL,
    "values"    JSONB,
    interrupts  JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS threads_created_at ON threads (created_at, seq);
CREATE INDEX IF NOT EXISTS threads_metadata ON threads USING gin (metadata jsonb_path_ops);

CREATE TABLE IF NOT EXISTS runs (
    run_id              TEXT PRIMARY KEY,
    seq                 BIGINT GENERATED ALWAYS AS IDENTITY,
    thread_id           TEXT NOT NULL,
    assistant_id        TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    status              TEXT NOT NULL,
    metadata            JSONB NOT NULL,
    multitask_strategy  TEXT NOT NULL,
    kwargs              JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_thread_created_at ON runs (thread_id, created_at, seq);
