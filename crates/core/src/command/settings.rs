//! Group-setting values: canonical form, validation, `{new, old}` updates.

use super::SettingUpdate;
use crate::error::{Error, Result};
use crate::model::{SettingConfig, SettingValue, SystemGroup};
use crate::snapshot::Snapshot;
use crate::validate;
use std::collections::BTreeSet;

/// Zulip's canonical form: an anonymous value with one subgroup and no members
/// is that group; an empty one is `role:nobody`. Lists keep the sender's order
/// here (errors name the first bad entry); `sorted` finishes the job.
pub(super) fn canonical_shape(snap: &Snapshot, value: &SettingValue) -> SettingValue {
    match value {
        SettingValue::Anonymous { members, subgroups } if members.is_empty() => {
            match subgroups.as_slice() {
                [single] => SettingValue::Group(*single),
                [] => match snap.system_group_id(SystemGroup::Nobody) {
                    Some(nobody) => SettingValue::Group(nobody),
                    None => value.clone(),
                },
                _ => value.clone(),
            }
        }
        _ => value.clone(),
    }
}

pub(super) fn sorted(value: SettingValue) -> SettingValue {
    match value {
        SettingValue::Anonymous {
            mut members,
            mut subgroups,
        } => {
            members.sort_unstable();
            members.dedup();
            subgroups.sort_unstable();
            subgroups.dedup();
            SettingValue::Anonymous { members, subgroups }
        }
        named => named,
    }
}

/// The value as clients see it: deactivated users are left out.
pub fn visible_value(snap: &Snapshot, value: &SettingValue) -> SettingValue {
    match value {
        SettingValue::Group(id) => SettingValue::Group(*id),
        SettingValue::Anonymous { members, subgroups } => SettingValue::Anonymous {
            members: members
                .iter()
                .copied()
                .filter(|u| snap.is_active_user(*u))
                .collect(),
            subgroups: subgroups.clone(),
        },
    }
}

/// Zulip's equality: ids by value, anonymous values as sets; never across forms.
pub(super) fn same_value(a: &SettingValue, b: &SettingValue) -> bool {
    sorted(a.clone()) == sorted(b.clone())
}

/// Check a new setting value (Zulip's `access_user_group_for_setting`) and return
/// it in canonical, sorted form.
pub(super) fn checked_setting_value(
    snap: &Snapshot,
    value: &SettingValue,
    config: &SettingConfig,
) -> Result<SettingValue> {
    let value = canonical_shape(snap, value);
    match &value {
        SettingValue::Group(id) => {
            let group = snap.group(*id).ok_or(Error::GroupNotFound(*id))?;
            if group.deactivated {
                return Err(Error::GroupDeactivated(*id));
            }
            let not_allowed = || Error::SettingNotAllowed {
                setting: config.name,
                group: group.name.to_string(),
            };
            if config.require_system_group && !group.is_system() {
                return Err(Error::SystemGroupRequired {
                    setting: config.name,
                });
            }
            match group.system {
                Some(SystemGroup::Internet) if !config.allow_internet_group => {
                    return Err(not_allowed())
                }
                Some(SystemGroup::Nobody) if !config.allow_nobody_group => {
                    return Err(not_allowed())
                }
                Some(SystemGroup::Everyone) if !config.allow_everyone_group => {
                    return Err(not_allowed())
                }
                _ => {}
            }
        }
        SettingValue::Anonymous { members, subgroups } => {
            if config.require_system_group {
                return Err(Error::SystemGroupRequired {
                    setting: config.name,
                });
            }
            validate::id_list(config.name, members)?;
            validate::id_list(config.name, subgroups)?;
            for user in members {
                if !snap.is_active_user(*user) {
                    return Err(Error::InvalidMember(*user));
                }
            }
            for group in subgroups {
                if snap.group(*group).is_none() {
                    return Err(Error::SubgroupNotFound(*group));
                }
            }
            for group in subgroups.iter().collect::<BTreeSet<_>>() {
                if snap.group(*group).is_some_and(|g| g.deactivated) {
                    return Err(Error::GroupDeactivated(*group));
                }
            }
        }
    }
    Ok(sorted(value))
}

/// Zulip's `{new, old}` handling: refuse a stale `old`; `None` when `new` equals
/// the current value (nothing to do, not even validation).
pub(super) fn changed_setting_value(
    snap: &Snapshot,
    current: &SettingValue,
    update: &SettingUpdate,
    config: &SettingConfig,
) -> Result<Option<SettingValue>> {
    let current = visible_value(snap, current);
    let new = canonical_shape(snap, &update.new);
    if let Some(old) = &update.old {
        if !same_value(&canonical_shape(snap, old), &current) {
            return Err(Error::SettingMismatch {
                setting: config.name,
            });
        }
    }
    if same_value(&new, &current) {
        return Ok(None);
    }
    checked_setting_value(snap, &new, config).map(Some)
}
