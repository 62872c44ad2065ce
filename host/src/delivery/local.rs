//! `store.type: local`: queued leads in one redb file in a directory only
//! this user may change.
//!
//! Every change is one redb write transaction, durable on disk when
//! `commit` returns (redb's default, immediate durability: the file is
//! synced), so a lead answered 202 survives `kill -9` at any moment. One
//! process owns the store at a time (redb locks the file); a second `serve`
//! on the same directory is refused at start.
//!
//! An attempt is recorded before it is made: taking a due delivery moves
//! its next attempt to the end of a lease, so that after a crash it is
//! tried again once the lease ends (at least once; the `Idempotency-Key`
//! lets the upstream see the repeat).

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::seal::Sealer;
use super::store::{Accepted, Dedup, Due, Meta, NewDelivery, Payload, RouteStats, StoreError};
use crate::private_fs::{make_private_dir, trusted};

/// Sealed payloads by delivery id.
const LEADS: TableDefinition<&str, &[u8]> = TableDefinition::new("leads");
/// [`Meta`] (JSON) by delivery id.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Pending deliveries by next attempt: the schedule.
const DUE: TableDefinition<(u64, &str), ()> = TableDefinition::new("due");
/// The deliveries of a request (JSON) by the keyed hash of its duplicate key.
const DEDUP: TableDefinition<&str, &[u8]> = TableDefinition::new("dedup");
/// Duplicate keys by the end of their window, for expiry.
const DEDUP_UNTIL: TableDefinition<(u64, &str), ()> = TableDefinition::new("dedup-until");

/// The file in the store's directory.
pub const STORE_FILE: &str = "queue.redb";

/// The embedded store.
pub struct LocalStore {
    db: Database,
    file: PathBuf,
    sealer: Sealer,
    max_bytes: u64,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("file", &self.file)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// What [`LocalStore::update`] does with a delivery's record.
enum Change {
    /// Write the edited record back.
    Keep,
    /// Remove the delivery and its payload.
    Remove,
}

/// The stored deliveries of a request, for a duplicate's answer.
#[derive(serde::Serialize, serde::Deserialize)]
struct DedupEntry {
    until: u64,
    deliveries: Vec<(Option<String>, String)>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl LocalStore {
    /// Opens (or creates) the store in `dir`: the directory is created with
    /// mode 0700, and refused if another user owns it or others may write
    /// it. `max_bytes` bounds the file; at the bound new leads are refused.
    pub fn open(dir: &Path, sealer: Sealer, max_bytes: u64) -> Result<LocalStore, StoreError> {
        make_private_dir(dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create `{}`: {e}", dir.display()))
        })?;
        let meta = std::fs::metadata(dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot read `{}`: {e}", dir.display()))
        })?;
        if !meta.is_dir() || !trusted(&meta) {
            return Err(StoreError::Unavailable(format!(
                "`{}` is not a directory owned by you that only you may write (make it yours with mode 0700)",
                dir.display()
            )));
        }
        let file = dir.join(STORE_FILE);
        let db = Database::create(&file).map_err(|e| {
            StoreError::Unavailable(format!("cannot open `{}`: {e}", file.display()))
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(
                |e| StoreError::Unavailable(format!("cannot protect `{}`: {e}", file.display())),
            )?;
        }
        let store = LocalStore {
            db,
            file,
            sealer,
            max_bytes,
        };
        store.create_tables()?;
        Ok(store)
    }

    fn create_tables(&self) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(unavailable)?;
        tx.open_table(LEADS).map_err(unavailable)?;
        tx.open_table(META).map_err(unavailable)?;
        tx.open_table(DUE).map_err(unavailable)?;
        tx.open_table(DEDUP).map_err(unavailable)?;
        tx.open_table(DEDUP_UNTIL).map_err(unavailable)?;
        tx.commit().map_err(unavailable)
    }

    /// The keyed hash a route's duplicate key is stored as.
    pub fn dedup_key(&self, route: &str, key: &[u8]) -> String {
        self.sealer.dedup_key(route, key)
    }

    /// The store's file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Stores a request's deliveries, all or none, due at `now`; with a
    /// duplicate key seen within its window, stores nothing and says which
    /// deliveries the first request made.
    pub fn accept(
        &self,
        deliveries: &[NewDelivery],
        dedup: Option<&Dedup>,
        now: u64,
    ) -> Result<Accepted, StoreError> {
        let sealed: Vec<Vec<u8>> = deliveries
            .iter()
            .map(|d| {
                let plain = serde_json::to_vec(&d.payload).expect("a payload serialises");
                self.sealer.seal(&d.id, &plain)
            })
            .collect();
        let adding: u64 = sealed.iter().map(|s| s.len() as u64 + 512).sum();
        let size = std::fs::metadata(&self.file).map(|m| m.len()).unwrap_or(0);
        if size.saturating_add(adding) > self.max_bytes {
            return Err(StoreError::Full);
        }
        let tx = self.db.begin_write().map_err(unavailable)?;
        {
            let mut dedup_table = tx.open_table(DEDUP).map_err(unavailable)?;
            let mut dedup_until = tx.open_table(DEDUP_UNTIL).map_err(unavailable)?;
            expire_dedup(&mut dedup_table, &mut dedup_until, now)?;
            if let Some(dedup) = dedup {
                if let Some(first) = dedup_table.get(dedup.key.as_str()).map_err(unavailable)? {
                    let entry: DedupEntry = serde_json::from_slice(first.value())
                        .map_err(|e| unavailable(format!("a duplicate key record: {e}")))?;
                    if entry.until >= now {
                        return Ok(Accepted::Duplicate(entry.deliveries));
                    }
                }
                let entry = DedupEntry {
                    until: dedup.until,
                    deliveries: deliveries
                        .iter()
                        .map(|d| (d.destination.clone(), d.id.clone()))
                        .collect(),
                };
                let bytes = serde_json::to_vec(&entry).expect("an entry serialises");
                dedup_table
                    .insert(dedup.key.as_str(), bytes.as_slice())
                    .map_err(unavailable)?;
                dedup_until
                    .insert((dedup.until, dedup.key.as_str()), ())
                    .map_err(unavailable)?;
            }
            let mut leads = tx.open_table(LEADS).map_err(unavailable)?;
            let mut metas = tx.open_table(META).map_err(unavailable)?;
            let mut due = tx.open_table(DUE).map_err(unavailable)?;
            for (delivery, sealed) in deliveries.iter().zip(&sealed) {
                let meta = Meta {
                    id: delivery.id.clone(),
                    route: delivery.route.clone(),
                    destination: delivery.destination.clone(),
                    created: now,
                    attempts: 0,
                    next_attempt: now,
                    last_status: None,
                    dead: false,
                };
                leads
                    .insert(delivery.id.as_str(), sealed.as_slice())
                    .map_err(unavailable)?;
                put_meta(&mut metas, &meta)?;
                due.insert((now, delivery.id.as_str()), ())
                    .map_err(unavailable)?;
            }
        }
        tx.commit().map_err(unavailable)?;
        Ok(Accepted::Stored)
    }

    /// Takes up to `limit` deliveries due at `now`: each is leased until
    /// `lease_until` (its next attempt moves there, durably, before it is
    /// handed out), so that a crash during the attempt only delays it.
    pub fn take_due(
        &self,
        now: u64,
        lease_until: u64,
        limit: usize,
    ) -> Result<Vec<Due>, StoreError> {
        let tx = self.db.begin_write().map_err(unavailable)?;
        let mut taken = Vec::new();
        {
            let mut due = tx.open_table(DUE).map_err(unavailable)?;
            let mut metas = tx.open_table(META).map_err(unavailable)?;
            let leads = tx.open_table(LEADS).map_err(unavailable)?;
            let ready: Vec<(u64, String)> = due
                .range((0u64, "")..(now.saturating_add(1), ""))
                .map_err(unavailable)?
                .take(limit)
                .map(|entry| entry.map(|(k, _)| (k.value().0, k.value().1.to_owned())))
                .collect::<Result<_, _>>()
                .map_err(unavailable)?;
            for (at, id) in ready {
                due.remove((at, id.as_str())).map_err(unavailable)?;
                let Some(mut meta) = get_meta(&metas, &id)? else {
                    continue;
                };
                let Some(payload) = self.open_payload(&leads, &id) else {
                    // Sealed under another key, or changed on disk: never
                    // sent, kept as a dead letter for an operator to see.
                    meta.dead = true;
                    meta.last_status = Some("unreadable".into());
                    put_meta(&mut metas, &meta)?;
                    continue;
                };
                meta.next_attempt = lease_until;
                put_meta(&mut metas, &meta)?;
                due.insert((lease_until, id.as_str()), ())
                    .map_err(unavailable)?;
                taken.push(Due { meta, payload });
            }
        }
        tx.commit().map_err(unavailable)?;
        Ok(taken)
    }

    /// When the next pending delivery is due (Unix milliseconds), without
    /// writing anything: the deliverer sleeps until then.
    pub fn next_due(&self) -> Result<Option<u64>, StoreError> {
        let tx = self.db.begin_read().map_err(unavailable)?;
        let due = tx.open_table(DUE).map_err(unavailable)?;
        let first = due.first().map_err(unavailable)?;
        Ok(first.map(|(key, _)| key.value().0))
    }

    /// A delivery's payload, if it opens under this store's key and parses.
    fn open_payload(&self, leads: &redb::Table<&str, &[u8]>, id: &str) -> Option<Payload> {
        let sealed = leads.get(id).ok()??.value().to_vec();
        let plain = self.sealer.open(id, &sealed).ok()?;
        serde_json::from_slice(&plain).ok()
    }

    /// The attempt delivered: the delivery is removed.
    pub fn delivered(&self, id: &str) -> Result<(), StoreError> {
        self.update(id, |_| Change::Remove).map(drop)
    }

    /// The attempt failed; the next one is due at `at`.
    pub fn retry_at(
        &self,
        id: &str,
        attempts: u32,
        at: u64,
        status: &str,
    ) -> Result<(), StoreError> {
        self.update(id, |meta| {
            meta.attempts = attempts;
            meta.next_attempt = at;
            meta.last_status = Some(status.to_owned());
            meta.dead = false;
            Change::Keep
        })
        .map(drop)
    }

    /// The delivery was taken but not tried (the proxy is stopping): due
    /// again at `at`, its record otherwise unchanged.
    pub fn release(&self, id: &str, at: u64) -> Result<(), StoreError> {
        self.update(id, |meta| {
            if !meta.dead {
                meta.next_attempt = at;
            }
            Change::Keep
        })
        .map(drop)
    }

    /// No more attempts: a dead letter (kept for `queue retry`).
    pub fn dead(&self, id: &str, attempts: u32, now: u64, status: &str) -> Result<(), StoreError> {
        self.update(id, |meta| {
            meta.attempts = attempts;
            meta.next_attempt = now;
            meta.last_status = Some(status.to_owned());
            meta.dead = true;
            Change::Keep
        })
        .map(drop)
    }

    /// Changes a delivery's record in one transaction: `change` edits it
    /// and keeps it, or removes the delivery. Whether it was there.
    fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut Meta) -> Change,
    ) -> Result<bool, StoreError> {
        let tx = self.db.begin_write().map_err(unavailable)?;
        {
            let mut metas = tx.open_table(META).map_err(unavailable)?;
            let mut due = tx.open_table(DUE).map_err(unavailable)?;
            let Some(mut meta) = get_meta(&metas, id)? else {
                return Ok(false);
            };
            if !meta.dead {
                due.remove((meta.next_attempt, id)).map_err(unavailable)?;
            }
            match change(&mut meta) {
                Change::Keep => {
                    put_meta(&mut metas, &meta)?;
                    if !meta.dead {
                        due.insert((meta.next_attempt, id), ())
                            .map_err(unavailable)?;
                    }
                }
                Change::Remove => {
                    metas.remove(id).map_err(unavailable)?;
                    tx.open_table(LEADS)
                        .map_err(unavailable)?
                        .remove(id)
                        .map_err(unavailable)?;
                }
            }
        }
        tx.commit().map_err(unavailable)?;
        Ok(true)
    }

    /// Every delivery's record (only dead letters with `dead_only`), oldest
    /// first.
    pub fn list(&self, dead_only: bool) -> Result<Vec<Meta>, StoreError> {
        let tx = self.db.begin_read().map_err(unavailable)?;
        let metas = tx.open_table(META).map_err(unavailable)?;
        let mut out = Vec::new();
        for entry in metas.iter().map_err(unavailable)? {
            let (id, bytes) = entry.map_err(unavailable)?;
            let meta: Meta = serde_json::from_slice(bytes.value())
                .map_err(|_| corrupt(id.value(), "its record does not parse"))?;
            if !dead_only || meta.dead {
                out.push(meta);
            }
        }
        out.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(out)
    }

    /// The given deliveries (dead letters, usually) are due again at
    /// `now`, with a fresh schedule. Returns how many were found.
    pub fn retry(&self, ids: &[String], now: u64) -> Result<usize, StoreError> {
        self.count(ids, |meta| {
            meta.attempts = 0;
            meta.created = now;
            meta.next_attempt = now;
            meta.dead = false;
            Change::Keep
        })
    }

    /// Removes the given deliveries. Returns how many were found.
    pub fn drop_deliveries(&self, ids: &[String]) -> Result<usize, StoreError> {
        self.count(ids, |_| Change::Remove)
    }

    /// Applies `change` to each delivery of `ids`; how many were found.
    fn count(
        &self,
        ids: &[String],
        change: impl Fn(&mut Meta) -> Change,
    ) -> Result<usize, StoreError> {
        ids.iter().try_fold(0, |found, id| {
            Ok(found + usize::from(self.update(id, &change)?))
        })
    }

    /// Counts per route.
    pub fn stats(&self) -> Result<std::collections::BTreeMap<String, RouteStats>, StoreError> {
        let mut out = std::collections::BTreeMap::<String, RouteStats>::new();
        for meta in self.list(false)? {
            let stats = out.entry(meta.route.clone()).or_default();
            if meta.dead {
                stats.dead += 1;
            } else {
                stats.pending += 1;
                stats.oldest_pending = Some(
                    stats
                        .oldest_pending
                        .map_or(meta.created, |t| t.min(meta.created)),
                );
            }
        }
        Ok(out)
    }
}

fn corrupt(id: &str, reason: &str) -> StoreError {
    StoreError::Corrupt {
        id: id.to_owned(),
        reason: reason.to_owned(),
    }
}

fn get_meta(
    metas: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> Result<Option<Meta>, StoreError> {
    match metas.get(id).map_err(unavailable)? {
        Some(bytes) => serde_json::from_slice(bytes.value())
            .map(Some)
            .map_err(|_| corrupt(id, "its record does not parse")),
        None => Ok(None),
    }
}

fn put_meta(metas: &mut redb::Table<&str, &[u8]>, meta: &Meta) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(meta).expect("a record serialises");
    metas
        .insert(meta.id.as_str(), bytes.as_slice())
        .map_err(unavailable)?;
    Ok(())
}

/// Forgets duplicate keys whose window ended before `now`.
fn expire_dedup(
    dedup: &mut redb::Table<&str, &[u8]>,
    until: &mut redb::Table<(u64, &str), ()>,
    now: u64,
) -> Result<(), StoreError> {
    let ended: Vec<(u64, String)> = until
        .range((0u64, "")..(now, ""))
        .map_err(unavailable)?
        .take(1024)
        .map(|entry| entry.map(|(k, _)| (k.value().0, k.value().1.to_owned())))
        .collect::<Result<_, _>>()
        .map_err(unavailable)?;
    for (at, key) in ended {
        until.remove((at, key.as_str())).map_err(unavailable)?;
        // A key seen again after its window has a new entry: keep that.
        let current = dedup
            .get(key.as_str())
            .map_err(unavailable)?
            .and_then(|v| serde_json::from_slice::<DedupEntry>(v.value()).ok())
            .map(|entry| entry.until);
        if current.is_none_or(|until| until == at) {
            dedup.remove(key.as_str()).map_err(unavailable)?;
        }
    }
    Ok(())
}
