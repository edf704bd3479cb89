//! Changing messages: move (and what it does to ids), isRead and delete.

use super::*;

#[tokio::test]
async fn move_changes_regular_id_but_not_immutable_id() {
    let t = spawn().await;
    let seeded = t.seed("inbox", small(2));
    let (first, second) = (&seeded[0], &seeded[1]);

    let response = move_message(&t, &first.regular_id, "archive", false).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let moved: Value = response.json().await.unwrap();
    let new_id = moved["id"].as_str().unwrap();
    assert_ne!(new_id, first.regular_id);
    assert_ne!(new_id, first.immutable_id);
    let archive = t
        .get(&format!("/users/{ALICE}/mailFolders/archive"), APP_TOKEN)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(moved["parentFolderId"], archive["id"]);
    assert_graph_error(
        t.get(
            &format!("/users/{ALICE}/messages/{}", first.regular_id),
            APP_TOKEN,
        )
        .await,
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
    )
    .await;
    assert_eq!(
        t.get(&format!("/users/{ALICE}/messages/{new_id}"), APP_TOKEN)
            .await
            .status(),
        StatusCode::OK
    );
    // Ids are case-sensitive.
    assert_ne!(
        t.get(
            &format!("/users/{ALICE}/messages/{}", new_id.to_lowercase()),
            APP_TOKEN
        )
        .await
        .status(),
        StatusCode::OK
    );

    // With immutable ids the id survives the move, and the immutable id still finds it.
    let response = move_message(&t, &second.immutable_id, "deleteditems", true).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["preference-applied"], PREFER_IMMUTABLE);
    let moved: Value = response.json().await.unwrap();
    assert_eq!(moved["id"], second.immutable_id.as_str());
    let fetched: Value = t
        .get_immutable(&format!("/users/{ALICE}/messages/{}", second.immutable_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["id"], second.immutable_id.as_str());
    let info = t.state().messages(ALICE, "deleteditems").unwrap();
    assert_eq!(info[0].immutable_id, second.immutable_id);
    assert_ne!(info[0].regular_id, second.regular_id);
}

#[tokio::test]
async fn patch_is_read_and_delete() {
    let t = spawn().await;
    let seeded = t.seed("inbox", small(1));
    let id = &seeded[0].regular_id;
    let url = format!("{}/users/{ALICE}/messages/{id}", t.graph);
    let response = t
        .client
        .patch(&url)
        .bearer_auth(APP_TOKEN)
        .json(&json!({"isRead": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["isRead"], true);
    assert_eq!(body["id"], id.as_str());
    assert!(t.state().messages(ALICE, "inbox").unwrap()[0].is_read);

    let response = t
        .client
        .patch(&url)
        .bearer_auth(APP_TOKEN)
        .json(&json!({"isRaed": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let response = t
        .client
        .delete(&url)
        .bearer_auth(APP_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_graph_error(
        t.get(&url, APP_TOKEN).await,
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
    )
    .await;
    assert!(t.state().messages(ALICE, "inbox").unwrap().is_empty());
}
