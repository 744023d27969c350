//! AWS's record formats: the version 2 default and the custom
//! `${field} ...` string, parsed once and rendered per record.

use std::fmt::Write as _;

use super::record::{FlowRecord, LogStatus};

/// AWS's default format (version 2).
pub const DEFAULT_FORMAT: &str = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}";

/// A field of AWS's flow log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `version`: the highest version among the format's fields.
    Version,
    /// `account-id`.
    AccountId,
    /// `interface-id`.
    InterfaceId,
    /// `srcaddr`.
    SrcAddr,
    /// `dstaddr`.
    DstAddr,
    /// `srcport`.
    SrcPort,
    /// `dstport`.
    DstPort,
    /// `protocol`.
    Protocol,
    /// `packets`.
    Packets,
    /// `bytes`.
    Bytes,
    /// `start`.
    Start,
    /// `end`.
    End,
    /// `action`.
    Action,
    /// `log-status`.
    LogStatus,
    /// `vpc-id` (v3; `-` here: a gateway is no VPC).
    VpcId,
    /// `subnet-id` (v3; `-`).
    SubnetId,
    /// `instance-id` (v3; `-`).
    InstanceId,
    /// `tcp-flags` (v3).
    TcpFlags,
    /// `type` (v3): `IPv4`.
    Type,
    /// `pkt-srcaddr` (v3): the packet's source (the gateway translates no
    /// address, so it is `srcaddr`).
    PktSrcAddr,
    /// `pkt-dstaddr` (v3).
    PktDstAddr,
    /// `region` (v4; `-`).
    Region,
    /// `az-id` (v4; `-`).
    AzId,
    /// `sublocation-type` (v4; `-`).
    SublocationType,
    /// `sublocation-id` (v4; `-`).
    SublocationId,
    /// `pkt-src-aws-service` (v5; `-`).
    PktSrcAwsService,
    /// `pkt-dst-aws-service` (v5; `-`).
    PktDstAwsService,
    /// `flow-direction` (v5): `ingress` or `egress`.
    FlowDirection,
    /// `traffic-path` (v5; `-`).
    TrafficPath,
}

const FIELDS: &[(&str, Field, u8)] = &[
    ("version", Field::Version, 2),
    ("account-id", Field::AccountId, 2),
    ("interface-id", Field::InterfaceId, 2),
    ("srcaddr", Field::SrcAddr, 2),
    ("dstaddr", Field::DstAddr, 2),
    ("srcport", Field::SrcPort, 2),
    ("dstport", Field::DstPort, 2),
    ("protocol", Field::Protocol, 2),
    ("packets", Field::Packets, 2),
    ("bytes", Field::Bytes, 2),
    ("start", Field::Start, 2),
    ("end", Field::End, 2),
    ("action", Field::Action, 2),
    ("log-status", Field::LogStatus, 2),
    ("vpc-id", Field::VpcId, 3),
    ("subnet-id", Field::SubnetId, 3),
    ("instance-id", Field::InstanceId, 3),
    ("tcp-flags", Field::TcpFlags, 3),
    ("type", Field::Type, 3),
    ("pkt-srcaddr", Field::PktSrcAddr, 3),
    ("pkt-dstaddr", Field::PktDstAddr, 3),
    ("region", Field::Region, 4),
    ("az-id", Field::AzId, 4),
    ("sublocation-type", Field::SublocationType, 4),
    ("sublocation-id", Field::SublocationId, 4),
    ("pkt-src-aws-service", Field::PktSrcAwsService, 5),
    ("pkt-dst-aws-service", Field::PktDstAwsService, 5),
    ("flow-direction", Field::FlowDirection, 5),
    ("traffic-path", Field::TrafficPath, 5),
];

impl Field {
    /// The field named `name` (without `${}`).
    pub fn from_name(name: &str) -> Option<Field> {
        FIELDS.iter().find(|f| f.0 == name).map(|f| f.1)
    }

    /// Every field name this gateway writes.
    pub fn names() -> impl Iterator<Item = &'static str> {
        FIELDS.iter().map(|f| f.0)
    }

    /// The field's name (without `${}`).
    pub fn name(self) -> &'static str {
        FIELDS.iter().find(|f| f.1 == self).map_or("-", |f| f.0)
    }

    /// Whether AWS's value is a number (Athena's `int`/`bigint` columns).
    fn is_numeric(self) -> bool {
        matches!(
            self,
            Field::Version
                | Field::SrcPort
                | Field::DstPort
                | Field::Protocol
                | Field::Packets
                | Field::Bytes
                | Field::Start
                | Field::End
                | Field::TcpFlags
        )
    }

    fn version(self) -> u8 {
        FIELDS.iter().find(|f| f.1 == self).map_or(2, |f| f.2)
    }
}

/// A format string that is not AWS's: where (byte offset in the string)
/// and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// Byte offset of the offending token.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// Who the records are about: AWS's `account-id` and `interface-id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `account-id`.
    pub account_id: String,
    /// `interface-id`.
    pub interface_id: String,
}

/// A parsed format: fields in order, and the version the records carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    fields: Vec<Field>,
    version: u8,
}

impl Default for Format {
    fn default() -> Self {
        Format::parse(DEFAULT_FORMAT).unwrap_or_else(|_| unreachable!("the default format parses"))
    }
}

impl Format {
    /// Parses AWS's custom format: `${field}` tokens separated by spaces.
    pub fn parse(text: &str) -> Result<Format, FormatError> {
        let mut fields = Vec::new();
        let mut offset = 0;
        for token in text.split(' ') {
            let here = offset;
            offset += token.len() + 1;
            if token.is_empty() {
                continue;
            }
            let Some(name) = token.strip_prefix("${").and_then(|t| t.strip_suffix('}')) else {
                return Err(FormatError {
                    offset: here,
                    message: format!("`{token}` is not a `${{field}}`"),
                });
            };
            let Some(field) = Field::from_name(name) else {
                return Err(FormatError {
                    offset: here,
                    message: format!("unknown flow log field `{name}`"),
                });
            };
            fields.push(field);
        }
        if fields.is_empty() {
            return Err(FormatError {
                offset: 0,
                message: "a format needs at least one `${field}`".into(),
            });
        }
        let version = fields.iter().map(|f| f.version()).max().unwrap_or(2);
        Ok(Format { fields, version })
    }

    /// The fields, in order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The field names, space-separated: the first line of the files AWS
    /// delivers to S3.
    pub fn header(&self) -> String {
        let names: Vec<&str> = self.fields.iter().map(|f| f.name()).collect();
        names.join(" ")
    }

    /// The record as a JSON object keyed by Athena's column names (the
    /// field's name, `-` as `_`); numeric fields as numbers, the fields
    /// AWS writes `-` absent.
    pub fn render_json(
        &self,
        record: &FlowRecord,
        id: &Identity,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut object = serde_json::Map::new();
        let mut value = String::new();
        for field in &self.fields {
            value.clear();
            self.write_field(*field, record, id, &mut value);
            if value == "-" {
                continue;
            }
            let json = match value.parse::<u64>() {
                Ok(n) if field.is_numeric() => serde_json::Value::from(n),
                _ => serde_json::Value::from(value.as_str()),
            };
            object.insert(field.name().replace('-', "_"), json);
        }
        object
    }

    /// The record's line (no newline).
    pub fn render(&self, record: &FlowRecord, id: &Identity) -> String {
        let mut line = String::with_capacity(128);
        self.render_into(record, id, &mut line);
        line
    }

    /// Appends the record's line (no newline) to `out`.
    pub fn render_into(&self, record: &FlowRecord, id: &Identity, out: &mut String) {
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            self.write_field(*field, record, id, out);
        }
    }

    fn write_field(&self, field: Field, r: &FlowRecord, id: &Identity, out: &mut String) {
        let flow = r.flow.filter(|_| r.status == LogStatus::Ok);
        // writing to a String cannot fail
        let _ = match (field, flow) {
            (Field::Version, _) => write!(out, "{}", self.version),
            (Field::AccountId, _) => write!(out, "{}", id.account_id),
            (Field::InterfaceId, _) => write!(out, "{}", id.interface_id),
            (Field::Start, _) => write!(out, "{}", r.start),
            (Field::End, _) => write!(out, "{}", r.end),
            (Field::LogStatus, _) => write!(out, "{}", r.status.as_str()),
            (Field::SrcAddr | Field::PktSrcAddr, Some(f)) => write!(out, "{}", f.tuple.src),
            (Field::DstAddr | Field::PktDstAddr, Some(f)) => write!(out, "{}", f.tuple.dst),
            (Field::SrcPort, Some(f)) => write!(out, "{}", f.tuple.src_port),
            (Field::DstPort, Some(f)) => write!(out, "{}", f.tuple.dst_port),
            (Field::Protocol, Some(f)) => write!(out, "{}", f.tuple.protocol),
            (Field::Packets, Some(_)) => write!(out, "{}", r.packets),
            (Field::Bytes, Some(_)) => write!(out, "{}", r.bytes),
            (Field::Action, Some(f)) => write!(out, "{}", f.action.as_str()),
            (Field::TcpFlags, Some(_)) => match r.tcp_flags {
                Some(flags) => write!(out, "{flags}"),
                None => write!(out, "-"),
            },
            (Field::Type, Some(_)) => write!(out, "IPv4"),
            (Field::FlowDirection, Some(f)) => write!(out, "{}", f.direction.as_str()),
            _ => write!(out, "-"),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow_log::record::{Action, FiveTuple, FlowDirection};

    fn id() -> Identity {
        Identity {
            account_id: "123456789010".into(),
            interface_id: "eni-1235b8ca123456789".into(),
        }
    }

    fn ssh() -> FlowRecord {
        FlowRecord {
            status: LogStatus::Ok,
            flow: Some(
                FiveTuple {
                    src: "172.31.16.139".parse().unwrap(),
                    dst: "172.31.16.21".parse().unwrap(),
                    src_port: 20641,
                    dst_port: 22,
                    protocol: 6,
                }
                .with(FlowDirection::Ingress, Action::Accept),
            ),
            packets: 20,
            bytes: 4249,
            start: 1418530010,
            end: 1418530070,
            tcp_flags: Some(19),
        }
    }

    #[test]
    fn default_format_writes_aws_example_line() {
        let line = Format::default().render(&ssh(), &id());
        assert_eq!(
            line,
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
        );
    }

    #[test]
    fn nodata_and_skipdata_write_dashes_like_aws() {
        let mut r = ssh();
        r.flow = None;
        r.status = LogStatus::NoData;
        r.start = 1431280876;
        r.end = 1431280934;
        assert_eq!(
            Format::default().render(&r, &id()),
            "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA"
        );
        r.status = LogStatus::SkipData;
        assert!(Format::default()
            .render(&r, &id())
            .ends_with("- - - - - - - 1431280876 1431280934 - SKIPDATA"));
    }

    #[test]
    fn custom_format_has_the_highest_field_version() {
        let f = Format::parse(
            "${version} ${srcaddr} ${tcp-flags} ${type} ${pkt-srcaddr} ${pkt-dstaddr} ${vpc-id}",
        )
        .unwrap();
        assert_eq!(
            f.render(&ssh(), &id()),
            "3 172.31.16.139 19 IPv4 172.31.16.139 172.31.16.21 -"
        );
        let f = Format::parse("${version} ${flow-direction} ${subnet-id} ${instance-id}").unwrap();
        assert_eq!(f.render(&ssh(), &id()), "5 ingress - -");
        assert_eq!(Format::parse("${version} ${srcaddr}").unwrap().version, 2);
    }

    #[test]
    fn header_and_json_use_aws_names_and_skip_dashes() {
        let f = Format::parse("${version} ${account-id} ${srcport} ${tcp-flags} ${log-status}")
            .unwrap();
        assert_eq!(
            f.header(),
            "version account-id srcport tcp-flags log-status"
        );
        let json = f.render_json(&ssh(), &id());
        assert_eq!(json["account_id"], "123456789010", "a string, not a number");
        assert_eq!(json["srcport"], 20641);
        assert_eq!(json["tcp_flags"], 19);
        let mut unknown = ssh();
        unknown.tcp_flags = None;
        assert_eq!(f.render(&unknown, &id()), "3 123456789010 20641 - OK");
        assert!(f.render_json(&unknown, &id()).get("tcp_flags").is_none());
    }

    #[test]
    fn unknown_field_is_an_error_at_its_offset() {
        let e = Format::parse("${version} ${srcadr}").unwrap_err();
        assert_eq!(e.offset, 11);
        assert!(e.message.contains("srcadr"), "{}", e.message);
        let e = Format::parse("${version} srcaddr").unwrap_err();
        assert_eq!(e.offset, 11);
        assert!(Format::parse("   ").is_err());
    }
}
