//! The core's refusals in plain words, with people's and groups' names
//! where the core names ids. What is refused is the core's decision; this
//! only says it.

use super::layout::{group_name, user_name};
use cohort_core::{Error, Snapshot};

/// One sentence for `err`, naming what `snap` can name.
pub fn sentence(snap: Option<&Snapshot>, err: &Error) -> String {
    let user = |id: cohort_core::UserId| {
        snap.map_or_else(|| format!("user {}", id.0), |s| user_name(s, id))
    };
    let group = |id: cohort_core::GroupId| {
        snap.map_or_else(|| format!("group {}", id.0), |s| group_name(s, id))
    };
    let text = match err {
        Error::GroupNotFound(_) | Error::SubgroupNotFound(_) => {
            "That group does not exist in this organization.".to_string()
        }
        Error::UserNotFound(_) => "That person does not exist in this organization.".to_string(),
        Error::InvalidMember(id) => format!("{} cannot be a member (deactivated or unknown).", user(*id)),
        Error::GroupDeactivated(id) => format!("{} is deactivated.", group(*id)),
        Error::UserDeactivated(id) => format!("{} is deactivated.", user(*id)),
        Error::AlreadyMember(id) => format!("{} is already a member.", user(*id)),
        Error::NotMember(id) => format!("{} is not a member.", user(*id)),
        Error::AlreadySubgroup(id) => format!("{} is already a subgroup.", group(*id)),
        Error::NotSubgroup(id) => format!("{} is not a subgroup.", group(*id)),
        Error::SubgroupCycle(id) => format!(
            "That would put {} inside itself (through its subgroups).",
            group(*id)
        ),
        Error::GroupInUse(objections) => format!(
            "This group is still used ({} place{}: as a subgroup of an active group or in a permission setting); remove those uses first.",
            objections.len(),
            if objections.len() == 1 { "" } else { "s" }
        ),
        Error::NothingToChange => "Nothing was changed: the values are the ones already saved.".into(),
        Error::NameEmpty => "A group needs a name.".into(),
        Error::NameTaken(name) => format!("A group named “{name}” already exists."),
        Error::SettingMismatch { .. } => {
            "Someone changed this setting since the page was loaded; reload to see it, then try again.".into()
        }
        Error::InsufficientPermission => "You are not allowed to do this here.".into(),
        Error::GuestNotAllowed => "Guests cannot use the admin page or change groups.".into(),
        Error::BotNotAllowed => "Bots cannot use the admin page.".into(),
        Error::MustBeAdmin => "Only organization administrators can do this.".into(),
        Error::MustBeOwner => "Only organization owners can do this.".into(),
        other => {
            let text = other.to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
                None => text,
            }
        }
    };
    text
}

/// Which part of a form an error is about, to show it next to that field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Field {
    Name,
    Description,
    Members,
    Settings,
    Group,
}

pub fn field_of(err: &Error) -> Field {
    match err {
        Error::NameEmpty
        | Error::NameTooLong { .. }
        | Error::NameReservedPrefix(_)
        | Error::NameTaken(_) => Field::Name,
        Error::TooLong { field, .. } | Error::NulCharacter { field }
            if field.contains("description") =>
        {
            Field::Description
        }
        Error::NulCharacter { .. } | Error::TooLong { .. } => Field::Name,
        Error::InvalidMember(_)
        | Error::AlreadyMember(_)
        | Error::NotMember(_)
        | Error::AlreadySubgroup(_)
        | Error::NotSubgroup(_)
        | Error::SubgroupCycle(_)
        | Error::SubgroupNotFound(_)
        | Error::TooManyIds { .. }
        | Error::TooManyItems { .. } => Field::Members,
        Error::SettingMismatch { .. }
        | Error::SettingNotAllowed { .. }
        | Error::SystemGroupRequired { .. } => Field::Settings,
        _ => Field::Group,
    }
}
