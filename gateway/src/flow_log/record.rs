//! What the router reports per packet, and the records an interval yields.

use std::net::Ipv4Addr;

use topology::traffic::L4;

use crate::packet::{tcp_flags, Ipv4Meta};

/// What the policy decided for a packet (AWS's `action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Allowed by the network ACL and the security groups.
    Accept,
    /// Denied by the network ACL or the security groups.
    Reject,
}

impl Action {
    /// AWS's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "ACCEPT",
            Action::Reject => "REJECT",
        }
    }
}

/// AWS's `flow-direction`, relative to the gateway's interface: ingress is
/// what arrives through the tunnel, egress what leaves the LAN through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowDirection {
    /// From the tunnel toward the LAN.
    Ingress,
    /// From the LAN into the tunnel.
    Egress,
}

impl FlowDirection {
    /// AWS's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowDirection::Ingress => "ingress",
            FlowDirection::Egress => "egress",
        }
    }
}

/// A flow's 5-tuple (ports 0 where the protocol has none, as AWS writes
/// ICMP): what a [`FlowKey`] holds besides direction and action, and what
/// the lab's counters key their flows by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FiveTuple {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Source port (0 where the protocol has none, as AWS writes ICMP).
    pub src_port: u16,
    /// Destination port (0 where the protocol has none).
    pub dst_port: u16,
    /// IANA protocol number.
    pub protocol: u8,
}

impl FiveTuple {
    /// The flow key of this 5-tuple seen in `direction` with `action`.
    pub fn with(self, direction: FlowDirection, action: Action) -> FlowKey {
        FlowKey {
            tuple: self,
            direction,
            action,
        }
    }
}

/// What a flow is keyed by within an interval, as AWS keys its records:
/// the interface (one per aggregator), the 5-tuple, the direction and the
/// action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    /// Addresses, ports and protocol.
    pub tuple: FiveTuple,
    /// Direction.
    pub direction: FlowDirection,
    /// Verdict.
    pub action: Action,
}

impl std::hash::Hash for FlowKey {
    /// Two words instead of seven fields: the hasher (SipHash, keyed per
    /// table, since the keys come from the network) runs once per packet.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let t = &self.tuple;
        let addrs = (u64::from(u32::from(t.src)) << 32) | u64::from(u32::from(t.dst));
        let rest = (u64::from(t.src_port) << 48)
            | (u64::from(t.dst_port) << 32)
            | (u64::from(t.protocol) << 16)
            | ((self.direction as u64) << 8)
            | self.action as u64;
        state.write_u64(addrs);
        state.write_u64(rest);
    }
}

/// One packet's verdict, as the router reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// The flow it belongs to.
    pub key: FlowKey,
    /// The IP packet's length (AWS counts bytes of whole IP packets).
    pub bytes: u64,
    /// Its TCP flags (0 for other protocols).
    pub tcp_flags: u8,
}

impl Observation {
    /// The observation of a parsed packet.
    pub fn of(meta: &Ipv4Meta, direction: FlowDirection, action: Action) -> Self {
        let (src_port, dst_port) = match meta.l4 {
            L4::Tcp { src_port, dst_port } | L4::Udp { src_port, dst_port } => (src_port, dst_port),
            L4::Icmp { .. } | L4::Other(_) => (0, 0),
        };
        let tuple = FiveTuple {
            src: meta.src,
            dst: meta.dst,
            src_port,
            dst_port,
            protocol: meta.proto,
        };
        Observation {
            key: tuple.with(direction, action),
            bytes: meta.total_len as u64,
            tcp_flags: meta.tcp_flags,
        }
    }
}

/// The part of a packet's TCP flags that AWS's `tcp-flags` records: FIN
/// (1), SYN (2), RST (4), and ACK (16) only beside SYN (SYN-ACK, 18); ACK
/// and PSH alone give 0. The field is the OR over the interval's packets.
pub fn aws_tcp_flags(flags: u8) -> u8 {
    let mut kept = flags & (tcp_flags::FIN | tcp_flags::SYN | tcp_flags::RST);
    if flags & tcp_flags::SYN != 0 && flags & tcp_flags::ACK != 0 {
        kept |= tcp_flags::ACK;
    }
    kept
}

/// AWS's `log-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStatus {
    /// Data is being logged normally.
    Ok,
    /// No traffic to or from the interface during the interval.
    NoData,
    /// Some flows were not recorded (the interval's flow table was full).
    SkipData,
}

impl LogStatus {
    /// AWS's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStatus::Ok => "OK",
            LogStatus::NoData => "NODATA",
            LogStatus::SkipData => "SKIPDATA",
        }
    }
}

/// One record of an interval. `flow` is `None` for NODATA and SKIPDATA,
/// whose start and end are the interval's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    /// OK, NODATA or SKIPDATA.
    pub status: LogStatus,
    /// The flow (OK records only).
    pub flow: Option<FlowKey>,
    /// Packets (OK); for SKIPDATA the packets not recorded (not written:
    /// AWS writes `-`).
    pub packets: u64,
    /// Bytes (OK); for SKIPDATA the bytes not recorded (not written).
    pub bytes: u64,
    /// Unix seconds: the first packet of the flow in the interval (OK), or
    /// the interval's start.
    pub start: u64,
    /// Unix seconds: the last packet of the flow in the interval (OK), or
    /// the interval's end.
    pub end: u64,
    /// OR of [`aws_tcp_flags`] over the flow's packets in the interval;
    /// `None` where the observer cannot see them (the lab's counters),
    /// written `-`.
    pub tcp_flags: Option<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_flags_keep_fin_syn_rst_and_ack_only_with_syn() {
        use tcp_flags::*;
        assert_eq!(aws_tcp_flags(SYN), 2);
        assert_eq!(aws_tcp_flags(SYN | ACK), 18);
        assert_eq!(aws_tcp_flags(ACK), 0);
        assert_eq!(aws_tcp_flags(ACK | 0x08), 0, "PSH-ACK is not recorded");
        assert_eq!(aws_tcp_flags(FIN | ACK), 1);
        assert_eq!(aws_tcp_flags(RST | ACK), 4);
        // AWS's example: SYN-ACK and FIN on one line is 19
        assert_eq!(aws_tcp_flags(SYN | ACK) | aws_tcp_flags(FIN | ACK), 19);
    }
}
