//! `Retry-After` values and paging links of any shape.

use super::*;

#[test]
fn retry_after_never_panics_and_never_asks_for_more_than_a_day() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let value = prop_oneof![
        ".{0,40}",
        "[0-9]{0,40}(\\.[0-9]{0,20})?",
        "[ +-]?[0-9.eE]{0,12}",
        (0u64..4_000_000_000)
            .prop_map(|s| httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(s))),
    ];
    runner(512)
        .run(&value, |value| {
            if let Some(wait) = parse_retry_after(&value, now) {
                prop_assert!(
                    wait <= Duration::from_secs(24 * 60 * 60),
                    "{value:?} -> {wait:?}"
                );
            }
            Ok(())
        })
        .expect("property");
}

#[test]
fn a_paging_link_is_accepted_only_on_the_graph_origin_and_version_path() {
    let base = url::Url::parse("https://graph.microsoft.com/v1.0").expect("base");
    let policy = LinkPolicy::new(&base);
    let any_link = prop_oneof![3 => link(), 1 => ".{0,80}"];
    let accepted = AtomicUsize::new(0);
    runner(2048)
        .run(&any_link, |link| {
            if let Ok(url) = policy.check(&link) {
                prop_assert_eq!(url.scheme(), "https");
                prop_assert_eq!(url.host_str(), Some("graph.microsoft.com"));
                prop_assert_eq!(url.port_or_known_default(), Some(443));
                prop_assert!(url.username().is_empty() && url.password().is_none());
                prop_assert!(url.path().starts_with("/v1.0/"), "{}", url);
                prop_assert!(url.fragment().is_none());
                prop_assert!(
                    link.to_ascii_lowercase()
                        .starts_with("https://graph.microsoft.com/v1.0/"),
                    "{link}"
                );
                let path = link.split(['?', '#']).next().unwrap_or_default();
                prop_assert!(!path.split('/').any(|s| s == ".." || s == "."), "{link}");
                accepted.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
        .expect("property");
    assert!(
        accepted.into_inner() > 0,
        "the generator never produced a good link"
    );
}
