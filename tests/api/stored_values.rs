//! Typed words in database rows (account status, token status, run outcome): a stored value
//! Mailport does not know is an error that names it, never a silent fallback.

use mailport::store::leases::{self, Fence};
use mailport::store::{accounts, credentials, runs};

use crate::helpers::*;

async fn app_with_account() -> TestApp {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    let r = app
        .create_account("acct", &[("after_import", "keep")])
        .await;
    assert_is_redirect_to(&r, "/accounts/acct");
    app
}

async fn run_sql(app: &TestApp, sql: &str) {
    sqlx::query(sql)
        .execute(&app.state.db)
        .await
        .expect("test statement");
}

#[tokio::test]
async fn an_account_row_with_an_unknown_status_fails_to_load_naming_the_value() {
    let app = app_with_account().await;
    accounts::get(&app.state.db, "acct")
        .await
        .expect("a known status loads")
        .expect("the account");

    run_sql(
        &app,
        "UPDATE email_accounts SET status = 'sleeping' WHERE id = 'acct'",
    )
    .await;

    let err = accounts::get(&app.state.db, "acct")
        .await
        .expect_err("an unknown status must not load as some other status");
    assert!(err.to_string().contains("sleeping"), "{err}");
}

#[tokio::test]
async fn a_credential_row_with_an_unknown_token_status_fails_to_load_naming_the_value() {
    let app = app_with_account().await;
    let id = accounts::get(&app.state.db, "acct")
        .await
        .expect("account")
        .expect("the account")
        .credential_id;

    run_sql(
        &app,
        &format!("UPDATE credentials SET token_status = 'half_valid' WHERE id = '{id}'"),
    )
    .await;

    let err = credentials::get(&app.state.db, &id)
        .await
        .expect_err("an unknown token status must not read as `none`");
    assert!(err.to_string().contains("half_valid"), "{err}");
}

#[tokio::test]
async fn a_run_row_with_an_unknown_outcome_fails_to_load_naming_the_value() {
    let app = app_with_account().await;
    let summary = runs::RunSummary {
        outcome: runs::RunOutcome::Error,
        error_message: Some("for the test".into()),
        ..runs::RunSummary::default()
    };
    let db = &app.state.db;
    let key = leases::key_of(db, "acct")
        .await
        .expect("key")
        .expect("the account has a mailbox");
    let now = mailport::clock::now_ms();
    let token = leases::claim(db, &key, "test", now, now + 60_000)
        .await
        .expect("claim")
        .expect("the lease is free");
    let fence = Fence {
        lease_key: key,
        owner: "test".into(),
        token,
    };
    runs::record(db, &fence, "acct", 1, &summary, 10)
        .await
        .expect("recorded")
        .expect("the fence holds");
    assert_eq!(
        runs::last(&app.state.db, "acct")
            .await
            .expect("a known outcome loads")
            .expect("the run")
            .outcome,
        runs::RunOutcome::Error
    );

    run_sql(&app, "UPDATE import_runs SET outcome = 'exploded'").await;

    let err = runs::last(&app.state.db, "acct")
        .await
        .expect_err("an unknown outcome must not load");
    assert!(err.to_string().contains("exploded"), "{err}");
}
