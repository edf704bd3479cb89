//! Pages that are responses: a screen's askama template struct, declared with
//! [`html_page!`], is returned from its handler as it is. A template that fails to render
//! becomes [`AppError`]'s error page (and a log line), never a panic or half a page.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};

use crate::error::AppError;

/// The response for a rendered page: 200 with the HTML, or the error page.
pub fn respond<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(body) => Html(body).into_response(),
        Err(e) => AppError::from(e).into_response(),
    }
}

/// `html_page!(ListPage, FormPage)`: makes each template struct an axum response.
macro_rules! html_page {
    ($($page:ty),+ $(,)?) => {
        $(
            impl axum::response::IntoResponse for $page {
                fn into_response(self) -> axum::response::Response {
                    $crate::web::page::respond(&self)
                }
            }
        )+
    };
}

pub(crate) use html_page;
