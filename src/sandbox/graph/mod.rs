//! The Microsoft Graph mail half of the sandbox: `/v1.0/users/{u}/mailFolders/...`.

use axum::Router;

use super::world::World;

#[derive(Clone)]
pub struct GraphState {
    pub world: World,
}

impl GraphState {
    pub fn new(world: World) -> Self {
        GraphState { world }
    }
}

pub fn router(state: GraphState) -> Router {
    let _ = state;
    Router::new()
}
