-- PostgreSQL twin of migrations/0004_security.sql: the same tables, columns and meaning. Integers are
-- BIGINT (SQLite's INTEGER is 64-bit), flags stay 0/1 integers, BLOB is BYTEA, and ids are identity
-- columns that accept explicit values (migrate-to-postgres copies ids).

-- Security review (issue 10): revocable sessions stored by hash, the tenant pin of
-- credentials whose token URL names no tenant GUID, and a check value for the master key.

-- Every session of a user ends when this number changes (password change or reset).
ALTER TABLE users ADD COLUMN session_generation BIGINT NOT NULL DEFAULT 0;

-- Sessions of signed-in administrators (anonymous visitors never get a row). The cookie
-- carries a random 128-bit id; only its sha256 is stored, so reading the database does not
-- let anyone take a session over. `data` is the session's JSON (CSRF token, pending
-- sign-ins, flash). A session ends at `expires_at` (idle timeout, moved on use) or at
-- `ends_at` (sign-in plus the absolute lifetime), whichever comes first.
CREATE TABLE sessions (
    id_hash      TEXT    PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    generation   BIGINT NOT NULL,
    data         TEXT    NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    ends_at      BIGINT NOT NULL,
    address      TEXT    NOT NULL DEFAULT '',
    user_agent   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- The session store before this migration kept the cookie values themselves: its
-- sessions end here (everyone signs in once more).
DROP TABLE IF EXISTS tower_sessions;

-- The tenant (`tid`) of the first sign-in of a credential whose token URL names a domain,
-- `common` or `organizations`: later sign-ins must come from the same tenant.
ALTER TABLE credentials ADD COLUMN tenant_pin TEXT;

-- A known value encrypted with the master key when the database was first opened with it:
-- a start with another key is refused before anything is read or written with it.
CREATE TABLE key_check (
    id         BIGINT  PRIMARY KEY CHECK (id = 1),
    sealed     BYTEA    NOT NULL,
    created_at BIGINT NOT NULL
);
