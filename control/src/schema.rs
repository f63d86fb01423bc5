//! The parts of an OVSDB schema (RFC 7047 section 3.2) the client needs: table names and,
//! per column, whether it is a scalar, a set or a map. The kind decides how an update2
//! "modify" diff applies (replace, symmetric difference, key-wise merge).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::datum::{short, Atom, Datum, Uuid};
use crate::error::{Error, Result};

/// How a column's values combine in update2 diffs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    /// Exactly one value (`min` = `max` = 1, no `value` type): a diff replaces it.
    Scalar,
    /// A set (`max` > 1): a diff is a symmetric difference.
    Set,
    /// An optional value (`min` 0, `max` 1, no `value` type): ovsdb-server sends the new
    /// value in update2/update3 diffs (`["set", []]` when cleared), as for scalars.
    Optional,
    /// A map: a diff adds, removes or replaces keys.
    Map,
}

/// Atomic types (RFC 7047 section 3.2 `<atomic-type>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomType {
    Integer,
    Real,
    Boolean,
    String,
    Uuid,
}

impl AtomType {
    fn parse(v: &Value) -> Result<AtomType> {
        let name = match v {
            Value::String(s) => s.as_str(),
            Value::Object(o) => o.get("type").and_then(Value::as_str).unwrap_or(""),
            _ => "",
        };
        Ok(match name {
            "integer" => AtomType::Integer,
            "real" => AtomType::Real,
            "boolean" => AtomType::Boolean,
            "string" => AtomType::String,
            "uuid" => AtomType::Uuid,
            _ => return Err(Error::Protocol(format!("invalid atomic type {}", short(v)))),
        })
    }

    /// The type's default atom: 0, 0.0, false, "" or the all-zero uuid.
    pub fn default_atom(self) -> Atom {
        match self {
            AtomType::Integer => Atom::Integer(0),
            AtomType::Real => Atom::Real(0.0),
            AtomType::Boolean => Atom::Boolean(false),
            AtomType::String => Atom::String(String::new()),
            AtomType::Uuid => Atom::Uuid(Uuid::ZERO),
        }
    }
}

/// One column of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnSchema {
    pub kind: ColumnKind,
    pub key: AtomType,
}

impl ColumnSchema {
    /// The column's default value, which ovsdb-server leaves out of update2 rows: the key
    /// type's default for a scalar, the empty set or map otherwise.
    pub fn default_datum(&self) -> Datum {
        match self.kind {
            ColumnKind::Scalar => Datum::atom(self.key.default_atom()),
            ColumnKind::Set | ColumnKind::Optional => Datum::empty_set(),
            ColumnKind::Map => Datum::Map(Default::default()),
        }
    }
}

/// One table of a schema.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableSchema {
    pub columns: BTreeMap<String, ColumnSchema>,
    pub is_root: bool,
}

/// A database schema, reduced to what the client uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatabaseSchema {
    pub name: String,
    pub version: String,
    pub tables: BTreeMap<String, TableSchema>,
}

fn column_schema(t: &Value) -> Result<ColumnSchema> {
    let key = match t {
        Value::Object(o) => AtomType::parse(o.get("key").unwrap_or(&Value::Null))?,
        _ => AtomType::parse(t)?,
    };
    Ok(ColumnSchema {
        kind: column_kind(t)?,
        key,
    })
}

fn column_kind(t: &Value) -> Result<ColumnKind> {
    match t {
        Value::String(_) => Ok(ColumnKind::Scalar),
        Value::Object(o) => {
            if o.contains_key("value") {
                return Ok(ColumnKind::Map);
            }
            let min = o.get("min").and_then(Value::as_u64).unwrap_or(1);
            let max =
                match o.get("max") {
                    None => Some(1),
                    Some(Value::String(s)) if s == "unlimited" => None,
                    Some(v) => Some(v.as_u64().ok_or_else(|| {
                        Error::Protocol(format!("invalid column max {}", short(v)))
                    })?),
                };
            Ok(if min == 1 && max == Some(1) {
                ColumnKind::Scalar
            } else if min == 0 && max == Some(1) {
                ColumnKind::Optional
            } else {
                ColumnKind::Set
            })
        }
        _ => Err(Error::Protocol(format!("invalid column type {}", short(t)))),
    }
}

impl DatabaseSchema {
    /// Parses the result of `get_schema`.
    pub fn from_json(v: &Value) -> Result<DatabaseSchema> {
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Protocol("schema has no name".into()))?;
        let version = v
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let tables_json = v
            .get("tables")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::Protocol(format!("schema {name} has no tables object")))?;
        let mut tables = BTreeMap::new();
        for (tname, t) in tables_json {
            let cols = t
                .get("columns")
                .and_then(Value::as_object)
                .ok_or_else(|| Error::Protocol(format!("table {tname} has no columns")))?;
            let mut columns = BTreeMap::new();
            for (cname, c) in cols {
                let ty = c.get("type").ok_or_else(|| {
                    Error::Protocol(format!("column {tname}.{cname} has no type"))
                })?;
                let col = column_schema(ty)
                    .map_err(|e| Error::Protocol(format!("column {tname}.{cname}: {e}")))?;
                columns.insert(cname.clone(), col);
            }
            let is_root = t.get("isRoot").and_then(Value::as_bool).unwrap_or(false);
            tables.insert(tname.clone(), TableSchema { columns, is_root });
        }
        Ok(DatabaseSchema {
            name: name.to_string(),
            version,
            tables,
        })
    }

    /// The kind of `table.column`, `None` if unknown.
    pub fn column_kind(&self, table: &str, column: &str) -> Option<ColumnKind> {
        Some(self.column(table, column)?.kind)
    }

    /// The schema of `table.column`, `None` if unknown.
    pub fn column(&self, table: &str, column: &str) -> Option<&ColumnSchema> {
        self.tables.get(table)?.columns.get(column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_kinds() {
        let s = DatabaseSchema::from_json(&json!({
            "name": "X", "version": "1.0.0",
            "tables": {"T": {"isRoot": true, "columns": {
                "a": {"type": "string"},
                "b": {"type": {"key": "string", "min": 0, "max": 1}},
                "c": {"type": {"key": {"type": "uuid", "refTable": "T"}, "min": 0, "max": "unlimited"}},
                "d": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
                "e": {"type": {"key": "integer"}}
            }}}
        }))
        .unwrap();
        assert_eq!(s.column_kind("T", "a"), Some(ColumnKind::Scalar));
        assert_eq!(s.column_kind("T", "b"), Some(ColumnKind::Optional));
        assert_eq!(s.column_kind("T", "c"), Some(ColumnKind::Set));
        assert_eq!(s.column_kind("T", "d"), Some(ColumnKind::Map));
        assert_eq!(s.column_kind("T", "e"), Some(ColumnKind::Scalar));
        assert!(s.tables["T"].is_root);
        assert_eq!(s.column("T", "a").unwrap().default_datum(), Datum::atom(""));
        assert_eq!(
            s.column("T", "e").unwrap().default_datum(),
            Datum::atom(0i64)
        );
        assert_eq!(s.column("T", "c").unwrap().key, AtomType::Uuid);
        assert_eq!(
            s.column("T", "d").unwrap().default_datum(),
            Datum::Map(Default::default())
        );
        assert!(DatabaseSchema::from_json(&json!({"name": "X"})).is_err());
        assert!(DatabaseSchema::from_json(
            &json!({"name": "X", "tables": {"T": {"columns": {"a": {"type": 1}}}}})
        )
        .is_err());
    }
}
