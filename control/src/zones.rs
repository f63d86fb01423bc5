//! Conntrack zone allocation, as ovn-controller does it.
//!
//! Every local logical port gets a zone (named by the logical port), and every local
//! logical router datapath two (`<datapath-uuid>_dnat`, `<datapath-uuid>_snat`). Zones are
//! 1..=65535 (0 is the default zone and never handed out), lowest free first. They are
//! persisted in the integration bridge's `external_ids` as `ct-zone-<name>=<zone>`, read back
//! at start so that connections keep their zone across restarts; a name that is no longer
//! needed gives its zone back and its key is removed.
//!
//! This module is pure: [`Zones::update`] returns the `external_ids` edits to write.

use std::collections::{BTreeMap, BTreeSet};

/// Key prefix in `Bridge:external_ids`.
pub const CT_ZONE_PREFIX: &str = "ct-zone-";

/// Largest zone number.
pub const MAX_ZONE: u16 = u16::MAX;

/// Edits to the bridge's `external_ids` after [`Zones::update`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneEdits {
    /// Keys to set (`ct-zone-<name>`, zone as decimal).
    pub set: BTreeMap<String, String>,
    /// Keys to remove.
    pub remove: BTreeSet<String>,
}

impl ZoneEdits {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

/// The zone table.
#[derive(Clone, Debug, Default)]
pub struct Zones {
    by_name: BTreeMap<String, u16>,
    used: BTreeSet<u16>,
    /// Keys found in the bridge that are not (or no longer) valid, to be removed.
    stale_keys: BTreeSet<String>,
}

/// The zone name of a router datapath's DNAT or SNAT zone.
pub fn nat_zone_name(datapath: &str, kind: &str) -> String {
    format!("{datapath}_{kind}")
}

impl Zones {
    pub fn new() -> Zones {
        Zones::default()
    }

    /// Loads the persisted zones from a bridge's `external_ids`. Invalid values (not a number
    /// in 1..=65535, a zone already taken) are dropped and their keys removed at the next
    /// update.
    pub fn load<'a>(external_ids: impl IntoIterator<Item = (&'a str, &'a str)>) -> Zones {
        let mut z = Zones::new();
        for (k, v) in external_ids {
            let Some(name) = k.strip_prefix(CT_ZONE_PREFIX) else {
                continue;
            };
            match v.parse::<u16>() {
                Ok(zone) if zone != 0 && !z.used.contains(&zone) && !name.is_empty() => {
                    z.used.insert(zone);
                    z.by_name.insert(name.to_string(), zone);
                }
                _ => {
                    log::warn!("ignoring invalid ct zone {k}={v:?}");
                    z.stale_keys.insert(k.to_string());
                }
            }
        }
        z
    }

    /// The zone of `name`, if allocated.
    pub fn get(&self, name: &str) -> Option<u16> {
        self.by_name.get(name).copied()
    }

    /// All zones by name.
    pub fn all(&self) -> &BTreeMap<String, u16> {
        &self.by_name
    }

    fn lowest_free(&self) -> Option<u16> {
        // `used` is sorted: the first gap from 1 is the answer.
        let mut want: u32 = 1;
        for &z in &self.used {
            if u32::from(z) > want {
                break;
            }
            want = u32::from(z) + 1;
        }
        u16::try_from(want).ok().filter(|&z| z != 0)
    }

    /// Makes the allocated set exactly `needed`: frees zones of names not in it, allocates
    /// zones for new names (names that find no free zone are logged and left without one).
    /// Returns the `external_ids` edits that persist the result.
    pub fn update(&mut self, needed: &BTreeSet<String>) -> ZoneEdits {
        let mut edits = ZoneEdits {
            remove: std::mem::take(&mut self.stale_keys),
            ..ZoneEdits::default()
        };
        let gone: Vec<String> = self
            .by_name
            .keys()
            .filter(|n| !needed.contains(*n))
            .cloned()
            .collect();
        for name in gone {
            if let Some(z) = self.by_name.remove(&name) {
                self.used.remove(&z);
                edits.remove.insert(format!("{CT_ZONE_PREFIX}{name}"));
            }
        }
        for name in needed {
            if self.by_name.contains_key(name) {
                continue;
            }
            match self.lowest_free() {
                Some(z) => {
                    self.used.insert(z);
                    self.by_name.insert(name.clone(), z);
                    let key = format!("{CT_ZONE_PREFIX}{name}");
                    edits.remove.remove(&key);
                    edits.set.insert(key, z.to_string());
                }
                None => log::warn!("no free conntrack zone for {name}"),
            }
        }
        edits
    }

    /// Edits that make `external_ids` (as read from the bridge) agree with the table: for
    /// after a restart of the database, or someone else writing the keys.
    pub fn reconcile<'a>(
        &self,
        external_ids: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> ZoneEdits {
        let mut edits = ZoneEdits::default();
        let mut seen = BTreeSet::new();
        for (k, v) in external_ids {
            let Some(name) = k.strip_prefix(CT_ZONE_PREFIX) else {
                continue;
            };
            match self.by_name.get(name) {
                Some(z) if z.to_string() == v => {
                    seen.insert(name.to_string());
                }
                Some(_) => {}
                None => {
                    edits.remove.insert(k.to_string());
                }
            }
        }
        for (name, z) in &self.by_name {
            if !seen.contains(name) {
                edits
                    .set
                    .insert(format!("{CT_ZONE_PREFIX}{name}"), z.to_string());
            }
        }
        edits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lowest_free_and_release() {
        let mut z = Zones::new();
        let e = z.update(&set(&["a", "b", "c"]));
        assert_eq!(e.set.len(), 3);
        assert_eq!(
            (z.get("a"), z.get("b"), z.get("c")),
            (Some(1), Some(2), Some(3))
        );
        let e = z.update(&set(&["a", "c", "d"]));
        assert_eq!(e.remove, set(&["ct-zone-b"]));
        assert_eq!(z.get("d"), Some(2));
        assert!(z.update(&set(&["a", "c", "d"])).is_empty());
    }

    #[test]
    fn load_skips_invalid() {
        let ids = [
            ("ct-zone-a", "5"),
            ("ct-zone-b", "0"),
            ("ct-zone-c", "5"),
            ("ct-zone-d", "x"),
            ("other", "1"),
        ];
        let mut z = Zones::load(ids.iter().copied());
        assert_eq!(z.get("a"), Some(5));
        assert_eq!(z.get("b"), None);
        let e = z.update(&set(&["a", "e"]));
        assert_eq!(z.get("e"), Some(1));
        assert_eq!(e.remove, set(&["ct-zone-b", "ct-zone-c", "ct-zone-d"]));
        let r = z.reconcile([("ct-zone-a", "5"), ("ct-zone-x", "9")]);
        assert_eq!(r.remove, set(&["ct-zone-x"]));
        assert_eq!(r.set.keys().collect::<Vec<_>>(), vec!["ct-zone-e"]);
    }
}
