-- Several Mailport instances on one database (issue 14): mailbox leases with fencing tokens,
-- Run now across instances, a cross-instance claim on token refreshes, and the instances'
-- heartbeats. Portable SQL only (the PostgreSQL history has the same meaning).
-- Times ending in _ms are unix milliseconds; other times are unix seconds.

-- One row per mailbox (Graph URL plus user; accounts without a user are keyed by their
-- credential, whose signed-in user they read). All accounts of a mailbox run on the
-- instance holding its lease, so Microsoft's limits per app and mailbox hold across
-- instances. An instance claims a free or expired lease with one atomic UPDATE, which bumps
-- fencing_token; every write that advances an account's state checks (owner,
-- fencing_token) in the same statement or transaction, so an instance that lost its lease
-- (paused, cut off) can no longer move a cursor or mark a post-action done.
CREATE TABLE mailbox_leases (
    lease_key      TEXT    PRIMARY KEY,
    -- The instance id holding the lease; NULL once released.
    owner          TEXT,
    expires_at_ms  INTEGER NOT NULL DEFAULT 0,
    -- Grows by one with every change of holder; never reused.
    fencing_token  INTEGER NOT NULL DEFAULT 0,
    claimed_at_ms  INTEGER
);
CREATE INDEX mailbox_leases_owner ON mailbox_leases (owner);

-- Run now pressed on an instance that does not hold the account's mailbox: the holder sees
-- the request (it polls every second) and starts the run.
ALTER TABLE email_accounts ADD COLUMN run_requested_at INTEGER;
CREATE INDEX email_accounts_run_requested ON email_accounts (run_requested_at);

-- At most one instance refreshes a credential's tokens at a time: a refresh token presented
-- twice makes a strict authorization server revoke the whole grant. The claim expires
-- (an instance that died while refreshing cannot block the others).
ALTER TABLE credentials ADD COLUMN refresh_claimed_by TEXT;
ALTER TABLE credentials ADD COLUMN refresh_claim_expires_at_ms INTEGER;

-- The instances sharing this database, with their last heartbeat: shown to the
-- administrator, and a start does not sweep the shared blob folder of files a live
-- instance may be writing.
CREATE TABLE instances (
    id               TEXT    PRIMARY KEY,
    started_at       INTEGER NOT NULL,
    heartbeat_at_ms  INTEGER NOT NULL,
    version          TEXT    NOT NULL DEFAULT ''
);

-- Which instance ran a run (the run history shows it).
ALTER TABLE import_runs ADD COLUMN instance_id TEXT;
