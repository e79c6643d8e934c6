//! [`Ns`]: the namespace tables of one write transaction, each opened on first use and kept
//! open until the `Ns` is dropped.
//!
//! Opening a redb table costs more than a lookup in it (the table tree is searched, the
//! definition decoded and type-checked, the root written back on close), and a file-view
//! create touches six tables a dozen times. One `Ns` per mutation opens each table once.
//!
//! redb refuses to open a table twice at once in one transaction, so while an `Ns` lives the
//! tables it holds are reached through it only. A helper given a fresh `Ns::new(txn)` for one
//! call opens and closes its tables as it returns, as a helper taking the transaction would.

use std::cell::OnceCell;

use redb::{Key, Table, TableDefinition, Value, WriteTransaction};

use crate::error::{Result, StoreError};
use crate::tables;

/// `cell`'s table, opened by `txn` if it is not open yet.
fn open<'s, 't, K: Key + 'static, V: Value + 'static>(
    txn: &'t WriteTransaction,
    cell: &'s OnceCell<Table<'t, K, V>>,
    def: TableDefinition<K, V>,
) -> Result<&'s Table<'t, K, V>> {
    if cell.get().is_none() {
        let _ = cell.set(txn.open_table(def)?);
    }
    cell.get()
        .ok_or_else(|| StoreError::Internal(format!("table {def} not open")))
}

/// [`open`], for writing.
fn open_mut<'s, 't, K: Key + 'static, V: Value + 'static>(
    txn: &'t WriteTransaction,
    cell: &'s mut OnceCell<Table<'t, K, V>>,
    def: TableDefinition<K, V>,
) -> Result<&'s mut Table<'t, K, V>> {
    open(txn, cell, def)?;
    cell.get_mut()
        .ok_or_else(|| StoreError::Internal(format!("table {def} not open")))
}

macro_rules! namespace_tables {
    ($($(#[$doc:meta])* $name:ident, $name_mut:ident: $def:ident <$k:ty, $v:ty>;)*) => {
        pub(crate) struct Ns<'t> {
            txn: &'t WriteTransaction,
            $($name: OnceCell<Table<'t, $k, $v>>,)*
        }

        impl<'t> Ns<'t> {
            pub fn new(txn: &'t WriteTransaction) -> Self {
                Ns {
                    txn,
                    $($name: OnceCell::new(),)*
                }
            }

            $(
                $(#[$doc])*
                #[allow(dead_code)] // some tables are only written through an `Ns`
                pub fn $name(&self) -> Result<&Table<'t, $k, $v>> {
                    open(self.txn, &self.$name, tables::$def)
                }

                pub fn $name_mut(&mut self) -> Result<&mut Table<'t, $k, $v>> {
                    open_mut(self.txn, &mut self.$name, tables::$def)
                }
            )*
        }
    };
}

namespace_tables! {
    /// [`tables::META`]: counters.
    meta, meta_mut: META<&'static str, &'static [u8]>;
    /// [`tables::BUCKETS`].
    buckets, buckets_mut: BUCKETS<&'static str, &'static [u8]>;
    /// [`tables::ENTRIES`]: bucket id ++ key → inode.
    entries, entries_mut: ENTRIES<&'static [u8], u64>;
    /// [`tables::INODES`]: attributes.
    inodes, inodes_mut: INODES<u64, &'static [u8]>;
    /// [`tables::INODE_DATA`]: inline bytes or chunk lists.
    data, data_mut: INODE_DATA<u64, &'static [u8]>;
    /// [`tables::CHUNKS`]: reference counts.
    chunks, chunks_mut: CHUNKS<&'static [u8; 32], (u64, u64)>;
    /// [`tables::DIR_PATHS`]: directory inode → path.
    dir_paths, dir_paths_mut: DIR_PATHS<u64, &'static [u8]>;
    /// [`tables::DIR_INODES`]: directory path → inode.
    dir_inodes, dir_inodes_mut: DIR_INODES<&'static [u8], u64>;
    /// [`tables::DIR_TIMES`]: when a directory's listing last changed.
    dir_times, dir_times_mut: DIR_TIMES<&'static [u8], u64>;
    /// [`tables::DIR_SUBDIRS`]: how many subdirectories a directory has.
    dir_subdirs, dir_subdirs_mut: DIR_SUBDIRS<&'static [u8], u64>;
    /// [`tables::EXPIRY_DUE`]: objects by the time a rule may expire them.
    expiry_due, expiry_due_mut: EXPIRY_DUE<&'static [u8], ()>;
    /// [`tables::CHUNK_FREED`]: chunks whose last reference went.
    chunk_freed, chunk_freed_mut: CHUNK_FREED<&'static [u8], ()>;
    /// [`tables::CHUNK_FREED_AT`]: when each chunk in `chunk_freed` was last freed.
    chunk_freed_at, chunk_freed_at_mut: CHUNK_FREED_AT<&'static [u8; 32], u64>;
    /// [`tables::REPL_RULES`]: replication rules and their running totals.
    repl_rules, repl_rules_mut: REPL_RULES<u64, &'static [u8]>;
    /// [`tables::REPL_QUEUE`]: keys waiting to be replicated.
    repl_queue, repl_queue_mut: REPL_QUEUE<&'static [u8], &'static [u8]>;
    /// [`tables::REPL_LATEST`]: a key's row in the queue.
    repl_latest, repl_latest_mut: REPL_LATEST<&'static [u8], u64>;
    /// [`tables::INODE_NAMES`]: the keys of a share's inodes.
    inode_names, inode_names_mut: INODE_NAMES<&'static [u8], ()>;
    /// [`tables::REPL_FAILED`]: keys the target refused.
    repl_failed, repl_failed_mut: REPL_FAILED<&'static [u8], &'static [u8]>;
    /// [`tables::VERSION_LOG`]: noncurrent versions and delete markers in write order.
    version_log, version_log_mut: VERSION_LOG<&'static [u8], &'static [u8]>;
    /// [`tables::VERSION_HEADS`]: each key's newest noncurrent row.
    version_heads, version_heads_mut: VERSION_HEADS<&'static [u8], u64>;
    /// [`tables::NONCURRENT_DUE`]: keys with versions a lifecycle rule may expire.
    noncurrent_due, noncurrent_due_mut: NONCURRENT_DUE<&'static [u8], ()>;
    /// [`tables::INODE_VERSIONS`]: versions the file view kept of an inode.
    inode_versions, inode_versions_mut: INODE_VERSIONS<&'static [u8], &'static [u8]>;
}

impl<'t> Ns<'t> {
    /// The transaction, for tables an `Ns` does not hold.
    pub fn txn(&self) -> &'t WriteTransaction {
        self.txn
    }
}
