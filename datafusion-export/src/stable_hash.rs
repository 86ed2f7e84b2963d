//! The one stable hash of the crate: FNV-1a 64.
//!
//! It is part of the on-storage contract (`hash(col, N)` partitions put the same value
//! in the same bucket in every process and version) and of KQL's `hash()`, which gives
//! the same buckets, so it is spelled out here rather than borrowed from a hasher whose
//! output may change between versions.

/// FNV-1a 64 of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    /// The published FNV-1a 64 test vectors: a changed hash would move stored data.
    #[test]
    fn known_values() {
        assert_eq!(super::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(super::fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
