//! The token cursor and the pieces both languages share: field references (`reg0[1..3]`),
//! constants and constant sets (`{80, 443}`, `$as`, `@pg`).

use crate::error::ParseError;
use crate::lexer::{tokenize, Int, IntFormat, Tok, Token};
use crate::symtab::{Kind, SymId, Symtab};

/// A reference to (part of) a symbol: `n_bits` bits from bit `ofs` of symbol `sym`.
/// For string fields `ofs` and `n_bits` are 0. Use [`Symtab::resolve`] to find the storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FieldRef {
    pub sym: SymId,
    pub ofs: u16,
    pub n_bits: u16,
}

/// One constant of a comparison or assignment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// An integer/address, possibly masked (`10.0.0.0/8`, `0x10/0x10`).
    Int(Int),
    /// A string: a logical port name for `inport`/`outport`.
    Str(String),
    /// `$name`: an address set, expanded by the compiler (also `$pg_ip4`-style sets).
    AddrSet(String),
    /// `@name`: a port group, expanded by the compiler into port names.
    PortGroup(String),
}

impl Value {
    /// True for a string-typed constant (strings and port groups).
    pub fn is_string(&self) -> bool {
        matches!(self, Value::Str(_) | Value::PortGroup(_))
    }
}

/// Bound on nesting of parentheses, sets and nested actions (keeps recursion finite).
pub(crate) const MAX_DEPTH: usize = 32;

pub(crate) struct Parser<'a> {
    pub input: &'a str,
    pub toks: Vec<Token>,
    pub pos: usize,
    pub symtab: &'a Symtab,
    pub depth: usize,
    /// Inside an odd number of `!`s (OVN's `ctx->not`).
    pub not: bool,
}

impl<'a> Parser<'a> {
    pub fn new(input: &'a str, symtab: &'a Symtab) -> Result<Self, ParseError> {
        Ok(Parser {
            input,
            toks: tokenize(input)?,
            pos: 0,
            symtab,
            depth: 0,
            not: false,
        })
    }

    pub fn peek(&self) -> &Tok {
        self.toks.get(self.pos).map_or(&Tok::End, |t| &t.tok)
    }

    pub fn peek_at(&self, n: usize) -> &Tok {
        self.toks.get(self.pos + n).map_or(&Tok::End, |t| &t.tok)
    }

    /// Consumes the current token and returns it (tokens are never revisited, so it is
    /// moved out, not cloned; the final [`Tok::End`] stays).
    pub fn advance(&mut self) -> Tok {
        if self.pos < self.toks.len().saturating_sub(1) {
            let t = std::mem::replace(&mut self.toks[self.pos].tok, Tok::End);
            self.pos += 1;
            t
        } else {
            Tok::End
        }
    }

    /// Consumes `t` if it is next.
    pub fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.advance();
            true
        } else {
            false
        }
    }

    /// Consumes identifier `id` if it is next.
    pub fn eat_id(&mut self, id: &str) -> bool {
        if matches!(self.peek(), Tok::Id(s) if s == id) {
            self.advance();
            true
        } else {
            false
        }
    }

    pub fn is_id(&self, id: &str) -> bool {
        matches!(self.peek(), Tok::Id(s) if s == id)
    }

    pub fn expect(&mut self, t: &Tok, what: &str) -> Result<(), ParseError> {
        if self.eat(t) {
            Ok(())
        } else {
            Err(self.error(format!("expecting {what}")))
        }
    }

    /// An error at the current token.
    pub fn error(&self, msg: impl Into<String>) -> ParseError {
        let (start, end) = self
            .toks
            .get(self.pos)
            .map_or((self.input.len(), self.input.len()), |t| (t.start, t.end));
        ParseError::new(start, self.input.get(start..end).unwrap_or(""), msg)
    }

    /// An error at the previous token (for checks made after consuming it).
    pub fn error_prev(&self, msg: impl Into<String>) -> ParseError {
        let i = self.pos.saturating_sub(1);
        let (start, end) = self.toks.get(i).map_or((0, 0), |t| (t.start, t.end));
        ParseError::new(start, self.input.get(start..end).unwrap_or(""), msg)
    }

    pub fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        Ok(())
    }

    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// `name` or `name[lo]` or `name[lo..hi]`.
    pub fn field(&mut self) -> Result<FieldRef, ParseError> {
        let Tok::Id(name) = self.peek() else {
            return Err(self.error("expecting field name"));
        };
        let Some(sym) = self.symtab.lookup(name) else {
            return Err(self.error("expecting field name (unknown symbol)"));
        };
        self.advance();
        let s = self.symtab.get(sym);
        if !self.eat(&Tok::LSquare) {
            return Ok(FieldRef {
                sym,
                ofs: 0,
                n_bits: s.width,
            });
        }
        if s.width == 0 {
            return Err(
                self.error_prev(format!("cannot select subfield of string field {}", s.name))
            );
        }
        let lo = self.small_int()?;
        let hi = if self.eat(&Tok::Ellipsis) {
            self.small_int()?
        } else {
            lo
        };
        self.expect(&Tok::RSquare, "`]'")?;
        if lo > hi {
            return Err(self.error_prev(format!("invalid bit range {lo} to {hi}")));
        }
        if hi >= u64::from(s.width) {
            return Err(self.error_prev(format!(
                "cannot select bits {lo} to {hi} of {}-bit field {}",
                s.width, s.name
            )));
        }
        if s.nominal && (lo != 0 || hi + 1 != u64::from(s.width)) {
            return Err(self.error_prev(format!(
                "cannot select subfield of nominal field {}",
                s.name
            )));
        }
        Ok(FieldRef {
            sym,
            ofs: lo as u16,
            n_bits: (hi - lo + 1) as u16,
        })
    }

    /// A plain decimal or hex integer that fits in 64 bits.
    pub fn small_int(&mut self) -> Result<u64, ParseError> {
        match self.peek() {
            Tok::Int(Int {
                value,
                mask: None,
                format: IntFormat::Decimal | IntFormat::Hex,
            }) if *value <= u128::from(u64::MAX) => {
                let v = *value as u64;
                self.advance();
                Ok(v)
            }
            _ => Err(self.error("expecting small integer")),
        }
    }

    /// A single constant: integer, string, `$set` or `@group`.
    pub fn constant(&mut self) -> Result<Value, ParseError> {
        match self.peek() {
            Tok::Int(_) | Tok::Str(_) | Tok::AddrSet(_) | Tok::PortGroup(_) => {}
            Tok::Template(_) => return Err(self.error("unexpanded template")),
            _ => return Err(self.error("expecting constant")),
        }
        Ok(match self.advance() {
            Tok::Int(i) => Value::Int(i),
            Tok::Str(s) => Value::Str(s),
            Tok::AddrSet(s) => Value::AddrSet(s),
            Tok::PortGroup(s) => Value::PortGroup(s),
            _ => return Err(self.error_prev("expecting constant")),
        })
    }

    /// A constant or a `{...}` set of them (commas optional, as in OVN). Returns the values
    /// and whether braces were used. All values must be of one type.
    pub fn constant_set(&mut self) -> Result<(Vec<Value>, bool), ParseError> {
        let mut out = Vec::new();
        let curly = self.eat(&Tok::LCurly);
        if curly {
            while !self.eat(&Tok::RCurly) {
                let v = self.constant()?;
                if let Some(first) = out.first() {
                    if Value::is_string(first) != v.is_string() {
                        return Err(self.error_prev("constant set mixes strings and integers"));
                    }
                }
                out.push(v);
                self.eat(&Tok::Comma);
            }
        } else {
            out.push(self.constant()?);
        }
        Ok((out, curly))
    }

    /// Checks that `v` suits field `f` (type and width).
    pub fn check_value(&self, f: &FieldRef, v: &Value) -> Result<(), ParseError> {
        let s = self.symtab.get(f.sym);
        let string_field = matches!(s.kind, Kind::String(_));
        if string_field != v.is_string() {
            return Err(self.error_prev(if string_field {
                format!("{} requires a string value", s.name)
            } else {
                format!("{} requires an integer value", s.name)
            }));
        }
        if let Value::Int(i) = v {
            if f.n_bits < 128 && (i.value >> f.n_bits) != 0 {
                return Err(self.error_prev(format!(
                    "{}-bit constant is too wide for {}-bit field {}",
                    128 - i.value.leading_zeros(),
                    f.n_bits,
                    s.name
                )));
            }
        }
        Ok(())
    }
}
