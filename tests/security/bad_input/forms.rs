//! Random form fields and query parameters on every route: never a server error.

use super::*;

fn field_value() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => proptest::sample::select(VALUES).prop_map(String::from),
        2 => ".{0,40}",
        1 => (1usize..5000).prop_map(|n| "x".repeat(n)),
    ]
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn random_form_fields_and_query_parameters_never_cause_a_server_error() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (app, message, names) = rt.block_on(async {
        let (app, message) = populated().await;
        // Every field name any form of Mailport has, plus the query parameters it reads.
        let mut names: Vec<String> = vec![
            "page",
            "account",
            "q",
            "next",
            "token",
            "code",
            "state",
            "error",
            "error_description",
            "error_uri",
            "session_state",
            "csrf",
            "tenant",
            "cloud",
            "status",
            "before",
            "after",
            "limit",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        for page in [
            "/credentials/new",
            "/credentials/app",
            "/credentials/delegated",
            "/accounts/new",
            "/accounts/acct",
            "/credentials/app/delete",
            "/accounts/acct/delete",
            "/webhooks/new",
            "/webhooks/hook",
            "/webhooks/hook/delete",
        ] {
            for form in parse_forms(&app.get_text(page).await) {
                names.extend(form.fields.into_iter().map(|(k, _)| k));
                names.extend(form.buttons.into_iter().map(|(k, _)| k));
            }
        }
        names.sort();
        names.dedup();
        names.retain(|n| n != "csrf_token");
        (app, message, names)
    });
    // /logout would end the session the other cases need; it takes no fields anyway.
    let routes: Vec<(Method, String)> = ROUTES
        .iter()
        .filter(|(_, p, _)| *p != "/logout" && !p.starts_with("/static"))
        .map(|(m, p, _)| (m.clone(), concrete(p, message)))
        .collect();
    let case = (
        proptest::sample::select(routes),
        proptest::collection::vec((proptest::sample::select(names), field_value()), 0..10),
        proptest::option::weighted(0.2, ".{1,12}"),
    );
    runner(256)
        .run(&case, |((method, path), fields, odd_id)| {
            // Sometimes an id in the path that is not one of ours.
            let path = match odd_id {
                Some(id) => path
                    .replacen("/app", &format!("/{}", urlencode(&id)), 1)
                    .replacen("/acct", &format!("/{}", urlencode(&id)), 1)
                    .replacen("/hook", &format!("/{}", urlencode(&id)), 1),
                None => path,
            };
            rt.block_on(bounded("a form or query", async {
                let r = if method == Method::GET {
                    let query = serde_urlencoded::to_string(&fields).expect("query");
                    app.get(&format!("{path}?{query}")).await
                } else {
                    let mut body = fields.clone();
                    body.push(("csrf_token".into(), signed_in_csrf(&app.client, &app).await));
                    app.client
                        .post(app.url(&path))
                        .form(&body)
                        .send()
                        .await
                        .expect("POST")
                };
                assert!(
                    !r.status().is_server_error(),
                    "{method} {path} {fields:?}: {}",
                    r.status()
                );
            }));
            // A sign-in attempt with random fields may trip the sign-in limit or succeed as
            // another user; keep the administrator signed in for the next case.
            if path == "/login" || path == "/setup" {
                rt.block_on(async {
                    if app.get("/credentials").await.status() != reqwest::StatusCode::OK {
                        app.login(ADMIN, ADMIN_PASSWORD).await;
                    }
                });
            }
            Ok(())
        })
        .expect("property");
}
