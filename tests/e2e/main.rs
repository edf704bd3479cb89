//! End-to-end tests in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) drives `mailport serve` and `mailport sandbox`, both running as their
//! own processes on loopback ports, through the whole flow an administrator walks. Every step
//! leaves a screenshot in `target/e2e-screenshots/`.
//!
//! The browser is an optional system part (see `tests/common/system_parts.rs`): without it
//! the browser test is reported as ignored and one line says what to install;
//! `MAILPORT_E2E_REQUIRE=1` (CI) makes a missing browser a failure. This binary therefore
//! uses `libtest-mimic` instead of the standard harness, which cannot ignore at run time.

mod demo;
mod failures;
mod harness;
mod scenario;
#[path = "../common/system_parts.rs"]
mod system_parts;

use std::time::Instant;

use libtest_mimic::{Arguments, Trial};
use system_parts::block_on;

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let browser = harness::BROWSER.look_for(harness::find_browser);
    let trials = vec![
        browser.trial(
            "an_administrator_walks_the_whole_flow_in_chromium",
            |tools| block_on(the_whole_flow(tools)),
        ),
        Trial::test(
            "demo::demo_starts_app_and_sandbox_with_data_ready_to_use",
            || block_on(demo::demo_starts_app_and_sandbox_with_data_ready_to_use()),
        ),
        Trial::test("demo::a_restarted_demo_imports_nothing_twice", || {
            block_on(demo::a_restarted_demo_imports_nothing_twice())
        }),
    ];
    libtest_mimic::run(&args, trials).exit_code()
}

async fn the_whole_flow(tools: harness::BrowserTools) {
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
    scenario::many_accounts_paged_and_filtered(&mut w).await;
    scenario::narrow_screen(&mut w).await;

    eprintln!(
        "e2e: the whole flow took {:?}; screenshots in {}",
        started.elapsed(),
        harness::SCREENSHOT_DIR
    );
    w.browser.close().await.ok();
}
