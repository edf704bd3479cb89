//! Entra ID's errors: an OAuth error name, an AADSTS code and a message, rendered as the
//! token endpoint's JSON or folded into an authorize redirect. The catalogue below is the
//! one place the sandbox's AADSTS codes and wordings live.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;
use uuid::Uuid;

/// The request identifiers and time stamp Entra ID appends to every error.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    pub trace_id: String,
    pub correlation_id: String,
    pub timestamp: OffsetDateTime,
}

impl Diagnostics {
    /// Entra ID echoes a client's `client-request-id` header as the correlation id.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let correlation = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Uuid::parse_str(v).ok());
        Diagnostics {
            trace_id: Uuid::new_v4().to_string(),
            correlation_id: correlation.unwrap_or_else(Uuid::new_v4).to_string(),
            timestamp: OffsetDateTime::now_utc(),
        }
    }

    /// `2026-01-09 02:02:12Z`, the format of error descriptions and the `timestamp` field.
    pub fn timestamp_text(&self) -> String {
        let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
        self.timestamp.format(&format).unwrap_or_default()
    }

    /// `2026-01-09T02:02:12Z`, the format of the error page.
    pub fn page_timestamp_text(&self) -> String {
        let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        self.timestamp.format(&format).unwrap_or_default()
    }
}

/// One Entra ID error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AadError {
    pub status: StatusCode,
    pub error: &'static str,
    pub code: u32,
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: String,
    error_codes: [u32; 1],
    timestamp: String,
    trace_id: &'a str,
    correlation_id: &'a str,
    error_uri: String,
}

impl AadError {
    fn bad(error: &'static str, code: u32, message: impl Into<String>) -> Self {
        AadError {
            status: StatusCode::BAD_REQUEST,
            error,
            code,
            message: message.into(),
        }
    }

    fn unauthorized(code: u32, message: impl Into<String>) -> Self {
        AadError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            code,
            message: message.into(),
        }
    }

    /// `AADSTSnnnnn: message` followed by the Trace ID, Correlation ID and Timestamp lines.
    pub fn description(&self, diag: &Diagnostics) -> String {
        format!(
            "AADSTS{}: {}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {}",
            self.code,
            self.message,
            diag.trace_id,
            diag.correlation_id,
            diag.timestamp_text()
        )
    }

    pub fn error_uri(&self) -> String {
        format!("https://login.microsoftonline.com/error?code={}", self.code)
    }

    /// The token endpoint's JSON error, with Entra ID's field order and headers.
    pub fn token_response(&self, diag: &Diagnostics) -> Response {
        let body = ErrorBody {
            error: self.error,
            error_description: self.description(diag),
            error_codes: [self.code],
            timestamp: diag.timestamp_text(),
            trace_id: &diag.trace_id,
            correlation_id: &diag.correlation_id,
            error_uri: self.error_uri(),
        };
        let json = serde_json::to_string(&body).unwrap_or_default();
        json_response(self.status, json)
    }

    // ----- the catalogue -----

    pub fn missing_parameter(name: &str) -> Self {
        Self::bad(
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    pub fn unknown_tenant(tenant: &str) -> Self {
        Self::bad(
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        )
    }

    pub fn unknown_client(client_id: &str, tenant: &str) -> Self {
        Self::bad(
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    }

    pub fn redirect_uri_mismatch(redirect_uri: &str, client_id: &str) -> Self {
        Self::bad(
            "invalid_request",
            50011,
            format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this."
            ),
        )
    }

    pub fn no_redirect_uri_registered(client_id: &str) -> Self {
        Self::bad(
            "invalid_request",
            500113,
            format!("No reply address is registered for the application '{client_id}'."),
        )
    }

    pub fn wrong_secret(client_id: &str) -> Self {
        Self::unauthorized(
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        )
    }

    pub fn expired_secret(client_id: &str) -> Self {
        Self::unauthorized(
            7000222,
            format!(
                "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
            ),
        )
    }

    pub fn missing_secret() -> Self {
        Self::unauthorized(
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    }

    pub fn invalid_scope(scope: &str) -> Self {
        Self::bad(
            "invalid_scope",
            70011,
            format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope '{scope}' is not valid."
            ),
        )
    }

    pub fn client_credentials_scope(scope: &str) -> Self {
        Self::bad(
            "invalid_scope",
            70011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid. The client credentials flow requires exactly one scope of the form {{resource}}/.default."
            ),
        )
    }

    pub fn unknown_resource(resource: &str, tenant: &str) -> Self {
        Self::bad(
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            ),
        )
    }

    pub fn unsupported_grant_type(grant_type: &str) -> Self {
        Self::bad(
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant_type}'."),
        )
    }

    pub fn code_redeemed() -> Self {
        Self::bad(
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        )
    }

    pub fn code_invalid() -> Self {
        Self::bad(
            "invalid_grant",
            70000,
            "The provided authorization code is invalid, expired or was issued for another client or tenant. Send a new interactive authorization request for this user and resource.",
        )
    }

    pub fn pkce_mismatch() -> Self {
        Self::bad(
            "invalid_grant",
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        )
    }

    pub fn reply_address_mismatch(given: &str, original: &str) -> Self {
        Self::bad(
            "invalid_grant",
            500112,
            format!(
                "The reply address '{given}' does not match the reply address '{original}' provided when requesting Authorization code."
            ),
        )
    }

    pub fn refresh_token_revoked() -> Self {
        Self::bad(
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        )
    }

    pub fn refresh_token_expired(issued: &str, inactive_secs: u64) -> Self {
        Self::bad(
            "invalid_grant",
            700082,
            format!(
                "The refresh token has expired due to inactivity. The token was issued on {issued} and was inactive for {inactive_secs} seconds."
            ),
        )
    }

    pub fn refresh_token_malformed() -> Self {
        Self::bad(
            "invalid_grant",
            9002313,
            "Invalid request. Request is malformed or invalid.",
        )
    }

    pub fn not_consented(client_id: &str, app_name: &str) -> Self {
        Self::bad(
            "invalid_grant",
            65001,
            format!(
                "The user or administrator has not consented to use the application with ID '{client_id}' named '{app_name}'. Send an interactive authorization request for this user and resource."
            ),
        )
    }

    pub fn invalid_parameter_value(name: &str, value: &str) -> Self {
        Self::bad(
            "invalid_request",
            90023,
            format!("Invalid value '{value}' for the input parameter '{name}'."),
        )
    }

    pub fn unsupported_response_type(response_type: &str) -> Self {
        Self::bad(
            "unsupported_response_type",
            700051,
            format!("response_type '{response_type}' is not enabled for the application."),
        )
    }

    pub fn login_required() -> Self {
        Self::bad(
            "login_required",
            50058,
            "A silent sign-in request was sent but no user is signed in.",
        )
    }

    pub fn select_account_required() -> Self {
        Self::bad(
            "interaction_required",
            16000,
            "Either multiple user identities are available for the current request or selected account is not supported for the scenario.",
        )
    }

    pub fn consent_required(client_id: &str, app_name: &str) -> Self {
        AadError {
            error: "consent_required",
            ..Self::not_consented(client_id, app_name)
        }
    }

    pub fn consent_declined() -> Self {
        Self::bad(
            "access_denied",
            65004,
            "User declined to consent to access the app.",
        )
    }

    pub fn wrong_password() -> Self {
        Self::bad(
            "invalid_grant",
            50126,
            "Error validating credentials due to invalid username or password.",
        )
    }

    pub fn unknown_user(user: &str, tenant: &str) -> Self {
        Self::bad(
            "invalid_grant",
            50034,
            format!(
                "The user account {user} does not exist in the {tenant} directory. To sign into this application, the account must be added to the directory."
            ),
        )
    }

    pub fn post_only() -> Self {
        Self::bad(
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests. Received a GET request.",
        )
    }

    pub fn sign_in_expired() -> Self {
        Self::bad(
            "invalid_request",
            50196,
            "The server terminated an operation because it encountered a client request loop or the sign-in request expired. Please start the sign-in again.",
        )
    }
}

/// A JSON body with the headers Entra ID sends on every token response.
pub fn json_response(status: StatusCode, json: String) -> Response {
    let mut response = (status, json).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
