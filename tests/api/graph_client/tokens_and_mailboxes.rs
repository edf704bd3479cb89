//! Tokens and targets: an expired token refreshed once, mailbox problems named, `/me`
//! with a delegated token.

use super::*;

/// Hands out the next token of its list on each forced refresh, and counts the refreshes.
struct RotatingToken {
    tokens: Vec<&'static str>,
    current: AtomicUsize,
    refreshes: AtomicUsize,
}

impl RotatingToken {
    fn new(tokens: Vec<&'static str>) -> Arc<Self> {
        Arc::new(RotatingToken {
            tokens,
            current: AtomicUsize::new(0),
            refreshes: AtomicUsize::new(0),
        })
    }
}

impl TokenSource for RotatingToken {
    fn token(
        &self,
        force_refresh: bool,
    ) -> Pin<Box<dyn Future<Output = Result<String, GraphError>> + Send + '_>> {
        Box::pin(async move {
            if force_refresh {
                self.refreshes.fetch_add(1, Ordering::SeqCst);
                let next = (self.current.load(Ordering::SeqCst) + 1).min(self.tokens.len() - 1);
                self.current.store(next, Ordering::SeqCst);
            }
            Ok(self.tokens[self.current.load(Ordering::SeqCst)].to_string())
        })
    }
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once() {
    let f = spawn().await;
    let world = &f.handle.sandbox.world;
    world.register_access_token("eyJ.old.sig".into(), app_grant(-10));
    world.register_access_token("eyJ.new.sig".into(), app_grant(3600));
    world.register_access_token("eyJ.stale.sig".into(), app_grant(-10));

    let tokens = RotatingToken::new(vec!["eyJ.old.sig", "eyJ.new.sig"]);
    let client = f.client_with(tokens.clone(), fast());
    let inbox = client.get_folder("inbox").await.expect("after refresh");
    assert_eq!(inbox.display_name, "Inbox");
    client.get_folder("archive").await.expect("new token kept");
    assert_eq!(tokens.refreshes.load(Ordering::SeqCst), 1);
    assert!(client.stats().log[0].contains("refreshing the token once"));

    let tokens = RotatingToken::new(vec!["eyJ.old.sig", "eyJ.stale.sig"]);
    let client = f.client_with(tokens.clone(), fast());
    let e = client.get_folder("inbox").await.expect_err("still refused");
    assert_eq!(e.kind, GraphErrorKind::Unauthorized);
    assert_eq!(e.code.as_deref(), Some("InvalidAuthenticationToken"));
    assert_eq!(tokens.refreshes.load(Ordering::SeqCst), 1);
    assert!(!e.to_string().contains("eyJ."), "{e}");
    assert_eq!(client.stats().requests, 2);
}

#[tokio::test]
async fn mailbox_problems_are_named() {
    let f = spawn().await;
    let client = f.client();

    f.state().set_access_policy(ADELE, true).expect("policy");
    let e = client.get_folder("inbox").await.expect_err("policy");
    assert_eq!(e.kind, GraphErrorKind::AccessPolicy);
    // The sandbox is not a Microsoft Graph host: its own words are not repeated.
    assert!(!e.message.contains("OData"), "{e}");
    assert!(e.message.contains("HTTP 403"), "{e}");
    assert!(e.request_id.is_some());
    f.state().set_access_policy(ADELE, false).expect("policy");

    f.state()
        .set_mailbox_enabled(ADELE, false)
        .expect("disable");
    let e = client
        .resolve_folder_path("Inbox")
        .await
        .expect_err("disabled");
    assert_eq!(e.kind, GraphErrorKind::MailboxNotEnabled);
    f.state().set_mailbox_enabled(ADELE, true).expect("enable");
    client.get_folder("inbox").await.expect("enabled again");

    let nobody = GraphClient::new(
        http(&f.graph_url),
        &f.target(Some("nobody@contoso.onmicrosoft.com")),
        Arc::new(FixedToken(APP_TOKEN)),
        &f.limits,
        fast(),
    )
    .expect("client");
    let e = nobody.get_folder("inbox").await.expect_err("unknown user");
    assert_eq!(e.kind, GraphErrorKind::NotFound);

    f.handle
        .sandbox
        .world
        .register_access_token("eyJ.norole.sig".into(), grant(None, &[], &[], 3600));
    let no_role = f.client_with(Arc::new(FixedToken("eyJ.norole.sig")), fast());
    let e = no_role
        .get_folder("inbox")
        .await
        .expect_err("no permission");
    assert_eq!(e.kind, GraphErrorKind::AccessDenied);
}

#[tokio::test]
async fn me_target_with_a_delegated_token() {
    let f = spawn().await;
    let seeded = f.seed("inbox", 2, 1500);
    f.handle.sandbox.world.register_access_token(
        "eyJ.adele-delegated.sig".into(),
        grant(Some(ADELE_ID), &[], &["Mail.ReadWrite"], 3600),
    );
    let client = GraphClient::new(
        http(&f.graph_url),
        &f.target(None),
        Arc::new(FixedToken("eyJ.adele-delegated.sig")),
        &f.limits,
        fast(),
    )
    .expect("client");
    let inbox = client.resolve_folder_path("Inbox").await.expect("inbox");
    let page = client.list_messages(&inbox.id, None).await.expect("list");
    let ids: Vec<&str> = page.messages.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            seeded[0].immutable_id.as_str(),
            seeded[1].immutable_id.as_str()
        ]
    );
    let log = f.state().request_log();
    assert!(log.entries.iter().all(|e| e.path.starts_with("/v1.0/me/")));

    // The app token cannot use /me.
    let app_on_me = GraphClient::new(
        http(&f.graph_url),
        &f.target(Some("  ")),
        Arc::new(FixedToken(APP_TOKEN)),
        &f.limits,
        fast(),
    )
    .expect("client");
    let e = app_on_me.get_folder("inbox").await.expect_err("app on /me");
    assert_eq!(e.kind, GraphErrorKind::InvalidRequest);
}
