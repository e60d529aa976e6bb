//! Initial secrets (RFC 9001 §5.2, RFC 9369 §3.3), header protection
//! (RFC 9001 §5.4, AES-128) and AEAD decryption (RFC 9001 §5.3,
//! AES-128-GCM), on the RustCrypto crates `hkdf`, `sha2`, `aes`, `aes-gcm`.

use aes::cipher::BlockEncrypt;
use aes::Aes128;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::{AeadInPlace, Aes128Gcm, KeyInit};
use hkdf::Hkdf;
use sha2::Sha256;

use super::header::{parse_long_header, Family, PacketType, QuicVersion};
use super::{invalid, unsupported, DECRYPTION_FAILED};
use crate::ParseError;

const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];
const SALT_DRAFT29: [u8; 20] = [
    0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0,
    0x43, 0x90, 0xa8, 0x99,
];
const SALT_DRAFT23: [u8; 20] = [
    0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65,
    0xbe, 0xf9, 0xf5, 0x02,
];

/// AES-128-GCM tag length.
const TAG_LEN: usize = 16;
/// Header-protection sample length (RFC 9001 §5.4.2).
const SAMPLE_LEN: usize = 16;

struct Labels {
    key: &'static [u8],
    iv: &'static [u8],
    hp: &'static [u8],
}

const LABELS_V1: Labels = Labels {
    key: b"quic key",
    iv: b"quic iv",
    hp: b"quic hp",
};
const LABELS_V2: Labels = Labels {
    key: b"quicv2 key",
    iv: b"quicv2 iv",
    hp: b"quicv2 hp",
};

fn params(family: Family) -> (&'static [u8; 20], &'static Labels) {
    match family {
        Family::V1 => (&SALT_V1, &LABELS_V1),
        Family::V2 => (&SALT_V2, &LABELS_V2),
        Family::Draft29 => (&SALT_DRAFT29, &LABELS_V1),
        Family::Draft23 => (&SALT_DRAFT23, &LABELS_V1),
    }
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context, as QUIC uses it.
fn expand_label(hk: &Hkdf<Sha256>, label: &[u8], out: &mut [u8]) -> Result<(), ParseError> {
    let len = u16::try_from(out.len()).map_err(|_| invalid("hkdf_length"))?;
    let label_len = u8::try_from(label.len() + 6).map_err(|_| invalid("hkdf_label"))?;
    hk.expand_multi_info(
        &[&len.to_be_bytes(), &[label_len], b"tls13 ", label, &[0]],
        out,
    )
    .map_err(|_| invalid("hkdf_length"))
}

/// `initial_secret` and then the client or server `*_initial_secret`.
fn initial_secret(salt: &[u8], dcid: &[u8], side: &[u8]) -> Result<[u8; 32], ParseError> {
    let (_, hk) = Hkdf::<Sha256>::extract(Some(salt), dcid);
    let mut secret = [0u8; 32];
    expand_label(&hk, side, &mut secret)?;
    Ok(secret)
}

/// Packet-protection keys for the Initial packets of one direction of one
/// connection: AES-128-GCM key and IV, and the AES-128 header-protection key,
/// with their key schedules expanded once.
#[derive(Clone)]
pub struct InitialKeys {
    version: QuicVersion,
    key: [u8; 16],
    iv: [u8; 12],
    hp: [u8; 16],
    aead: Aes128Gcm,
    hp_cipher: Aes128,
}

impl core::fmt::Debug for InitialKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The keys derive from public values; still, keep logs short.
        f.debug_struct("InitialKeys")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl InitialKeys {
    fn derive(version: QuicVersion, dcid: &[u8], side: &[u8]) -> Result<Self, ParseError> {
        let family = version.family().ok_or(unsupported("quic_version"))?;
        let (salt, labels) = params(family);
        let secret = initial_secret(salt, dcid, side)?;
        let hk = Hkdf::<Sha256>::from_prk(&secret).map_err(|_| invalid("hkdf_prk"))?;
        let mut key = [0u8; 16];
        let mut iv = [0u8; 12];
        let mut hp = [0u8; 16];
        expand_label(&hk, labels.key, &mut key)?;
        expand_label(&hk, labels.iv, &mut iv)?;
        expand_label(&hk, labels.hp, &mut hp)?;
        Ok(InitialKeys {
            version,
            key,
            iv,
            hp,
            aead: Aes128Gcm::new(&GenericArray::from(key)),
            hp_cipher: Aes128::new(&GenericArray::from(hp)),
        })
    }

    /// The version the keys were derived for.
    pub fn version(&self) -> QuicVersion {
        self.version
    }

    /// The AES-128-GCM packet-protection key.
    pub fn key(&self) -> &[u8; 16] {
        &self.key
    }

    /// The 12-byte AEAD IV (XORed with the packet number to form the nonce).
    pub fn iv(&self) -> &[u8; 12] {
        &self.iv
    }

    /// The AES-128 header-protection key.
    pub fn hp(&self) -> &[u8; 16] {
        &self.hp
    }

    /// The header-protection mask for a 16-byte sample: AES-128-ECB of the
    /// sample under the hp key (RFC 9001 §5.4.3); only its first 5 bytes
    /// are used.
    pub fn header_protection_mask(&self, sample: &[u8; 16]) -> [u8; 16] {
        let mut block = GenericArray::from(*sample);
        self.hp_cipher.encrypt_block(&mut block);
        block.into()
    }
}

/// Derives the keys that protect the client's Initial packets.
///
/// `dcid` is the Destination Connection ID of the client's **first** Initial
/// on the connection (after a Retry: of the first Initial after it).
/// This is the expensive step (HKDF-Extract plus four HKDF-Expand-Label, AES
/// and GCM key schedules): do it once per connection.
///
/// # Errors
/// `Unsupported { what: "quic_version" }` for a version other than v1, v2
/// and drafts 23-34; `Invalid { what: "connection_id_too_long" }` for a DCID
/// over 20 bytes.
pub fn client_initial_keys(version: QuicVersion, dcid: &[u8]) -> Result<InitialKeys, ParseError> {
    check_cid(dcid)?;
    InitialKeys::derive(version, dcid, b"client in")
}

/// Derives the keys that protect the server's Initial packets (label
/// "server in"), also from the client's original DCID.
///
/// # Errors
/// As [`client_initial_keys`].
pub fn server_initial_keys(version: QuicVersion, dcid: &[u8]) -> Result<InitialKeys, ParseError> {
    check_cid(dcid)?;
    InitialKeys::derive(version, dcid, b"server in")
}

fn check_cid(dcid: &[u8]) -> Result<(), ParseError> {
    if dcid.len() > super::MAX_CID_LEN {
        return Err(invalid("connection_id_too_long"));
    }
    Ok(())
}

/// A decrypted Initial packet, borrowing the caller's output buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecryptedInitial<'o> {
    /// Full packet number (decoded against the largest one given, if any).
    pub packet_number: u64,
    /// Length in bytes of the packet-number field (1-4).
    pub pn_len: usize,
    /// The unprotected header, byte 0 through the last packet-number byte
    /// (the AEAD associated data).
    pub header: &'o [u8],
    /// The plaintext frames (walk them with [`super::frames`]).
    pub payload: &'o [u8],
}

/// Removes header and packet protection from the Initial packet at the start
/// of `packet` (a whole datagram is fine: bytes after the packet's Length are
/// ignored), writing into `out`, which must be at least as long as the packet.
///
/// The truncated packet number is taken as the full one, which is exact while
/// the client's Initial packet numbers stay below 2^(8·pn_len) (Initial
/// numbers start at 0); [`decrypt_initial_with_largest_pn`] decodes against the
/// largest number seen.
///
/// # Errors
/// - Header errors of [`parse_long_header`]; `Invalid { what: "not_initial" }`
///   for another packet type; `Invalid { what: "version_mismatch" }` when the
///   keys are for another version.
/// - `Invalid { what: "packet_too_short" }`: too short to hold the 16-byte
///   header-protection sample and the tag.
/// - `Unsupported { what: "output_buffer_too_small" }`: `out` is shorter than
///   the packet.
/// - `Invalid { what: DECRYPTION_FAILED }`: the tag does not verify (not a
///   client Initial for these keys). `out` then holds garbage.
pub fn decrypt_initial<'o>(
    packet: &[u8],
    keys: &InitialKeys,
    out: &'o mut [u8],
) -> Result<DecryptedInitial<'o>, ParseError> {
    decrypt_initial_with_largest_pn(packet, keys, None, out)
}

/// As [`decrypt_initial`], decoding the truncated packet number against
/// `largest_pn`, the largest packet number successfully decrypted so far in
/// this direction's Initial space (RFC 9000 Appendix A.3).
///
/// # Errors
/// As [`decrypt_initial`].
pub fn decrypt_initial_with_largest_pn<'o>(
    packet: &[u8],
    keys: &InitialKeys,
    largest_pn: Option<u64>,
    out: &'o mut [u8],
) -> Result<DecryptedInitial<'o>, ParseError> {
    let (header, packet_len) = parse_long_header(packet)?;
    if header.packet_type != PacketType::Initial {
        return Err(invalid("not_initial"));
    }
    if header.version != keys.version {
        return Err(invalid("version_mismatch"));
    }
    let pn_offset = header.pn_offset;
    // The sample assumes a 4-byte packet number; the packet must hold it
    // and, after the shortest packet number, the tag.
    let sample_start = pn_offset + 4;
    let sample: [u8; SAMPLE_LEN] = packet
        .get(sample_start..sample_start + SAMPLE_LEN)
        .filter(|_| sample_start + SAMPLE_LEN <= packet_len)
        .and_then(|s| s.try_into().ok())
        .ok_or(invalid("packet_too_short"))?;
    let src = packet
        .get(..packet_len)
        .ok_or(invalid("packet_too_short"))?;
    let buf = out
        .get_mut(..packet_len)
        .ok_or(unsupported("output_buffer_too_small"))?;
    buf.copy_from_slice(src);

    let mask = keys.header_protection_mask(&sample);
    let first = buf.first_mut().ok_or(invalid("packet_too_short"))?;
    *first ^= mask[0] & 0x0f;
    let pn_len = usize::from(*first & 0x03) + 1;
    let mut truncated: u64 = 0;
    for i in 0..pn_len {
        let b = buf
            .get_mut(pn_offset + i)
            .ok_or(invalid("packet_too_short"))?;
        *b ^= mask[1 + i];
        truncated = (truncated << 8) | u64::from(*b);
    }
    let packet_number = decode_pn(largest_pn, truncated, pn_len);

    let header_len = pn_offset + pn_len;
    let ct_end = packet_len
        .checked_sub(TAG_LEN)
        .filter(|&e| e >= header_len)
        .ok_or(invalid("packet_too_short"))?;
    let mut nonce = *keys.iv();
    for (n, p) in nonce[4..].iter_mut().zip(packet_number.to_be_bytes()) {
        *n ^= p;
    }
    let (aad, rest) = buf.split_at_mut(header_len);
    let (ciphertext, tag) = rest.split_at_mut(ct_end - header_len);
    let tag: [u8; TAG_LEN] = (&*tag)
        .try_into()
        .map_err(|_| invalid("packet_too_short"))?;
    keys.aead
        .decrypt_in_place_detached(
            &GenericArray::from(nonce),
            aad,
            ciphertext,
            &GenericArray::from(tag),
        )
        .map_err(|_| invalid(DECRYPTION_FAILED))?;
    let out: &'o [u8] = out;
    Ok(DecryptedInitial {
        packet_number,
        pn_len,
        header: out.get(..header_len).unwrap_or(&[]),
        payload: out.get(header_len..ct_end).unwrap_or(&[]),
    })
}

/// Packet-number decoding, RFC 9000 Appendix A.3.
fn decode_pn(largest: Option<u64>, truncated: u64, pn_len: usize) -> u64 {
    let Some(largest) = largest else {
        return truncated;
    };
    let largest = largest.min(super::MAX_VARINT);
    let bits = 8 * pn_len as u32;
    let expected = largest.saturating_add(1);
    let win: u64 = 1 << bits;
    let hwin = win / 2;
    let mask = win - 1;
    let candidate = (expected & !mask) | truncated;
    if candidate.saturating_add(hwin) <= expected && candidate < (1u64 << 62) - win {
        candidate + win
    } else if candidate > expected.saturating_add(hwin) && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Layer, ParseError};
    use serde_json::Value;

    const VECTORS: &str = include_str!("../../tests/fixtures/quic/quic_initial_vectors.json");

    fn vectors() -> Value {
        serde_json::from_str(VECTORS).unwrap()
    }

    fn h(v: &Value) -> Vec<u8> {
        hex::decode(v.as_str().unwrap()).unwrap()
    }

    #[test]
    fn hkdf_label_info_bytes_match_spec() {
        // Exact `info` bytes from the spec (RFC 9001 A.1, RFC 9369 A.1).
        for (label, len, want) in [
            (
                &b"client in"[..],
                32,
                "00200f746c73313320636c69656e7420696e00",
            ),
            (b"quic key", 16, "00100e746c7331332071756963206b657900"),
            (b"quicv2 hp", 16, "00100f746c7331332071756963763220687000"),
        ] {
            let hk = Hkdf::<Sha256>::from_prk(&[7u8; 32]).unwrap();
            let mut a = vec![0u8; len];
            expand_label(&hk, label, &mut a).unwrap();
            let mut b = vec![0u8; len];
            hk.expand(&hex::decode(want).unwrap(), &mut b).unwrap();
            assert_eq!(a, b);
        }
    }

    fn check_keys(name: &str, version: QuicVersion) {
        let v = vectors();
        let t = &v["rfc_vectors"][name];
        let k = &t["expected_keys"];
        let dcid = h(&t["dcid"]);
        let family = version.family().unwrap();
        let (salt, _) = params(family);
        let (prk, _) = Hkdf::<Sha256>::extract(Some(salt), &dcid);
        assert_eq!(prk.as_slice(), h(&k["initial_secret"]));
        assert_eq!(
            initial_secret(salt, &dcid, b"client in").unwrap().to_vec(),
            h(&k["client_initial_secret"])
        );
        let c = client_initial_keys(version, &dcid).unwrap();
        assert_eq!(c.key().to_vec(), h(&k["key"]));
        assert_eq!(c.iv().to_vec(), h(&k["iv"]));
        assert_eq!(c.hp().to_vec(), h(&k["hp"]));
        assert_eq!(c.version(), version);
        let s = server_initial_keys(version, &dcid).unwrap();
        assert_eq!(s.key().to_vec(), h(&k["server_key"]));
        assert_eq!(s.iv().to_vec(), h(&k["server_iv"]));
        assert_eq!(s.hp().to_vec(), h(&k["server_hp"]));
        // Header protection mask from the sample.
        let sample: [u8; 16] = h(&t["hp_sample_hex"]).try_into().unwrap();
        let mask = c.header_protection_mask(&sample);
        assert_eq!(mask[..5].to_vec(), h(&t["hp_mask_hex"]));
    }

    #[test]
    fn rfc9001_a1_keys_and_mask() {
        check_keys("quic_v1_rfc9001_A2", QuicVersion::V1);
    }

    #[test]
    fn rfc9369_a1_keys_and_mask() {
        check_keys("quic_v2_rfc9369_A2", QuicVersion::V2);
    }

    fn check_client_packet(name: &str, version: QuicVersion) {
        let v = vectors();
        let t = &v["rfc_vectors"][name];
        let pkt = h(&t["protected_packet_hex"]);
        assert_eq!(pkt.len(), 1200);
        let keys = client_initial_keys(version, &h(&t["dcid"])).unwrap();
        let mut out = [0u8; 1500];
        let d = decrypt_initial(&pkt, &keys, &mut out).unwrap();
        assert_eq!(d.header.to_vec(), h(&t["unprotected_header_hex"]));
        assert_eq!(d.packet_number, 2);
        assert_eq!(d.pn_len, 4);
        assert_eq!(d.payload.len(), 1162);
        let frame = h(&t["payload_crypto_frame_hex"]);
        assert_eq!(&d.payload[..frame.len()], &frame[..]);
        assert!(d.payload[frame.len()..].iter().all(|&b| b == 0));
        // Server keys do not open a client packet.
        let skeys = server_initial_keys(version, &h(&t["dcid"])).unwrap();
        assert_eq!(
            decrypt_initial(&pkt, &skeys, &mut out).unwrap_err(),
            ParseError::Invalid {
                layer: Layer::Quic,
                what: DECRYPTION_FAILED
            }
        );
        // A flipped ciphertext bit fails the tag.
        let mut bad = pkt.clone();
        bad[100] ^= 1;
        assert!(decrypt_initial(&bad, &keys, &mut out).is_err());
        // Output buffer too small.
        let mut small = [0u8; 1199];
        assert_eq!(
            decrypt_initial(&pkt, &keys, &mut small).unwrap_err(),
            ParseError::Unsupported {
                layer: Layer::Quic,
                what: "output_buffer_too_small"
            }
        );
    }

    #[test]
    fn rfc9001_a2_client_initial_decrypts() {
        check_client_packet("quic_v1_rfc9001_A2", QuicVersion::V1);
    }

    #[test]
    fn rfc9369_a2_client_initial_decrypts() {
        check_client_packet("quic_v2_rfc9369_A2", QuicVersion::V2);
    }

    #[test]
    fn keys_for_other_version_are_rejected() {
        let v = vectors();
        let t = &v["rfc_vectors"]["quic_v2_rfc9369_A2"];
        let keys = client_initial_keys(QuicVersion::V1, &h(&t["dcid"])).unwrap();
        let mut out = [0u8; 1500];
        assert_eq!(
            decrypt_initial(&h(&t["protected_packet_hex"]), &keys, &mut out).unwrap_err(),
            ParseError::Invalid {
                layer: Layer::Quic,
                what: "version_mismatch"
            }
        );
    }

    fn check_server_packet(name: &str, version: QuicVersion) {
        let v = vectors();
        let t = &v["rfc_vectors"][name];
        let pkt = h(&t["protected_packet_hex"]);
        let dcid = h(&v["rfc_vectors"]["quic_v1_rfc9001_A2"]["dcid"]);
        let keys = server_initial_keys(version, &dcid).unwrap();
        let mut out = [0u8; 256];
        let d = decrypt_initial(&pkt, &keys, &mut out).unwrap();
        assert_eq!(d.header.to_vec(), h(&t["unprotected_header_hex"]));
        assert_eq!(d.packet_number, 1);
        assert_eq!(d.payload.to_vec(), h(&t["payload_hex"]));
    }

    #[test]
    fn rfc9001_a3_server_initial_decrypts() {
        check_server_packet("server_initial_v1_rfc9001_A3", QuicVersion::V1);
    }

    #[test]
    fn rfc9369_a3_server_initial_decrypts() {
        check_server_packet("server_initial_v2_rfc9369_A3", QuicVersion::V2);
    }

    #[test]
    fn short_and_cut_packets_fail_cleanly() {
        let v = vectors();
        let t = &v["rfc_vectors"]["quic_v1_rfc9001_A2"];
        let pkt = h(&t["protected_packet_hex"]);
        let keys = client_initial_keys(QuicVersion::V1, &h(&t["dcid"])).unwrap();
        let mut out = [0u8; 1500];
        for n in 0..pkt.len() {
            assert!(decrypt_initial(&pkt[..n], &keys, &mut out).is_err());
        }
        // Length field claiming only 19 bytes: no room for the sample.
        let mut p = pkt[..16].to_vec();
        p.push(0x13);
        p.extend_from_slice(&[0u8; 40]);
        assert_eq!(
            decrypt_initial(&p, &keys, &mut out).unwrap_err(),
            ParseError::Invalid {
                layer: Layer::Quic,
                what: "packet_too_short"
            }
        );
        assert_eq!(
            client_initial_keys(QuicVersion(0x1a2a_3a4a), b"x").unwrap_err(),
            ParseError::Unsupported {
                layer: Layer::Quic,
                what: "quic_version"
            }
        );
        assert!(client_initial_keys(QuicVersion::V1, &[0; 21]).is_err());
    }

    #[test]
    fn draft29_salt_derives() {
        // Same DCID, different salt: keys differ from v1's but derive fine.
        let a = client_initial_keys(QuicVersion::DRAFT_29, &[1; 8]).unwrap();
        let b = client_initial_keys(QuicVersion::V1, &[1; 8]).unwrap();
        assert_ne!(a.key(), b.key());
        assert_eq!(a.version(), QuicVersion::DRAFT_29);
        assert!(format!("{a:?}").contains("InitialKeys"));
    }

    #[test]
    fn packet_number_decoding_rfc9000_a3() {
        // RFC 9000 A.3 example: largest 0xa82f30ea, truncated 0x9b32 (2 bytes).
        assert_eq!(decode_pn(Some(0xa82f_30ea), 0x9b32, 2), 0xa82f_9b32);
        assert_eq!(decode_pn(None, 0x9b32, 2), 0x9b32);
        assert_eq!(decode_pn(Some(0), 1, 1), 1);
        assert_eq!(decode_pn(Some(255), 0, 1), 256);
        assert_eq!(decode_pn(Some(300), 0xff, 1), 255);
        // Out-of-range input does not overflow.
        assert_eq!(decode_pn(Some(u64::MAX), 0, 4), 1 << 62);
    }
}
