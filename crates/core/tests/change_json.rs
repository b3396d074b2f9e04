//! Changes as the change log stores them (JSON): every patch reads back as
//! it was written, clears (`Some(None)`) included — a clear read back as
//! "unchanged" would make a replay (history, `cohort check`, other nodes)
//! differ from the tables.

use cohort_core::change::{Change, GroupPatch, UserPatch, WebhookPatch};
use cohort_core::model::Disabled;
use cohort_core::{GroupId, UserId, WebhookId};

fn round_trip(change: Change) {
    let json = serde_json::to_string(&change).unwrap();
    let back: Change = serde_json::from_str(&json).unwrap();
    assert_eq!(back, change, "{json}");
}

#[test]
fn clears_and_absent_fields_read_back_as_written() {
    for avatar in [None, Some(None), Some(Some("https://a/b.png".to_string()))] {
        round_trip(Change::UserUpdated {
            id: UserId(1),
            patch: UserPatch {
                avatar_url: avatar.clone(),
                ..UserPatch::default()
            },
        });
        round_trip(Change::GroupUpdated {
            id: GroupId(2),
            patch: GroupPatch {
                avatar_url: avatar.clone(),
                external_id: avatar.clone(),
                ..GroupPatch::default()
            },
        });
    }
    let disabled = Disabled {
        at: 7,
        reason: "the receiver answered 410 Gone".into(),
    };
    for state in [None, Some(None), Some(Some(disabled))] {
        round_trip(Change::WebhookUpdated {
            id: WebhookId(3),
            patch: WebhookPatch {
                disabled: state,
                ..WebhookPatch::default()
            },
        });
    }
}

/// Logs written before the fix stored a clear as `null`: it reads as the
/// clear it was.
#[test]
fn a_stored_null_is_a_clear() {
    let stored = r#"{"type":"group_updated","id":2,"external_id":null}"#;
    let change: Change = serde_json::from_str(stored).unwrap();
    assert_eq!(
        change,
        Change::GroupUpdated {
            id: GroupId(2),
            patch: GroupPatch {
                external_id: Some(None),
                ..GroupPatch::default()
            }
        }
    );
}
