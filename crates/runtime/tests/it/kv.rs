//! The scoped KV store: its contract run against both implementations,
//! isolation between namespaces, every quota refusal, durability across
//! reopening and across a writer killed mid-run, and concurrent use.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use bitvault_runtime::kv::{
    KvError, KvPage, KvQuotas, KvStore, KvUsage, MAX_LIST_LIMIT, MAX_PATH_BYTES, MAX_PLUGIN_BYTES,
    MAX_TENANT_BYTES, MemoryKv, Namespace, RedbKv,
};

fn ns(tenant: &str, plugin: &str) -> Result<Namespace> {
    Ok(Namespace::new(tenant, plugin)?)
}

fn std_quotas() -> KvQuotas {
    KvQuotas::standard()
}

/// Runs `check` against a fresh store of each implementation.
fn each_store(check: impl Fn(&dyn KvStore) -> Result<()>) -> Result<()> {
    check(&MemoryKv::new()).context("MemoryKv")?;
    let dir = tempfile::tempdir()?;
    let store = RedbKv::open(dir.path().join("kv.redb"))?;
    check(&store).context("RedbKv")?;
    Ok(())
}

/// The error of a call that must fail.
fn refused<T: std::fmt::Debug>(r: Result<T, KvError>) -> Result<KvError> {
    match r {
        Ok(v) => bail!("expected a refusal, got Ok({v:?})"),
        Err(e) => Ok(e),
    }
}

/// Every key of `ns` under `prefix`, following cursors page by page, and
/// checking each page's shape.
fn list_all(
    store: &dyn KvStore,
    ns: &Namespace,
    prefix: &[u8],
    limit: usize,
) -> Result<Vec<Vec<u8>>> {
    let mut all = Vec::new();
    let mut cursor: Option<Vec<u8>> = None;
    for _ in 0..10_000 {
        let KvPage { keys, next } = store.list(ns, prefix, cursor.as_deref(), limit)?;
        ensure!(
            keys.len() <= limit.clamp(1, MAX_LIST_LIMIT),
            "page over its limit"
        );
        ensure!(keys.windows(2).all(|w| w[0] < w[1]), "page out of order");
        ensure!(
            keys.iter().all(|k| k.starts_with(prefix)),
            "key outside the prefix"
        );
        if let (Some(last), Some(k)) = (all.last(), keys.first()) {
            ensure!(last < k, "pages overlap or go backwards");
        }
        all.extend(keys.iter().cloned());
        match next {
            Some(n) => {
                ensure!(Some(&n) == keys.last(), "cursor is not the page's last key");
                cursor = Some(n);
            }
            None => return Ok(all),
        }
    }
    bail!("listing never ended")
}

/// Everything a namespace holds: its entries in order and its usage.
type Snapshot = (Vec<(Vec<u8>, Vec<u8>)>, KvUsage);

fn snapshot(store: &dyn KvStore, ns: &Namespace) -> Result<Snapshot> {
    let mut entries = Vec::new();
    for k in list_all(store, ns, b"", MAX_LIST_LIMIT)? {
        let v = store.get(ns, &k)?.context("listed key has no value")?;
        entries.push((k, v));
    }
    Ok((entries, store.usage(ns)?))
}

/// The usage a namespace's data implies, computed by a full scan.
fn scanned_usage(store: &dyn KvStore, ns: &Namespace) -> Result<KvUsage> {
    let (entries, _) = snapshot(store, ns)?;
    Ok(KvUsage {
        keys: entries.len() as u64,
        bytes: entries
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum(),
    })
}

fn keys(list: &[&[u8]]) -> Vec<Vec<u8>> {
    list.iter().map(|k| k.to_vec()).collect()
}

// ---------------------------------------------------------------------
// Namespaces

#[test]
fn namespaces_are_validated() -> Result<()> {
    let refusal = refused(Namespace::new("", "p"))?;
    assert!(
        matches!(refusal, KvError::EmptyNamespacePart { part: "tenant" }),
        "{refusal:?}"
    );
    let refusal = refused(Namespace::new("t", ""))?;
    assert!(
        matches!(refusal, KvError::EmptyNamespacePart { part: "plugin" }),
        "{refusal:?}"
    );
    let refusal = refused(Namespace::new("t".repeat(MAX_TENANT_BYTES + 1), "p"))?;
    assert!(
        matches!(
            refusal,
            KvError::NamespacePartTooLong {
                part: "tenant",
                len: 256,
                max: 255
            }
        ),
        "{refusal:?}"
    );
    let refusal = refused(Namespace::new("t", "p".repeat(MAX_PLUGIN_BYTES + 1)))?;
    assert!(
        matches!(
            refusal,
            KvError::NamespacePartTooLong {
                part: "plugin",
                len: 256,
                max: 255
            }
        ),
        "{refusal:?}"
    );
    let longest = Namespace::new("t".repeat(MAX_TENANT_BYTES), "p".repeat(MAX_PLUGIN_BYTES))?;
    let refusal = refused(longest.narrowed("x".repeat(MAX_PATH_BYTES + 1)))?;
    assert!(
        matches!(
            refusal,
            KvError::NamespacePartTooLong {
                part: "path",
                len: 4097,
                max: 4096
            }
        ),
        "{refusal:?}"
    );
    let narrowed = longest.narrowed("x".repeat(MAX_PATH_BYTES))?;
    let refusal = refused(narrowed.narrowed("y"))?;
    assert!(matches!(refusal, KvError::AlreadyNarrowed), "{refusal:?}");

    let n = ns("tenant-a", "thumbnailer")?.narrowed("photos/cat.jpg")?;
    assert_eq!(
        (n.tenant(), n.plugin(), n.path()),
        ("tenant-a", "thumbnailer", Some("photos/cat.jpg"))
    );
    assert_eq!(ns("tenant-a", "thumbnailer")?.path(), None);

    // The longest namespace still works end to end.
    each_store(|store| {
        store.put(&narrowed, b"k", b"v", &std_quotas())?;
        assert_eq!(store.get(&narrowed, b"k")?, Some(b"v".to_vec()));
        assert_eq!(store.get(&longest, b"k")?, None);
        Ok(())
    })
}

// ---------------------------------------------------------------------
// The contract, against both stores

#[test]
fn get_put_overwrite_delete() -> Result<()> {
    each_store(|store| {
        let n = ns("tenant", "plugin")?;
        assert_eq!(store.get(&n, b"k")?, None);
        store.put(&n, b"k", b"one", &std_quotas())?;
        assert_eq!(store.get(&n, b"k")?, Some(b"one".to_vec()));
        store.put(&n, b"k", b"two!", &std_quotas())?;
        assert_eq!(store.get(&n, b"k")?, Some(b"two!".to_vec()));
        assert_eq!(store.usage(&n)?, KvUsage { keys: 1, bytes: 5 });

        assert!(store.delete(&n, b"k")?);
        assert_eq!(store.get(&n, b"k")?, None);
        assert!(!store.delete(&n, b"k")?, "deleting twice");
        assert!(!store.delete(&n, b"never")?, "deleting a missing key");
        assert_eq!(store.usage(&n)?, KvUsage::default());

        // A deleted key can be written again.
        store.put(&n, b"k", b"three", &std_quotas())?;
        assert_eq!(store.get(&n, b"k")?, Some(b"three".to_vec()));
        Ok(())
    })
}

#[test]
fn empty_keys_and_values() -> Result<()> {
    each_store(|store| {
        let n = ns("tenant", "plugin")?;
        store.put(&n, b"", b"", &std_quotas())?;
        // Present but empty, which is not absent.
        assert_eq!(store.get(&n, b"")?, Some(Vec::new()));
        assert_eq!(store.usage(&n)?, KvUsage { keys: 1, bytes: 0 });
        store.put(&n, b"a", b"", &std_quotas())?;
        assert_eq!(store.get(&n, b"a")?, Some(Vec::new()));
        assert_eq!(list_all(store, &n, b"", 10)?, keys(&[b"", b"a"]));
        store.put(&n, b"", b"now full", &std_quotas())?;
        assert_eq!(store.get(&n, b"")?, Some(b"now full".to_vec()));
        assert_eq!(store.usage(&n)?, KvUsage { keys: 2, bytes: 9 });
        assert!(store.delete(&n, b"")?);
        assert_eq!(store.get(&n, b"")?, None);
        assert_eq!(list_all(store, &n, b"", 10)?, keys(&[b"a"]));
        assert_eq!(store.usage(&n)?, KvUsage { keys: 1, bytes: 1 });
        Ok(())
    })
}

#[test]
fn binary_keys_sort_bytewise() -> Result<()> {
    each_store(|store| {
        let n = ns("tenant", "plugin")?;
        let binary: [&[u8]; 7] = [
            b"\xff\xff",
            b"\x00",
            b"\x7f",
            b"\x00\xff",
            b"\xff",
            b"\x00\x00",
            b"\xff\x00\x01",
        ];
        for (i, k) in binary.iter().enumerate() {
            store.put(&n, k, &[i as u8, 0x00, 0xff], &std_quotas())?;
        }
        for (i, k) in binary.iter().enumerate() {
            assert_eq!(store.get(&n, k)?, Some(vec![i as u8, 0x00, 0xff]));
        }
        let mut sorted = keys(&binary);
        sorted.sort();
        assert_eq!(list_all(store, &n, b"", 2)?, sorted);
        assert_eq!(
            list_all(store, &n, b"\x00", 1)?,
            keys(&[b"\x00", b"\x00\x00", b"\x00\xff"])
        );
        assert_eq!(
            list_all(store, &n, b"\xff", 10)?,
            keys(&[b"\xff", b"\xff\x00\x01", b"\xff\xff"])
        );
        let page = store.list(&n, b"\xff", Some(b"\xff"), 10)?;
        assert_eq!(page.keys, keys(&[b"\xff\x00\x01", b"\xff\xff"]));
        assert_eq!(page.next, None);
        Ok(())
    })
}

#[test]
fn list_paginates_by_prefix() -> Result<()> {
    each_store(|store| {
        let n = ns("tenant", "plugin")?;
        let q = std_quotas();
        let items: Vec<Vec<u8>> = (0..20)
            .map(|i| format!("item/{i:03}").into_bytes())
            .collect();
        for k in &items {
            store.put(&n, k, b"v", &q)?;
        }
        // Neighbours that sort just before and after the prefix, and the
        // same prefix in another namespace.
        for k in [
            &b"item"[..],
            b"item.",
            b"item0",
            b"itel",
            b"iten/000",
            b"other/x",
        ] {
            store.put(&n, k, b"v", &q)?;
        }
        let other = ns("tenant", "other-plugin")?;
        store.put(&other, b"item/005", b"v", &q)?;
        store.put(&other, b"item/100", b"v", &q)?;

        // Exactly two full pages: the second one says it is the last.
        let first = store.list(&n, b"item/", None, 10)?;
        assert_eq!(first.keys, items[..10]);
        assert_eq!(first.next.as_deref(), Some(&b"item/009"[..]));
        let second = store.list(&n, b"item/", first.next.as_deref(), 10)?;
        assert_eq!(second.keys, items[10..]);
        assert_eq!(second.next, None);
        assert_eq!(list_all(store, &n, b"item/", 7)?, items);
        assert_eq!(list_all(store, &n, b"item/", 1)?, items);

        // The limit is clamped to 1..=MAX_LIST_LIMIT.
        let one = store.list(&n, b"item/", None, 0)?;
        assert_eq!(one.keys, items[..1]);
        assert_eq!(one.next.as_deref(), Some(&b"item/000"[..]));
        let all = store.list(&n, b"item/", None, usize::MAX)?;
        assert_eq!((all.keys.len(), all.next), (20, None));

        // A cursor before the prefix starts at the prefix; one past it ends.
        assert_eq!(store.list(&n, b"item/", Some(b"a"), 3)?.keys, items[..3]);
        assert_eq!(store.list(&n, b"item/", Some(b"item"), 3)?.keys, items[..3]);
        assert_eq!(
            store.list(&n, b"item/", Some(b"item/999"), 3)?,
            KvPage::default()
        );
        assert_eq!(store.list(&n, b"item/", Some(b"z"), 3)?, KvPage::default());
        assert_eq!(store.list(&n, b"nothing", None, 3)?, KvPage::default());

        // After deletes, including the cursor's own key, pages close up.
        for k in [&b"item/000"[..], b"item/009", b"item/010", b"item/019"] {
            assert!(store.delete(&n, k)?);
        }
        let remaining: Vec<Vec<u8>> = items
            .iter()
            .filter(|k| {
                !matches!(
                    &k[..],
                    b"item/000" | b"item/009" | b"item/010" | b"item/019"
                )
            })
            .cloned()
            .collect();
        assert_eq!(list_all(store, &n, b"item/", 10)?, remaining);
        let resumed = store.list(&n, b"item/", first.next.as_deref(), 10)?;
        assert_eq!(resumed.keys, items[11..19]);
        assert_eq!(resumed.next, None);

        // The empty prefix lists the whole namespace and nothing else.
        let whole = list_all(store, &n, b"", 4)?;
        assert_eq!(whole.len(), remaining.len() + 6);
        assert!(!whole.contains(&b"item/100".to_vec()));
        Ok(())
    })
}

#[test]
fn usage_accounts_overwrites_and_deletes() -> Result<()> {
    each_store(|store| {
        let n = ns("tenant", "plugin")?;
        let q = std_quotas();
        assert_eq!(store.usage(&n)?, KvUsage { keys: 0, bytes: 0 });
        store.put(&n, b"a", b"xyz", &q)?;
        assert_eq!(store.usage(&n)?, KvUsage { keys: 1, bytes: 4 });
        store.put(&n, b"a", b"", &q)?;
        assert_eq!(store.usage(&n)?, KvUsage { keys: 1, bytes: 1 });
        store.put(&n, b"a", b"12345", &q)?;
        assert_eq!(store.usage(&n)?, KvUsage { keys: 1, bytes: 6 });
        store.put(&n, b"bb", b"1", &q)?;
        assert_eq!(store.usage(&n)?, KvUsage { keys: 2, bytes: 9 });
        assert!(store.delete(&n, b"a")?);
        assert_eq!(store.usage(&n)?, KvUsage { keys: 1, bytes: 3 });
        assert!(!store.delete(&n, b"a")?);
        assert_eq!(store.usage(&n)?, KvUsage { keys: 1, bytes: 3 });
        assert_eq!(store.usage(&n)?, scanned_usage(store, &n)?);
        assert!(store.delete(&n, b"bb")?);
        assert_eq!(store.usage(&n)?, KvUsage::default());
        Ok(())
    })
}

#[test]
fn standard_quotas_are_documented_values() -> Result<()> {
    assert_eq!(
        KvQuotas::standard(),
        KvQuotas {
            max_key_bytes: 1024,
            max_value_bytes: 1024 * 1024,
            max_keys: 10_000,
            max_bytes: 64 * 1024 * 1024,
        }
    );
    each_store(|store| {
        let n = ns("tenant", "plugin")?;
        let q = std_quotas();
        store.put(&n, &[7; 1024], &vec![1; 1024 * 1024], &q)?;
        let refusal = refused(store.put(&n, &[7; 1025], b"", &q))?;
        assert!(
            matches!(
                refusal,
                KvError::KeyTooLarge {
                    len: 1025,
                    max: 1024
                }
            ),
            "{refusal:?}"
        );
        let refusal = refused(store.put(&n, b"k", &vec![1; 1024 * 1024 + 1], &q))?;
        assert!(
            matches!(
                refusal,
                KvError::ValueTooLarge {
                    len: 1_048_577,
                    max: 1_048_576
                }
            ),
            "{refusal:?}"
        );
        Ok(())
    })
}

#[test]
fn quota_refusals_are_typed_and_change_nothing() -> Result<()> {
    each_store(|store| {
        let n = ns("tenant", "plugin")?;
        let q = KvQuotas {
            max_key_bytes: 8,
            max_value_bytes: 16,
            max_keys: 3,
            max_bytes: 40,
        };
        store.put(&n, b"k1", &[1; 10], &q)?;
        let before = snapshot(store, &n)?;

        let refusal = refused(store.put(&n, b"123456789", b"v", &q))?;
        assert!(
            matches!(refusal, KvError::KeyTooLarge { len: 9, max: 8 }),
            "{refusal:?}"
        );
        let refusal = refused(store.put(&n, b"k1", &[2; 17], &q))?;
        assert!(
            matches!(refusal, KvError::ValueTooLarge { len: 17, max: 16 }),
            "{refusal:?}"
        );
        assert_eq!(
            snapshot(store, &n)?,
            before,
            "a size refusal changed the store"
        );

        store.put(&n, b"k2", &[2; 10], &q)?;
        store.put(&n, b"k3", &[3; 10], &q)?;
        assert_eq!(store.usage(&n)?, KvUsage { keys: 3, bytes: 36 });
        let full = snapshot(store, &n)?;

        let refusal = refused(store.put(&n, b"k4", b"", &q))?;
        assert!(
            matches!(refusal, KvError::TooManyKeys { max: 3 }),
            "{refusal:?}"
        );
        assert_eq!(store.get(&n, b"k4")?, None);
        // Growing a value by 5 bytes: 36 + 5 > 40.
        let refusal = refused(store.put(&n, b"k1", &[9; 15], &q))?;
        assert!(
            matches!(
                refusal,
                KvError::NamespaceFull {
                    used: 36,
                    requested: 5,
                    max: 40
                }
            ),
            "{refusal:?}"
        );
        assert_eq!(
            snapshot(store, &n)?,
            full,
            "a count or byte refusal changed the store"
        );

        // Up to the byte quota exactly is allowed.
        store.put(&n, b"k1", &[9; 14], &q)?;
        assert_eq!(store.usage(&n)?, KvUsage { keys: 3, bytes: 40 });
        // Deleting frees a key slot and its bytes...
        assert!(store.delete(&n, b"k3")?);
        assert_eq!(store.usage(&n)?, KvUsage { keys: 2, bytes: 28 });
        // ...and a new key counts its own bytes: 28 + 2 + 11 > 40.
        let refusal = refused(store.put(&n, b"k4", &[4; 11], &q))?;
        assert!(
            matches!(
                refusal,
                KvError::NamespaceFull {
                    used: 28,
                    requested: 13,
                    max: 40
                }
            ),
            "{refusal:?}"
        );
        assert_eq!(store.get(&n, b"k4")?, None);
        store.put(&n, b"k4", &[4; 10], &q)?;
        assert_eq!(store.usage(&n)?, KvUsage { keys: 3, bytes: 40 });

        // Under a lowered quota a namespace can still shrink, not grow.
        let lowered = KvQuotas {
            max_keys: 1,
            max_bytes: 10,
            ..q
        };
        store.put(&n, b"k1", b"x", &lowered)?;
        assert_eq!(store.usage(&n)?, KvUsage { keys: 3, bytes: 27 });
        let refusal = refused(store.put(&n, b"k1", b"xy", &lowered))?;
        assert!(
            matches!(
                refusal,
                KvError::NamespaceFull {
                    used: 27,
                    requested: 1,
                    max: 10
                }
            ),
            "{refusal:?}"
        );
        let refusal = refused(store.put(&n, b"k5", b"", &lowered))?;
        assert!(
            matches!(refusal, KvError::TooManyKeys { max: 1 }),
            "{refusal:?}"
        );
        assert_eq!(store.usage(&n)?, scanned_usage(store, &n)?);

        // Quotas are per namespace: a full one does not limit its neighbours.
        let neighbour = n.narrowed("object")?;
        store.put(&neighbour, b"k4", &[4; 10], &q)?;
        assert_eq!(store.usage(&neighbour)?, KvUsage { keys: 1, bytes: 12 });
        Ok(())
    })
}

// ---------------------------------------------------------------------
// Isolation

#[test]
fn namespaces_never_see_each_others_keys() -> Result<()> {
    each_store(|store| {
        let q = std_quotas();
        let base = ns("tenant-1", "plugin-1")?;
        let namespaces = [
            base.clone(),
            ns("tenant-2", "plugin-1")?,
            ns("tenant-1", "plugin-2")?,
            // Ambiguous under plain concatenation: "a" + "bc" = "ab" + "c".
            ns("a", "bc")?,
            ns("ab", "c")?,
            // Separators and NULs inside names.
            ns("a", "b")?,
            ns("a", "b\0x")?,
            ns("a\0\u{1}b", "c")?,
            // Narrowed to paths, one a prefix of the next, and the empty path.
            base.narrowed("docs/a")?,
            base.narrowed("docs/a.txt")?,
            base.narrowed("")?,
        ];
        for (i, n) in namespaces.iter().enumerate() {
            store.put(n, b"shared", format!("value {i}").as_bytes(), &q)?;
            store.put(n, format!("own-{i}").as_bytes(), b"x", &q)?;
        }
        // Keys in the un-narrowed namespace that start with a path, or with
        // the raw encoding of another namespace, stay where they are.
        let narrowed = &namespaces[9];
        store.put(&base, b"docs/a.txtshared", b"forged", &q)?;
        store.put(&base, b"docs/a.txt", b"forged", &q)?;
        let forged = [narrowed.storage_prefix(), b"shared"].concat();
        store.put(&base, &forged, b"forged", &q)?;
        let ab_c = [namespaces[4].storage_prefix(), b"shared"].concat();
        store.put(&namespaces[3], &ab_c, b"forged", &q)?;
        let extra = |i: usize| -> Vec<Vec<u8>> {
            match i {
                0 => vec![
                    b"docs/a.txt".to_vec(),
                    b"docs/a.txtshared".to_vec(),
                    forged.clone(),
                ],
                3 => vec![ab_c.clone()],
                _ => Vec::new(),
            }
        };

        for (i, n) in namespaces.iter().enumerate() {
            assert_eq!(
                store.get(n, b"shared")?,
                Some(format!("value {i}").into_bytes()),
                "{n:?}"
            );
            let mut expected = vec![format!("own-{i}").into_bytes(), b"shared".to_vec()];
            expected.extend(extra(i));
            expected.sort();
            assert_eq!(list_all(store, n, b"", 2)?, expected, "{n:?}");
            assert_eq!(
                list_all(store, n, b"own-", 10)?,
                vec![format!("own-{i}").into_bytes()],
                "{n:?}"
            );
            // Prefixes made of encoding bytes find nothing foreign.
            for prefix in [&b"\0"[..], b"\x01", b"\0\x02", b"shared\0"] {
                let found = list_all(store, n, prefix, 10)?;
                assert!(
                    found.iter().all(|k| expected.contains(k)),
                    "{n:?} {prefix:?}"
                );
            }
            assert_eq!(store.usage(n)?, scanned_usage(store, n)?, "{n:?}");
        }
        assert_eq!(store.list(narrowed, b"docs/", None, 10)?, KvPage::default());
        assert_eq!(
            list_all(store, &base, b"docs/", 10)?,
            keys(&[b"docs/a.txt", b"docs/a.txtshared"])
        );

        // Deleting in one namespace leaves the same key in every other.
        assert!(store.delete(&namespaces[4], b"shared")?);
        assert!(!store.delete(&namespaces[4], b"shared")?);
        for (i, n) in namespaces.iter().enumerate().filter(|(i, _)| *i != 4) {
            assert_eq!(
                store.get(n, b"shared")?,
                Some(format!("value {i}").into_bytes())
            );
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------
// Concurrency

#[test]
fn two_threads_share_a_store() -> Result<()> {
    each_store(|store| {
        let shared = ns("tenant", "shared")?;
        // Room for 60 keys; the threads race for it with 50 each.
        let q = KvQuotas {
            max_keys: 60,
            ..std_quotas()
        };
        let results = std::thread::scope(|s| {
            let workers: Vec<_> = (0..2)
                .map(|t| {
                    let shared = &shared;
                    s.spawn(move || -> Result<(usize, usize)> {
                        let own = ns("tenant", &format!("thread-{t}"))?;
                        let (mut stored, mut refused) = (0, 0);
                        for i in 0..50 {
                            let key = format!("{t}/{i:02}");
                            store.put(&own, key.as_bytes(), key.as_bytes(), &q)?;
                            match store.put(shared, key.as_bytes(), b"v", &q) {
                                Ok(()) => stored += 1,
                                Err(KvError::TooManyKeys { max: 60 }) => refused += 1,
                                Err(e) => return Err(e.into()),
                            }
                            assert_eq!(store.get(&own, key.as_bytes())?, Some(key.into_bytes()));
                        }
                        Ok((stored, refused))
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().map_err(|_| anyhow::anyhow!("a worker panicked"))?)
                .collect::<Result<Vec<_>>>()
        })?;
        let stored: usize = results.iter().map(|r| r.0).sum();
        let refused: usize = results.iter().map(|r| r.1).sum();
        assert_eq!((stored, refused), (60, 40));
        assert_eq!(
            store.usage(&shared)?,
            KvUsage {
                keys: 60,
                bytes: 60 * 5
            }
        );
        assert_eq!(store.usage(&shared)?, scanned_usage(store, &shared)?);
        for t in 0..2 {
            let own = ns("tenant", &format!("thread-{t}"))?;
            assert_eq!(
                store.usage(&own)?,
                KvUsage {
                    keys: 50,
                    bytes: 50 * 8
                }
            );
            assert_eq!(list_all(store, &own, b"", 1000)?.len(), 50);
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------
// Durability (redb)

#[test]
fn redb_survives_reopening() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("kv.redb");
    let a = ns("tenant-a", "plugin")?;
    let b = ns("tenant-b", "plugin")?.narrowed("objects/1")?;
    let before = {
        let store = RedbKv::open(&path)?;
        assert_eq!(store.path(), path);
        // The file is locked while the store is open.
        let refusal = refused(RedbKv::open(&path))?;
        assert!(
            matches!(&refusal, KvError::Open { path: p, .. } if *p == path),
            "{refusal:?}"
        );

        for i in 0..20u8 {
            store.put(&a, &[i], &[i; 3], &std_quotas())?;
            store.put(&b, &[i, i], b"b", &std_quotas())?;
        }
        store.put(&a, &[3], b"overwritten", &std_quotas())?;
        assert!(store.delete(&a, &[4])?);
        assert!(store.delete(&b, &[5, 5])?);
        (snapshot(&store, &a)?, snapshot(&store, &b)?)
    };
    let store = RedbKv::open(&path)?;
    assert_eq!((snapshot(&store, &a)?, snapshot(&store, &b)?), before);
    assert_eq!(store.get(&a, &[3])?, Some(b"overwritten".to_vec()));
    assert_eq!(store.get(&a, &[4])?, None);
    assert_eq!(
        store.usage(&a)?,
        KvUsage {
            keys: 19,
            bytes: 19 + 18 * 3 + 11
        }
    );
    assert_eq!(store.usage(&b)?, scanned_usage(&store, &b)?);
    // And it keeps accepting writes, accounted on top of what was there.
    store.put(&a, b"new", b"", &std_quotas())?;
    assert_eq!(
        store.usage(&a)?,
        KvUsage {
            keys: 20,
            bytes: 19 + 18 * 3 + 11 + 3
        }
    );
    Ok(())
}

#[test]
fn redb_refuses_files_it_cannot_read() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let garbage = dir.path().join("garbage.redb");
    std::fs::write(&garbage, b"this is not a redb file, not even close to one")?;
    let refusal = refused(RedbKv::open(&garbage))?;
    assert!(
        matches!(&refusal, KvError::Open { path, .. } if *path == garbage),
        "{refusal:?}"
    );

    // A store written by a future format.
    let future = dir.path().join("future.redb");
    drop(RedbKv::open(&future)?);
    {
        let db = redb::Database::create(&future)?;
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(redb::TableDefinition::<&str, u64>::new("kv_meta"))?;
            meta.insert("format", 99)?;
        }
        txn.commit()?;
    }
    let refusal = refused(RedbKv::open(&future))?;
    assert!(
        matches!(
            refusal,
            KvError::UnsupportedFormat {
                found: 99,
                supported: 1,
                ..
            }
        ),
        "{refusal:?}"
    );
    Ok(())
}

/// Set (to a database path) only in the writer child process.
const WRITER_ENV: &str = "BITVAULT_KV_WRITER";
/// What the writer prints before the number of each acknowledged write. The
/// first may share its line with libtest's `test NAME ... `.
const ACK: &str = "kv-ack ";
/// Acknowledged writes to wait for before killing the writer.
const ACKS_BEFORE_KILL: u64 = 300;

/// The namespaces the writer alternates between.
fn writer_namespaces() -> Result<[Namespace; 2]> {
    let n = ns("tenant-w", "writer")?;
    Ok([n.narrowed("objects/o1")?, n])
}

fn writer_entry(i: u64) -> (usize, Vec<u8>, Vec<u8>) {
    let key = format!("key-{i:08}").into_bytes();
    let value = format!("value {i};")
        .repeat(1 + (i % 13) as usize)
        .into_bytes();
    ((i % 2) as usize, key, value)
}

/// Not a test of its own: the writer process that
/// [`redb_loses_no_acknowledged_write_when_killed`] starts and kills. It
/// does nothing unless `BITVAULT_KV_WRITER` names a database.
#[test]
fn redb_crash_writer() -> Result<()> {
    let Some(path) = std::env::var_os(WRITER_ENV) else {
        return Ok(());
    };
    let store = RedbKv::open(Path::new(&path))?;
    let namespaces = writer_namespaces()?;
    let quotas = KvQuotas {
        max_keys: u64::MAX,
        max_bytes: u64::MAX,
        ..std_quotas()
    };
    let mut out = std::io::stdout().lock();
    // Bounded, in case the parent never kills it; a closed pipe ends it too.
    for i in 0..100_000 {
        let (which, key, value) = writer_entry(i);
        store.put(&namespaces[which], &key, &value, &quotas)?;
        writeln!(out, "{ACK}{i}")?;
        out.flush()?;
    }
    Ok(())
}

#[test]
fn redb_loses_no_acknowledged_write_when_killed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("kv.redb");
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "kv::redb_crash_writer",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WRITER_ENV, &path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("child stdout")?;
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line
                .split_once(ACK)
                .map(|(_, n)| n)
                .and_then(|n| n.parse::<u64>().ok())
                && tx.send(n).is_err()
            {
                break;
            }
        }
    });

    // Collect acknowledgements until enough, killing the writer mid-run.
    let mut acked = 0u64;
    let waited = loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(n) => {
                ensure!(
                    n == acked,
                    "acknowledgements out of order: {n} after {acked}"
                );
                acked += 1;
                if acked >= ACKS_BEFORE_KILL {
                    break Ok(());
                }
            }
            Err(e) => break Err(e),
        }
    };
    child.kill()?; // SIGKILL: no destructors, no flushes.
    child.wait()?;
    drop(rx);
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))?;
    if let Err(e) = waited {
        let mut stderr = String::new();
        if let Some(mut s) = child.stderr.take() {
            s.read_to_string(&mut stderr)?;
        }
        bail!("the writer stopped after {acked} acknowledgements ({e}): {stderr}");
    }

    let store = RedbKv::open(&path)?;
    let namespaces = writer_namespaces()?;
    for i in 0..acked {
        let (which, key, value) = writer_entry(i);
        assert_eq!(
            store.get(&namespaces[which], &key)?,
            Some(value),
            "acknowledged write {i} was lost"
        );
    }
    // Whatever else made it is whole: the writes form an unbroken run, each
    // with its value, and the usage records match the data.
    let mut found = BTreeMap::new();
    for (which, n) in namespaces.iter().enumerate() {
        for k in list_all(&store, n, b"", MAX_LIST_LIMIT)? {
            let i: u64 = std::str::from_utf8(&k)?
                .strip_prefix("key-")
                .context("a foreign key")?
                .parse()?;
            let (w, key, value) = writer_entry(i);
            ensure!(w == which && key == k, "key {i} in the wrong namespace");
            ensure!(
                store.get(n, &k)?.as_ref() == Some(&value),
                "key {i} has a torn value"
            );
            found.insert(i, ());
        }
        let usage = store.usage(n)?;
        assert_eq!(usage, scanned_usage(&store, n)?, "usage of {n:?}");
    }
    let n = found.len() as u64;
    ensure!(n >= acked, "{n} keys for {acked} acknowledgements");
    ensure!(
        found.keys().copied().eq(0..n),
        "the surviving writes are not a prefix of the run"
    );
    Ok(())
}
