//! Users and their S3 credentials: registration (by an admin, by self-service join, and the
//! server's own bootstrap/service users), lookup on every request, rotation, removal.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redb::{ReadableDatabase, ReadableTable};
use serde::Serialize;

use crate::error::Result;
use crate::identity::{PublicKey, join_message};
use crate::model::{
    AdminMatch, BindingRecord, CredentialRef, GroupRecord, Principal, Subject, UserKind, UserRecord,
};
use crate::rbac::{Resource, Verb, authorize, holds_everything};
use crate::tables::{BINDINGS, CREDENTIALS, GROUPS, USER_NAMES, USERS};
use crate::{Store, StoreError, codec, deny, now_ms};

/// How long a join nonce stays valid.
pub const JOIN_NONCE_TTL: Duration = Duration::from_secs(300);
const MAX_OPEN_NONCES: usize = 10_000;
/// Prefix of service user names.
pub const SERVICE_PREFIX: &str = "svc:";

/// What registration hands back: the only time a secret leaves the server.
#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    pub user_id: String,
    pub name: String,
    pub access_key: String,
    pub secret_key: String,
    /// False when the key was already registered (same key, same user).
    pub created: bool,
}

/// A user as listed by the admin API.
#[derive(Debug, Clone, Serialize)]
pub struct UserInfo {
    pub user_id: String,
    pub name: String,
    pub kind: &'static str,
    pub public_key: String,
    pub access_key: String,
    pub admin: bool,
    /// "peer-id" or "name" when admin.
    pub admin_match: Option<&'static str>,
    pub groups: Vec<String>,
    pub created_ms: i64,
}

/// A self-service join request: the client proves it holds the private key by signing
/// [`join_message`] over a nonce the server issued.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub public_key: String,
    pub name: String,
    pub nonce: String,
    /// Hex or base64 of the 64-byte Ed25519 signature.
    pub signature: String,
    pub token: String,
}

/// Who is registering a key: decides whether a name listed in `admin_peers` may be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Registrar {
    /// The server itself at start-up (bootstrap admin, service users): any free name.
    Server,
    /// An admin (`user register`): an `admin_peers` name only while nobody holds it; an
    /// already registered key gets its user's credentials back.
    Admin,
    /// A non-admin with `create` on users: never an `admin_peers` name (it would make its
    /// holder admin), and an already registered key is a conflict, not its credentials.
    Manager,
    /// Self-service `join`: never an `admin_peers` name.
    SelfService,
}

/// Open join nonces → when they were issued.
#[derive(Default)]
pub(crate) struct Nonces(Mutex<HashMap<String, Instant>>);

/// Person names: 1–63 of `A-Z a-z 0-9 . _ -`, starting with a letter or digit.
pub fn validate_user_name(name: &str) -> Result<()> {
    let ok = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidArgument(format!(
            "invalid user name {:?}: use 1 to 63 of A-Z, a-z, 0-9, '-', '_', '.', starting with a letter or digit",
            crate::rbac::roles::truncate(name, 80)
        )))
    }
}

pub(crate) fn get_user(txn: &redb::WriteTransaction, id: &str) -> Result<Option<UserRecord>> {
    let t = txn.open_table(USERS)?;
    let v = t.get(id)?;
    v.map(|v| codec::decode(v.value())).transpose()
}

/// Resolves "a user id or a name" inside a write transaction.
pub(crate) fn resolve_user_txn(
    txn: &redb::WriteTransaction,
    who: &str,
) -> Result<(String, UserRecord)> {
    if let Some(u) = get_user(txn, who)? {
        return Ok((who.to_string(), u));
    }
    let id = {
        let names = txn.open_table(USER_NAMES)?;
        names.get(who)?.map(|v| v.value().to_string())
    };
    if let Some(id) = id
        && let Some(u) = get_user(txn, &id)?
    {
        return Ok((id, u));
    }
    Err(StoreError::NoSuchUser(crate::rbac::roles::truncate(
        who, 80,
    )))
}

impl Store {
    fn credentials_of(&self, u: &UserRecord) -> Result<(String, String)> {
        let pk = PublicKey::from_bytes(&u.public_key)
            .map_err(|e| StoreError::Corrupt(format!("stored public key: {e}")))?;
        Ok(self.inner.master.s3_credentials(&pk, u.generation))
    }

    /// Registers a key under a name, or returns the existing user of that key. A name taken
    /// by another key gets the first free suffix (`laptop` → `laptop-2`), except a name that
    /// `admin_peers` lists (it makes its holder admin): that one is refused to every key but
    /// its holder's, to self-service joins always, and a suffixed name is never one either.
    async fn register_inner(
        &self,
        pk: PublicKey,
        name: String,
        kind: UserKind,
        registrar: Registrar,
    ) -> Result<Registered> {
        let user_id = pk.user_id();
        let reserved = self.policy().admin_peers.clone();
        let master_creds = |g| self.inner.master.s3_credentials(&pk, g);
        let (ak0, sk0) = master_creds(0);
        let id = user_id.clone();
        let ak_row = ak0.clone();
        let out = self
            .inner
            .committer
            .write_then(move |txn| {
                if let Some(u) = get_user(txn, &id)? {
                    // Public keys are listed to whoever reads users: handing back the
                    // credentials of a key the caller merely names would be a takeover. A join
                    // proved it holds the private key; an admin may see any secret anyway.
                    if registrar == Registrar::Manager {
                        return Err(StoreError::Conflict(format!(
                            "this key is already registered as user {} ({id}); only an admin \
                             gets its credentials back (or its owner, by rotating them)",
                            u.name
                        )));
                    }
                    return Ok((u.name, u.generation, false));
                }
                let mut names = txn.open_table(USER_NAMES)?;
                if registrar != Registrar::Server && reserved.lists(&name) {
                    if matches!(registrar, Registrar::SelfService | Registrar::Manager) {
                        return Err(StoreError::AccessDenied(format!(
                            "the name {name} is reserved: admin_peers lists it, so only an admin can register it"
                        )));
                    }
                    if names.get(name.as_str())?.is_some() {
                        return Err(StoreError::Conflict(format!(
                            "the name {name} is listed in admin_peers and another key holds it"
                        )));
                    }
                }
                let mut chosen = name.clone();
                let mut n = 2;
                while names.get(chosen.as_str())?.is_some()
                    || (registrar != Registrar::Server && chosen != name && reserved.lists(&chosen))
                {
                    chosen = format!("{name}-{n}");
                    n += 1;
                    if n > 10_000 {
                        return Err(StoreError::Conflict(format!("no free name like {name}")));
                    }
                }
                if kind == UserKind::Person {
                    validate_user_name(&chosen)?;
                }
                names.insert(chosen.as_str(), id.as_str())?;
                let rec = UserRecord {
                    public_key: *pk.as_bytes(),
                    name: chosen.clone(),
                    kind,
                    generation: 0,
                    created_ms: now_ms(),
                };
                txn.open_table(USERS)?
                    .insert(id.as_str(), codec::encode(&rec)?.as_slice())?;
                let cref = CredentialRef {
                    user_id: id.clone(),
                    generation: 0,
                };
                txn.open_table(CREDENTIALS)?
                    .insert(ak_row.as_str(), codec::encode(&cref)?.as_slice())?;
                Ok((chosen, 0, true))
            }, self.policy_changed())
            .await?;
        let (name, generation, created) = out;
        let (access_key, secret_key) = if generation == 0 {
            (ak0, sk0)
        } else {
            master_creds(generation)
        };
        if created {
            tracing::info!(target: "audit", user_id = %user_id, name = %name, kind = ?kind, "user registered");
            if let Some(m) = self.policy().admin_peers.matches(&user_id, &name) {
                log_admin_match(&user_id, &name, m);
            }
        }
        Ok(Registered {
            user_id,
            name,
            access_key,
            secret_key,
            created,
        })
    }

    /// `user register`: registers a public key (OpenSSH line, raw 32 bytes or hex). Needs
    /// `create` on users; a key registered already gets its user's credentials back for an
    /// admin only (anyone else: `Conflict` naming the user), and only an admin may take a name
    /// `admin_peers` lists (decision 0015).
    pub async fn register_user(
        &self,
        p: &Principal,
        public_key: &[u8],
        name: &str,
    ) -> Result<Registered> {
        deny(authorize(p, Verb::Create, Resource::Users))?;
        let pk =
            PublicKey::parse(public_key).map_err(|e| StoreError::InvalidArgument(e.to_string()))?;
        validate_user_name(name)?;
        let registrar = if holds_everything(p) {
            Registrar::Admin
        } else {
            Registrar::Manager
        };
        let r = self
            .register_inner(pk, name.to_string(), UserKind::Person, registrar)
            .await?;
        audit(p, "user.register", &format!("{} ({})", r.name, r.user_id));
        Ok(r)
    }

    /// The server's own users at start-up (the bootstrap admin). Not reachable from gateways.
    pub async fn register_local_user(&self, pk: PublicKey, name: &str) -> Result<Registered> {
        validate_user_name(name)?;
        self.register_inner(pk, name.to_string(), UserKind::Person, Registrar::Server)
            .await
    }

    /// Ensures service user `svc:<name>` (keypair derived from the master key) exists and
    /// returns its credentials. Start-up and tests only; not reachable from gateways.
    pub async fn ensure_service_user(&self, name: &str) -> Result<Registered> {
        crate::rbac::roles::validate_name("service", name)?;
        let kp = self.inner.master.service_keypair(name);
        self.register_inner(
            kp.public(),
            format!("{SERVICE_PREFIX}{name}"),
            UserKind::Service,
            Registrar::Server,
        )
        .await
    }

    /// Issues a single-use nonce for a self-service join.
    pub fn join_nonce(&self) -> Result<String> {
        if self.inner.cfg.enrolment_token.is_none() {
            return Err(StoreError::AccessDenied(
                "self-service join is disabled: the server has no enrolment_token".into(),
            ));
        }
        let mut raw = [0u8; 24];
        getrandom::fill(&mut raw)
            .map_err(|e| StoreError::Internal(format!("no randomness: {e}")))?;
        let nonce = hex::encode(raw);
        let mut open = self
            .inner
            .nonces
            .0
            .lock()
            .map_err(|_| StoreError::internal("nonce lock"))?;
        open.retain(|_, t| t.elapsed() < JOIN_NONCE_TTL);
        if open.len() >= MAX_OPEN_NONCES {
            return Err(StoreError::Conflict(
                "too many joins in progress; retry in a minute".into(),
            ));
        }
        open.insert(nonce.clone(), Instant::now());
        Ok(nonce)
    }

    /// Self-service join: nonce (single use, 5 minutes), enrolment token, signature, then
    /// registration. Joining again with the same key returns the same user's credentials.
    /// A name listed in `admin_peers` is refused to every new key (see docs/decisions/0015).
    pub async fn join(&self, req: JoinRequest) -> Result<Registered> {
        let issued = {
            let mut open = self
                .inner
                .nonces
                .0
                .lock()
                .map_err(|_| StoreError::internal("nonce lock"))?;
            open.remove(&req.nonce)
        };
        let refuse = |why: &str| {
            tracing::warn!(target: "audit", name = %crate::rbac::roles::truncate(&req.name, 80), reason = why, "join refused");
            Err(StoreError::AccessDenied(why.to_string()))
        };
        let Some(expected) = self.inner.cfg.enrolment_token.as_deref() else {
            return refuse("self-service join is disabled: the server has no enrolment_token");
        };
        match issued {
            None => return refuse("unknown or already used join nonce: ask for a new one"),
            Some(t) if t.elapsed() >= JOIN_NONCE_TTL => {
                return refuse("the join nonce has expired: ask for a new one");
            }
            Some(_) => {}
        }
        // Digests of equal length, so the time tells neither where they differ nor how long
        // the token is.
        use sha2::Digest as _;
        use subtle::ConstantTimeEq;
        let (got, want) = (
            sha2::Sha256::digest(req.token.as_bytes()),
            sha2::Sha256::digest(expected.as_bytes()),
        );
        if !bool::from(got.as_slice().ct_eq(want.as_slice())) {
            return refuse("wrong enrolment token");
        }
        let pk = PublicKey::parse(req.public_key.as_bytes())
            .map_err(|e| StoreError::InvalidArgument(e.to_string()))?;
        validate_user_name(&req.name)?;
        let sig = decode_signature(&req.signature)?;
        if pk
            .verify(&join_message(&req.nonce, &req.name, &pk), &sig)
            .is_err()
        {
            return refuse(
                "the signature does not match the public key: the client must hold the private key",
            );
        }
        self.register_inner(pk, req.name, UserKind::Person, Registrar::SelfService)
            .await
    }

    /// Access key → (secret, principal), resolved against the current policy. `None` for an
    /// unknown or rotated-away key. Answered from memory while nothing that could change the
    /// answer (users, credentials, peers, roles, groups, bindings) has changed since it was
    /// looked up: every such change moves the identity epoch once it has committed.
    pub fn lookup_credential(&self, access_key: &str) -> Result<Option<(String, Principal)>> {
        // The epoch before the rows are read: an answer is kept under it, so one read while a
        // change commits is never served after the change moves the epoch (see
        // `ops::credential_cache`).
        let epoch = self.inner.peer_principals.epoch();
        let cache = &self.inner.credentials;
        if let Some(known) = cache.current(access_key, epoch) {
            return Ok(Some(known));
        }
        let txn = self.db().begin_read()?;
        let creds = txn.open_table(CREDENTIALS)?;
        let Some(v) = creds.get(access_key)? else {
            return Ok(None);
        };
        let cref: CredentialRef = codec::decode(v.value())?;
        let users = txn.open_table(USERS)?;
        let Some(u) = users.get(cref.user_id.as_str())? else {
            return Ok(None);
        };
        let u: UserRecord = codec::decode(u.value())?;
        if u.generation != cref.generation {
            return Ok(None);
        }
        let sk = match cache.get(access_key, &cref.user_id, u.generation, epoch) {
            Some(hit) => {
                if let Some(principal) = hit.principal {
                    return Ok(Some((hit.secret, principal)));
                }
                hit.secret
            }
            None => {
                let (ak, sk) = self.credentials_of(&u)?;
                if ak != access_key {
                    return Ok(None);
                }
                sk
            }
        };
        let principal = self.policy().resolve(&cref.user_id, &u.name, u.kind);
        cache.put(
            access_key,
            &cref.user_id,
            u.generation,
            &sk,
            epoch,
            &principal,
        );
        Ok(Some((sk, principal)))
    }

    /// New credentials for a user: the user themself, or an admin (one who holds every grant:
    /// the answer carries the new secret); a service user's only by an admin. The old ones stop
    /// working with this commit. Who may is decided before the name is looked up, so a refusal
    /// never tells whether a user exists.
    pub async fn rotate_credentials(&self, p: &Principal, who: &str) -> Result<Registered> {
        let admin = holds_everything(p);
        let refusal = |whose: &str| {
            format!(
                "{} (user {}) may rotate only its own credentials; {whose} are an admin's to rotate",
                p.name, p.user_id
            )
        };
        if !admin && who != p.user_id && who != p.name {
            let reason = refusal("another user's");
            tracing::warn!(target: "audit", reason = %reason, "denied");
            return Err(StoreError::AccessDenied(reason));
        }
        let who = who.to_string();
        let caller = p.user_id.clone();
        let (other, service) = (refusal("another user's"), refusal("a service user's"));
        let master = self.inner.master.clone();
        // The old key stops with the commit, for lookups answered from memory too.
        let forget = self.policy_changed();
        let r = self
            .inner
            .committer
            .write_then(
                move |txn| {
                    let (id, mut u) = resolve_user_txn(txn, &who)?;
                    if !admin && id != caller {
                        return Err(StoreError::AccessDenied(other));
                    }
                    if !admin && u.kind == UserKind::Service {
                        return Err(StoreError::AccessDenied(service));
                    }
                    let pk = PublicKey::from_bytes(&u.public_key)
                        .map_err(|e| StoreError::Corrupt(format!("stored public key: {e}")))?;
                    let (old_ak, _) = master.s3_credentials(&pk, u.generation);
                    u.generation += 1;
                    let (ak, sk) = master.s3_credentials(&pk, u.generation);
                    let mut creds = txn.open_table(CREDENTIALS)?;
                    creds.remove(old_ak.as_str())?;
                    let cref = CredentialRef {
                        user_id: id.clone(),
                        generation: u.generation,
                    };
                    creds.insert(ak.as_str(), codec::encode(&cref)?.as_slice())?;
                    txn.open_table(USERS)?
                        .insert(id.as_str(), codec::encode(&u)?.as_slice())?;
                    Ok(Registered {
                        user_id: id,
                        name: u.name,
                        access_key: ak,
                        secret_key: sk,
                        created: false,
                    })
                },
                forget,
            )
            .await?;
        audit(p, "user.rotate", &format!("{} ({})", r.name, r.user_id));
        Ok(r)
    }

    /// Removes a person and everything that names them: credentials, name, group
    /// memberships, bindings. Their buckets and objects stay.
    pub async fn remove_user(&self, p: &Principal, who: &str) -> Result<String> {
        deny(authorize(p, Verb::Delete, Resource::Users))?;
        let who = who.to_string();
        let master = self.inner.master.clone();
        // The user's key stops with the commit, for lookups answered from memory too.
        let forget = self.policy_changed();
        let removed = self
            .inner
            .committer
            .write_then(
                move |txn| {
                    let (id, u) = resolve_user_txn(txn, &who)?;
                    if u.kind == UserKind::Service {
                        return Err(StoreError::Conflict(format!(
                            "{} is a service user; the server manages it",
                            u.name
                        )));
                    }
                    let pk = PublicKey::from_bytes(&u.public_key)
                        .map_err(|e| StoreError::Corrupt(format!("stored public key: {e}")))?;
                    let (ak, _) = master.s3_credentials(&pk, u.generation);
                    txn.open_table(CREDENTIALS)?.remove(ak.as_str())?;
                    txn.open_table(USER_NAMES)?.remove(u.name.as_str())?;
                    txn.open_table(USERS)?.remove(id.as_str())?;
                    {
                        let mut groups = txn.open_table(GROUPS)?;
                        let mut changed = Vec::new();
                        for e in groups.iter()? {
                            let (k, v) = e?;
                            let mut g: GroupRecord = codec::decode(v.value())?;
                            if g.members.remove(&id) {
                                changed.push((k.value().to_string(), g));
                            }
                        }
                        for (k, g) in changed {
                            groups.insert(k.as_str(), codec::encode(&g)?.as_slice())?;
                        }
                    }
                    {
                        let mut bindings = txn.open_table(BINDINGS)?;
                        let subject = Subject::User(id.clone());
                        bindings.retain(|_, v| {
                            codec::decode::<BindingRecord>(v).map_or(true, |b| b.subject != subject)
                        })?;
                    }
                    // An address that vouched for this user vouches for nobody now.
                    txn.open_table(crate::tables::PEERS)?.retain(|_, v| {
                        codec::decode::<crate::model::PeerRecord>(v)
                            .map_or(true, |r| r.user_id != id)
                    })?;
                    Ok(format!("{} ({id})", u.name))
                },
                forget,
            )
            .await?;
        self.reload_policy()?;
        audit(p, "user.remove", &removed);
        Ok(removed)
    }

    fn user_info(&self, id: &str, u: &UserRecord) -> Result<UserInfo> {
        let pol = self.policy();
        let m = pol.admin_peers.matches(id, &u.name);
        let pk = PublicKey::from_bytes(&u.public_key)
            .map_err(|e| StoreError::Corrupt(format!("stored public key: {e}")))?;
        let (ak, _) = self.inner.master.s3_credentials(&pk, u.generation);
        Ok(UserInfo {
            user_id: id.to_string(),
            name: u.name.clone(),
            kind: match u.kind {
                UserKind::Person => "person",
                UserKind::Service => "service",
            },
            public_key: pk.to_openssh(&u.name),
            access_key: ak,
            admin: m.is_some(),
            admin_match: m.map(|m| match m {
                AdminMatch::PeerId => "peer-id",
                AdminMatch::Name => "name",
            }),
            groups: pol.groups_of(id, m.is_some(), u.kind),
            created_ms: u.created_ms,
        })
    }

    /// Every user (admins, or panel `users`).
    pub fn list_users(&self, p: &Principal) -> Result<Vec<UserInfo>> {
        self.may_read(p, Resource::Users, "users")?;
        let txn = self.db().begin_read()?;
        let t = txn.open_table(USERS)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            let (k, v) = e?;
            let u: UserRecord = codec::decode(v.value())?;
            out.push(self.user_info(k.value(), &u)?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// One user by id or name: yourself always, anyone else with read access to users.
    pub fn show_user(&self, p: &Principal, who: &str) -> Result<UserInfo> {
        let txn = self.db().begin_read()?;
        let users = txn.open_table(USERS)?;
        let names = txn.open_table(USER_NAMES)?;
        let id = if users.get(who)?.is_some() {
            who.to_string()
        } else if let Some(id) = names.get(who)? {
            id.value().to_string()
        } else {
            self.may_read(p, Resource::Users, "users")?;
            return Err(StoreError::NoSuchUser(crate::rbac::roles::truncate(
                who, 80,
            )));
        };
        if id != p.user_id {
            self.may_read(p, Resource::Users, "users")?;
        }
        let Some(v) = users.get(id.as_str())? else {
            return Err(StoreError::NoSuchUser(id));
        };
        let u: UserRecord = codec::decode(v.value())?;
        self.user_info(&id, &u)
    }

    /// Logs, once at start-up, every registered user that `admin_peers` makes admin.
    pub fn log_admin_matches(&self) -> Result<()> {
        let pol = self.policy();
        let txn = self.db().begin_read()?;
        let t = txn.open_table(USERS)?;
        for e in t.iter()? {
            let (k, v) = e?;
            let u: UserRecord = codec::decode(v.value())?;
            if let Some(m) = pol.admin_peers.matches(k.value(), &u.name) {
                log_admin_match(k.value(), &u.name, m);
            }
        }
        Ok(())
    }
}

fn log_admin_match(user_id: &str, name: &str, m: AdminMatch) {
    match m {
        AdminMatch::PeerId => {
            tracing::info!(target: "audit", user_id, name, "admin: {}", m.log_text())
        }
        AdminMatch::Name => {
            tracing::warn!(target: "audit", user_id, name, "admin: {}", m.log_text())
        }
    }
}

fn decode_signature(s: &str) -> Result<Vec<u8>> {
    use base64::Engine as _;
    let s = s.trim();
    let raw = hex::decode(s)
        .ok()
        .or_else(|| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .ok_or_else(|| {
            StoreError::InvalidArgument("the signature is neither hex nor base64".into())
        })?;
    if raw.len() != 64 {
        return Err(StoreError::InvalidArgument(format!(
            "an Ed25519 signature is 64 bytes, not {}",
            raw.len()
        )));
    }
    Ok(raw)
}

/// One audit line per administrative action.
pub(crate) fn audit(p: &Principal, action: &str, target: &str) {
    tracing::info!(target: "audit", actor = %p.name, actor_id = %p.user_id, action, resource = target, "admin action");
}
