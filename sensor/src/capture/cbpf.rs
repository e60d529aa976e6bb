//! Classic BPF programs for AF_PACKET capture: the fanout program that picks
//! a packet's worker, and the socket filter made from libpcap's compiled
//! filter with the snap length applied.
//!
//! Plain data and arithmetic, no system calls: the programs are built here on
//! every platform and handed to the kernel by `capture::af_packet`.
//!
//! # The fanout program
//!
//! The kernel runs it on every packet of the interface (before any socket
//! filter, on the whole frame) and sends the packet to socket `ret % n` of the
//! fanout group. It computes exactly what [`crate::shard::shard`] computes
//! for the same frame, in classic BPF (32-bit registers, 16 scratch words):
//!
//! 1. The Ethernet header is read relative to the link-layer header
//!    (`SKF_LL_OFF`), so the program sees the frame as it was received. The
//!    kernel usually moves one 802.1Q/802.1ad tag into packet metadata
//!    before a packet socket sees the frame; up to two tags still in the
//!    data are skipped (types 0x8100, 0x88a8, 0x9100), as `shard` does.
//! 2. IPv4 (version 4, header length ≥ 20, not a fragment) or IPv6 (version
//!    6, next header TCP or UDP directly) with TCP or UDP: the ports decide
//!    the client side: the side not on a well-known server port (the list of
//!    `crate::flow::key::source_looks_like_server`) when exactly one side is
//!    on one, else the side with the higher port, else the lower address.
//!    Other IP packets (ICMP, fragments, IPv6 extension headers): the lower
//!    address. Frames without IP (ARP, ...): socket 0.
//! 3. The client address's bytes go through 64-bit FNV-1a (emulated in
//!    16-bit limbs), folded as `h ^ (h >> 29)`, and reduced modulo the
//!    number of workers in the program itself, so the return value is the
//!    worker index `shard` gives.
//!
//! Where the two can differ: `shard` hands frames its fast path does not
//! read (IPv6 extension headers, malformed headers, frames whose captured
//! bytes are shorter than the IP length says) to the full decoder, which may
//! still find ports there; the program then uses the lower address (or
//! socket 0 for a broken header). The tests find no difference on the
//! captures of the test data and corpus, nor on generated IPv4 and IPv6
//! frames with up to two VLAN tags, fragments, ICMP and equal ports.
//! Either way the choice depends only on the packet's addresses and ports,
//! so both directions of a flow, and a client's DNS and its connections,
//! still meet on one socket. A frame shorter than a field the program reads
//! ends the program with 0 (socket 0), as the kernel does for any
//! out-of-bounds load.

use crate::flow::key::SERVER_PORTS;

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset when the condition holds.
    pub jt: u8,
    /// Jump offset when it does not.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

// Opcode parts (linux/bpf_common.h).
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const W: u16 = 0x00;
const H: u16 = 0x08;
const B: u16 = 0x10;
const IMM: u16 = 0x00;
const IND: u16 = 0x40;
const MEM: u16 = 0x60;
const ADD: u16 = 0x00;
const SUB: u16 = 0x10;
const MUL: u16 = 0x20;
const OR: u16 = 0x40;
const AND: u16 = 0x50;
const LSH: u16 = 0x60;
const RSH: u16 = 0x70;
const MOD: u16 = 0x90;
const XOR: u16 = 0xa0;
const JA: u16 = 0x00;
const JEQ: u16 = 0x10;
const JGT: u16 = 0x20;
const JGE: u16 = 0x30;
const JSET: u16 = 0x40;
const SRC_K: u16 = 0x00;
const SRC_X: u16 = 0x08;
const RET_A: u16 = 0x10;
const TAX: u16 = 0x00;
const TXA: u16 = 0x80;

/// `ret #k` (`BPF_RET | BPF_K`).
pub const RET_K: u16 = RET | SRC_K;

/// Loads at `SKF_LL_OFF + n` read byte `n` of the link-layer header.
const SKF_LL_OFF: i32 = -0x0020_0000;

/// The most instructions the kernel accepts in a classic program.
pub const MAX_INSNS: usize = 4096;

/// The most workers a fanout program is built for (the configuration's
/// limit; keeps the modular arithmetic within 32 bits).
pub const MAX_WORKERS: usize = 1024;

/// A jump target: the next instruction or a label.
#[derive(Debug, Clone, Copy)]
enum To {
    Next,
    L(usize),
}

/// An instruction whose jumps may still name labels.
#[derive(Debug, Clone, Copy)]
struct Item {
    code: u16,
    jt: To,
    jf: To,
    k: u32,
}

/// A small assembler: instructions with symbolic forward jumps, resolved by
/// [`Asm::finish`].
#[derive(Debug, Default)]
struct Asm {
    items: Vec<Item>,
    /// Position bound to each label (`None` until bound).
    labels: Vec<Option<usize>>,
}

impl Asm {
    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }

    fn bind(&mut self, l: usize) {
        self.labels[l] = Some(self.items.len());
    }

    fn op(&mut self, code: u16, k: u32) {
        self.items.push(Item {
            code,
            jt: To::Next,
            jf: To::Next,
            k,
        });
    }

    fn jmp(&mut self, code: u16, k: u32, jt: To, jf: To) {
        self.items.push(Item { code, jt, jf, k });
    }

    /// `ja l` (the only jump with a long range).
    fn ja(&mut self, l: usize) {
        self.jmp(JMP | JA, 0, To::L(l), To::Next);
    }

    /// Loads `A` with the byte, half-word or word at `X + k` of the frame.
    fn ld_ind(&mut self, size: u16, k: i32) {
        self.op(LD | size | IND, (SKF_LL_OFF + k) as u32);
    }

    fn ld_mem(&mut self, m: u32) {
        self.op(LD | W | MEM, m);
    }

    fn ldx_mem(&mut self, m: u32) {
        self.op(LDX | W | MEM, m);
    }

    fn st(&mut self, m: u32) {
        self.op(ST, m);
    }

    fn alu_k(&mut self, op: u16, k: u32) {
        self.op(ALU | op | SRC_K, k);
    }

    fn alu_x(&mut self, op: u16) {
        self.op(ALU | op | SRC_X, 0);
    }

    /// Resolves the labels. `None` if a label is unbound, a jump goes
    /// backwards, a conditional jump is longer than 255 instructions, or the
    /// program is longer than the kernel takes.
    fn finish(self) -> Option<Vec<Insn>> {
        if self.items.len() > MAX_INSNS {
            return None;
        }
        let target = |at: usize, to: To| -> Option<u32> {
            match to {
                To::Next => Some(0),
                To::L(l) => {
                    let pos = (*self.labels.get(l)?)?;
                    u32::try_from(pos.checked_sub(at + 1)?).ok()
                }
            }
        };
        let mut out = Vec::with_capacity(self.items.len());
        for (at, it) in self.items.iter().enumerate() {
            let (jt, jf) = (target(at, it.jt)?, target(at, it.jf)?);
            let insn = if it.code == JMP | JA {
                Insn {
                    code: it.code,
                    jt: 0,
                    jf: 0,
                    k: jt,
                }
            } else {
                Insn {
                    code: it.code,
                    jt: u8::try_from(jt).ok()?,
                    jf: u8::try_from(jf).ok()?,
                    k: it.k,
                }
            };
            out.push(insn);
        }
        Some(out)
    }
}

// Scratch words of the fanout program.
/// Offset (from the link-layer header) of the client address.
const M_ADDR: u32 = 0;
const M_SPORT: u32 = 1;
const M_DPORT: u32 = 2;
/// Offset of the IP header.
const M_BASE: u32 = 3;
const M_TMP: u32 = 4;
const M_CARRY: u32 = 5;
/// Two banks of four 16-bit limbs of the 64-bit hash, used in turn.
const BANK: [u32; 2] = [6, 10];
/// Before hashing, the second bank holds: 1 for IPv6, 0 for IPv4 ...
const M_IS_V6: u32 = 10;
/// ... and whether the source port is a server port.
const M_SRC_SRV: u32 = 11;
/// Offsets of the source and destination addresses.
const M_SRC: u32 = 14;
const M_DST: u32 = 15;

/// The FNV-1a 64-bit offset basis and prime (as in `crate::flow::key::Fnv1a`).
const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME_LOW: u32 = 0x1b3;

/// The fanout program for `workers` sockets (see the module documentation).
/// `None` for 0 or more than [`MAX_WORKERS`] workers.
pub fn fanout_program(workers: usize) -> Option<Vec<Insn>> {
    if workers == 0 || workers > MAX_WORKERS {
        return None;
    }
    let mut a = Asm::default();
    if workers == 1 {
        a.op(RET_K, 0);
        return a.finish();
    }
    let n = workers as u32;
    let (ret0, ip, v4, v6, ports4, choose, tie, hash16) = (
        a.label(),
        a.label(),
        a.label(),
        a.label(),
        a.label(),
        a.label(),
        a.label(),
        a.label(),
    );
    let tags = [a.label(), a.label()];
    let is_tag = |a: &mut Asm, yes: usize, no: usize| {
        a.jmp(JMP | JEQ | SRC_K, 0x8100, To::L(yes), To::Next);
        a.jmp(JMP | JEQ | SRC_K, 0x88a8, To::L(yes), To::Next);
        a.jmp(JMP | JEQ | SRC_K, 0x9100, To::L(yes), To::L(no));
    };
    // Ethertype, then up to two VLAN tags. X = offset of the ethertype.
    a.op(LDX | W | IMM, 12);
    a.ld_ind(H, 0);
    is_tag(&mut a, tags[0], ip);
    a.bind(tags[0]);
    a.op(LDX | W | IMM, 16);
    a.ld_ind(H, 0);
    is_tag(&mut a, tags[1], ip);
    a.bind(tags[1]);
    a.op(LDX | W | IMM, 20);
    a.ld_ind(H, 0);
    // A = ethertype at X; the IP header follows it.
    a.bind(ip);
    a.st(M_TMP);
    a.op(MISC | TXA, 0);
    a.alu_k(ADD, 2);
    a.st(M_BASE);
    a.op(MISC | TAX, 0);
    a.ld_mem(M_TMP);
    a.jmp(JMP | JEQ | SRC_K, 0x0800, To::L(v4), To::Next);
    a.jmp(JMP | JEQ | SRC_K, 0x86dd, To::L(v6), To::L(ret0));

    // IPv4; X = base.
    a.bind(v4);
    a.ld_mem(M_BASE);
    a.alu_k(ADD, 12);
    a.st(M_SRC);
    a.alu_k(ADD, 4);
    a.st(M_DST);
    a.op(LD | W | IMM, 0);
    a.st(M_IS_V6);
    a.ld_ind(B, 0);
    a.st(M_TMP);
    a.alu_k(RSH, 4);
    a.jmp(JMP | JEQ | SRC_K, 4, To::Next, To::L(ret0));
    a.ld_mem(M_TMP);
    a.alu_k(AND, 0x0f);
    a.jmp(JMP | JGE | SRC_K, 5, To::Next, To::L(ret0));
    a.ld_ind(H, 6);
    a.jmp(JMP | JSET | SRC_K, 0x3fff, To::L(tie), To::Next);
    a.ld_ind(B, 9);
    a.jmp(JMP | JEQ | SRC_K, 6, To::L(ports4), To::Next);
    a.jmp(JMP | JEQ | SRC_K, 17, To::L(ports4), To::L(tie));
    a.bind(ports4);
    a.ld_mem(M_TMP);
    a.alu_k(AND, 0x0f);
    a.alu_k(LSH, 2);
    a.alu_x(ADD);
    a.op(MISC | TAX, 0);
    a.ld_ind(H, 0);
    a.st(M_SPORT);
    a.ld_ind(H, 2);
    a.st(M_DPORT);
    a.ja(choose);

    // IPv6 without extension headers; X = base.
    let ports6 = a.label();
    a.bind(v6);
    a.ld_mem(M_BASE);
    a.alu_k(ADD, 8);
    a.st(M_SRC);
    a.alu_k(ADD, 16);
    a.st(M_DST);
    a.op(LD | W | IMM, 1);
    a.st(M_IS_V6);
    a.ld_ind(B, 0);
    a.alu_k(RSH, 4);
    a.jmp(JMP | JEQ | SRC_K, 6, To::Next, To::L(ret0));
    a.ld_ind(B, 6);
    a.jmp(JMP | JEQ | SRC_K, 6, To::L(ports6), To::Next);
    a.jmp(JMP | JEQ | SRC_K, 17, To::L(ports6), To::L(tie));
    a.bind(ports6);
    a.op(MISC | TXA, 0);
    a.alu_k(ADD, 40);
    a.op(MISC | TAX, 0);
    a.ld_ind(H, 0);
    a.st(M_SPORT);
    a.ld_ind(H, 2);
    a.st(M_DPORT);
    a.ja(choose);

    // Not IP, or a broken IP header: socket 0. The conditional jumps above
    // reach only 255 instructions, so they land here and jump on to the
    // `ret #0` at the end. (A `ret` here would not do: the kernel's check
    // that scratch words are stored before they are loaded reads the code
    // after a `ret` as reachable from it, and after a `ja` as not.)
    let ret0_far = a.label();
    a.bind(ret0);
    a.ja(ret0_far);

    // The client side from the ports.
    let (pick_src, pick_dst, by_port) = (a.label(), a.label(), a.label());
    a.bind(choose);
    let is_server = |a: &mut Asm, yes: usize, no: usize| {
        for (i, &p) in SERVER_PORTS.iter().enumerate() {
            let miss = if i + 1 == SERVER_PORTS.len() {
                To::L(no)
            } else {
                To::Next
            };
            a.jmp(JMP | JEQ | SRC_K, u32::from(p), To::L(yes), miss);
        }
    };
    let (s_yes, s_no, d_check, d_yes, d_no) =
        (a.label(), a.label(), a.label(), a.label(), a.label());
    a.ld_mem(M_SPORT);
    is_server(&mut a, s_yes, s_no);
    a.bind(s_yes);
    a.op(LD | W | IMM, 1);
    a.st(M_SRC_SRV);
    a.ja(d_check);
    a.bind(s_no);
    a.op(LD | W | IMM, 0);
    a.st(M_SRC_SRV);
    a.bind(d_check);
    a.ld_mem(M_DPORT);
    is_server(&mut a, d_yes, d_no);
    a.bind(d_yes);
    a.ld_mem(M_SRC_SRV);
    a.jmp(JMP | JEQ | SRC_K, 1, To::L(by_port), To::L(pick_src));
    a.bind(d_no);
    a.ld_mem(M_SRC_SRV);
    a.jmp(JMP | JEQ | SRC_K, 1, To::L(pick_dst), To::L(by_port));
    a.bind(by_port);
    a.ldx_mem(M_DPORT);
    a.ld_mem(M_SPORT);
    a.jmp(JMP | JGT | SRC_X, 0, To::L(pick_src), To::Next);
    a.jmp(JMP | JEQ | SRC_X, 0, To::L(tie), To::L(pick_dst));

    // The lower address: word by word, most significant first.
    let tie6 = a.label();
    a.bind(tie);
    a.ld_mem(M_IS_V6);
    a.jmp(JMP | JEQ | SRC_K, 1, To::L(tie6), To::Next);
    let compare_word = |a: &mut Asm, at: i32, last: bool| {
        a.ldx_mem(M_SRC);
        a.ld_ind(W, at);
        a.st(M_TMP);
        a.ldx_mem(M_DST);
        a.ld_ind(W, at);
        a.op(MISC | TAX, 0);
        a.ld_mem(M_TMP);
        let equal = if last { To::L(pick_src) } else { To::Next };
        a.jmp(JMP | JGT | SRC_X, 0, To::L(pick_dst), To::Next);
        a.jmp(JMP | JEQ | SRC_X, 0, equal, To::L(pick_src));
    };
    compare_word(&mut a, 0, true);
    a.bind(tie6);
    for w in 0..4 {
        compare_word(&mut a, w * 4, w == 3);
    }
    a.bind(pick_src);
    a.ld_mem(M_SRC);
    a.st(M_ADDR);
    a.ja(hash16);
    a.bind(pick_dst);
    a.ld_mem(M_DST);
    a.st(M_ADDR);

    // FNV-1a over the address: 16 bytes for IPv6; for IPv4 the same code
    // from its 13th byte on, with the address offset moved back by 12.
    a.bind(hash16);
    let init = |a: &mut Asm| {
        for (i, m) in (BANK[0]..BANK[0] + 4).enumerate() {
            a.op(LD | W | IMM, ((FNV_BASIS >> (16 * i)) & 0xffff) as u32);
            a.st(m);
        }
    };
    let (hash_v6, byte12) = (a.label(), a.label());
    a.ld_mem(M_IS_V6);
    a.jmp(JMP | JEQ | SRC_K, 1, To::L(hash_v6), To::Next);
    init(&mut a);
    a.ld_mem(M_ADDR);
    a.alu_k(SUB, 12);
    a.st(M_ADDR);
    a.ja(byte12);
    a.bind(hash_v6);
    init(&mut a);
    for i in 0..16u32 {
        if i == 12 {
            a.bind(byte12);
        }
        let p = BANK[(i % 2) as usize];
        let q = BANK[((i + 1) % 2) as usize];
        hash_byte(&mut a, i, p, q);
    }

    // h ^ (h >> 29), modulo the workers: ((hi % n) * (2^32 % n) + lo % n) % n.
    let r = BANK[0];
    let (hi, lo) = (M_SRC, M_DST);
    a.ld_mem(r + 3);
    a.alu_k(LSH, 16);
    a.op(MISC | TAX, 0);
    a.ld_mem(r + 2);
    a.alu_x(OR);
    a.st(hi);
    a.ld_mem(r + 1);
    a.alu_k(LSH, 16);
    a.op(MISC | TAX, 0);
    a.ld_mem(r);
    a.alu_x(OR);
    a.st(lo);
    a.ld_mem(hi);
    a.alu_k(LSH, 3);
    a.st(M_TMP);
    a.ld_mem(lo);
    a.alu_k(RSH, 29);
    a.op(MISC | TAX, 0);
    a.ld_mem(M_TMP);
    a.alu_x(OR);
    a.op(MISC | TAX, 0);
    a.ld_mem(lo);
    a.alu_x(XOR);
    a.alu_k(MOD, n);
    a.st(lo);
    a.ld_mem(hi);
    a.alu_k(RSH, 29);
    a.op(MISC | TAX, 0);
    a.ld_mem(hi);
    a.alu_x(XOR);
    a.alu_k(MOD, n);
    a.alu_k(MUL, ((1u64 << 32) % u64::from(n)) as u32);
    a.op(MISC | TAX, 0);
    a.ld_mem(lo);
    a.alu_x(ADD);
    a.alu_k(MOD, n);
    a.op(RET | RET_A, 0);
    a.bind(ret0_far);
    a.op(RET_K, 0);
    a.finish()
}

/// One FNV-1a step on address byte `i` (at `X = M_ADDR`, plus `i`): limbs in
/// bank `p`, result in bank `q`. `h ^= byte; h *= 2^40 + 0x1b3 (mod 2^64)`:
/// each 16-bit limb times 0x1b3 plus the carry, and `h << 40` adds
/// `h0 << 8` to limb 2 and `h0 >> 8 | (h1 & 0xff) << 8` to limb 3.
fn hash_byte(a: &mut Asm, i: u32, p: u32, q: u32) {
    a.ldx_mem(M_ADDR);
    a.ld_ind(B, i as i32);
    a.op(MISC | TAX, 0);
    a.ld_mem(p);
    a.alu_x(XOR);
    a.st(p);
    // Limb 0.
    a.alu_k(MUL, FNV_PRIME_LOW);
    a.st(M_TMP);
    a.alu_k(AND, 0xffff);
    a.st(q);
    a.ld_mem(M_TMP);
    a.alu_k(RSH, 16);
    a.st(M_CARRY);
    // Limb 1.
    a.ld_mem(p + 1);
    a.alu_k(MUL, FNV_PRIME_LOW);
    a.ldx_mem(M_CARRY);
    a.alu_x(ADD);
    a.st(M_TMP);
    a.alu_k(AND, 0xffff);
    a.st(q + 1);
    a.ld_mem(M_TMP);
    a.alu_k(RSH, 16);
    a.st(M_CARRY);
    // Limb 2.
    a.ld_mem(p);
    a.alu_k(LSH, 8);
    a.alu_k(AND, 0xffff);
    a.ldx_mem(M_CARRY);
    a.alu_x(ADD);
    a.op(MISC | TAX, 0);
    a.ld_mem(p + 2);
    a.alu_k(MUL, FNV_PRIME_LOW);
    a.alu_x(ADD);
    a.st(M_TMP);
    a.alu_k(AND, 0xffff);
    a.st(q + 2);
    a.ld_mem(M_TMP);
    a.alu_k(RSH, 16);
    a.st(M_CARRY);
    // Limb 3.
    a.ld_mem(p + 1);
    a.alu_k(AND, 0xff);
    a.alu_k(LSH, 8);
    a.op(MISC | TAX, 0);
    a.ld_mem(p);
    a.alu_k(RSH, 8);
    a.alu_x(ADD);
    a.ldx_mem(M_CARRY);
    a.alu_x(ADD);
    a.op(MISC | TAX, 0);
    a.ld_mem(p + 3);
    a.alu_k(MUL, FNV_PRIME_LOW);
    a.alu_x(ADD);
    a.alu_k(AND, 0xffff);
    a.st(q + 3);
}

/// The socket filter: libpcap's compiled `filter` with every accepting
/// `ret #k` returning `snaplen` (what the kernel then copies of the packet),
/// or, for an empty filter, a program accepting every packet with `snaplen`
/// bytes.
///
/// # Errors
/// libpcap's message when the filter does not compile.
pub fn socket_filter(filter: &str, snaplen: u32) -> Result<Vec<Insn>, String> {
    if filter.trim().is_empty() {
        return Ok(vec![Insn {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: snaplen,
        }]);
    }
    let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET).map_err(|e| e.to_string())?;
    let program = dead.compile(filter, true).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for insn in program.get_instructions() {
        // The `pcap` crate shows an instruction as "code jt jf k" and has
        // no other accessor for its fields.
        let shown = insn.to_string();
        let mut f = shown.split(' ');
        let mut next = || f.next().unwrap_or("");
        let parsed = (
            next().parse::<u16>(),
            next().parse::<u8>(),
            next().parse::<u8>(),
            next().parse::<u32>(),
        );
        let (Ok(code), Ok(jt), Ok(jf), Ok(k)) = parsed else {
            return Err(format!("unexpected compiled instruction {shown:?}"));
        };
        let k = if code == RET_K && k != 0 { snaplen } else { k };
        out.push(Insn { code, jt, jf, k });
    }
    if out.is_empty() || out.len() > MAX_INSNS {
        return Err(format!("compiled program has {} instructions", out.len()));
    }
    Ok(out)
}

/// A program that accepts nothing (used while a fanout group is set up).
pub fn drop_all() -> Vec<Insn> {
    vec![Insn {
        code: RET_K,
        jt: 0,
        jf: 0,
        k: 0,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::pcap_file::PcapFile;
    use crate::capture::RawPacket;

    /// A classic BPF interpreter for the instructions the programs here use,
    /// with `SKF_LL_OFF` loads reading `frame` (a test-only model of the
    /// kernel's; the integration tests run the programs in the kernel).
    fn run(prog: &[Insn], frame: &[u8]) -> u32 {
        let (mut a, mut x, mut m) = (0u32, 0u32, [0u32; 16]);
        let mut pc = 0usize;
        let load = |at: i64, size: usize| -> Option<u32> {
            let at = usize::try_from(at - i64::from(SKF_LL_OFF)).ok()?;
            let b = frame.get(at..at + size)?;
            Some(b.iter().fold(0u32, |v, &b| (v << 8) | u32::from(b)))
        };
        loop {
            let i = prog[pc];
            pc += 1;
            let class = i.code & 0x07;
            let size = match i.code & 0x18 {
                W => 4,
                H => 2,
                _ => 1,
            };
            match class {
                LD => match i.code & 0xe0 {
                    IMM => a = i.k,
                    IND => match load(i64::from(i.k as i32) + i64::from(x), size) {
                        Some(v) => a = v,
                        None => return 0,
                    },
                    MEM => a = m[i.k as usize],
                    c => panic!("ld mode {c:#x}"),
                },
                LDX => match i.code & 0xe0 {
                    IMM => x = i.k,
                    MEM => x = m[i.k as usize],
                    c => panic!("ldx mode {c:#x}"),
                },
                ST => m[i.k as usize] = a,
                ALU => {
                    let v = if i.code & SRC_X != 0 { x } else { i.k };
                    a = match i.code & 0xf0 {
                        ADD => a.wrapping_add(v),
                        SUB => a.wrapping_sub(v),
                        MUL => a.wrapping_mul(v),
                        OR => a | v,
                        AND => a & v,
                        LSH => a << v,
                        RSH => a >> v,
                        MOD => a % v,
                        XOR => a ^ v,
                        c => panic!("alu {c:#x}"),
                    }
                }
                JMP => {
                    let v = if i.code & SRC_X != 0 { x } else { i.k };
                    let cond = match i.code & 0xf0 {
                        JA => {
                            pc += i.k as usize;
                            continue;
                        }
                        JEQ => a == v,
                        JGT => a > v,
                        JGE => a >= v,
                        JSET => a & v != 0,
                        c => panic!("jmp {c:#x}"),
                    };
                    pc += usize::from(if cond { i.jt } else { i.jf });
                }
                RET => return if i.code & RET_A != 0 { a } else { i.k },
                MISC => {
                    if i.code & TXA != 0 {
                        a = x
                    } else {
                        x = a
                    }
                }
                c => panic!("class {c:#x}"),
            }
        }
    }

    /// The kernel's classic program checks (`bpf_check_classic`): jumps in
    /// range, scratch words in range and stored before every load on every
    /// path (where, as in the kernel, the code after a `ret` counts as
    /// reached from it), shift amounts below 32, a return at the end.
    fn kernel_check(prog: &[Insn]) -> Result<(), String> {
        let n = prog.len();
        if n == 0 || n > MAX_INSNS {
            return Err("length".into());
        }
        for (pc, i) in prog.iter().enumerate() {
            let class = i.code & 0x07;
            match (class, i.code & 0xe0) {
                (LD | LDX, MEM) | (ST, _) if i.k >= 16 => return Err(format!("{pc}: mem {}", i.k)),
                _ => {}
            }
            if class == JMP {
                if i.code & 0xf0 == JA {
                    if i.k as usize >= n - pc - 1 {
                        return Err(format!("{pc}: ja {}", i.k));
                    }
                } else if pc + usize::from(i.jt) + 1 >= n || pc + usize::from(i.jf) + 1 >= n {
                    return Err(format!("{pc}: jump out"));
                }
            }
            if class == ALU && i.code & SRC_X == 0 {
                match i.code & 0xf0 {
                    LSH | RSH if i.k >= 32 => return Err(format!("{pc}: shift")),
                    MOD if i.k == 0 => return Err(format!("{pc}: mod 0")),
                    _ => {}
                }
            }
        }
        if prog[n - 1].code & 0x07 != RET {
            return Err("no final ret".into());
        }
        // check_load_and_stores
        let mut masks = vec![u16::MAX; n];
        let mut valid: u16 = 0;
        for (pc, i) in prog.iter().enumerate() {
            valid &= masks[pc];
            let class = i.code & 0x07;
            match (class, i.code & 0xe0) {
                (ST, _) => valid |= 1 << i.k,
                (LD | LDX, MEM) if valid & (1 << i.k) == 0 => {
                    return Err(format!("{pc}: load of M[{}] before a store", i.k))
                }
                _ => {}
            }
            if class == JMP {
                if i.code & 0xf0 == JA {
                    masks[pc + 1 + i.k as usize] &= valid;
                } else {
                    masks[pc + 1 + usize::from(i.jt)] &= valid;
                    masks[pc + 1 + usize::from(i.jf)] &= valid;
                }
                valid = u16::MAX;
            }
        }
        Ok(())
    }

    #[test]
    fn programs_build_for_every_worker_count_and_fit_the_kernel() {
        assert!(fanout_program(0).is_none());
        assert!(fanout_program(MAX_WORKERS + 1).is_none());
        for n in 1..=MAX_WORKERS {
            let p = fanout_program(n).unwrap();
            kernel_check(&p).unwrap_or_else(|e| panic!("{n} workers: {e}"));
        }
        let p = fanout_program(2).unwrap();
        eprintln!("fanout program: {} instructions", p.len());
    }

    /// Every capture the shard tests read.
    fn captures() -> Vec<String> {
        let mut out = Vec::new();
        let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")];
        dirs.extend(virga_test_support::shared_path("corpus/clients"));
        dirs.extend(virga_test_support::shared_path("corpus/clients_hard"));
        while let Some(d) = dirs.pop() {
            let rd = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                    out.push(p.to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    /// The program (in the model interpreter) picks the worker
    /// `shard::shard` picks, for every Ethernet packet of the test captures,
    /// for several worker counts, and for the frame with its VLAN tags.
    #[test]
    fn fanout_program_matches_shard_on_every_packet() {
        let progs: Vec<(usize, Vec<Insn>)> = [2usize, 3, 4, 7, 16, 1000]
            .iter()
            .map(|&n| (n, fanout_program(n).unwrap()))
            .collect();
        let (mut packets, mut differ) = (0u64, 0u64);
        for path in captures() {
            let Ok(mut f) = PcapFile::open(&path) else {
                continue;
            };
            while let Ok(Some(p)) = f.next_packet() {
                if p.linktype != 1 {
                    continue;
                }
                packets += 1;
                for (n, prog) in &progs {
                    let got = run(prog, p.data) as usize;
                    assert!(got < *n);
                    if got != crate::shard::shard(&p, *n) {
                        differ += 1;
                    }
                }
                // The same frame with one 802.1Q tag: the same worker.
                if p.data.len() > 14 {
                    let mut tagged = p.data[..12].to_vec();
                    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
                    tagged.extend_from_slice(&p.data[12..]);
                    let t = RawPacket { data: &tagged, ..p };
                    assert_eq!(
                        run(&progs[1].1, &tagged) as usize,
                        crate::shard::shard(&t, 3),
                        "{path} #{} tagged",
                        p.pcap_cnt
                    );
                }
            }
        }
        eprintln!("{packets} packets, {differ} choices differ from shard()");
        assert!(packets > 1000, "only {packets} packets");
        assert_eq!(differ, 0);
    }

    /// An Ethernet frame with `tags` 802.1Q tags, IPv4 or IPv6 (per the
    /// address family), protocol `proto` (6, 17 or other), the ports, and
    /// for IPv4 the flags and fragment offset word `frag`.
    fn frame(
        tags: usize,
        src: std::net::IpAddr,
        dst: std::net::IpAddr,
        proto: u8,
        ports: (u16, u16),
        frag: u16,
    ) -> Vec<u8> {
        use std::net::IpAddr;
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        for t in 0..tags {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 10 + t as u8]);
        }
        let mut l4 = Vec::new();
        l4.extend_from_slice(&ports.0.to_be_bytes());
        l4.extend_from_slice(&ports.1.to_be_bytes());
        match proto {
            6 => {
                l4.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
            }
            17 => l4.extend_from_slice(&[0, 16, 0, 0]),
            _ => l4.extend_from_slice(&[0; 4]),
        }
        l4.extend_from_slice(b"payload!");
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                f.extend_from_slice(&[0x08, 0x00]);
                let total = (20 + l4.len()) as u16;
                let mut h = vec![0x45, 0];
                h.extend_from_slice(&total.to_be_bytes());
                h.extend_from_slice(&[0x12, 0x34]);
                h.extend_from_slice(&frag.to_be_bytes());
                h.extend_from_slice(&[64, proto, 0, 0]);
                h.extend_from_slice(&s.octets());
                h.extend_from_slice(&d.octets());
                let mut sum = 0u32;
                for w in h.chunks(2) {
                    sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
                }
                while sum > 0xffff {
                    sum = (sum & 0xffff) + (sum >> 16);
                }
                h[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
                f.extend_from_slice(&h);
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
                f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
                f.extend_from_slice(&[proto, 64]);
                f.extend_from_slice(&s.octets());
                f.extend_from_slice(&d.octets());
            }
            _ => unreachable!("one family"),
        }
        f.extend_from_slice(&l4);
        f
    }

    /// Generated frames beyond the captures: IPv6, VLAN tags, fragments,
    /// ICMP, equal ports, server ports on both sides. Whole TCP/UDP
    /// datagrams get `shard`'s worker; every frame gets the same worker in
    /// both directions.
    #[test]
    fn fanout_program_matches_shard_on_generated_frames() {
        let progs: Vec<(usize, Vec<Insn>)> = [2usize, 3, 5, 16]
            .iter()
            .map(|&n| (n, fanout_program(n).unwrap()))
            .collect();
        let ports = [
            53u16, 443, 80, 22, 123, 1000, 5353, 8080, 40_000, 50_000, 65_535,
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut checked, mut fragments_differ) = (0u64, 0u64);
        for round in 0..4000 {
            let v6 = round % 2 == 1;
            let addr = |r: u64| -> std::net::IpAddr {
                if v6 {
                    let mut o = [0u8; 16];
                    o[0] = 0x20;
                    o[1] = 0x01;
                    o[8..].copy_from_slice(&r.to_be_bytes());
                    if r.is_multiple_of(4) {
                        o[15] = 1;
                        o[8..15].fill(0);
                    }
                    std::net::IpAddr::from(o)
                } else {
                    std::net::IpAddr::from(((r as u32) % 64).to_be_bytes().map(|b| b | 10))
                }
            };
            let (s, d) = (addr(rnd()), addr(rnd()));
            let proto = [6u8, 17, 17, 6, 1][round / 2 % 5];
            let sp = ports[(rnd() % ports.len() as u64) as usize];
            let dp = if rnd().is_multiple_of(7) {
                sp
            } else {
                ports[(rnd() % ports.len() as u64) as usize]
            };
            let tags = (rnd() % 3) as usize;
            let frag = if !v6 && rnd().is_multiple_of(5) {
                [0x2000u16, 0x0010, 0x2020][(rnd() % 3) as usize]
            } else {
                0
            };
            let there = frame(tags, s, d, proto, (sp, dp), frag);
            let back = frame(tags, d, s, proto, (dp, sp), frag);
            for (n, prog) in &progs {
                let (a, b) = (run(prog, &there), run(prog, &back));
                assert_eq!(a, b, "{n} workers: directions differ: {there:02x?}");
                let p = RawPacket {
                    ts: crate::time::Timestamp(0),
                    linktype: 1,
                    data: &there,
                    wire_len: there.len() as u32,
                    pcap_cnt: 1,
                };
                let want = crate::shard::shard(&p, *n) as u32;
                if frag != 0 {
                    fragments_differ += u64::from(a != want);
                } else {
                    assert_eq!(a, want, "{n} workers: {there:02x?}");
                    checked += 1;
                }
            }
        }
        eprintln!(
            "{checked} generated choices equal shard(); \
             {fragments_differ} fragment choices differ from shard()"
        );
    }

    #[test]
    fn hostile_frames_give_a_valid_worker() {
        let prog = fanout_program(5).unwrap();
        for len in 0..80 {
            let mut f = vec![0u8; len];
            if len > 14 {
                f[12] = 0x08;
                f[14] = 0x45;
            }
            assert!(run(&prog, &f) < 5);
            let g = vec![0xffu8; len];
            assert!(run(&prog, &g) < 5);
        }
    }

    #[test]
    fn socket_filter_applies_the_snap_length() {
        let all = socket_filter("", 96).unwrap();
        assert_eq!(
            all,
            vec![Insn {
                code: RET_K,
                jt: 0,
                jf: 0,
                k: 96
            }]
        );
        let tcp = socket_filter("tcp", 200).unwrap();
        assert!(tcp.iter().any(|i| i.code == RET_K && i.k == 200));
        assert!(tcp
            .iter()
            .all(|i| i.code != RET_K || i.k == 0 || i.k == 200));
        assert!(socket_filter("tcp and and", 200).is_err());
    }
}
