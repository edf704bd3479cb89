//! The Graph sandbox, driven directly over HTTP.
