//! Discovery (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes`,
//! `/Schemas`. They advertise only what works: PATCH, filters, sorting and
//! ETags yes; bulk, password changes and `/Me` no.

use super::schema::{self, Resource};
use super::search::MAX_COUNT;
use super::{ScimClient, ScimError, ScimJson};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;

const RESOURCES: [Resource; 2] = [Resource::User, Resource::Group];

/// A `filter` on a discovery endpoint is refused (RFC 7644 §4).
fn no_filter(params: &HashMap<String, String>) -> Result<(), ScimError> {
    if params.keys().any(|k| k.eq_ignore_ascii_case("filter")) {
        return Err(ScimError::new(
            StatusCode::FORBIDDEN,
            None,
            "Discovery endpoints do not take a filter",
        ));
    }
    Ok(())
}

fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [schema::LIST],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// GET /scim/v2/ServiceProviderConfig
pub async fn service_provider_config(
    client: ScimClient,
    Query(params): Query<HashMap<String, String>>,
) -> Result<ScimJson, ScimError> {
    no_filter(&params)?;
    Ok(ScimJson(json!({
        "schemas": [schema::SERVICE_PROVIDER_CONFIG],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_COUNT},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A realm API token with the scim scope (cohort token create --scope scim)",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", client.base),
        }
    })))
}

/// GET /scim/v2/ResourceTypes
pub async fn resource_types(
    client: ScimClient,
    Query(params): Query<HashMap<String, String>>,
) -> Result<ScimJson, ScimError> {
    no_filter(&params)?;
    let all = RESOURCES
        .iter()
        .map(|r| schema::resource_type_json(*r, &client.base))
        .collect();
    Ok(ScimJson(list(all)))
}

/// GET /scim/v2/ResourceTypes/{name}
pub async fn resource_type(
    client: ScimClient,
    Path(name): Path<String>,
) -> Result<ScimJson, ScimError> {
    RESOURCES
        .iter()
        .find(|r| r.name().eq_ignore_ascii_case(&name))
        .map(|r| ScimJson(schema::resource_type_json(*r, &client.base)))
        .ok_or_else(|| ScimError::not_found(format!("No resource type {name:?}")))
}

/// GET /scim/v2/Schemas
pub async fn schemas(
    client: ScimClient,
    Query(params): Query<HashMap<String, String>>,
) -> Result<ScimJson, ScimError> {
    no_filter(&params)?;
    let all = RESOURCES
        .iter()
        .map(|r| schema::schema_json(*r, &client.base))
        .collect();
    Ok(ScimJson(list(all)))
}

/// GET /scim/v2/Schemas/{urn}
pub async fn schema(client: ScimClient, Path(urn): Path<String>) -> Result<ScimJson, ScimError> {
    RESOURCES
        .iter()
        .find(|r| r.urn().eq_ignore_ascii_case(&urn))
        .map(|r| ScimJson(schema::schema_json(*r, &client.base)))
        .ok_or_else(|| ScimError::not_found(format!("No schema {urn:?}")))
}
