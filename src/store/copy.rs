//! Copying a whole database to another backend (`mailport migrate-to-postgres`): every
//! table's rows as they are (secrets stay encrypted with the same key), in an order that
//! satisfies foreign keys, then counts and checksums compared on both sides.
//!
//! Tables and columns are read from the target's schema, so tables added by later
//! migrations are copied without changes here; the target must have every column of the
//! source (both migration histories give the same schema).

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Backend, Db};

/// Tables copied first, parents before children; any other table follows in name order.
const ORDER: &[&str] = &[
    "users",
    "setup_tokens",
    "api_keys",
    "credentials",
    "email_accounts",
    "messages",
    "attachments",
    "import_runs",
    "account_imports",
    "sessions",
    "key_check",
    "events",
    "webhook_endpoints",
    "webhook_endpoint_accounts",
    "webhook_deliveries",
    "webhook_attempts",
];

/// The value type of a column, as both schemas use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Integer,
    Text,
    Bytes,
    Real,
}

/// A table and its columns (name, kind), in the target's column order.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub columns: Vec<(String, Kind)>,
}

/// The tables of a database (without sqlx's bookkeeping), each with its columns: what the
/// schema test compares between the backends, and what [`copy_table`] copies.
pub async fn tables(db: &Db) -> sqlx::Result<Vec<Table>> {
    let rows: Vec<(String, String, String)> = match Backend::of(db) {
        Backend::Postgres => {
            sqlx::query_as(
                "SELECT c.table_name::text, c.column_name::text, c.data_type::text
                 FROM information_schema.columns c
                 JOIN information_schema.tables t
                   ON t.table_schema = c.table_schema AND t.table_name = c.table_name
                 WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
                   AND c.table_name NOT LIKE '\\_sqlx%'
                 ORDER BY c.table_name, c.ordinal_position",
            )
            .fetch_all(db)
            .await?
        }
        Backend::Sqlite => {
            sqlx::query_as(
                "SELECT m.name, p.name, p.type
                 FROM sqlite_master m, pragma_table_info(m.name) p
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
                   AND m.name NOT LIKE '\\_sqlx%' ESCAPE '\\'
                 ORDER BY m.name, p.cid",
            )
            .fetch_all(db)
            .await?
        }
    };
    let mut by_name: BTreeMap<String, Vec<(String, Kind)>> = BTreeMap::new();
    for (table, column, ty) in rows {
        let ty = ty.to_ascii_lowercase();
        let kind = if ty.contains("int") {
            Kind::Integer
        } else if ty.contains("blob") || ty.contains("bytea") {
            Kind::Bytes
        } else if ty.contains("real") || ty.contains("double") || ty.contains("float") {
            Kind::Real
        } else {
            Kind::Text
        };
        by_name.entry(table).or_default().push((column, kind));
    }
    let mut out: Vec<Table> = Vec::new();
    for name in ORDER {
        if let Some(columns) = by_name.remove(*name) {
            out.push(Table {
                name: name.to_string(),
                columns,
            });
        }
    }
    out.extend(
        by_name
            .into_iter()
            .map(|(name, columns)| Table { name, columns }),
    );
    Ok(out)
}

/// Rows in `table` (`table` comes from [`tables`], never from input).
pub async fn count(db: &Db, table: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(db)
        .await
}

fn column_list(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|(c, _)| c.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows inserted per statement.
const BATCH_ROWS: usize = 200;

/// Copies every row of `table` from `from` into `to`, in batches inside one transaction;
/// returns how many rows.
pub async fn copy_table(from: &Db, to: &Db, table: &Table) -> sqlx::Result<u64> {
    let columns = column_list(table);
    let select = format!("SELECT {columns} FROM {}", table.name);
    let mut rows = sqlx::query(&select).fetch(from);
    let mut tx = to.begin().await?;
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    let mut copied = 0u64;
    while let Some(row) = rows.try_next().await? {
        batch.push(row);
        if batch.len() == BATCH_ROWS {
            copied += insert_batch(&mut tx, table, &columns, &batch).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        copied += insert_batch(&mut tx, table, &columns, &batch).await?;
    }
    tx.commit().await?;
    Ok(copied)
}

async fn insert_batch(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &Table,
    columns: &str,
    rows: &[sqlx::any::AnyRow],
) -> sqlx::Result<u64> {
    let mut b =
        super::builder::QueryBuilder::new(format!("INSERT INTO {} ({columns}) ", table.name));
    b.push_values(rows, |mut values, row| {
        for (i, (_, kind)) in table.columns.iter().enumerate() {
            match kind {
                Kind::Integer => values.push_bind(row.try_get::<Option<i64>, _>(i).ok().flatten()),
                Kind::Text => values.push_bind(row.try_get::<Option<String>, _>(i).ok().flatten()),
                Kind::Bytes => {
                    values.push_bind(row.try_get::<Option<Vec<u8>>, _>(i).ok().flatten())
                }
                Kind::Real => values.push_bind(row.try_get::<Option<f64>, _>(i).ok().flatten()),
            };
        }
    });
    Ok(b.build().execute(&mut **tx).await?.rows_affected())
}

/// An order-independent checksum of every value of every row of `table` (hex sha256 of the
/// sorted row digests), the same on both backends for the same data; and the row count.
/// Values are read with the column's kind, so an integer and its text never collide.
pub async fn checksum(db: &Db, table: &Table) -> sqlx::Result<(String, u64)> {
    let select = format!("SELECT {} FROM {}", column_list(table), table.name);
    let mut rows = sqlx::query(&select).fetch(db);
    let mut digests: Vec<[u8; 32]> = Vec::new();
    while let Some(row) = rows.try_next().await? {
        let mut h = Sha256::new();
        for (i, (_, kind)) in table.columns.iter().enumerate() {
            let value: Option<Vec<u8>> = match kind {
                Kind::Integer => row
                    .try_get::<Option<i64>, _>(i)?
                    .map(|v| v.to_le_bytes().to_vec()),
                Kind::Text => row.try_get::<Option<String>, _>(i)?.map(String::into_bytes),
                Kind::Bytes => row.try_get::<Option<Vec<u8>>, _>(i)?,
                Kind::Real => row
                    .try_get::<Option<f64>, _>(i)?
                    .map(|v| v.to_le_bytes().to_vec()),
            };
            match value {
                None => h.update([0u8]),
                Some(bytes) => {
                    h.update([1u8]);
                    h.update((bytes.len() as u64).to_le_bytes());
                    h.update(&bytes);
                }
            }
        }
        digests.push(h.finalize().into());
    }
    digests.sort_unstable();
    let mut all = Sha256::new();
    for d in &digests {
        all.update(d);
    }
    Ok((hex::encode(all.finalize()), digests.len() as u64))
}

/// Moves every identity sequence of PostgreSQL past the copied ids, so that the next
/// inserted row gets a new id.
pub async fn reset_sequences(db: &Db) -> sqlx::Result<()> {
    let identities: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND is_identity = 'YES'",
    )
    .fetch_all(db)
    .await?;
    for (table, column) in identities {
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)::text"
        ))
        .fetch_one(db)
        .await?;
    }
    Ok(())
}
