//! The e-mail server accounts screen: validation, Test connection's diagnoses, and the
//! link between accounts and credentials.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn account_form_validates_and_keeps_typed_values() {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("id", "bad id")], "Use 1 to 64 characters"),
        (&[("mailbox", "")], "need the mailbox"),
        (&[("mailbox", "not an address")], "user principal name"),
        (
            &[("credential_id", "nope")],
            "Choose one of the credentials",
        ),
        (&[("poll_interval", "5")], "from 10"),
        (&[("graph_url", "javascript:alert(1)")], "only https URLs"),
        (&[("after_import", "burn")], "Choose what happens"),
        (&[("move_to", "Inbox")], "would import nothing"),
        (&[("import_since", "yesterday")], "YYYY-MM-DD"),
    ];
    for (extra, message) in cases {
        let mut fields = extra.to_vec();
        fields.push(("description", "typed <i>text</i>"));
        let r = app.create_account("acct", &fields).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{extra:?}");
        let page = r.text().await.unwrap();
        assert!(page.contains(message), "{extra:?}: expected {message}");
        assert_eq!(
            form_value(&page, "description").as_deref(),
            Some("typed <i>text</i>")
        );
    }
    assert_eq!(app.api("/accounts").await["total"], 0);
    let r = app.create_account("acct", &[]).await;
    assert_is_redirect_to(&r, "/accounts/acct");
    let r = app.create_account("acct", &[]).await;
    assert!(r.text().await.unwrap().contains("already exists"));
    let list = app.get_text("/accounts").await;
    assert!(list.contains(ADELE) && list.contains("Inbox"));
}

#[tokio::test]
async fn a_credential_in_use_cannot_be_deleted() {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    app.create_account("acct", &[]).await;
    let r = app.post_form("/credentials/app/delete", &[]).await;
    assert_is_redirect_to(&r, "/credentials/app");
    let page = app.get_text("/credentials/app").await;
    assert!(page.contains("was not deleted") && page.contains("acct"));
    assert_eq!(app.credential("app").await["id"], "app");
    // Deleting the account keeps its mail and frees the credential.
    app.post_form("/accounts/acct/delete", &[]).await;
    let r = app.post_form("/credentials/app/delete", &[]).await;
    assert_is_redirect_to(&r, "/credentials");
}

async fn test_connection(app: &TestApp) -> String {
    let r = app.post_form("/accounts/acct/test", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

#[tokio::test]
async fn test_connection_explains_what_is_wrong() {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    app.create_account("acct", &[]).await;
    let page = test_connection(&app).await;
    assert!(page.contains("Connection works"), "{page}");

    app.graph().set_access_policy(ADELE, true).unwrap();
    let page = test_connection(&app).await;
    assert!(page.contains("The app may not open this mailbox"));
    assert!(page.contains(&format!(
        "Test-ApplicationAccessPolicy -Identity {ADELE} -AppId {}",
        mailport::sandbox::world::DEMO_CLIENT_ID
    )));
    assert!(page.contains("New-ManagementRoleAssignment"));
    app.graph().set_access_policy(ADELE, false).unwrap();

    app.graph().set_mailbox_enabled(ADELE, false).unwrap();
    assert!(
        test_connection(&app)
            .await
            .contains("cannot be used through Graph")
    );
    app.graph().set_mailbox_enabled(ADELE, true).unwrap();

    // More 429s than the client's attempts: throttling, said as such.
    let throttles = (0..10)
        .map(|_| mailport::sandbox::graph::FaultSpec {
            fault: mailport::sandbox::graph::Fault::Throttle { retry_after: None },
            target: mailport::sandbox::graph::FaultTarget::List,
            mailbox: None,
        })
        .collect();
    app.graph().push_faults(throttles).unwrap();
    let page = test_connection(&app).await;
    assert!(page.contains("Graph is throttling this mailbox"), "{page}");
    app.graph().clear_faults();

    let page = app.get_text("/accounts/acct").await;
    let mut fields: Vec<(String, String)> = parse_forms(&page)
        .into_iter()
        .find(|f| f.action == "/accounts/acct")
        .unwrap()
        .fields;
    fields.retain(|(k, _)| k != "csrf_token" && k != "folder");
    fields.push(("folder".into(), "Inbox/Nope".into()));
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_is_redirect_to(
        &app.post_form("/accounts/acct", &borrowed).await,
        "/accounts/acct",
    );
    let page = test_connection(&app).await;
    assert!(page.contains("not found"), "{page}");

    fields.retain(|(k, _)| k != "folder" && k != "mailbox");
    fields.push(("folder".into(), "Inbox".into()));
    fields.push(("mailbox".into(), "nobody@contoso.onmicrosoft.com".into()));
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    app.post_form("/accounts/acct", &borrowed).await;
    assert!(test_connection(&app).await.contains("Mailbox not found"));
}

#[tokio::test]
async fn test_connection_lists_existing_folders_for_an_unknown_one() {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    app.create_account("acct", &[("folder", "Servicedesk")])
        .await;
    let page = test_connection(&app).await;
    assert!(
        page.contains("Folder \u{201c}Servicedesk\u{201d} not found"),
        "{page}"
    );
    assert!(page.contains("Inbox") && page.contains("Archive"));
}

#[tokio::test]
async fn test_connection_names_a_missing_permission() {
    // An app registration without the Mail.ReadWrite application permission: its tokens
    // carry no role, and Graph answers 403 without the access-policy message.
    let app = TestApp::signed_in_with(|config| {
        config.tenants[0].apps[0].application_permissions.clear();
    })
    .await;
    app.app_credential().await;
    app.create_account("acct", &[]).await;
    let page = test_connection(&app).await;
    assert!(
        page.contains("Permission or admin consent is missing"),
        "{page}"
    );
    assert!(page.contains("Grant admin consent"));
    assert!(!page.contains("may not open this mailbox"));
}

#[tokio::test]
async fn the_account_page_shows_status_and_live_counts_of_a_run_above_the_form() {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    app.create_account("acct", &[]).await;
    app.graph()
        .seed_generated(
            ADELE,
            "inbox",
            &mailport::sandbox::graph::GenerateSpec {
                count: 60,
                ..Default::default()
            },
        )
        .unwrap();
    // Slow enough that the run is still going while the page is looked at.
    app.graph().set_delay_ms(ADELE, 60).unwrap();

    let r = app.post_form("/accounts/acct/import", &[]).await;
    assert_is_redirect_to(&r, "/accounts/acct");
    let page = app.get_text("/accounts/acct").await;
    assert!(
        page.contains("Import started. Its counts show below and update every few seconds"),
        "the flash says what happens, not to reload: {page}"
    );
    let status = page.find("Latest runs").expect("latest runs");
    let form = page.find("id=\"account-form\"").expect("form");
    assert!(status < form, "status and runs come before the long form");

    // While it runs: the counts so far, on the page and in the API.
    let mut seen_live = false;
    for _ in 0..200 {
        let page = app.get_text("/accounts/acct").await;
        let json = app.api("/accounts/acct").await;
        if page.contains("data-running") && json["last_run"]["outcome"] == "running" {
            let imported = json["last_run"]["imported"].as_i64().unwrap_or(0);
            if imported > 0 && page.contains("imported, ") && page.contains(" so far") {
                seen_live = true;
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen_live, "counts grow while the run goes on");
    for _ in 0..400 {
        if !app.state.importer.is_running("acct") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let page = app.get_text("/accounts/acct").await;
    assert!(
        !page.contains("data-running"),
        "no refreshing once it ended"
    );
    assert!(page.contains("60 listed, 60 imported"), "{page}");
}

#[tokio::test]
async fn times_are_one_time_element_in_one_format_everywhere() {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    for path in ["/credentials", "/credentials/app"] {
        let page = app.get_text(path).await;
        let badge = page
            .split("data-status=\"valid\">")
            .nth(1)
            .expect("a valid badge");
        let badge = &badge[..badge.find("</span>").expect("badge end")];
        assert!(
            badge.starts_with("Valid until <time datetime=\""),
            "{path}: {badge}"
        );
        let text =
            &badge[badge.find("\">").expect("time text") + 2..badge.find("</time>").unwrap()];
        assert!(is_utc_text(text), "{path}: {text:?} is the one format");
    }
}

/// `2026-11-27 05:12 UTC`, the text every `<time>` element carries.
fn is_utc_text(t: &str) -> bool {
    let b = t.as_bytes();
    t.len() == 20
        && t.ends_with(" UTC")
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && t[..4].bytes().all(|c| c.is_ascii_digit())
}
