//! What every page's frame needs: who is signed in, the CSRF token for forms (such as
//! sign out), the flash message, the navigation entry to highlight, and whether this is the
//! demo's sandbox data. Signed-in screens get it through the [`Frame`] extractor.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;

use super::form::Validation;
use super::session::{AppSession, CurrentUser, Flash, FlashKind};
use crate::error::AppError;
use crate::state::AppState;

/// The entries of the signed-in navigation, in their order on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Credentials,
    Accounts,
    Mail,
    Webhooks,
    Settings,
}

impl Nav {
    pub const ALL: [Nav; 5] = [
        Nav::Credentials,
        Nav::Accounts,
        Nav::Mail,
        Nav::Webhooks,
        Nav::Settings,
    ];

    /// Where the entry leads.
    pub fn href(self) -> &'static str {
        match self {
            Nav::Credentials => "/credentials",
            Nav::Accounts => "/accounts",
            Nav::Mail => "/mail",
            Nav::Webhooks => "/webhooks",
            Nav::Settings => "/settings",
        }
    }

    /// The entry's text.
    pub fn label(self) -> &'static str {
        match self {
            Nav::Credentials => "Credentials",
            Nav::Accounts => "Email server accounts",
            Nav::Mail => "Imported mail",
            Nav::Webhooks => "Webhooks",
            Nav::Settings => "Settings",
        }
    }

    /// The icon class suffix (`icon-…` in `static/app.css`, drawn from `static/icons/`).
    pub fn icon(self) -> &'static str {
        match self {
            Nav::Credentials => "key",
            Nav::Accounts => "account",
            Nav::Mail => "inbox",
            Nav::Webhooks => "webhooks",
            Nav::Settings => "settings",
        }
    }
}

pub struct Layout {
    pub user: Option<String>,
    pub csrf: String,
    pub flash: Option<Flash>,
    /// The navigation entry to highlight; None before sign-in.
    pub nav: Option<Nav>,
    /// Draws the "sandbox data" banner.
    pub demo: bool,
}

impl Layout {
    /// The navigation entries, for the signed-in layout.
    pub fn nav_items(&self) -> [Nav; 5] {
        Nav::ALL
    }

    /// Whether `item` is the page's own entry.
    pub fn is_current(&self, item: &Nav) -> bool {
        self.nav == Some(*item)
    }

    /// The frame of a page shown before sign-in (sign-in, first-run setup). It does not
    /// touch the session, so the visit stores nothing; `form_token` is the signed
    /// pre-session token for the page's form (`web::form_token`).
    pub fn anonymous(form_token: String, demo: bool) -> Self {
        Layout {
            user: None,
            csrf: form_token,
            flash: None,
            nav: None,
            demo,
        }
    }
}

/// What a signed-in screen handler starts from: the administrator (put there by
/// `auth::require_admin`), the session, and the demo flag from the configuration.
/// [`Frame::layout`] then makes the page's frame; it takes the flash message, so it is
/// called when the page is drawn, after the handler did its work.
pub struct Frame {
    pub user: CurrentUser,
    pub session: AppSession,
    demo: bool,
}

impl Frame {
    /// The signed-in frame with `nav` highlighted.
    pub async fn layout(&self, nav: Nav) -> Result<Layout, AppError> {
        Ok(Layout {
            user: Some(self.user.username.clone()),
            csrf: self.session.csrf_token().await?,
            flash: self.session.take_flash().await?,
            nav: Some(nav),
            demo: self.demo,
        })
    }

    /// After a save: `text` for the next page, with the form's warnings (which did not
    /// block the save) appended as a note.
    pub async fn flash_saved(&self, v: &Validation, text: &str) -> Result<(), AppError> {
        if v.warnings.is_empty() {
            self.session.flash(FlashKind::Ok, text).await
        } else {
            let note = format!("{text} Note: {}", v.warnings.join(" "));
            self.session.flash(FlashKind::Warn, note).await
        }
    }
}

impl<S> FromRequestParts<S> for Frame
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!(
                    "a signed-in screen is routed without auth::require_admin"
                ))
            })?;
        let session = AppSession::from_request_parts(parts, state).await?;
        let demo = AppState::from_ref(state).config.demo;
        Ok(Frame {
            user,
            session,
            demo,
        })
    }
}
