//! The symbol table: every name the `match` and `actions` languages know, after OVN's
//! lib/logical-fields.c (23.03), mapped onto the microflow of [`crate::flow`].
//!
//! A symbol is one of
//! - a **field** stored in the microflow ([`Storage::Narrow`] / [`Storage::Wide`]), possibly a
//!   bit range of another symbol (a *subfield*: `reg0` = bits of its word, `ct.new` =
//!   `ct_state[0]`, `flags.loopback` = `flags[0]`, `vlan.vid` = `vlan.tci[0..11]`);
//! - a **string** field (`inport`, `outport`): compared and assigned as logical port names,
//!   stored as the port's tunnel key ([`Storage::Port`]);
//! - a **predicate** (`ip4`, `tcp`, `nd_ns`, `eth.bcast`, ...), a 1-bit name for an
//!   expression, expanded by [`crate::expr::Expr::annotate`];
//! - an **OVN field** (`icmp4.frag_mtu`, `icmp6.frag_mtu`): action-only, not in the microflow.
//!
//! Prerequisites (`tcp.dst` needs `tcp`, which is `ip.proto == 6`, which needs `ip`) are kept as
//! expression text and parsed once when the table is built.
//!
//! Differences from OVN: registers go up to `reg15`/`xreg7`/`xxreg3` (OVN stops at `reg9`;
//! the extra ones are unused by ovn-northd). `inport`/`outport`/`flags` have their own words.

use crate::expr::Expr;
use crate::flow::Field;
use std::collections::HashMap;

/// Index of a symbol in its [`Symtab`].
pub type SymId = u16;

/// Where a field's bits live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Storage {
    /// A microflow field of at most 64 bits.
    Narrow(Field),
    /// A 128-bit field occupying two whole words, high word first (`Field` names the first
    /// word, with width 64). Bit 0 is the least significant bit of the second word.
    Wide(Field),
    /// A logical port: names are compared and assigned; the microflow holds the port's key.
    Port(Field),
    /// A field that only actions write and that the microflow does not carry.
    Ovn(OvnField),
}

/// The action-only fields OVN defines in include/ovn/logical-fields.h.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OvnField {
    /// The "unused"/next-hop MTU 16 bits of an ICMPv4 error (RFC 1191).
    Icmp4FragMtu,
    /// The 32-bit MTU of an ICMPv6 "packet too big" (RFC 4443).
    Icmp6FragMtu,
}

/// Where an assignment to the symbol is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// Read-only (`eth.type`, `ip.proto`, `ct_state`, predicates ...).
    No,
    /// Writable anywhere.
    Yes,
    /// Writable only inside `ct_commit { ... }` (`ct_mark`, `ct_label` and their bits).
    CtCommit,
}

/// What a symbol is.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A field of its own storage.
    Field(Storage),
    /// Bits `ofs .. ofs + width` of another symbol.
    Subfield { parent: SymId, ofs: u16 },
    /// A logical port name field.
    String(Storage),
    /// A named Boolean expression: the text, and its parse.
    Predicate {
        text: &'static str,
        expansion: Box<Expr>,
    },
    /// An action-only OVN field.
    Ovn(OvnField),
}

/// One entry of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Symbol {
    pub name: &'static str,
    /// Width in bits; 0 for string fields; 1 for predicates.
    pub width: u16,
    pub kind: Kind,
    /// Prerequisite expression text, if any (`"tcp"` for `tcp.dst`).
    pub prereq_text: Option<&'static str>,
    /// The parsed prerequisite.
    pub prereq: Option<Box<Expr>>,
    /// OVN's "must crossproduct"/nominal level: only `==`/`!=` against whole values make
    /// sense (`eth.type`, `ip.proto`, `icmp6.type`, `icmp6.code`, string fields).
    pub nominal: bool,
    pub write: Write,
}

/// A resolved bit range: `n_bits` bits starting at bit `ofs` of `storage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Slot {
    pub storage: Storage,
    pub ofs: u16,
    pub n_bits: u16,
}

/// The symbol table. Build it once with [`Symtab::ovn`] and share it.
#[derive(Clone, Debug)]
pub struct Symtab {
    syms: Vec<Symbol>,
    by_name: HashMap<&'static str, SymId, crate::classifier::FastHash>,
}

/// `logical flags` bit numbers (include/ovn/logical-fields.h, `MLF_*_BIT`).
pub mod mlf {
    pub const ALLOW_LOOPBACK: u32 = 0;
    pub const RCV_FROM_RAMP: u32 = 1;
    pub const FORCE_SNAT_FOR_DNAT: u32 = 2;
    pub const FORCE_SNAT_FOR_LB: u32 = 3;
    pub const LOCAL_ONLY: u32 = 4;
    pub const NESTED_CONTAINER: u32 = 5;
    pub const LOOKUP_MAC: u32 = 6;
    pub const LOOKUP_LB_HAIRPIN: u32 = 7;
    pub const LOOKUP_FDB: u32 = 8;
    pub const SKIP_SNAT_FOR_LB: u32 = 9;
    pub const LOCALPORT: u32 = 10;
    pub const USE_SNAT_ZONE: u32 = 11;
    pub const CHECK_PORT_SEC: u32 = 12;
    pub const LOOKUP_COMMIT_ECMP_NH: u32 = 13;
    pub const USE_LB_AFF_SESSION: u32 = 14;
}

/// ct_mark / ct_label bit numbers OVN assigns (`OVN_CT_*_BIT`).
pub mod ct_bits {
    pub const BLOCKED: u16 = 0;
    pub const NATTED: u16 = 1;
    pub const LB_SKIP_SNAT: u16 = 2;
    pub const LB_FORCE_SNAT: u16 = 3;
}

impl Symtab {
    /// Looks a name up.
    pub fn lookup(&self, name: &str) -> Option<SymId> {
        self.by_name.get(name).copied()
    }

    /// The symbol with id `id`. Ids come from this table, so this never fails for them;
    /// an id from another table returns the first symbol rather than panicking.
    pub fn get(&self, id: SymId) -> &Symbol {
        self.syms.get(id as usize).unwrap_or(&self.syms[0])
    }

    /// All symbols, in id order.
    pub fn symbols(&self) -> &[Symbol] {
        &self.syms
    }

    /// Resolves a parsed field reference to its storage (see [`Symtab::resolve`]).
    pub fn resolve_ref(&self, f: &crate::parser::FieldRef) -> Option<Slot> {
        self.resolve(f.sym, f.ofs, f.n_bits)
    }

    /// Resolves bits `ofs .. ofs + n_bits` of symbol `id` to storage, following subfields.
    /// Returns `None` for predicates.
    pub fn resolve(&self, id: SymId, ofs: u16, n_bits: u16) -> Option<Slot> {
        let mut id = id;
        let mut ofs = ofs;
        for _ in 0..8 {
            match &self.get(id).kind {
                Kind::Field(s) | Kind::String(s) => {
                    return Some(Slot {
                        storage: *s,
                        ofs,
                        n_bits,
                    })
                }
                Kind::Ovn(o) => {
                    return Some(Slot {
                        storage: Storage::Ovn(*o),
                        ofs,
                        n_bits,
                    })
                }
                Kind::Subfield { parent, ofs: o } => {
                    ofs += *o;
                    id = *parent;
                }
                Kind::Predicate { .. } => return None,
            }
        }
        None
    }

    pub(crate) fn empty() -> Symtab {
        Symtab {
            syms: Vec::new(),
            by_name: HashMap::default(),
        }
    }

    fn push(&mut self, s: Symbol) {
        let id = self.syms.len() as SymId;
        self.by_name.insert(s.name, id);
        self.syms.push(s);
    }

    pub(crate) fn string(&mut self, name: &'static str, fl: Field) {
        self.push(Symbol {
            name,
            width: 0,
            kind: Kind::String(Storage::Port(fl)),
            prereq_text: None,
            prereq: None,
            nominal: true,
            write: Write::Yes,
        });
    }

    pub(crate) fn field(
        &mut self,
        name: &'static str,
        s: Storage,
        width: u16,
        prereq: Option<&'static str>,
        nominal: bool,
        write: Write,
    ) {
        self.push(Symbol {
            name,
            width,
            kind: Kind::Field(s),
            prereq_text: prereq,
            prereq: None,
            nominal,
            write,
        });
    }

    pub(crate) fn sub(
        &mut self,
        name: &'static str,
        parent: &str,
        ofs: u16,
        width: u16,
        prereq: Option<&'static str>,
        write: Write,
    ) {
        let parent = self.lookup(parent).unwrap_or(0);
        self.push(Symbol {
            name,
            width,
            kind: Kind::Subfield { parent, ofs },
            prereq_text: prereq,
            prereq: None,
            nominal: false,
            write,
        });
    }

    pub(crate) fn pred(&mut self, name: &'static str, text: &'static str) {
        self.push(Symbol {
            name,
            width: 1,
            kind: Kind::Predicate {
                text,
                expansion: Box::new(Expr::Bool(true)),
            },
            prereq_text: None,
            prereq: None,
            nominal: false,
            write: Write::No,
        });
    }

    pub(crate) fn ovn_field(&mut self, name: &'static str, o: OvnField, width: u16) {
        self.push(Symbol {
            name,
            width,
            kind: Kind::Ovn(o),
            prereq_text: None,
            prereq: None,
            nominal: true,
            write: Write::Yes,
        });
    }

    /// Parses every predicate expansion and prerequisite text. The texts are constants
    /// of this file and are covered by a unit test, so a failure leaves `Bool(false)` in
    /// place (never reached in practice) rather than panicking.
    pub(crate) fn parse_texts(&mut self) {
        for i in 0..self.syms.len() {
            if let Kind::Predicate { text, .. } = self.syms[i].kind {
                let e = crate::expr::parse_match(text, self).unwrap_or(Expr::Bool(false));
                if let Kind::Predicate { expansion, .. } = &mut self.syms[i].kind {
                    **expansion = e;
                }
            }
            if let Some(p) = self.syms[i].prereq_text {
                let e = crate::expr::parse_match(p, self).unwrap_or(Expr::Bool(false));
                self.syms[i].prereq = Some(Box::new(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::field;

    #[test]
    fn every_expansion_and_prereq_parses() {
        let t = Symtab::ovn();
        for s in t.symbols() {
            if let Kind::Predicate { text, .. } = s.kind {
                crate::expr::parse_match(text, &t).unwrap_or_else(|e| panic!("{}: {e}", s.name));
            }
            if let Some(p) = s.prereq_text {
                crate::expr::parse_match(p, &t).unwrap_or_else(|e| panic!("{}: {e}", s.name));
            }
        }
    }

    #[test]
    fn subfields_resolve_to_storage() {
        let t = Symtab::ovn();
        let id = t.lookup("ct.new").unwrap();
        assert_eq!(
            t.resolve(id, 0, 1),
            Some(Slot {
                storage: Storage::Narrow(field::CT_STATE),
                ofs: 0,
                n_bits: 1
            })
        );
        let id = t.lookup("ct_label.label").unwrap();
        assert_eq!(t.resolve(id, 0, 32).unwrap().ofs, 96);
        let id = t.lookup("flags.force_snat_for_lb").unwrap();
        assert_eq!(t.resolve(id, 0, 1).unwrap().ofs, 3);
        let id = t.lookup("reg9").unwrap();
        assert_eq!(
            t.resolve(id, 2, 1),
            Some(Slot {
                storage: Storage::Narrow(field::reg(9)),
                ofs: 2,
                n_bits: 1
            })
        );
        assert!(t.resolve(t.lookup("ip4").unwrap(), 0, 1).is_none());
    }
}
