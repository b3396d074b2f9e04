//! Creating things: `cohort init`, `cohort realm add`, and the demo realm that
//! `cohort serve --demo` seeds.

use crate::args::{InitArgs, RealmAddArgs};
use anyhow::{bail, Context as _, Result};
use cohort_core::command::{ChangeMembers, CreateGroup, CreateRealm, CreateUser, UpdateRealm};
use cohort_core::{Actor, Command, RealmId, Reply, Role, SettingValue, Snapshot, UserId};
use cohort_engine::{secrets, Engine, EngineConfig};
use cohort_store::DbUrl;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

/// Open the database and start an engine on it.
pub async fn open_engine(db: &str, create: bool, config: EngineConfig) -> Result<Arc<Engine>> {
    let url = DbUrl::parse(db).map_err(anyhow::Error::msg)?;
    let store = cohort_store::open(&url, create)
        .await
        .with_context(|| format!("opening {url}"))?;
    Ok(Engine::start(store, config).await?)
}

/// What `init` and `realm add` hand back to the operator.
pub struct NewRealm {
    pub realm: Arc<Snapshot>,
    pub owner_email: String,
    pub owner_api_key: String,
    pub platform_key: String,
    /// The SCIM token (`init` and `serve --demo` issue one; `realm add` does not).
    pub scim_token: Option<String>,
}

pub async fn create_realm(
    engine: &Engine,
    name: &str,
    owner_email: &str,
    owner_name: &str,
) -> Result<NewRealm> {
    let api_key = secrets::generate_key();
    let owner = CreateUser {
        email: Some(owner_email.into()),
        full_name: owner_name.to_string(),
        role: Role::Owner,
        is_bot: false,
        bot_owner: None,
        key: None,
        avatar_url: None,
        api_key: secrets::hash_key(&api_key),
        can_create_users: true,
    };
    let created = engine
        .create_realm(CreateRealm {
            name: name.to_string(),
            owner: Some(owner),
        })
        .await?;
    let realm = created.snapshot.realm_id();
    let platform_key = secrets::generate_key();
    let done = engine
        .execute(
            realm,
            Actor::Operator,
            Command::UpdateRealm(UpdateRealm {
                platform_key: Some(secrets::hash_key(&platform_key)),
                ..UpdateRealm::default()
            }),
        )
        .await?;
    Ok(NewRealm {
        realm: done.snapshot,
        owner_email: owner_email.trim().to_string(),
        owner_api_key: api_key,
        platform_key,
        scim_token: None,
    })
}

/// A zuliprc the official clients read (`zulip.Client(config_file=...)`).
pub fn write_zuliprc(path: &Path, email: &str, key: &str, site: &str) -> Result<()> {
    let text = format!("[api]\nemail={email}\nkey={key}\nsite={site}\n");
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // It holds a secret.
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

pub fn print_new_realm(
    created: &NewRealm,
    db: &str,
    zuliprc: Option<&Path>,
    site: &str,
    as_json: bool,
) {
    let realm = created.realm.realm();
    if as_json {
        let out = json!({
            "realm_id": realm.id.0,
            "realm": realm.name,
            "database": db,
            "site": site,
            "email": created.owner_email,
            "api_key": created.owner_api_key,
            "platform_key": created.platform_key,
            "zuliprc": zuliprc.map(|p| p.display().to_string()),
        });
        let mut out = out;
        if let Some(token) = &created.scim_token {
            out["scim_token"] = json!(token);
        }
        println!("{out}");
        return;
    }
    println!("Created realm {:?} (id {}) in {db}", realm.name, realm.id);
    println!("  owner email:           {}", created.owner_email);
    println!("  owner API key:         {}", created.owner_api_key);
    println!(
        "  IMKIT platform key:    {}   (header IM-API-KEY)",
        created.platform_key
    );
    if let Some(path) = zuliprc {
        println!(
            "  zuliprc:               {}   (site {site})",
            path.display()
        );
    }
    if let Some(token) = &created.scim_token {
        println!("SCIM token: {token}");
        println!("SCIM base URL: {site}/scim/v2   (header Authorization: Bearer <token>)");
    }
    println!("Keys are shown only now; cohort stores their hashes.");
}

/// `cohort init`.
pub async fn init(db: &str, args: InitArgs) -> Result<()> {
    let engine = open_engine(db, true, EngineConfig::default()).await?;
    if !engine.realm_ids().is_empty() {
        bail!("{db} already holds a realm; refusing to create another over it (use `cohort realm add` to add a realm)");
    }
    let mut created = create_realm(
        &engine,
        &args.realm_name,
        &args.owner_email,
        &args.owner_name,
    )
    .await?;
    created.scim_token = Some(crate::tokens::issue_scim(&engine, created.realm.realm_id()).await?);
    write_zuliprc(
        &args.zuliprc,
        &created.owner_email,
        &created.owner_api_key,
        &args.site,
    )?;
    print_new_realm(&created, db, Some(&args.zuliprc), &args.site, args.json);
    Ok(())
}

/// `cohort realm add`.
pub async fn realm_add(db: &str, args: RealmAddArgs) -> Result<()> {
    let engine = open_engine(db, false, EngineConfig::default()).await?;
    let taken = engine
        .realm_ids()
        .into_iter()
        .filter_map(|id| engine.snapshot(id))
        .any(|s| s.realm().name == args.name);
    if taken {
        bail!("a realm named {:?} already exists", args.name);
    }
    let created = create_realm(&engine, &args.name, &args.owner_email, &args.owner_name).await?;
    print_new_realm(&created, db, None, "", args.json);
    Ok(())
}

fn user_id(reply: Reply) -> Result<UserId> {
    match reply {
        Reply::User(id) => Ok(id),
        other => bail!("unexpected reply {other:?}"),
    }
}

/// The demo realm: users of every role (named as in Zulip's documentation
/// examples), a bot, and three groups, one nested in another.
pub async fn seed_demo(engine: &Engine, realm: RealmId, owner: UserId) -> Result<()> {
    let people = [
        ("iago@example.com", "Iago", Role::Administrator, false),
        ("shiva@example.com", "Shiva", Role::Moderator, false),
        ("hamlet@example.com", "King Hamlet", Role::Member, false),
        (
            "cordelia@example.com",
            "Cordelia, Lear's daughter",
            Role::Member,
            false,
        ),
        (
            "othello@example.com",
            "Othello, the Moor of Venice",
            Role::Member,
            false,
        ),
        (
            "prospero@example.com",
            "Prospero from The Tempest",
            Role::Member,
            false,
        ),
        ("polonius@example.com", "Polonius", Role::Guest, false),
        (
            "notification-bot@example.com",
            "Notification Bot",
            Role::Member,
            true,
        ),
    ];
    let mut ids = Vec::new();
    for (email, name, role, bot) in people {
        let done = engine
            .execute(
                realm,
                Actor::Operator,
                Command::CreateUser(CreateUser {
                    email: Some(email.into()),
                    full_name: name.into(),
                    role,
                    is_bot: bot,
                    bot_owner: bot.then_some(owner),
                    key: None,
                    avatar_url: None,
                    api_key: secrets::hash_key(&secrets::generate_key()),
                    can_create_users: false,
                }),
            )
            .await?;
        ids.push(user_id(done.reply)?);
    }
    let (iago, shiva, hamlet, cordelia, othello, prospero) =
        (ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]);
    let group = |name: &str, description: &str, members: Vec<UserId>, settings| {
        Command::CreateGroup(CreateGroup {
            name: name.into(),
            description: description.into(),
            members,
            subgroups: vec![],
            settings,
            key: None,
            avatar_url: None,
            external_id: None,
        })
    };
    let as_owner = Actor::User(owner);
    let hamlet_group = engine
        .execute(
            realm,
            as_owner,
            group(
                "hamletcharacters",
                "Characters of Hamlet",
                vec![hamlet, cordelia],
                vec![(
                    cohort_core::GroupSetting::CanJoinGroup,
                    SettingValue::Group(
                        engine
                            .snapshot(realm)
                            .and_then(|s| s.system_group_id(cohort_core::SystemGroup::Members))
                            .context("demo realm has no role:members")?,
                    ),
                )],
            ),
        )
        .await?;
    let backend = engine
        .execute(
            realm,
            as_owner,
            group("backend", "Backend team", vec![iago, othello], vec![]),
        )
        .await?;
    let engineering = engine
        .execute(
            realm,
            as_owner,
            group(
                "engineering",
                "Everyone who builds things",
                vec![shiva, prospero],
                vec![],
            ),
        )
        .await?;
    let (Reply::Group(backend), Reply::Group(engineering), Reply::Group(_)) =
        (backend.reply, engineering.reply, hamlet_group.reply)
    else {
        bail!("demo groups were not created");
    };
    engine
        .execute(
            realm,
            as_owner,
            Command::ChangeMembers(
                engineering,
                ChangeMembers {
                    add_subgroups: vec![backend],
                    ..ChangeMembers::default()
                },
            ),
        )
        .await?;
    Ok(())
}
