//! Fragments and ICMP at the office's policy, on the hand-driven clock: the
//! crafted packets of issue 19 (items 14, 15, 16 and 19), as bytes.

use super::*;
use crate::classifier::tests::{arb_traffic, icmp_code, icmp_type, Ctx};
use crate::config::{PolicyConfig, PolicyMembers};
use crate::conntrack::tests::icmp_bytes as icmp;
use crate::router::fragments::FRAGMENT_TIMEOUT;
use proptest::prelude::*;
use topology::nacl::{NaclRule, NetworkAcl};
use topology::security_group::{Peer, SecurityGroup, SgRule};

/// The office host and two VPC hosts.
const OFFICE_HOST: [u8; 4] = [192, 168, 10, 10];
const VPC_HOST: [u8; 4] = [10, 0, 10, 10];
const VPC_CLIENT: [u8; 4] = [10, 0, 10, 20];

/// Splits an IPv4 datagram (20-byte header) into fragments of at most
/// `size` payload bytes (a multiple of 8), as scapy's `fragment()` does,
/// all with IP identification `id`.
fn fragment(datagram: &[u8], id: u16, size: usize) -> Vec<Vec<u8>> {
    let (header, payload) = datagram.split_at(20);
    let chunks: Vec<&[u8]> = payload.chunks(size).collect();
    let last = chunks.len() - 1;
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut f = header.to_vec();
            f.extend_from_slice(chunk);
            let total = f.len() as u16;
            f[2..4].copy_from_slice(&total.to_be_bytes());
            f[4..6].copy_from_slice(&id.to_be_bytes());
            let offset = (i * size / 8) as u16 | if i < last { 0x2000 } else { 0 };
            f[6..8].copy_from_slice(&offset.to_be_bytes());
            smoltcp::wire::Ipv4Packet::new_unchecked(&mut f[..]).fill_checksum();
            f
        })
        .collect()
}

/// A TCP segment with `data` bytes of payload.
fn tcp_with_data(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, data: usize) -> Vec<u8> {
    let mut segment = tcp_header(sport, dport, tcp_flags::SYN);
    segment.extend(std::iter::repeat_n(b'S', data));
    ipv4(src, dst, 6, false, &segment)
}

/// A UDP datagram with `data` bytes of payload.
fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, data: usize) -> Vec<u8> {
    let mut d = vec![0u8; 8 + data];
    d[0..2].copy_from_slice(&sport.to_be_bytes());
    d[2..4].copy_from_slice(&dport.to_be_bytes());
    d[4..6].copy_from_slice(&((8 + data) as u16).to_be_bytes());
    ipv4(src, dst, 17, false, &d)
}

/// Sends each packet from the VPC side; every packet the office wrote to
/// its TUN.
fn aws_sends_all(lab: &mut Lab, packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
    packets.iter().flat_map(|p| lab.aws_sends(p).0).collect()
}

/// Issue 19, item 14's policy: SSH-like ports closed, 8000-8010 open to one
/// VPC client, and a NACL that admits every TCP port from 1024 up.
const PORTS_8000: &str = r#"
[policy]
security_groups = ["edge"]
nacl = "edge-acl"
[[policy.security_group]]
name = "edge"
ingress = [{ protocol = "tcp", ports = "8000-8010", cidr = "10.0.10.20/32" }]
[[policy.network_acl]]
name = "edge-acl"
ingress = [{ rule = 100, action = "allow", protocol = "tcp", ports = "1024-65535", cidr = "0.0.0.0/0" }]
egress = [{ rule = 100, action = "allow", protocol = -1, cidr = "0.0.0.0/0" }]
"#;

#[test]
fn later_fragments_of_a_denied_datagram_are_dropped() {
    // scapy: fragment(IP(src='10.0.10.20',dst='192.168.10.10')/
    //   TCP(sport=4444,dport=22,flags='S')/(b'S'*600), fragsize=200)
    let mut lab = lab(PORTS_8000);
    let syn = tcp_with_data(VPC_CLIENT, OFFICE_HOST, 4444, 22, 600);
    let fragments = fragment(&syn, 0x1234, 200);
    assert_eq!(fragments.len(), 4);
    let at_office = aws_sends_all(&mut lab, &fragments);
    assert!(
        at_office.is_empty(),
        "{} fragments reached the office",
        at_office.len()
    );
    let drops = lab.office.drops();
    assert_eq!((drops.nacl, drops.orphan_fragment), (1, 3));
}

#[test]
fn every_fragment_of_an_admitted_datagram_arrives() {
    let mut lab = lab(PORTS_8000);
    let syn = tcp_with_data(VPC_CLIENT, OFFICE_HOST, 4444, 8005, 600);
    let fragments = fragment(&syn, 0x1235, 200);
    assert_eq!(aws_sends_all(&mut lab, &fragments), fragments);
    // Later fragments out of their time, from another source, or with
    // another identification: dropped.
    lab.advance(FRAGMENT_TIMEOUT + Duration::from_secs(1));
    let late = aws_sends_all(&mut lab, &fragments[1..]);
    assert!(late.is_empty());
    let other = tcp_with_data([10, 0, 10, 21], OFFICE_HOST, 4444, 8005, 600);
    assert!(aws_sends_all(&mut lab, &fragment(&other, 0x1235, 200)[1..]).is_empty());
    assert_eq!(lab.office.drops().orphan_fragment, 3 + 3);
}

#[test]
fn tiny_and_overlapping_tcp_fragments_are_dropped() {
    let mut lab = lab(PORTS_8000);
    let syn = tcp_with_data(VPC_CLIENT, OFFICE_HOST, 4444, 8005, 600);
    // A first fragment too short for the TCP header (RFC 1858 §3).
    let tiny = fragment(&syn, 0x1236, 8);
    assert!(lab.aws_sends(&tiny[0]).0.is_empty());
    assert_eq!(
        lab.aws.drops().malformed,
        1,
        "the sending gateway parses it first"
    );
    // RFC 1858 §4: offset 8 rewrites the ports its first fragment was
    // judged by.
    let fragments = fragment(&syn, 0x1237, 24);
    assert_eq!(lab.aws_sends(&fragments[0]).0.len(), 1);
    let mut overlap = fragments[1].clone();
    overlap[6..8].copy_from_slice(&(0x2000u16 | 1).to_be_bytes());
    smoltcp::wire::Ipv4Packet::new_unchecked(&mut overlap[..]).fill_checksum();
    assert!(lab.aws_sends(&overlap).0.is_empty());
    assert_eq!(lab.aws_sends(&fragments[2]).0.len(), 1);
    assert_eq!(lab.office.drops().orphan_fragment, 1);
}

#[test]
fn a_tracked_flows_fragmented_reply_arrives_whole() {
    // Issue 19, item 15: a udp/53 query from the office, 3000 bytes back.
    for nacl in ["", "nacl = \"edge-acl\"\n"] {
        let policy = EDGE.replace(
            "security_groups = [\"edge\"]\n",
            &format!("security_groups = [\"edge\"]\n{nacl}"),
        ) + r#"
[[policy.network_acl]]
name = "edge-acl"
ingress = [{ rule = 100, action = "allow", protocol = "udp", ports = "1024-65535", cidr = "10.0.0.0/16" }]
egress = [{ rule = 100, action = "allow", protocol = -1, cidr = "0.0.0.0/0" }]
"#;
        let mut lab = lab(&policy);
        let query = udp(OFFICE_HOST, VPC_HOST, 40000, 53, 40);
        assert_eq!(lab.office_sends(&query).1.len(), 1);
        let answer = udp(VPC_HOST, OFFICE_HOST, 53, 40000, 3000);
        let fragments = fragment(&answer, 0x4242, 1376);
        assert_eq!(fragments.len(), 3);
        assert_eq!(aws_sends_all(&mut lab, &fragments), fragments, "{nacl}");
        // Not a reply: a datagram from another port is judged, and dropped,
        // with all its fragments.
        let unsolicited = udp(VPC_HOST, OFFICE_HOST, 54, 40000, 3000);
        assert!(aws_sends_all(&mut lab, &fragment(&unsolicited, 0x4243, 1376)).is_empty());
        assert_eq!(lab.office.drops().orphan_fragment, 2);
    }
}

#[test]
fn an_icmp_query_lets_only_its_own_reply_type_back() {
    // Issue 19, item 16: one timestamp request, then any type passed.
    let mut lab = lab(EDGE);
    let request = icmp(OFFICE_HOST, VPC_HOST, 13, 0, [0, 7, 0, 1], &[0; 12]);
    assert_eq!(lab.office_sends(&request).1.len(), 1);
    for icmp_type in [9u8, 10, 13, 15, 17, 42, 0, 16, 18] {
        let other = icmp(VPC_HOST, OFFICE_HOST, icmp_type, 0, [0, 7, 0, 1], &[0; 12]);
        assert!(
            lab.aws_sends(&other).0.is_empty(),
            "type {icmp_type} passed"
        );
    }
    let reply = icmp(VPC_HOST, OFFICE_HOST, 14, 0, [0, 7, 0, 1], &[0; 12]);
    assert_eq!(lab.aws_sends(&reply).0.len(), 1);
    assert_eq!(lab.office.drops().security_group, 9);
}

/// A "fragmentation needed" (or another error) from a VPC router to the
/// office host, quoting the office's SYN toward the VPC host.
fn error_about_office_syn(icmp_type: u8, code: u8) -> Vec<u8> {
    let quoted = &office_syn()[..28];
    icmp(
        [10, 0, 10, 1],
        OFFICE_HOST,
        icmp_type,
        code,
        [0, 0, 0x05, 0x00],
        quoted,
    )
}

#[test]
fn icmp_errors_about_tracked_flows_need_a_rule_as_on_aws() {
    // Issue 19, item 19: errors quoting a tracked flow passed with no rule.
    // AWS: "If you don't explicitly configure this ICMP inbound rule for
    // your Amazon VPC security group, PMTUD is blocked."
    let mut lab = lab(EDGE);
    assert_eq!(lab.office_sends(&office_syn()).1.len(), 1);
    for (icmp_type, code) in [(3, 4), (3, 3), (4, 0), (5, 1), (11, 0), (12, 0)] {
        let error = error_about_office_syn(icmp_type, code);
        assert!(
            lab.aws_sends(&error).0.is_empty(),
            "type {icmp_type} code {code} passed"
        );
    }
    assert_eq!(lab.office.drops().security_group, 6);

    // With AWS's Path MTU Discovery rule, "fragmentation needed" passes,
    // and nothing else.
    let pmtud = EDGE.replace(
        "ingress = [",
        "ingress = [{ protocol = \"icmp\", icmp_type = 3, icmp_code = 4, cidr = \"0.0.0.0/0\" }, ",
    );
    let mut with_rule = super::lab(&pmtud);
    assert_eq!(with_rule.office_sends(&office_syn()).1.len(), 1);
    assert_eq!(
        with_rule.aws_sends(&error_about_office_syn(3, 4)).0.len(),
        1
    );
    assert!(with_rule
        .aws_sends(&error_about_office_syn(5, 1))
        .0
        .is_empty());
    assert!(with_rule
        .aws_sends(&error_about_office_syn(3, 1))
        .0
        .is_empty());
}

/// A peer block the random rules and datagrams share.
fn arb_block() -> impl Strategy<Value = Ipv4Net> {
    prop_oneof![
        Just("0.0.0.0/0".parse().unwrap()),
        Just("10.0.10.0/24".parse().unwrap()),
        Just("10.0.99.0/24".parse().unwrap()),
    ]
}

/// A datagram from the VPC to the office host with 64 bytes of payload:
/// TCP SYN, UDP, or ICMP of any type and code.
fn arb_datagram() -> impl Strategy<Value = Vec<u8>> {
    let src = prop_oneof![Just([10, 0, 10, 5]), Just([10, 0, 99, 5])];
    let transport = prop_oneof![
        (18u16..32).prop_map(|port| {
            let mut t = tcp_header(40000, port, tcp_flags::SYN);
            t.extend([0; 64]);
            (6u8, t)
        }),
        (18u16..32).prop_map(|port| {
            let mut u = vec![0u8; 8 + 64];
            u[0..2].copy_from_slice(&40000u16.to_be_bytes());
            u[2..4].copy_from_slice(&port.to_be_bytes());
            (17u8, u)
        }),
        (icmp_type(), icmp_code()).prop_map(|(t, c)| {
            let mut m = vec![t, c, 0, 0, 0, 7, 0, 1];
            m.extend([0; 64]);
            (1u8, m)
        }),
    ];
    (src, transport).prop_map(|(src, (proto, l4))| ipv4(src, OFFICE_HOST, proto, false, &l4))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every fragment of a datagram gets the verdict the reference
    /// evaluators give the whole datagram (network ACL, then security
    /// groups, ingress); fragments before their first one are dropped.
    #[test]
    fn every_fragment_gets_the_reference_verdict_of_its_datagram(
        sg_rules in prop::collection::vec((arb_traffic(), arb_block()), 0..6),
        acl_rules in prop::collection::vec((any::<bool>(), arb_traffic(), arb_block()), 0..4),
        with_acl in any::<bool>(),
        datagram in arb_datagram(),
        size in prop_oneof![Just(24usize), Just(32), Just(64)],
        first_late in any::<bool>(),
    ) {
        let group = SecurityGroup {
            name: "g".into(),
            description: None,
            ingress: sg_rules
                .into_iter()
                .map(|(traffic, block)| SgRule { traffic, peer: Peer::Cidr(block), description: None })
                .collect(),
            egress: vec![],
        };
        let acl = NetworkAcl {
            name: "a".into(),
            ingress: acl_rules
                .into_iter()
                .enumerate()
                .map(|(i, (allow, traffic, cidr))| NaclRule {
                    number: 10 * (i as u16 + 1),
                    action: if allow { NaclAction::Allow } else { NaclAction::Deny },
                    traffic,
                    cidr,
                })
                .collect(),
            egress: vec![],
        };
        let whole = crate::packet::parse_ipv4(&datagram).unwrap().acl_packet();
        let nacl_allows = !with_acl || acl.evaluate(Direction::Ingress, &whole).allows();
        let reference = nacl_allows
            && topology::security_group::evaluate(
                &[0],
                std::slice::from_ref(&group),
                Direction::Ingress,
                &whole,
                &Ctx::default(),
            )
            .is_some();

        let now = Instant::now();
        let office = PrivateKey::generate().unwrap().public_key();
        let mut router =
            Router::with_key(&vpc_side("aws", &office), PrivateKey::generate().unwrap(), now)
                .unwrap();
        router.policy = Policy::compile(&PolicyConfig {
            groups: vec![group],
            applied: vec![0],
            nacl: with_acl.then_some(acl),
            enforce: true,
            members: PolicyMembers::default(),
            origin: "test".into(),
        });
        router.conntrack = ConnTrack::new(64, Timeouts::default());
        router.fragments = fragments::FragmentVerdicts::new(16);
        router.forwarding = ForwardFilter::new(&Default::default(), None);
        let mut admit_bytes = |bytes: &[u8]| {
            let meta = crate::packet::parse_ipv4(bytes).unwrap();
            router.admit(now, Opener::Tunnel, &meta)
        };
        let pieces = fragment(&datagram, 0x77, size);
        prop_assert!(pieces.len() >= 2);
        if first_late {
            for p in &pieces[1..] {
                prop_assert!(!admit_bytes(p), "a fragment before its first one passed");
            }
            prop_assert_eq!(admit_bytes(&pieces[0]), reference);
        } else {
            for p in &pieces {
                prop_assert_eq!(admit_bytes(p), reference);
            }
        }
    }
}
