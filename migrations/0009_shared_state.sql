-- What several instances on one PostgreSQL database must share (issue 14). SQLite
-- installations have the same tables; they keep raw messages as files (store/blobs.rs).

-- Raw messages kept in the database (PostgreSQL mode): one row per finished blob, named by
-- the sha256 of its bytes.
CREATE TABLE blobs (
    sha256     TEXT    PRIMARY KEY,
    size       INTEGER NOT NULL,
    -- When it was stored (or stored again): the orphan sweep leaves young blobs alone.
    created_at INTEGER NOT NULL
);

-- The bytes of the blobs, in chunks of at most 1 MiB written as a download arrives.
-- blob_key is the blob's sha256 once finished, and 'tmp:<uuid>' while it is written; the
-- transaction that finishes a blob renames its chunks and inserts its blobs row.
CREATE TABLE blob_chunks (
    blob_key   TEXT    NOT NULL,
    idx        INTEGER NOT NULL,
    data       BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (blob_key, idx)
);
