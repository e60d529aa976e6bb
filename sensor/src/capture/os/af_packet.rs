//! Live capture through AF_PACKET sockets, one TPACKET_V3 ring per worker,
//! joined in one `PACKET_FANOUT` group (Linux only).
//!
//! [`open_group`] opens one socket per worker on an interface. The kernel
//! hands every packet to exactly one socket of the group, chosen by a
//! classic BPF fanout program (`PACKET_FANOUT_CBPF`,
//! [`crate::capture::cbpf::fanout_program`]): the program returns the worker of the
//! packet's *client address* — the side not on a well-known server port,
//! else the side with the higher port, else the lower address — the rule
//! and the hash of [`crate::shard::shard`], so socket `i` receives what
//! `shard` sends to worker `i`: both directions of a flow, and a client's
//! DNS answers and its connections, reach the same worker. (The kernel's
//! own `PACKET_FANOUT_HASH` is per flow, which would split a client's DNS
//! from its connections.)
//!
//! Each socket has its own memory-mapped RX ring of blocks; the kernel
//! fills a block with frames and hands it over when it is full or after the
//! block timeout ([`RingGeometry::retire_ms`]). [`AfPacketSource`] walks
//! the frames of the block it holds and returns each one borrowed from the
//! ring (no copy); the block goes back to the kernel when the next packet is
//! asked for after its last frame. Every offset and length the kernel
//! writes into the ring is checked against the block before it is used: a
//! frame that does not fit ends its block (counted in
//! [`AfPacketSource::malformed_frames`]), it is never read out of bounds.
//!
//! The socket filter is the configured BPF filter compiled by libpcap for
//! Ethernet, with the snap length as its accept value (how the kernel
//! truncates a packet socket's frames). The kernel moves an 802.1Q tag into
//! the frame's metadata before packet sockets see it; like libpcap, the tag
//! is put back into the frame (in place: the ring reserves four bytes in
//! front of every frame; a frame without that room is copied to a small
//! per-source buffer). The filter sees the frame without that tag, so
//! `vlan` filter expressions compiled for Ethernet do not match tagged
//! traffic here; use `method = "pcap"` for them.
//!
//! A read waits at most [`READ_TIMEOUT_MS`] (`poll(2)` on the socket), then
//! returns [`Next::Idle`]. When the interface goes down or away the socket
//! reports it and the read returns [`CaptureError::Read`], as libpcap live
//! capture does.
//!
//! Timestamps are the kernel's nanosecond ones. Link type: Ethernet only
//! (and the loopback device, whose frames carry an Ethernet header); other
//! interfaces are refused at open.
//!
//! One worker gets a socket without a fanout group. Groups need a kernel
//! with classic BPF fanout and kernel-chosen group ids
//! (`PACKET_FANOUT_CBPF`, `PACKET_FANOUT_FLAG_UNIQUEID`, both from the
//! Linux 4 series): the kernel picks an id no other group in the network
//! namespace uses, so two sensors (or two groups of one) never share a
//! group. On an older kernel [`open_group`] fails and says which step.
//!
//! # Why this module uses `unsafe`
//! The ring is memory shared with the kernel (`mmap(2)`), and the socket
//! options it needs (`PACKET_RX_RING`, `PACKET_FANOUT`, `PACKET_FANOUT_DATA`,
//! `SO_ATTACH_FILTER`, `PACKET_STATISTICS`) have no safe wrapper in `libc`,
//! `rustix` or `nix`; no maintained crate wraps a TPACKET_V3 ring with a
//! fanout group. So the few system calls and the ring access are written
//! here on `libc`, each `unsafe` block with the reason it is sound. The rest
//! of the sensor stays free of `unsafe`.
#![allow(unsafe_code)]

use crate::capture::cbpf::{self, Insn};
use crate::capture::{CaptureError, CaptureStats, Next, PacketSource, RawPacket};
use crate::time::Timestamp;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// How long one read waits for a packet before reporting [`Next::Idle`], in
/// milliseconds (as for libpcap live capture).
pub const READ_TIMEOUT_MS: i32 = crate::capture::live::READ_TIMEOUT_MS;

/// LINKTYPE_ETHERNET.
const LINKTYPE_ETHERNET: u32 = 1;

// linux/if_packet.h values `libc` does not export.
const TPACKET_V3: libc::c_int = 2;
const PACKET_MR_PROMISC: libc::c_ushort = 1;

// Layout of `struct tpacket_block_desc` (with `tpacket_hdr_v1`) and of
// `struct tpacket3_hdr` (linux/if_packet.h; a test checks them against
// `libc`'s definitions).
const BLOCK_STATUS: usize = 8;
const BLOCK_NUM_PKTS: usize = 12;
const BLOCK_FIRST_PKT: usize = 16;
const BLOCK_DESC_LEN: usize = 48;
const HDR_NEXT: usize = 0;
const HDR_SEC: usize = 4;
const HDR_NSEC: usize = 8;
const HDR_SNAPLEN: usize = 12;
const HDR_LEN: usize = 16;
const HDR_STATUS: usize = 20;
const HDR_MAC: usize = 24;
const HDR_VLAN_TCI: usize = 32;
const HDR_VLAN_TPID: usize = 36;
const HDR_SIZE: usize = 48;
/// `tpacket3_hdr` padded to 16 bytes, then the `sockaddr_ll` the kernel
/// writes after it: a frame's bytes start after this.
const FRAME_HEADERS: usize = HDR_SIZE + 20;
/// Bytes reserved in front of each frame (`PACKET_RESERVE`), room for a
/// VLAN tag put back.
const VLAN_TAG_LEN: usize = 4;

/// Largest block size chosen when the buffer allows (1 MiB).
const MAX_BLOCK: u32 = 1 << 20;
/// Blocks a ring keeps when the buffer allows. On a slow link every block
/// is handed over after the block timeout however little it holds, so the
/// number of blocks, not their size, is how long a reader may stall without
/// loss there (64 blocks of 10 ms: 640 ms).
const MIN_BLOCKS: u32 = 64;
/// The block timeout in immediate mode, in milliseconds: the most a packet
/// waits in a block that is not full. (libpcap avoids the wait by using
/// TPACKET_V2 in immediate mode; a V3 ring always has one.)
pub const IMMEDIATE_RETIRE_MS: u32 = 10;
/// Frame size given to the kernel: with TPACKET_V3 it only has to divide the
/// block and hold the frame headers; frames are packed by their real size.
const FRAME_SIZE: u32 = 2048;

/// How a worker's share of the capture buffer is cut into ring blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingGeometry {
    /// Bytes per block: a power of two, at least a page and large enough for
    /// one frame of the snap length.
    pub block_size: u32,
    /// Blocks in the ring (at least 2).
    pub block_nr: u32,
    /// `tp_frame_size`: 2048 bytes (with TPACKET_V3 it only has to divide
    /// the block; frames are packed by their real size).
    pub frame_size: u32,
    /// `tp_frame_nr`: `block_nr * block_size / frame_size`.
    pub frame_nr: u32,
    /// How long the kernel keeps a block that is not full before handing it
    /// over, in milliseconds: [`IMMEDIATE_RETIRE_MS`] in immediate mode,
    /// else the read timeout (as libpcap uses its timeout).
    pub retire_ms: u32,
}

impl RingGeometry {
    /// The geometry for `buffer_bytes` divided over `workers` rings, frames
    /// of up to `snaplen` bytes and pages of `page` bytes: blocks grow from
    /// the smallest that holds one frame up to 1 MiB as long as the ring
    /// keeps at least 64 of them; a share smaller than two blocks
    /// still gets two.
    pub fn new(
        buffer_bytes: u32,
        workers: usize,
        snaplen: u32,
        page: u32,
        immediate: bool,
    ) -> RingGeometry {
        let workers = u32::try_from(workers.max(1)).unwrap_or(u32::MAX);
        let share = buffer_bytes / workers;
        // Block header, frame headers, the VLAN reserve and alignment slack.
        let need = snaplen
            .saturating_add((BLOCK_DESC_LEN + FRAME_HEADERS + 16 + VLAN_TAG_LEN + 32) as u32);
        let mut block = need
            .max(page)
            .max(FRAME_SIZE)
            .checked_next_power_of_two()
            .unwrap_or(1 << 31);
        while block < MAX_BLOCK && share / block.saturating_mul(2) >= MIN_BLOCKS {
            block *= 2;
        }
        let block_nr = (share / block).max(2);
        RingGeometry {
            block_size: block,
            block_nr,
            frame_size: FRAME_SIZE,
            frame_nr: block_nr.saturating_mul(block / FRAME_SIZE),
            retire_ms: if immediate {
                IMMEDIATE_RETIRE_MS
            } else {
                READ_TIMEOUT_MS.unsigned_abs()
            },
        }
    }

    /// Bytes of the ring.
    pub fn bytes(&self) -> usize {
        self.block_size as usize * self.block_nr as usize
    }
}

/// The memory-mapped ring of one socket; unmapped on drop.
struct Ring {
    base: NonNull<u8>,
    block_size: usize,
    blocks: usize,
}

// SAFETY: the mapping is owned by this value alone (nothing else holds its
// address), so moving it to another thread moves sole access with it; the
// kernel side synchronises through the block status words.
unsafe impl Send for Ring {}

impl Ring {
    fn map(fd: &OwnedFd, g: &RingGeometry) -> io::Result<Ring> {
        let len = g.bytes();
        // SAFETY: a fresh shared mapping of the socket's ring (the kernel
        // sized it from the PACKET_RX_RING request just made); no existing
        // memory is touched, and the result is checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("null mapping"))?;
        Ok(Ring {
            base,
            block_size: g.block_size as usize,
            blocks: g.block_nr as usize,
        })
    }

    /// The status word of block `i`.
    fn status(&self, i: usize) -> &AtomicU32 {
        debug_assert!(i < self.blocks);
        // SAFETY: `i < blocks`, so the word lies inside the mapping; blocks
        // start page-aligned and the word is at offset 8, so it is aligned
        // for u32. The kernel and this process both access it atomically
        // (the kernel with its own barriers), which is what AtomicU32 models.
        unsafe {
            AtomicU32::from_ptr(
                self.base
                    .as_ptr()
                    .add(i * self.block_size + BLOCK_STATUS)
                    .cast::<u32>(),
            )
        }
    }

    /// Whether block `i` belongs to user space (filled by the kernel).
    fn ready(&self, i: usize) -> bool {
        self.status(i).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0
    }

    /// Hands block `i` back to the kernel.
    fn release(&self, i: usize) {
        self.status(i)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
    }

    /// Block `i`'s bytes. Only call for a block that [`Ring::ready`] said
    /// belongs to user space and that has not been released since.
    fn block(&self, i: usize) -> &[u8] {
        debug_assert!(i < self.blocks);
        // SAFETY: the range is inside the mapping (`i < blocks`). The block
        // belongs to user space (status TP_STATUS_USER, read with Acquire,
        // so the kernel's writes to it are visible) and the kernel does not
        // write to it until `release`, which takes `&self` only after every
        // borrow from here has ended (callers hold `&mut AfPacketSource`).
        unsafe {
            std::slice::from_raw_parts(self.base.as_ptr().add(i * self.block_size), self.block_size)
        }
    }

    /// As [`Ring::block`], writable (to put a VLAN tag back in place).
    fn block_mut(&mut self, i: usize) -> &mut [u8] {
        debug_assert!(i < self.blocks);
        // SAFETY: as for `block`; `&mut self` makes this the only borrow of
        // the ring's memory from this process while it lives.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.base.as_ptr().add(i * self.block_size),
                self.block_size,
            )
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `Ring::map`; no borrow
        // of it can outlive `self`.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.block_size * self.blocks);
        }
    }
}

/// Where the reader is inside the block it holds.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    /// Offset of the next frame header in the block.
    next: usize,
    /// Frames left in the block.
    left: u32,
}

/// A frame located and checked in the held block.
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Offset of the frame's header in the block.
    hdr: usize,
    /// Offset of the first captured byte (the MAC header) in the block.
    mac: usize,
    /// Captured bytes.
    caplen: usize,
    /// Bytes on the wire.
    wire_len: u32,
    ts: Timestamp,
    /// TPID and TCI of a tag the kernel took out of the frame.
    vlan: Option<(u16, u16)>,
    /// `tp_next_offset`.
    next_offset: usize,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// Reads and checks the frame header at `at` of `block`: `None` if the
/// header or the frame's bytes do not lie inside the block.
fn parse_frame(block: &[u8], at: usize) -> Option<Frame> {
    if at < BLOCK_DESC_LEN {
        return None;
    }
    let h = block.get(at..at.checked_add(HDR_SIZE)?)?;
    let mac = at + usize::from(u16_at(h, HDR_MAC)?);
    let caplen = usize::try_from(u32_at(h, HDR_SNAPLEN)?).ok()?;
    if mac < at + HDR_SIZE || mac.checked_add(caplen)? > block.len() {
        return None;
    }
    let status = u32_at(h, HDR_STATUS)?;
    let tci = u32_at(h, HDR_VLAN_TCI)?;
    let vlan = (status & libc::TP_STATUS_VLAN_VALID != 0 || tci != 0).then(|| {
        let tpid = u16_at(h, HDR_VLAN_TPID).unwrap_or(0);
        let tpid = if status & libc::TP_STATUS_VLAN_TPID_VALID != 0 && tpid != 0 {
            tpid
        } else {
            0x8100
        };
        (tpid, tci as u16)
    });
    Some(Frame {
        hdr: at,
        mac,
        caplen,
        wire_len: u32_at(h, HDR_LEN)?,
        ts: Timestamp::from_secs_nanos(
            i64::from(u32_at(h, HDR_SEC)?),
            u32_at(h, HDR_NSEC)?.min(999_999_999),
        ),
        vlan,
        next_offset: usize::try_from(u32_at(h, HDR_NEXT)?).ok()?,
    })
}

/// One worker's socket of a fanout group and its ring: a [`PacketSource`].
pub struct AfPacketSource {
    ring: Ring,
    fd: OwnedFd,
    interface: String,
    worker: usize,
    geometry: RingGeometry,
    snaplen: usize,
    /// The block the reader is at.
    block: usize,
    /// Set while the reader holds `block`.
    cursor: Option<Cursor>,
    count: u64,
    totals: CaptureStats,
    freezes: u64,
    malformed: u64,
    /// Tagged frames without room in front of them in the ring.
    scratch: Vec<u8>,
}

impl std::fmt::Debug for AfPacketSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfPacketSource")
            .field("interface", &self.interface)
            .field("worker", &self.worker)
            .field("geometry", &self.geometry)
            .field("count", &self.count)
            .finish()
    }
}

/// Sorts an OS error of setting up `interface` into the variants the
/// command line reports; `what` names the step.
fn os_error(interface: &str, what: &str, e: &io::Error) -> CaptureError {
    let interface = interface.to_string();
    let reason = format!("{what}: {e}");
    match e.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => CaptureError::PermissionDenied { interface, reason },
        Some(libc::ENODEV | libc::ENXIO) => CaptureError::NoSuchInterface { interface, reason },
        _ => CaptureError::Interface { interface, reason },
    }
}

fn set_opt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<T>())
        .map_err(|_| io::Error::other("option too large"))?;
    // SAFETY: `value` is a live, initialised T of exactly `len` bytes for
    // the whole call, and setsockopt only reads it.
    let rc =
        unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (value as *const T).cast(), len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn get_opt<T: Copy>(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    mut value: T,
) -> io::Result<T> {
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<T>())
        .map_err(|_| io::Error::other("option too large"))?;
    // SAFETY: `value` is a valid, writable T and `len` its size, so the
    // kernel writes at most that many bytes into it; every option read here
    // is a plain integer struct, valid for any bytes written.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut T).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Attaches `prog` with `name` (`SO_ATTACH_FILTER` or `PACKET_FANOUT_DATA`).
fn attach(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, prog: &[Insn]) -> io::Result<()> {
    let mut insns: Vec<libc::sock_filter> = prog
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let fprog = libc::sock_fprog {
        len: u16::try_from(insns.len()).map_err(|_| io::Error::other("program too long"))?,
        filter: insns.as_mut_ptr(),
    };
    // `insns` outlives the call; the kernel copies the program.
    set_opt(fd, level, name, &fprog)
}

/// The page size.
fn page_size() -> u32 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u32::try_from(p).ok().filter(|&p| p > 0).unwrap_or(4096)
}

/// The index of `interface`.
fn if_index(interface: &str) -> Result<libc::c_int, CaptureError> {
    let name = std::ffi::CString::new(interface).map_err(|_| CaptureError::Interface {
        interface: interface.to_string(),
        reason: "interface name contains NUL".into(),
    })?;
    // SAFETY: `name` is a NUL-terminated string that lives across the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(os_error(
            interface,
            "no such interface",
            &io::Error::last_os_error(),
        ));
    }
    libc::c_int::try_from(index).map_err(|_| CaptureError::Interface {
        interface: interface.to_string(),
        reason: format!("interface index {index} out of range"),
    })
}

/// A new AF_PACKET socket that receives nothing yet: bound to `index` with
/// a ring of geometry `g`, a filter that drops everything, promiscuous mode
/// as asked. Returns the socket and its mapped ring.
fn open_socket(
    interface: &str,
    index: libc::c_int,
    g: &RingGeometry,
    promiscuous: bool,
) -> Result<(OwnedFd, Ring), CaptureError> {
    let fail = |what: &str| {
        let e = io::Error::last_os_error();
        os_error(interface, what, &e)
    };
    // Protocol 0: no packets until bound.
    // SAFETY: plain system call with integer arguments.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(fail("socket(AF_PACKET)"));
    }
    // SAFETY: `raw` is a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let err = |what: &str, e: io::Error| os_error(interface, what, &e);
    attach(
        &fd,
        libc::SOL_SOCKET,
        libc::SO_ATTACH_FILTER,
        &cbpf::drop_all(),
    )
    .map_err(|e| err("SO_ATTACH_FILTER", e))?;
    set_opt(&fd, libc::SOL_PACKET, libc::PACKET_VERSION, &TPACKET_V3)
        .map_err(|e| err("PACKET_VERSION (TPACKET_V3)", e))?;
    let reserve = VLAN_TAG_LEN as libc::c_uint;
    set_opt(&fd, libc::SOL_PACKET, libc::PACKET_RESERVE, &reserve)
        .map_err(|e| err("PACKET_RESERVE", e))?;
    let req = libc::tpacket_req3 {
        tp_block_size: g.block_size,
        tp_block_nr: g.block_nr,
        tp_frame_size: g.frame_size,
        tp_frame_nr: g.frame_nr,
        tp_retire_blk_tov: g.retire_ms,
        tp_sizeof_priv: 0,
        tp_feature_req_word: 0,
    };
    set_opt(&fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req).map_err(|e| {
        err(
            &format!(
                "PACKET_RX_RING ({} blocks of {} bytes)",
                g.block_nr, g.block_size
            ),
            e,
        )
    })?;
    let ring = Ring::map(&fd, g).map_err(|e| err("mmap of the ring", e))?;
    // SAFETY: sockaddr_ll is plain integers; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as libc::c_ushort;
    addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    addr.sll_ifindex = index;
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_ll of `len` bytes, read during the call.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            len,
        )
    };
    if rc != 0 {
        return Err(fail("bind"));
    }
    let mut bound = addr;
    let mut blen = len;
    // SAFETY: `bound` is a writable sockaddr_ll and `blen` its size; the
    // kernel writes at most that many bytes.
    let rc = unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            (&mut bound as *mut libc::sockaddr_ll).cast(),
            &mut blen,
        )
    };
    if rc != 0 {
        return Err(fail("getsockname"));
    }
    if !matches!(bound.sll_hatype, libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK) {
        return Err(CaptureError::Interface {
            interface: interface.to_string(),
            reason: format!(
                "AF_PACKET capture reads Ethernet interfaces only (hardware type {}); \
                 use capture.method = \"pcap\"",
                bound.sll_hatype
            ),
        });
    }
    if promiscuous {
        let mreq = libc::packet_mreq {
            mr_ifindex: index,
            mr_type: PACKET_MR_PROMISC,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        set_opt(&fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)
            .map_err(|e| err("PACKET_ADD_MEMBERSHIP (promiscuous)", e))?;
    }
    Ok((fd, ring))
}

/// Opens `workers` AF_PACKET sockets on `settings.interface`, each with its
/// TPACKET_V3 ring (a `workers`-th of `settings.buffer_size_bytes`), the
/// BPF filter and snap length of `settings`, promiscuous mode as set, all in
/// one fanout group that sends each packet to the worker of its client
/// address (see the module documentation). Source `i` is worker `i`.
///
/// One worker gets one socket and no fanout group.
///
/// Until every socket has joined the group, the sockets drop everything,
/// so no packet is seen twice while the group forms; the counters start at
/// zero once it has.
///
/// # Errors
/// [`CaptureError::NoSuchInterface`], [`CaptureError::PermissionDenied`]
/// (needs CAP_NET_RAW, and CAP_NET_ADMIN for promiscuous mode),
/// [`CaptureError::Filter`], or [`CaptureError::Interface`] (no interface
/// given, 0 or more than 1024 workers, not an Ethernet interface, a ring the
/// kernel refuses, a kernel without fanout); each names the interface.
pub fn open_group(
    settings: &virga_config::Capture,
    workers: usize,
) -> Result<Vec<AfPacketSource>, CaptureError> {
    let Some(interface) = settings.interface.as_deref() else {
        return Err(CaptureError::Interface {
            interface: String::new(),
            reason: "no interface given (use -i or capture.interface)".into(),
        });
    };
    let fanout = cbpf::fanout_program(workers).ok_or_else(|| CaptureError::Interface {
        interface: interface.to_string(),
        reason: format!(
            "{workers} workers: AF_PACKET capture takes 1 to {}",
            cbpf::MAX_WORKERS
        ),
    })?;
    let filter =
        cbpf::socket_filter(&settings.bpf_filter, settings.snaplen_bytes).map_err(|reason| {
            CaptureError::Filter {
                interface: interface.to_string(),
                filter: settings.bpf_filter.clone(),
                reason,
            }
        })?;
    let geometry = RingGeometry::new(
        settings.buffer_size_bytes,
        workers,
        settings.snaplen_bytes,
        page_size(),
        settings.immediate_mode,
    );
    let index = if_index(interface)?;
    let mut sources = Vec::with_capacity(workers);
    for worker in 0..workers {
        let (fd, ring) = open_socket(interface, index, &geometry, settings.promiscuous)?;
        sources.push(AfPacketSource {
            ring,
            fd,
            interface: interface.to_string(),
            worker,
            geometry,
            snaplen: settings.snaplen_bytes as usize,
            block: 0,
            cursor: None,
            count: 0,
            totals: CaptureStats::default(),
            freezes: 0,
            malformed: 0,
            scratch: Vec::new(),
        });
    }
    if workers > 1 {
        join_fanout(interface, &sources, &fanout)?;
    }
    for s in &mut sources {
        attach(&s.fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &filter)
            .map_err(|e| os_error(interface, "SO_ATTACH_FILTER", &e))?;
        // Reading the statistics resets them: start from zero.
        let _ = s.read_kernel_stats();
        s.totals = CaptureStats::default();
        s.freezes = 0;
    }
    Ok(sources)
}

/// Joins the sockets, in order, to one new fanout group with the program
/// `fanout`.
fn join_fanout(
    interface: &str,
    sources: &[AfPacketSource],
    fanout: &[Insn],
) -> Result<(), CaptureError> {
    let err = |what: &str, e: io::Error| os_error(interface, what, &e);
    let mode = libc::PACKET_FANOUT_CBPF;
    let Some((first, rest)) = sources.split_first() else {
        return Ok(());
    };
    // The kernel picks an id no group uses yet; the others join by it.
    let arg = ((mode | libc::PACKET_FANOUT_FLAG_UNIQUEID) << 16) as libc::c_int;
    set_opt(&first.fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg)
        .map_err(|e| err("PACKET_FANOUT (new group)", e))?;
    let got: libc::c_int = get_opt(&first.fd, libc::SOL_PACKET, libc::PACKET_FANOUT, 0)
        .map_err(|e| err("PACKET_FANOUT (group id)", e))?;
    let id = (got as u32) & 0xffff;
    attach(
        &first.fd,
        libc::SOL_PACKET,
        libc::PACKET_FANOUT_DATA,
        fanout,
    )
    .map_err(|e| err("PACKET_FANOUT_DATA (fanout program)", e))?;
    let arg = (id | (mode << 16)) as libc::c_int;
    for s in rest {
        set_opt(&s.fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg)
            .map_err(|e| err("PACKET_FANOUT (join)", e))?;
    }
    Ok(())
}

impl AfPacketSource {
    /// This source's worker index in its group.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The ring's geometry.
    pub fn geometry(&self) -> RingGeometry {
        self.geometry
    }

    /// How often the kernel found this ring full (`tp_freeze_q_cnt`, summed
    /// over [`PacketSource::stats`] calls): a count of episodes, not packets
    /// (the packets lost are in `kernel_drops`).
    pub fn ring_full_events(&self) -> u64 {
        self.freezes
    }

    /// Frames or blocks skipped because the offsets or lengths in their
    /// headers did not fit the block (never seen from a sound kernel).
    pub fn malformed_frames(&self) -> u64 {
        self.malformed
    }

    /// Adds the kernel's counters since the last read to the totals.
    fn read_kernel_stats(&mut self) -> io::Result<()> {
        let st = get_opt(
            &self.fd,
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            libc::tpacket_stats_v3 {
                tp_packets: 0,
                tp_drops: 0,
                tp_freeze_q_cnt: 0,
            },
        )?;
        self.totals.received += u64::from(st.tp_packets);
        self.totals.kernel_drops += u64::from(st.tp_drops);
        self.freezes += u64::from(st.tp_freeze_q_cnt);
        Ok(())
    }

    /// Gives the held block back and moves to the next one.
    fn release(&mut self) {
        if self.cursor.take().is_some() {
            self.ring.release(self.block);
            self.block = (self.block + 1) % self.ring.blocks;
        }
    }

    /// Takes the current block if the kernel has handed it over: its first
    /// frame and count, or `None` (block released) if they do not fit.
    fn take_block(&mut self) -> bool {
        if !self.ring.ready(self.block) {
            return false;
        }
        let b = self.ring.block(self.block);
        let first = u32_at(b, BLOCK_FIRST_PKT).and_then(|v| usize::try_from(v).ok());
        let n = u32_at(b, BLOCK_NUM_PKTS);
        self.cursor = Some(Cursor {
            next: first.unwrap_or(0),
            left: n.unwrap_or(0),
        });
        true
    }

    /// Waits until the socket is readable or the read timeout passed.
    /// `Err` when the socket reports an error (the interface went down or
    /// away).
    fn wait(&mut self) -> Result<(), CaptureError> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let mut fds = [PollFd::new(
            &self.fd,
            PollFlags::IN | PollFlags::ERR | PollFlags::HUP,
        )];
        let timeout = Timespec {
            tv_sec: 0,
            tv_nsec: i64::from(READ_TIMEOUT_MS) * 1_000_000,
        };
        // EINTR (a signal) just ends the wait early.
        let _ = poll(&mut fds, Some(&timeout));
        let rev = fds[0].revents();
        if rev.intersects(PollFlags::ERR | PollFlags::HUP) {
            let code: libc::c_int =
                get_opt(&self.fd, libc::SOL_SOCKET, libc::SO_ERROR, 0).unwrap_or(libc::EIO);
            if code != 0 {
                let e = io::Error::from_raw_os_error(code);
                return Err(CaptureError::Read {
                    path: self.interface.clone(),
                    packets: self.count,
                    reason: e.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The next checked frame of the held block, advancing the cursor;
    /// `None` when the block is done (or broken, then counted).
    fn next_frame(&mut self) -> Option<Frame> {
        let c = self.cursor?;
        let (frame, next, lost) = step(self.ring.block(self.block), c);
        self.cursor = Some(next);
        self.malformed += u64::from(lost);
        frame
    }
}

/// One step of the walk through a held block: the frame at `c` (if any is
/// left and it fits), the cursor after it, and how many frames of the block
/// were given up because their headers do not fit (the frame itself, or the
/// ones after it when `tp_next_offset` does not lead forward inside the
/// block). Frames of a block are laid out in increasing order, so the walk
/// also always ends.
fn step(block: &[u8], c: Cursor) -> (Option<Frame>, Cursor, u32) {
    let done = Cursor {
        next: c.next,
        left: 0,
    };
    if c.left == 0 {
        return (None, done, 0);
    }
    let Some(f) = parse_frame(block, c.next) else {
        return (None, done, c.left);
    };
    let left = c.left - 1;
    let next = c.next.saturating_add(f.next_offset);
    if left > 0 && (f.next_offset < HDR_SIZE || next >= block.len()) {
        return (Some(f), done, left);
    }
    (Some(f), Cursor { next, left }, 0)
}

impl PacketSource for AfPacketSource {
    fn next_packet(&mut self) -> Result<Next<'_>, CaptureError> {
        let mut waited = false;
        let frame = loop {
            if self.cursor.is_some() {
                match self.next_frame() {
                    Some(f) => break f,
                    None => self.release(),
                }
            } else if !self.take_block() {
                if waited {
                    return Ok(Next::Idle);
                }
                self.wait()?;
                waited = true;
            }
        };
        self.count += 1;
        let (data, wire_len): (&[u8], u32) = match frame.vlan {
            None => (
                &self.ring.block(self.block)[frame.mac..frame.mac + frame.caplen],
                frame.wire_len,
            ),
            Some((tpid, tci)) if frame.caplen >= 12 => {
                let mut tag = [0u8; 4];
                tag[..2].copy_from_slice(&tpid.to_be_bytes());
                tag[2..].copy_from_slice(&tci.to_be_bytes());
                let wire_len = frame.wire_len.saturating_add(VLAN_TAG_LEN as u32);
                // The reserve lies between the kernel's headers (tpacket3_hdr and
                // sockaddr_ll) and the MAC header.
                let in_place = frame.mac >= frame.hdr + FRAME_HEADERS + VLAN_TAG_LEN;
                if in_place {
                    // Move the two MAC addresses four bytes forward into the
                    // reserve and write the tag behind them.
                    let start = frame.mac - VLAN_TAG_LEN;
                    let b = self.ring.block_mut(self.block);
                    b.copy_within(frame.mac..frame.mac + 12, start);
                    b[start + 12..start + 16].copy_from_slice(&tag);
                    (
                        &self.ring.block(self.block)[start..frame.mac + frame.caplen],
                        wire_len,
                    )
                } else {
                    let b = self.ring.block(self.block);
                    let src = &b[frame.mac..frame.mac + frame.caplen];
                    self.scratch.clear();
                    self.scratch.extend_from_slice(&src[..12]);
                    self.scratch.extend_from_slice(&tag);
                    self.scratch.extend_from_slice(&src[12..]);
                    (&self.scratch[..], wire_len)
                }
            }
            // Too short to hold the MAC addresses: delivered as captured.
            Some(_) => (
                &self.ring.block(self.block)[frame.mac..frame.mac + frame.caplen],
                frame.wire_len,
            ),
        };
        let data = &data[..data.len().min(self.snaplen)];
        Ok(Next::Packet(RawPacket {
            ts: frame.ts,
            linktype: LINKTYPE_ETHERNET,
            data,
            wire_len,
            pcap_cnt: self.count,
        }))
    }

    fn origin(&self) -> &str {
        &self.interface
    }

    fn is_live(&self) -> bool {
        true
    }

    /// Cumulative counters since [`open_group`]: `received` is the kernel's
    /// `tp_packets` (packets that passed the filter, including those then
    /// dropped), `kernel_drops` its `tp_drops` (ring full). Interface drops
    /// are not a per-socket number and stay 0, so the sum over a group's
    /// sources is the group's total.
    fn stats(&mut self) -> CaptureStats {
        // On failure the totals so far are still right.
        let _ = self.read_kernel_stats();
        self.totals
    }
}

impl AsFd for AfPacketSource {
    /// The socket (to wait on it alongside other descriptors).
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn a_source_can_move_to_its_worker_thread() {
        fn send<T: Send>() {}
        send::<AfPacketSource>();
    }

    #[test]
    fn ring_layout_matches_the_kernel_headers() {
        assert_eq!(size_of::<libc::tpacket3_hdr>(), HDR_SIZE);
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_next_offset), HDR_NEXT);
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_sec), HDR_SEC);
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_nsec), HDR_NSEC);
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_snaplen), HDR_SNAPLEN);
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_len), HDR_LEN);
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_status), HDR_STATUS);
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_mac), HDR_MAC);
        let hv1 = offset_of!(libc::tpacket3_hdr, hv1);
        assert_eq!(
            hv1 + offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tci),
            HDR_VLAN_TCI
        );
        assert_eq!(
            hv1 + offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tpid),
            HDR_VLAN_TPID
        );
        assert_eq!(size_of::<libc::tpacket_block_desc>(), BLOCK_DESC_LEN);
        assert_eq!(offset_of!(libc::tpacket_block_desc, hdr), 8);
        assert_eq!(
            offset_of!(libc::tpacket_hdr_v1, block_status),
            BLOCK_STATUS - 8
        );
        assert_eq!(
            offset_of!(libc::tpacket_hdr_v1, num_pkts),
            BLOCK_NUM_PKTS - 8
        );
        assert_eq!(
            offset_of!(libc::tpacket_hdr_v1, offset_to_first_pkt),
            BLOCK_FIRST_PKT - 8
        );
        assert_eq!(libc::TPACKET3_HDRLEN, FRAME_HEADERS);
    }

    #[test]
    fn ring_geometry() {
        let g = RingGeometry::new(32 << 20, 1, 65_535, 4096, true);
        assert_eq!((g.block_size, g.block_nr), (512 << 10, 64));
        assert_eq!(g.retire_ms, 10);
        let g = RingGeometry::new(32 << 20, 2, 65_535, 4096, false);
        assert_eq!(
            (g.block_size, g.block_nr, g.retire_ms),
            (256 << 10, 64, 100)
        );
        let g = RingGeometry::new(1 << 30, 2, 1514, 4096, true);
        assert_eq!((g.block_size, g.block_nr), (1 << 20, 512));
        let g = RingGeometry::new(65_536, 1, 64, 4096, true);
        assert_eq!((g.block_size, g.block_nr), (4096, 16));
        // A share smaller than two blocks of one frame still gets two.
        let g = RingGeometry::new(65_536, 4, 65_535, 4096, true);
        assert_eq!((g.block_size, g.block_nr), (128 << 10, 2));
        for buffer in [65_536u32, 1 << 20, 32 << 20, i32::MAX as u32] {
            for workers in [1usize, 2, 3, 7, 64, 1024] {
                for snap in [64u32, 1514, 65_535, 262_144] {
                    for page in [4096u32, 16_384, 65_536] {
                        let g = RingGeometry::new(buffer, workers, snap, page, true);
                        assert!(g.block_size.is_power_of_two());
                        assert_eq!(g.block_size % page, 0);
                        assert!(g.block_size as usize >= snap as usize + 200);
                        assert!(g.block_nr >= 2);
                        assert_eq!(
                            g.frame_nr as u64,
                            g.block_nr as u64 * (g.block_size / g.frame_size) as u64
                        );
                        let share = (buffer as usize / workers).max(2 * g.block_size as usize);
                        assert!(g.bytes() <= share, "{g:?}");
                    }
                }
            }
        }
    }

    /// A block as the kernel lays it out, with frames of the given bytes
    /// (the second one with a VLAN tag in its metadata).
    fn block_with(frames: &[&[u8]], size: usize) -> Vec<u8> {
        let mut b = vec![0u8; size];
        let first = BLOCK_DESC_LEN;
        b[BLOCK_NUM_PKTS..BLOCK_NUM_PKTS + 4].copy_from_slice(&(frames.len() as u32).to_ne_bytes());
        b[BLOCK_FIRST_PKT..BLOCK_FIRST_PKT + 4].copy_from_slice(&(first as u32).to_ne_bytes());
        let mut at = first;
        for (i, f) in frames.iter().enumerate() {
            let mac = 86usize;
            let len = (mac + f.len()).next_multiple_of(16);
            let put = |b: &mut Vec<u8>, off: usize, v: u32| {
                b[at + off..at + off + 4].copy_from_slice(&v.to_ne_bytes())
            };
            put(
                &mut b,
                HDR_NEXT,
                if i + 1 < frames.len() { len as u32 } else { 0 },
            );
            put(&mut b, HDR_SEC, 1_700_000_000 + i as u32);
            put(&mut b, HDR_NSEC, 123_456_789);
            put(&mut b, HDR_SNAPLEN, f.len() as u32);
            put(&mut b, HDR_LEN, f.len() as u32 + 10);
            if i == 1 {
                put(&mut b, HDR_STATUS, libc::TP_STATUS_VLAN_VALID);
                put(&mut b, HDR_VLAN_TCI, 42);
            }
            b[at + HDR_MAC..at + HDR_MAC + 2].copy_from_slice(&(mac as u16).to_ne_bytes());
            b[at + mac..at + mac + f.len()].copy_from_slice(f);
            at += len;
        }
        b
    }

    fn walk(block: &[u8]) -> (Vec<Frame>, u32) {
        let mut c = Cursor {
            next: u32_at(block, BLOCK_FIRST_PKT).unwrap_or(0) as usize,
            left: u32_at(block, BLOCK_NUM_PKTS).unwrap_or(0),
        };
        let (mut out, mut lost) = (Vec::new(), 0);
        // Each step consumes a frame or ends the walk.
        for _ in 0..=c.left {
            let (f, next, l) = step(block, c);
            lost += l;
            c = next;
            match f {
                Some(f) => {
                    assert!(f.mac + f.caplen <= block.len());
                    out.push(f);
                }
                None => break,
            }
        }
        assert_eq!(c.left, 0);
        (out, lost)
    }

    #[test]
    fn a_block_is_walked_frame_by_frame() {
        let frames: [&[u8]; 3] = [&[1; 60], &[2; 1514], &[3; 64]];
        let b = block_with(&frames, 8192);
        let (got, lost) = walk(&b);
        assert_eq!(lost, 0);
        assert_eq!(got.len(), 3);
        for (f, want) in got.iter().zip(frames) {
            assert_eq!(&b[f.mac..f.mac + f.caplen], want);
            assert_eq!(f.wire_len as usize, want.len() + 10);
        }
        assert_eq!(got[0].ts.0, 1_700_000_000 * 1_000_000_000 + 123_456_789);
        assert_eq!(got[0].vlan, None);
        assert_eq!(got[1].vlan, Some((0x8100, 42)));
    }

    #[test]
    fn hostile_blocks_never_read_out_of_bounds() {
        // A frame longer than the block, a next offset pointing back, a
        // first offset past the end: each ends the walk, counted.
        let mut b = block_with(&[&[1; 60], &[2; 60]], 4096);
        b[BLOCK_DESC_LEN + HDR_SNAPLEN..BLOCK_DESC_LEN + HDR_SNAPLEN + 4]
            .copy_from_slice(&5000u32.to_ne_bytes());
        let (got, lost) = walk(&b);
        assert_eq!((got.len(), lost), (0, 2));
        let mut b = block_with(&[&[1; 60], &[2; 60], &[3; 60]], 4096);
        b[BLOCK_DESC_LEN..BLOCK_DESC_LEN + 4].copy_from_slice(&0u32.to_ne_bytes());
        let (got, lost) = walk(&b);
        assert_eq!((got.len(), lost), (1, 2));
        let mut b = block_with(&[&[1; 60]], 4096);
        b[BLOCK_FIRST_PKT..BLOCK_FIRST_PKT + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(walk(&b).0.len(), 0);
        // Random bytes everywhere, and random headers in a sound block.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..3000 {
            let mut b = if round % 2 == 0 {
                (0..4096).map(|_| rnd() as u8).collect::<Vec<u8>>()
            } else {
                block_with(&[&[1; 60], &[2; 700], &[3; 64]], 4096)
            };
            for _ in 0..8 {
                let at = (rnd() % 4096) as usize;
                b[at] = rnd() as u8;
            }
            b[BLOCK_NUM_PKTS..BLOCK_NUM_PKTS + 4]
                .copy_from_slice(&((rnd() % 64) as u32).to_ne_bytes());
            walk(&b);
        }
    }

    fn settings(interface: Option<&str>) -> virga_config::Capture {
        virga_config::Capture {
            interface: interface.map(str::to_string),
            ..virga_config::Capture::default()
        }
    }

    #[test]
    fn bad_settings_are_named_errors() {
        let err = open_group(&settings(None), 2).unwrap_err();
        assert!(err.to_string().contains("no interface given"), "{err}");
        let err = open_group(&settings(Some("lo")), 0).unwrap_err();
        assert!(
            err.to_string().starts_with("lo: cannot capture: 0 workers"),
            "{err}"
        );
        let err = open_group(&settings(Some("lo")), 1025).unwrap_err();
        assert!(matches!(err, CaptureError::Interface { .. }), "{err}");
        let mut s = settings(Some("lo"));
        s.bpf_filter = "tcp and and".into();
        let err = open_group(&s, 2).unwrap_err();
        assert!(matches!(err, CaptureError::Filter { .. }), "{err}");
        let err = open_group(&settings(Some("vg-nonexistent0")), 2).unwrap_err();
        assert!(
            matches!(
                err,
                CaptureError::NoSuchInterface { .. } | CaptureError::PermissionDenied { .. }
            ),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("vg-nonexistent0: "), "{err}");
    }
}
