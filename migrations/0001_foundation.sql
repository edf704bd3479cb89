-- Foundation: administrators, first-run setup links, API keys and OAuth2 credentials.
-- Times are integer unix seconds (portable to PostgreSQL later).

-- Administrators who sign in to the web UI. Passwords are argon2id PHC strings.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- One-time links that create the first administrator. Only a sha256 is stored.
CREATE TABLE setup_tokens (
    token_hash TEXT    PRIMARY KEY,
    created_at INTEGER NOT NULL
);

-- Keys for /api/v1. Keys are 256-bit random, so a sha256 is enough to store.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    key_hash     TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);

-- OAuth2 credentials (the "Credentials" screen) and the tokens they hold.
-- client_secret, access_token and refresh_token are AES-256-GCM ciphertexts (crypto.rs).
CREATE TABLE credentials (
    id                TEXT    PRIMARY KEY,
    description       TEXT    NOT NULL DEFAULT '',
    grant_type        TEXT    NOT NULL CHECK (grant_type IN ('authorization_code', 'client_credentials')),
    authorization_url TEXT    NOT NULL DEFAULT '',
    access_token_url  TEXT    NOT NULL,
    client_id         TEXT    NOT NULL,
    client_secret     BLOB,
    scope             TEXT    NOT NULL,
    -- How the client authenticates at the token endpoint: 'post' (client_secret_post) or 'basic'.
    client_auth       TEXT    NOT NULL DEFAULT 'post' CHECK (client_auth IN ('post', 'basic')),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,

    -- none | valid | needs_consent | invalid_client | error  ('expired' is derived from expires_at)
    token_status      TEXT    NOT NULL DEFAULT 'none',
    access_token      BLOB,
    refresh_token     BLOB,
    expires_at        INTEGER,
    granted_scope     TEXT,
    token_updated_at  INTEGER,
    -- Who signed in (from the id_token), for "Signed in as ...".
    account_username  TEXT,
    account_name      TEXT,
    account_tid       TEXT,
    account_oid       TEXT,
    -- The last token-endpoint or sign-in error, shown with its AADSTS code and trace id.
    last_error_code        TEXT,
    last_error_description TEXT,
    last_error_trace_id    TEXT,
    last_error_at          INTEGER
);
