//! HyperLogLog with 2^10 = 1,024 registers, the distinct counts of the analytics (visitors).
//! A sketch is stored as its nonzero registers, one row each; sketches of any hours, pages
//! or releases merge by keeping each register's greatest rank, which SQL does with
//! `GREATEST` and `max`. Standard error 1.04/√1024 = 3.25 %; below about 2,500 distinct
//! values the estimate is linear counting, whose standard error is smaller (1 % at 100,
//! 2.5 % at 1,000) (docs/analytics.md#error-bounds).
//!
//! The hash is FNV-1a then a 64-bit finaliser, written out here: a sketch written by one
//! version must merge with the next one's, so the hash may never change with a library.

/// Register index bits.
const P: u32 = 10;
/// Registers.
pub const M: usize = 1 << P;

/// The register and rank `text` sets.
pub fn register(text: &str) -> (i16, i16) {
    let hash = hash64(text.as_bytes());
    let index = (hash >> (64 - P)) as i16;
    // Rank: the position of the first 1 in the remaining 54 bits, 55 if none.
    let rest = hash << P;
    let rank = (rest.leading_zeros().min(64 - P) + 1) as i16;
    (index, rank)
}

/// FNV-1a, then murmur3's finaliser (FNV's high bits alone are poorly mixed).
fn hash64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The estimated distinct count of a sketch given as its nonzero `(register, rank)`s.
pub fn estimate(registers: impl IntoIterator<Item = (i16, i16)>) -> f64 {
    let mut ranks = [0i16; M];
    for (index, rank) in registers {
        if let Some(slot) = usize::try_from(index).ok().and_then(|i| ranks.get_mut(i)) {
            *slot = (*slot).max(rank);
        }
    }
    let m = M as f64;
    let zeros = ranks.iter().filter(|&&r| r == 0).count();
    let sum: f64 = ranks.iter().map(|&r| 2f64.powi(-i32::from(r))).sum();
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let raw = alpha * m * m / sum;
    if raw <= 2.5 * m && zeros > 0 {
        m * (m / zeros as f64).ln()
    } else {
        raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(n: usize) -> f64 {
        estimate((0..n).map(|i| register(&format!("visitor-{i}"))))
    }

    #[test]
    fn estimates_are_within_the_stated_error() {
        assert_eq!(count(0), 0.0);
        assert!((count(1) - 1.0).abs() < 0.01);
        // Two standard errors: 6.5 %.
        for n in [10, 100, 1_000, 2_000, 10_000, 100_000] {
            let e = count(n);
            assert!((e / n as f64 - 1.0).abs() < 0.065, "{n}: {e}");
        }
    }

    const HASH_OF_FRONTMON: u64 = 17_897_130_069_997_143_368;

    #[test]
    fn merging_is_the_greatest_rank_and_repeats_do_not_count() {
        let a: Vec<_> = (0..500).map(|i| register(&format!("v{i}"))).collect();
        let b: Vec<_> = (250..750).map(|i| register(&format!("v{i}"))).collect();
        let merged = estimate(a.iter().chain(&b).copied());
        assert!((merged / 750.0 - 1.0).abs() < 0.065, "{merged}");
        let twice = estimate(a.iter().chain(&a).copied());
        assert_eq!(twice, estimate(a.iter().copied()));
        // The hash is fixed: this value is part of the stored format.
        assert_eq!(hash64(b"frontmon"), HASH_OF_FRONTMON);
    }
}
