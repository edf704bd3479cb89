//! Arbitrary answers of the token endpoint: errors, id_tokens, stored tokens.

use super::*;

#[test]
fn token_endpoint_errors_and_id_tokens_of_any_shape_never_panic() {
    use base64::Engine;
    let keys: Vec<String> = vec![
        "error",
        "error_description",
        "error_codes",
        "trace_id",
        "correlation_id",
        "timestamp",
        "error_uri",
        "suberror",
        "tid",
        "oid",
        "preferred_username",
        "name",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let object = proptest::collection::vec(
        (
            proptest::sample::select(keys),
            json_value(vec!["AADSTS70008: x\r\nTrace ID: t".into()]),
        ),
        0..8,
    )
    .prop_map(|kv| Value::Object(kv.into_iter().collect()));
    runner(512)
        .run(&(object, ".{0,60}"), |(json, text)| {
            if let Ok(e) = serde_json::from_value::<AadErrorResponse>(json.clone()) {
                let _ = (
                    e.aadsts(),
                    e.summary(),
                    e.trace(),
                    e.to_recorded(),
                    e.to_string(),
                );
                for context in [
                    GrantContext::CodeExchange,
                    GrantContext::Refresh,
                    GrantContext::ClientCredentials,
                ] {
                    let _ = classify(&e, context);
                }
            }
            let _ = parse_aadsts(&text);
            let _ = parse_aadsts(&format!("AADSTS{text}"));
            let _ = tenant_guid_of(&text);
            let _ = tenant_guid_of(&format!(
                "https://login.microsoftonline.com/{text}/oauth2/v2.0/token"
            ));
            let _ = account_from_id_token(&text);
            let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string());
            let _ = account_from_id_token(&format!("e30.{payload}.sig"));
            let _ = account_from_id_token(&format!("{text}.{text}.{text}"));
            Ok(())
        })
        .expect("property");
}

#[test]
fn any_token_endpoint_answer_stores_a_token_or_nothing() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (app, hostile) = rt.block_on(async {
        let hostile = Hostile::spawn(Answer::json(200, "{}")).await;
        let app = TestApp::signed_in_allowing(&[&hostile.host()]).await;
        let url = hostile.token_url(DEMO_TENANT_ID);
        app.create_credential(
            "c",
            "client_credentials",
            &[("access_token_url", url.as_str())],
        )
        .await;
        (app, hostile)
    });
    let keys: Vec<String> = vec![
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "scope",
        "id_token",
        "error",
        "error_description",
        "error_codes",
        "ext_expires_in",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let object = proptest::collection::vec(
        (
            proptest::sample::select(keys),
            json_value(vec!["Bearer".into(), "e30.e30.sig".into()]),
        ),
        0..8,
    )
    .prop_map(|kv| Value::Object(kv.into_iter().collect()));
    let statuses = proptest::sample::select(vec![200u16, 200, 400, 401, 403, 404, 429, 500]);
    runner(64)
        .run(&(statuses, object), |(status, body)| {
            hostile.set(Answer::json(status, body.to_string()));
            rt.block_on(bounded("a token request", async {
                let result = app.state.tokens.fetch_client_credentials("c").await;
                let json = app.credential("c").await;
                if result.is_ok() {
                    assert_eq!(json["token"]["status"], "valid", "{body}");
                    let token = app.state.tokens.access_token("c").await.expect("token");
                    assert_eq!(Some(token.expose()), body["access_token"].as_str());
                } else {
                    // Whatever was stored before stays; nothing half-written.
                    assert!(
                        json["token"]["status"] != "valid"
                            || json["token"]["expires_at"].is_string()
                    );
                }
            }));
            Ok(())
        })
        .expect("property");
}
