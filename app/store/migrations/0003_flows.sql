-- Flow documents (app.store.flows_postgres): one row per version.
CREATE TABLE IF NOT EXISTS flows (
    flow_id     TEXT NOT NULL,
    version     INTEGER NOT NULL,
    document    JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (flow_id, version)
);
