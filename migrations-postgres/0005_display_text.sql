-- PostgreSQL twin of migrations/0005_display_text.sql: the same tables, columns and meaning. Integers are
-- BIGINT (SQLite's INTEGER is 64-bit), flags stay 0/1 integers, BLOB is BYTEA, and ids are identity
-- columns that accept explicit values (migrate-to-postgres copies ids).

-- What the mail viewer shows, re-derived from the exact raw bytes when the parser improves.

-- The first event of a message's calendar part (a meeting request), as JSON
-- (mime::CalendarSummary); NULL when there is none.
ALTER TABLE messages ADD COLUMN calendar_json TEXT;
-- How many attachments the message has in all; the attachments table lists at most 1,000.
-- NULL for rows stored before this column (their list was cut silently at 1,000).
ALTER TABLE messages ADD COLUMN attachment_count BIGINT;
-- Which version of Mailport's parser derived subject, names, bodies and attachments from the
-- raw message. Rows below the current version (all rows stored before this migration: their
-- subjects could hold ESC bytes, NUL or U+FFFD) are parsed again from their blob in the
-- background, so old mail reads as right as new mail.
ALTER TABLE messages ADD COLUMN parse_version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX messages_parse_version ON messages (parse_version) WHERE state = 'imported';
