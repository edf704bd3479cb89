//! The content-addressed blob store for raw messages, named by the sha256 of the bytes.
//!
//! - SQLite installations keep files, `<data>/blobs/ab/cdef…`. A blob is written to `tmp/`,
//!   fsynced, then renamed into place, so a crash leaves either nothing or a complete blob
//!   (and tmp files are swept at start).
//! - PostgreSQL installations share nothing but the database, so blobs live in it: the bytes
//!   in `blob_chunks` rows of at most [`CHUNK_BYTES`] (64 KiB), written as they arrive (a 50 MB
//!   message never needs 50 MB of memory to store), under a `tmp:<uuid>` key that the
//!   finishing transaction renames to the sha256 and registers in `blobs`. A crash leaves
//!   only `tmp:` chunks, swept once they are an hour old (other instances may be writing
//!   younger ones), or at once by an instance that starts while no other is alive.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::fs;
use tokio::io::AsyncWriteExt;

use super::Db;

/// The largest `blob_chunks.data` value: what a database-backed writer buffers. 64 KiB: each
/// pooled connection keeps read and write buffers the size of the largest value it carried,
/// so the chunk size counts up to 16 times twice. With 20 MB messages the importer peaked at
/// 96 MB resident with 1 MiB chunks, 69 MB with 256 KiB and 62 MB with 64 KiB (BENCHMARKS.md).
pub const CHUNK_BYTES: usize = 64 * 1024;

/// How old a `tmp:` chunk or an unreferenced blob must be before a sweep removes it: far
/// longer than any download, so another instance's blob in flight is never taken.
pub const SWEEP_AFTER_SECS: i64 = 3600;

#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
    /// Set in PostgreSQL mode: blobs live in the database, not under `root`.
    db: Option<Db>,
    /// In PostgreSQL mode, how old (seconds) a `tmp:` chunk or an unreferenced blob must be
    /// before [`BlobStore::sweep_tmp`] and [`BlobStore::remove`] take it.
    sweep_after: i64,
}

/// A blob being written.
pub struct BlobWriter {
    target: Target,
    hasher: Sha256,
    size: u64,
}

enum Target {
    File {
        file: fs::File,
        tmp: PathBuf,
        root: PathBuf,
    },
    Database {
        db: Db,
        key: String,
        next_idx: i64,
        buf: Vec<u8>,
    },
}

/// A finished, durable blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub sha256: String,
    pub size: u64,
}

impl BlobStore {
    /// Files under `<data_dir>/blobs` (SQLite installations).
    pub fn new(data_dir: &Path) -> Self {
        BlobStore {
            root: data_dir.join("blobs"),
            db: None,
            sweep_after: SWEEP_AFTER_SECS,
        }
    }

    /// Chunks in the database (PostgreSQL installations).
    pub fn in_database(db: Db) -> Self {
        BlobStore {
            root: PathBuf::new(),
            db: Some(db),
            sweep_after: SWEEP_AFTER_SECS,
        }
    }

    /// The same store, sweeping database leftovers older than `secs` instead of
    /// [`SWEEP_AFTER_SECS`]: for an instance starting while no other instance is alive, when
    /// every younger leftover is a crash's too. A download that a sweep cuts short fails at
    /// its finish and is fetched again ([`BlobWriter::finish`]).
    pub fn sweeping_after(mut self, secs: i64) -> Self {
        self.sweep_after = secs;
        self
    }

    /// True when blobs live in the database.
    pub fn is_in_database(&self) -> bool {
        self.db.is_some()
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The file of a blob; None for a name that is not a sha256, and in PostgreSQL mode.
    pub fn path(&self, sha256: &str) -> Option<PathBuf> {
        (self.db.is_none() && is_sha256(sha256)).then(|| self.root.join(&sha256[..2]).join(sha256))
    }

    /// Removes temporary files left by a crash. Returns how many it removed; a file that is
    /// gone already (another instance starting at the same moment) is not an error.
    pub async fn sweep_tmp(&self) -> std::io::Result<usize> {
        if let Some(db) = &self.db {
            return chunks::sweep_tmp(db, super::now() - self.sweep_after)
                .await
                .map(|n| n as usize)
                .map_err(std::io::Error::other);
        }
        let mut n = 0;
        let mut dir = match fs::read_dir(self.tmp_dir()).await {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        while let Some(entry) = dir.next_entry().await? {
            match fs::remove_file(entry.path()).await {
                Ok(()) => n += 1,
                // Another instance starting at the same moment swept it first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Every stored blob's sha256 (walks the two-level tree). In PostgreSQL mode: the blobs
    /// older than [`SWEEP_AFTER_SECS`] (younger ones may belong to another instance's import).
    pub async fn list(&self) -> std::io::Result<Vec<String>> {
        if let Some(db) = &self.db {
            return chunks::list_older(db, super::now() - self.sweep_after)
                .await
                .map_err(std::io::Error::other);
        }
        let mut out = Vec::new();
        let mut top = match fs::read_dir(&self.root).await {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        while let Some(dir) = top.next_entry().await? {
            let name = dir.file_name().to_string_lossy().to_string();
            if name.len() != 2 || !dir.file_type().await?.is_dir() {
                continue;
            }
            let mut inner = fs::read_dir(dir.path()).await?;
            while let Some(f) = inner.next_entry().await? {
                let sha = f.file_name().to_string_lossy().to_string();
                if self.path(&sha).is_some() {
                    out.push(sha);
                }
            }
        }
        Ok(out)
    }

    /// Removes a blob; one that is gone already is not an error. In PostgreSQL mode only
    /// when no message uses it and nobody stored it again in the last [`SWEEP_AFTER_SECS`]
    /// (checked in the deleting statement).
    pub async fn remove(&self, sha256: &str) -> std::io::Result<()> {
        if let Some(db) = &self.db {
            return chunks::remove_unused(db, sha256, super::now() - self.sweep_after)
                .await
                .map_err(std::io::Error::other);
        }
        match self.path(sha256) {
            Some(p) => match fs::remove_file(p).await {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
            None => Ok(()),
        }
    }

    pub async fn begin(&self) -> std::io::Result<BlobWriter> {
        if let Some(db) = &self.db {
            return Ok(BlobWriter {
                target: Target::Database {
                    db: db.clone(),
                    key: format!("tmp:{}", uuid::Uuid::new_v4()),
                    next_idx: 0,
                    buf: Vec::new(),
                },
                hasher: Sha256::new(),
                size: 0,
            });
        }
        create_private_dir(&self.tmp_dir()).await?;
        let tmp = self
            .tmp_dir()
            .join(format!("{}.part", uuid::Uuid::new_v4()));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        // Raw mail is for Mailport's user only (the rename keeps the mode).
        #[cfg(unix)]
        options.mode(0o600);
        let file = options.open(&tmp).await?;
        Ok(BlobWriter {
            target: Target::File {
                file,
                tmp,
                root: self.root.clone(),
            },
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// The whole blob into `buf` (cleared first; its capacity is reused).
    pub async fn read_into(&self, sha256: &str, buf: &mut Vec<u8>) -> std::io::Result<()> {
        buf.clear();
        match &self.db {
            Some(db) if is_sha256(sha256) => chunks::read_into(db, sha256, buf).await,
            Some(_) => Err(not_a_sha256()),
            None => {
                use tokio::io::AsyncReadExt;
                let mut file = self.open(sha256).await?;
                file.read_to_end(buf).await.map(|_| ())
            }
        }
    }

    /// The whole blob in memory.
    pub async fn read(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        if let Some(db) = &self.db {
            if !is_sha256(sha256) {
                return Err(not_a_sha256());
            }
            let mut out = Vec::new();
            chunks::read_into(db, sha256, &mut out).await?;
            return Ok(out);
        }
        let path = self
            .path(sha256)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a sha256"))?;
        fs::read(path).await
    }

    /// The blob's size and its bytes as a stream of chunks (at most 64 KB from files, one
    /// [`CHUNK_BYTES`] row from the database), for responses that must not hold a whole
    /// message in memory.
    pub async fn stream(
        &self,
        sha256: &str,
    ) -> std::io::Result<(
        u64,
        futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>,
    )> {
        use futures_util::StreamExt;
        if !is_sha256(sha256) {
            return Err(not_a_sha256());
        }
        if let Some(db) = &self.db {
            let size = chunks::size(db, sha256)
                .await?
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such blob"))?;
            let state = (db.clone(), sha256.to_string(), 0i64);
            let stream = futures_util::stream::try_unfold(state, |(db, sha, idx)| async move {
                Ok(chunks::chunk(&db, &sha, idx)
                    .await?
                    .map(|data| (bytes::Bytes::from(data), (db, sha, idx + 1))))
            });
            return Ok((size, stream.boxed()));
        }
        use tokio::io::AsyncReadExt;
        let file = self.open(sha256).await?;
        let len = file.metadata().await?.len();
        let stream = futures_util::stream::try_unfold(file, |mut f| async move {
            let mut buf = vec![0u8; 64 * 1024];
            let n = f.read(&mut buf).await?;
            if n == 0 {
                return Ok(None);
            }
            buf.truncate(n);
            Ok(Some((bytes::Bytes::from(buf), f)))
        });
        Ok((len, stream.boxed()))
    }

    /// The blob's file (files only).
    pub async fn open(&self, sha256: &str) -> std::io::Result<fs::File> {
        let path = self.path(sha256).ok_or_else(not_a_sha256)?;
        fs::File::open(path).await
    }
}

fn is_sha256(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

fn not_a_sha256() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a sha256")
}

/// Creates a folder (and its parents) readable by Mailport's user only.
async fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir).await
}

impl BlobStore {
    /// Tightens what an older version wrote: folders 0700, blobs 0600. Returns how many
    /// entries it changed. Only folders and files the blob store made are visited.
    pub async fn restrict_permissions(&self) -> std::io::Result<usize> {
        let mut changed = 0;
        #[cfg(unix)]
        if self.db.is_none() {
            let mut pending = vec![self.root.clone()];
            while let Some(dir) = pending.pop() {
                let mut entries = match fs::read_dir(&dir).await {
                    Ok(d) => d,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                changed += usize::from(tighten(&dir, 0o700).await?);
                while let Some(entry) = entries.next_entry().await? {
                    let kind = entry.file_type().await?;
                    if kind.is_dir() {
                        pending.push(entry.path());
                    } else if kind.is_file() {
                        changed += usize::from(tighten(&entry.path(), 0o600).await?);
                    }
                }
            }
        }
        Ok(changed)
    }
}

/// Sets `mode` when the group or others have more; true when it did.
#[cfg(unix)]
async fn tighten(path: &Path, mode: u32) -> std::io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let current = fs::metadata(path).await?.permissions().mode() & 0o777;
    if current & !mode == 0 {
        return Ok(false);
    }
    fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).await?;
    Ok(true)
}

impl BlobWriter {
    pub async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        match &mut self.target {
            Target::File { file, .. } => file.write_all(chunk).await,
            Target::Database {
                db,
                key,
                next_idx,
                buf,
            } => {
                let mut rest = chunk;
                while !rest.is_empty() {
                    let take = rest.len().min(CHUNK_BYTES - buf.len());
                    buf.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    if buf.len() == CHUNK_BYTES {
                        chunks::insert(db, key, *next_idx, buf).await?;
                        *next_idx += 1;
                        buf.clear();
                    }
                }
                Ok(())
            }
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// fsyncs and moves the blob into place (an existing identical blob is kept). In the
    /// database: writes the last chunk and, in one transaction, names the chunks by the
    /// sha256 (replacing an identical blob stored before) and registers the blob.
    pub async fn finish(mut self) -> std::io::Result<StoredBlob> {
        let sha256 = hex::encode(self.hasher.finalize_reset());
        match self.target {
            Target::File {
                mut file,
                tmp,
                root,
            } => {
                file.flush().await?;
                file.sync_all().await?;
                let dir = root.join(&sha256[..2]);
                create_private_dir(&dir).await?;
                let target = dir.join(&sha256);
                fs::rename(&tmp, &target).await?;
                // Make the rename itself durable.
                if let Ok(d) = fs::File::open(&dir).await {
                    let _ = d.sync_all().await;
                }
            }
            Target::Database {
                db,
                key,
                next_idx,
                buf,
            } => {
                let mut written = next_idx;
                if !buf.is_empty() || next_idx == 0 {
                    chunks::insert(&db, &key, next_idx, &buf).await?;
                    written += 1;
                }
                chunks::finish(&db, &key, written, &sha256, self.size as i64).await?;
            }
        }
        Ok(StoredBlob {
            sha256,
            size: self.size,
        })
    }

    /// Drops the partial file (or chunks).
    pub async fn abort(self) {
        match self.target {
            Target::File { tmp, .. } => {
                let _ = fs::remove_file(&tmp).await;
            }
            Target::Database { db, key, .. } => {
                if let Err(e) = chunks::delete_tmp(&db, &key).await {
                    tracing::warn!(error = %e, "could not delete a partial download; the sweep will");
                }
            }
        }
    }
}

/// The SQL of blobs kept in the database (`blobs`, `blob_chunks`).
mod chunks {
    use super::super::{Db, now};
    use futures_util::TryStreamExt;

    fn io(e: sqlx::Error) -> std::io::Error {
        std::io::Error::other(e)
    }

    pub async fn insert(db: &Db, key: &str, idx: i64, data: &[u8]) -> std::io::Result<()> {
        sqlx::query(
            "INSERT INTO blob_chunks (blob_key, idx, data, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(key)
        .bind(idx)
        .bind(data)
        .bind(now())
        .execute(db)
        .await
        .map(|_| ())
        .map_err(io)
    }

    /// Names the `written` chunks of `key` by `sha256`, replacing an identical blob stored
    /// before (its registration time moves to now, so no sweep takes it while its message is
    /// stored). Changes nothing and fails when a sweep removed any of the chunks meanwhile.
    pub async fn finish(
        db: &Db,
        key: &str,
        written: i64,
        sha256: &str,
        size: i64,
    ) -> std::io::Result<()> {
        let mut tx = db.begin().await.map_err(io)?;
        let t = now();
        sqlx::query(
            "INSERT INTO blobs (sha256, size, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (sha256) DO UPDATE SET size = excluded.size, created_at = excluded.created_at",
        )
        .bind(sha256)
        .bind(size)
        .bind(t)
        .execute(&mut *tx)
        .await
        .map_err(io)?;
        sqlx::query("DELETE FROM blob_chunks WHERE blob_key = $1")
            .bind(sha256)
            .execute(&mut *tx)
            .await
            .map_err(io)?;
        let renamed = sqlx::query("UPDATE blob_chunks SET blob_key = $2 WHERE blob_key = $1")
            .bind(key)
            .bind(sha256)
            .execute(&mut *tx)
            .await
            .map_err(io)?
            .rows_affected();
        if renamed != written as u64 {
            // Dropping the transaction rolls it back: the identical blob stored before stays.
            return Err(std::io::Error::other(format!(
                "{renamed} of the {written} chunks of a download were left: a start-up sweep \
                 took it for a crash's leftovers; the message is downloaded again"
            )));
        }
        tx.commit().await.map_err(io)
    }

    pub async fn delete_tmp(db: &Db, key: &str) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM blob_chunks WHERE blob_key = $1")
            .bind(key)
            .execute(db)
            .await
            .map(|_| ())
    }

    /// Deletes `tmp:` chunks written before `cutoff`; returns how many partial blobs.
    pub async fn sweep_tmp(db: &Db, cutoff: i64) -> sqlx::Result<u64> {
        let keys: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT blob_key FROM blob_chunks WHERE blob_key LIKE 'tmp:%' AND created_at < $1",
        )
        .bind(cutoff)
        .fetch_all(db)
        .await?;
        for key in &keys {
            delete_tmp(db, key).await?;
        }
        Ok(keys.len() as u64)
    }

    pub async fn list_older(db: &Db, cutoff: i64) -> sqlx::Result<Vec<String>> {
        sqlx::query_scalar("SELECT sha256 FROM blobs WHERE created_at < $1 ORDER BY sha256")
            .bind(cutoff)
            .fetch_all(db)
            .await
    }

    pub async fn remove_unused(db: &Db, sha256: &str, cutoff: i64) -> sqlx::Result<()> {
        let mut tx = db.begin().await?;
        let n = sqlx::query(
            "DELETE FROM blobs WHERE sha256 = $1 AND created_at < $2
                AND NOT EXISTS (SELECT 1 FROM messages WHERE messages.sha256 = blobs.sha256)",
        )
        .bind(sha256)
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            sqlx::query("DELETE FROM blob_chunks WHERE blob_key = $1")
                .bind(sha256)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    pub async fn size(db: &Db, sha256: &str) -> std::io::Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar("SELECT size FROM blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(db)
            .await
            .map_err(io)?;
        Ok(size.map(|s| s.max(0) as u64))
    }

    pub async fn chunk(db: &Db, sha256: &str, idx: i64) -> std::io::Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT data FROM blob_chunks WHERE blob_key = $1 AND idx = $2")
            .bind(sha256)
            .bind(idx)
            .fetch_optional(db)
            .await
            .map_err(io)
    }

    /// The whole blob, chunk by chunk into `out`.
    pub async fn read_into(db: &Db, sha256: &str, out: &mut Vec<u8>) -> std::io::Result<()> {
        let Some(size) = size(db, sha256).await? else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such blob",
            ));
        };
        out.reserve(size as usize);
        let mut rows = sqlx::query_scalar::<_, Vec<u8>>(
            "SELECT data FROM blob_chunks WHERE blob_key = $1 ORDER BY idx",
        )
        .bind(sha256)
        .fetch(db);
        while let Some(data) = rows.try_next().await.map_err(io)? {
            out.extend_from_slice(&data);
        }
        Ok(())
    }
}
