//! What every page's frame needs: who is signed in, the CSRF token for forms (such as
//! sign out), the flash message, and whether this is the demo's sandbox data.

use super::session::{AppSession, Flash};
use crate::error::AppError;

tokio::task_local! {
    /// Set for the duration of each request by [`mark_demo`]: whether the app runs as
    /// `mailport demo`. A task-local spares every handler from passing the config along
    /// just to draw a banner.
    static DEMO: bool;
}

pub struct Layout {
    pub user: Option<String>,
    pub csrf: String,
    pub flash: Option<Flash>,
    /// The navigation entry to highlight.
    pub nav: &'static str,
    /// Draws the "sandbox data" banner.
    pub demo: bool,
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
            demo: DEMO.try_with(|d| *d).unwrap_or(false),
        })
    }
}

impl Layout {
    /// The frame of a page shown before sign-in (sign-in, first-run setup). It does not
    /// touch the session, so the visit stores nothing; `form_token` is the signed
    /// pre-session token for the page's form (`web::form_token`).
    pub fn anonymous(form_token: String) -> Self {
        Layout {
            user: None,
            csrf: form_token,
            flash: None,
            nav: "",
            demo: DEMO.try_with(|d| *d).unwrap_or(false),
        }
    }
}

/// Middleware: runs the rest of the request with the demo flag in scope.
pub async fn mark_demo(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    DEMO.scope(state.config.demo, next.run(request)).await
}
