//! The OAuth2 client side: talking to the token endpoint (`client`), understanding Entra ID
//! errors (`error`), and the token service the importer calls (`token_service`).

pub mod client;
pub mod credential;
pub mod error;
pub mod id_token;
pub mod token_service;

pub use client::HttpSettings;
pub use error::{AadErrorResponse, TokenFailure};
pub use token_service::TokenService;
