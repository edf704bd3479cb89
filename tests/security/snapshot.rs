//! A snapshot of everything Mailport keeps: every row of every table (the session table
//! aside: reading a page notes when the session was last seen, which changes nothing the
//! administrator owns; and the throttle's failure counts, which wrong passwords and API
//! keys are meant to change) and every file under the data dir except the database files.

use std::collections::BTreeMap;
use std::path::Path;

use sqlx::Row;

use crate::helpers::TestApp;

/// Tables whose changes are expected on any request.
const IGNORED: &[&str] = &["sessions", "auth_failures", "_sqlx_migrations"];

#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub tables: BTreeMap<String, Vec<String>>,
    pub files: BTreeMap<String, u64>,
}

pub async fn take(app: &TestApp) -> Snapshot {
    let db = &app.state.db;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(db)
    .await
    .expect("tables");
    let mut tables = BTreeMap::new();
    for name in names.into_iter().filter(|n| !IGNORED.contains(&n.as_str())) {
        let columns: Vec<String> = sqlx::query(&format!("PRAGMA table_info(\"{name}\")"))
            .fetch_all(db)
            .await
            .expect("columns")
            .iter()
            .map(|r| r.get::<String, _>("name"))
            .collect();
        // quote() turns every value (BLOBs included) into comparable text.
        let row_text = columns
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT {row_text} FROM \"{name}\" ORDER BY 1"))
                .fetch_all(db)
                .await
                .expect("rows");
        tables.insert(name, rows);
    }
    let mut files = BTreeMap::new();
    walk(app.data_dir.path(), app.data_dir.path(), &mut files);
    Snapshot { tables, files }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, u64>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out);
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        if rel.starts_with("mailport.db") {
            continue;
        }
        out.insert(rel, entry.metadata().map(|m| m.len()).unwrap_or(0));
    }
}

/// Asserts that nothing changed, naming the table that did.
pub fn assert_same(before: &Snapshot, after: &Snapshot, what: &str) {
    for (table, rows) in &before.tables {
        assert_eq!(
            Some(rows),
            after.tables.get(table),
            "{what} changed table {table}"
        );
    }
    assert_eq!(before.files, after.files, "{what} changed files");
}
