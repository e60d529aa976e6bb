//! Test-only helpers shared by the parsers' tests (the integration tests, and
//! the unit tests through `public_payloads`): a minimal classic pcap /
//! pcapng reader (written here rather than adding a pcap crate as a
//! dependency; it only has to read the public test captures), the public
//! captures of the shared folder record by record (they are read where they
//! are, never copied into the repository), and the loader for tshark's
//! `.frames.jsonl` references.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// One packet record of a capture file.
#[derive(Debug, Clone)]
pub struct Frame {
    /// LINKTYPE of the interface the packet was captured on.
    pub link: u32,
    /// Captured bytes.
    pub data: Vec<u8>,
    /// Original length on the wire.
    pub orig_len: u32,
    /// Timestamp in microseconds (0 for pcapng Simple Packet Blocks).
    pub ts_us: u64,
}

fn u16_at(b: &[u8], at: usize, le: bool) -> u16 {
    let x = [b[at], b[at + 1]];
    if le {
        u16::from_le_bytes(x)
    } else {
        u16::from_be_bytes(x)
    }
}

fn u32_at(b: &[u8], at: usize, le: bool) -> u32 {
    let x = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if le {
        u32::from_le_bytes(x)
    } else {
        u32::from_be_bytes(x)
    }
}

/// Reads every packet record of a classic pcap or pcapng file.
pub fn read_capture(bytes: &[u8]) -> Vec<Frame> {
    let magic = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if magic == 0x0a0d_0d0a {
        read_pcapng(bytes)
    } else {
        read_pcap(bytes)
    }
}

fn read_pcap(b: &[u8]) -> Vec<Frame> {
    let magic_le = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let (le, nanos) = match magic_le {
        0xa1b2_c3d4 => (true, false),
        0xa1b2_3c4d => (true, true),
        0xd4c3_b2a1 => (false, false),
        0x4d3c_b2a1 => (false, true),
        m => panic!("not a pcap file: magic {m:#x}"),
    };
    let link = u32_at(b, 20, le) & 0x0fff_ffff;
    let mut out = Vec::new();
    let mut pos = 24;
    while pos + 16 <= b.len() {
        let sec = u64::from(u32_at(b, pos, le));
        let frac = u64::from(u32_at(b, pos + 4, le));
        let incl = u32_at(b, pos + 8, le) as usize;
        let orig_len = u32_at(b, pos + 12, le);
        let data = b[pos + 16..pos + 16 + incl].to_vec();
        let ts_us = sec * 1_000_000 + if nanos { frac / 1000 } else { frac };
        out.push(Frame {
            link,
            data,
            orig_len,
            ts_us,
        });
        pos += 16 + incl;
    }
    out
}

struct Iface {
    link: u32,
    snaplen: u32,
    /// Timestamp units per second.
    units: u64,
}

fn read_pcapng(b: &[u8]) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut ifaces: Vec<Iface> = Vec::new();
    let mut le = true;
    let mut pos = 0;
    while pos + 12 <= b.len() {
        let typ_le = u32::from_le_bytes([b[pos], b[pos + 1], b[pos + 2], b[pos + 3]]);
        if typ_le == 0x0a0d_0d0a {
            le = u32::from_le_bytes([b[pos + 8], b[pos + 9], b[pos + 10], b[pos + 11]])
                == 0x1a2b_3c4d;
            ifaces.clear();
        }
        let typ = u32_at(b, pos, le);
        let len = u32_at(b, pos + 4, le) as usize;
        let body = &b[pos + 8..pos + len - 4];
        match typ {
            1 => {
                let link = u32::from(u16_at(body, 0, le));
                let snaplen = u32_at(body, 4, le);
                let mut units = 1_000_000u64;
                let mut opt = 8;
                while opt + 4 <= body.len() {
                    let code = u16_at(body, opt, le);
                    let olen = usize::from(u16_at(body, opt + 2, le));
                    if code == 0 {
                        break;
                    }
                    if code == 9 && olen >= 1 {
                        let r = body[opt + 4];
                        units = if r & 0x80 == 0 {
                            10u64.pow(u32::from(r))
                        } else {
                            1u64 << (r & 0x7f)
                        };
                    }
                    opt += 4 + olen.div_ceil(4) * 4;
                }
                ifaces.push(Iface {
                    link,
                    snaplen,
                    units,
                });
            }
            6 | 2 => {
                let (iface, ts_at, cap_at, data_at) = if typ == 6 {
                    (u32_at(body, 0, le) as usize, 4, 12, 20)
                } else {
                    (usize::from(u16_at(body, 0, le)), 4, 12, 20)
                };
                let ts = (u64::from(u32_at(body, ts_at, le)) << 32)
                    | u64::from(u32_at(body, ts_at + 4, le));
                let caplen = u32_at(body, cap_at, le) as usize;
                let orig_len = u32_at(body, cap_at + 4, le);
                let i = &ifaces[iface];
                out.push(Frame {
                    link: i.link,
                    data: body[data_at..data_at + caplen].to_vec(),
                    orig_len,
                    ts_us: (u128::from(ts) * 1_000_000 / u128::from(i.units)) as u64,
                });
            }
            3 => {
                let orig_len = u32_at(body, 0, le);
                let i = &ifaces[0];
                let mut caplen = (orig_len as usize).min(body.len() - 4);
                if i.snaplen != 0 {
                    caplen = caplen.min(i.snaplen as usize);
                }
                out.push(Frame {
                    link: i.link,
                    data: body[4..4 + caplen].to_vec(),
                    orig_len,
                    ts_us: 0,
                });
            }
            _ => {}
        }
        pos += len;
    }
    out
}

/// `parsers/tests/fixtures/<sub>/<name>`.
pub fn fixture(sub: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(sub)
        .join(name)
}

/// The public pcap corpus, `pcaps/public` of the shared folder (found by
/// `virga_test_support`); None, with a note, when it is absent on a bare
/// clone (a panic in CI).
pub fn shared_public() -> Option<PathBuf> {
    virga_test_support::shared_path("pcaps/public/MANIFEST.tsv")
        .and_then(|m| m.parent().map(Path::to_path_buf))
}

/// Every capture listed in the corpus MANIFEST.tsv, as (relative name, path).
pub fn shared_captures(root: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(root.join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    manifest
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect()
}

/// The tshark frame records of a capture, one JSON object per line.
pub fn read_refs(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// Every record of `shared/pcaps/public/<rel>`; None, with a note, when the
/// shared folder is absent on a bare clone (the test using it then passes
/// without checking; in CI that is a panic).
pub fn public_records(rel: &str) -> Option<Vec<Frame>> {
    let path = shared_public()?.join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Some(read_capture(&bytes))
}

/// Record `n` (1-based, tshark's frame number) of a public capture.
pub fn public_record(rel: &str, n: usize) -> Option<Frame> {
    let mut all = public_records(rel)?;
    assert!(n >= 1 && n <= all.len(), "{rel} has no record {n}");
    Some(all.swap_remove(n - 1))
}

/// The tshark frame references of a public capture (`refs/<rel>.frames.jsonl`).
pub fn public_refs(rel: &str) -> Option<Vec<serde_json::Value>> {
    let root = shared_public()?;
    Some(read_refs(
        &root.join("refs").join(format!("{rel}.frames.jsonl")),
    ))
}
