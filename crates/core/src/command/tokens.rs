//! Realm API tokens: created and revoked by operators only, recorded in the
//! change log like every other write. A token's secret never reaches the
//! core; commands carry its hash.

use super::{Context, CreateToken, Plan, Reply};
use crate::change::Change;
use crate::error::{Error, Result};
use crate::ids::{Actor, TokenId};
use crate::model::Token;
use crate::validate;

fn operator_only(actor: Actor) -> Result<()> {
    match actor {
        Actor::Operator => Ok(()),
        _ => Err(Error::OperatorOnly),
    }
}

pub(super) fn create_token(
    plan: &mut Plan,
    actor: Actor,
    cmd: &CreateToken,
    ctx: &mut Context,
) -> Result<Reply> {
    operator_only(actor)?;
    validate::token_name(&cmd.name)?;
    if cmd.scopes.is_empty() {
        return Err(Error::Invalid {
            field: "scope",
            reason: "a token needs at least one scope".into(),
        });
    }
    if plan.snap.realm().live_token(&cmd.name).is_some() {
        return Err(Error::TokenNameTaken(cmd.name.clone()));
    }
    let mut scopes = cmd.scopes.clone();
    scopes.sort_unstable();
    scopes.dedup();
    let id = TokenId(ctx.fresh_id()?);
    plan.push(Change::TokenCreated {
        token: Token {
            id,
            name: cmd.name.clone(),
            scopes,
            hash: cmd.hash,
            created_at: ctx.now,
            revoked_at: None,
        },
    })?;
    Ok(Reply::Token(id))
}

pub(super) fn revoke_token(plan: &mut Plan, actor: Actor, name: &str) -> Result<Reply> {
    operator_only(actor)?;
    let Some(token) = plan.snap.realm().live_token(name) else {
        return Err(Error::TokenNotFound(name.to_string()));
    };
    let id = token.id;
    plan.push(Change::TokenRevoked { id })?;
    Ok(Reply::Token(id))
}
