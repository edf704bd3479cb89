//! The web layer's state: the application's services plus what only the web needs (the
//! sign-in limiter). Handlers take the part they need through axum's `FromRef`, as in axum's
//! `examples/oauth`: `State<AppState>` for the services, `State<LoginLimiter>` for the limiter.

use axum::extract::FromRef;

use super::login_limit::LoginLimiter;
use crate::state::AppState;

/// The router's state. Cheap to clone.
#[derive(Clone)]
pub struct WebState {
    pub app: AppState,
    /// Failed sign-ins and API keys per user and address, counted in the shared database.
    pub login_limiter: LoginLimiter,
}

impl WebState {
    /// The web state over `app`, its sign-in limiter on `app`'s database.
    pub fn new(app: AppState) -> Self {
        WebState {
            login_limiter: LoginLimiter::new(app.db.clone()),
            app,
        }
    }
}

impl FromRef<WebState> for AppState {
    fn from_ref(state: &WebState) -> Self {
        state.app.clone()
    }
}

impl FromRef<WebState> for LoginLimiter {
    fn from_ref(state: &WebState) -> Self {
        state.login_limiter.clone()
    }
}
