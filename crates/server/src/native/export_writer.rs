//! The directory as of a version, written out for auditors: CSV (one row
//! per effective membership, for a spreadsheet) or JSON Lines (a header,
//! then one line per user and one per group, for scripts). Written group by
//! group into a bounded buffer handed to `sink`, so memory stays flat
//! however large the realm; the HTTP face and `cohort export` share it.

use cohort_core::history::History;
use cohort_core::{GroupId, UserId, Version};
use serde_json::json;
use std::io::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "csv" => Some(Format::Csv),
            "jsonl" => Some(Format::Jsonl),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Jsonl => "application/jsonl",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

/// Bytes gathered before `sink` is called.
const FLUSH_AT: usize = 64 * 1024;

pub const CSV_HEADER: &str = "group_id,group_name,group_system,group_deactivated,user_id,user_email,user_full_name,user_role,membership,via,via_ids\n";

/// Write the export of `history` as of `version`; `sink` gets chunks of
/// about 64 KiB and may stop the export by returning an error (a client
/// that went away). `progress` is called with (groups done, groups).
pub fn write<E>(
    history: &History,
    version: Version,
    at: cohort_core::Millis,
    format: Format,
    mut sink: impl FnMut(Vec<u8>) -> Result<(), E>,
    mut progress: impl FnMut(usize, usize),
) -> Result<(), E> {
    let mut buf: Vec<u8> = Vec::with_capacity(FLUSH_AT * 2);
    let mut groups: Vec<GroupId> = history
        .group_ids()
        .filter(|g| history.group(*g).is_some_and(|t| t.exists_at(version)))
        .collect();
    groups.sort_unstable();
    match format {
        Format::Csv => buf.extend_from_slice(CSV_HEADER.as_bytes()),
        Format::Jsonl => {
            let header = json!({
                "type": "export",
                "realm": history.realm_id().0,
                "as_of": super::params::format_timestamp(at),
                "version": version,
            });
            line(&mut buf, &header);
            let mut users: Vec<UserId> = history
                .user_ids()
                .filter(|u| history.user(*u).is_some_and(|t| t.created <= version))
                .collect();
            users.sort_unstable();
            for id in users {
                if let Some(u) = history.user_at(id, version) {
                    line(
                        &mut buf,
                        &json!({
                            "type": "user",
                            "id": id.0,
                            "email": u.email.as_deref(),
                            "full_name": &*u.full_name,
                            "role": u.role.name(),
                            "active": u.active,
                            "is_bot": u.is_bot,
                        }),
                    );
                }
                if buf.len() >= FLUSH_AT {
                    sink(std::mem::take(&mut buf))?;
                }
            }
        }
    }
    let total = groups.len();
    for (done, id) in groups.into_iter().enumerate() {
        let (Some(group), Some(members)) = (
            history.group_at(id, version),
            history.members(id, version, true),
        ) else {
            continue;
        };
        match format {
            Format::Csv => {
                let name = |g: GroupId| {
                    history
                        .group_at(g, version)
                        .map(|g| g.name.to_string())
                        .unwrap_or_default()
                };
                let system = group.system.is_some();
                if members.is_empty() {
                    csv_row(
                        &mut buf,
                        &[
                            &id.0.to_string(),
                            &group.name,
                            bool_text(system),
                            bool_text(group.deactivated),
                            "",
                            "",
                            "",
                            "",
                            "",
                            "",
                            "",
                        ],
                    );
                }
                for m in &members {
                    let user = history.user_at(m.user, version);
                    let via_names: Vec<String> = m.via.iter().map(|g| name(*g)).collect();
                    let via_ids: Vec<String> = m.via.iter().map(|g| g.0.to_string()).collect();
                    csv_row(
                        &mut buf,
                        &[
                            &id.0.to_string(),
                            &group.name,
                            bool_text(system),
                            bool_text(group.deactivated),
                            &m.user.0.to_string(),
                            user.as_ref().and_then(|u| u.email.as_deref()).unwrap_or(""),
                            user.as_ref().map(|u| &*u.full_name).unwrap_or(""),
                            user.as_ref().map(|u| u.role.name()).unwrap_or(""),
                            if m.via.is_empty() {
                                "direct"
                            } else {
                                "indirect"
                            },
                            &via_names.join(" > "),
                            &via_ids.join(">"),
                        ],
                    );
                }
            }
            Format::Jsonl => {
                let direct: Vec<i64> = members
                    .iter()
                    .filter(|m| m.via.is_empty())
                    .map(|m| m.user.0)
                    .collect();
                let mut subgroups: Vec<i64> = history
                    .group(id)
                    .map(|t| t.subgroups.at(version).map(|g| g.0).collect())
                    .unwrap_or_default();
                subgroups.sort_unstable();
                let effective: Vec<serde_json::Value> = members
                    .iter()
                    .map(|m| json!({"id": m.user.0, "via": m.via.iter().map(|g| g.0).collect::<Vec<_>>()}))
                    .collect();
                line(
                    &mut buf,
                    &json!({
                        "type": "group",
                        "id": id.0,
                        "name": &*group.name,
                        "description": &*group.description,
                        "system": group.system.is_some(),
                        "deactivated": group.deactivated,
                        "direct_members": direct,
                        "subgroups": subgroups,
                        "members": effective,
                    }),
                );
            }
        }
        if buf.len() >= FLUSH_AT {
            sink(std::mem::take(&mut buf))?;
            buf.reserve(FLUSH_AT * 2);
        }
        progress(done + 1, total);
    }
    if !buf.is_empty() {
        sink(buf)?;
    }
    Ok(())
}

fn bool_text(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn line(buf: &mut Vec<u8>, value: &serde_json::Value) {
    // Writing JSON into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, value);
    buf.push(b'\n');
}

/// One CSV record (RFC 4180 quoting). A cell a spreadsheet would read as a
/// formula (`=`, `+`, `-`, `@`, tab, CR first) gets a leading `'`, so a
/// group named `=HYPERLINK(…)` stays text in the auditor's spreadsheet.
fn csv_row(buf: &mut Vec<u8>, cells: &[&str]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        let guard = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
        let quote = guard || cell.contains([',', '"', '\n', '\r']);
        if quote {
            buf.push(b'"');
        }
        if guard {
            buf.push(b'\'');
        }
        if quote {
            let _ = buf.write_all(cell.replace('"', "\"\"").as_bytes());
            buf.push(b'"');
        } else {
            buf.extend_from_slice(cell.as_bytes());
        }
    }
    buf.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::csv_row;

    fn row(cells: &[&str]) -> String {
        let mut buf = Vec::new();
        csv_row(&mut buf, cells);
        String::from_utf8(buf).unwrap_or_default()
    }

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(row(&["a", "b c"]), "a,b c\n");
        assert_eq!(row(&["x,y", "say \"hi\""]), "\"x,y\",\"say \"\"hi\"\"\"\n");
        assert_eq!(row(&["=1+1", "-2"]), "\"'=1+1\",\"'-2\"\n");
        assert_eq!(row(&["line\nbreak"]), "\"line\nbreak\"\n");
    }
}
