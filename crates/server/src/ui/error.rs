//! `UiError`: what a page answers when it cannot be shown: a small HTML page
//! saying why in plain words, with the matching status; or, for a browser
//! that is not signed in, a redirect to the sign-in page that comes back.

use super::layout;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use cohort_engine::EngineError;

#[derive(Debug)]
pub enum UiError {
    /// Not signed in (or the session expired): go to the sign-in page, then
    /// back to `next`.
    SignIn { next: String },
    Page {
        status: StatusCode,
        title: &'static str,
        message: String,
    },
}

impl UiError {
    pub fn not_found(what: &str) -> UiError {
        UiError::Page {
            status: StatusCode::NOT_FOUND,
            title: "Not found",
            message: format!(
                "There is no {what} here. It may be in another organization, or it never existed."
            ),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> UiError {
        UiError::Page {
            status: StatusCode::BAD_REQUEST,
            title: "This request cannot be used",
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> UiError {
        UiError::Page {
            status: StatusCode::FORBIDDEN,
            title: "Not allowed",
            message: message.into(),
        }
    }

    pub fn rate_limited(limited: &crate::limits::Limited) -> UiError {
        UiError::Page {
            status: StatusCode::TOO_MANY_REQUESTS,
            title: "Too many requests",
            message: format!(
                "Too many requests came from here. Try again in {} seconds; nothing was changed.",
                limited.retry_after_secs()
            ),
        }
    }

    pub fn unavailable() -> UiError {
        UiError::Page {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Try again in a moment",
            message: "The database cannot take this right now; nothing was changed.".into(),
        }
    }

    pub fn internal() -> UiError {
        UiError::Page {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Something went wrong",
            message:
                "cohort could not answer this; nothing was changed. The server's log says more."
                    .into(),
        }
    }
}

impl From<cohort_store::StoreError> for UiError {
    fn from(err: cohort_store::StoreError) -> UiError {
        match err {
            cohort_store::StoreError::Unavailable(_) => UiError::unavailable(),
            other => {
                tracing::error!(error = %other, "admin page: store error");
                UiError::internal()
            }
        }
    }
}

impl From<EngineError> for UiError {
    fn from(err: EngineError) -> UiError {
        engine_failure(err)
    }
}

/// Engine failures other than the core's refusals (which pages show next to
/// the field, see `words`).
pub fn engine_failure(err: EngineError) -> UiError {
    match err {
        EngineError::Unavailable(_) | EngineError::ShuttingDown => UiError::unavailable(),
        EngineError::RealmNotFound(_) => UiError::not_found("organization"),
        EngineError::Domain(e) => UiError::bad_request(super::words::sentence(None, &e)),
        EngineError::Internal(msg) => {
            tracing::error!(error = %msg, "admin page: engine error");
            UiError::internal()
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::SignIn { next } => {
                let to = format!(
                    "/ui/login?next={}",
                    percent_encoding::utf8_percent_encode(
                        &next,
                        percent_encoding::NON_ALPHANUMERIC
                    )
                );
                (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
            }
            UiError::Page {
                status,
                title,
                message,
            } => (status, layout::bare(title, &message)).into_response(),
        }
    }
}
