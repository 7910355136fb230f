//! The random source: ChaCha8 seeded from a `u64`, with the few samplers the generators need.
//!
//! Every sampler is written here on top of [`RngCore::next_u64`] (rather than `rand`'s
//! distributions), so that the bytes produced for a seed depend only on the ChaCha8 stream and
//! this file, not on how a `rand` release implements ranges.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A seeded random source.
#[derive(Debug, Clone)]
pub(crate) struct Rng(ChaCha8Rng);

impl Rng {
    /// The source for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A new source seeded from this one (one per file, so that files do not depend on each
    /// other's draws).
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.u64())
    }

    pub fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n > 0`); the bias of the multiply-shift is below 2^-32.
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        ((u128::from(self.u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        lo + ((u128::from(self.u64()) * (u128::from(hi - lo) + 1)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn f64(&mut self) -> f64 {
        (self.u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// One element, uniformly.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// One string, uniformly.
    pub fn pick_str<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// One element of `(item, weight)` pairs, in proportion to the weights.
    pub fn weighted<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut r = self.range(0, total - 1);
        for (item, weight) in items {
            let weight = u64::from(*weight);
            if r < weight {
                return item;
            }
            r -= weight;
        }
        &items[items.len() - 1].0
    }

    /// Log-uniform in `[lo, hi]` (sizes and durations spanning orders of magnitude).
    pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + (hi.ln() - lo.ln()) * self.f64()).exp()
    }

    /// Index `0..n` with Zipf-like skew: weight of rank `k` is `1 / (k + 1)^s`, sampled through
    /// a precomputed cumulative table.
    pub fn zipf(&mut self, table: &Zipf) -> usize {
        let u = self.f64() * table.total;
        table
            .cumulative
            .partition_point(|&c| c <= u)
            .min(table.cumulative.len() - 1)
    }

    /// `n` lowercase hexadecimal digits.
    pub fn hex(&mut self, out: &mut Vec<u8>, n: usize) {
        let mut left = 0;
        let mut bits = 0u64;
        for _ in 0..n {
            if left == 0 {
                bits = self.u64();
                left = 16;
            }
            out.push(HEX[(bits & 0xf) as usize]);
            bits >>= 4;
            left -= 1;
        }
    }

    /// `n` characters of `alphabet`.
    pub fn chars(&mut self, out: &mut Vec<u8>, alphabet: &[u8], n: usize) {
        for _ in 0..n {
            out.push(alphabet[self.below(alphabet.len())]);
        }
    }

    /// A random (version 4) UUID in its 36-character form.
    pub fn uuid(&mut self, out: &mut Vec<u8>) {
        let hi = (self.u64() & !0xf000) | 0x4000;
        let lo = (self.u64() & !(0b11 << 62)) | (0b10 << 62);
        let bytes = (u128::from(hi) << 64) | u128::from(lo);
        for i in 0..32 {
            if matches!(i, 8 | 12 | 16 | 20) {
                out.push(b'-');
            }
            out.push(HEX[((bytes >> (124 - 4 * i)) & 0xf) as usize]);
        }
    }

    /// A UUID as a `String`.
    pub fn uuid_string(&mut self) -> String {
        let mut out = Vec::with_capacity(36);
        self.uuid(&mut out);
        String::from_utf8(out).expect("hex is ascii")
    }

    /// `n` hex digits as a `String`.
    pub fn hex_string(&mut self, n: usize) -> String {
        let mut out = Vec::with_capacity(n);
        self.hex(&mut out, n);
        String::from_utf8(out).expect("hex is ascii")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Cumulative weights of a Zipf-like distribution over `n` ranks.
#[derive(Debug, Clone)]
pub(crate) struct Zipf {
    cumulative: Vec<f64>,
    total: f64,
}

impl Zipf {
    /// Ranks `0..n`, weight `1 / (k + 1)^exponent`.
    pub fn new(n: usize, exponent: f64) -> Zipf {
        let mut total = 0.0;
        let cumulative = (0..n.max(1))
            .map(|k| {
                total += 1.0 / ((k + 1) as f64).powf(exponent);
                total
            })
            .collect();
        Zipf { cumulative, total }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samplers_stay_in_range_and_repeat() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..1000 {
            let x = a.range(3, 9);
            assert!((3..=9).contains(&x));
            assert_eq!(x, b.range(3, 9));
            assert!(a.below(5) < 5);
            b.below(5);
        }
        let mut out = Vec::new();
        a.uuid(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4");
        assert!(matches!(&text[19..20], "8" | "9" | "a" | "b"), "{text}");
    }

    #[test]
    fn zipf_prefers_low_ranks() {
        let table = Zipf::new(10, 1.1);
        let mut rng = Rng::new(1);
        let mut counts = [0u32; 10];
        for _ in 0..10_000 {
            counts[rng.zipf(&table)] += 1;
        }
        assert!(counts[0] > counts[1] && counts[1] > counts[5] && counts[9] > 0);
    }
}
