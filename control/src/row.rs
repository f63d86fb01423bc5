//! A database row: column name -> [`Datum`], with typed getters that return errors, not
//! panics, when a column is missing or has another type.
//!
//! Columns the consumer does not know about are kept and simply never read.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::datum::{short, Atom, Datum, Uuid};
use crate::error::{Error, Result};

static EMPTY_SET: BTreeSet<Atom> = BTreeSet::new();
static EMPTY_MAP: BTreeMap<Atom, Atom> = BTreeMap::new();

/// One row of a table (or a partial row: an update2 diff, a transaction's column values).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row {
    columns: BTreeMap<String, Datum>,
}

fn col_err(column: &str, reason: impl Into<String>) -> Error {
    Error::Column {
        column: column.to_string(),
        reason: reason.into(),
    }
}

impl Row {
    /// An empty row.
    pub fn new() -> Row {
        Row::default()
    }

    /// Parses a `<row>` JSON object (column name -> datum).
    pub fn from_json(v: &Value) -> Result<Row> {
        let Value::Object(o) = v else {
            return Err(Error::Protocol(format!(
                "row is not an object: {}",
                short(v)
            )));
        };
        let mut columns = BTreeMap::new();
        for (k, v) in o {
            let d = Datum::from_json(v).map_err(|e| col_err(k, e.to_string()))?;
            columns.insert(k.clone(), d);
        }
        Ok(Row { columns })
    }

    /// The JSON object form.
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.columns
                .iter()
                .map(|(k, d)| (k.clone(), d.to_json()))
                .collect(),
        )
    }

    /// Sets a column (builder style).
    pub fn with(mut self, column: &str, value: impl Into<Datum>) -> Row {
        self.columns.insert(column.to_string(), value.into());
        self
    }

    /// Sets a column.
    pub fn set(&mut self, column: &str, value: Datum) {
        self.columns.insert(column.to_string(), value);
    }

    /// Removes a column.
    pub fn remove(&mut self, column: &str) -> Option<Datum> {
        self.columns.remove(column)
    }

    /// The raw datum of a column.
    pub fn get(&self, column: &str) -> Option<&Datum> {
        self.columns.get(column)
    }

    /// Iterates over (column, datum).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Datum)> {
        self.columns.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of columns present.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// True when no column is present.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    fn datum(&self, column: &str) -> Result<&Datum> {
        self.columns
            .get(column)
            .ok_or_else(|| col_err(column, "missing (not in schema or not monitored)"))
    }

    /// The set of a set-typed column (a scalar is a set of one). Errors on a map.
    pub fn get_set(&self, column: &str) -> Result<&BTreeSet<Atom>> {
        match self.datum(column)? {
            Datum::Set(s) => Ok(s),
            Datum::Map(m) if m.is_empty() => Ok(&EMPTY_SET),
            Datum::Map(_) => Err(col_err(column, "is a map, expected a set")),
        }
    }

    /// The map of a map-typed column. An empty set reads as an empty map.
    pub fn get_map(&self, column: &str) -> Result<&BTreeMap<Atom, Atom>> {
        match self.datum(column)? {
            Datum::Map(m) => Ok(m),
            Datum::Set(s) if s.is_empty() => Ok(&EMPTY_MAP),
            Datum::Set(_) => Err(col_err(column, "is a set, expected a map")),
        }
    }

    /// The single atom of an optional column (`None` when the set is empty).
    fn opt_atom(&self, column: &str) -> Result<Option<&Atom>> {
        let s = self.get_set(column)?;
        match s.len() {
            0 => Ok(None),
            1 => Ok(s.iter().next()),
            n => Err(col_err(
                column,
                format!("has {n} values, expected at most one"),
            )),
        }
    }

    fn atom(&self, column: &str) -> Result<&Atom> {
        self.opt_atom(column)?
            .ok_or_else(|| col_err(column, "is empty, expected one value"))
    }

    fn mismatch(column: &str, want: &str, got: &Atom) -> Error {
        col_err(column, format!("is {}, expected {want}", got.type_name()))
    }

    /// A string scalar.
    pub fn get_str(&self, column: &str) -> Result<&str> {
        let a = self.atom(column)?;
        a.as_str()
            .ok_or_else(|| Self::mismatch(column, "string", a))
    }

    /// An optional string (set of 0 or 1 string).
    pub fn get_opt_str(&self, column: &str) -> Result<Option<&str>> {
        match self.opt_atom(column)? {
            None => Ok(None),
            Some(a) => a
                .as_str()
                .map(Some)
                .ok_or_else(|| Self::mismatch(column, "string", a)),
        }
    }

    /// An integer scalar.
    pub fn get_int(&self, column: &str) -> Result<i64> {
        let a = self.atom(column)?;
        a.as_int()
            .ok_or_else(|| Self::mismatch(column, "integer", a))
    }

    /// An optional integer.
    pub fn get_opt_int(&self, column: &str) -> Result<Option<i64>> {
        match self.opt_atom(column)? {
            None => Ok(None),
            Some(a) => a
                .as_int()
                .map(Some)
                .ok_or_else(|| Self::mismatch(column, "integer", a)),
        }
    }

    /// A boolean scalar.
    pub fn get_bool(&self, column: &str) -> Result<bool> {
        match self.atom(column)? {
            Atom::Boolean(b) => Ok(*b),
            a => Err(Self::mismatch(column, "boolean", a)),
        }
    }

    /// A uuid scalar (e.g. a strong reference).
    pub fn get_uuid(&self, column: &str) -> Result<Uuid> {
        let a = self.atom(column)?;
        a.as_uuid().ok_or_else(|| Self::mismatch(column, "uuid", a))
    }

    /// An optional uuid (e.g. an optional reference such as Port_Binding:chassis).
    pub fn get_opt_uuid(&self, column: &str) -> Result<Option<Uuid>> {
        match self.opt_atom(column)? {
            None => Ok(None),
            Some(a) => a
                .as_uuid()
                .map(Some)
                .ok_or_else(|| Self::mismatch(column, "uuid", a)),
        }
    }

    /// A set of strings, in order.
    pub fn get_str_set(&self, column: &str) -> Result<Vec<&str>> {
        self.get_set(column)?
            .iter()
            .map(|a| {
                a.as_str()
                    .ok_or_else(|| Self::mismatch(column, "set of strings", a))
            })
            .collect()
    }

    /// A set of uuids, in order.
    pub fn get_uuid_set(&self, column: &str) -> Result<Vec<Uuid>> {
        self.get_set(column)?
            .iter()
            .map(|a| {
                a.as_uuid()
                    .ok_or_else(|| Self::mismatch(column, "set of uuids", a))
            })
            .collect()
    }

    /// A string -> string map (external_ids, options, other_config).
    pub fn get_str_map(&self, column: &str) -> Result<BTreeMap<&str, &str>> {
        self.get_map(column)?
            .iter()
            .map(|(k, v)| match (k.as_str(), v.as_str()) {
                (Some(k), Some(v)) => Ok((k, v)),
                _ => Err(col_err(column, "expected a map of string to string")),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row() -> Row {
        Row::from_json(&json!({
            "name": "ch1",
            "n": 7,
            "up": ["set", [true]],
            "chassis": ["set", []],
            "encaps": ["set", [["uuid", "550e8400-e29b-41d4-a716-446655440000"]]],
            "external_ids": ["map", [["a", "b"]]],
            "options": ["map", []],
            "tags": ["set", ["x", "y"]],
            "future_column": 3.5
        }))
        .unwrap()
    }

    #[test]
    fn typed_getters() {
        let r = row();
        assert_eq!(r.get_str("name").unwrap(), "ch1");
        assert_eq!(r.get_int("n").unwrap(), 7);
        assert!(r.get_bool("up").unwrap());
        assert_eq!(r.get_opt_uuid("chassis").unwrap(), None);
        assert_eq!(r.get_uuid_set("encaps").unwrap().len(), 1);
        assert_eq!(
            r.get_uuid("encaps").unwrap().to_string(),
            "550e8400-e29b-41d4-a716-446655440000"
        );
        assert_eq!(r.get_str_map("external_ids").unwrap().get("a"), Some(&"b"));
        assert!(r.get_map("options").unwrap().is_empty());
        assert!(r.get_map("chassis").unwrap().is_empty());
        assert_eq!(r.get_str_set("tags").unwrap(), vec!["x", "y"]);
        assert_eq!(r.get_opt_str("chassis").unwrap(), None);
    }

    #[test]
    fn mismatches_are_errors() {
        let r = row();
        assert!(r.get_int("name").is_err());
        assert!(r.get_str("n").is_err());
        assert!(r.get_bool("name").is_err());
        assert!(r.get_uuid("name").is_err());
        assert!(r
            .get_str("tags")
            .unwrap_err()
            .to_string()
            .contains("2 values"));
        assert!(r.get_str("chassis").is_err());
        assert!(r.get_map("tags").is_err());
        assert!(r.get_set("external_ids").is_err());
        assert!(r
            .get_str("nope")
            .unwrap_err()
            .to_string()
            .contains("missing"));
        assert!(r.get_str_map("tags").is_err());
        assert!(Row::from_json(&json!([1])).is_err());
        assert!(Row::from_json(&json!({"a": null})).is_err());
    }
}
