//! Flows: identity ([`key`], [`flow_id`]), the flow table ([`table`]),
//! Community ID ([`community_id`]) and the first-flight buffers that join a
//! handshake's segments ([`first_flight`]).

pub mod community_id;
pub mod first_flight;
pub mod key;
pub mod table;

use crate::time::Timestamp;

/// Suricata-style 51-bit flow id from the flow key's hash and its start time,
/// so that it is stable across runs and worker counts.
pub fn flow_id(key_hash: u64, start: Timestamp) -> u64 {
    let mixed = key_hash ^ start.0.rotate_left(17).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let id = mixed & ((1u64 << 51) - 1);
    id.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_id_fits_51_bits_and_is_stable() {
        let a = flow_id(0xdead_beef_dead_beef, Timestamp(123_456_789));
        assert!(a < 1 << 51 && a > 0);
        assert_eq!(a, flow_id(0xdead_beef_dead_beef, Timestamp(123_456_789)));
        assert_ne!(a, flow_id(0xdead_beef_dead_beef, Timestamp(123_456_790)));
    }
}
