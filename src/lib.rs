//! Mailport connects an organisation's Exchange Online mailboxes to its business
//! application over OAuth2 and Microsoft Graph, and imports their mail reliably.

pub mod sandbox;
