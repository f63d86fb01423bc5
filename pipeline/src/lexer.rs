//! The lexer shared by the `match` and `actions` languages (ovn-sb(5), "Logical_Flow").
//!
//! Tokens follow OVN's rules: identifiers may contain `.` (`ip4.src`); integers are decimal,
//! hexadecimal (`0x..`, up to 128 bits), IPv4, IPv6 or Ethernet addresses, each optionally
//! followed by `/mask` (same format, or a decimal CIDR prefix length for addresses); an
//! identifier that starts with hex digits followed by `:` is an address (`aef0::1`);
//! `1.2.3.4:80` lexes as address, colon, port. `$name` is an address set, `@name` a port
//! group, `^name` an (unexpanded) template. Strings are JSON-escaped in double quotes.
//! Comments `//` and `/* */` are skipped. The whole input is tokenised up front.

use crate::error::ParseError;
use std::net::{Ipv4Addr, Ipv6Addr};

/// How an integer constant was written (kept so the compiler and error messages can tell
/// `10.0.0.1` from `167772161`, and so `0`/`1` decimal literals act as booleans).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntFormat {
    Decimal,
    Hex,
    Ipv4,
    Ipv6,
    Ethernet,
}

/// A lexed integer: up to 128 bits, with an optional mask (bits set = significant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Int {
    pub value: u128,
    /// `Some` for `x/y` and CIDR forms; `value` has already been ANDed with it.
    pub mask: Option<u128>,
    pub format: IntFormat,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    Id(String),
    Str(String),
    Int(Int),
    /// `$name`
    AddrSet(String),
    /// `@name`
    PortGroup(String),
    /// `^name`
    Template(String),
    LParen,
    RParen,
    LCurly,
    RCurly,
    LSquare,
    RSquare,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `!`
    Not,
    /// `&&`
    And,
    /// `||`
    Or,
    /// `..`
    Ellipsis,
    Comma,
    Semicolon,
    /// `=`
    Equals,
    /// `<->`
    Exchange,
    /// `--`
    Decrement,
    /// `-`
    Hyphen,
    Colon,
    End,
}

/// A token and the byte range it came from.
#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

/// Splits `input` into tokens, ending with [`Tok::End`].
pub fn tokenize(input: &str) -> Result<Vec<Token>, ParseError> {
    let b = input.as_bytes();
    let mut out = Vec::new();
    let mut p = 0;
    loop {
        // Skip white space and comments.
        loop {
            match b.get(p) {
                Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) => p += 1,
                Some(b'/') if b.get(p + 1) == Some(&b'/') => {
                    while p < b.len() && b[p] != b'\n' {
                        p += 1;
                    }
                }
                Some(b'/') if b.get(p + 1) == Some(&b'*') => {
                    let start = p;
                    p += 2;
                    loop {
                        match b.get(p) {
                            Some(b'*') if b.get(p + 1) == Some(&b'/') => {
                                p += 2;
                                break;
                            }
                            None | Some(b'\n') => {
                                return Err(err(input, start, p, "`/*' without matching `*/'"))
                            }
                            _ => p += 1,
                        }
                    }
                }
                _ => break,
            }
        }
        let start = p;
        let Some(&c) = b.get(p) else {
            out.push(Token {
                tok: Tok::End,
                start: p,
                end: p,
            });
            return Ok(out);
        };
        let next = b.get(p + 1).copied();
        let (tok, len) = match c {
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b'{' => (Tok::LCurly, 1),
            b'}' => (Tok::RCurly, 1),
            b'[' => (Tok::LSquare, 1),
            b']' => (Tok::RSquare, 1),
            b',' => (Tok::Comma, 1),
            b';' => (Tok::Semicolon, 1),
            b'=' if next == Some(b'=') => (Tok::Eq, 2),
            b'=' => (Tok::Equals, 1),
            b'!' if next == Some(b'=') => (Tok::Ne, 2),
            b'!' => (Tok::Not, 1),
            b'&' if next == Some(b'&') => (Tok::And, 2),
            b'|' if next == Some(b'|') => (Tok::Or, 2),
            b'<' if next == Some(b'=') => (Tok::Le, 2),
            b'<' if next == Some(b'-') && b.get(p + 2) == Some(&b'>') => (Tok::Exchange, 3),
            b'<' => (Tok::Lt, 1),
            b'>' if next == Some(b'=') => (Tok::Ge, 2),
            b'>' => (Tok::Gt, 1),
            b'.' if next == Some(b'.') => (Tok::Ellipsis, 2),
            b'-' if next == Some(b'-') => (Tok::Decrement, 2),
            b'-' => (Tok::Hyphen, 1),
            b':' if next != Some(b':') => (Tok::Colon, 1),
            b'$' | b'@' | b'^' => {
                if !next.is_some_and(is_id1) {
                    return Err(err(input, p, p + 1, "expecting an identifier after sigil"));
                }
                let n = 1 + id_len(&b[p + 1..]);
                let name = input[p + 1..p + n].to_string();
                let tok = match c {
                    b'$' => Tok::AddrSet(name),
                    b'@' => Tok::PortGroup(name),
                    _ => Tok::Template(name),
                };
                (tok, n)
            }
            b'"' => {
                let (s, n) = lex_string(input, p)?;
                (Tok::Str(s), n)
            }
            b':' | b'0'..=b'9' => {
                let (i, n) = lex_int_masked(input, p)?;
                (Tok::Int(i), n)
            }
            b'a'..=b'f' | b'A'..=b'F'
                if b[p..]
                    .iter()
                    .position(|c| !c.is_ascii_hexdigit())
                    .map(|i| b[p + i])
                    == Some(b':') =>
            {
                let (i, n) = lex_int_masked(input, p)?;
                (Tok::Int(i), n)
            }
            c if is_id1(c) && c != b'.' => {
                let n = id_len(&b[p..]);
                (Tok::Id(input[p..p + n].to_string()), n)
            }
            _ => {
                let end = input[p..]
                    .chars()
                    .next()
                    .map_or(p + 1, |ch| p + ch.len_utf8());
                return Err(err(input, p, end, "invalid character in input"));
            }
        };
        p += len;
        out.push(Token { tok, start, end: p });
    }
}

fn is_id1(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'.'
}

fn id_len(b: &[u8]) -> usize {
    b.iter()
        .position(|&c| !(is_id1(c) || c.is_ascii_digit()))
        .unwrap_or(b.len())
}

fn err(input: &str, start: usize, end: usize, msg: &str) -> ParseError {
    let end = end.min(input.len());
    let tok = input.get(start..end).unwrap_or("");
    ParseError::new(start, tok, msg)
}

fn lex_string(input: &str, start: usize) -> Result<(String, usize), ParseError> {
    let b = input.as_bytes();
    let mut out = String::new();
    let mut p = start + 1;
    loop {
        let Some(&c) = b.get(p) else {
            return Err(err(input, start, p, "input ends inside quoted string"));
        };
        match c {
            b'"' => return Ok((out, p + 1 - start)),
            b'\\' => {
                let e = b.get(p + 1).copied();
                let ch = match e {
                    Some(b'"') => '"',
                    Some(b'\\') => '\\',
                    Some(b'/') => '/',
                    Some(b'b') => '\u{8}',
                    Some(b'f') => '\u{c}',
                    Some(b'n') => '\n',
                    Some(b'r') => '\r',
                    Some(b't') => '\t',
                    Some(b'u') => {
                        let hex = input.get(p + 2..p + 6).unwrap_or("");
                        let v = u32::from_str_radix(hex, 16)
                            .ok()
                            .filter(|_| {
                                hex.len() == 4 && hex.bytes().all(|c| c.is_ascii_hexdigit())
                            })
                            .and_then(char::from_u32)
                            .ok_or_else(|| err(input, p, p + 2, "bad \\u escape in string"))?;
                        out.push(v);
                        p += 6;
                        continue;
                    }
                    _ => return Err(err(input, p, p + 2, "bad escape in string")),
                };
                out.push(ch);
                p += 2;
            }
            _ => {
                // Copy one UTF-8 character.
                let ch = input[p..].chars().next().unwrap_or('\u{fffd}');
                out.push(ch);
                p += ch.len_utf8().max(1);
            }
        }
    }
}

/// The extent of an "integer" token: alphanumerics, `:` until a `.` was seen, and `.`
/// unless doubled (so `1..5` and `1.2.3.4:80` split as OVN splits them).
fn int_extent(b: &[u8], start: usize) -> usize {
    let mut end = start;
    let mut saw_dot = false;
    while let Some(&c) = b.get(end) {
        let ok = c.is_ascii_alphanumeric()
            || (c == b':' && !saw_dot)
            || (c == b'.' && b.get(end + 1) != Some(&b'.'));
        if !ok {
            break;
        }
        if c == b'.' {
            saw_dot = true;
        }
        end += 1;
    }
    end
}

fn lex_int(input: &str, start: usize) -> Result<(Int, usize), ParseError> {
    let b = input.as_bytes();
    let end = int_extent(b, start);
    let s = &input[start..end];
    let e = |m: &str| err(input, start, end, m);
    let int = |value, format| Int {
        value,
        mask: None,
        format,
    };
    if s.is_empty() {
        return Err(e("integer constant expected"));
    }
    if s.len() == 17 {
        if let Some(mac) = parse_mac(s) {
            return Ok((int(mac as u128, IntFormat::Ethernet), end));
        }
    }
    if s.bytes().all(|c| c.is_ascii_digit()) {
        if s.len() > 1 && s.starts_with('0') {
            return Err(e("decimal constants must not have leading zeros"));
        }
        let v: u64 = s
            .parse()
            .map_err(|_| e("decimal constants must be less than 2**64"))?;
        return Ok((int(v as u128, IntFormat::Decimal), end));
    }
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.is_empty() || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(e("invalid syntax in hexadecimal constant"));
        }
        let digits = hex.trim_start_matches('0');
        if digits.len() > 32 {
            return Err(e("hexadecimal constant requires more than 128 bits"));
        }
        let v = if digits.is_empty() {
            0
        } else {
            u128::from_str_radix(digits, 16).map_err(|_| e("bad hex"))?
        };
        return Ok((int(v, IntFormat::Hex), end));
    }
    if let Ok(a) = s.parse::<Ipv4Addr>() {
        return Ok((int(u32::from(a) as u128, IntFormat::Ipv4), end));
    }
    if s.len() < 46 {
        if let Ok(a) = s.parse::<Ipv6Addr>() {
            return Ok((int(u128::from(a), IntFormat::Ipv6), end));
        }
    }
    Err(e("invalid numeric constant"))
}

fn parse_mac(s: &str) -> Option<u64> {
    let mut v = 0u64;
    for (i, part) in s.split(':').enumerate() {
        if i >= 6 || part.len() != 2 {
            return None;
        }
        v = (v << 8) | u64::from(u8::from_str_radix(part, 16).ok()?);
    }
    (s.split(':').count() == 6).then_some(v)
}

fn lex_int_masked(input: &str, start: usize) -> Result<(Int, usize), ParseError> {
    let (mut i, end) = lex_int(input, start)?;
    if input.as_bytes().get(end) != Some(&b'/') {
        return Ok((i, end - start));
    }
    let (m, mend) = lex_int(input, end + 1)?;
    let e = |msg: &str| err(input, start, mend, msg);
    let mask = if i.format == m.format {
        m.value
    } else if i.format == IntFormat::Ipv4 && m.format == IntFormat::Decimal && m.value <= 32 {
        prefix_mask(m.value as u32, 32)
    } else if i.format == IntFormat::Ipv6 && m.format == IntFormat::Decimal && m.value <= 128 {
        prefix_mask(m.value as u32, 128)
    } else if i.format == IntFormat::Decimal && m.format == IntFormat::Hex && i.value == 0 {
        i.format = IntFormat::Hex;
        m.value
    } else {
        return Err(e("value and mask have incompatible formats"));
    };
    i.value &= mask;
    i.mask = Some(mask);
    Ok((i, mend - start))
}

/// Expands load-balancer templates as ovn-controller does before parsing: every `^name`
/// token becomes `vars[name]` (the chassis' Chassis_Template_Var value), or the bare
/// `name` if the chassis has no such variable (which then fails to parse, as in OVN).
/// Text without `^` is returned unchanged without tokenising.
pub fn expand_templates<'a>(
    input: &'a str,
    vars: &std::collections::HashMap<String, String>,
) -> Result<std::borrow::Cow<'a, str>, ParseError> {
    if !input.contains('^') {
        return Ok(std::borrow::Cow::Borrowed(input));
    }
    let mut out = String::with_capacity(input.len());
    let mut last = 0;
    for t in tokenize(input)? {
        if let Tok::Template(name) = &t.tok {
            out.push_str(&input[last..t.start]);
            out.push_str(vars.get(name).map_or(name.as_str(), |v| v.as_str()));
            last = t.end;
        }
    }
    out.push_str(&input[last..]);
    Ok(std::borrow::Cow::Owned(out))
}

/// A mask of `len` leading one bits in a `width`-bit field.
pub fn prefix_mask(len: u32, width: u32) -> u128 {
    if len == 0 {
        return 0;
    }
    let ones = if len >= 128 {
        u128::MAX
    } else {
        (1u128 << len) - 1
    };
    ones << (width - len.min(width))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn addresses_and_ids() {
        let t = toks("ip6.dst == aef0::1 && eth.src == 0a:00:00:00:00:01");
        assert_eq!(t[0], Tok::Id("ip6.dst".into()));
        assert_eq!(
            t[2],
            Tok::Int(Int {
                value: 0xaef0_0000_0000_0000_0000_0000_0000_0001,
                mask: None,
                format: IntFormat::Ipv6
            })
        );
        assert_eq!(
            t[6],
            Tok::Int(Int {
                value: 0x0a00_0000_0001,
                mask: None,
                format: IntFormat::Ethernet
            })
        );
    }

    #[test]
    fn ipv4_port_and_ranges() {
        let t = toks("10.0.0.1:80 reg0[1..3] 10.0.0.0/8");
        assert_eq!(
            t[0],
            Tok::Int(Int {
                value: 0x0a00_0001,
                mask: None,
                format: IntFormat::Ipv4
            })
        );
        assert_eq!(t[1], Tok::Colon);
        assert_eq!(
            t[2],
            Tok::Int(Int {
                value: 80,
                mask: None,
                format: IntFormat::Decimal
            })
        );
        assert_eq!(t[6], Tok::Ellipsis);
        assert_eq!(
            t[9],
            Tok::Int(Int {
                value: 0x0a00_0000,
                mask: Some(0xff00_0000),
                format: IntFormat::Ipv4
            })
        );
    }

    #[test]
    fn templates_expand_textually() {
        let mut vars = std::collections::HashMap::new();
        vars.insert("vip".to_string(), "10.0.0.100".to_string());
        let e = expand_templates("ip4.dst == ^vip && tcp.dst == ^vport", &vars).unwrap();
        assert_eq!(e, "ip4.dst == 10.0.0.100 && tcp.dst == vport");
        assert!(matches!(
            expand_templates("ip4", &vars).unwrap(),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn strings_and_errors() {
        assert_eq!(toks(r#""a\"b""#)[0], Tok::Str("a\"b".into()));
        let e = tokenize("ip4 & tcp").unwrap_err();
        assert_eq!(e.offset, 4);
        assert!(tokenize("\"abc").is_err());
        assert!(tokenize("012").is_err());
        assert!(tokenize("0x").is_err());
    }
}
