//! Graph's answers to bad tokens, missing permissions, disabled mailboxes and unknown paths.

use super::*;

#[tokio::test]
async fn auth_failures_look_like_graph() {
    let t = spawn().await;
    let url = format!("{}/users/{ALICE}/mailFolders", t.graph);

    let response = t
        .client
        .get(&url)
        .header("client-request-id", "my-correlation-id")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ")
    );
    assert_eq!(response.headers()["client-request-id"], "my-correlation-id");
    let request_id = response.headers()["request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(
        body["error"]["innerError"]["client-request-id"],
        "my-correlation-id"
    );
    assert_eq!(
        body["error"]["innerError"]["request-id"],
        request_id.as_str()
    );
    assert!(body["error"]["innerError"]["date"].is_string());

    let message = assert_graph_error(
        t.get(&url, "garbage").await,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    )
    .await;
    assert!(message.starts_with("IDX14100: JWT is not well formed"));

    let response = t.get(&url, EXPIRED_TOKEN).await;
    assert!(response.headers().contains_key("www-authenticate"));
    let (_, message) = graph_error(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(message, "Access token has expired or is not yet valid.");

    let message = assert_graph_error(
        t.get(&url, APP_TOKEN_NO_ROLE).await,
        StatusCode::FORBIDDEN,
        "ErrorAccessDenied",
    )
    .await;
    assert_eq!(
        message,
        "Access is denied. Check credentials and try again."
    );

    assert_graph_error(
        t.get("/users/nobody@contoso.example/mailFolders", APP_TOKEN)
            .await,
        StatusCode::NOT_FOUND,
        "ErrorInvalidUser",
    )
    .await;

    // /me needs a delegated token; a delegated token reaches only its own mailbox.
    assert_graph_error(
        t.get("/me/mailFolders", APP_TOKEN).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    )
    .await;
    assert_eq!(
        t.get("/me/mailFolders", ALICE_TOKEN).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        t.get(&format!("/users/{ALICE_UPN}/mailFolders"), ALICE_TOKEN)
            .await
            .status(),
        StatusCode::OK
    );
    assert_graph_error(
        t.get(&format!("/users/{BOB}/mailFolders"), ALICE_TOKEN)
            .await,
        StatusCode::FORBIDDEN,
        "ErrorAccessDenied",
    )
    .await;
}

#[tokio::test]
async fn access_policy_and_disabled_mailbox() {
    let t = spawn().await;
    let url = format!("/users/{ALICE}/mailFolders/inbox/messages");
    t.state().set_access_policy(ALICE_UPN, true).unwrap();
    let message = assert_graph_error(
        t.get(&url, APP_TOKEN).await,
        StatusCode::FORBIDDEN,
        "ErrorAccessDenied",
    )
    .await;
    assert_eq!(message, "Access to OData is disabled.");
    // The policy restricts applications, not the user signing in.
    assert_eq!(
        t.get("/me/mailFolders/inbox/messages", ALICE_TOKEN)
            .await
            .status(),
        StatusCode::OK
    );
    // Bob's mailbox is not covered by Alice's policy.
    assert_eq!(
        t.get(&format!("/users/{BOB}/messages"), APP_TOKEN)
            .await
            .status(),
        StatusCode::OK
    );

    // Turned off over the HTTP control.
    let response = t
        .client
        .patch(format!(
            "{}/_sandbox/graph/mailboxes/{ALICE}/settings",
            t.handle.base_url
        ))
        .json(&json!({"access_policy_denies_apps": false, "enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let message = assert_graph_error(
        t.get(&url, APP_TOKEN).await,
        StatusCode::NOT_FOUND,
        "MailboxNotEnabledForRESTAPI",
    )
    .await;
    assert!(message.contains("inactive, soft-deleted, or is hosted on-premise"));
    t.state().set_mailbox_enabled(ALICE, true).unwrap();
    assert_eq!(t.get(&url, APP_TOKEN).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_paths_and_methods_get_graph_errors() {
    let t = spawn().await;
    let message = assert_graph_error(
        t.get(&format!("/users/{ALICE}/calendars"), APP_TOKEN).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    )
    .await;
    assert!(message.contains("'calendars'"));
    let response = t
        .client
        .put(format!("{}/users/{ALICE}/mailFolders", t.graph))
        .bearer_auth(APP_TOKEN)
        .send()
        .await
        .unwrap();
    assert_graph_error(response, StatusCode::METHOD_NOT_ALLOWED, "BadRequest").await;
}
