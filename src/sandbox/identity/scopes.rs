//! Scope strings as Entra ID reads them: OpenID Connect scopes, Microsoft Graph permissions
//! in short (`Mail.ReadWrite`) or qualified (`https://graph.microsoft.com/Mail.ReadWrite`)
//! form, and `{resource}/.default`.

use crate::sandbox::world::AppConfig;

/// Microsoft Graph, the only resource the sandbox knows, by URI and by app id.
const GRAPH_PREFIXES: [&str; 2] = [
    "https://graph.microsoft.com/",
    "00000003-0000-0000-c000-000000000000/",
];

/// The scopes that only shape the sign-in, and need no permission on a resource.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// A normalised set of delegated scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantedScopes {
    /// OIDC scopes, lower case, in request order.
    pub oidc: Vec<String>,
    /// Graph delegated permissions, short names spelled as registered.
    pub resource: Vec<String>,
}

impl GrantedScopes {
    pub fn has(&self, oidc_scope: &str) -> bool {
        self.oidc.iter().any(|s| s == oidc_scope)
    }

    /// Everything a consent must cover (Graph permissions and OIDC scopes).
    pub fn all(&self) -> Vec<String> {
        self.resource
            .iter()
            .chain(self.oidc.iter())
            .cloned()
            .collect()
    }

    /// The `scope` of a token response. Like Entra ID, Graph permissions come back as short
    /// names, the OIDC scopes that shape tokens are listed, and `offline_access` is not.
    pub fn response_scope(&self) -> String {
        let oidc = self.oidc.iter().filter(|s| *s != "offline_access");
        self.resource
            .iter()
            .chain(oidc)
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// True when every scope of `other` is part of `self`.
    pub fn covers(&self, other: &GrantedScopes) -> bool {
        other
            .resource
            .iter()
            .all(|r| self.resource.iter().any(|s| s.eq_ignore_ascii_case(r)))
            && other.oidc.iter().all(|o| self.has(o))
    }
}

/// Why a scope string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError {
    Missing,
    /// AADSTS70011, naming the offending scope.
    Invalid(String),
    /// AADSTS500011: a resource the tenant does not know.
    UnknownResource(String),
}

/// Parses the `scope` of a delegated request (authorize, code or refresh grant) against the
/// app's registered delegated permissions.
pub fn parse_delegated(raw: &str, app: &AppConfig) -> Result<GrantedScopes, ScopeError> {
    let mut scopes = GrantedScopes::default();
    let mut saw_default = false;
    let mut saw_explicit = false;
    for token in raw.split_whitespace() {
        let lower = token.to_ascii_lowercase();
        if OIDC_SCOPES.contains(&lower.as_str()) {
            push_unique(&mut scopes.oidc, lower);
            continue;
        }
        let short = graph_permission(token)?;
        if short == ".default" {
            // Static consent: everything the registration lists.
            saw_default = true;
            for permission in &app.delegated_permissions {
                push_unique(&mut scopes.resource, permission.clone());
            }
            continue;
        }
        saw_explicit = true;
        let registered = app
            .delegated_permissions
            .iter()
            .find(|p| p.eq_ignore_ascii_case(short))
            .ok_or_else(|| ScopeError::Invalid(token.to_owned()))?;
        push_unique(&mut scopes.resource, registered.clone());
    }
    if saw_default && saw_explicit {
        // `.default` cannot be combined with explicit permissions of the same resource.
        return Err(ScopeError::Invalid(raw.trim().to_owned()));
    }
    if scopes.oidc.is_empty() && scopes.resource.is_empty() {
        return Err(ScopeError::Missing);
    }
    Ok(scopes)
}

/// Checks the `scope` of a client credentials request: exactly one `{resource}/.default`.
pub fn check_client_credentials(raw: &str) -> Result<(), ScopeError> {
    let tokens: Vec<&str> = raw.split_whitespace().collect();
    let [only] = tokens.as_slice() else {
        return if tokens.is_empty() {
            Err(ScopeError::Missing)
        } else {
            Err(ScopeError::Invalid(raw.trim().to_owned()))
        };
    };
    if !only.ends_with("/.default") {
        return Err(ScopeError::Invalid((*only).to_owned()));
    }
    match graph_permission(only) {
        Ok(".default") => Ok(()),
        Ok(_) => Err(ScopeError::Invalid((*only).to_owned())),
        Err(e) => Err(e),
    }
}

/// The short name of a Graph permission, or an error for another resource.
fn graph_permission(token: &str) -> Result<&str, ScopeError> {
    for prefix in GRAPH_PREFIXES {
        if token.len() > prefix.len()
            && token.is_char_boundary(prefix.len())
            && token[..prefix.len()].eq_ignore_ascii_case(prefix)
        {
            return Ok(&token[prefix.len()..]);
        }
    }
    if token.contains('/') {
        let resource = token.rsplit_once('/').map_or(token, |(r, _)| r);
        return Err(ScopeError::UnknownResource(resource.to_owned()));
    }
    Ok(token)
}

fn push_unique(list: &mut Vec<String>, value: String) {
    if !list.iter().any(|v| v.eq_ignore_ascii_case(&value)) {
        list.push(value);
    }
}
