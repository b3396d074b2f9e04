//! What the engine's tests share.

use cohort_core::command::CreateUser;
use cohort_core::Role;
use cohort_engine::secrets;

/// A human user with a fresh API key.
pub fn new_user(email: &str, role: Role) -> CreateUser {
    CreateUser {
        email: Some(email.into()),
        full_name: format!("User {}", email.split('@').next().unwrap()),
        role,
        is_bot: false,
        bot_owner: None,
        key: None,
        avatar_url: None,
        api_key: secrets::hash_key(&secrets::generate_key()),
        can_create_users: true,
    }
}
