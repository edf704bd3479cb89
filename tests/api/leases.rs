//! The store's lease statements, as several instances use them: one holder per mailbox, a
//! fencing token that grows with every claim, and writes that carry a stale token change
//! nothing. Portable SQL, so these run unchanged on every backend.

use mailport::oauth::credential::GrantType;
use mailport::store::accounts::{self, AfterImport};
use mailport::store::leases::{self, Fence};
use mailport::store::{Db, credentials, messages, runs, schedule};

/// A fresh database (SQLite, or PostgreSQL when the tests run there) with credential `app`
/// and accounts `a1` and `a2` on one mailbox and `b1` on another.
async fn database() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = if crate::helpers::test_backend_is_postgres() {
        let cluster = crate::helpers::postgres::available()
            .expect("MAILPORT_TEST_BACKEND=postgres, but PostgreSQL is not installed");
        let url = cluster.fresh_database().await;
        mailport::store::connect_postgres(&url.parse().expect("url"))
            .await
            .expect("db")
    } else {
        mailport::store::connect(&dir.path().join("mailport.db"))
            .await
            .expect("db")
    };
    let sandbox = "http://127.0.0.1:9";
    let cred = mailport::demo::sandbox_credential("app", sandbox, GrantType::ClientCredentials);
    let key = mailport::crypto::MasterKey::from_bytes(&[7; 32]).expect("key");
    credentials::insert(&db, &key, &cred, None)
        .await
        .expect("credential");
    for (id, mailbox) in [
        ("a1", "adele@contoso.onmicrosoft.com"),
        // The same mailbox, written differently.
        ("a2", " Adele@Contoso.onmicrosoft.com"),
        ("b1", "box00001@contoso.onmicrosoft.com"),
    ] {
        let s = accounts::AccountSettings {
            mailbox: mailbox.into(),
            ..mailport::demo::sandbox_account(id, "app", sandbox, AfterImport::Move)
        };
        accounts::insert(&db, &s).await.expect("account");
    }
    (dir, db)
}

async fn key(db: &Db, account: &str) -> String {
    leases::key_of(db, account)
        .await
        .expect("key")
        .expect("account")
}

#[tokio::test]
async fn accounts_of_one_mailbox_share_its_lease_and_one_instance_holds_it_until_it_expires() {
    let (_dir, db) = database().await;
    let a = key(&db, "a1").await;
    assert_eq!(key(&db, "a2").await, a, "one mailbox, one lease");
    assert_ne!(key(&db, "b1").await, a);

    let t0 = 1_000_000;
    let first = leases::claim(&db, &a, "one", t0, t0 + 30_000)
        .await
        .expect("claim");
    assert_eq!(first, Some(1));
    assert_eq!(
        leases::claim(&db, &a, "two", t0 + 29_999, t0 + 60_000)
            .await
            .expect("claim"),
        None,
        "held and not expired"
    );
    // The heartbeat extends it; another instance still cannot have it.
    let renewed = leases::renew_all(&db, "one", t0 + 60_000)
        .await
        .expect("renew");
    assert_eq!(renewed, vec![(a.clone(), 1)]);
    assert_eq!(
        leases::claim(&db, &a, "two", t0 + 45_000, t0 + 90_000)
            .await
            .expect("claim"),
        None
    );
    // Expired: taken over, with a higher fencing token; the old holder's renewal finds
    // nothing.
    assert_eq!(
        leases::claim(&db, &a, "two", t0 + 60_000, t0 + 90_000)
            .await
            .expect("claim"),
        Some(2)
    );
    assert!(
        leases::renew_all(&db, "one", t0 + 99_000)
            .await
            .expect("renew")
            .is_empty()
    );
    // Released: free at once, and the token keeps growing.
    let fence = Fence {
        lease_key: a.clone(),
        owner: "two".into(),
        token: 2,
    };
    assert!(leases::release(&db, &fence).await.expect("release"));
    assert_eq!(
        leases::claim(&db, &a, "one", t0 + 61_000, t0 + 91_000)
            .await
            .expect("claim"),
        Some(3)
    );
}

#[tokio::test]
async fn writes_that_carry_a_stale_fencing_token_change_nothing() {
    let (_dir, db) = database().await;
    let a = key(&db, "a1").await;
    let now = mailport::clock::now_ms();
    leases::claim(&db, &a, "one", now, now + 30_000)
        .await
        .expect("claim");
    let stale = Fence {
        lease_key: a.clone(),
        owner: "one".into(),
        token: 1,
    };
    // Taken over by instance two (the lease expired as far as the database knows).
    leases::claim(&db, &a, "two", now + 30_000, now + 60_000)
        .await
        .expect("claim");
    let current = Fence {
        lease_key: a.clone(),
        owner: "two".into(),
        token: 2,
    };

    let cursor = |fence: Fence, link: &'static str| {
        let db = db.clone();
        async move {
            accounts::set_delta_link(&db, &fence, "a1", Some(link), false)
                .await
                .expect("cursor")
        }
    };
    assert!(!cursor(stale.clone(), "https://graph/stale").await);
    assert!(cursor(current.clone(), "https://graph/current").await);
    let account = accounts::get(&db, "a1").await.expect("get").expect("a1");
    assert_eq!(account.delta_link.as_deref(), Some("https://graph/current"));

    let poll = schedule::PollRecord {
        started_at: 1,
        lag_ms: None,
        finished_at: 2,
        outcome: runs::RunOutcome::Ok,
        imported: 0,
        status: accounts::AccountStatus::Ok,
        status_detail: None,
        throttled_until: None,
        next_due_at: Some(3),
        read_updated_at: account.updated_at,
        delta_link: Some("https://graph/delta-stale"),
    };
    assert!(
        !schedule::record_poll(&db, &stale, "a1", &poll)
            .await
            .expect("poll")
    );
    let summary = runs::RunSummary {
        outcome: runs::RunOutcome::Ok,
        imported: 1,
        ..Default::default()
    };
    assert_eq!(
        runs::record(&db, &stale, "a1", 1, &summary, 100)
            .await
            .expect("run"),
        None
    );
    assert!(runs::recent(&db, "a1", 10).await.expect("runs").is_empty());
    let after = accounts::get(&db, "a1").await.expect("get").expect("a1");
    assert_eq!(after.delta_link.as_deref(), Some("https://graph/current"));
    assert_eq!(
        after.last_poll_finished_at, None,
        "the stale poll left nothing"
    );

    assert!(
        schedule::record_poll(&db, &current, "a1", &poll)
            .await
            .expect("poll")
    );
    let id = runs::record(&db, &current, "a1", 1, &summary, 100)
        .await
        .expect("run")
        .expect("recorded");
    let recorded = runs::last(&db, "a1").await.expect("last").expect("run");
    assert_eq!(recorded.id, id);
    assert_eq!(recorded.instance_id.as_deref(), Some("two"));

    // The post-action done marker, on a stored message.
    messages::record_too_large(&db, "a1", "graph-1", 10, "s", None)
        .await
        .expect("message");
    sqlx::query("UPDATE messages SET post_action_done = 0, state = 'imported'")
        .execute(&db)
        .await
        .expect("pending");
    let pending = messages::pending_post_actions(&db, "a1", 10)
        .await
        .expect("pending");
    let (message, _) = pending[0].clone();
    assert!(
        !messages::mark_post_action_done(&db, &stale, message)
            .await
            .expect("done")
    );
    assert_eq!(
        messages::pending_post_actions(&db, "a1", 10)
            .await
            .expect("p")
            .len(),
        1
    );
    assert!(
        messages::mark_post_action_done(&db, &current, message)
            .await
            .expect("done")
    );
    assert!(
        messages::pending_post_actions(&db, "a1", 10)
            .await
            .expect("p")
            .is_empty()
    );
}

#[tokio::test]
async fn due_accounts_leave_out_mailboxes_another_instance_holds() {
    let (_dir, db) = database().await;
    let now = mailport::store::now();
    let now_ms = now * 1000;
    let b = key(&db, "b1").await;
    leases::claim(&db, &b, "two", now_ms, now_ms + 30_000)
        .await
        .expect("claim");
    let ids = |due: Vec<leases::Due>| due.into_iter().map(|d| d.id).collect::<Vec<_>>();
    let mine = leases::due(&db, "one", now + 1, now_ms, 10)
        .await
        .expect("due");
    assert_eq!(ids(mine), ["a1", "a2"]);
    let theirs = leases::due(&db, "two", now + 1, now_ms, 10)
        .await
        .expect("due");
    assert_eq!(ids(theirs), ["a1", "a2", "b1"]);
    // Expired: everyone may claim it.
    let later = leases::due(&db, "one", now + 1, now_ms + 30_000, 10)
        .await
        .expect("due");
    assert_eq!(ids(later), ["a1", "a2", "b1"]);
}

#[tokio::test]
async fn one_instance_at_a_time_may_refresh_a_credential() {
    let (_dir, db) = database().await;
    let t = 5_000_000;
    assert!(
        leases::claim_refresh(&db, "app", "one", t, t + 60_000)
            .await
            .expect("claim")
    );
    assert!(
        !leases::claim_refresh(&db, "app", "two", t + 1, t + 60_001)
            .await
            .expect("claim")
    );
    leases::release_refresh(&db, "app", "one")
        .await
        .expect("release");
    assert!(
        leases::claim_refresh(&db, "app", "two", t + 2, t + 60_002)
            .await
            .expect("claim")
    );
    // A holder that died: its claim expires.
    assert!(
        !leases::claim_refresh(&db, "app", "one", t + 3, t + 60_003)
            .await
            .expect("claim")
    );
    assert!(
        leases::claim_refresh(&db, "app", "one", t + 60_002, t + 120_000)
            .await
            .expect("claim")
    );
}
