//! Placeholder until the PATCH engine lands (same signatures).
use super::filter::PatchPath;
use super::schema::Resource;
use super::ScimError;
use serde_json::{Map, Value};

pub enum OpKind {
    Add,
    Remove,
    Replace,
}
pub struct Op {
    pub kind: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}
pub fn parse(_body: &Map<String, Value>) -> Result<Vec<Op>, ScimError> {
    Err(ScimError::not_found("PATCH not ready"))
}
pub fn apply(
    _doc: &mut Map<String, Value>,
    _r: Resource,
    _ops: &[Op],
) -> Result<Vec<String>, ScimError> {
    Err(ScimError::not_found("PATCH not ready"))
}
