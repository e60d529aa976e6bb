//! Ethernet/IPv4 frames and simple TCP conversations (etherparse's
//! `PacketBuilder` writes the headers and checksums).

use super::rng::Rng;
use super::sink::Sink;
use etherparse::PacketBuilder;

/// Largest TCP payload per segment (Ethernet MTU 1500, timestamps off).
pub const MSS: usize = 1460;

/// An IPv4 address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// Address.
    pub ip: [u8; 4],
    /// Port.
    pub port: u16,
}

/// TCP flags for [`tcp`].
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

fn mac(ip: [u8; 4]) -> [u8; 6] {
    [0x02, 0x00, ip[0], ip[1], ip[2], ip[3]]
}

/// One TCP segment as an Ethernet frame.
pub fn tcp(src: Endpoint, dst: Endpoint, seq: u32, ack: u32, fl: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(mac(src.ip), mac(dst.ip))
        .ipv4(src.ip, dst.ip, 64)
        .tcp(src.port, dst.port, seq, 64_240);
    if fl & flags::SYN != 0 {
        b = b.syn();
    }
    if fl & flags::ACK != 0 {
        b = b.ack(ack);
    }
    if fl & flags::PSH != 0 {
        b = b.psh();
    }
    if fl & flags::FIN != 0 {
        b = b.fin();
    }
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload)
        .expect("payload fits an IPv4 packet");
    out
}

/// One UDP datagram as an Ethernet frame.
pub fn udp(src: Endpoint, dst: Endpoint, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(mac(src.ip), mac(dst.ip))
        .ipv4(src.ip, dst.ip, 64)
        .udp(src.port, dst.port);
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload)
        .expect("payload fits an IPv4 packet");
    out
}

/// A TCP connection being written: sequence numbers and the clock.
pub struct TcpConn {
    /// The client (initiator).
    pub client: Endpoint,
    /// The server.
    pub server: Endpoint,
    cseq: u32,
    sseq: u32,
    /// Time of the next packet, microseconds.
    pub t: u64,
    rtt: u64,
}

impl TcpConn {
    /// Writes the three-way handshake starting at `t` (microseconds) with a
    /// round trip of `rtt` microseconds.
    pub fn open(
        sink: &mut Sink,
        rng: &mut Rng,
        client: Endpoint,
        server: Endpoint,
        t: u64,
        rtt: u64,
    ) -> Self {
        let cseq = rng.next_u64() as u32;
        let sseq = rng.next_u64() as u32;
        sink.push(t, tcp(client, server, cseq, 0, flags::SYN, &[]));
        sink.push(
            t + rtt / 2,
            tcp(
                server,
                client,
                sseq,
                cseq.wrapping_add(1),
                flags::SYN | flags::ACK,
                &[],
            ),
        );
        sink.push(
            t + rtt,
            tcp(
                client,
                server,
                cseq.wrapping_add(1),
                sseq.wrapping_add(1),
                flags::ACK,
                &[],
            ),
        );
        TcpConn {
            client,
            server,
            cseq: cseq.wrapping_add(1),
            sseq: sseq.wrapping_add(1),
            t: t + rtt + 50,
            rtt,
        }
    }

    /// Sends `data` from one side in segments of at most [`MSS`] bytes
    /// (`gap` microseconds apart); the other side acknowledges every second
    /// segment and the last one, half a round trip later.
    pub fn send(&mut self, sink: &mut Sink, from_client: bool, data: &[u8], gap: u64) {
        let (src, dst) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        let n = data.len().div_ceil(MSS);
        for (i, seg) in data.chunks(MSS).enumerate() {
            let (seq, ack) = if from_client {
                (self.cseq, self.sseq)
            } else {
                (self.sseq, self.cseq)
            };
            sink.push(
                self.t,
                tcp(src, dst, seq, ack, flags::ACK | flags::PSH, seg),
            );
            if from_client {
                self.cseq = self.cseq.wrapping_add(seg.len() as u32);
            } else {
                self.sseq = self.sseq.wrapping_add(seg.len() as u32);
            }
            if i % 2 == 1 || i + 1 == n {
                let (seq, ack) = if from_client {
                    (self.sseq, self.cseq)
                } else {
                    (self.cseq, self.sseq)
                };
                sink.push(
                    self.t + self.rtt / 2,
                    tcp(dst, src, seq, ack, flags::ACK, &[]),
                );
            }
            self.t += gap;
        }
        self.t += self.rtt / 2;
    }

    /// Closes the connection: client FIN, server FIN, client ACK.
    pub fn close(&mut self, sink: &mut Sink) {
        let (c, s) = (self.client, self.server);
        sink.push(
            self.t,
            tcp(c, s, self.cseq, self.sseq, flags::FIN | flags::ACK, &[]),
        );
        self.cseq = self.cseq.wrapping_add(1);
        sink.push(
            self.t + self.rtt / 2,
            tcp(s, c, self.sseq, self.cseq, flags::FIN | flags::ACK, &[]),
        );
        self.sseq = self.sseq.wrapping_add(1);
        sink.push(
            self.t + self.rtt,
            tcp(c, s, self.cseq, self.sseq, flags::ACK, &[]),
        );
        self.t += self.rtt + 10;
    }
}
