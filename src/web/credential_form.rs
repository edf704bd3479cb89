//! The credential form: what was typed, its validation, and the Microsoft Entra ID helper
//! that fills in the endpoint URLs and scope from a tenant id.

use serde::Deserialize;

use super::form::{Validation, valid_id};
use crate::oauth::credential::{ClientAuth, GrantType};
use crate::outbound::{HostPolicy, Use, origin_of};
use crate::store::credentials::CredentialSettings;

/// The form as posted. Every field defaults to empty so that a missing field becomes a
/// validation message, not a 422 from the extractor.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(default)]
pub struct CredentialForm {
    pub id: String,
    pub description: String,
    pub grant_type: String,
    pub authorization_url: String,
    pub access_token_url: String,
    pub client_id: String,
    pub client_secret: crate::crypto::Secret,
    pub scope: String,
    pub client_auth: String,
    /// Entra ID helper: tenant GUID or domain.
    pub tenant: String,
    /// Entra ID helper: `global`, `usgov`, `dod`, `china` or `custom`.
    pub cloud: String,
    /// Entra ID helper with cloud `custom`: the sign-in host's base URL (e.g. the sandbox).
    pub authority: String,
    /// `save` (default) or `fill` (run the helper, save nothing).
    pub action: String,
    /// A checkbox: forget the tenant the credential's sign-ins are pinned to.
    pub forget_tenant_pin: Option<String>,
}

impl CredentialForm {
    pub fn from_settings(s: &CredentialSettings) -> Self {
        CredentialForm {
            id: s.id.clone(),
            description: s.description.clone(),
            grant_type: s.grant_type.as_str().into(),
            authorization_url: s.authorization_url.clone(),
            access_token_url: s.access_token_url.clone(),
            client_id: s.client_id.clone(),
            scope: s.scope.clone(),
            client_auth: s.client_auth.as_str().into(),
            cloud: "global".into(),
            ..Default::default()
        }
    }
}

const MAX_URL: usize = 2048;
const MAX_TEXT: usize = 1024;

/// Checks the form. `existing` is the stored credential on update (its id cannot change
/// then). URLs must pass the outbound host policy `hosts`. A client secret is required on
/// create, and on update when the access token URL moves to another origin (scheme, host or
/// port): the stored secret is never sent to a host it was not entered for.
pub fn validate(
    form: &CredentialForm,
    existing: Option<&CredentialSettings>,
    hosts: &HostPolicy,
) -> Result<(CredentialSettings, Validation), Validation> {
    let mut v = Validation::default();
    let id = existing
        .map(|e| e.id.clone())
        .unwrap_or_else(|| form.id.trim().to_string());
    if !valid_id(&id) {
        v.add(
            "id",
            "Use 1 to 64 characters: letters, digits, '-', '_' and '.'.",
        );
    }
    let description = form.description.trim().to_string();
    if description.chars().count() > 200 {
        v.add("description", "Use at most 200 characters.");
    }
    let grant_type = GrantType::parse(&form.grant_type);
    if grant_type.is_none() {
        v.add(
            "grant_type",
            "Choose Authorization code or Client credentials.",
        );
    }
    let authorization_url = form.authorization_url.trim().to_string();
    if grant_type == Some(GrantType::AuthorizationCode) || !authorization_url.is_empty() {
        if authorization_url.is_empty() {
            v.add(
                "authorization_url",
                "The authorization code grant needs the authorization URL.",
            );
        } else {
            check_url(&mut v, "authorization_url", &authorization_url, hosts);
        }
    }
    let access_token_url = form.access_token_url.trim().to_string();
    if access_token_url.is_empty() {
        v.add("access_token_url", "Enter the token URL.");
    } else {
        check_url(&mut v, "access_token_url", &access_token_url, hosts);
    }
    let client_id = form.client_id.trim().to_string();
    if client_id.is_empty() {
        v.add(
            "client_id",
            "Enter the Application (client) ID from the app registration.",
        );
    } else if client_id.len() > 256 || client_id.chars().any(char::is_control) {
        v.add("client_id", "This is not a client id.");
    }
    let origin_changed =
        existing.is_some_and(|e| origin_of(&e.access_token_url) != origin_of(&access_token_url));
    let secret_required = existing.is_none() || origin_changed;
    let secret = form.client_secret.expose();
    if origin_changed && secret.trim().is_empty() {
        v.add(
            "client_secret",
            "The access token URL now points at another host, so the stored secret was not kept: \
             Mailport never sends a secret to a host it was not entered for. Enter the client secret again.",
        );
    } else if secret_required && secret.trim().is_empty() {
        v.add(
            "client_secret",
            "Enter the client secret's Value (shown once in Entra ID under Certificates & secrets).",
        );
    } else if secret.len() > MAX_TEXT || secret.chars().any(char::is_control) {
        v.add("client_secret", "This is not a client secret.");
    }
    let scope = form.scope.split_whitespace().collect::<Vec<_>>().join(" ");
    check_scope(&mut v, grant_type, &scope);
    let client_auth = ClientAuth::parse(&form.client_auth);
    if client_auth.is_none() {
        v.add("client_auth", "Choose client_secret_post or HTTP Basic.");
    }
    match (grant_type, client_auth) {
        (Some(grant_type), Some(client_auth)) if v.errors.is_empty() => Ok((
            CredentialSettings {
                id,
                description,
                grant_type,
                authorization_url,
                access_token_url,
                client_id,
                scope,
                client_auth,
            },
            v,
        )),
        _ => Err(v),
    }
}

fn check_scope(v: &mut Validation, grant_type: Option<GrantType>, scope: &str) {
    if scope.is_empty() {
        v.add("scope", "Enter the scope.");
        return;
    }
    if scope.len() > MAX_TEXT || scope.chars().any(char::is_control) {
        v.add("scope", "This is not a scope.");
        return;
    }
    let single_default = scope.split(' ').count() == 1 && scope.ends_with("/.default");
    let has_offline = scope.split(' ').any(|s| s == "offline_access");
    match grant_type {
        Some(GrantType::ClientCredentials) if !single_default => v.add(
            "scope",
            "Client credentials takes exactly one scope of the form {resource}/.default, \
             for example https://graph.microsoft.com/.default.",
        ),
        Some(GrantType::AuthorizationCode) if !has_offline => v.warnings.push(
            "The scope has no offline_access: Microsoft then sends no refresh token, \
             and the credential stops working when its access token expires (about an hour)."
                .into(),
        ),
        _ => {}
    }
}

/// Absolute http(s) URLs that the outbound host policy allows for signing in: Microsoft's
/// sign-in hosts, or hosts the server's `--allow-host` setting names.
pub fn check_url(v: &mut Validation, field: &'static str, raw: &str, hosts: &HostPolicy) {
    if raw.len() > MAX_URL {
        v.add(field, "This URL is too long.");
        return;
    }
    if url::Url::parse(raw).is_err() {
        v.add(field, "Enter an absolute URL starting with https://.");
        return;
    }
    if let Err(refused) = hosts.check(raw, Use::SignIn) {
        v.add(
            field,
            format!("Not allowed: {refused}. Nothing was sent to it."),
        );
    }
}

/// A Microsoft cloud: where users sign in and where Graph lives.
pub struct Cloud {
    pub key: &'static str,
    pub label: &'static str,
    pub login_host: &'static str,
    pub graph_resource: &'static str,
}

pub const CLOUDS: &[Cloud] = &[
    Cloud {
        key: "global",
        label: "Global (login.microsoftonline.com)",
        login_host: "login.microsoftonline.com",
        graph_resource: "https://graph.microsoft.com",
    },
    Cloud {
        key: "usgov",
        label: "US Government GCC High (login.microsoftonline.us)",
        login_host: "login.microsoftonline.us",
        graph_resource: "https://graph.microsoft.us",
    },
    Cloud {
        key: "dod",
        label: "US DoD (login.microsoftonline.us, dod-graph)",
        login_host: "login.microsoftonline.us",
        graph_resource: "https://dod-graph.microsoft.us",
    },
    Cloud {
        key: "china",
        label: "China, 21Vianet (login.chinacloudapi.cn)",
        login_host: "login.chinacloudapi.cn",
        graph_resource: "https://microsoftgraph.chinacloudapi.cn",
    },
];

/// Tenant ids are GUIDs, verified domains, or `common`/`organizations`.
fn valid_tenant(t: &str) -> bool {
    (1..=255).contains(&t.len())
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        && !t.starts_with('.')
        && !t.contains("..")
}

/// Runs the Entra ID helper on the form: fills the URLs and the scope for its grant type.
/// Returns field errors when the helper's own inputs are wrong.
pub fn fill_from_entra(form: &mut CredentialForm, hosts: &HostPolicy) -> Validation {
    let mut v = Validation::default();
    let tenant = form.tenant.trim().to_string();
    if !valid_tenant(&tenant) {
        v.add(
            "tenant",
            "Enter the Directory (tenant) ID, a GUID, or a verified domain such as contoso.com.",
        );
    }
    let (base, resource) = if form.cloud == "custom" {
        let authority = form.authority.trim().trim_end_matches('/').to_string();
        let mut probe = Validation::default();
        check_url(&mut probe, "authority", &authority, hosts);
        if let Some(msg) = probe.errors.remove("authority") {
            v.add("authority", msg);
        }
        (authority, CLOUDS[0].graph_resource)
    } else {
        let cloud = CLOUDS
            .iter()
            .find(|c| c.key == form.cloud)
            .unwrap_or(&CLOUDS[0]);
        (
            format!("https://{}", cloud.login_host),
            cloud.graph_resource,
        )
    };
    if !v.errors.is_empty() {
        return v;
    }
    form.authorization_url = format!("{base}/{tenant}/oauth2/v2.0/authorize?prompt=select_account");
    form.access_token_url = format!("{base}/{tenant}/oauth2/v2.0/token");
    let grant = GrantType::parse(&form.grant_type).unwrap_or(GrantType::AuthorizationCode);
    form.grant_type = grant.as_str().into();
    form.scope = match grant {
        GrantType::ClientCredentials => format!("{resource}/.default"),
        // Short names resolve to the global Graph; other clouds need qualified scopes.
        GrantType::AuthorizationCode if resource == CLOUDS[0].graph_resource => {
            "Mail.ReadWrite offline_access".into()
        }
        GrantType::AuthorizationCode => format!("{resource}/Mail.ReadWrite offline_access"),
    };
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> CredentialForm {
        CredentialForm {
            id: "graph-app".into(),
            grant_type: "client_credentials".into(),
            access_token_url: "https://login.microsoftonline.com/t/oauth2/v2.0/token".into(),
            client_id: "abc".into(),
            client_secret: crate::crypto::Secret::new("s".into()),
            scope: "https://graph.microsoft.com/.default".into(),
            ..Default::default()
        }
    }

    #[test]
    fn accepts_a_good_form_and_rejects_bad_urls() {
        let hosts = HostPolicy::new(vec!["127.0.0.1:9".parse().unwrap()]);
        assert!(validate(&form(), None, &hosts).is_ok());
        for bad in [
            "javascript:alert(1)",
            "ftp://x/y",
            "http://example.com/t",
            "https://example.com/t",
            "https://169.254.169.254/t",
            "http://127.0.0.1:10/t",
            "/relative",
            "https://u:p@h/x",
        ] {
            let mut f = form();
            f.access_token_url = bad.into();
            let v = validate(&f, None, &hosts).unwrap_err();
            assert!(v.error("access_token_url").is_some(), "{bad}");
        }
        let mut f = form();
        f.access_token_url = "http://127.0.0.1:9/t/oauth2/v2.0/token".into();
        assert!(validate(&f, None, &hosts).is_ok());
    }

    #[test]
    fn a_new_token_origin_needs_the_secret_again() {
        let hosts = HostPolicy::new(vec!["127.0.0.1".parse().unwrap()]);
        let (stored, _) = validate(&form(), None, &hosts).unwrap();
        let mut f = form();
        f.client_secret = Default::default();
        assert!(validate(&f, Some(&stored), &hosts).is_ok(), "same origin");
        f.access_token_url = "https://login.microsoftonline.com/other/oauth2/v2.0/token".into();
        assert!(validate(&f, Some(&stored), &hosts).is_ok(), "same origin");
        f.access_token_url = "http://127.0.0.1:9/t/oauth2/v2.0/token".into();
        let v = validate(&f, Some(&stored), &hosts).unwrap_err();
        assert!(v.error("client_secret").is_some());
        f.client_secret = crate::crypto::Secret::new("new".into());
        assert!(validate(&f, Some(&stored), &hosts).is_ok());
    }

    #[test]
    fn helper_fills_urls_and_scope() {
        let mut f = CredentialForm {
            tenant: "contoso.onmicrosoft.com".into(),
            grant_type: "authorization_code".into(),
            cloud: "global".into(),
            ..Default::default()
        };
        let hosts = HostPolicy::default();
        assert!(fill_from_entra(&mut f, &hosts).errors.is_empty());
        assert_eq!(
            f.authorization_url,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize?prompt=select_account"
        );
        assert_eq!(f.scope, "Mail.ReadWrite offline_access");
        f.grant_type = "client_credentials".into();
        f.cloud = "usgov".into();
        fill_from_entra(&mut f, &hosts);
        assert_eq!(f.scope, "https://graph.microsoft.us/.default");
        f.tenant = "../evil".into();
        assert!(fill_from_entra(&mut f, &hosts).error("tenant").is_some());
    }
}
