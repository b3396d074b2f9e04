//! IMKIT's `q`: a MongoDB-style filter document, compiled into the core's
//! filter algebra. Supported: implicit equality and `$eq $ne $gt $gte $lt $lte
//! $in $nin $exists $regex` (with `$options: "i"`) on the documented client
//! fields. Everything else is refused with `INVALID_QUERY` rather than guessed.

use cohort_core::filter::{Comparison, Filter, Operand, Pattern, UserField};
use cohort_core::validate::{MAX_QUERY_BYTES, MAX_QUERY_DEPTH, MAX_QUERY_IN};
use serde_json::{Map, Value};

/// Why a `q` was refused. The face answers IMKIT's one documented message
/// for every refusal and logs this detail with the request id.
#[derive(Debug)]
pub struct QueryError(pub String);

fn bad(detail: impl std::fmt::Display) -> QueryError {
    QueryError(detail.to_string())
}

fn field(name: &str) -> Result<UserField, QueryError> {
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
            return Err(bad(format!("operator {other} is not supported")))
        }
        other => return Err(bad(format!("unknown field {other}"))),
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

fn operand(field: UserField, value: &Value) -> Result<Operand, QueryError> {
    Ok(match value {
        Value::String(text) if is_time(field) => {
            Operand::Time(instant(text).ok_or_else(|| bad(format!("{text:?} is not a date")))?)
        }
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
            return Err(bad(
                "comparison values must be strings, numbers, booleans or null",
            ))
        }
    })
}

fn operators(field: UserField, ops: &Map<String, Value>) -> Result<Filter, QueryError> {
    let mut parts = Vec::new();
    let case_insensitive = match ops.get("$options") {
        None => false,
        Some(Value::String(options)) if options.is_empty() => false,
        Some(Value::String(options)) if options == "i" => true,
        Some(_) => return Err(bad("only $options \"i\" is supported")),
    };
    if ops.contains_key("$options") && !ops.contains_key("$regex") {
        return Err(bad("$options needs $regex"));
    }
    for (op, value) in ops {
        let compare = |op| -> Result<Filter, QueryError> {
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
                    return Err(bad(format!("{op} needs an array")));
                };
                if items.len() > MAX_QUERY_IN {
                    return Err(bad(format!("{op} is limited to {MAX_QUERY_IN} values")));
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
                _ => return Err(bad("$exists needs true or false")),
            },
            "$regex" => {
                let Value::String(source) = value else {
                    return Err(bad("$regex needs a string"));
                };
                if is_time(field) || matches!(field, UserField::IsBot | UserField::LastLogin) {
                    return Err(bad("$regex applies to text fields only"));
                }
                Filter::Matches {
                    field,
                    pattern: Pattern::new(source, case_insensitive).map_err(bad)?,
                }
            }
            "$options" => continue,
            other => return Err(bad(format!("operator {other} is not supported"))),
        };
        parts.push(filter);
    }
    Ok(Filter::And(parts))
}

pub fn compile(text: &str) -> Result<Filter, QueryError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(bad(format!("q is limited to {MAX_QUERY_BYTES} bytes")));
    }
    let document: Value = serde_json::from_str(text).map_err(|_| bad("q is not valid JSON"))?;
    if depth(&document) > MAX_QUERY_DEPTH {
        return Err(bad("q nests too deeply"));
    }
    let Value::Object(document) = document else {
        return Err(bad("q must be a JSON object"));
    };
    let mut parts = Vec::with_capacity(document.len());
    for (name, condition) in &document {
        let field = field(name)?;
        let filter = match condition {
            Value::Object(ops) if !ops.is_empty() && ops.keys().all(|k| k.starts_with('$')) => {
                operators(field, ops)?
            }
            Value::Object(_) | Value::Array(_) => {
                return Err(bad(format!(
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
            compile(bad).expect_err(bad);
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

    /// What each refusal says (in the log; clients get IMKIT's one message).
    #[test]
    fn refusals_say_why() {
        use serde_json::json;
        let long_regex = json!({"nickname": {"$regex": "a".repeat(513)}}).to_string();
        let long_q = json!({"nickname": {"$in": vec!["x".repeat(100); 90]}}).to_string();
        assert!(long_q.len() > MAX_QUERY_BYTES);
        let many_in = json!({"_id": {"$in": (0..1001).map(|i| i.to_string()).collect::<Vec<_>>()}})
            .to_string();
        #[rustfmt::skip]
        let bad: Vec<(String, &str)> = vec![
            ("not json".into(), "not valid JSON"),
            ("{\"nickname\": ".into(), "not valid JSON"),
            ("{'nickname': 'Ann'}".into(), "not valid JSON"),
            ("[1]".into(), "must be a JSON object"),
            (r#"[{"nickname": "Ann"}]"#.into(), "must be a JSON object"),
            (r#""Ann""#.into(), "must be a JSON object"),
            ("42".into(), "must be a JSON object"),
            ("null".into(), "must be a JSON object"),
            (r#"{"$or": [{"nickname": "Ann"}, {"nickname": "Bo"}]}"#.into(), "$or"),
            (r#"{"$and": [{"nickname": "Ann"}]}"#.into(), "$and"),
            (r#"{"$where": "this.nickname == 'Ann'"}"#.into(), "$where"),
            (r#"{"nickname": {"$where": "1"}}"#.into(), "$where"),
            (r#"{"nickname": {"$not": {"$eq": "Ann"}}}"#.into(), "$not"),
            (r#"{"nickname": {"$type": "string"}}"#.into(), "$type"),
            (r#"{"nickname": {"$elemMatch": {"$eq": "Ann"}}}"#.into(), "$elemMatch"),
            (r#"{"password": "x"}"#.into(), "unknown field password"),
            (r#"{"token": {"$exists": true}}"#.into(), "unknown field token"),
            (r#"{"address.port": 1}"#.into(), "unknown field"),
            (r#"{"a": {"b": {"c": {"d": {"e": 1}}}}}"#.into(), "nests too deeply"),
            (r#"{"nickname": {"$in": [[[[["x"]]]]]}}"#.into(), "nests too deeply"),
            (r#"{"nickname": {}}"#.into(), "operator object or a plain value"),
            (r#"{"nickname": {"first": "Ann"}}"#.into(), "operator object or a plain value"),
            (r#"{"nickname": {"$eq": "Ann", "plain": 1}}"#.into(), "operator object or a plain value"),
            (r#"{"nickname": ["Ann"]}"#.into(), "operator object or a plain value"),
            (r#"{"nickname": {"$regex": "("}}"#.into(), "invalid regular expression"),
            (r#"{"nickname": {"$regex": "[a-"}}"#.into(), "invalid regular expression"),
            (r#"{"nickname": {"$regex": "a{1000}{1000}"}}"#.into(), "too large"),
            (r#"{"nickname": {"$regex": "Ann", "$options": "x"}}"#.into(), "$options"),
            (r#"{"nickname": {"$regex": "Ann", "$options": "im"}}"#.into(), "$options"),
            (r#"{"nickname": {"$regex": "Ann", "$options": 1}}"#.into(), "$options"),
            (r#"{"nickname": {"$options": "i"}}"#.into(), "$options needs $regex"),
            (r#"{"nickname": {"$regex": 5}}"#.into(), "$regex needs a string"),
            (r#"{"createdAt": {"$regex": "2025"}}"#.into(), "text fields only"),
            (long_regex, "limited to 512 characters"),
            (r#"{"_id": {"$in": "ann"}}"#.into(), "$in needs an array"),
            (r#"{"_id": {"$nin": {"a": 1}}}"#.into(), "$nin needs an array"),
            (many_in, "limited to 1000 values"),
            (r#"{"email": {"$exists": "yes"}}"#.into(), "$exists needs true or false"),
            (r#"{"createdAt": {"$gte": "yesterday"}}"#.into(), "is not a date"),
            (r#"{"createdAt": {"$gte": "2025-13-01"}}"#.into(), "is not a date"),
            (r#"{"createdAt": "2025-01-01T00:00:00"}"#.into(), "is not a date"),
            (r#"{"nickname": {"$eq": {"a": 1}}}"#.into(), "comparison values"),
            (r#"{"nickname": {"$in": [["Ann"]]}}"#.into(), "comparison values"),
            (long_q.clone(), "limited to 8192 bytes"),
        ];
        for (q, detail) in &bad {
            let QueryError(got) = compile(q).expect_err(q);
            assert!(
                got.contains(detail),
                "{q}: {got:?} should mention {detail:?}"
            );
        }
    }

    #[test]
    fn dates() {
        assert_eq!(instant("1970-01-02"), Some(86_400_000));
        assert_eq!(instant("1970-01-01T00:00:01.500Z"), Some(1_500));
        assert_eq!(instant("soon"), None);
    }
}
