//! The `mailport` binary's commands, run as a real process.

use std::io::Write;
use std::process::{Command, Stdio};

fn mailport() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mailport"));
    c.env_remove("MAILPORT_SECRET_KEY")
        .env("MAILPORT_LOG", "warn");
    c
}

#[test]
fn help_lists_every_command_and_option() {
    let out = mailport().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "serve",
        "user",
        "apikey",
        "sandbox",
        "--listen",
        "--data-dir",
        "--public-url",
    ] {
        assert!(text.contains(word), "--help lacks {word}: {text}");
    }
    let out = mailport().args(["user", "add", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--password-stdin"));
    let out = mailport().args(["sandbox", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--config"));
}

#[test]
fn user_add_and_apikey_create() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();

    let mut child = mailport()
        .args(["user", "add", "ops", "--password-stdin", "--data-dir", data])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");

    // Too short a password is refused and exits non-zero.
    let mut child = mailport()
        .args([
            "user",
            "add",
            "weak",
            "--password-stdin",
            "--data-dir",
            data,
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10"));

    let out = mailport()
        .args(["apikey", "create", "ci", "--data-dir", data])
        .output()
        .unwrap();
    assert!(out.status.success());
    let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(key.starts_with("mp_") && key.len() > 40);
    let db = std::fs::read(dir.path().join("mailport.db")).unwrap();
    assert!(
        !db.windows(key.len()).any(|w| w == key.as_bytes()),
        "only a hash is stored"
    );
    let dup = mailport()
        .args(["apikey", "create", "ci", "--data-dir", data])
        .output()
        .unwrap();
    assert!(!dup.status.success());
}
