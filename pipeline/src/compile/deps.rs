//! Incremental compilation: what a flow's compilation asked of the outside world.
//!
//! Compiling one logical flow for one datapath is a pure function of its text (match,
//! actions, pipeline, table), the symbol table, and the answers to the [`Names`] questions
//! it asks: port and multicast-group keys, address-set members, port-group members and
//! chassis residency. [`Recorder`] wraps a [`Names`] and writes down every question with
//! its answer (address sets and port groups as a hash of the answer). A later compile may
//! reuse the result as long as [`still_hold`] says every answer is unchanged, which is the
//! way ovn-controller's lflow cache decides it, by reference tracking rather than by
//! diffing the whole input.

use std::cell::RefCell;
use std::hash::{Hash, Hasher};

use super::dnf::Names;
use crate::lexer::Int;

/// One question asked during a compile, with the answer it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Dep {
    Port(Box<str>, Option<u32>),
    AddressSet(Box<str>, Option<u64>),
    PortGroup(Box<str>, Option<u64>),
    Resident(Box<str>, bool),
}

/// A [`Names`] that records every question and answer.
pub(crate) struct Recorder<'n> {
    inner: &'n dyn Names,
    deps: RefCell<Vec<Dep>>,
}

impl<'n> Recorder<'n> {
    pub(crate) fn new(inner: &'n dyn Names) -> Recorder<'n> {
        Recorder {
            inner,
            deps: RefCell::new(Vec::new()),
        }
    }

    /// The questions asked so far, each once.
    pub(crate) fn into_deps(self) -> Box<[Dep]> {
        let mut v = self.deps.into_inner();
        let mut seen: Vec<Dep> = Vec::with_capacity(v.len());
        v.retain(|d| {
            if seen.contains(d) {
                false
            } else {
                seen.push(d.clone());
                true
            }
        });
        v.into_boxed_slice()
    }

    fn push(&self, d: Dep) {
        self.deps.borrow_mut().push(d);
    }
}

fn hash_of<T: Hash + ?Sized>(v: &T) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

impl Names for Recorder<'_> {
    fn port_key(&self, name: &str) -> Option<u32> {
        let k = self.inner.port_key(name);
        self.push(Dep::Port(name.into(), k));
        k
    }
    fn address_set(&self, name: &str) -> Option<&[Int]> {
        let v = self.inner.address_set(name);
        self.push(Dep::AddressSet(name.into(), v.map(hash_of)));
        v
    }
    fn port_group(&self, name: &str) -> Option<Vec<u32>> {
        let v = self.inner.port_group(name);
        self.push(Dep::PortGroup(name.into(), v.as_deref().map(hash_of)));
        v
    }
    fn resident(&self, port: &str) -> bool {
        let r = self.inner.resident(port);
        self.push(Dep::Resident(port.into(), r));
        r
    }
}

/// True when `names` gives every recorded question the recorded answer.
pub(crate) fn still_hold(deps: &[Dep], names: &dyn Names) -> bool {
    deps.iter().all(|d| match d {
        Dep::Port(n, k) => names.port_key(n) == *k,
        Dep::AddressSet(n, h) => names.address_set(n).map(hash_of) == *h,
        Dep::PortGroup(n, h) => names.port_group(n).as_deref().map(hash_of) == *h,
        Dep::Resident(n, r) => names.resident(n) == *r,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Fake {
        ports: HashMap<String, u32>,
        sets: HashMap<String, Vec<Int>>,
        resident: Vec<String>,
    }

    impl Names for Fake {
        fn port_key(&self, name: &str) -> Option<u32> {
            self.ports.get(name).copied()
        }
        fn address_set(&self, name: &str) -> Option<&[Int]> {
            self.sets.get(name).map(|v| &v[..])
        }
        fn port_group(&self, name: &str) -> Option<Vec<u32>> {
            (name == "pg").then(|| self.ports.values().copied().collect())
        }
        fn resident(&self, port: &str) -> bool {
            self.resident.iter().any(|p| p == port)
        }
    }

    fn int(v: u128) -> Int {
        Int {
            value: v,
            mask: None,
            format: crate::lexer::IntFormat::Decimal,
        }
    }

    #[test]
    fn answers_are_recorded_once_and_checked() {
        let mut f = Fake::default();
        f.ports.insert("a".into(), 1);
        f.sets.insert("as".into(), vec![int(1), int(2)]);
        let deps = {
            let r = Recorder::new(&f);
            assert_eq!(r.port_key("a"), Some(1));
            assert_eq!(r.port_key("a"), Some(1));
            assert_eq!(r.port_key("missing"), None);
            assert_eq!(r.address_set("as").map(<[Int]>::len), Some(2));
            assert!(!r.resident("a"));
            r.into_deps()
        };
        assert_eq!(deps.len(), 4, "{deps:?}");
        assert!(still_hold(&deps, &f));

        // An unrelated change keeps the result valid.
        f.ports.insert("b".into(), 2);
        assert!(still_hold(&deps, &f));
        // A port that appears, a changed address set, a residency change: each invalidates.
        let mut g = Fake {
            ports: f.ports.clone(),
            sets: f.sets.clone(),
            resident: vec![],
        };
        g.ports.insert("missing".into(), 7);
        assert!(!still_hold(&deps, &g));
        g.ports.remove("missing");
        g.sets.get_mut("as").unwrap().push(int(3));
        assert!(!still_hold(&deps, &g));
        g.sets.get_mut("as").unwrap().pop();
        assert!(still_hold(&deps, &g));
        g.resident.push("a".into());
        assert!(!still_hold(&deps, &g));
    }
}
