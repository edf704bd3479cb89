//! The client-credentials grant and client authentication: secrets in the body or Basic,
//! the `.default` scope, wrong and expired secrets in Microsoft's exact error shape.

use super::*;

#[tokio::test]
async fn client_credentials_with_secret_in_body_or_basic() {
    let mut config = SandboxConfig::demo(vec![REDIRECT_URI.to_owned()]);
    // A secret that needs form-urlencoding inside HTTP Basic (RFC 6749 §2.3.1).
    let odd_secret = "a+b/c=d:e%f~g";
    config.tenants[0].apps[0]
        .secrets
        .push(mailport::sandbox::world::SecretConfig {
            value: odd_secret.to_owned(),
            expires_at: None,
        });
    let sandbox = spawn(config).await;

    let (status, body) = token(
        &sandbox,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none());
    assert!(body.get("id_token").is_none());
    let grant = sandbox
        .sandbox
        .world
        .access_grant(body["access_token"].as_str().expect("at"))
        .expect("registered");
    assert_eq!(grant.roles, vec!["Mail.ReadWrite".to_owned()]);
    assert_eq!(grant.user_id, None);

    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = STANDARD.encode(format!("{}:{}", encode(DEMO_CLIENT_ID), encode(odd_secret)));
    let response = Client::new()
        .post(token_url(&sandbox))
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), StatusCode::OK);
    let log = sandbox.sandbox.world.identity().token_log();
    let methods: Vec<Value> = log
        .iter()
        .map(|e| serde_json::to_value(e.auth_method).expect("json"))
        .collect();
    assert_eq!(methods, vec!["client_secret_post", "client_secret_basic"]);
}

#[tokio::test]
async fn client_credentials_scope_must_be_one_default_aadsts70011() {
    let sandbox = spawn_demo().await;
    for scope in [
        "https://graph.microsoft.com/.default offline_access",
        "https://graph.microsoft.com/Mail.ReadWrite",
        "Mail.ReadWrite",
    ] {
        assert_aadsts(
            &token(
                &sandbox,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", DEMO_CLIENT_ID),
                    ("client_secret", DEMO_CLIENT_SECRET),
                    ("scope", scope),
                ],
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
        );
    }
}

#[tokio::test]
async fn wrong_secret_is_401_with_microsofts_exact_error_shape() {
    let sandbox = spawn_demo().await;
    let response = Client::new()
        .post(token_url(&sandbox))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", "not-the-secret"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/json; charset=utf-8"
    );
    assert!(
        response.headers()[header::CACHE_CONTROL]
            .to_str()
            .expect("ascii")
            .contains("no-store")
    );
    let text = response.text().await.expect("body");
    // Field order matters to nobody, but it is Microsoft's, so keep it.
    let keys: Vec<&str> = [
        "error",
        "error_description",
        "error_codes",
        "timestamp",
        "trace_id",
        "correlation_id",
        "error_uri",
    ]
    .to_vec();
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| text.find(&format!("\"{k}\"")).expect(k))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    let body: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        body.as_object().expect("object").len(),
        keys.len(),
        "{text}"
    );
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], serde_json::json!([7000215]));
    assert_eq!(
        body["error_uri"],
        "https://login.microsoftonline.com/error?code=7000215"
    );
    let timestamp = body["timestamp"].as_str().expect("timestamp");
    let trace = body["trace_id"].as_str().expect("trace");
    let correlation = body["correlation_id"].as_str().expect("correlation");
    assert!(
        is_ms_timestamp(timestamp) && is_guid(trace) && is_guid(correlation),
        "{text}"
    );
    let description = body["error_description"].as_str().expect("description");
    assert!(
        description.starts_with("AADSTS7000215: Invalid client secret provided."),
        "{description}"
    );
    assert!(description.ends_with(&format!(
        "\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}"
    )));

    // The other client and request errors of the token endpoint.
    let cc = |client: &'static str, secret: Option<&'static str>| {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("scope", "https://graph.microsoft.com/.default"),
        ];
        if let Some(secret) = secret {
            form.push(("client_secret", secret));
        }
        form
    };
    assert_aadsts(
        &token(&sandbox, &cc(DEMO_CLIENT_ID, None)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7000218,
    );
    assert_aadsts(
        &token(
            &sandbox,
            &cc("00000000-0000-0000-0000-000000000001", Some("x")),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700016,
    );
    assert_aadsts(
        &token(
            &sandbox,
            &[
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
    );
    let (status, body) = token(
        &sandbox,
        &[("grant_type", "password"), ("client_id", DEMO_CLIENT_ID)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unsupported_grant_type");
    let response = Client::new()
        .post(format!(
            "{}/fabrikam.onmicrosoft.com/oauth2/v2.0/token",
            sandbox.base_url
        ))
        .form(&cc(DEMO_CLIENT_ID, Some(DEMO_CLIENT_SECRET)))
        .send()
        .await
        .expect("token");
    assert_aadsts(
        &answer(response).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        90002,
    );
}

#[tokio::test]
async fn expired_secret_is_401_aadsts7000222() {
    let sandbox = spawn_demo().await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", DEMO_CLIENT_ID),
        ("client_secret", DEMO_CLIENT_SECRET),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let (status, _) = token(&sandbox, &form).await;
    assert_eq!(status, StatusCode::OK);
    let response = Client::new()
        .post(format!(
            "{}/_sandbox/identity/apps/{DEMO_CLIENT_ID}/secrets/expire",
            sandbox.base_url
        ))
        .send()
        .await
        .expect("expire");
    assert_eq!(response.status(), StatusCode::OK);
    assert_aadsts(
        &token(&sandbox, &form).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7000222,
    );

    // The Rust control can renew it.
    sandbox
        .sandbox
        .world
        .identity()
        .set_secret_expiry(DEMO_CLIENT_ID, None, None);
    let (status, _) = token(&sandbox, &form).await;
    assert_eq!(status, StatusCode::OK);
}
