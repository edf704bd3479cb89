//! Bad input, generated with proptest: arbitrary messages through parse, store, the detail
//! page and the downloads; arbitrary JSON from Graph and from the token endpoint;
//! `Retry-After` values; paging links; random form fields and query parameters on every
//! route. Each property is bounded (cases and sizes) so the whole binary stays well under a
//! minute; a failure prints the shrunk input to add as a regular test.
//!
//! One file per kind of input; the shared runner and helpers live here.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use mailport::graph::links::LinkPolicy;
use mailport::graph::{
    DeltaCursor, GraphClient, GraphError, GraphSettings, MailboxLimits, MailboxTarget, TokenSource,
};
use mailport::oauth::AadErrorResponse;
use mailport::oauth::error::{GrantContext, classify, parse_aadsts};
use mailport::oauth::id_token::{account_from_id_token, tenant_guid_of};
use mailport::outbound::{HostPolicy, Use};
use mailport::retry_after::parse_retry_after;
use mailport::sandbox::world::DEMO_TENANT_ID;
use mailport::web::ROUTES;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::Value;

use crate::fixtures::store;
use crate::helpers::*;
use crate::hostile::{Answer, Hostile};
use crate::routes::{concrete, populated, signed_in_csrf};

mod forms;
mod graph_answers;
mod links;
mod messages;
mod token_endpoint;

/// Requests of one generated case must finish within this, or the case fails as a hang.
const CASE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(CASE_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {CASE_TIMEOUT:?}"))
}

/// Pieces messages are made of, so that random input reaches the MIME parser's corners
/// (nested multiparts, encodings, broken boundaries) and not only its first line.
const MIME_PIECES: &[&str] = &[
    "From: =?utf-8?B?PHNjcmlwdD4=?= <a@b.c>\r\n",
    "To: \"x\" <y@z>, ,, <>, undisclosed:;\r\n",
    "Subject: =?iso-8859-1?Q?=E9t=E9?= =?bogus?X?abc?=\r\n",
    "Date: Tue, 1 Sep 2026 10:00:00 +9999\r\n",
    "Message-ID: <<>>\r\n",
    "MIME-Version: 1.0\r\n",
    "Content-Type: multipart/mixed; boundary=b\r\n",
    "Content-Type: multipart/related; boundary=\"b\"\r\n",
    "Content-Type: multipart/alternative; boundary=\r\n",
    "Content-Type: text/html; charset=utf-7\r\n",
    "Content-Type: text/plain; charset=\"no-such-charset\"\r\n",
    "Content-Type: message/rfc822\r\n",
    "Content-Type: image/png; name=\"../../etc/passwd\"\r\n",
    "Content-Disposition: attachment; filename*=utf-8''%E2%80%AEgpj.exe\r\n",
    "Content-Disposition: inline; filename=\"\"\r\n",
    "Content-ID: <img1@x>\r\n",
    "Content-Transfer-Encoding: base64\r\n",
    "Content-Transfer-Encoding: quoted-printable\r\n",
    "\r\n",
    "--b\r\n",
    "--b--\r\n",
    "=?utf-8?B?",
    "=3D=\r\n",
    "PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\r\n",
    "<img src=\"cid:img1@x\" onerror=alert(1)><a href=\"javascript:x\">",
    "\u{0}\u{feff}\u{202e}",
];

const GRAPH_KEYS: &[&str] = &[
    "value",
    "@odata.nextLink",
    "@odata.deltaLink",
    "@odata.context",
    "id",
    "receivedDateTime",
    "@removed",
    "reason",
    "isRead",
    "parentFolderId",
    "internetMessageId",
    "subject",
    "singleValueExtendedProperties",
    "error",
    "code",
    "message",
    "innerError",
    "request-id",
    "date",
    "displayName",
    "childFolderCount",
    "wellKnownName",
    "totalItemCount",
];

/// JSON of any shape, with Graph's keys more often than chance would give them.
fn json_value(links: Vec<String>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        ".{0,24}".prop_map(Value::from),
        proptest::sample::select(links).prop_map(Value::from),
        Just(Value::from("2026-09-01T10:00:00Z")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            3 => proptest::sample::select(GRAPH_KEYS).prop_map(String::from),
            1 => "[a-zA-Z@.]{0,10}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key, inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// One part of a link: mostly the good value, so that whole links are often good and the
/// property about accepted links gets exercised; otherwise one of the tricks.
fn part(good: &'static str, tricks: Vec<&'static str>) -> impl Strategy<Value = &'static str> {
    prop_oneof![3 => Just(good), 1 => proptest::sample::select(tricks)]
}

fn link() -> impl Strategy<Value = String> {
    let scheme = part("https", vec!["HTTPS", "http", "ftp", "", "javascript"]);
    let userinfo = part("", vec!["user@", "user:pw@", "graph.microsoft.com@", ":@"]);
    let host = part(
        "graph.microsoft.com",
        vec![
            "GRAPH.microsoft.com",
            "graph.microsoft.com.",
            "evil.example",
            "graph.microsoft.com.evil.example",
            "127.0.0.1",
            "2130706433",
            "0x7f000001",
            "[::1]",
            "[::ffff:127.0.0.1]",
            "169.254.169.254",
            "graph.microsoft.com%2eevil",
            "",
        ],
    );
    let port = part("", vec![":443", ":8443", ":", ":0443", ":80"]);
    let version = part(
        "v1.0",
        vec!["v1.00", "beta", "..", ".", "%2e%2e", "V1.0", ""],
    );
    let segment = part(
        "me",
        vec![
            "users",
            "messages",
            "..",
            ".",
            "%2e%2e",
            "%2E.",
            ".%2e",
            "a%2fb",
            "a%5cb",
            "",
            "x\\y",
            "%00",
            "@evil.example",
        ],
    );
    let tail = part(
        "",
        vec![
            "?$skip=10",
            "?$deltatoken=a..b",
            "#frag",
            "?x=/../",
            "\t",
            " ",
        ],
    );
    (
        scheme,
        userinfo,
        host,
        port,
        version,
        proptest::collection::vec(segment, 0..5),
        tail,
    )
        .prop_map(|(scheme, userinfo, host, port, version, segments, tail)| {
            let sep = if scheme.is_empty() { "//" } else { "://" };
            let mut path = vec![version];
            path.extend(segments);
            format!(
                "{scheme}{sep}{userinfo}{host}{port}/{}{tail}",
                path.join("/")
            )
        })
}

const VALUES: &[&str] = &[
    "",
    "0",
    "-1",
    "99999999999999999999999",
    "on",
    "off",
    "true",
    "app",
    "acct",
    "delegated",
    "client_credentials",
    "authorization_code",
    "basic",
    "post",
    "move",
    "mark_read",
    "delete",
    "keep",
    "https://login.microsoftonline.com/common/oauth2/v2.0/token",
    "http://10.0.0.1/x",
    "javascript:alert(1)",
    "//evil.example",
    "/\\evil.example",
    "../../etc/passwd",
    "%00",
    "\u{0}",
    "\u{202e}",
    "2026-13-45",
    "1970-01-01",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
];
