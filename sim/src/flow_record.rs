//! One VPC flow log record in AWS's version 2 default format:
//! `version account-id interface-id srcaddr dstaddr srcport dstport
//! protocol packets bytes start end action log-status`, fields separated by
//! one space, `-` where a field does not apply (NODATA and SKIPDATA
//! records). Pure: values in, a line out.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

/// A flow's 5-tuple as flow logs key it (ports 0 for protocols without
/// ports, as AWS writes ICMP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FlowKey {
    /// Source address.
    #[serde(rename = "srcaddr")]
    pub src: Ipv4Addr,
    /// Destination address.
    #[serde(rename = "dstaddr")]
    pub dst: Ipv4Addr,
    /// Source port (0 without ports).
    #[serde(rename = "srcport")]
    pub src_port: u16,
    /// Destination port (0 without ports).
    #[serde(rename = "dstport")]
    pub dst_port: u16,
    /// IANA protocol number (6 TCP, 17 UDP, 1 ICMP).
    pub protocol: u8,
}

/// What the security group (or network ACL) did with the flow's packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum FlowAction {
    /// Let through.
    #[serde(rename = "ACCEPT")]
    Accept,
    /// Dropped.
    #[serde(rename = "REJECT")]
    Reject,
}

/// How the interval was logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LogStatus {
    /// Data logged normally.
    #[serde(rename = "OK")]
    Ok,
    /// No traffic to or from the interface during the interval.
    #[serde(rename = "NODATA")]
    NoData,
    /// Some records were skipped during the interval (capacity).
    #[serde(rename = "SKIPDATA")]
    SkipData,
}

/// One line of a flow log (in JSON, the fields named as Athena's columns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowRecord {
    /// The format's version (2).
    pub version: u8,
    /// The account that owns the interface (12 digits).
    pub account_id: String,
    /// The interface (`eni-...`).
    pub interface_id: String,
    /// The flow, absent in NODATA and SKIPDATA records (its fields
    /// inline in JSON, named as AWS names them).
    #[serde(flatten)]
    pub flow: Option<FlowKey>,
    /// Packets in the interval.
    pub packets: u64,
    /// Bytes (IP packets, headers included) in the interval.
    pub bytes: u64,
    /// Start of the interval, Unix seconds.
    pub start: u64,
    /// End of the interval, Unix seconds.
    pub end: u64,
    /// ACCEPT or REJECT; absent in NODATA and SKIPDATA records.
    pub action: Option<FlowAction>,
    /// OK, NODATA or SKIPDATA.
    pub log_status: LogStatus,
}

/// The default format's version field.
pub const VERSION: u8 = 2;

/// The field names, as the first line of the files AWS delivers to S3.
pub const HEADER: &str =
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

impl fmt::Display for FlowAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FlowAction::Accept => "ACCEPT",
            FlowAction::Reject => "REJECT",
        })
    }
}

impl fmt::Display for LogStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogStatus::Ok => "OK",
            LogStatus::NoData => "NODATA",
            LogStatus::SkipData => "SKIPDATA",
        })
    }
}

impl fmt::Display for FlowRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} ",
            self.version, self.account_id, self.interface_id
        )?;
        match &self.flow {
            Some(k) => write!(
                f,
                "{} {} {} {} {} {} {} ",
                k.src, k.dst, k.src_port, k.dst_port, k.protocol, self.packets, self.bytes
            )?,
            None => f.write_str("- - - - - - - ")?,
        }
        write!(f, "{} {} ", self.start, self.end)?;
        match self.action {
            Some(a) => write!(f, "{a} ")?,
            None => f.write_str("- ")?,
        }
        write!(f, "{}", self.log_status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accepted_flow_prints_as_aws_example() {
        let r = FlowRecord {
            version: VERSION,
            account_id: "123456789010".into(),
            interface_id: "eni-1235b8ca123456789".into(),
            flow: Some(FlowKey {
                src: Ipv4Addr::new(172, 31, 16, 139),
                dst: Ipv4Addr::new(172, 31, 16, 21),
                src_port: 20641,
                dst_port: 22,
                protocol: 6,
            }),
            packets: 20,
            bytes: 4249,
            start: 1418530010,
            end: 1418530070,
            action: Some(FlowAction::Accept),
            log_status: LogStatus::Ok,
        };
        assert_eq!(
            r.to_string(),
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
        );
    }

    #[test]
    fn nodata_has_dashes_and_14_fields() {
        let r = FlowRecord {
            version: VERSION,
            account_id: "123456789010".into(),
            interface_id: "eni-a".into(),
            flow: None,
            packets: 0,
            bytes: 0,
            start: 10,
            end: 20,
            action: None,
            log_status: LogStatus::NoData,
        };
        let line = r.to_string();
        assert_eq!(line, "2 123456789010 eni-a - - - - - - - 10 20 - NODATA");
        assert_eq!(line.split(' ').count(), HEADER.split(' ').count());
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["log_status"], "NODATA");
        assert!(json.get("srcaddr").is_none(), "{json}");
    }
}
