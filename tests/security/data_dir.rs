//! The data dir is Mailport's alone: the folder 0700 and every file in it 0600 (database,
//! WAL, key, every imported message), also when an older version left it looser; and a
//! start with the wrong encryption key is refused before anything is read or written.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use mailport::store::accounts::AfterImport;

use crate::helpers::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// Every folder and file under `dir`, with its mode.
fn modes(dir: &Path, out: &mut Vec<(String, bool, u32)>) {
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        let is_dir = path.is_dir();
        out.push((path.display().to_string(), is_dir, mode(&path)));
        if is_dir {
            modes(&path, out);
        }
    }
}

/// A data dir as `mailport demo` prepares it for another process: a client-credentials
/// credential and the account `acct`, against a sandbox that is not running.
async fn prepared_data_dir(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("data");
    let sandbox = "http://127.0.0.1:1";
    let account = mailport::demo::sandbox_account("acct", "app", sandbox, AfterImport::Keep);
    mailport::demo::prepare_data_dir(&data, sandbox, &account)
        .await
        .expect("data dir");
    data
}

fn assert_private(dir: &Path) -> usize {
    assert_eq!(mode(dir), 0o700, "the data dir");
    let mut all = Vec::new();
    modes(dir, &mut all);
    for (path, is_dir, mode) in &all {
        let expected = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, expected, "{path} is {mode:o}");
    }
    all.len()
}

#[tokio::test]
async fn the_data_dir_and_everything_in_it_are_readable_by_mailport_alone() {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    app.import_seeded(3).await;
    let checked = assert_private(app.data_dir.path());
    assert!(
        std::fs::read_dir(app.data_dir.path().join("blobs"))
            .expect("blobs")
            .count()
            > 0
    );
    assert!(
        checked >= 8,
        "database, WAL, key, blob folders and blobs: {checked}"
    );
}

#[tokio::test]
async fn a_data_dir_left_readable_by_others_is_tightened_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    let data = prepared_data_dir(dir.path()).await;
    // What an older version (or a careless copy) leaves behind.
    let blob_dir = data.join("blobs").join("ab");
    std::fs::create_dir_all(&blob_dir).expect("blob dir");
    let blob = blob_dir.join(format!("ab{}", "0".repeat(62)));
    std::fs::write(&blob, b"From: a\r\n\r\nmail").expect("blob");
    for (path, m) in [
        (data.as_path(), 0o755),
        (blob_dir.as_path(), 0o755),
        (blob.as_path(), 0o644),
        (data.join("mailport.db").as_path(), 0o644),
    ] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(m)).expect("chmod");
    }
    let config =
        mailport::config::Config::new("127.0.0.1:0".parse().expect("addr"), data.clone(), None);
    let state = mailport::app::AppState::open(config).await.expect("open");
    state.clean_blob_store().await.expect("clean");
    assert_private(&data);
}

fn import(data: &Path, key: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailport"));
    cmd.args(["import", "--account", "acct", "--data-dir"])
        .arg(data)
        .env("MAILPORT_LOG", "warn")
        .env_remove("MAILPORT_SECRET_KEY")
        .env_remove("MAILPORT_ALLOW_HOSTS");
    if let Some(key) = key {
        cmd.env("MAILPORT_SECRET_KEY", key);
    }
    cmd.output().expect("run")
}

fn said(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test]
async fn a_start_with_the_wrong_key_is_refused_and_names_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    let data = prepared_data_dir(dir.path()).await;

    // Another key in the environment.
    let other = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let out = import(&data, Some(other));
    assert!(!out.status.success());
    let text = said(&out);
    assert!(
        text.contains("does not match the database") && text.contains("MAILPORT_SECRET_KEY"),
        "{text}"
    );

    // Another key file.
    let key_file = data.join("secret.key");
    let right = std::fs::read_to_string(&key_file).expect("key");
    std::fs::write(&key_file, other).expect("replace key");
    let out = import(&data, None);
    assert!(!out.status.success());
    let text = said(&out);
    assert!(
        text.contains("secret.key") && text.contains("does not match"),
        "{text}"
    );

    // No key file at all: refused, not replaced by a new key.
    std::fs::remove_file(&key_file).expect("remove key");
    let out = import(&data, None);
    assert!(!out.status.success());
    assert!(said(&out).contains("is missing"), "{}", said(&out));
    assert!(
        !key_file.exists(),
        "a new key was generated over the old data"
    );

    // The right key works again (the import then fails on the unreachable sandbox only).
    std::fs::write(&key_file, right).expect("restore key");
    let out = import(&data, None);
    assert!(!said(&out).contains("does not match"), "{}", said(&out));
}
