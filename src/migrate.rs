//! `mailport migrate-to-postgres`: copies a SQLite installation (database and raw messages)
//! into an empty PostgreSQL database and proves the copy complete with counts and checksums.
//!
//! Nothing is decrypted: credentials, tokens and webhook secrets stay encrypted with the data
//! dir's key, which every PostgreSQL instance then uses (`MAILPORT_SECRET_KEY` or
//! `--secret-key-file <data-dir>/secret.key`). The source is only read; run it while the
//! SQLite instance is stopped.

use std::path::Path;

use anyhow::{Context, bail};

use crate::crypto::MasterKey;
use crate::store::blobs::BlobStore;
use crate::store::{self, DatabaseUrl, copy};

/// What a migration copied, table by table (rows) and in raw messages.
#[derive(Debug, Default)]
pub struct Report {
    pub tables: Vec<(String, u64)>,
    pub blobs: u64,
    pub blob_bytes: u64,
}

/// Copies `data_dir` into `url` and verifies it. Refuses a target that holds data, a data
/// dir without a database, and a key that does not open the source's check value.
pub async fn to_postgres(data_dir: &Path, url: &DatabaseUrl) -> anyhow::Result<Report> {
    let path = data_dir.join(store::DATABASE_FILE);
    if !path.is_file() {
        bail!(
            "{} does not exist: pass the --data-dir of the SQLite installation to move",
            path.display()
        );
    }
    let source = store::connect(&path).await?;
    check_key(data_dir, &source).await?;
    let target = store::connect_postgres(url).await?;
    let tables = copy::tables(&source).await?;
    let target_tables = copy::tables(&target).await?;
    for t in &target_tables {
        let n = copy::count(&target, &t.name).await?;
        if n > 0 {
            bail!(
                "the database {url} is not empty (table {} has {n} rows): migrate-to-postgres \
                 only fills a new, empty database. Nothing was changed.",
                t.name
            );
        }
    }
    for t in &tables {
        let Some(target_table) = target_tables.iter().find(|x| x.name == t.name) else {
            bail!(
                "the database {url} has no table {}: its schema is older than the source's",
                t.name
            );
        };
        for (column, _) in &t.columns {
            if !target_table.columns.iter().any(|(c, _)| c == column) {
                bail!("the database {url} has no column {}.{column}", t.name);
            }
        }
    }
    let mut report = Report::default();
    for t in tables
        .iter()
        .filter(|t| !BLOB_TABLES.contains(&t.name.as_str()))
    {
        let n = copy::copy_table(&source, &target, t)
            .await
            .with_context(|| format!("copying table {}", t.name))?;
        tracing::info!(table = %t.name, rows = n, "copied");
        report.tables.push((t.name.clone(), n));
    }
    copy::reset_sequences(&target).await?;
    let (blobs, bytes) = copy_blobs(data_dir, &target).await?;
    report.blobs = blobs;
    report.blob_bytes = bytes;
    verify(&source, &target, &tables).await?;
    source.close().await;
    target.close().await;
    Ok(report)
}

/// The data dir's key must open its database's check value: the PostgreSQL instances will
/// use this key for the copied secrets.
async fn check_key(data_dir: &Path, source: &store::Db) -> anyhow::Result<()> {
    let Some((key, from)) = MasterKey::load(data_dir)? else {
        if store::key_check::get(source).await?.is_none() {
            return Ok(());
        }
        bail!(
            "{} is missing: the copied secrets are encrypted with it, and the PostgreSQL \
             instances need it. Restore it first. Nothing was changed.",
            data_dir.join(crate::crypto::KEY_FILE).display()
        );
    };
    if let Some(sealed) = store::key_check::get(source).await?
        && !key.opens_check_value(&sealed)
    {
        bail!(
            "the key from {from} does not match the database in {}. Nothing was changed.",
            data_dir.display()
        );
    }
    Ok(())
}

/// Streams every blob file into the database's chunks, checking each file's sha256 on the
/// way (a file whose bytes do not match its name is an error, not copied silently).
async fn copy_blobs(data_dir: &Path, target: &store::Db) -> anyhow::Result<(u64, u64)> {
    use tokio::io::AsyncReadExt;
    let files = BlobStore::new(data_dir);
    let database = BlobStore::in_database(target.clone());
    let mut count = 0;
    let mut bytes = 0;
    for sha in files.list().await.context("listing the blob store")? {
        let mut file = files.open(&sha).await?;
        let mut writer = database.begin().await?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            writer.write(&buf[..n]).await?;
        }
        let stored = writer.finish().await?;
        if stored.sha256 != sha {
            bail!(
                "blob {sha} holds bytes whose sha256 is {}: the file is damaged",
                stored.sha256
            );
        }
        // Read back what the database holds, chunk by chunk.
        let (size, mut chunks) = database.stream(&sha).await?;
        let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
        while let Some(chunk) = futures_util::StreamExt::next(&mut chunks).await {
            sha2::Digest::update(&mut hasher, &chunk?);
        }
        if hex::encode(sha2::Digest::finalize(hasher)) != sha || size != stored.size {
            bail!("blob {sha} reads back differently from PostgreSQL");
        }
        count += 1;
        bytes += stored.size;
    }
    Ok((count, bytes))
}

/// The tables of raw messages in the database: filled from the blob files, not copied.
const BLOB_TABLES: &[&str] = &["blobs", "blob_chunks"];

/// Every table: same count and same checksum on both sides; every blob readable back with
/// its sha256.
async fn verify(
    source: &store::Db,
    target: &store::Db,
    tables: &[copy::Table],
) -> anyhow::Result<()> {
    for t in tables
        .iter()
        .filter(|t| !BLOB_TABLES.contains(&t.name.as_str()))
    {
        let (a, n) = copy::checksum(source, t).await?;
        let (b, m) = copy::checksum(target, t).await?;
        if n != m {
            bail!("table {}: {n} rows in SQLite but {m} in PostgreSQL", t.name);
        }
        if a != b {
            bail!(
                "table {}: the rows differ between SQLite and PostgreSQL (checksum)",
                t.name
            );
        }
    }
    Ok(())
}
