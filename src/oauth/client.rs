//! Requests to the token endpoint with the `oauth2` crate, over our own reqwest-based HTTP
//! function: no redirects, timeouts, and a cap on the response size.

use std::time::Duration;

use oauth2::basic::{
    BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use serde::{Deserialize, Serialize};

use super::credential::{ClientAuth, RecordedError, TokenStatus};
use super::error::{AadErrorResponse, GrantContext, TokenFailure, classify};
use crate::crypto::Secret;
use crate::outbound::{HostPolicy, OutboundClient, REFUSED_CODE, Use, is_microsoft_host};

/// The id_token rides along in the token response when `openid` was requested.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

type AadTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

type AadClient<HasAuthUrl> = oauth2::Client<
    AadErrorResponse,
    AadTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    HasAuthUrl,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Everything needed to talk to one credential's token endpoint.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub client_id: String,
    pub client_secret: Secret,
    pub token_url: String,
    pub auth: ClientAuth,
    pub redirect_uri: Option<String>,
}

/// A successful token response, normalised.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_in: Option<Duration>,
    pub scope: Option<String>,
    pub id_token: Option<String>,
}

/// Errors of our HTTP function; their text never contains request bodies or secrets.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The innermost cause, as a clause ("connection refused (os error 111)").
    #[error("Mailport could not reach the token endpoint: {0}.")]
    Transport(String),
    #[error("The token endpoint did not answer in time.")]
    Timeout,
    #[error("The token endpoint's answer is larger than {0} bytes.")]
    TooLarge(usize),
    #[error("The token endpoint answered HTTP {0}.")]
    ServerError(u16),
    #[error(
        "The token endpoint answered with a redirect (HTTP {0}); Mailport never follows \
         redirects from a token endpoint, so check the access token URL."
    )]
    Redirect(u16),
    /// The outbound host policy refused the destination; nothing was sent.
    #[error("{0}")]
    Refused(String),
}

/// Limits for requests to the token endpoint; its two timeouts also bound Graph requests
/// (the app hands them to `graph::build_graph_http_client`). `config` aggregates it.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Whole-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Largest token-endpoint response body we read.
    pub max_token_response_bytes: usize,
    /// How often a transient token-endpoint failure (5xx, network) is tried in total.
    pub token_attempts: u32,
    /// First backoff delay between those attempts; doubles each time.
    pub token_retry_base: Duration,
    /// This instance's id (`Config::set_instance_id`): named in the `User-Agent` of
    /// every token and Graph request, and the owner of the refresh claims it takes.
    pub instance_id: String,
}

impl HttpSettings {
    /// `Mailport/<version> (instance <id>)`, the `User-Agent` of token and Graph requests.
    pub fn user_agent(&self) -> String {
        format!(
            "Mailport/{} (instance {})",
            env!("CARGO_PKG_VERSION"),
            self.instance_id
        )
    }

    /// How long a claim to refresh a credential's tokens lasts: longer than every attempt
    /// of a token request with its backoffs, so that a claim never lapses while its holder
    /// still waits for an answer.
    pub fn refresh_claim(&self) -> Duration {
        let attempts = self.token_attempts.max(1);
        self.timeout * attempts
            + self.token_retry_base * (1 << attempts.min(16))
            + Duration::from_secs(5)
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_token_response_bytes: 256 * 1024,
            token_attempts: 3,
            token_retry_base: Duration::from_millis(500),
            instance_id: crate::instance::default_id(),
        }
    }
}

/// The client for the token endpoint, built by the outbound host policy: no redirects (a
/// redirect from a token endpoint is an SSRF vector, not a feature), timeouts, and only
/// hosts the policy allows, checked again after DNS resolution.
pub fn build_http_client(
    settings: &HttpSettings,
    hosts: &HostPolicy,
) -> anyhow::Result<OutboundClient> {
    Ok(hosts.client(
        Use::SignIn,
        reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .user_agent(settings.user_agent()),
    )?)
}

/// Sends one oauth2 request with reqwest, reading at most `max_bytes` of the answer.
/// 5xx answers become `HttpError::ServerError` so they are retried, not parsed.
async fn send(
    http: &OutboundClient,
    max_bytes: usize,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, HttpError> {
    let request = reqwest::Request::try_from(request).map_err(transport_error)?;
    let mut response = http.execute(request).await.map_err(|e| match e {
        Ok(refused) => HttpError::Refused(refused.message().to_string()),
        Err(e) => transport_error(e),
    })?;
    let status = response.status();
    if status.is_server_error() {
        return Err(HttpError::ServerError(status.as_u16()));
    }
    // Said plainly: otherwise oauth2 reports the empty redirect body as a puzzling
    // "empty error response".
    if status.is_redirection() {
        return Err(HttpError::Redirect(status.as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|n| n > max_bytes as u64)
    {
        return Err(HttpError::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(HttpError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    let mut out = http::Response::builder().status(status);
    if let Some(headers) = out.headers_mut() {
        *headers = response.headers().clone();
    }
    out.body(body)
        .map_err(|e| HttpError::Transport(e.to_string().to_lowercase()))
}

fn transport_error(e: reqwest::Error) -> HttpError {
    if e.is_timeout() {
        HttpError::Timeout
    } else {
        let cause = crate::prose::root_cause(&e)
            .unwrap_or_else(|| e.without_url().to_string().to_lowercase());
        HttpError::Transport(cause)
    }
}

fn base_client(cfg: &ClientConfig) -> Result<AadClient<EndpointNotSet>, TokenFailure> {
    let token_url = TokenUrl::new(cfg.token_url.clone())
        .map_err(|_| TokenFailure::NotUsable("The access token URL is not a valid URL.".into()))?;
    let mut client = oauth2::Client::new(ClientId::new(cfg.client_id.clone()))
        .set_client_secret(ClientSecret::new(cfg.client_secret.expose().to_string()))
        .set_token_uri(token_url)
        .set_auth_type(match cfg.auth {
            ClientAuth::Post => AuthType::RequestBody,
            ClientAuth::Basic => AuthType::BasicAuth,
        });
    if let Some(uri) = &cfg.redirect_uri {
        let redirect = RedirectUrl::new(uri.clone())
            .map_err(|_| TokenFailure::NotUsable("The redirect URI is not a valid URL.".into()))?;
        client = client.set_redirect_uri(redirect);
    }
    Ok(client)
}

fn scopes(scope: &str) -> impl Iterator<Item = Scope> + '_ {
    scope.split_whitespace().map(|s| Scope::new(s.to_string()))
}

/// The browser redirect for the authorization-code grant, with PKCE S256. Query parameters
/// already in `auth_url` (such as `prompt=select_account`) are kept. The authorization URL
/// must pass the outbound host policy: the sign-in page the browser is sent to receives the
/// client id and the redirect URI, and returns the code redeemed with the secret.
pub fn authorize_redirect(
    hosts: &HostPolicy,
    cfg: &ClientConfig,
    auth_url: &str,
    scope: &str,
    state: &str,
) -> Result<(url::Url, Secret), TokenFailure> {
    hosts.check(auth_url, Use::SignIn).map_err(|refused| {
        TokenFailure::NotUsable(format!(
            "the browser was not sent to the authorization URL: {refused}"
        ))
    })?;
    let auth = AuthUrl::new(auth_url.to_string())
        .map_err(|_| TokenFailure::NotUsable("The authorization URL is not a valid URL.".into()))?;
    let client = base_client(cfg)?.set_auth_uri(auth);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = state.to_string();
    let (url, _) = client
        .authorize_url(|| CsrfToken::new(state))
        .add_scopes(scopes(scope))
        .set_pkce_challenge(challenge)
        .url();
    Ok((url, Secret::new(verifier.secret().to_string())))
}

/// Our HTTP function as an oauth2 client: capped response size, no redirects.
struct CappedHttp<'a> {
    http: &'a OutboundClient,
    max_bytes: usize,
}

impl<'c> oauth2::AsyncHttpClient<'c> for CappedHttp<'_> {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, HttpError>> + Send + 'c>,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(send(self.http, self.max_bytes, request))
    }
}

/// A grant that can be requested without a user, and so retried.
enum SilentGrant<'a> {
    Refresh(&'a Secret),
    ClientCredentials,
}

/// Sends token requests for one credential.
pub struct TokenRequester<'a> {
    pub http: &'a OutboundClient,
    pub settings: &'a HttpSettings,
}

impl TokenRequester<'_> {
    fn http(&self) -> CappedHttp<'_> {
        CappedHttp {
            http: self.http,
            max_bytes: self.settings.max_token_response_bytes,
        }
    }

    pub async fn exchange_code(
        &self,
        cfg: &ClientConfig,
        code: &str,
        verifier: &Secret,
    ) -> Result<IssuedTokens, TokenFailure> {
        let client = base_client(cfg)?;
        // A code is single-use: never retry its exchange.
        let result = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_string()))
            .request_async(&self.http())
            .await;
        finish(
            result,
            GrantContext::CodeExchange,
            Echo::for_url(&cfg.token_url),
        )
    }

    pub async fn refresh(
        &self,
        cfg: &ClientConfig,
        refresh_token: &Secret,
        scope: &str,
    ) -> Result<IssuedTokens, TokenFailure> {
        self.with_retries(cfg, SilentGrant::Refresh(refresh_token), scope)
            .await
    }

    pub async fn client_credentials(
        &self,
        cfg: &ClientConfig,
        scope: &str,
    ) -> Result<IssuedTokens, TokenFailure> {
        self.with_retries(cfg, SilentGrant::ClientCredentials, scope)
            .await
    }

    async fn once(
        &self,
        cfg: &ClientConfig,
        grant: &SilentGrant<'_>,
        scope: &str,
    ) -> Result<IssuedTokens, TokenFailure> {
        let client = base_client(cfg)?;
        let http = self.http();
        match grant {
            SilentGrant::Refresh(token) => {
                let refresh = RefreshToken::new(token.expose().to_string());
                let result = client
                    .exchange_refresh_token(&refresh)
                    .add_scopes(scopes(scope))
                    .request_async(&http)
                    .await;
                finish(result, GrantContext::Refresh, Echo::for_url(&cfg.token_url))
            }
            SilentGrant::ClientCredentials => {
                let result = client
                    .exchange_client_credentials()
                    .add_scopes(scopes(scope))
                    .request_async(&http)
                    .await;
                finish(
                    result,
                    GrantContext::ClientCredentials,
                    Echo::for_url(&cfg.token_url),
                )
            }
        }
    }

    /// Retries transient failures with exponential backoff; everything else returns at once.
    async fn with_retries(
        &self,
        cfg: &ClientConfig,
        grant: SilentGrant<'_>,
        scope: &str,
    ) -> Result<IssuedTokens, TokenFailure> {
        let attempts = self.settings.token_attempts.max(1);
        let mut delay = self.settings.token_retry_base;
        let mut n = 1;
        loop {
            match self.once(cfg, &grant, scope).await {
                Err(TokenFailure::Transient(e)) if n < attempts => {
                    tracing::warn!(attempt = n, error = ?e.description, "token endpoint unavailable; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    n += 1;
                }
                other => return other,
            }
        }
    }
}

type OAuthResult = Result<AadTokenResponse, RequestTokenError<HttpError, AadErrorResponse>>;

/// Whether error texts of the token endpoint may be shown: only Microsoft's own. Any other
/// host (even one the operator allowed) could be an internal service, and quoting its
/// answers would let whoever holds an admin session read it through the credential page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Echo {
    /// Microsoft's sign-in host: its descriptions are shown.
    Microsoft,
    /// Another host: only codes that fit a known shape are shown, in Mailport's words.
    Withheld,
}

impl Echo {
    fn for_url(url: &str) -> Echo {
        let microsoft = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(is_microsoft_host))
            .unwrap_or(false);
        if microsoft {
            Echo::Microsoft
        } else {
            Echo::Withheld
        }
    }
}

/// Error codes of RFC 6749 §5.2 and OpenID Connect Core §3.1.2.6: the only `error` values
/// of a non-Microsoft host that are repeated.
const KNOWN_ERROR_CODES: &[&str] = &[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "interaction_required",
    "login_required",
    "consent_required",
    "account_selection_required",
    "temporarily_unavailable",
    "server_error",
];

/// A refusal from a host whose texts are not shown: codes of a known shape only.
fn withheld(err: &AadErrorResponse) -> RecordedError {
    let error = KNOWN_ERROR_CODES
        .iter()
        .find(|c| **c == err.error)
        .map(|c| c.to_string());
    let aadsts = err.aadsts().filter(|n| (0..100_000_000).contains(n));
    let code = aadsts
        .map(|n| format!("AADSTS{n}"))
        .or(error.clone())
        .unwrap_or_else(|| "rejected".into());
    let what = match (&error, aadsts) {
        (Some(e), Some(n)) => format!("{e}, AADSTS{n}"),
        (Some(e), None) => e.clone(),
        (None, Some(n)) => format!("AADSTS{n}"),
        (None, None) => "an error code Mailport does not know".into(),
    };
    let trace_id = err
        .trace()
        .filter(|t| uuid::Uuid::parse_str(t.trim()).is_ok());
    RecordedError {
        code: Some(code),
        description: format!(
            "The token endpoint refused the request ({what}); its own description is shown only for Microsoft's sign-in hosts."
        ),
        trace_id,
    }
}

fn finish(
    result: OAuthResult,
    context: GrantContext,
    echo: Echo,
) -> Result<IssuedTokens, TokenFailure> {
    match result {
        Ok(resp) => Ok(IssuedTokens {
            access_token: Secret::new(resp.access_token().secret().to_string()),
            refresh_token: resp
                .refresh_token()
                .map(|t| Secret::new(t.secret().to_string())),
            expires_in: resp.expires_in(),
            scope: resp
                .scopes()
                .map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(" ")),
            id_token: resp.extra_fields().id_token.clone(),
        }),
        Err(RequestTokenError::ServerResponse(err)) => Err(TokenFailure::Rejected {
            status: classify(&err, context),
            error: match echo {
                Echo::Microsoft => err.to_recorded(),
                Echo::Withheld => withheld(&err),
            },
        }),
        Err(RequestTokenError::Request(HttpError::Refused(reason))) => {
            Err(TokenFailure::Rejected {
                status: TokenStatus::Error,
                error: RecordedError {
                    code: Some(REFUSED_CODE.into()),
                    description: crate::prose::sentence(format!("nothing was sent: {reason}")),
                    trace_id: None,
                },
            })
        }
        Err(RequestTokenError::Request(e)) => {
            let error = RecordedError {
                code: None,
                description: e.to_string(),
                trace_id: None,
            };
            match e {
                // Retrying cannot help either: the endpoint is misconfigured or hostile.
                HttpError::TooLarge(_) | HttpError::Redirect(_) => {
                    Err(TokenFailure::BadResponse(error))
                }
                _ => Err(TokenFailure::Transient(error)),
            }
        }
        Err(RequestTokenError::Parse(_, body)) => Err(TokenFailure::BadResponse(RecordedError {
            code: None,
            // Never quote the body: a malformed success response may hold a token.
            description: match echo {
                Echo::Microsoft => format!(
                    "The token endpoint did not answer with valid OAuth JSON (it sent {} bytes{}).",
                    body.len(),
                    if body.trim_ascii_start().starts_with(b"<") {
                        ", which look like HTML"
                    } else {
                        ""
                    }
                ),
                Echo::Withheld => "The token endpoint did not answer with valid OAuth JSON.".into(),
            },
            trace_id: None,
        })),
        Err(RequestTokenError::Other(msg)) => Err(TokenFailure::BadResponse(RecordedError {
            code: None,
            description: match echo {
                Echo::Microsoft => crate::prose::sentence(format!(
                    "the token endpoint sent an unexpected answer: {msg}"
                )),
                Echo::Withheld => "The token endpoint sent an unexpected answer.".into(),
            },
            trace_id: None,
        })),
    }
}
