//! End-to-end tests in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) drives `mailport serve` and `mailport sandbox`, both running as their
//! own processes on loopback ports, through the whole flow an administrator walks. Every step
//! leaves a screenshot in `target/e2e-screenshots/`.
//!
//! Without Chromium the browser test fails and says how to install it; with
//! `MAILPORT_E2E_SKIP=1` it prints a loud skip line instead.

mod demo;
mod failures;
mod harness;
mod scenario;

use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_walks_the_whole_flow_in_chromium() {
    let Some(tools) = harness::browser_tools() else {
        return;
    };
    let started = Instant::now();
    let mut w = harness::World::start(&tools).await;
    eprintln!(
        "e2e: processes and browser up after {:?}",
        started.elapsed()
    );

    scenario::first_run_setup(&mut w).await;
    scenario::sign_out_and_in(&mut w).await;
    failures::form_errors_keep_typed_values(&mut w).await;
    scenario::authorization_code_credential(&mut w).await;
    failures::consent_cancelled(&mut w).await;
    scenario::client_credentials_credential(&mut w).await;
    scenario::email_account_and_test_connection(&mut w).await;
    let stored = scenario::seed_run_now_and_open(&mut w).await;
    scenario::download_attachment(&mut w, &stored).await;
    scenario::sandbox_mailbox_tidied(&mut w).await;
    failures::script_payloads_execute_nothing(&mut w).await;
    failures::xss_corpus_executes_nothing(&mut w).await;
    failures::revoked_refresh_token_and_repair(&mut w).await;
    scenario::api_keys(&mut w).await;
    scenario::webhooks(&mut w).await;
    scenario::narrow_screen(&mut w).await;

    eprintln!(
        "e2e: the whole flow took {:?}; screenshots in {}",
        started.elapsed(),
        harness::SCREENSHOT_DIR
    );
    w.browser.close().await.ok();
}
