-- E-mail server accounts, imported messages, their attachments, and the import run log.

-- A mailbox (and folder) imported with a credential. The *_id and delta columns are caches
-- the importer keeps; they are cleared when the mailbox or folders change.
CREATE TABLE email_accounts (
    id                TEXT    PRIMARY KEY,
    description       TEXT    NOT NULL DEFAULT '',
    mailbox           TEXT    NOT NULL DEFAULT '',
    folder            TEXT    NOT NULL DEFAULT 'Inbox',
    credential_id     TEXT    NOT NULL REFERENCES credentials (id) ON DELETE RESTRICT,
    after_import      TEXT    NOT NULL DEFAULT 'move'
                              CHECK (after_import IN ('move', 'mark_read', 'delete', 'keep')),
    move_to           TEXT    NOT NULL DEFAULT 'Imported',
    graph_url         TEXT    NOT NULL DEFAULT 'https://graph.microsoft.com/v1.0',
    poll_interval     INTEGER NOT NULL DEFAULT 60 CHECK (poll_interval >= 10),
    enabled           INTEGER NOT NULL DEFAULT 1,
    -- Unix seconds; keep/mark_read only import mail received from then on.
    import_since      INTEGER,
    max_message_bytes INTEGER NOT NULL DEFAULT 52428800,
    -- ok | error | needs_consent | disabled | throttled
    status            TEXT    NOT NULL DEFAULT 'ok',
    status_detail     TEXT,
    throttled_until   INTEGER,
    folder_id         TEXT,
    move_to_folder_id TEXT,
    delta_link        TEXT,
    -- Newest receivedDateTime held when the last delta round completed: where a new sync
    -- starts if Microsoft expires the delta token.
    delta_watermark   INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX email_accounts_credential ON email_accounts (credential_id);

-- One row per message seen, keyed by (account, immutable Graph id): the key that makes the
-- import exactly-once. Imported mail is kept when its account is deleted.
CREATE TABLE messages (
    id                  INTEGER PRIMARY KEY,
    account_id          TEXT    NOT NULL,
    graph_id            TEXT    NOT NULL,
    -- imported | too_large
    state               TEXT    NOT NULL CHECK (state IN ('imported', 'too_large')),
    post_action_done    INTEGER NOT NULL DEFAULT 0,
    internet_message_id TEXT,
    subject             TEXT    NOT NULL DEFAULT '',
    from_name           TEXT,
    from_address        TEXT,
    to_json             TEXT    NOT NULL DEFAULT '[]',
    cc_json             TEXT    NOT NULL DEFAULT '[]',
    sent_at             INTEGER,
    received_at         INTEGER,
    size                INTEGER NOT NULL,
    sha256              TEXT,
    text_body           TEXT,
    html_body           TEXT,
    imported_at         INTEGER NOT NULL,
    UNIQUE (account_id, graph_id)
);
CREATE INDEX messages_received ON messages (received_at DESC, id DESC);
CREATE INDEX messages_account ON messages (account_id, received_at DESC);
CREATE INDEX messages_pending_action ON messages (account_id) WHERE post_action_done = 0;
-- Blob files are named by sha256: the orphan sweep at start asks whether a row uses one.
CREATE INDEX messages_sha256 ON messages (sha256);

-- Attachment metadata; the bytes stay inside the raw message in the blob store.
CREATE TABLE attachments (
    message_id   INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    name         TEXT    NOT NULL DEFAULT '',
    content_type TEXT    NOT NULL DEFAULT 'application/octet-stream',
    size         INTEGER NOT NULL,
    content_id   TEXT,
    is_inline    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (message_id, idx)
);

-- Every import run of every account.
CREATE TABLE import_runs (
    id                   INTEGER PRIMARY KEY,
    account_id           TEXT    NOT NULL,
    started_at           INTEGER NOT NULL,
    finished_at          INTEGER,
    -- running | ok | error | cancelled
    outcome              TEXT    NOT NULL DEFAULT 'running',
    listed               INTEGER NOT NULL DEFAULT 0,
    imported             INTEGER NOT NULL DEFAULT 0,
    skipped              INTEGER NOT NULL DEFAULT 0,
    too_large            INTEGER NOT NULL DEFAULT 0,
    failed               INTEGER NOT NULL DEFAULT 0,
    post_action_failures INTEGER NOT NULL DEFAULT 0,
    retries              INTEGER NOT NULL DEFAULT 0,
    error_code           TEXT,
    error_message        TEXT,
    request_id           TEXT,
    log                  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX import_runs_account ON import_runs (account_id, id DESC);
