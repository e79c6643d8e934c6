//! The client commands' grammar (clap). `src/cli.rs` mounts [`ClientOpts`] as global flags and
//! [`ClientCommand`] beside `serve` and `bench`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Flags of every client command, accepted before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct ClientOpts {
    /// Admin API of the server that client commands talk to.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_SERVER",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    pub server: String,
    /// PEM CA certificates to trust for an https:// --server (a TLS admin listener with a
    /// certificate of your own CA), besides the system's roots.
    #[arg(long, global = true, env = "GATEHOUSE_CACERT", value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Credentials for client commands: an aws credentials file ([default] profile). Without
    /// it: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, else <data-dir>/admin.credentials.
    #[arg(long, global = true, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// The server's data directory, for its admin.credentials (default ./gatehouse-data, when
    /// that file exists).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Machine-readable JSON output instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Roles and the bindings that give them to users (admin).
    #[command(subcommand)]
    Role(RoleCmd),
    /// Groups, their members, and role bindings for groups (admin).
    #[command(subcommand)]
    Group(GroupCmd),
    /// Users: list, show, register a public key, remove, rotate credentials.
    #[command(subcommand)]
    User(UserCmd),
    /// Buckets.
    #[command(subcommand)]
    Bucket(BucketCmd),
    /// Objects: upload, download, list, delete, and their versions.
    #[command(subcommand)]
    Object(ObjectCmd),
    /// File shares: buckets `fs+<name>` with a quota and an expiry, exported over NFS.
    #[command(subcommand)]
    Share(ShareCmd),
    /// Online backup of the running server (admin): a consistent snapshot of the database plus
    /// the chunks it references and the key files, into an empty DIR, or `-` for a tar stream
    /// on standard output.
    Backup {
        /// A new or empty directory, or `-` for a tar stream on standard output.
        #[arg(long, value_name = "DIR|-")]
        to: std::path::PathBuf,
    },
    /// NFS peers: client addresses or CIDR blocks the network vouches for, each acting as one user (admin).
    #[command(subcommand)]
    Peer(PeerCmd),
    /// Bucket replication to another S3 service: connections and rules (admin), status and
    /// pause/resume (admin, or a `replication` grant on the bucket, e.g. the role
    /// replication-operator bound with --bucket).
    #[command(subcommand)]
    Replication(ReplicationCmd),
    /// Storage: usage per bucket, the configured limit, disk space (admin or storage panel).
    #[command(subcommand)]
    Storage(StorageCmd),
    /// The key service's keys for SSE-KMS (decision 0046): create, list, describe, enable,
    /// disable, rotate, schedule or cancel deletion, audit. Managing keys takes `manage` on
    /// `kms` (role key-admin), using them `use` (role key-user, scoped with --kms-key).
    #[command(subcommand)]
    Key(KeyCmd),
    /// Collect unreferenced chunk files now (admin): the disk space of deleted objects comes
    /// back at once instead of after the GC grace period. Writes in flight are safe.
    Gc,
    /// The server and who you are on it: user id, name, admin (and how matched), groups.
    Status,
    /// Create your identity: an Ed25519 key pair (OpenSSH format); prints your user id.
    Keygen {
        /// Private key file; the public key goes to FILE.pub [default: ~/.gatehouse/id_ed25519]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Register yourself with the server's enrolment token, proving you hold your key.
    Join {
        /// The server's enrolment token.
        #[arg(long, env = "GATEHOUSE_ENROLMENT_TOKEN", hide_env_values = true)]
        token: String,
        /// Your user name (the server adds a suffix if another key holds it; names listed in
        /// admin_peers are refused).
        #[arg(long)]
        name: String,
        /// Your private key [default: ~/.gatehouse/id_ed25519]
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Also save the credentials here (aws credentials format, mode 0600).
        #[arg(long, value_name = "FILE")]
        write_credentials: Option<PathBuf>,
    },
}

/// Where a binding applies: everywhere (default), one bucket, or one admin panel.
#[derive(Debug, Clone, Args)]
pub struct ScopeArgs {
    /// Only on this bucket.
    #[arg(long, value_name = "BUCKET", conflicts_with = "panel_scope")]
    pub bucket: Option<String>,
    /// Only on this admin panel (with the panel-viewer role).
    #[arg(long, value_name = "PANEL", conflicts_with = "kms_key")]
    pub panel_scope: Option<String>,
    /// Only on this key of the key service (id, alias/<name> or ARN; with key-user or
    /// key-admin).
    #[arg(long, value_name = "KEY", conflicts_with = "bucket")]
    pub kms_key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Create a key (enabled, one material version); prints its id.
    Create {
        /// A name for it: alias/<NAME> names the key too.
        #[arg(long)]
        alias: Option<String>,
        /// What the key is for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// The keys you may manage or use.
    List,
    /// One key: state, versions, deletion date.
    Describe {
        /// Key id, alias/<name> or ARN.
        key: String,
    },
    /// Let the key seal and open data again.
    Enable {
        /// Key id, alias/<name> or ARN.
        key: String,
    },
    /// Stop the key: nothing sealed with it can be read or written until it is enabled.
    Disable {
        /// Key id, alias/<name> or ARN.
        key: String,
    },
    /// New key material for new writes; older material keeps opening what it sealed.
    Rotate {
        /// Key id, alias/<name> or ARN.
        key: String,
    },
    /// Delete the key after a waiting period (7-30 days, default 30): then whatever it
    /// encrypted can never be read again. Cancellable until then.
    ScheduleDeletion {
        /// Key id, alias/<name> or ARN.
        key: String,
        /// The waiting period in days (7-30; kms.min_pending_days lowers the floor).
        #[arg(long)]
        days: Option<u32>,
    },
    /// Cancel a scheduled deletion (the key comes back disabled).
    CancelDeletion {
        /// Key id, alias/<name> or ARN.
        key: String,
    },
    /// The audit log: every use and change (of one key, or of all), newest first.
    Audit {
        /// Only this key (id, alias/<name> or ARN).
        key: Option<String>,
        /// Most events shown.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoleCmd {
    /// List built-in and custom roles.
    List,
    /// Create a custom role: the verbs it allows on the resources.
    Create {
        /// The new role's name.
        name: String,
        /// Comma-separated: get, list, put, delete, create, lock and bypass-governance (object
        /// lock), or *.
        #[arg(long)]
        verbs: String,
        /// Comma-separated: buckets, objects, panels, users, groups, roles, bindings, shares,
        /// backup, storage, replication, or *.
        #[arg(long)]
        resources: String,
        /// What the role is for (shown by `role list`).
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete a custom role (refused while bindings use it).
    Delete {
        /// The custom role.
        name: String,
    },
    /// Give a role to a user (id or name).
    Bind {
        /// User id or name.
        user: String,
        /// Built-in (admin, bucket-admin, bucket-write, bucket-read, …) or custom role.
        role: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Take a role binding away from a user.
    Unbind {
        /// User id or name.
        user: String,
        /// The bound role.
        role: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// List role bindings (all, or those that apply to one user).
    Bindings {
        /// Only the bindings that apply to this user (id or name), directly or via a group.
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// List built-in and custom groups.
    List,
    /// Create a custom group.
    Create {
        /// The new group's name.
        name: String,
        /// What the group is for (shown by `group list`).
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete a custom group (refused while bindings name it).
    Delete {
        /// The custom group.
        name: String,
    },
    /// List a group's members.
    Members {
        /// Group name.
        group: String,
    },
    /// Add a user (id or name) to a custom group.
    AddMember {
        /// Custom group name.
        group: String,
        /// User id or name.
        user: String,
    },
    /// Remove a user from a custom group.
    RemoveMember {
        /// Custom group name.
        group: String,
        /// User id or name.
        user: String,
    },
    /// Give a role to a group.
    Bind {
        /// Group name.
        group: String,
        /// Built-in or custom role.
        role: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Take a role binding away from a group.
    Unbind {
        /// Group name.
        group: String,
        /// The bound role.
        role: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// List users.
    List,
    /// Show a user (id or name) [default: yourself].
    Show {
        /// User id or name [default: yourself].
        who: Option<String>,
    },
    /// Register a public key under a name (admin); prints the new S3 credentials.
    Register {
        /// The public key file (OpenSSH `ssh-ed25519 …` line, e.g. id_ed25519.pub).
        #[arg(long, value_name = "FILE")]
        pubkey: PathBuf,
        /// The user's name (a label; the id comes from the key).
        #[arg(long)]
        name: String,
    },
    /// Remove a user: credentials, group memberships and bindings (their data stays).
    Remove {
        /// User id or name.
        who: String,
    },
    /// New S3 credentials for a user [default: yourself]; the old ones stop working.
    Rotate {
        /// User id or name [default: yourself].
        who: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BucketCmd {
    /// Create a bucket.
    Create {
        /// Bucket name (S3 rules: 3-63 lowercase letters, digits, '-' and '.').
        name: String,
    },
    /// List the buckets you can see.
    List,
    /// Delete an empty bucket.
    Delete {
        /// Bucket name.
        name: String,
    },
    /// Show a bucket's owner, usage (and the part noncurrent versions hold), quota,
    /// versioning state and object lock.
    Info {
        /// Bucket name.
        name: String,
    },
    /// S3 versioning: `enable` keeps every version of every key from now on, `suspend` stops
    /// making new ones (those kept stay), `status` shows the state. A bucket never returns to
    /// unversioned.
    Versioning {
        /// Bucket name.
        bucket: String,
        /// enable, suspend or status.
        action: VersioningAction,
    },
    /// A bucket's (or share's `fs+<name>`) limits: bytes and objects (versions included), 0 =
    /// unlimited; a limit not given is unchanged. Set by the storage operator (admin).
    Quota {
        /// Bucket name.
        bucket: String,
        /// Sizes like 10Gi, 500Mi; 0 = unlimited.
        #[arg(long, value_parser = crate::config::parse_size)]
        max_size: Option<u64>,
        /// Objects, versions included; 0 = unlimited.
        #[arg(long)]
        max_objects: Option<u64>,
    },
    /// Default encryption of new objects: `aes256` (SSE-S3) or `aws-kms --key KEY` (SSE-KMS,
    /// a key of the key service) seals every new write (NFS writes of a share too), `off`
    /// stops (objects keep how they were written), `status` shows it.
    Encryption {
        /// Bucket name (a share's is fs+<name>).
        bucket: String,
        /// aes256, aws-kms, off or status.
        action: EncryptionAction,
        /// The key of aws-kms: id, alias/<name> or ARN.
        #[arg(long)]
        key: Option<String>,
    },
    /// The bucket policy (AWS policy language): `get` shows it, `private` removes it,
    /// `public` lets anyone (unsigned requests too) read and list, `set FILE` applies a
    /// policy document (`-` reads it from stdin).
    Policy {
        /// Bucket name.
        bucket: String,
        #[command(subcommand)]
        action: PolicyAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyAction {
    /// Show the preset (private, public, custom) and the document.
    Get,
    /// No policy: only role bindings decide.
    Private,
    /// Anyone may read every object and list the bucket.
    Public,
    /// Apply the policy document in FILE (`-` for stdin).
    Set {
        /// JSON policy document.
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EncryptionAction {
    /// Encrypt every new write (AES-256-GCM under keys derived from master.key).
    Aes256,
    /// Encrypt every new write under a key of the key service (with --key).
    AwsKms,
    /// No default: new writes stored as they come.
    Off,
    /// Show the setting.
    Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VersioningAction {
    /// Keep every version from now on.
    Enable,
    /// Make no new versions; the kept ones stay.
    Suspend,
    /// Show the state.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum ObjectCmd {
    /// Upload FILE as BUCKET/KEY.
    Put {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// Local file to upload.
        file: PathBuf,
    },
    /// Download BUCKET/KEY to FILE (`-` for standard output).
    Get {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// Local file to write, or `-` for standard output.
        file: PathBuf,
        /// This version instead of the current one (an id from `object versions`).
        #[arg(long, value_name = "ID")]
        version_id: Option<String>,
    },
    /// List the objects of a bucket.
    List {
        /// Bucket name.
        bucket: String,
        /// Only keys starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// Delete BUCKET/KEY (in a versioned bucket a delete marker hides it; its versions stay).
    Delete {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// Delete this one version (or delete marker) for good instead.
        #[arg(long, value_name = "ID")]
        version_id: Option<String>,
    },
    /// The versions and delete markers of BUCKET/KEY, newest first.
    Versions {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
    },
    /// Make version ID of BUCKET/KEY current again (a new version copied from it; the others
    /// stay).
    Restore {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// The version to restore (an id from `object versions`).
        version_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ShareCmd {
    /// Create a share (re-creating a recently deleted one restores its content).
    Create {
        /// DNS-safe: lowercase letters, digits and '-', at most 63 characters.
        name: String,
        /// What the share is for (shown by `share info`).
        #[arg(long, default_value = "")]
        description: String,
        /// 0 = unlimited; sizes like 10Gi, 500Mi, 1T; at most 1Ti.
        #[arg(long, default_value = "0", value_parser = crate::config::parse_size)]
        quota: u64,
        /// Objects the share may hold (versions included); 0 = unlimited.
        #[arg(long, default_value = "0")]
        max_objects: u64,
        /// YYYY-MM-DD or RFC 3339 [default: share_expiry_days from now]
        #[arg(long)]
        expires: Option<String>,
        /// Do not give the everyone group read access.
        #[arg(long)]
        no_guest_read: bool,
    },
    /// List shares (with --deleted: the deleted ones you could restore).
    List {
        /// List the deleted shares that can still be restored instead.
        #[arg(long)]
        deleted: bool,
    },
    /// Show one share: bucket, S3 alias, quota and usage, expiry.
    Info {
        /// Share name (without `fs+`).
        name: String,
    },
    /// Delete a share: hidden at once, data kept for tombstone_retention_days.
    Delete {
        /// Share name (without `fs+`).
        name: String,
    },
    /// Bring back a deleted share with its content.
    Restore {
        /// Share name (without `fs+`).
        name: String,
    },
    /// How to mount a share over NFSv3: export path, port, options, Linux/macOS commands, a
    /// libnfs URL (`--json`: export_path, port, mount_options, linux, macos, libnfs_url).
    MountInfo {
        /// Share name (without `fs+`).
        name: String,
    },
    /// Snapshots: read-only copies of a whole share as of one moment (metadata only), read as
    /// bucket `fs+SHARE@NAME` over S3 and under `/SHARE/.snapshots/NAME/` over NFS.
    #[command(subcommand)]
    Snapshot(SnapshotCmd),
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCmd {
    /// Take a snapshot of SHARE now.
    Create {
        /// Share name (without `fs+`).
        share: String,
        /// 1-63 lowercase letters, digits and '-' [default: snap-<unix seconds>]
        name: Option<String>,
    },
    /// List SHARE's snapshots, oldest first.
    List {
        /// Share name (without `fs+`).
        share: String,
    },
    /// Delete a snapshot (what only it holds is freed).
    Delete {
        /// Share name (without `fs+`).
        share: String,
        /// Snapshot name.
        name: String,
    },
    /// Put PATH back as snapshot NAME has it, in one call: a file (`a/b.txt`), a directory
    /// (`dir/`), or the whole share (no PATH). Files there that the snapshot did not have are
    /// removed.
    Restore {
        /// Share name (without `fs+`).
        share: String,
        /// Snapshot name.
        name: String,
        /// A file, a directory, or nothing for the whole share.
        #[arg(default_value = "", hide_default_value = true)]
        path: String,
    },
    /// Keep SHARE's snapshots DAYS days (the sweeper deletes older ones), or `off`: until
    /// deleted.
    Retention {
        /// Share name (without `fs+`).
        share: String,
        /// A number of days, or `off`.
        days: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PeerCmd {
    /// Map a client address or CIDR block to a user (id or name); NFS requests from it act as
    /// that user (the most specific entry wins).
    Add {
        /// One IPv4 or IPv6 address, or a CIDR block (10.0.0.0/24, fd00::/64).
        address: String,
        /// User id or name that requests from this address act as.
        user: String,
        /// Free text, e.g. which machine this is.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List peers.
    List,
    /// Remove a peer.
    Remove {
        /// The address or CIDR block as added.
        address: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReplicationCmd {
    /// Named remote S3 endpoints with their credentials (admin; the secret is never shown).
    #[command(subcommand)]
    Connection(ConnectionCmd),
    /// One rule per bucket: where its changes go (admin).
    #[command(subcommand)]
    Rule(ReplicationRuleCmd),
    /// Stop sending a bucket's changes (they keep being queued).
    Pause {
        /// Bucket name (a share's bucket as `fs+NAME` or `fs--NAME`).
        bucket: String,
    },
    /// Send a paused bucket's changes again, the queued ones first.
    Resume {
        /// Bucket name (a share's bucket as `fs+NAME` or `fs--NAME`).
        bucket: String,
    },
    /// Per rule: state, queued, in flight, replicated and failed counts, lag, last error
    /// (every rule you may see, or one bucket's with the keys that failed).
    Status {
        /// Only this bucket's rule.
        bucket: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConnectionCmd {
    /// Add a connection (or replace the one of that name).
    Add {
        /// 1-63 of a-z, 0-9, '-', '_', '.', starting with a letter or digit.
        name: String,
        /// The remote S3 service: an http:// or https:// URL.
        #[arg(long, value_name = "URL")]
        endpoint: String,
        /// Access key on the remote service.
        #[arg(long, value_name = "AK")]
        access_key: String,
        /// A file holding the secret key (a trailing newline is ignored), or `-` for standard
        /// input. Never given on the command line, where other users could read it.
        #[arg(long, value_name = "FILE|-")]
        secret_key_file: PathBuf,
        /// Region to sign for [default: us-east-1].
        #[arg(long, value_name = "R")]
        region: Option<String>,
    },
    /// List connections.
    List,
    /// Remove a connection (refused while a rule uses it).
    Remove {
        /// Connection name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReplicationRuleCmd {
    /// Replicate BUCKET to a bucket on a connection (replaces BUCKET's rule if it has one,
    /// keeping its queue and counts).
    Add {
        /// Bucket name (a share's bucket as `fs+NAME` or `fs--NAME`).
        bucket: String,
        /// The connection to send through.
        #[arg(long, value_name = "NAME")]
        connection: String,
        /// The bucket on the connection's endpoint.
        #[arg(long, value_name = "B")]
        target_bucket: String,
        /// Only keys starting with this.
        #[arg(long, value_name = "P", default_value = "")]
        prefix: String,
        /// Replicate deletes too.
        #[arg(long)]
        deletes: bool,
        /// Send only changes from now on, not the objects already in the bucket (a new rule).
        #[arg(long)]
        no_existing: bool,
        /// Add the rule paused: changes are queued, none sent until `replication resume`.
        #[arg(long)]
        paused: bool,
    },
    /// List rules.
    List,
    /// Remove BUCKET's rule and its queue (changes not sent yet are not sent).
    Remove {
        /// Bucket name.
        bucket: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum StorageCmd {
    /// Used and free space: the server's limit, the disk, and every bucket (current and
    /// noncurrent bytes, and what a share's snapshots hold).
    Status,
    /// Moves a stopped server's chunk files into the remote backend its config names
    /// (`storage.backend: s3`): each checked against its hash, resumable (run it again after
    /// an interruption); the data directory then keeps its chunks there. Talks to no server.
    Migrate {
        /// Required: the direction (the only one there is).
        #[arg(long, required = true)]
        to_backend: bool,
        /// The config file with the target `storage.backend`; `--data-dir` overrides its
        /// `data_dir`.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}
