//! The sandbox's front page (`GET /`): what it is, its tenants, apps and users, the
//! endpoints to point Mailport at, and links to the test controls. Plain HTML, every value
//! escaped, nothing loaded from outside.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::Sandbox;
use super::identity::pages::{escape, sandbox_page};
use super::world::DEMO_PASSWORD;

pub fn router(sandbox: Sandbox) -> Router {
    Router::new().route("/", get(page)).with_state(sandbox)
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f2f2f2;margin:0;color:#1d2330}\
main{max-width:900px;margin:24px auto;background:#fff;padding:24px 32px;box-shadow:0 2px 6px rgba(0,0,0,.2)}\
.banner{background:#8a2be2;color:#fff;padding:6px 12px;font-size:14px;text-align:center}\
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #ddd;vertical-align:top}\
code{background:#eef0f3;padding:0 3px;border-radius:3px;word-break:break-all}h2{margin-top:1.6rem}";

async fn page(State(sandbox): State<Sandbox>) -> Response {
    let config = sandbox.world.lock().config.clone();
    let mut body = String::from(
        "<h1>Mailport sandbox</h1>\
         <p>An offline emulator of Microsoft Entra ID (sign-in, consent, token endpoint) and of \
         the Microsoft Graph mail API, for Mailport's tests, benchmarks and <code>mailport demo</code>. \
         It follows Microsoft's documented behaviour, errors included. Nothing here is Microsoft, \
         and nothing leaves this machine.</p>",
    );
    for tenant in &config.tenants {
        let name = tenant
            .domains
            .first()
            .cloned()
            .unwrap_or_else(|| tenant.id.clone());
        body.push_str(&format!(
            "<h2>Tenant {}</h2><p>Tenant id <code>{}</code>{}.</p>",
            escape(&tenant.display_name),
            escape(&tenant.id),
            if tenant.domains.is_empty() {
                String::new()
            } else {
                format!(
                    ", domains {}",
                    tenant
                        .domains
                        .iter()
                        .map(|d| format!("<code>{}</code>", escape(d)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ));
        body.push_str(&format!(
            "<table><tr><th scope=\"row\">Authorization URL</th><td><code>/{t}/oauth2/v2.0/authorize</code></td></tr>\
             <tr><th scope=\"row\">Access token URL</th><td><code>/{t}/oauth2/v2.0/token</code></td></tr>\
             <tr><th scope=\"row\">Microsoft Graph URL</th><td><code>/v1.0</code></td></tr></table>\
             <p>In Mailport, the Entra ID helper fills these in with the cloud \
             \u{201c}Other sign-in host\u{201d} (this sandbox's address) and the tenant \
             <code>{t}</code>.</p>",
            t = escape(&name)
        ));
        body.push_str("<h3>App registrations</h3><table><tr><th>Name</th><th>Client id</th><th>Permissions</th><th>Redirect URIs</th></tr>");
        for app in &tenant.apps {
            body.push_str(&format!(
                "<tr><td>{}</td><td><code>{}</code></td><td>Application: {}<br>Delegated: {}</td><td>{}</td></tr>",
                escape(&app.display_name),
                escape(&app.client_id),
                escape(&app.application_permissions.join(", ")),
                escape(&app.delegated_permissions.join(", ")),
                app.redirect_uris
                    .iter()
                    .map(|u| format!("<code>{}</code>", escape(u)))
                    .collect::<Vec<_>>()
                    .join("<br>")
            ));
        }
        body.push_str("</table><h3>Users</h3><table><tr><th>User</th><th>Name</th><th>Password</th><th>Mailbox</th></tr>");
        for user in &tenant.users {
            let password = if user.password == DEMO_PASSWORD {
                format!("<code>{}</code>", escape(DEMO_PASSWORD))
            } else {
                "as in the sandbox's config file".to_string()
            };
            let upn = escape(&user.user_principal_name);
            body.push_str(&format!(
                "<tr><td><code>{upn}</code></td><td>{}</td><td>{password}</td>\
                 <td><a href=\"/_sandbox/graph/mailboxes/{upn}/folders\">folders</a>, \
                 <a href=\"/_sandbox/graph/mailboxes/{upn}/folders/inbox/messages\">inbox</a>, \
                 <a href=\"/_sandbox/graph/mailboxes/{upn}/settings\">settings</a></td></tr>",
                escape(&user.display_name),
            ));
        }
        body.push_str("</table>");
    }
    body.push_str(
        "<h2>Test controls</h2><p>JSON endpoints for tests and experiments; README's section \
         \u{201c}The sandbox\u{201d} describes each.</p><ul>\
         <li><a href=\"/_sandbox/identity/token-log\">Token request log</a> and \
         <a href=\"/_sandbox/identity/consents\">consents</a></li>\
         <li><a href=\"/_sandbox/identity/faults\">Token endpoint faults</a> \
         (<code>POST</code> <code>{\"kind\":\"status\",\"status\":503,\"count\":3}</code> to queue)</li>\
         <li><code>POST /_sandbox/identity/users/{user}/revoke</code> revokes a user's refresh tokens; \
         <code>POST /_sandbox/identity/apps/{client_id}/secrets/expire</code> expires a secret</li>\
         <li><a href=\"/_sandbox/graph/log\">Graph request log</a>, \
         <a href=\"/_sandbox/graph/faults\">Graph faults</a> and \
         <a href=\"/_sandbox/graph/storm\">fault storm</a></li>\
         <li><code>POST /_sandbox/graph/mailboxes/{user}/folders/inbox/generate</code> with \
         <code>{\"count\":5,\"attachments\":1}</code> adds mail; <code>\u{2026}/eml</code> takes raw \
         <code>.eml</code> bytes</li>\
         <li>Webhook receiver: <code>POST /_sandbox/receiver/{name}</code> takes signed \
         deliveries (<code>PUT</code> sets its secrets), \
         <a href=\"/_sandbox/receiver/demo/deliveries\">the demo's deliveries</a>, \
         <code>\u{2026}/faults</code> queues failures</li></ul>",
    );
    sandbox_page(StatusCode::OK, "Front page", STYLE, &body)
}
