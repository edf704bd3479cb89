//! The sign-in, account picker, consent, form_post and error pages. Plain HTML: no scripts,
//! no external resources, every shown value escaped, and each page says it is the sandbox,
//! so nobody mistakes it for Microsoft's real sign-in.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::errors::{AadError, Diagnostics};

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f2f2f2;margin:0}\
main{max-width:440px;margin:48px auto;background:#fff;padding:32px;box-shadow:0 2px 6px rgba(0,0,0,.2)}\
.banner{background:#8a2be2;color:#fff;padding:6px 12px;font-size:14px;text-align:center}\
label{display:block;margin-top:12px}input[type=text],input[type=email],input[type=password]{width:100%;padding:6px;box-sizing:border-box}\
button{margin-top:16px;padding:6px 20px}.error{color:#a80000}.account{display:block;width:100%;text-align:left}\
.details{font-size:12px;color:#555;word-break:break-all}";

/// Wraps a page body in the shared layout. `title` and `body` must already be escaped.
fn layout(status: StatusCode, title: &str, body: &str) -> Response {
    sandbox_page(status, title, STYLE, body)
}

/// A sandbox page: the banner that says it is not Microsoft, `style` inline, no scripts and
/// nothing from outside. `title` and `body` must already be escaped.
pub(in crate::sandbox) fn sandbox_page(
    status: StatusCode,
    title: &str,
    style: &str,
    body: &str,
) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"robots\" content=\"noindex\"><title>{title} · Mailport sandbox — not Microsoft</title>\
<style>{style}</style></head><body>\
<div class=\"banner\">Mailport sandbox — not Microsoft. Never enter real credentials here.</div>\
<main>{body}</main></body></html>"
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    // Belt and braces: the pages need nothing but their own inline style.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action *; frame-ancestors 'none'",
        ),
    );
    response
}

/// The page Entra ID shows when it cannot trust the redirect URI (or the tenant or client).
pub fn error_page(error: &AadError, diag: &Diagnostics) -> Response {
    let body = format!(
        "<h1>Sign in</h1><p>Sorry, but we're having trouble signing you in.</p>\
<p class=\"error\" id=\"error\">AADSTS{code}: {message}</p>\
<div class=\"details\"><p>Request Id: {trace}<br>Correlation Id: {correlation}<br>Timestamp: {ts}<br>\
Message: AADSTS{code}: {message}</p></div>",
        code = error.code,
        message = escape(&error.message),
        trace = escape(&diag.trace_id),
        correlation = escape(&diag.correlation_id),
        ts = escape(&diag.page_timestamp_text()),
    );
    layout(error.status, "Sign in", &body)
}

/// What the sign-in page needs to know.
pub struct SignInPage<'a> {
    pub action: &'a str,
    pub pending_id: &'a str,
    pub app_name: &'a str,
    pub login: &'a str,
    pub error: Option<(&'a AadError, &'a Diagnostics)>,
}

pub fn sign_in_page(page: &SignInPage<'_>) -> Response {
    let error = match page.error {
        Some((error, diag)) => format!(
            "<p class=\"error\" id=\"error\">AADSTS{}: {}</p><p class=\"details\">Trace ID: {}<br>Correlation ID: {}</p>",
            error.code,
            escape(&error.message),
            escape(&diag.trace_id),
            escape(&diag.correlation_id),
        ),
        None => String::new(),
    };
    let body = format!(
        "<h1>Sign in</h1><p>to continue to {app}</p>{error}\
<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"pending\" value=\"{pending}\">\
<input type=\"hidden\" name=\"action\" value=\"password\">\
<label for=\"login\">Email, phone, or Skype</label>\
<input type=\"email\" id=\"login\" name=\"login\" value=\"{login}\" autocomplete=\"username\" required>\
<label for=\"passwd\">Password</label>\
<input type=\"password\" id=\"passwd\" name=\"passwd\" autocomplete=\"current-password\">\
<button type=\"submit\">Sign in</button></form>",
        app = escape(page.app_name),
        action = escape(page.action),
        pending = escape(page.pending_id),
        login = escape(page.login),
    );
    layout(StatusCode::OK, "Sign in to your account", &body)
}

/// One account offered by the picker.
pub struct PickerAccount {
    pub user_id: String,
    pub upn: String,
    pub display_name: String,
}

pub fn account_picker(action: &str, pending_id: &str, accounts: &[PickerAccount]) -> Response {
    let mut items = String::new();
    for account in accounts {
        items.push_str(&format!(
            "<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"pending\" value=\"{pending}\">\
<input type=\"hidden\" name=\"action\" value=\"pick\">\
<input type=\"hidden\" name=\"account\" value=\"{id}\">\
<button type=\"submit\" class=\"account\">{name}<br><small>{upn}</small></button></form>",
            action = escape(action),
            pending = escape(pending_id),
            id = escape(&account.user_id),
            name = escape(&account.display_name),
            upn = escape(&account.upn),
        ));
    }
    let body = format!(
        "<h1>Pick an account</h1>{items}\
<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"pending\" value=\"{pending}\">\
<input type=\"hidden\" name=\"action\" value=\"another\">\
<button type=\"submit\" class=\"account\">Use another account</button></form>",
        action = escape(action),
        pending = escape(pending_id),
    );
    layout(StatusCode::OK, "Pick an account", &body)
}

/// What the consent page needs to know.
pub struct ConsentPage<'a> {
    pub action: &'a str,
    pub pending_id: &'a str,
    pub app_name: &'a str,
    pub user: &'a str,
    pub permissions: &'a [String],
}

pub fn consent_page(page: &ConsentPage<'_>) -> Response {
    let mut list = String::new();
    for permission in page.permissions {
        list.push_str(&format!(
            "<li class=\"permission\">{}</li>",
            escape(permission)
        ));
    }
    let body = format!(
        "<p>{user}</p><h1>Permissions requested</h1><p>{app} would like to:</p>\
<ul id=\"permissions\">{list}</ul>\
<p>Accepting these permissions means that you allow this app to use your data as specified in their terms of service and privacy statement.</p>\
<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"pending\" value=\"{pending}\">\
<button type=\"submit\" name=\"consent\" value=\"cancel\">Cancel</button> \
<button type=\"submit\" name=\"consent\" value=\"accept\">Accept</button></form>",
        user = escape(page.user),
        app = escape(page.app_name),
        action = escape(page.action),
        pending = escape(page.pending_id),
    );
    layout(StatusCode::OK, "Permissions requested", &body)
}

/// `response_mode=form_post`: the answer as a form the user submits (no script to do it).
pub fn form_post_page(redirect_uri: &str, params: &[(&str, String)]) -> Response {
    let mut fields = String::new();
    for (name, value) in params {
        fields.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        ));
    }
    let body = format!(
        "<h1>Continue</h1><p>Return to the application to finish signing in.</p>\
<form method=\"post\" action=\"{}\">{fields}<button type=\"submit\">Continue</button></form>",
        escape(redirect_uri)
    );
    layout(StatusCode::OK, "Working...", &body)
}
