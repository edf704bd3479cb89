//! The sandbox's configuration: a JSON file round trip, unknown fields refused.

use super::*;

#[tokio::test]
async fn demo_config_round_trips_through_a_json_file_and_unknown_fields_are_refused() {
    let dir = std::env::temp_dir().join(format!("mailport-identity-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = dir.join("sandbox.json");
    let demo = SandboxConfig::demo(vec![REDIRECT_URI.to_owned()]);
    std::fs::write(&good, serde_json::to_string_pretty(&demo).expect("json")).expect("write");
    let loaded = SandboxConfig::from_json_file(&good).expect("loads");
    assert_eq!(loaded.tenants[0].apps[0].client_id, DEMO_CLIENT_ID);
    assert_eq!(loaded.tenants[0].users.len(), 2);

    let bad = dir.join("typo.json");
    let mut value = serde_json::to_value(&demo).expect("json");
    value["tenants"][0]["apps"][0]["redirect_uri"] = Value::String(REDIRECT_URI.to_owned());
    std::fs::write(&bad, value.to_string()).expect("write");
    let error = format!(
        "{:#}",
        SandboxConfig::from_json_file(&bad).expect_err("refused")
    );
    assert!(
        error.contains("typo.json") && error.contains("redirect_uri"),
        "{error}"
    );
    let missing = SandboxConfig::from_json_file(dir.join("missing.json")).expect_err("refused");
    assert!(format!("{missing:#}").contains("missing.json"));
    std::fs::remove_dir_all(&dir).ok();

    // A GET on the token endpoint is a Microsoft-style error too, not a bare 405.
    let sandbox = spawn(loaded).await;
    let response = Client::new()
        .get(token_url(&sandbox))
        .send()
        .await
        .expect("get");
    assert_aadsts(
        &answer(response).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900561,
    );
}
