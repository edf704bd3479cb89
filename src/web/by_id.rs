//! Extractors that load the record a screen's URL names by its `{id}`: a handler asks for
//! `ById<Credential>`, `ById<Account>` or `ById<Endpoint>` and gets the stored row, or the
//! visitor gets the 404 page and the handler never runs.

use std::collections::HashMap;

use axum::extract::{FromRef, FromRequestParts, Path};
use axum::http::request::Parts;

use super::form::valid_id;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::Db;
use crate::store::accounts::{self, Account};
use crate::store::credentials::{self, Credential};
use crate::store::webhooks::{self, Endpoint};

/// A record a URL can name by its id.
pub trait Stored: Sized {
    /// The row with this id, if there is one.
    fn get(db: &Db, id: &str) -> impl Future<Output = sqlx::Result<Option<Self>>> + Send;
}

impl Stored for Credential {
    async fn get(db: &Db, id: &str) -> sqlx::Result<Option<Self>> {
        credentials::get(db, id).await
    }
}

impl Stored for Account {
    async fn get(db: &Db, id: &str) -> sqlx::Result<Option<Self>> {
        accounts::get(db, id).await
    }
}

impl Stored for Endpoint {
    async fn get(db: &Db, id: &str) -> sqlx::Result<Option<Self>> {
        webhooks::get(db, id).await
    }
}

/// The record the route's `{id}` names: a credential, an e-mail account or a webhook
/// endpoint. An id no form would accept, or one without a row, is the 404 page.
pub struct ById<T>(pub T);

impl<S, T> FromRequestParts<S> for ById<T>
where
    S: Send + Sync,
    AppState: FromRef<S>,
    T: Stored,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(mut params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::NotFound)?;
        let id = params.remove("id").ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "a route without {{id}} asks for a record by id"
            ))
        })?;
        // Not an id any form accepts: no need to ask the database.
        if !valid_id(&id) {
            return Err(AppError::NotFound);
        }
        let db = AppState::from_ref(state).db;
        T::get(&db, &id).await?.map(ById).ok_or(AppError::NotFound)
    }
}
