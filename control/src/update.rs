//! Parsed monitor updates: `<table-updates>` (plain `monitor`/`update`, RFC 7047 4.1.6) and
//! `<table-updates2>` (`monitor_cond`/`update2` and `monitor_cond_since`/`update3`, described
//! in ovsdb-server(7)).

use serde_json::Value;

use crate::datum::{short, Uuid};
use crate::error::{Error, Result};
use crate::row::Row;

/// Which notification format a monitor uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateFormat {
    /// `update`: `{"old": row, "new": row}` per row.
    V1,
    /// `update2`/`update3`: `{"initial"|"insert"|"modify"|"delete": ...}` per row.
    V2,
}

/// What happened to one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RowUpdate {
    /// Present when the monitor started (update2/3).
    Initial(Row),
    /// A new row (update2/3).
    Insert(Row),
    /// Changed columns only, in diff form (update2/3; see `Replica` for the semantics).
    Modify(Row),
    /// The row is gone (update2/3).
    Delete,
    /// A plain `update`: `old` has the previous values of changed columns, `new` all columns.
    V1 { old: Option<Row>, new: Option<Row> },
}

/// Updates to several tables: (table, [(row uuid, update)]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableUpdates(pub Vec<(String, Vec<(Uuid, RowUpdate)>)>);

impl TableUpdates {
    /// Parses `<table-updates>` or `<table-updates2>`.
    pub fn from_json(v: &Value, format: UpdateFormat) -> Result<TableUpdates> {
        let Value::Object(tables) = v else {
            return Err(Error::Protocol(format!(
                "table updates are not an object: {}",
                short(v)
            )));
        };
        let mut out = Vec::with_capacity(tables.len());
        for (table, rows) in tables {
            let Value::Object(rows) = rows else {
                return Err(Error::Protocol(format!(
                    "updates of {table} are not an object: {}",
                    short(rows)
                )));
            };
            let mut updates = Vec::with_capacity(rows.len());
            for (uuid, u) in rows {
                let uuid: Uuid = uuid.parse()?;
                let ctx = |e: Error| Error::Protocol(format!("{table} row {uuid}: {e}"));
                let update = match format {
                    UpdateFormat::V1 => parse_v1(u).map_err(ctx)?,
                    UpdateFormat::V2 => parse_v2(u).map_err(ctx)?,
                };
                updates.push((uuid, update));
            }
            out.push((table.clone(), updates));
        }
        Ok(TableUpdates(out))
    }

    /// Number of row updates.
    pub fn len(&self) -> usize {
        self.0.iter().map(|(_, r)| r.len()).sum()
    }

    /// True when there is no row update.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn parse_v1(u: &Value) -> Result<RowUpdate> {
    let Value::Object(o) = u else {
        return Err(Error::Protocol(format!(
            "row update is not an object: {}",
            short(u)
        )));
    };
    let old = o.get("old").map(Row::from_json).transpose()?;
    let new = o.get("new").map(Row::from_json).transpose()?;
    if old.is_none() && new.is_none() {
        return Err(Error::Protocol("row update has neither old nor new".into()));
    }
    Ok(RowUpdate::V1 { old, new })
}

fn parse_v2(u: &Value) -> Result<RowUpdate> {
    let Value::Object(o) = u else {
        return Err(Error::Protocol(format!(
            "row update is not an object: {}",
            short(u)
        )));
    };
    if o.len() != 1 {
        return Err(Error::Protocol(format!(
            "row update must have exactly one key: {}",
            short(u)
        )));
    }
    let Some((k, v)) = o.iter().next() else {
        return Err(Error::Protocol("empty row update".into()));
    };
    match k.as_str() {
        "initial" => Ok(RowUpdate::Initial(Row::from_json(v)?)),
        "insert" => Ok(RowUpdate::Insert(Row::from_json(v)?)),
        "modify" => Ok(RowUpdate::Modify(Row::from_json(v)?)),
        "delete" => Ok(RowUpdate::Delete),
        other => Err(Error::Protocol(format!(
            "unknown row update kind {other:?}"
        ))),
    }
}

/// A parsed update notification.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// The monitor id given when the monitor was created.
    pub monitor_id: Value,
    /// The transaction id after these updates (`update3` only).
    pub last_txn_id: Option<Uuid>,
    pub updates: TableUpdates,
}

impl Notification {
    /// Parses the params of `update`, `update2` or `update3`; `Ok(None)` for other methods.
    pub fn parse(method: &str, params: &Value) -> Result<Option<Notification>> {
        let p = params.as_array().map(Vec::as_slice).unwrap_or(&[]);
        let bad = || Error::Protocol(format!("{method} with bad params: {}", short(params)));
        let (id, txn, updates, format) = match (method, p) {
            ("update", [id, u]) => (id, None, u, UpdateFormat::V1),
            ("update2", [id, u]) => (id, None, u, UpdateFormat::V2),
            ("update3", [id, txn, u]) => {
                let txn: Uuid = txn.as_str().ok_or_else(bad)?.parse()?;
                (id, Some(txn), u, UpdateFormat::V2)
            }
            ("update" | "update2" | "update3", _) => return Err(bad()),
            _ => return Ok(None),
        };
        Ok(Some(Notification {
            monitor_id: id.clone(),
            last_txn_id: txn,
            updates: TableUpdates::from_json(updates, format)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const U: &str = "550e8400-e29b-41d4-a716-446655440000";

    #[test]
    fn parses_update3() {
        let n = Notification::parse(
            "update3",
            &json!(["m", U, {"Chassis": {U: {"modify": {"name": "x"}}, "550e8400-e29b-41d4-a716-446655440001": {"delete": null}}}]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(n.last_txn_id.unwrap().to_string(), U);
        assert_eq!(n.updates.len(), 2);
        assert!(Notification::parse("locked", &json!([])).unwrap().is_none());
        assert!(Notification::parse("update3", &json!(["m", {}])).is_err());
        assert!(Notification::parse(
            "update2",
            &json!(["m", {"T": {U: {"insert": {}, "delete": null}}}])
        )
        .is_err());
        assert!(Notification::parse("update2", &json!(["m", {"T": {U: {"frob": {}}}}])).is_err());
        assert!(Notification::parse("update", &json!(["m", {"T": {U: {}}}])).is_err());
        assert!(Notification::parse("update", &json!(["m", {"T": {"bad": {"new": {}}}}])).is_err());
    }
}
