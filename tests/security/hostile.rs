//! A small server that plays a token endpoint or Graph gone bad: it records every request
//! and answers whatever the test sets (a redirect, tokens for another tenant, random JSON).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use tokio::net::TcpListener;

/// What the server answers to every request.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Answer {
        Answer {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    pub fn redirect(status: u16, location: &str) -> Answer {
        Answer {
            status,
            headers: vec![("location".into(), location.into())],
            body: Vec::new(),
        }
    }

    /// A successful token response whose id_token names tenant `tid`.
    pub fn tokens(tid: &str, access_token: &str, refresh_token: &str) -> Answer {
        Answer::tokens_with_claims(
            json!({
                "tid": tid,
                "oid": "00000000-0000-0000-0000-00000000e5e5",
                "preferred_username": "eve@fabrikam.example",
                "name": "Eve",
            }),
            access_token,
            refresh_token,
        )
    }

    /// A successful token response with an id_token of these claims.
    pub fn tokens_with_claims(
        claims: serde_json::Value,
        access_token: &str,
        refresh_token: &str,
    ) -> Answer {
        let id_token = format!(
            "eyJhbGciOiJub25lIn0.{}.sig",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        Answer::json(
            200,
            json!({
                "token_type": "Bearer",
                "scope": "Mail.ReadWrite offline_access openid profile",
                "expires_in": 3599,
                "access_token": access_token,
                "refresh_token": refresh_token,
                "id_token": id_token,
            })
            .to_string(),
        )
    }
}

/// A request as the hostile server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub uri: String,
    pub body: String,
}

#[derive(Clone)]
pub struct Hostile {
    pub base: String,
    answer: Arc<Mutex<Answer>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Hostile {
    pub async fn spawn(answer: Answer) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let hostile = Hostile {
            base,
            answer: Arc::new(Mutex::new(answer)),
            seen: Arc::new(Mutex::new(Vec::new())),
        };
        let state = hostile.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, _headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { state.answer(method, uri, body) }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        hostile
    }

    fn answer(&self, method: Method, uri: Uri, body: Bytes) -> Response {
        self.seen.lock().expect("seen").push(Seen {
            method,
            uri: uri.to_string(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        let answer = self.answer.lock().expect("answer").clone();
        let mut response = (
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK),
            answer.body,
        )
            .into_response();
        response.headers_mut().remove(header::CONTENT_TYPE);
        for (name, value) in answer.headers {
            if let (Ok(name), Ok(value)) = (
                name.parse::<header::HeaderName>(),
                HeaderValue::from_str(&value),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }

    pub fn set(&self, answer: Answer) {
        *self.answer.lock().expect("answer") = answer;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }

    /// `127.0.0.1:PORT`, as `--allow-host` takes it.
    pub fn host(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }

    /// `<base>/<tenant>/oauth2/v2.0/token`.
    pub fn token_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.base)
    }
}

/// The form fields of a recorded request body.
pub fn form(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
