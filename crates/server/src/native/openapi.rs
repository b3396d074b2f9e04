//! The OpenAPI 3.1 document of the native API, generated from the code
//! (utoipa) and served at `GET /cohort/v1/openapi.json` without
//! authentication.
//!
//! To document a new endpoint: annotate its handler with `#[utoipa::path]`
//! (its own responses only: 200, and 400/404 if it has them), list the
//! handler in `paths(...)` below and its response types (`ToSchema`) in
//! `components(schemas(...))`. `Framework` then adds, to every operation but
//! those in `PUBLIC`, the two security schemes and the 401, 403, 500 and 503
//! answers every authenticated endpoint shares, so they cannot be forgotten.

use super::error::{ErrorBody, ErrorCode};
use super::{audit, export, memberships, realm, review, stream, views, webhooks};
use crate::limits::ByAddress;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::sync::OnceLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

/// The path of this document.
pub const DOCUMENT_PATH: &str = "/cohort/v1/openapi.json";

/// Operations that need no credentials.
const PUBLIC: &[&str] = &[DOCUMENT_PATH];

/// The security schemes' names in the document.
const BASIC: &str = "basic";
const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cohort native admin API",
        description = "A realm's directory and its history, for audits, and its webhook endpoints. \
            Callers are organization owners and administrators (HTTP Basic with their email \
            and API key) or realm API tokens holding the `audit:read` scope (Bearer; the event \
            stream takes the `events` scope instead). \
            Every error answers with the `Error` schema; its `code` is stable.",
    ),
    paths(
        document,
        realm::get,
        audit::list,
        memberships::group_members,
        memberships::user_groups,
        review::get,
        export::get,
        stream::get,
        webhooks::list,
        webhooks::create,
        webhooks::get,
        webhooks::update,
        webhooks::remove,
        webhooks::rotate,
        webhooks::deliveries,
        webhooks::resend,
        webhooks::recover,
    ),
    components(schemas(
        ErrorBody,
        ErrorCode,
        realm::RealmView,
        realm::CallerView,
        realm::CallerKind,
        audit::AuditPageView,
        views::EventView,
        views::ActorView,
        views::UserRef,
        views::GroupRef,
        views::TokenRef,
        views::WebhookRef,
        views::MemberView,
        views::MembershipView,
        views::ReviewEntryView,
        views::GroupReviewView,
        memberships::GroupMembersView,
        memberships::UserGroupsView,
        review::AccessReviewView,
        webhooks::WebhookView,
        webhooks::SecretView,
        webhooks::WebhookList,
        webhooks::WebhookWithSecret,
        webhooks::AttemptView,
        webhooks::DeliveryView,
        webhooks::DeliveryPage,
        webhooks::Queued,
        webhooks::NewWebhook,
        webhooks::WebhookChanges,
        webhooks::Rotation,
        webhooks::Recovery,
    )),
    modifiers(&Framework),
    tags(
        (name = "realm", description = "The caller's realm"),
        (name = "audit", description = "The audit trail: every change, who made it, when, through which face"),
        (name = "memberships", description = "Membership as of any moment, and access reviews between two"),
        (name = "export", description = "The whole directory as of a moment, as CSV or JSON Lines"),
        (name = "events", description = "The audit events live, as a resumable Server-Sent Events stream (tokens need the `events` scope)"),
        (name = "webhooks", description = "Webhook endpoints (Standard Webhooks: signed, retried, in order per group), their delivery logs, resend and recover (tokens need the `webhooks` scope)"),
        (name = "meta", description = "This API's own description"),
    ),
)]
pub struct ApiDoc;

/// Adds what every authenticated operation shares (see the module docs).
struct Framework;

/// Shared answers: (status, component name, description).
const SHARED: &[(&str, &str, &str)] = &[
    (
        "401",
        "Unauthorized",
        "No credentials, or credentials that open nothing (`unauthorized`); \
         `WWW-Authenticate` names both schemes",
    ),
    (
        "403",
        "Forbidden",
        "The caller may not read the audit: not an owner or administrator, a bot, \
         or a token without `audit:read` (`forbidden`)",
    ),
    (
        "500",
        "Internal",
        "A bug; the detail is in the server's log (`internal`)",
    ),
    (
        "503",
        "Unavailable",
        "The directory cannot answer now; retry (`unavailable`)",
    ),
];

fn error_content() -> Content {
    Content::new(Some(Ref::from_schema_name("Error")))
}

impl Modify for Framework {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BASIC,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "An owner's or administrator's email and Zulip API key, as `email:api_key`",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("cohort_…")
                    .description(Some(
                        "A realm API token with the `audit:read` scope (`cohort token create --scope audit:read`)",
                    ))
                    .build(),
            ),
        );
        for (_, name, description) in SHARED {
            components.responses.insert(
                (*name).to_string(),
                RefOr::T(
                    ResponseBuilder::new()
                        .description(*description)
                        .content("application/json", error_content())
                        .build(),
                ),
            );
        }
        let either = vec![
            SecurityRequirement::new(BASIC, Vec::<String>::new()),
            SecurityRequirement::new(BEARER, Vec::<String>::new()),
        ];
        for (path, item) in openapi.paths.paths.iter_mut() {
            if path == "/cohort/v1/audit" {
                if let Some(get) = item.get.as_mut() {
                    list_event_types(get);
                }
            }
            let public = PUBLIC.contains(&path.as_str());
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                share(operation, public, &either);
            }
        }
    }
}

/// The audit's `type` parameter lists the vocabulary from the code itself,
/// so the document cannot fall behind it.
fn list_event_types(operation: &mut Operation) {
    let names: Vec<String> = cohort_core::audit::EventKind::ALL
        .iter()
        .map(|k| format!("`{}`", k.as_str()))
        .collect();
    for parameter in operation.parameters.iter_mut().flatten() {
        if parameter.name == "type" {
            let described = parameter.description.take().unwrap_or_default();
            parameter.description = Some(format!("{described}. Types: {}", names.join(", ")));
        }
    }
}

fn share(operation: &mut Operation, public: bool, either: &[SecurityRequirement]) {
    let responses = &mut operation.responses.responses;
    if public {
        operation.security = Some(Vec::new());
        responses
            .entry("500".into())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Internal")));
        return;
    }
    operation.security = Some(either.to_vec());
    for (status, name, _) in SHARED {
        responses
            .entry((*status).to_string())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
    }
}

/// The document as JSON, rendered once.
pub fn json() -> &'static Bytes {
    static DOCUMENT: OnceLock<Bytes> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        // Rendering a document built from our own types cannot fail; an
        // empty body would show up in the validator test.
        Bytes::from(ApiDoc::openapi().to_pretty_json().unwrap_or_default())
    })
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/cohort/v1/openapi.json",
    tag = "meta",
    operation_id = "get_openapi_document",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object, content_type = "application/json")),
)]
pub async fn document(_: ByAddress) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json().clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn document() -> Value {
        serde_json::from_slice(json()).unwrap()
    }

    #[test]
    fn is_openapi_3_1_with_both_schemes_and_the_error_schema() {
        let doc = document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes[BASIC]["scheme"], "basic");
        assert_eq!(schemes[BEARER]["scheme"], "bearer");
        let error = &doc["components"]["schemas"]["Error"];
        assert!(error["properties"]["code"].is_object(), "{error}");
        let codes = &doc["components"]["schemas"]["ErrorCode"]["enum"];
        assert!(
            codes.as_array().unwrap().contains(&"invalid_cursor".into()),
            "{codes}"
        );
    }

    #[test]
    fn every_authenticated_operation_shares_security_and_errors() {
        let doc = document();
        let realm = &doc["paths"]["/cohort/v1/realm"]["get"];
        assert_eq!(realm["security"].as_array().unwrap().len(), 2, "{realm}");
        for status in ["200", "400", "401", "403", "500", "503"] {
            assert!(realm["responses"][status].is_object(), "{status}: {realm}");
        }
        let open = &doc["paths"][DOCUMENT_PATH]["get"];
        assert_eq!(open["security"], serde_json::json!([]), "{open}");
        assert!(open["responses"]["401"].is_null(), "{open}");
    }
}
