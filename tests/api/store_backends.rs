//! The store on both backends: the same schema from both migration histories, the shared
//! key, raw messages in PostgreSQL, the database password kept out of sight, and moving a
//! SQLite installation to PostgreSQL. Each test says loudly and returns when PostgreSQL is
//! not installed (a failure with `MAILPORT_PG_REQUIRE=1`).

use std::process::Command;

use mailport::app::AppState;
use mailport::config::Config;
use mailport::store::blobs::{BlobStore, CHUNK_BYTES};
use mailport::store::{self, DatabaseUrl, copy};
use reqwest::StatusCode;

use crate::helpers::{TestApp, postgres, random_key};

/// A fresh database on the test cluster, or None (after the loud skip message).
async fn fresh_postgres() -> Option<DatabaseUrl> {
    if !postgres::installed() {
        return None;
    }
    let url = postgres::available()?.fresh_database().await;
    Some(url.parse().expect("url"))
}

fn config_for(data_dir: &std::path::Path, url: &DatabaseUrl, key_file: &std::path::Path) -> Config {
    let mut config = Config::new(
        "127.0.0.1:0".parse().expect("addr"),
        data_dir.to_path_buf(),
        None,
    );
    config.database_url = Some(url.clone());
    config.secret_key_file = Some(key_file.to_path_buf());
    config
}

#[tokio::test]
async fn both_migration_histories_end_with_the_same_tables_and_columns() {
    let Some(url) = fresh_postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = store::connect(&dir.path().join("mailport.db"))
        .await
        .expect("sqlite");
    let pg = store::connect_postgres(&url).await.expect("postgres");
    let shape = |tables: Vec<copy::Table>| {
        tables
            .into_iter()
            .map(|t| (t.name, t.columns))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let on_sqlite = shape(copy::tables(&sqlite).await.expect("sqlite tables"));
    let on_pg = shape(copy::tables(&pg).await.expect("pg tables"));
    assert!(on_sqlite.contains_key("messages") && on_sqlite.contains_key("blob_chunks"));
    assert_eq!(on_sqlite, on_pg, "the two migration histories differ");
    // Both histories have the same versions, so a migration added to one only fails here.
    let versions = |db: &store::Db| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&db)
                .await
                .expect("versions")
        }
    };
    assert_eq!(versions(&sqlite).await, versions(&pg).await);
    // Migrating again (a second instance starting) changes nothing.
    store::connect_postgres(&url).await.expect("second start");
}

/// Instances that meet an empty database at the same moment migrate it once: sqlx takes
/// PostgreSQL's advisory migration lock, so every start succeeds and each version is
/// applied exactly once.
#[tokio::test]
async fn instances_starting_together_migrate_an_empty_database_once() {
    let Some(url) = fresh_postgres().await else {
        return;
    };
    let starts =
        futures_util::future::join_all((0..4).map(|_| store::connect_postgres(&url))).await;
    let pools: Vec<store::Db> = starts
        .into_iter()
        .map(|s| s.expect("an instance starting together with three others"))
        .collect();
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pools[0])
            .await
            .expect("versions");
    let expected: Vec<i64> = sqlx::migrate!("./migrations-postgres")
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(applied, expected, "every migration applied exactly once");
}

#[tokio::test]
async fn a_postgresql_instance_needs_the_shared_key_and_refuses_another() {
    let Some(url) = fresh_postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut no_key = config_for(dir.path(), &url, &dir.path().join("none"));
    no_key.secret_key_file = None;
    let err = AppState::open(no_key)
        .await
        .err()
        .expect("refused without a key");
    assert!(
        format!("{err:#}").contains("MAILPORT_SECRET_KEY"),
        "says which key is missing: {err:#}"
    );
    assert!(
        !dir.path().join("secret.key").exists(),
        "no key file is made up"
    );

    let first = dir.path().join("first.key");
    std::fs::write(&first, random_key()).expect("key");
    let state = AppState::open(config_for(dir.path(), &url, &first))
        .await
        .expect("first instance");
    state.db.close().await;
    // The same key again: fine. Another key: refused, saying so.
    AppState::open(config_for(dir.path(), &url, &first))
        .await
        .expect("same key");
    let other = dir.path().join("other.key");
    std::fs::write(&other, random_key()).expect("key");
    let err = AppState::open(config_for(dir.path(), &url, &other))
        .await
        .err()
        .expect("another key is refused");
    let text = format!("{err:#}");
    assert!(text.contains("does not match the database"), "{text}");
    assert!(!text.contains(postgres::PASSWORD), "no password in: {text}");
}

#[tokio::test]
async fn the_database_password_is_never_shown() {
    let url: DatabaseUrl = "postgres://mailport:s3cr%40t-pw@127.0.0.1:1/mail"
        .parse()
        .expect("url");
    for shown in [url.to_string(), format!("{url:?}")] {
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(shown.contains("127.0.0.1:1/mail"), "{shown}");
    }
    let err = store::connect_postgres(&url)
        .await
        .expect_err("nothing listens");
    assert!(!format!("{err:#}").contains("s3cr"), "{err:#}");
    let bad = DatabaseUrl::parse("mysql://root:hunter2@db/mail").expect_err("not postgres");
    assert!(!bad.contains("hunter2"), "{bad}");

    // The command line: a refused connection and a bad URL, on stdout, stderr and in logs.
    let dir = tempfile::tempdir().expect("tempdir");
    for value in [
        "postgres://mailport:s3cr%40t-pw@127.0.0.1:1/mail",
        "postgres://mailport:s3cr%40t-pw@/",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_mailport"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("MAILPORT_DATABASE_URL", value)
            .env("MAILPORT_SECRET_KEY", random_key())
            .env("RUST_LOG", "trace")
            .output()
            .expect("run mailport");
        assert!(!out.status.success(), "{value} is refused");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("s3cr"), "password shown: {all}");
        assert!(
            all.contains("postgres://mailport:***@127.0.0.1:1/mail")
                || all.contains("--database-url"),
            "says what is wrong: {all}"
        );
    }
    let help = Command::new(env!("CARGO_BIN_EXE_mailport"))
        .args(["serve", "--help"])
        .env("MAILPORT_DATABASE_URL", "postgres://u:s3cr-pw@h/d")
        .output()
        .expect("help");
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("--database-url") && !text.contains("s3cr"),
        "{text}"
    );
}

#[tokio::test]
async fn raw_messages_live_in_postgresql_in_chunks_and_read_back_exactly() {
    let Some(url) = fresh_postgres().await else {
        return;
    };
    let db = store::connect_postgres(&url).await.expect("postgres");
    let blobs = BlobStore::in_database(db.clone());
    let body: Vec<u8> = (0..CHUNK_BYTES * 2 + 12_345)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let mut writer = blobs.begin().await.expect("begin");
    for part in body.chunks(100_000) {
        writer.write(part).await.expect("write");
    }
    let stored = writer.finish().await.expect("finish");
    assert_eq!(stored.size, body.len() as u64);
    assert_eq!(stored.sha256, mailport::crypto::sha256_hex(&body));
    assert_eq!(blobs.read(&stored.sha256).await.expect("read"), body);
    let chunks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blob_chunks WHERE blob_key = $1")
        .bind(&stored.sha256)
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(chunks, 3, "1 MiB chunks");
    // The same bytes again: one blob, no leftover chunks; an aborted write leaves nothing.
    let mut again = blobs.begin().await.expect("begin");
    again.write(&body).await.expect("write");
    again.finish().await.expect("finish");
    let mut aborted = blobs.begin().await.expect("begin");
    aborted
        .write(&body[..CHUNK_BYTES + 1])
        .await
        .expect("write");
    aborted.abort().await;
    let all: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blob_chunks")
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(all, 3);
    // Young unreferenced blobs are left alone (another instance may be storing its message).
    blobs.remove(&stored.sha256).await.expect("remove");
    assert!(blobs.read(&stored.sha256).await.is_ok());
    assert!(blobs.read("not-a-sha").await.is_err());
}

#[tokio::test]
async fn migrate_to_postgres_copies_a_sqlite_installation_and_verifies_it() {
    let Some(url) = fresh_postgres().await else {
        return;
    };
    if crate::helpers::test_backend_is_postgres() {
        return; // the source must be SQLite
    }
    // A SQLite installation with mail, a credential secret, an API key and a webhook.
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    app.import_seeded(5).await;
    let receiver = format!("{}/_sandbox/receiver/erp", app.sandbox.base_url);
    let r = app
        .post_form(
            "/webhooks",
            &[
                ("id", "erp"),
                ("description", "the ERP"),
                ("url", receiver.as_str()),
                ("accounts", "*"),
                ("payload", "json"),
                ("include_attachments", "0"),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "webhook created");
    store::api_keys::create_with_scope(
        &app.state.db,
        "erp",
        &mailport::crypto::sha256_hex(b"k"),
        store::api_keys::ApiScope::Read,
    )
    .await
    .expect("api key");
    let before = app.api("/messages?account=acct").await;
    let message_id = before["items"][0]["id"].clone();
    let raw_before = app
        .get(&format!(
            "/mail/{}/raw",
            message_id.as_i64().unwrap_or_default()
        ))
        .await
        .bytes()
        .await
        .expect("raw");
    app.state.importer.shutdown().await;
    app.running.shutdown.cancel();
    let data_dir = app.data_dir.path().to_path_buf();

    // The copy, then a second run: refused, since the target is no longer empty.
    let out = Command::new(env!("CARGO_BIN_EXE_mailport"))
        .arg("migrate-to-postgres")
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--database-url")
        .arg(url.expose())
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("messages: 5 rows"), "{stdout}");
    assert!(stdout.contains("verified"), "{stdout}");
    assert!(!stdout.contains(postgres::PASSWORD), "{stdout}");
    let again = Command::new(env!("CARGO_BIN_EXE_mailport"))
        .arg("migrate-to-postgres")
        .arg("--data-dir")
        .arg(&data_dir)
        .env("MAILPORT_DATABASE_URL", url.expose())
        .output()
        .expect("run");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    // PostgreSQL instances with the data dir's key see the same mail, credentials and keys.
    let moved_dir = tempfile::tempdir().expect("tempdir");
    let state = AppState::open(config_for(
        moved_dir.path(),
        &url,
        &data_dir.join("secret.key"),
    ))
    .await
    .expect("open the moved installation");
    let db = &state.db;
    assert_eq!(
        store::messages::count_for_account(db, "acct")
            .await
            .expect("count"),
        5
    );
    let cred = store::credentials::get(db, "app")
        .await
        .expect("get")
        .expect("credential");
    let secret = cred.client_secret.clone().expect("secret");
    assert!(
        state
            .key
            .decrypt(&store::credentials::secret_context("app"), &secret)
            .is_ok(),
        "the secret opens with the same key"
    );
    let sha: String = sqlx::query_scalar("SELECT sha256 FROM messages WHERE id = $1")
        .bind(message_id.as_i64().unwrap_or_default())
        .fetch_one(db)
        .await
        .expect("sha");
    assert_eq!(
        state.blobs.read(&sha).await.expect("raw in postgres"),
        raw_before.to_vec()
    );
    // New rows get new ids after the copied ones.
    let (id, _) = store::users::upsert(db, "second", "x").await.expect("user");
    assert!(id > 1, "identity moved past the copied ids");
}

/// Two instances on one PostgreSQL database, as behind a load balancer without sticky
/// sessions: a sign-in on one is a sign-in on the other, and what one stores the other shows.
#[tokio::test]
async fn a_session_started_on_one_instance_works_on_another() {
    if !crate::helpers::test_backend_is_postgres() && !postgres::installed() {
        return;
    }
    if !crate::helpers::test_backend_is_postgres() {
        return; // runs in the PostgreSQL pass of this binary (backends.rs)
    }
    let a = TestApp::signed_in().await;
    a.app_credential().await;
    let mut config = (*a.state.config).clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    config.listen = listener.local_addr().expect("addr");
    config.data_dir = tempfile::tempdir().expect("tempdir").keep();
    let b = mailport::app::start(
        listener,
        AppState::open(config).await.expect("second instance"),
    )
    .await
    .expect("start");
    // The same cookie jar (cookies are per host, not per port) against the other instance.
    let page = a
        .client
        .get(format!("http://{}/credentials/app", b.addr))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "signed in on the second instance"
    );
    let text = page.text().await.expect("page");
    assert!(
        text.contains("test credential"),
        "the first instance's credential"
    );
    // Signing out on the second ends the session on the first.
    let token = crate::helpers::form_value(&text, "csrf_token").expect("csrf");
    let out = a
        .client
        .post(format!("http://{}/logout", b.addr))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("logout");
    assert!(out.status().is_redirection(), "{}", out.status());
    let r = a.get("/credentials").await;
    assert!(
        r.status().is_redirection(),
        "signed out on the first too: {}",
        r.status()
    );
    b.shutdown.cancel();
}
