//! The token endpoint's authorization-code grant: single use, PKCE, redirect URI, lifetime.

use super::*;

#[tokio::test]
async fn code_is_single_use_aadsts54005() {
    let sandbox = spawn_demo().await;
    let code = get_code(
        &browser(),
        &sandbox,
        &[
            ("code_challenge", &challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let (status, _) = redeem(&sandbox, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);
    assert_aadsts(
        &redeem(&sandbox, &code, VERIFIER).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        54005,
    );
}

#[tokio::test]
async fn pkce_mismatch_or_missing_verifier_is_aadsts501481() {
    let sandbox = spawn_demo().await;
    let client = browser();
    let code = get_code(
        &client,
        &sandbox,
        &[
            ("code_challenge", &challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_aadsts(
        &redeem(
            &sandbox,
            &code,
            "a-different-verifier-that-is-long-enough-to-be-valid-123",
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        501481,
    );
    assert_aadsts(
        &redeem(&sandbox, &code, "").await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        501481,
    );
    // The right verifier still works: a failed attempt does not burn the code.
    let (status, _) = redeem(&sandbox, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);

    // Plain PKCE: the challenge is the verifier itself. (A fresh browser, and consent
    // withdrawn, so the helper meets the sign-in and consent pages again.)
    let adele = sandbox
        .sandbox
        .world
        .find_user(DEMO_TENANT_ID, ADELE)
        .expect("adele");
    assert!(
        sandbox
            .sandbox
            .world
            .identity()
            .revoke_consent(DEMO_CLIENT_ID, &adele.id)
    );
    let code = get_code(
        &browser(),
        &sandbox,
        &[
            ("code_challenge", VERIFIER),
            ("code_challenge_method", "plain"),
        ],
    )
    .await;
    assert_aadsts(
        &redeem(&sandbox, &code, &challenge(VERIFIER)).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        501481,
    );
    let (status, _) = redeem(&sandbox, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn code_redemption_checks_redirect_uri_and_lifetime() {
    let mut config = SandboxConfig::demo(vec![REDIRECT_URI.to_owned()]);
    config.code_lifetime_secs = 0;
    let expiring = spawn(config).await;
    let code = get_code(&browser(), &expiring, &[]).await;
    assert_aadsts(
        &redeem(&expiring, &code, "").await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        70000,
    );

    let sandbox = spawn_demo().await;
    let code = get_code(&browser(), &sandbox, &[]).await;
    assert_aadsts(
        &token(
            &sandbox,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                ("code", &code),
                ("redirect_uri", "http://localhost:8080/other"),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        500112,
    );
}
