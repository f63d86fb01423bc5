//! Load balancing: choosing a backend by a hash of the fields OVN names in a load
//! balancer's `hash_fields`, and the session-affinity table behind OVN's
//! `chk_lb_aff` / `commit_lb_aff` actions.
//!
//! Selection is deterministic: the same input and backend list always give the same
//! backend, on every thread and every run. It uses jump consistent hashing, so adding a
//! backend at the end moves only about 1/n of the flows.

use crate::tuple::{mix, Addr};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Which fields feed the backend hash (`hash_fields` in OVN's Load_Balancer table).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HashFields(pub u8);

impl HashFields {
    pub const ETH_SRC: u8 = 0x01;
    pub const ETH_DST: u8 = 0x02;
    pub const IP_SRC: u8 = 0x04;
    pub const IP_DST: u8 = 0x08;
    pub const TP_SRC: u8 = 0x10;
    pub const TP_DST: u8 = 0x20;
    pub const IP_PROTO: u8 = 0x40;
    /// The default: the 5-tuple.
    pub const FIVE_TUPLE: HashFields =
        HashFields(Self::IP_SRC | Self::IP_DST | Self::TP_SRC | Self::TP_DST | Self::IP_PROTO);

    /// Parse OVN's comma-separated `hash_fields` value; unknown names are an error.
    pub fn parse(s: &str) -> Result<HashFields, String> {
        let mut v = 0;
        for f in s.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            v |= match f {
                "eth_src" => Self::ETH_SRC,
                "eth_dst" => Self::ETH_DST,
                "ip_src" => Self::IP_SRC,
                "ip_dst" => Self::IP_DST,
                "tp_src" => Self::TP_SRC,
                "tp_dst" => Self::TP_DST,
                "ip_proto" => Self::IP_PROTO,
                other => return Err(format!("unknown load balancer hash field {other:?}")),
            };
        }
        Ok(if v == 0 {
            Self::FIVE_TUPLE
        } else {
            HashFields(v)
        })
    }
}

impl Default for HashFields {
    fn default() -> Self {
        Self::FIVE_TUPLE
    }
}

/// The packet fields a backend choice may depend on.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct LbHashInput {
    pub eth_src: [u8; 6],
    pub eth_dst: [u8; 6],
    pub ip_src: Addr,
    pub ip_dst: Addr,
    pub tp_src: u16,
    pub tp_dst: u16,
    pub ip_proto: u8,
}

fn mac(m: [u8; 6]) -> u64 {
    let mut b = [0u8; 8];
    b[..6].copy_from_slice(&m);
    u64::from_le_bytes(b)
}

/// Hash of the selected fields; fields not selected do not affect it.
pub fn lb_hash(i: &LbHashInput, fields: HashFields) -> u64 {
    let f = fields.0;
    let pick = |bit: u8, v: u64| if f & bit != 0 { v } else { 0 };
    let (s0, s1) = i.ip_src.words();
    let (d0, d1) = i.ip_dst.words();
    let mut h = mix(
        0x6c62_272e_07bb_0142 ^ pick(HashFields::ETH_SRC, mac(i.eth_src)),
        0x9e37_79b9_7f4a_7c15,
    );
    h = mix(
        h ^ pick(HashFields::ETH_DST, mac(i.eth_dst)),
        0xa076_1d64_78bd_642f,
    );
    h = mix(
        h ^ pick(HashFields::IP_SRC, s0),
        pick(HashFields::IP_SRC, s1) ^ 0xe703_7ed1_a0b4_28db,
    );
    h = mix(
        h ^ pick(HashFields::IP_DST, d0),
        pick(HashFields::IP_DST, d1) ^ 0x8ebc_6af0_9c88_c6e3,
    );
    let ports = pick(HashFields::TP_SRC, u64::from(i.tp_src)) << 16
        | pick(HashFields::TP_DST, u64::from(i.tp_dst))
        | pick(HashFields::IP_PROTO, u64::from(i.ip_proto)) << 32;
    mix(h ^ ports, 0x5899_65cc_7537_4cc3)
}

/// Jump consistent hash: a bucket in `0..n` for `key`.
fn jump(mut key: u64, n: usize) -> usize {
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < n as i64 {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b.max(0) as usize
}

/// Choose a backend for a flow. `None` only when `backends` is empty.
pub fn select_backend<'a, T>(
    input: &LbHashInput,
    fields: HashFields,
    backends: &'a [T],
) -> Option<(usize, &'a T)> {
    if backends.is_empty() {
        return None;
    }
    let i = jump(lb_hash(input, fields), backends.len()).min(backends.len() - 1);
    Some((i, &backends[i]))
}

/// Key of a session-affinity entry: client, VIP, protocol and VIP port.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct AffinityKey {
    pub client: Addr,
    pub vip: Addr,
    pub proto: u8,
    pub vip_port: u16,
}

/// A backend address and port.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Backend {
    pub addr: Addr,
    pub port: u16,
}

const AFF_SHARDS: usize = 32;

/// Session affinity: remembers which backend a client was sent to, for a timeout.
pub struct LbAffinity {
    shards: Vec<Mutex<HashMap<AffinityKey, (Backend, u64)>>>,
    next: AtomicUsize,
}

impl Default for LbAffinity {
    fn default() -> Self {
        LbAffinity {
            shards: (0..AFF_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }
}

fn aff_shard(k: &AffinityKey) -> usize {
    let (a, b) = k.client.words();
    (mix(a ^ u64::from(k.vip_port), b ^ u64::from(k.proto)) as usize) % AFF_SHARDS
}

impl LbAffinity {
    /// `chk_lb_aff`: the backend this client is bound to, if the binding is live.
    pub fn check(&self, k: &AffinityKey, now: u64) -> Option<Backend> {
        let m = self.shards[aff_shard(k)].lock();
        m.get(k).filter(|(_, exp)| now < *exp).map(|(b, _)| *b)
    }

    /// `commit_lb_aff`: bind the client to `b` for `timeout_secs` from `now`.
    pub fn commit(&self, k: AffinityKey, b: Backend, timeout_secs: u32, now: u64) {
        let exp = now.saturating_add(u64::from(timeout_secs) * crate::config::NS_PER_SEC);
        self.shards[aff_shard(&k)].lock().insert(k, (b, exp));
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop expired bindings, visiting whole shards until about `budget` entries have
    /// been looked at. Returns how many were removed.
    pub fn expire(&self, now: u64, budget: usize) -> usize {
        let (mut seen, mut removed) = (0, 0);
        for _ in 0..AFF_SHARDS {
            if seen >= budget {
                break;
            }
            let i = self.next.fetch_add(1, Relaxed) % AFF_SHARDS;
            let mut m = self.shards[i].lock();
            seen += m.len();
            let before = m.len();
            m.retain(|_, (_, exp)| now < *exp);
            removed += before - m.len();
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(sport: u16) -> LbHashInput {
        LbHashInput {
            ip_src: Addr::v4("10.0.0.1".parse().unwrap()),
            ip_dst: Addr::v4("172.16.0.1".parse().unwrap()),
            tp_src: sport,
            tp_dst: 80,
            ip_proto: 6,
            ..Default::default()
        }
    }

    #[test]
    fn deterministic_and_spread() {
        let backends = ["a", "b", "c", "d"];
        let mut hits = [0u32; 4];
        for sport in 0..4000 {
            let (i, _) = select_backend(&input(sport), HashFields::default(), &backends).unwrap();
            let (j, _) = select_backend(&input(sport), HashFields::default(), &backends).unwrap();
            assert_eq!(i, j);
            hits[i] += 1;
        }
        assert!(hits.iter().all(|&h| h > 700), "{hits:?}");
        assert!(select_backend::<u8>(&input(1), HashFields::default(), &[]).is_none());
    }

    #[test]
    fn fields_not_selected_do_not_matter() {
        let f = HashFields::parse("ip_src,ip_dst").unwrap();
        assert_eq!(lb_hash(&input(1), f), lb_hash(&input(2), f));
        assert_ne!(
            lb_hash(&input(1), HashFields::default()),
            lb_hash(&input(2), HashFields::default())
        );
        assert!(HashFields::parse("ip_srcc").is_err());
    }

    #[test]
    fn affinity_times_out() {
        let aff = LbAffinity::default();
        let k = AffinityKey {
            client: Addr::v4("10.0.0.1".parse().unwrap()),
            vip: Addr::v4("1.1.1.1".parse().unwrap()),
            proto: 6,
            vip_port: 80,
        };
        let b = Backend {
            addr: Addr::v4("10.1.0.5".parse().unwrap()),
            port: 8080,
        };
        assert_eq!(aff.check(&k, 0), None);
        aff.commit(k, b, 10, 0);
        assert_eq!(aff.check(&k, 9 * crate::config::NS_PER_SEC), Some(b));
        assert_eq!(aff.check(&k, 10 * crate::config::NS_PER_SEC), None);
        assert_eq!(aff.expire(11 * crate::config::NS_PER_SEC, 100), 1);
        assert!(aff.is_empty());
    }
}
