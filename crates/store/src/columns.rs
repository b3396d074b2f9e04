//! What both stores' row mappings share: JSON columns, the error for rows
//! that do not decode, and the per-realm version span of a batch of commits.

use crate::{Result, StoreError};
use cohort_core::change::Commit;
use cohort_core::model::SystemGroup;
use cohort_core::{RealmId, Version};
use std::collections::BTreeMap;

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Other(e.to_string()))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(corrupt)
}

/// The `system_kind` column: the system group's wire name, bare.
pub(crate) fn system_kind(which: Option<SystemGroup>) -> Result<Option<String>> {
    which
        .map(|w| to_json(&w).map(|s| s.trim_matches('"').to_string()))
        .transpose()
}

/// Each realm's version before and after `commits`, which must follow one
/// another without gaps within each realm.
pub(crate) fn version_spans(commits: &[Commit]) -> Result<BTreeMap<RealmId, (Version, Version)>> {
    let mut spans: BTreeMap<RealmId, (Version, Version)> = BTreeMap::new();
    for commit in commits {
        let before = commit
            .version
            .checked_sub(1)
            .ok_or_else(|| corrupt("commit at version 0"))?;
        let span = spans.entry(commit.realm).or_insert((before, before));
        if span.1 != before {
            return Err(corrupt(format!(
                "commit {} of realm {} is out of order",
                commit.version, commit.realm
            )));
        }
        span.1 = commit.version;
    }
    Ok(spans)
}
