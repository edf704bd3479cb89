//! The document names every API route of `web::ROUTES` and no other.

use super::*;

#[tokio::test]
async fn the_openapi_document_names_every_api_route_and_no_other() {
    let app = TestApp::spawn().await;
    add_key(&app).await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "OpenAPI 3.1: {}",
        doc["openapi"]
    );
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flat_map(|ops| ops.keys())
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .filter(|(_, path, _)| path.starts_with(API_PREFIX))
        .map(|(method, path, _)| (method.to_string(), path.to_string()))
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "API routes missing from the OpenAPI document (annotate the handler with \
         #[utoipa::path] and list it in web::api::openapi::ApiDoc): {undocumented:?}"
    );
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        unrouted.is_empty(),
        "documented but not served: {unrouted:?}"
    );
    for (_, path) in &documented {
        for (method, _) in doc["paths"][path].as_object().expect("operations") {
            let op = &doc["paths"][path][method];
            // A create answers 201 and a delete 204, so any 2xx counts as its success.
            assert!(
                op["responses"]
                    .as_object()
                    .is_some_and(|r| r.keys().any(|status| status.starts_with('2'))),
                "{method} {path} documents its success"
            );
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path} has a summary (the handler's doc comment)"
            );
        }
    }
}
