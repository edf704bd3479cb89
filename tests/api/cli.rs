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
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("created in {data}")),
        "says which data dir holds the key: {out:?}"
    );
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

#[test]
fn a_bad_request_budget_is_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for bad in [
        "10000",
        "0/600",
        "10000/0",
        "10/0.5",
        "many/600",
        "10/1000000",
        "10/NaN",
    ] {
        let out = mailport()
            .args(["import", "--account", "a", "--graph-request-budget", bad])
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--graph-request-budget"), "{bad}: {err}");
        assert!(!data.exists(), "{bad}: the data dir was created");
    }
    // Good values get as far as the (missing) account.
    for good in ["100/6.1", "off", " 10000 / 601 "] {
        let out = mailport()
            .args(["import", "--account", "a", "--graph-request-budget", good])
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("The account a does not exist."),
            "{good}: {err}"
        );
    }
}

#[test]
fn import_of_an_unknown_account_fails_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = mailport()
        .args([
            "import",
            "--account",
            "nope",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("The account nope does not exist."));
}

#[tokio::test]
async fn serve_prints_the_setup_link_and_stops_on_sigterm() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mailport"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            dir.path().to_str().unwrap(),
        ])
        .env_remove("MAILPORT_SECRET_KEY")
        .env("MAILPORT_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut link = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(pos) = line.find("http://localhost:")
            && line.contains("/setup?token=")
        {
            link = Some(line[pos..].trim().to_string());
            break;
        }
    }
    let link = link.expect("setup link printed");
    let local = link.replace("localhost", "127.0.0.1");
    let r = reqwest::get(&local).await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);

    let pid = child.id().unwrap();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("stops within 30 s")
        .unwrap();
    assert!(status.success(), "graceful exit: {status:?}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("secret.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn logs_written_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    // Debug logging writes plenty (every SQL statement) before the unknown account stops it.
    let out = mailport()
        .args(["import", "--account", "nope", "--data-dir"])
        .arg(dir.path())
        .env("MAILPORT_LOG", "debug")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DEBUG"), "debug lines were logged: {err}");
    assert!(
        !err.contains('\u{1b}'),
        "stderr is a pipe here, so no ANSI escape codes: {err:?}"
    );
}
