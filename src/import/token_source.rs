//! Hands the Graph client access tokens from the token service, for one credential.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use crate::graph::{GraphError, GraphErrorKind, TokenSource};
use crate::oauth::token_service::AccessToken;
use crate::oauth::{TokenFailure, TokenService};

pub struct CredentialTokens {
    service: TokenService,
    credential_id: String,
    /// The token handed out last: reused while fresh, so a run does not read and decrypt
    /// the credential for every Graph request, and compared after a 401 so that a refresh
    /// happens only if nobody refreshed meanwhile.
    last: Mutex<Option<AccessToken>>,
}

impl CredentialTokens {
    /// `first`: a token the caller already holds (from the credential check), used while
    /// fresh so that the first request does not read the credential again.
    pub fn new(service: TokenService, credential_id: String, first: Option<AccessToken>) -> Self {
        CredentialTokens {
            service,
            credential_id,
            last: Mutex::new(first),
        }
    }
}

/// A token failure as the Graph client reports it.
pub fn token_error(e: &TokenFailure) -> GraphError {
    let r = e.recorded();
    GraphError {
        kind: GraphErrorKind::Unauthorized,
        status: None,
        code: r.code.clone().or_else(|| Some("token".into())),
        message: format!("no access token: {e}"),
        request_id: None,
    }
}

impl TokenSource for CredentialTokens {
    fn token(
        &self,
        force_refresh: bool,
    ) -> Pin<Box<dyn Future<Output = Result<String, GraphError>> + Send + '_>> {
        Box::pin(async move {
            let last = self.last.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let result = match (force_refresh, last) {
                (false, Some(token)) if token.is_fresh() => Ok(token),
                (true, Some(rejected)) => {
                    self.service
                        .refresh_after_rejection(&self.credential_id, rejected.secret.expose())
                        .await
                }
                _ => self.service.fresh_token(&self.credential_id).await,
            };
            let token = result.map_err(|e| token_error(&e))?;
            let value = token.secret.expose().to_string();
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(token);
            Ok(value)
        })
    }
}
