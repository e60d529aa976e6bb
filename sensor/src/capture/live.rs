//! Live source: an interface read through libpcap (`pcap_create` +
//! `pcap_activate`), with the `[capture]` settings of the configuration.
//!
//! Reads wait at most [`READ_TIMEOUT_MS`] for a packet, then return
//! [`Next::Idle`], so the caller can look at its shutdown and reload flags and
//! flush its output even on a quiet link. libpcap's own read timeout cannot do
//! this: on Linux (libpcap 1.10) a blocking read keeps waiting until a packet
//! arrives. So the handle is put in non-blocking mode and, when it has nothing,
//! we wait on its selectable descriptor with `poll(2)` (through `rustix`, a
//! safe wrapper) for at most the timeout. Timestamps are libpcap's microsecond
//! ones (supported on every platform, unlike nanosecond precision).

use super::{CaptureError, CaptureStats, Next, PacketSource, RawPacket};
use crate::time::Timestamp;

/// How long one read waits for a packet before reporting [`Next::Idle`], in
/// milliseconds: the longest a shutdown or reload request waits on a quiet link.
pub const READ_TIMEOUT_MS: i32 = 100;

/// An open interface, read packet by packet.
pub struct LiveCapture {
    cap: pcap::Capture<pcap::Active>,
    /// A duplicate of the capture descriptor to wait on (a separate field so
    /// waiting does not borrow the capture handle).
    wait_fd: std::os::fd::OwnedFd,
    interface: String,
    linktype: u32,
    count: u64,
}

impl std::fmt::Debug for LiveCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCapture")
            .field("interface", &self.interface)
            .field("linktype", &self.linktype)
            .field("count", &self.count)
            .finish()
    }
}

impl LiveCapture {
    /// Opens `settings.interface` with the snap length, kernel buffer size,
    /// promiscuous and immediate modes of `settings`, then installs its BPF
    /// filter (if not empty).
    ///
    /// # Errors
    /// [`CaptureError::NoSuchInterface`], [`CaptureError::PermissionDenied`],
    /// [`CaptureError::Filter`], or [`CaptureError::Interface`] for any other
    /// refusal; each names the interface. A missing interface name is
    /// [`CaptureError::Interface`] with the interface `""`.
    pub fn open(settings: &virga_config::Capture) -> Result<LiveCapture, CaptureError> {
        let Some(interface) = settings.interface.as_deref() else {
            return Err(CaptureError::Interface {
                interface: String::new(),
                reason: "no interface given (use -i or capture.interface)".into(),
            });
        };
        let fail = |e: pcap::Error| classify(interface, &e);
        let cap = pcap::Capture::from_device(interface)
            .map_err(fail)?
            .snaplen(i32::try_from(settings.snaplen_bytes).unwrap_or(i32::MAX))
            .buffer_size(i32::try_from(settings.buffer_size_bytes).unwrap_or(i32::MAX))
            .promisc(settings.promiscuous)
            .immediate_mode(settings.immediate_mode)
            .timeout(READ_TIMEOUT_MS);
        let mut cap = cap.open().map_err(fail)?.setnonblock().map_err(fail)?;
        if !settings.bpf_filter.trim().is_empty() {
            cap.filter(&settings.bpf_filter, true)
                .map_err(|e| CaptureError::Filter {
                    interface: interface.to_string(),
                    filter: settings.bpf_filter.clone(),
                    reason: e.to_string(),
                })?;
        }
        let linktype = super::pcap_file::linktype_of_dlt(cap.get_datalink().0);
        // The libpcap timeout still matters for TPACKET_V3 (non-immediate
        // mode): it is how long the kernel holds a partly filled block.
        let wait_fd = std::os::fd::AsFd::as_fd(&cap)
            .try_clone_to_owned()
            .map_err(|e| CaptureError::Interface {
                interface: interface.to_string(),
                reason: format!("cannot duplicate the capture descriptor: {e}"),
            })?;
        Ok(LiveCapture {
            cap,
            wait_fd,
            interface: interface.to_string(),
            linktype,
            count: 0,
        })
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// pcap LINKTYPE of the interface.
    pub fn linktype(&self) -> u32 {
        self.linktype
    }
}

/// Waits until `fd` is readable or [`READ_TIMEOUT_MS`] passed. Errors (EINTR
/// on a signal) just end the wait early.
fn wait_readable(fd: &std::os::fd::OwnedFd) {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    let timeout = Timespec {
        tv_sec: 0,
        tv_nsec: i64::from(READ_TIMEOUT_MS) * 1_000_000,
    };
    let _ = poll(&mut fds, Some(&timeout));
}

/// Sorts libpcap's activation error into the variants the command line
/// reports. The `pcap` crate keeps only libpcap's message (not the
/// `PCAP_ERROR_*` code), so this goes by the message, whose wording for these
/// two cases has been stable across libpcap 1.x on Linux and the BSDs.
fn classify(interface: &str, e: &pcap::Error) -> CaptureError {
    let reason = e.to_string();
    let lower = reason.to_ascii_lowercase();
    let interface = interface.to_string();
    if lower.contains("no such device") || lower.contains("doesn't exist") {
        CaptureError::NoSuchInterface { interface, reason }
    } else if lower.contains("permission") || lower.contains("operation not permitted") {
        CaptureError::PermissionDenied { interface, reason }
    } else {
        CaptureError::Interface { interface, reason }
    }
}

impl PacketSource for LiveCapture {
    fn next_packet(&mut self) -> Result<Next<'_>, CaptureError> {
        match self.cap.next_packet() {
            Ok(p) => {
                self.count += 1;
                let micros = u32::try_from(p.header.ts.tv_usec).unwrap_or(0).min(999_999);
                Ok(Next::Packet(RawPacket {
                    ts: Timestamp::from_secs_nanos(p.header.ts.tv_sec, micros * 1_000),
                    linktype: self.linktype,
                    data: p.data,
                    wire_len: p.header.len,
                    pcap_cnt: self.count,
                }))
            }
            // Non-blocking mode: nothing buffered. Wait for the descriptor
            // (or the timeout) and let the caller look at its flags.
            Err(pcap::Error::TimeoutExpired) => {
                wait_readable(&self.wait_fd);
                Ok(Next::Idle)
            }
            // Only savefiles report this, but treat it as the end should a
            // platform's capture module do so.
            Err(pcap::Error::NoMorePackets) => Ok(Next::End),
            Err(e) => Err(CaptureError::Read {
                path: self.interface.clone(),
                packets: self.count,
                reason: e.to_string(),
            }),
        }
    }

    fn origin(&self) -> &str {
        &self.interface
    }

    fn is_live(&self) -> bool {
        true
    }

    fn stats(&mut self) -> CaptureStats {
        match self.cap.stats() {
            Ok(s) => CaptureStats {
                received: u64::from(s.received),
                kernel_drops: u64::from(s.dropped),
                interface_drops: u64::from(s.if_dropped),
            },
            // Stats are informative; a platform without them shows what we counted.
            Err(_) => CaptureStats {
                received: self.count,
                ..CaptureStats::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(interface: Option<&str>) -> virga_config::Capture {
        virga_config::Capture {
            interface: interface.map(str::to_string),
            ..virga_config::Capture::default()
        }
    }

    #[test]
    fn a_missing_interface_is_named_in_the_error() {
        let err = LiveCapture::open(&settings(Some("vg-nonexistent0"))).unwrap_err();
        // As root libpcap says the device does not exist; as a user it may
        // refuse the socket first. Either way the message names the interface.
        assert!(
            matches!(
                err,
                CaptureError::NoSuchInterface { .. } | CaptureError::PermissionDenied { .. }
            ),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("vg-nonexistent0: "), "{err}");
    }

    #[test]
    fn no_interface_at_all_is_an_error() {
        let err = LiveCapture::open(&settings(None)).unwrap_err();
        assert!(err.to_string().contains("no interface given"), "{err}");
    }

    #[test]
    fn classification_follows_libpcap_messages() {
        let e = |m: &str| classify("eth9", &pcap::Error::PcapError(m.into()));
        assert!(matches!(
            e("eth9: No such device exists (SIOCGIFINDEX: No such device)"),
            CaptureError::NoSuchInterface { .. }
        ));
        assert!(matches!(
            e("You don't have permission to perform this capture on that device (socket: Operation not permitted)"),
            CaptureError::PermissionDenied { .. }
        ));
        assert!(matches!(
            e("eth9: That device is not up"),
            CaptureError::Interface { .. }
        ));
    }

    /// Capture on the loopback interface (root only): a UDP datagram sent to
    /// ourselves comes back as a packet with its bytes, and a quiet link gives
    /// `Idle` rather than blocking.
    #[test]
    fn loopback_capture_sees_our_datagram() {
        let mut s = settings(Some("lo"));
        s.bpf_filter = "udp and port 39917".into();
        let mut cap = match LiveCapture::open(&s) {
            Ok(c) => c,
            Err(CaptureError::PermissionDenied { .. }) => {
                eprintln!("note: not allowed to capture on lo; skipping");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        assert_eq!(cap.origin(), "lo");
        assert!(cap.is_live());
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.send_to(b"virga-live-probe", "127.0.0.1:39917")
            .unwrap();
        let start = std::time::Instant::now();
        let mut seen = None;
        while start.elapsed() < std::time::Duration::from_secs(5) {
            match cap.next_packet().unwrap() {
                Next::Packet(p) => {
                    seen = Some((p.pcap_cnt, p.data.to_vec(), p.ts));
                    break;
                }
                Next::Idle => continue,
                Next::End => break,
            }
        }
        let (cnt, data, ts) = seen.expect("the datagram was captured");
        assert_eq!(cnt, 1);
        assert!(data.ends_with(b"virga-live-probe"));
        assert!(ts.secs() > 1_600_000_000);
        // Nothing else matches the filter: the next read times out.
        let t = std::time::Instant::now();
        assert!(matches!(cap.next_packet().unwrap(), Next::Idle));
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
        assert!(cap.stats().received >= 1);
        let bad = virga_config::Capture {
            bpf_filter: "udp and and".into(),
            ..s
        };
        let err = LiveCapture::open(&bad).unwrap_err();
        assert!(matches!(err, CaptureError::Filter { .. }), "{err}");
    }
}
