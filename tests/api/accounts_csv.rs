//! E-mail accounts as CSV: export, and an import that previews every row, applies all or
//! nothing, can be cancelled, and is idempotent.

use reqwest::{Response, StatusCode};

use crate::helpers::*;

/// Uploads a file the way the import form does (multipart, with the CSRF token field).
async fn upload(app: &TestApp, name: &str, csv: &str) -> Response {
    let token = app.csrf().await;
    let boundary = "----mailport-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    );
    app.client
        .post(app.url("/accounts/import"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .expect("upload")
}

fn graph(app: &TestApp) -> String {
    format!("{}/v1.0", app.sandbox.base_url)
}

async fn ids(app: &TestApp) -> Vec<String> {
    app.api("/accounts?per_page=500").await["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn pending_imports(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM account_imports")
        .fetch_one(&app.state.db)
        .await
        .expect("count")
}

#[tokio::test]
async fn a_csv_file_is_previewed_then_applied_once_and_a_second_upload_changes_nothing() {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    let g = graph(&app);
    let csv = format!(
        "id,mailbox,credential_id,after_import,graph_url,poll_interval,enabled,description\n\
         sales,sales@contoso.example,app,keep,{g},300,true,Sales\n\
         support,support@contoso.example,app,move,{g},60,false,\"Support, 2nd line\"\n"
    );

    // Preview: nothing stored yet; Cancel leaves it that way.
    let r = upload(&app, "accounts.csv", &csv).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("2 to create, 0 to change, 0 unchanged"),
        "{page}"
    );
    let import = form_value(&page, "import").expect("an import to apply");
    assert!(ids(&app).await.is_empty());
    let r = app
        .post_form("/accounts/import/cancel", &[("import", &import)])
        .await;
    assert_is_redirect_to(&r, "/accounts");
    assert_eq!(pending_imports(&app).await, 0);
    let r = app
        .post_form("/accounts/import/apply", &[("import", &import)])
        .await;
    assert_is_redirect_to(&r, "/accounts");
    assert!(
        ids(&app).await.is_empty(),
        "a cancelled import cannot be applied"
    );

    // Apply.
    let page = upload(&app, "accounts.csv", &csv)
        .await
        .text()
        .await
        .unwrap();
    let import = form_value(&page, "import").expect("import");
    let r = app
        .post_form("/accounts/import/apply", &[("import", &import)])
        .await;
    assert_is_redirect_to(&r, "/accounts");
    assert!(
        app.get_text("/accounts")
            .await
            .contains("2 accounts created")
    );
    assert_eq!(ids(&app).await, vec!["sales", "support"]);
    let support = app.api("/accounts/support").await;
    assert_eq!(support["description"], "Support, 2nd line");
    assert_eq!(support["enabled"], false);
    assert_eq!(app.api("/accounts/sales").await["poll_interval"], 300);
    // Applying the same import twice does nothing more.
    let r = app
        .post_form("/accounts/import/apply", &[("import", &import)])
        .await;
    assert_is_redirect_to(&r, "/accounts");

    // The same file again: nothing to change, nothing kept.
    let page = upload(&app, "accounts.csv", &csv)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("0 to create, 0 to change, 2 unchanged"),
        "{page}"
    );
    assert!(page.contains("Nothing to change"));
    assert!(form_value(&page, "import").is_none());
    assert_eq!(pending_imports(&app).await, 0);

    // Only some columns: the others keep their values.
    let page = upload(&app, "enable.csv", "id,enabled\nsupport,true\n")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("0 to create, 1 to change, 0 unchanged"));
    assert!(page.contains("change enabled"));
    let import = form_value(&page, "import").expect("import");
    app.post_form("/accounts/import/apply", &[("import", &import)])
        .await;
    let support = app.api("/accounts/support").await;
    assert_eq!(support["enabled"], true);
    assert_eq!(support["description"], "Support, 2nd line");
    assert_eq!(support["after_import"], "move");
}

#[tokio::test]
async fn a_file_with_a_broken_row_shows_every_error_and_changes_nothing() {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    let g = graph(&app);
    app.create_account("kept", &[("description", "as it was")])
        .await;
    let settings = |mut v: serde_json::Value| {
        v.as_object_mut().map(|o| o.remove("poll"));
        v
    };
    let before = settings(app.api("/accounts/kept").await);
    let csv = format!(
        "id,mailbox,credential_id,graph_url,poll_interval,description\n\
         new-one,new@contoso.example,app,{g},60,fine\n\
         kept,{ADELE},app,{g},5,changed\n\
         bad id,x@contoso.example,app,{g},60,\n\
         other,other@contoso.example,nope,{g},60,\n\
         new-one,dup@contoso.example,app,{g},60,\n\
         short,row\n"
    );
    let r = upload(&app, "broken.csv", &csv).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    for (line, message) in [
        ("3", "from 10"),
        ("4", "Use 1 to 64 characters"),
        ("5", "Choose one of the credentials"),
        ("6", "appears on an earlier row"),
        ("7", "has 2 cells"),
    ] {
        assert!(
            page.contains(&format!("<td class=\"num\">{line}</td>")) && page.contains(message),
            "line {line}: {message}"
        );
    }
    assert!(page.contains("nothing can be applied"));
    assert!(
        form_value(&page, "import").is_none(),
        "no Apply for a broken file"
    );
    assert_eq!(pending_imports(&app).await, 0);
    assert_eq!(ids(&app).await, vec!["kept"]);
    assert_eq!(settings(app.api("/accounts/kept").await), before);

    for (file, message) in [
        ("id,colour\nx,red\n", "Unknown column"),
        ("mailbox\nx@contoso.example\n", "must name an id column"),
        ("id\n", "no accounts"),
    ] {
        let r = upload(&app, "odd.csv", file).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{file}");
        assert!(r.text().await.unwrap().contains(message), "{file}");
    }
    assert_eq!(ids(&app).await, vec!["kept"]);
}

#[tokio::test]
async fn the_export_is_a_csv_the_import_takes_back_unchanged() {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    app.create_account("one", &[("description", "=HYPERLINK(\"http://evil\")")])
        .await;
    app.create_account(
        "two",
        &[("after_import", "keep"), ("import_since", "2026-01-31")],
    )
    .await;
    let r = app.get("/accounts.csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let csv = r.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "id,description,mailbox,folder,credential_id,after_import,move_to,graph_url,poll_interval,enabled,import_since"
        )
    );
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
        "{csv}"
    );
    assert!(csv.contains(",keep,") && csv.contains(",true,2026-01-31"));
    // A filtered export holds only what the list shows.
    let filtered = app.get_text("/accounts.csv?q=two").await;
    assert_eq!(filtered.lines().count(), 2);
    // Back in: nothing changes.
    let page = upload(&app, "export.csv", &csv).await.text().await.unwrap();
    assert!(
        page.contains("0 to create, 0 to change, 2 unchanged"),
        "{page}"
    );
}
