//! The lab's flow log records: the gateway's record and formats
//! ([`gateway::flow_log`]: one definition of a record and of how its line
//! is written, AWS's version 2 default or a custom `${field} ...` string)
//! with the ENI each is about. The lab's counters key their flows by the
//! gateway's 5-tuple ([`FlowKey`], without direction and action, which the
//! lab learns from the chain that counted the packet); what the lab adds is
//! the record's ENI ([`FlowRecord::identity`]).
//! The lab's counters see no TCP flags: `tcp-flags` is written `-`.

use std::fmt;

pub use gateway::flow_log::{
    Action as FlowAction, FiveTuple as FlowKey, FlowDirection, Format, Identity, LogStatus,
};
use serde::Serialize;

/// One ENI's record of an interval. Its line (`Display`) is AWS's default
/// format; in JSON (`Serialize`) the fields are named as Athena's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    /// The account and the ENI (`eni-...`) the record is about.
    pub identity: Identity,
    /// The record.
    pub record: gateway::flow_log::FlowRecord,
}

impl FlowRecord {
    /// ACCEPT or REJECT; `None` in NODATA and SKIPDATA records.
    pub fn action(&self) -> Option<FlowAction> {
        self.record.flow.map(|f| f.action)
    }

    /// The record's line in `format` (no newline).
    pub fn line(&self, format: &Format) -> String {
        format.render(&self.record, &self.identity)
    }

    /// The record in `format` as JSON, keyed by Athena's column names.
    pub fn json(&self, format: &Format) -> serde_json::Map<String, serde_json::Value> {
        format.render_json(&self.record, &self.identity)
    }
}

impl fmt::Display for FlowRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line(&Format::default()))
    }
}

impl Serialize for FlowRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json(&Format::default()).serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn identity(eni: &str) -> Identity {
        Identity {
            account_id: "123456789010".into(),
            interface_id: eni.into(),
        }
    }

    #[test]
    fn an_accepted_flow_prints_as_aws_example() {
        let key = FlowKey {
            src: Ipv4Addr::new(172, 31, 16, 139),
            dst: Ipv4Addr::new(172, 31, 16, 21),
            src_port: 20641,
            dst_port: 22,
            protocol: 6,
        };
        let r = FlowRecord {
            identity: identity("eni-1235b8ca123456789"),
            record: gateway::flow_log::FlowRecord {
                status: LogStatus::Ok,
                flow: Some(key.with(FlowDirection::Ingress, FlowAction::Accept)),
                packets: 20,
                bytes: 4249,
                start: 1418530010,
                end: 1418530070,
                tcp_flags: None,
            },
        };
        assert_eq!(
            r.to_string(),
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
        );
        let custom =
            Format::parse("${version} ${interface-id} ${flow-direction} ${tcp-flags} ${vpc-id}")
                .expect("format");
        assert_eq!(r.line(&custom), "5 eni-1235b8ca123456789 ingress - -");
    }

    #[test]
    fn nodata_has_dashes_and_14_fields() {
        let r = FlowRecord {
            identity: identity("eni-a"),
            record: gateway::flow_log::FlowRecord {
                status: LogStatus::NoData,
                flow: None,
                packets: 0,
                bytes: 0,
                start: 10,
                end: 20,
                tcp_flags: None,
            },
        };
        let line = r.to_string();
        assert_eq!(line, "2 123456789010 eni-a - - - - - - - 10 20 - NODATA");
        let header = Format::default().header();
        assert_eq!(line.split(' ').count(), header.split(' ').count());
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["log_status"], "NODATA");
        assert!(json.get("srcaddr").is_none(), "{json}");
    }
}
