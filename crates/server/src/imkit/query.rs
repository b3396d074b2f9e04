//! IMKIT's `q`: a MongoDB-style filter document, compiled into the core's
//! filter algebra. Supported: implicit equality and `$eq $ne $gt $gte $lt $lte
//! $in $nin $exists $regex` (with `$options: "i"`) on the documented client
//! fields. Everything else is refused with `INVALID_QUERY` rather than guessed.

use super::ImkitError;
use cohort_core::filter::{Comparison, Filter, Operand, Pattern, UserField};
use serde_json::{Map, Value};

/// Deepest nesting of objects and arrays accepted in `q`.
const MAX_DEPTH: usize = 4;
/// Longest `q` accepted, in bytes.
const MAX_QUERY: usize = 8 * 1024;
/// Most values in one `$in`/`$nin`.
const MAX_IN: usize = 1_000;

fn field(name: &str) -> Result<UserField, ImkitError> {
    Ok(match name {
        "_id" | "id" => UserField::Key,
        "nickname" => UserField::Name,
        "email" => UserField::Email,
        "avatarUrl" => UserField::AvatarUrl,
        "createdAt" => UserField::CreatedAt,
        "updatedAt" => UserField::UpdatedAt,
        "lastLoginTimeMS" => UserField::LastLogin,
        "isRobot" => UserField::IsBot,
        other if other.starts_with('$') => {
            return Err(ImkitError::query(format!(
                "operator {other} is not supported"
            )))
        }
        other => return Err(ImkitError::query(format!("unknown field {other}"))),
    })
}

fn is_time(field: UserField) -> bool {
    matches!(field, UserField::CreatedAt | UserField::UpdatedAt)
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Dates compare as instants: `2025-01-01`, `2025-01-01T00:00:00Z`,
/// `2025-01-01T00:00:00.000Z` (or epoch milliseconds).
fn instant(text: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Some((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let date_only = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &date_only)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
}

fn operand(field: UserField, value: &Value) -> Result<Operand, ImkitError> {
    Ok(match value {
        Value::String(text) if is_time(field) => Operand::Time(
            instant(text).ok_or_else(|| ImkitError::query(format!("{text:?} is not a date")))?,
        ),
        // Epoch milliseconds; a fractional one compares as a number.
        Value::Number(n) if is_time(field) => match n.as_i64() {
            Some(millis) => Operand::Time(millis),
            None => Operand::Number(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(text) => Operand::Text(text.clone()),
        Value::Number(n) => Operand::Number(n.as_f64().unwrap_or(f64::NAN)),
        Value::Bool(b) => Operand::Bool(*b),
        Value::Null => Operand::Null,
        Value::Array(_) | Value::Object(_) => {
            return Err(ImkitError::query(
                "comparison values must be strings, numbers, booleans or null",
            ))
        }
    })
}

fn operators(field: UserField, ops: &Map<String, Value>) -> Result<Filter, ImkitError> {
    let mut parts = Vec::new();
    let case_insensitive = match ops.get("$options") {
        None => false,
        Some(Value::String(options)) if options.is_empty() => false,
        Some(Value::String(options)) if options == "i" => true,
        Some(_) => return Err(ImkitError::query("only $options \"i\" is supported")),
    };
    if ops.contains_key("$options") && !ops.contains_key("$regex") {
        return Err(ImkitError::query("$options needs $regex"));
    }
    for (op, value) in ops {
        let compare = |op| -> Result<Filter, ImkitError> {
            Ok(Filter::Compare {
                field,
                op,
                value: operand(field, value)?,
            })
        };
        let filter = match op.as_str() {
            "$eq" => compare(Comparison::Eq)?,
            "$ne" => compare(Comparison::Ne)?,
            "$gt" => compare(Comparison::Gt)?,
            "$gte" => compare(Comparison::Gte)?,
            "$lt" => compare(Comparison::Lt)?,
            "$lte" => compare(Comparison::Lte)?,
            "$in" | "$nin" => {
                let Value::Array(items) = value else {
                    return Err(ImkitError::query(format!("{op} needs an array")));
                };
                if items.len() > MAX_IN {
                    return Err(ImkitError::query(format!(
                        "{op} is limited to {MAX_IN} values"
                    )));
                }
                let values = items
                    .iter()
                    .map(|v| operand(field, v))
                    .collect::<Result<_, _>>()?;
                let found = Filter::In { field, values };
                if op == "$in" {
                    found
                } else {
                    Filter::Not(Box::new(found))
                }
            }
            "$exists" => match value {
                Value::Bool(present) => Filter::Exists {
                    field,
                    present: *present,
                },
                _ => return Err(ImkitError::query("$exists needs true or false")),
            },
            "$regex" => {
                let Value::String(source) = value else {
                    return Err(ImkitError::query("$regex needs a string"));
                };
                if is_time(field) || matches!(field, UserField::IsBot | UserField::LastLogin) {
                    return Err(ImkitError::query("$regex applies to text fields only"));
                }
                Filter::Matches {
                    field,
                    pattern: Pattern::new(source, case_insensitive).map_err(ImkitError::query)?,
                }
            }
            "$options" => continue,
            other => {
                return Err(ImkitError::query(format!(
                    "operator {other} is not supported"
                )))
            }
        };
        parts.push(filter);
    }
    Ok(Filter::And(parts))
}

pub fn compile(text: &str) -> Result<Filter, ImkitError> {
    if text.len() > MAX_QUERY {
        return Err(ImkitError::query(format!(
            "q is limited to {MAX_QUERY} bytes"
        )));
    }
    let document: Value =
        serde_json::from_str(text).map_err(|_| ImkitError::query("q is not valid JSON"))?;
    if depth(&document) > MAX_DEPTH {
        return Err(ImkitError::query("q nests too deeply"));
    }
    let Value::Object(document) = document else {
        return Err(ImkitError::query("q must be a JSON object"));
    };
    let mut parts = Vec::with_capacity(document.len());
    for (name, condition) in &document {
        let field = field(name)?;
        let filter = match condition {
            Value::Object(ops) if !ops.is_empty() && ops.keys().all(|k| k.starts_with('$')) => {
                operators(field, ops)?
            }
            Value::Object(_) | Value::Array(_) => {
                return Err(ImkitError::query(format!(
                    "{name}: use an operator object or a plain value"
                )))
            }
            plain => Filter::Compare {
                field,
                op: Comparison::Eq,
                value: operand(field, plain)?,
            },
        };
        parts.push(filter);
    }
    Ok(Filter::And(parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_it_does_not_know() {
        for bad in [
            "not json",
            "[1]",
            r#"{"$or": []}"#,
            r#"{"nickname": {"$where": "1"}}"#,
            r#"{"password": "x"}"#,
            r#"{"nickname": {"$regex": "(", "$options": "i"}}"#,
            r#"{"nickname": {"$regex": "a", "$options": "x"}}"#,
            r#"{"createdAt": {"$gte": "yesterday"}}"#,
            r#"{"a": {"b": {"c": {"d": {"e": 1}}}}}"#,
            r#"{"_id": {"$in": "x"}}"#,
        ] {
            let err = compile(bad).expect_err(bad);
            assert_eq!(err.code, "INVALID_QUERY", "{bad}");
        }
        assert!(compile(
            r#"{"email": {"$exists": true}, "nickname": {"$regex": ".*admin.*", "$options": "i"}}"#
        )
        .is_ok());
        assert!(
            compile(r#"{"createdAt": {"$gte": "2025-01-01", "$lt": "2025-02-01T00:00:00Z"}}"#)
                .is_ok()
        );
    }

    #[test]
    fn dates() {
        assert_eq!(instant("1970-01-02"), Some(86_400_000));
        assert_eq!(instant("1970-01-01T00:00:01.500Z"), Some(1_500));
        assert_eq!(instant("soon"), None);
    }
}
