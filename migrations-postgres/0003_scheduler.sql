-- PostgreSQL twin of migrations/0003_scheduler.sql: the same tables, columns and meaning. Integers are
-- BIGINT (SQLite's INTEGER is 64-bit), flags stay 0/1 integers, BLOB is BYTEA, and ids are identity
-- columns that accept explicit values (migrate-to-postgres copies ids).

-- The due-time scheduler, cheap polls, API key scopes and staged CSV imports (issue 9).
-- Times are integer unix seconds unless the name says otherwise.

-- When each account is next due. The dispatcher takes the oldest-due enabled accounts first
-- (index below), so overload shows as lateness spread over every account, never as starvation.
-- A poll sets it to its start plus poll_interval (or the end of a throttling pause). NULL
-- parks the account: its credential needs consent, and repairing the credential or saving
-- the account makes it due again. New accounts are due when created.
ALTER TABLE email_accounts ADD COLUMN next_due_at BIGINT DEFAULT 0;
-- What the last poll left, so that an empty poll needs no run-history row: when it started,
-- how late it started (milliseconds after next_due_at), when it finished and how
-- (ok | error | cancelled), the start of the last poll that ended ok, the end of the last
-- poll that imported something, and how many polls ran since then.
ALTER TABLE email_accounts ADD COLUMN last_poll_started_at BIGINT;
ALTER TABLE email_accounts ADD COLUMN last_poll_lag_ms BIGINT;
ALTER TABLE email_accounts ADD COLUMN last_poll_finished_at BIGINT;
ALTER TABLE email_accounts ADD COLUMN last_poll_outcome TEXT;
ALTER TABLE email_accounts ADD COLUMN last_success_at BIGINT;
ALTER TABLE email_accounts ADD COLUMN last_import_at BIGINT;
ALTER TABLE email_accounts ADD COLUMN polls_since_import BIGINT NOT NULL DEFAULT 0;
-- Accounts that exist now are due at once (their lag counts from the upgrade).
UPDATE email_accounts SET next_due_at = CAST(EXTRACT(EPOCH FROM now()) AS BIGINT);
-- Covers the dispatcher's query: due enabled accounts in due order, ties by id.
CREATE INDEX email_accounts_due ON email_accounts (enabled, next_due_at, id);

-- Run history is pruned by age; the per-account cap uses import_runs_account.
CREATE INDEX import_runs_started ON import_runs (started_at);

-- What an API key may do: 'read' (GET only) or 'admin' (also the write operations).
-- Keys made before scopes existed stay read-only.
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'read' CHECK (scope IN ('read', 'admin'));

-- A CSV file of accounts that passed validation and waits for the administrator to apply
-- or cancel it. Nothing of it touches email_accounts before "Apply"; stale ones are deleted.
CREATE TABLE account_imports (
    id          TEXT    PRIMARY KEY,
    created_by  TEXT    NOT NULL,
    created_at  BIGINT NOT NULL,
    file_name   TEXT    NOT NULL DEFAULT '',
    csv         TEXT    NOT NULL
);
