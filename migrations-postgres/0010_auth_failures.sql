-- The sign-in and API-key throttle shared by every instance (issue 14). Also: blob_chunks
-- now holds chunks of at most 64 KiB (store::blobs::CHUNK_BYTES); 0009's comment predates that.

-- Failed sign-ins and wrong API keys (web/login_limit.rs), counted per subject in a window
-- that starts with the first failure, so that every instance sharing the database refuses
-- the same guesser. scope: 'pair' (a user name from an address), 'address', 'name',
-- 'api_key' (an address). name: the user name of 'pair' and 'name' rows; generation: the
-- user's session generation when a 'name' row was counted (a password reset clears them).
CREATE TABLE auth_failures (
    scope           TEXT   NOT NULL,
    subject         TEXT   NOT NULL,
    name            TEXT,
    failures        BIGINT NOT NULL,
    window_start_ms BIGINT NOT NULL,
    generation      BIGINT,
    PRIMARY KEY (scope, subject)
);
CREATE INDEX auth_failures_window ON auth_failures (window_start_ms);
CREATE INDEX auth_failures_name ON auth_failures (name) WHERE name IS NOT NULL;
