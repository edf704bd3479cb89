//! The token endpoint's refresh-token grant: rotation, reuse on record, revocation, lifetime.

use super::*;

async fn refresh(sandbox: &SandboxHandle, refresh_token: &str) -> (StatusCode, Value) {
    token(
        sandbox,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token_and_logs_reuse_of_an_old_one() {
    let sandbox = spawn_demo().await;
    let code = get_code(&browser(), &sandbox, &[]).await;
    let (_, first) = redeem(&sandbox, &code, "").await;
    let rt1 = first["refresh_token"].as_str().expect("rt1").to_owned();

    let (status, second) = refresh(&sandbox, &rt1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let rt2 = second["refresh_token"].as_str().expect("rt2").to_owned();
    assert_ne!(rt1, rt2, "every refresh returns a new refresh token");
    assert_ne!(first["access_token"], second["access_token"]);
    assert!(second["id_token"].is_string(), "openid was granted");

    let (status, third) = refresh(&sandbox, &rt2).await;
    assert_eq!(status, StatusCode::OK);
    let rt3 = third["refresh_token"].as_str().expect("rt3").to_owned();
    assert!(rt3 != rt2 && rt3 != rt1);

    let control = sandbox.sandbox.world.identity();
    assert_eq!(control.token_counters().superseded_refresh_token_reuse, 0);
    let presented: Vec<Option<String>> = control
        .token_log()
        .iter()
        .map(|e| e.presented_refresh_token.clone())
        .collect();
    assert_eq!(presented, vec![None, Some(rt1.clone()), Some(rt2.clone())]);

    // Like Entra ID, the old token still works for now, but the reuse is on record.
    let (status, _) = refresh(&sandbox, &rt1).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(control.token_counters().superseded_refresh_token_reuse, 1);
    let log: Value = Client::new()
        .get(format!("{}/_sandbox/identity/token-log", sandbox.base_url))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    assert_eq!(log["counters"]["refresh_token"], 3);
    assert_eq!(
        log["entries"][3]["presented_superseded_refresh_token"],
        true
    );
    assert_eq!(log["entries"][1]["auth_method"], "client_secret_post");

    // A narrower scope is fine, a wider one is not.
    let (status, body) = token(
        &sandbox,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("refresh_token", &rt3),
            ("scope", "https://graph.microsoft.com/Mail.ReadWrite"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "Mail.ReadWrite");
    assert!(body.get("id_token").is_none());
    assert_aadsts(
        &token(
            &sandbox,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                ("refresh_token", &rt3),
                ("scope", "Mail.ReadWrite User.Read"),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        65001,
    );
}

#[tokio::test]
async fn revoked_refresh_tokens_fail_with_aadsts70008() {
    let sandbox = spawn_demo().await;
    let code = get_code(&browser(), &sandbox, &[]).await;
    let (_, body) = redeem(&sandbox, &code, "").await;
    let rt = body["refresh_token"].as_str().expect("rt").to_owned();

    let revoked: Value = Client::new()
        .post(format!(
            "{}/_sandbox/identity/users/{ADELE}/revoke",
            sandbox.base_url
        ))
        .send()
        .await
        .expect("revoke")
        .json()
        .await
        .expect("json");
    assert_eq!(revoked["revoked_refresh_tokens"], 1);
    assert_aadsts(
        &refresh(&sandbox, &rt).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        70008,
    );
}

#[tokio::test]
async fn refresh_token_past_its_lifetime_fails_with_aadsts700082() {
    let mut config = SandboxConfig::demo(vec![REDIRECT_URI.to_owned()]);
    config.refresh_token_lifetime_secs = 0;
    let sandbox = spawn(config).await;
    let code = get_code(&browser(), &sandbox, &[]).await;
    let (_, body) = redeem(&sandbox, &code, "").await;
    assert_aadsts(
        &refresh(&sandbox, body["refresh_token"].as_str().expect("rt")).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        700082,
    );
}
