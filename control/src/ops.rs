//! Transaction operations (RFC 7047 section 5.2) and conditions (5.1), as a small builder.
//!
//! ```
//! use control::{Datum, Op, Row};
//! use control::ops::{Condition, Mutation};
//! let ops = vec![
//!     Op::insert("Encap", Row::new().with("type", "geneve").with("ip", "127.0.0.1")).uuid_name("e"),
//!     Op::insert("Chassis", Row::new().with("name", "ch1")
//!         .with("encaps", control::Atom::NamedUuid("e".into()))),
//!     Op::mutate("Chassis", vec![Condition::eq("name", "ch1")],
//!         vec![Mutation::new("external_ids", "insert", Datum::map([("k", "v")]))]),
//! ];
//! assert_eq!(ops[0].to_json()["uuid-name"], "e");
//! ```

use serde_json::{json, Value};

use crate::datum::{Datum, Uuid};
use crate::error::{Error, Result};
use crate::row::Row;

/// A condition: `[column, function, value]`, or the constant `true`/`false` (monitor
/// conditions only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    Clause {
        column: String,
        /// `==`, `!=`, `<`, `<=`, `>`, `>=`, `includes`, `excludes`.
        function: String,
        value: Datum,
    },
    Const(bool),
}

impl Condition {
    /// `[column, function, value]`.
    pub fn new(column: &str, function: &str, value: impl Into<Datum>) -> Condition {
        Condition::Clause {
            column: column.to_string(),
            function: function.to_string(),
            value: value.into(),
        }
    }

    /// `[column, "==", value]`.
    pub fn eq(column: &str, value: impl Into<Datum>) -> Condition {
        Condition::new(column, "==", value)
    }

    /// `["_uuid", "==", ["uuid", u]]`.
    pub fn uuid(u: Uuid) -> Condition {
        Condition::eq("_uuid", u)
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        match self {
            Condition::Clause {
                column,
                function,
                value,
            } => json!([column, function, value.to_json()]),
            Condition::Const(b) => json!(b),
        }
    }
}

/// The JSON form of a where clause.
pub fn where_json(conds: &[Condition]) -> Value {
    Value::Array(conds.iter().map(Condition::to_json).collect())
}

/// A mutation `[column, mutator, value]` (mutators: `+=`, `-=`, `*=`, `/=`, `%=`, `insert`,
/// `delete`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mutation {
    pub column: String,
    pub mutator: String,
    pub value: Datum,
}

impl Mutation {
    pub fn new(column: &str, mutator: &str, value: impl Into<Datum>) -> Mutation {
        Mutation {
            column: column.to_string(),
            mutator: mutator.to_string(),
            value: value.into(),
        }
    }
}

/// One operation of a `transact`.
#[derive(Clone, Debug, PartialEq)]
pub struct Op(Value);

impl Op {
    /// `insert` of a row.
    pub fn insert(table: &str, row: Row) -> Op {
        Op(json!({"op": "insert", "table": table, "row": row.to_json()}))
    }

    /// Names the row inserted by this op so other ops may refer to it as
    /// `["named-uuid", name]` (only meaningful on `insert`).
    pub fn uuid_name(mut self, name: &str) -> Op {
        if let Value::Object(o) = &mut self.0 {
            o.insert("uuid-name".into(), json!(name));
        }
        self
    }

    /// `update` of the columns in `row` for rows matching `where_`.
    pub fn update(table: &str, where_: Vec<Condition>, row: Row) -> Op {
        Op(
            json!({"op": "update", "table": table, "where": where_json(&where_), "row": row.to_json()}),
        )
    }

    /// `mutate`.
    pub fn mutate(table: &str, where_: Vec<Condition>, mutations: Vec<Mutation>) -> Op {
        let m: Vec<Value> = mutations
            .iter()
            .map(|m| json!([m.column, m.mutator, m.value.to_json()]))
            .collect();
        Op(json!({"op": "mutate", "table": table, "where": where_json(&where_), "mutations": m}))
    }

    /// `delete`.
    pub fn delete(table: &str, where_: Vec<Condition>) -> Op {
        Op(json!({"op": "delete", "table": table, "where": where_json(&where_)}))
    }

    /// `select` (all columns when `columns` is `None`).
    pub fn select(table: &str, where_: Vec<Condition>, columns: Option<&[&str]>) -> Op {
        let mut v = json!({"op": "select", "table": table, "where": where_json(&where_)});
        if let (Some(c), Value::Object(o)) = (columns, &mut v) {
            o.insert("columns".into(), json!(c));
        }
        Op(v)
    }

    /// `wait` until the selected rows' `columns` are (`equal`) or are not equal to `rows`.
    pub fn wait(
        table: &str,
        where_: Vec<Condition>,
        columns: &[&str],
        equal: bool,
        rows: Vec<Row>,
        timeout_ms: Option<u64>,
    ) -> Op {
        let rows: Vec<Value> = rows.iter().map(Row::to_json).collect();
        let mut v = json!({"op": "wait", "table": table, "where": where_json(&where_),
            "columns": columns, "until": if equal { "==" } else { "!=" }, "rows": rows});
        if let (Some(t), Value::Object(o)) = (timeout_ms, &mut v) {
            o.insert("timeout".into(), json!(t));
        }
        Op(v)
    }

    /// `comment` (shown in the server's log and in `ovsdb-tool show-log`).
    pub fn comment(text: &str) -> Op {
        Op(json!({"op": "comment", "comment": text}))
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        self.0.clone()
    }

    pub(crate) fn into_json(self) -> Value {
        self.0
    }
}

/// Checks transact results: the first `{"error": ...}` entry becomes an [`Error::Rpc`] (with
/// its details and the index of the failing op).
pub fn check_results(results: &Value) -> Result<Vec<Value>> {
    let Value::Array(items) = results else {
        return Err(Error::Protocol(format!(
            "transact result is not an array: {}",
            crate::datum::short(results)
        )));
    };
    for (i, r) in items.iter().enumerate() {
        if let Some(e) = r.get("error") {
            if !e.is_null() {
                let mut error = r.clone();
                if let Value::Object(o) = &mut error {
                    o.insert("op_index".into(), json!(i));
                }
                return Err(Error::Rpc {
                    method: "transact".into(),
                    error,
                });
            }
        }
    }
    Ok(items.clone())
}

/// The uuid of the row inserted by op `index` in checked transact results.
pub fn inserted_uuid(results: &[Value], index: usize) -> Option<Uuid> {
    let u = results.get(index)?.get("uuid")?;
    match crate::datum::Atom::from_json(u).ok()? {
        crate::datum::Atom::Uuid(u) => Some(u),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_json() {
        let op = Op::update(
            "T",
            vec![Condition::eq("name", "x")],
            Row::new().with("n", 1),
        );
        assert_eq!(
            op.to_json(),
            json!({"op":"update","table":"T","where":[["name","==","x"]],"row":{"n":1}})
        );
        let w = Op::wait(
            "T",
            vec![],
            &["n"],
            true,
            vec![Row::new().with("n", 2)],
            Some(5),
        );
        assert_eq!(w.to_json()["until"], "==");
        assert_eq!(w.to_json()["timeout"], 5);
        assert_eq!(
            Op::select("T", vec![Condition::Const(true)], Some(&["a"])).to_json()["columns"],
            json!(["a"])
        );
        assert_eq!(Op::delete("T", vec![]).to_json()["where"], json!([]));
        assert_eq!(Op::comment("hi").to_json()["comment"], "hi");
    }

    #[test]
    fn results() {
        let ok = json!([{"uuid": ["uuid", "00000000-0000-0000-0000-00000000000a"]}, {"count": 1}]);
        let r = check_results(&ok).unwrap();
        assert_eq!(inserted_uuid(&r, 0).unwrap().0, 10);
        assert_eq!(inserted_uuid(&r, 1), None);
        let bad = json!([{}, {"error": "constraint violation", "details": "x"}]);
        let e = check_results(&bad).unwrap_err();
        assert!(e.to_string().contains("constraint violation"), "{e}");
        assert!(check_results(&json!({})).is_err());
    }
}
