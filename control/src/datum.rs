//! OVSDB values (RFC 7047 section 5.1): atoms, sets, maps and UUIDs.
//!
//! A [`Datum`] is either a set of atoms or a map of atom pairs. A scalar column value is a set
//! of one atom, an optional column a set of zero or one: the wire form of a one-element set is
//! the bare atom, which is how [`Datum::to_json`] writes it. Sets and maps are kept sorted
//! (BTree) so that update2 set differences and comparisons are cheap and deterministic; reals
//! are ordered with `f64::total_cmp`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// A 128-bit OVSDB UUID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uuid(pub u128);

impl Uuid {
    /// The all-zero UUID (used as "no transaction id" by monitor_cond_since).
    pub const ZERO: Uuid = Uuid(0);

    /// True for the all-zero UUID.
    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }
}

impl FromStr for Uuid {
    type Err = Error;

    /// Parses the canonical 8-4-4-4-12 hex form.
    fn from_str(s: &str) -> Result<Uuid> {
        let bad = || {
            Error::Protocol(format!(
                "invalid uuid {:?}",
                s.chars().take(64).collect::<String>()
            ))
        };
        let b = s.as_bytes();
        if b.len() != 36 {
            return Err(bad());
        }
        let mut v: u128 = 0;
        for (i, &c) in b.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return Err(bad());
                }
                continue;
            }
            let d = (c as char).to_digit(16).ok_or_else(bad)?;
            v = (v << 4) | u128::from(d);
        }
        Ok(Uuid(v))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = format!("{:032x}", self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

/// One OVSDB atom.
#[derive(Clone, Debug)]
pub enum Atom {
    Integer(i64),
    Real(f64),
    Boolean(bool),
    String(String),
    Uuid(Uuid),
    /// A `named-uuid`: only valid inside a transaction, refers to a row inserted by it.
    NamedUuid(String),
}

impl Atom {
    fn rank(&self) -> u8 {
        match self {
            Atom::Integer(_) => 0,
            Atom::Real(_) => 1,
            Atom::Boolean(_) => 2,
            Atom::String(_) => 3,
            Atom::Uuid(_) => 4,
            Atom::NamedUuid(_) => 5,
        }
    }

    /// Parses an atom from its JSON form.
    pub fn from_json(v: &Value) -> Result<Atom> {
        match v {
            Value::String(s) => Ok(Atom::String(s.clone())),
            Value::Bool(b) => Ok(Atom::Boolean(*b)),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(Atom::Integer(i))
                } else if let Some(f) = n.as_f64() {
                    Ok(Atom::Real(f))
                } else {
                    Err(Error::Protocol(format!("number out of range: {n}")))
                }
            }
            Value::Array(a) if a.len() == 2 => match (a[0].as_str(), a[1].as_str()) {
                (Some("uuid"), Some(u)) => Ok(Atom::Uuid(u.parse()?)),
                (Some("named-uuid"), Some(n)) => Ok(Atom::NamedUuid(n.to_string())),
                _ => Err(Error::Protocol(format!("not an atom: {}", short(v)))),
            },
            _ => Err(Error::Protocol(format!("not an atom: {}", short(v)))),
        }
    }

    /// The JSON form of this atom.
    pub fn to_json(&self) -> Value {
        match self {
            Atom::Integer(i) => json!(i),
            Atom::Real(f) => json!(f),
            Atom::Boolean(b) => json!(b),
            Atom::String(s) => json!(s),
            Atom::Uuid(u) => json!(["uuid", u.to_string()]),
            Atom::NamedUuid(n) => json!(["named-uuid", n]),
        }
    }

    /// The string, if this is a string atom.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an integer atom.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Atom::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The uuid, if this is a uuid atom.
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Atom::Uuid(u) => Some(*u),
            _ => None,
        }
    }

    /// The type name, for errors.
    pub fn type_name(&self) -> &'static str {
        match self {
            Atom::Integer(_) => "integer",
            Atom::Real(_) => "real",
            Atom::Boolean(_) => "boolean",
            Atom::String(_) => "string",
            Atom::Uuid(_) => "uuid",
            Atom::NamedUuid(_) => "named-uuid",
        }
    }
}

impl Ord for Atom {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Atom::Integer(a), Atom::Integer(b)) => a.cmp(b),
            (Atom::Real(a), Atom::Real(b)) => a.total_cmp(b),
            (Atom::Boolean(a), Atom::Boolean(b)) => a.cmp(b),
            (Atom::String(a), Atom::String(b)) => a.cmp(b),
            (Atom::Uuid(a), Atom::Uuid(b)) => a.cmp(b),
            (Atom::NamedUuid(a), Atom::NamedUuid(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Atom {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Atom {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Atom {}

impl From<&str> for Atom {
    fn from(s: &str) -> Atom {
        Atom::String(s.to_string())
    }
}
impl From<String> for Atom {
    fn from(s: String) -> Atom {
        Atom::String(s)
    }
}
impl From<i64> for Atom {
    fn from(i: i64) -> Atom {
        Atom::Integer(i)
    }
}
impl From<bool> for Atom {
    fn from(b: bool) -> Atom {
        Atom::Boolean(b)
    }
}
impl From<Uuid> for Atom {
    fn from(u: Uuid) -> Atom {
        Atom::Uuid(u)
    }
}

/// An OVSDB datum: a set of atoms (scalars are sets of one) or a map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Datum {
    Set(BTreeSet<Atom>),
    Map(BTreeMap<Atom, Atom>),
}

pub(crate) fn short(v: &Value) -> String {
    let s = v.to_string();
    s.chars().take(120).collect()
}

impl Datum {
    /// A set of one atom (a scalar value).
    pub fn atom(a: impl Into<Atom>) -> Datum {
        Datum::Set(BTreeSet::from([a.into()]))
    }

    /// The empty set (an absent optional value).
    pub fn empty_set() -> Datum {
        Datum::Set(BTreeSet::new())
    }

    /// A set from atoms.
    pub fn set<A: Into<Atom>>(items: impl IntoIterator<Item = A>) -> Datum {
        Datum::Set(items.into_iter().map(Into::into).collect())
    }

    /// A map from pairs.
    pub fn map<K: Into<Atom>, V: Into<Atom>>(items: impl IntoIterator<Item = (K, V)>) -> Datum {
        Datum::Map(
            items
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// Parses a datum from its JSON form: an atom, `["set", [...]]` or `["map", [[k, v], ...]]`.
    pub fn from_json(v: &Value) -> Result<Datum> {
        if let Value::Array(a) = v {
            if a.len() == 2 {
                match (a[0].as_str(), &a[1]) {
                    (Some("set"), Value::Array(items)) => {
                        return items
                            .iter()
                            .map(Atom::from_json)
                            .collect::<Result<BTreeSet<_>>>()
                            .map(Datum::Set);
                    }
                    (Some("map"), Value::Array(pairs)) => {
                        let mut m = BTreeMap::new();
                        for p in pairs {
                            match p.as_array().map(|p| p.as_slice()) {
                                Some([k, v]) => {
                                    m.insert(Atom::from_json(k)?, Atom::from_json(v)?);
                                }
                                _ => {
                                    return Err(Error::Protocol(format!(
                                        "map pair is not [key, value]: {}",
                                        short(p)
                                    )))
                                }
                            }
                        }
                        return Ok(Datum::Map(m));
                    }
                    _ => {}
                }
            }
        }
        Atom::from_json(v).map(Datum::atom)
    }

    /// The JSON form: a one-element set is written as its atom.
    pub fn to_json(&self) -> Value {
        match self {
            Datum::Set(s) if s.len() == 1 => {
                s.iter().next().map(Atom::to_json).unwrap_or(Value::Null)
            }
            Datum::Set(s) => json!(["set", s.iter().map(Atom::to_json).collect::<Vec<_>>()]),
            Datum::Map(m) => json!([
                "map",
                m.iter()
                    .map(|(k, v)| json!([k.to_json(), v.to_json()]))
                    .collect::<Vec<_>>()
            ]),
        }
    }
}

impl From<Atom> for Datum {
    fn from(a: Atom) -> Datum {
        Datum::atom(a)
    }
}
impl From<&str> for Datum {
    fn from(s: &str) -> Datum {
        Datum::atom(s)
    }
}
impl From<i64> for Datum {
    fn from(i: i64) -> Datum {
        Datum::atom(i)
    }
}
impl From<bool> for Datum {
    fn from(b: bool) -> Datum {
        Datum::atom(b)
    }
}
impl From<Uuid> for Datum {
    fn from(u: Uuid) -> Datum {
        Datum::atom(u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_roundtrip() {
        let s = "550e8400-e29b-41d4-a716-446655440000";
        let u: Uuid = s.parse().unwrap();
        assert_eq!(u.to_string(), s);
        assert!("550e8400e29b-41d4-a716-446655440000x"
            .parse::<Uuid>()
            .is_err());
        assert!("550e8400-e29b-41d4-a716-44665544000g"
            .parse::<Uuid>()
            .is_err());
        assert!("é50e8400-e29b-41d4-a716-44665544000"
            .parse::<Uuid>()
            .is_err());
        assert!(Uuid::ZERO.is_zero());
        assert_eq!(
            Uuid::ZERO.to_string(),
            "00000000-0000-0000-0000-000000000000"
        );
    }

    #[test]
    fn datum_forms() {
        let d = Datum::from_json(&json!(["set", ["b", "a"]])).unwrap();
        assert_eq!(d, Datum::set(["a", "b"]));
        assert_eq!(d.to_json(), json!(["set", ["a", "b"]]));
        assert_eq!(Datum::from_json(&json!("x")).unwrap().to_json(), json!("x"));
        assert_eq!(
            Datum::from_json(&json!(["set", []])).unwrap(),
            Datum::empty_set()
        );
        let m = Datum::from_json(&json!(["map", [["k", 1], ["j", true]]])).unwrap();
        assert_eq!(
            m,
            Datum::map([("j", Atom::Boolean(true)), ("k", Atom::Integer(1))])
        );
        let u = Datum::from_json(&json!(["uuid", "550e8400-e29b-41d4-a716-446655440000"])).unwrap();
        assert!(matches!(u, Datum::Set(ref s) if matches!(s.first(), Some(Atom::Uuid(_)))));
        assert_eq!(
            Datum::from_json(&json!(1.5)).unwrap(),
            Datum::atom(Atom::Real(1.5))
        );
        for bad in [
            json!(null),
            json!({}),
            json!(["map", [[1]]]),
            json!(["uuid", "zz"]),
            json!(["set", [[1, 2]]]),
        ] {
            assert!(Datum::from_json(&bad).is_err(), "{bad}");
        }
    }
}
