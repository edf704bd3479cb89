-- Handing mail on: the changes feed (events), webhook endpoints, and the transactional outbox
-- of webhook deliveries with their attempt log. Times are integer unix seconds.
--
-- The transactional outbox: the transaction that stores an imported message also writes its
-- event and one delivery row per enabled endpoint whose accounts include the message's
-- account (store::outbox::enqueue_imported). A stored message is therefore never without
-- its deliveries, whatever crashes.

-- The changes feed, in import order. The id is the cursor (opaque to consumers). SQLite runs
-- one write transaction at a time, so ids become visible in id order and a reader that asks
-- for "after N" never misses a row that commits later with a smaller id. A PostgreSQL port
-- must keep that property, for example by taking a transaction-level advisory lock before
-- inserting an event (pg_advisory_xact_lock), so that event inserts commit in id order.
-- mailbox and folder are the account's at import time, so a delivery's body never changes.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    -- message.imported (later: other types)
    type        TEXT    NOT NULL,
    message_id  INTEGER NOT NULL,
    account_id  TEXT    NOT NULL,
    mailbox     TEXT,
    folder      TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX events_message ON events (message_id);

-- Mail imported before this migration gets its events too, so that a feed consumer reading
-- from the start sees every message.
INSERT INTO events (type, message_id, account_id, mailbox, folder, created_at)
SELECT 'message.imported', m.id, m.account_id, a.mailbox, a.folder, m.imported_at
FROM messages m LEFT JOIN email_accounts a ON a.id = m.account_id
WHERE m.state = 'imported'
ORDER BY m.id;

-- Where the business application listens. secret and previous_secret are AES-256-GCM
-- ciphertexts (crypto.rs) of the whsec_ signing secrets; previous_secret stays valid until
-- previous_secret_until (24 hours after a rotation), and meanwhile every delivery carries
-- both signatures.
CREATE TABLE webhook_endpoints (
    id                    TEXT    PRIMARY KEY,
    description           TEXT    NOT NULL DEFAULT '',
    url                   TEXT    NOT NULL,
    -- 1: every account's mail; 0: only the accounts in webhook_endpoint_accounts.
    all_accounts          INTEGER NOT NULL DEFAULT 1,
    payload               TEXT    NOT NULL DEFAULT 'json' CHECK (payload IN ('json', 'raw')),
    -- json payloads: attachments up to this many MB are inlined as base64; 0 = links only.
    include_attachments_mb INTEGER NOT NULL DEFAULT 0 CHECK (include_attachments_mb >= 0),
    enabled               INTEGER NOT NULL DEFAULT 1,
    -- Set when the receiver, not the administrator, disabled the endpoint: 'gone' (HTTP 410).
    disabled_reason       TEXT,
    -- Random, unique per endpoint: part of every webhook-id, so ids never repeat across
    -- endpoints or reinstalled databases.
    uid                   TEXT    NOT NULL UNIQUE,
    secret                BLOB    NOT NULL,
    previous_secret       BLOB,
    previous_secret_until INTEGER,
    -- A 429 or 503 with Retry-After pauses the whole endpoint until then.
    paused_until          INTEGER,
    last_success_at       INTEGER,
    last_failure_at       INTEGER,
    -- The first failed attempt since the last success: the endpoint counts as failing when
    -- this is long enough ago.
    failing_since         INTEGER,
    -- Successful attempts so far (a counter for the screen and metrics: a redelivery that
    -- lands counts again). Kept here so that no count runs over every delivered row.
    delivered_total       INTEGER NOT NULL DEFAULT 0,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);

-- The accounts an endpoint with all_accounts = 0 receives mail of. No foreign key to
-- email_accounts: deleting an account must not silently widen or narrow an endpoint.
CREATE TABLE webhook_endpoint_accounts (
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, account_id)
);
CREATE INDEX webhook_endpoint_accounts_account ON webhook_endpoint_accounts (account_id);

-- The outbox: one row per (endpoint, event), sent until a 2xx answer or the retry schedule
-- runs out. status: pending (not tried yet) | failed (tried; retried at next_attempt_at)
-- | delivered | dead (schedule exhausted; replayed only by an administrator).
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    endpoint_id      TEXT    NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         INTEGER NOT NULL REFERENCES events (id),
    status           TEXT    NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'failed', 'delivered', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- Failures that move along the retry schedule (a 429 or 503 with Retry-After does not).
    failures         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    last_attempt_at  INTEGER,
    last_status_code INTEGER,
    last_error       TEXT,
    delivered_at     INTEGER,
    -- 1 when an administrator asked for this delivery again: its next attempt is logged as
    -- manual and starts the retry schedule afresh.
    manual           INTEGER NOT NULL DEFAULT 0,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at, id)
    WHERE status IN ('pending', 'failed');
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, status, id);

-- Every attempt of every delivery: what the receiver answered, or why nothing came back.
CREATE TABLE webhook_attempts (
    id               INTEGER PRIMARY KEY,
    delivery_id      INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at     INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    status_code      INTEGER,
    -- The first bytes of the answer (at most 1 KB, as text).
    response_excerpt TEXT,
    error            TEXT,
    -- schedule | manual (an administrator asked for a redelivery)
    trigger_kind     TEXT    NOT NULL DEFAULT 'schedule'
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
