//! Sink-side bookkeeping, free of I/O and clocks (time is passed in): per-flow sequence
//! tracking (loss, reordering, duplicates) and a log-linear latency histogram.
//!
//! Sequence tracking: each flow remembers the next expected sequence number and a 64-bit
//! window of which of the 64 numbers below it arrived. A number above the expected one
//! counts the gap as lost; one below it inside the window is either a duplicate (bit set)
//! or a reordered late arrival (bit clear: it was counted lost, so loss goes down by one).
//! Older than the window it is counted reordered (a duplicate that old is not told apart).
//! Wire sequence numbers are 32 bits; they are widened against the expected one.

/// Distinct flow ids (the stamp's flow field is 16 bits).
pub const MAX_FLOWS: usize = 65536;

#[derive(Debug, Clone, Copy, Default)]
struct FlowState {
    next: u64,
    /// Bit i: sequence `next - 1 - i` arrived.
    window: u64,
}

/// How one packet was classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqEvent {
    /// The expected number (or later: the gap was counted lost).
    InOrder,
    /// Arrived after a later number.
    Reordered,
    /// Seen before.
    Duplicate,
}

/// Loss/reorder/duplicate counters over all flows.
#[derive(Debug, Clone)]
pub struct SeqTracker {
    flows: Vec<FlowState>,
    /// Packets accounted.
    pub received: u64,
    /// Sequence numbers skipped and not (yet) seen.
    pub lost: u64,
    pub reordered: u64,
    pub duplicates: u64,
}

impl Default for SeqTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl SeqTracker {
    /// Room for every 16-bit flow id (allocated once, ~1 MiB).
    pub fn new() -> Self {
        Self {
            flows: vec![FlowState::default(); MAX_FLOWS],
            received: 0,
            lost: 0,
            reordered: 0,
            duplicates: 0,
        }
    }

    /// Accounts one packet of `flow` with 32-bit wire sequence `seq32`.
    #[inline]
    pub fn record(&mut self, flow: u16, seq32: u32) -> SeqEvent {
        self.received += 1;
        let Some(f) = self.flows.get_mut(flow as usize) else {
            return SeqEvent::InOrder; // unreachable: 65536 slots for a u16
        };
        let seq = widen(f.next, seq32);
        if seq >= f.next {
            let gap = seq - f.next;
            self.lost += gap;
            let shift = gap + 1;
            f.window = if shift >= 64 { 0 } else { f.window << shift } | 1;
            f.next = seq + 1;
            return SeqEvent::InOrder;
        }
        let back = f.next - 1 - seq;
        if back < 64 {
            let bit = 1u64 << back;
            if f.window & bit != 0 {
                self.duplicates += 1;
                return SeqEvent::Duplicate;
            }
            f.window |= bit;
        }
        self.lost = self.lost.saturating_sub(1);
        self.reordered += 1;
        SeqEvent::Reordered
    }

    /// Distinct packets seen (received minus duplicates).
    pub fn unique(&self) -> u64 {
        self.received - self.duplicates
    }
}

/// The 64-bit sequence closest to `expected` whose low 32 bits are `seq32`.
fn widen(expected: u64, seq32: u32) -> u64 {
    let base = expected & !0xffff_ffff;
    let cand = base | seq32 as u64;
    let half = 1u64 << 31;
    if cand > expected + half && cand >= 1 << 32 {
        cand - (1 << 32)
    } else if cand + half < expected {
        cand + (1 << 32)
    } else {
        cand
    }
}

const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
const LINEAR: u64 = 2 * SUB; // values below are exact
const BUCKETS: usize = (LINEAR + (64 - SUB_BITS as u64 - 1) * SUB) as usize;

/// Latency histogram: exact below 64, then 32 sub-buckets per power of two (about 3%
/// resolution). Fixed size, no allocation after `new`.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    pub count: u64,
    pub min: u64,
    pub max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            count: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }

    fn bucket(v: u64) -> usize {
        if v < LINEAR {
            return v as usize;
        }
        let msb = 63 - v.leading_zeros();
        let top = v >> (msb - SUB_BITS); // in SUB..2*SUB
        (LINEAR + (msb - SUB_BITS - 1) as u64 * SUB + (top - SUB)) as usize
    }

    /// Smallest value of bucket `b`.
    fn low(b: usize) -> u64 {
        let b = b as u64;
        if b < LINEAR {
            return b;
        }
        let k = (b - LINEAR) / SUB; // msb - SUB_BITS - 1
        let top = SUB + (b - LINEAR) % SUB;
        top << (k + 1)
    }

    #[inline]
    pub fn record(&mut self, v: u64) {
        if let Some(c) = self.counts.get_mut(Self::bucket(v)) {
            *c += 1;
        }
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v as u128;
    }

    /// The `p`-quantile (0..=1): lower bound of the bucket holding it, clamped to
    /// [min, max]; 0 if empty.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((p * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::low(b).clamp(self.min, self.max);
            }
        }
        self.max
    }

    pub fn mean(&self) -> u64 {
        if self.count == 0 {
            0
        } else {
            (self.sum / self.count as u128) as u64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widen_handles_wrap() {
        assert_eq!(widen(0, 5), 5);
        assert_eq!(widen(0xffff_fff0, 3), 0x1_0000_0003);
        assert_eq!(widen(0x1_0000_0003, 0xffff_fff0), 0xffff_fff0);
    }

    #[test]
    fn histogram_buckets_are_monotonic_and_invert() {
        let mut last = 0;
        for v in [0u64, 1, 63, 64, 65, 100, 1000, 123_456, 1 << 40, u64::MAX] {
            let b = Histogram::bucket(v);
            assert!(b < BUCKETS, "{v}");
            assert!(b >= last, "{v}");
            last = b;
            let lo = Histogram::low(b);
            assert!(lo <= v && v - lo <= v / 16, "{v} low {lo}");
        }
    }
}
