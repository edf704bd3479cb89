//! The Entra ID sandbox, driven directly over HTTP.
