//! The Entra ID half of the sandbox: `/{tenant}/oauth2/v2.0/authorize` and `/token`.

use axum::Router;

use super::world::World;

pub fn router(world: World) -> Router {
    let _ = world;
    Router::new()
}
