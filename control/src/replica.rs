//! In-memory replica of monitored tables (table -> row uuid -> [`Row`]).
//!
//! Applies `update` (v1), `update2` and `update3` notifications. update2 "modify" semantics,
//! per column kind from the schema: a scalar is replaced; a set receives the symmetric
//! difference (elements in the diff are toggled); a map receives, per key, an insert (new key),
//! a delete (same key and value as present) or a replace (same key, other value).
//!
//! Change tracking: every applied row change is recorded (coalesced: insert then modify is an
//! insert, insert then delete vanishes, delete then insert is a modify) until the consumer calls
//! [`Replica::take_changes`], so it recompiles only what changed. A full reload
//! ([`Replica::begin_reload`]/[`Replica::finish_reload`]) diffs old against new contents, so a
//! reconnect that could not resume reports only rows that really differ.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::datum::{Datum, Uuid};
use crate::error::{Error, Result};
use crate::row::Row;
use crate::schema::{ColumnKind, DatabaseSchema};
use crate::update::{Notification, RowUpdate, TableUpdates};

/// What happened to a row since the last [`Replica::take_changes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Inserted,
    Modified,
    Deleted,
}

/// Changed rows per table since the last [`Replica::take_changes`].
pub type Changes = BTreeMap<String, BTreeMap<Uuid, Change>>;

/// Rows of one table.
pub type Table = BTreeMap<Uuid, Row>;

/// The replica.
#[derive(Debug, Default)]
pub struct Replica {
    schema: Option<DatabaseSchema>,
    tables: BTreeMap<String, Table>,
    last_txn_id: Option<Uuid>,
    changes: Changes,
    reload_old: Option<BTreeMap<String, Table>>,
    /// Changes not yet taken when the reload began.
    reload_pending: Changes,
    /// Monitored columns per table (`None` = all), for filling in omitted defaults.
    monitored: BTreeMap<String, Option<Vec<String>>>,
}

fn coalesce(prev: Option<Change>, new: Change) -> Option<Change> {
    use Change::*;
    match (prev, new) {
        (None, c) => Some(c),
        (Some(Inserted), Modified) => Some(Inserted),
        (Some(Inserted), Deleted) => None,
        (Some(Deleted), Inserted) => Some(Modified),
        (Some(Modified), Deleted) => Some(Deleted),
        (Some(_), c) => Some(c),
    }
}

/// Applies an update2 diff of one column to the current datum.
fn apply_diff(kind: Option<ColumnKind>, old: Option<Datum>, diff: Datum) -> Datum {
    match (kind, old, diff) {
        (Some(ColumnKind::Set), Some(Datum::Set(mut s)), Datum::Set(d)) => {
            for a in d {
                if !s.remove(&a) {
                    s.insert(a);
                }
            }
            Datum::Set(s)
        }
        (Some(ColumnKind::Map) | None, Some(Datum::Map(mut m)), Datum::Map(d)) => {
            for (k, v) in d {
                if m.get(&k) == Some(&v) {
                    m.remove(&k);
                } else {
                    m.insert(k, v);
                }
            }
            Datum::Map(m)
        }
        // An optional value: the diff is the new value; a two-element diff holding the old
        // value is read as a symmetric difference (old and new).
        (Some(ColumnKind::Optional), Some(Datum::Set(old)), Datum::Set(d)) => {
            if d.len() == 2 && old.len() == 1 && d.is_superset(&old) {
                Datum::Set(d.difference(&old).cloned().collect())
            } else {
                Datum::Set(d)
            }
        }
        // A map column with no entries may be held as an empty set.
        (Some(ColumnKind::Map), Some(Datum::Set(s)), Datum::Map(d)) if s.is_empty() => {
            Datum::Map(d)
        }
        (Some(ColumnKind::Map), Some(old), Datum::Set(s)) if s.is_empty() => old,
        // Scalars, absent old values, unknown columns: replace.
        (_, _, diff) => diff,
    }
}

impl Replica {
    /// An empty replica without schema (all diffs replace, except map into map).
    pub fn new() -> Replica {
        Replica::default()
    }

    /// Sets the schema used for update2 diff semantics.
    pub fn set_schema(&mut self, schema: DatabaseSchema) {
        self.schema = Some(schema);
    }

    /// Declares the monitored columns of a table (`None` = all columns of the schema).
    /// ovsdb-server leaves columns that hold their default value out of update2 rows; for
    /// declared tables the replica fills them in (with the schema's defaults), so that getters
    /// find every monitored column.
    pub fn set_monitored(&mut self, table: &str, columns: Option<&[&str]>) {
        self.monitored.insert(
            table.to_string(),
            columns.map(|c| c.iter().map(|s| s.to_string()).collect()),
        );
    }

    fn fill_defaults(&self, table: &str, row: &mut Row) {
        let (Some(schema), Some(cols)) = (&self.schema, self.monitored.get(table)) else {
            return;
        };
        let Some(t) = schema.tables.get(table) else {
            return;
        };
        let mut fill = |name: &str| {
            if row.get(name).is_none() {
                if let Some(c) = t.columns.get(name) {
                    row.set(name, c.default_datum());
                }
            }
        };
        match cols {
            Some(cols) => cols.iter().for_each(|c| fill(c)),
            None => t.columns.keys().for_each(|c| fill(c)),
        }
    }

    /// The schema, if known.
    pub fn schema(&self) -> Option<&DatabaseSchema> {
        self.schema.as_ref()
    }

    /// The rows of a table (`None` if the table has never had a row).
    pub fn table(&self, table: &str) -> Option<&Table> {
        self.tables.get(table)
    }

    /// Iterates over the rows of a table (empty for an unknown table).
    pub fn rows<'a>(&'a self, table: &str) -> impl Iterator<Item = (&'a Uuid, &'a Row)> + 'a {
        self.tables.get(table).into_iter().flat_map(|t| t.iter())
    }

    /// One row.
    pub fn row(&self, table: &str, uuid: &Uuid) -> Option<&Row> {
        self.tables.get(table)?.get(uuid)
    }

    /// Number of rows in a table.
    pub fn len(&self, table: &str) -> usize {
        self.tables.get(table).map_or(0, BTreeMap::len)
    }

    /// The transaction id of the last applied `update3` or monitor_cond_since reply.
    pub fn last_txn_id(&self) -> Option<Uuid> {
        self.last_txn_id
    }

    /// Sets (or forgets) the last transaction id.
    pub fn set_last_txn_id(&mut self, id: Option<Uuid>) {
        self.last_txn_id = id.filter(|u| !u.is_zero());
    }

    /// True when changes are waiting for [`Replica::take_changes`].
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// Returns and forgets the changes recorded since the previous call.
    pub fn take_changes(&mut self) -> Changes {
        std::mem::take(&mut self.changes)
    }

    fn record(&mut self, table: &str, uuid: Uuid, c: Change) {
        let t = self.changes.entry(table.to_string()).or_default();
        match coalesce(t.get(&uuid).copied(), c) {
            Some(c) => {
                t.insert(uuid, c);
            }
            None => {
                t.remove(&uuid);
            }
        }
        if t.is_empty() {
            self.changes.remove(table);
        }
    }

    /// Starts a full reload: the current rows are set aside (not reported as deleted yet).
    pub fn begin_reload(&mut self) {
        let old = std::mem::take(&mut self.tables);
        // A reload interrupted by another keeps the oldest contents as reference.
        if self.reload_old.is_none() {
            self.reload_old = Some(old);
            self.reload_pending = std::mem::take(&mut self.changes);
        } else {
            self.changes.clear();
        }
        self.last_txn_id = None;
    }

    /// Ends a full reload: records exactly the rows that differ from before the reload.
    pub fn finish_reload(&mut self) {
        let Some(old) = self.reload_old.take() else {
            return;
        };
        // Changes recorded during the reload are superseded by this diff.
        let mut fresh = Changes::new();
        for (tname, rows) in &old {
            let new = self.tables.get(tname);
            for (uuid, row) in rows {
                match new.and_then(|t| t.get(uuid)) {
                    None => {
                        fresh
                            .entry(tname.clone())
                            .or_default()
                            .insert(*uuid, Change::Deleted);
                    }
                    Some(r) if r != row => {
                        fresh
                            .entry(tname.clone())
                            .or_default()
                            .insert(*uuid, Change::Modified);
                    }
                    Some(_) => {}
                }
            }
        }
        for (tname, rows) in &self.tables {
            let before = old.get(tname);
            for uuid in rows.keys() {
                if before.is_none_or(|t| !t.contains_key(uuid)) {
                    fresh
                        .entry(tname.clone())
                        .or_default()
                        .insert(*uuid, Change::Inserted);
                }
            }
        }
        // Changes recorded while loading are replaced by the diff; changes not yet taken from
        // before the reload still matter and are merged with it.
        self.changes = std::mem::take(&mut self.reload_pending);
        for (tname, rows) in fresh {
            for (uuid, c) in rows {
                self.record(&tname, uuid, c);
            }
        }
    }

    /// Removes every row (recording deletions) and forgets the transaction id.
    pub fn clear(&mut self) {
        let tables = std::mem::take(&mut self.tables);
        for (tname, rows) in tables {
            for uuid in rows.keys() {
                self.record(&tname, *uuid, Change::Deleted);
            }
        }
        self.last_txn_id = None;
    }

    /// Applies the params of an `update`/`update2`/`update3` notification (monitor id not
    /// checked). Returns `Ok(false)` for other methods.
    pub fn apply_notification(&mut self, method: &str, params: &Value) -> Result<bool> {
        match Notification::parse(method, params)? {
            Some(n) => {
                self.apply(&n.updates)?;
                if n.last_txn_id.is_some() {
                    self.set_last_txn_id(n.last_txn_id);
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Applies parsed table updates. On error the replica may be partly updated: the caller
    /// must reload (the session does so by reconnecting without resuming).
    pub fn apply(&mut self, updates: &TableUpdates) -> Result<()> {
        for (tname, rows) in &updates.0 {
            for (uuid, u) in rows {
                self.apply_row(tname, *uuid, u)?;
            }
        }
        Ok(())
    }

    fn apply_row(&mut self, tname: &str, uuid: Uuid, u: &RowUpdate) -> Result<()> {
        let filled = match u {
            RowUpdate::Initial(row)
            | RowUpdate::Insert(row)
            | RowUpdate::V1 {
                old: None,
                new: Some(row),
            } => {
                let mut row = row.clone();
                self.fill_defaults(tname, &mut row);
                Some(row)
            }
            _ => None,
        };
        let table = self.tables.entry(tname.to_string()).or_default();
        let exists = table.contains_key(&uuid);
        let change = match u {
            RowUpdate::Initial(_) | RowUpdate::Insert(_) => {
                table.insert(uuid, filled.unwrap_or_default());
                if exists {
                    Change::Modified
                } else {
                    Change::Inserted
                }
            }
            RowUpdate::Delete | RowUpdate::V1 { new: None, .. } => {
                if table.remove(&uuid).is_none() {
                    return Err(Error::Protocol(format!(
                        "delete of unknown row {tname} {uuid}"
                    )));
                }
                Change::Deleted
            }
            RowUpdate::V1 {
                old,
                new: Some(new),
            } => {
                match (old, table.get_mut(&uuid)) {
                    (Some(_), Some(cur)) => {
                        for (c, d) in new.iter() {
                            cur.set(c, d.clone());
                        }
                    }
                    (Some(_), None) => {
                        return Err(Error::Protocol(format!(
                            "modify of unknown row {tname} {uuid}"
                        )))
                    }
                    (None, _) => {
                        table.insert(uuid, filled.unwrap_or_else(|| new.clone()));
                    }
                }
                if exists {
                    Change::Modified
                } else {
                    Change::Inserted
                }
            }
            RowUpdate::Modify(diff) => {
                let schema = self.schema.as_ref();
                let Some(cur) = table.get_mut(&uuid) else {
                    return Err(Error::Protocol(format!(
                        "modify of unknown row {tname} {uuid}"
                    )));
                };
                for (c, d) in diff.iter() {
                    let kind = schema.and_then(|s| s.column_kind(tname, c));
                    let old = cur.remove(c);
                    cur.set(c, apply_diff(kind, old, d.clone()));
                }
                Change::Modified
            }
        };
        self.record(tname, uuid, change);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "00000000-0000-0000-0000-00000000000a";
    const B: &str = "00000000-0000-0000-0000-00000000000b";

    fn schema() -> DatabaseSchema {
        DatabaseSchema::from_json(&json!({"name": "X", "tables": {"T": {"columns": {
            "s": {"type": "string"},
            "set": {"type": {"key": "string", "min": 0, "max": "unlimited"}},
            "opt": {"type": {"key": "string", "min": 0, "max": 1}},
            "m": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}}
        }}}}))
        .unwrap()
    }

    fn u(s: &str) -> Uuid {
        s.parse().unwrap()
    }

    #[test]
    fn update2_diff_semantics() {
        let mut r = Replica::new();
        r.set_schema(schema());
        r.apply_notification("update2", &json!(["m", {"T": {A: {"initial": {
            "s": "a", "set": ["set", ["x", "y"]], "opt": ["set", []], "m": ["map", [["k1", "v1"], ["k2", "v2"]]]
        }}}}]))
        .unwrap();
        assert_eq!(r.take_changes()["T"][&u(A)], Change::Inserted);
        r.apply_notification("update3", &json!(["m", B, {"T": {A: {"modify": {
            "s": "b", "set": ["set", ["y", "z"]], "opt": "o", "m": ["map", [["k1", "v1"], ["k2", "new"], ["k3", "v3"]]]
        }}}}]))
        .unwrap();
        let row = r.row("T", &u(A)).unwrap();
        assert_eq!(row.get_str("s").unwrap(), "b");
        assert_eq!(row.get_str_set("set").unwrap(), vec!["x", "z"]);
        assert_eq!(row.get_opt_str("opt").unwrap(), Some("o"));
        let m = row.get_str_map("m").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m["k2"], "new");
        assert_eq!(m["k3"], "v3");
        assert_eq!(r.last_txn_id(), Some(u(B)));
        // Optional value cleared: the diff is the new (empty) value, as ovsdb-server sends it.
        r.apply_notification(
            "update2",
            &json!(["m", {"T": {A: {"modify": {"opt": ["set", []]}}}}]),
        )
        .unwrap();
        assert_eq!(r.row("T", &u(A)).unwrap().get_opt_str("opt").unwrap(), None);
        r.apply_notification(
            "update2",
            &json!(["m", {"T": {A: {"modify": {"opt": "o"}}}}]),
        )
        .unwrap();
        // Optional value replaced: diff holds old and new.
        r.apply_notification(
            "update2",
            &json!(["m", {"T": {A: {"modify": {"opt": ["set", ["o", "p"]]}}}}]),
        )
        .unwrap();
        assert_eq!(
            r.row("T", &u(A)).unwrap().get_opt_str("opt").unwrap(),
            Some("p")
        );
        assert_eq!(r.take_changes()["T"][&u(A)], Change::Modified);
        r.apply_notification("update2", &json!(["m", {"T": {A: {"delete": null}}}]))
            .unwrap();
        assert_eq!(r.len("T"), 0);
        assert_eq!(r.take_changes()["T"][&u(A)], Change::Deleted);
        assert!(r
            .apply_notification("update2", &json!(["m", {"T": {A: {"modify": {"s": "x"}}}}]))
            .is_err());
        assert!(r
            .apply_notification("update2", &json!(["m", {"T": {A: {"delete": null}}}]))
            .is_err());
    }

    #[test]
    fn coalescing_and_reload() {
        let mut r = Replica::new();
        r.apply_notification("update2", &json!(["m", {"T": {A: {"insert": {"s": "a"}}}}]))
            .unwrap();
        r.apply_notification("update2", &json!(["m", {"T": {A: {"modify": {"s": "b"}}}}]))
            .unwrap();
        r.apply_notification("update2", &json!(["m", {"T": {B: {"insert": {"s": "b"}}}}]))
            .unwrap();
        r.apply_notification("update2", &json!(["m", {"T": {B: {"delete": null}}}]))
            .unwrap();
        let c = r.take_changes();
        assert_eq!(c["T"].len(), 1);
        assert_eq!(c["T"][&u(A)], Change::Inserted);
        // Reload: A unchanged, B new.
        r.begin_reload();
        assert_eq!(r.len("T"), 0);
        r.apply_notification(
            "update2",
            &json!(["m", {"T": {A: {"initial": {"s": "b"}}, B: {"initial": {"s": "c"}}}}]),
        )
        .unwrap();
        r.finish_reload();
        let c = r.take_changes();
        assert_eq!(c["T"].len(), 1, "{c:?}");
        assert_eq!(c["T"][&u(B)], Change::Inserted);
        // Reload that drops A and changes B.
        r.begin_reload();
        r.apply_notification(
            "update2",
            &json!(["m", {"T": {B: {"initial": {"s": "d"}}}}]),
        )
        .unwrap();
        r.finish_reload();
        let c = r.take_changes();
        assert_eq!(c["T"][&u(A)], Change::Deleted);
        assert_eq!(c["T"][&u(B)], Change::Modified);
        r.clear();
        assert_eq!(r.take_changes()["T"][&u(B)], Change::Deleted);
    }

    #[test]
    fn update_v1() {
        let mut r = Replica::new();
        r.apply_notification(
            "update",
            &json!(["m", {"T": {A: {"new": {"s": "a", "n": 1}}}}]),
        )
        .unwrap();
        r.apply_notification(
            "update",
            &json!(["m", {"T": {A: {"old": {"s": "a"}, "new": {"s": "b", "n": 1}}}}]),
        )
        .unwrap();
        assert_eq!(r.row("T", &u(A)).unwrap().get_str("s").unwrap(), "b");
        r.apply_notification(
            "update",
            &json!(["m", {"T": {A: {"old": {"s": "b", "n": 1}}}}]),
        )
        .unwrap();
        assert_eq!(r.len("T"), 0);
        assert_eq!(
            r.take_changes().len(),
            0,
            "insert+modify+delete coalesce to nothing"
        );
    }
}
