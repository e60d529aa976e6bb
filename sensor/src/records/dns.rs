//! DNS records: one message as it went ([`DnsTransaction`]), and the summary
//! of a client's message about a serverless name that the DNS anomaly
//! detector reads ([`DnsLookup`]).

use super::{FlowRef, PacketOrigin, PacketRef};
use crate::flow::key::Endpoint;
use std::net::IpAddr;
use std::sync::Arc;
use virga_parsers::dns::DnsMessage;

/// One DNS message (query or response), borrowed from the packet.
#[derive(Debug, Clone, Copy)]
pub struct DnsTransaction<'a> {
    /// The DNS flow, addresses as this message goes.
    pub flow: FlowRef,
    /// The packet that carried it (the segment that completed it over TCP).
    pub packet: PacketRef,
    /// Messages of the flow before this one (`tx_id`).
    pub tx_id: u64,
    /// The parsed message.
    pub message: &'a DnsMessage<'a>,
    /// True when a question name, or a name of the answer chain, is
    /// catalogued.
    pub serverless: bool,
}

/// A client's DNS query or response about a serverless name, owned, for the
/// detection stage.
#[derive(Debug, Clone)]
pub struct DnsLookup {
    /// The packet that carried it.
    pub packet: PacketRef,
    /// Where the packet came from.
    pub origin: PacketOrigin,
    /// Flow id of the DNS flow.
    pub flow_id: u64,
    /// The client (the querier).
    pub client: IpAddr,
    /// The client's port.
    pub client_port: u16,
    /// The resolver.
    pub server: Endpoint,
    /// The first question's name.
    pub qname: Arc<str>,
    /// The first question's type.
    pub qtype: u16,
    /// `Some(rcode)` for a response, `None` for a query.
    pub rcode: Option<u16>,
    /// Answer records in a response.
    pub answers: u16,
    /// The process that asked, when host events name it (set by the detection stage; workers
    /// leave it `None`).
    pub process: Option<Arc<super::Process>>,
}
