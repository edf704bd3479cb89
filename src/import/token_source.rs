//! Hands the Graph client access tokens from the token service, for one credential.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use crate::graph::{GraphError, GraphErrorKind, TokenSource};
use crate::oauth::{TokenFailure, TokenService};

pub struct CredentialTokens {
    service: TokenService,
    credential_id: String,
    /// The last token handed out, so a 401 refreshes only if nobody did meanwhile.
    last: Mutex<Option<String>>,
}

impl CredentialTokens {
    pub fn new(service: TokenService, credential_id: String) -> Self {
        CredentialTokens {
            service,
            credential_id,
            last: Mutex::new(None),
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
                (true, Some(rejected)) => {
                    self.service
                        .refresh_after_rejection(&self.credential_id, &rejected)
                        .await
                }
                _ => self.service.access_token(&self.credential_id).await,
            };
            let token = result.map_err(|e| token_error(&e))?;
            let value = token.expose().to_string();
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(value.clone());
            Ok(value)
        })
    }
}
