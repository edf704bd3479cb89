//! What every page's frame needs: who is signed in, the CSRF token for forms (such as
//! sign out) and the flash message.

use super::session::{AppSession, Flash};
use crate::error::AppError;

pub struct Layout {
    pub user: Option<String>,
    pub csrf: String,
    pub flash: Option<Flash>,
    /// The navigation entry to highlight.
    pub nav: &'static str,
}

impl Layout {
    pub async fn new(
        session: &AppSession,
        user: Option<String>,
        nav: &'static str,
    ) -> Result<Self, AppError> {
        Ok(Layout {
            user,
            csrf: session.csrf_token().await?,
            flash: session.take_flash().await?,
            nav,
        })
    }
}
