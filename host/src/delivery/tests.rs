//! The local store: all or none, duplicates, the schedule's bookkeeping,
//! leases after a crash, the size bound, and no plaintext at rest.

use super::store::new_delivery_id;
use super::*;

const KEY: &[u8] = b"the queue key, thirty-two bytes or more";
const CANARY: &str = "canary-7f3a@example.com";

fn delivery(route: &str, destination: Option<&str>) -> NewDelivery {
    NewDelivery {
        id: new_delivery_id(),
        route: route.into(),
        destination: destination.map(str::to_owned),
        payload: Payload {
            lead: format!("{{\"email\":\"{CANARY}\"}}"),
            request_id: "req-1".into(),
        },
    }
}

fn open(dir: &std::path::Path) -> LocalStore {
    LocalStore::open(dir, Sealer::new(KEY), 64 << 20).unwrap()
}

#[test]
fn a_stored_lead_is_due_once_leased_and_gone_when_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let d = delivery("/hooks/a", None);
    assert_eq!(
        store.accept(std::slice::from_ref(&d), None, 1000).unwrap(),
        Accepted::Stored
    );
    assert!(
        store.take_due(999, 5000, 10).unwrap().is_empty(),
        "not due yet"
    );
    let due = store.take_due(1000, 5000, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].payload, d.payload);
    assert_eq!(due[0].meta.id, d.id);
    // Leased: not handed out again until the lease ends.
    assert!(store.take_due(4999, 9000, 10).unwrap().is_empty());
    store.delivered(&d.id).unwrap();
    assert!(
        store
            .take_due(u64::MAX - 1, u64::MAX, 10)
            .unwrap()
            .is_empty()
    );
    assert!(store.list(false).unwrap().is_empty());
}

#[test]
fn a_lease_outlives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let d = delivery("/hooks/a", None);
    {
        let store = open(dir.path());
        store.accept(std::slice::from_ref(&d), None, 1000).unwrap();
        assert_eq!(store.take_due(1000, 5000, 10).unwrap().len(), 1);
        // The process dies here, mid-attempt.
    }
    let store = open(dir.path());
    assert!(store.take_due(4999, 9000, 10).unwrap().is_empty());
    let again = store.take_due(5000, 9000, 10).unwrap();
    assert_eq!(again.len(), 1, "tried again after the lease");
    assert_eq!(again[0].payload, d.payload);
}

#[test]
fn retries_and_dead_letters_are_recorded_without_values() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let d = delivery("/hooks/a", Some("crm"));
    store.accept(std::slice::from_ref(&d), None, 1000).unwrap();
    store.take_due(1000, 2000, 10).unwrap();
    store.retry_at(&d.id, 1, 6000, "500").unwrap();
    assert!(store.take_due(5999, 9000, 10).unwrap().is_empty());
    assert_eq!(store.take_due(6000, 9000, 10).unwrap()[0].meta.attempts, 1);
    store.dead(&d.id, 2, 9000, "410").unwrap();
    assert!(
        store
            .take_due(u64::MAX - 1, u64::MAX, 10)
            .unwrap()
            .is_empty(),
        "dead letters wait"
    );
    let dead = store.list(true).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_status.as_deref(), Some("410"));
    assert_eq!(dead[0].destination.as_deref(), Some("crm"));
    let stats = store.stats().unwrap();
    assert_eq!(stats["/hooks/a"].dead, 1);
    assert_eq!(stats["/hooks/a"].pending, 0);
    assert_eq!(store.retry(std::slice::from_ref(&d.id), 10_000).unwrap(), 1);
    let due = store.take_due(10_000, 20_000, 10).unwrap();
    assert_eq!(due[0].meta.attempts, 0, "a fresh schedule");
    assert_eq!(
        store
            .drop_deliveries(&[d.id.clone(), "nope".into()])
            .unwrap(),
        1
    );
    assert!(store.list(false).unwrap().is_empty());
}

#[test]
fn a_request_with_a_seen_key_is_a_duplicate_until_its_window_ends() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let sealer = Sealer::new(KEY);
    let dedup = Dedup {
        key: sealer.dedup_key("/hooks/a", b"msg_1"),
        until: 5000,
    };
    let first = [
        delivery("/hooks/a", Some("crm")),
        delivery("/hooks/a", Some("sheet")),
    ];
    assert_eq!(
        store.accept(&first, Some(&dedup), 1000).unwrap(),
        Accepted::Stored
    );
    let again = [
        delivery("/hooks/a", Some("crm")),
        delivery("/hooks/a", Some("sheet")),
    ];
    assert_eq!(
        store.accept(&again, Some(&dedup), 4000).unwrap(),
        Accepted::Duplicate(vec![
            (Some("crm".into()), first[0].id.clone()),
            (Some("sheet".into()), first[1].id.clone()),
        ])
    );
    assert_eq!(
        store.list(false).unwrap().len(),
        2,
        "the duplicate stored nothing"
    );
    let later = Dedup {
        key: dedup.key.clone(),
        until: 9000,
    };
    assert_eq!(
        store.accept(&again, Some(&later), 5001).unwrap(),
        Accepted::Stored
    );
    assert_eq!(store.list(false).unwrap().len(), 4);
}

#[test]
fn the_size_bound_refuses_new_leads() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path(), Sealer::new(KEY), 1).unwrap();
    assert!(matches!(
        store.accept(&[delivery("/hooks/a", None)], None, 1000),
        Err(StoreError::Full)
    ));
    assert!(store.list(false).unwrap().is_empty());
}

#[test]
fn nothing_of_a_lead_is_in_the_clear_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let dedup = Dedup {
            key: Sealer::new(KEY).dedup_key("/hooks/a", CANARY.as_bytes()),
            until: 5000,
        };
        store
            .accept(&[delivery("/hooks/a", None)], Some(&dedup), 1000)
            .unwrap();
    }
    let bytes = std::fs::read(dir.path().join(local::STORE_FILE)).unwrap();
    for needle in [CANARY, "canary", "req-1"] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "`{needle}` is in the store file"
        );
    }
}

#[cfg(unix)]
#[test]
fn the_store_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("queue");
    open(&store_dir);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&store_dir), 0o700);
    assert_eq!(mode(&store_dir.join(local::STORE_FILE)), 0o600);
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let refused = LocalStore::open(&shared, Sealer::new(KEY), 1 << 20).unwrap_err();
    assert!(
        refused.to_string().contains("only you may write"),
        "{refused}"
    );
}

#[test]
fn a_second_process_cannot_open_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path());
    let second = LocalStore::open(dir.path(), Sealer::new(KEY), 1 << 20).unwrap_err();
    assert!(second.to_string().contains("cannot open"), "{second}");
}

#[test]
fn a_record_under_another_key_is_a_dead_letter_never_sent() {
    let dir = tempfile::tempdir().unwrap();
    let d = delivery("/hooks/a", None);
    open(dir.path())
        .accept(std::slice::from_ref(&d), None, 1000)
        .unwrap();
    let other = LocalStore::open(
        dir.path(),
        Sealer::new(b"a different key, thirty-two bytes long"),
        64 << 20,
    )
    .unwrap();
    assert!(other.take_due(1000, 5000, 10).unwrap().is_empty());
    let dead = other.list(true).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_status.as_deref(), Some("unreadable"));
}

#[tokio::test]
async fn the_async_queue_settles_each_outcome_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::Local(std::sync::Arc::new(open(dir.path())));
    let a = delivery("/hooks/a", None);
    let b = delivery("/hooks/a", Some("crm"));
    let c = delivery("/hooks/b", None);
    let stored = queue
        .accept(vec![a.clone(), b.clone(), c.clone()], None, 1000)
        .await;
    assert_eq!(stored.unwrap(), Accepted::Stored);
    assert_eq!(queue.next_due().await.unwrap(), Some(1000));
    let due = queue.take(1000, 60_000, 10).await.unwrap();
    assert_eq!(due.len(), 3);
    let by_id = |id: &str| due.iter().find(|d| d.meta.id == id).unwrap();
    queue
        .settle(by_id(&a.id), Settle::Delivered, 2000)
        .await
        .unwrap();
    let retry = Settle::RetryAt {
        attempts: 1,
        at: 7000,
        status: "500".into(),
    };
    queue.settle(by_id(&b.id), retry, 2000).await.unwrap();
    let dead = Settle::Dead {
        attempts: 1,
        status: "410".into(),
    };
    queue.settle(by_id(&c.id), dead, 2000).await.unwrap();
    let all = queue.list(false).await.unwrap();
    assert_eq!(all.len(), 2, "the delivered one is gone");
    let dead = queue.list(true).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, c.id);
    assert_eq!(dead[0].last_status.as_deref(), Some("410"));
    assert_eq!(queue.next_due().await.unwrap(), Some(7000));
    assert_eq!(queue.retry(vec![c.id.clone()], 8000).await.unwrap(), 1);
    assert_eq!(
        queue
            .drop_deliveries(vec![b.id.clone(), "nope".into()])
            .await
            .unwrap(),
        1
    );
    let stats = queue.stats().await.unwrap();
    assert_eq!(stats["/hooks/b"].pending, 1);
    assert!(!stats.contains_key("/hooks/a"));
}
