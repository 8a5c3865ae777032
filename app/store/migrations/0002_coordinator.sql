-- The distributed coordinator (app.coordinator.distributed).
--
-- run_claims: who executes a run. The primary key makes a claim exclusive; a
-- claim whose lease (expires_at) ran out may be taken over, by one claimer.
-- cancel holds a cancel request until the owner's next lease renewal picks
-- it up (pub/sub carries it at once; this is for a signal that got lost).
CREATE TABLE IF NOT EXISTS run_claims (
    run_id      TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    cancel      TEXT
);
CREATE INDEX IF NOT EXISTS run_claims_owner ON run_claims (owner);
CREATE INDEX IF NOT EXISTS run_claims_expires_at ON run_claims (expires_at);

-- thread_turns: the queue of each thread. The row with the lowest position
-- holds the turn; the others wait. A run's position is its creation order
-- (runs.seq), so turns follow creation order whichever instance asks.
CREATE TABLE IF NOT EXISTS thread_turns (
    thread_id   TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    position    BIGINT NOT NULL,
    owner       TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (thread_id, run_id)
);
CREATE INDEX IF NOT EXISTS thread_turns_position ON thread_turns (thread_id, position, run_id);
CREATE INDEX IF NOT EXISTS thread_turns_expires_at ON thread_turns (expires_at);

-- Runs that still have to end: what crash recovery scans.
CREATE INDEX IF NOT EXISTS runs_active ON runs (created_at) WHERE status IN ('pending', 'running');

-- 1, plus one each time the run was taken over after its worker died.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS attempt INTEGER NOT NULL DEFAULT 1;
