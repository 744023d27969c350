//! Propagation: the VPC router's BIRD (`L+vpc`). It learns the VGW's best
//! routes over an iBGP session on the `vgw0` link and writes them into
//! the kernel table of every route table with `propagate_vgw = true`, at
//! [`super::PROPAGATED_METRIC`] (a static route of the table, metric 10,
//! wins on an equal prefix). Withdrawn at the VGW, a prefix leaves exactly
//! those tables.

use topology::model::Topology;

use super::conf::{
    Bgp, BirdConfig, Channel, ChannelOption, Item, Policy, Protocol, Section, Symbol,
};

/// The VPC router's iBGP protocol to the VGW.
pub const VGW_PROTOCOL: &str = "vifgate_vgw";

/// The route tables that propagate: (index, name).
pub fn propagating_tables(t: &Topology) -> Vec<(usize, String)> {
    t.route_tables
        .iter()
        .enumerate()
        .filter(|(_, rt)| rt.propagate)
        .map(|(i, rt)| (i, rt.name.clone()))
        .collect()
}

/// The VPC router's configuration (see [`config_value`]), as text.
pub fn config(t: &Topology, tables: &[(usize, String)]) -> String {
    config_value(t, tables).to_string()
}

/// The VPC router's configuration: the iBGP session to the VGW, and per
/// propagating route table `tables` a BIRD table fed by a pipe and synced
/// with the route table's kernel table.
pub fn config_value(t: &Topology, tables: &[(usize, String)]) -> BirdConfig {
    let asn = super::amazon_asn(t);
    let (me, vgw) = (crate::layout::VGW_LINK_ROUTER, crate::layout::VGW_LINK_VGW);
    let mut sections = vec![Section {
        comment: None,
        items: vec![Item::Protocol(Protocol::Bgp(Bgp {
            name: Symbol::lab(VGW_PROTOCOL),
            disabled: false,
            local: (me, asn),
            neighbor: (vgw, asn),
            password_file: None,
            hold: None,
            keepalive: None,
            bfd: false,
            channel: Channel::inline(vec![
                ChannelOption::Import(Policy::All),
                ChannelOption::Export(Policy::None),
            ]),
        }))],
    }];
    // one BIRD table per kernel table (a BIRD table syncs with one),
    // each fed from the VGW's routes by a pipe
    for (i, name) in tables {
        let table = Symbol::lab(format!("t{i}"));
        sections.push(Section {
            comment: Some(format!("route table {name}")),
            items: vec![
                Item::Table(table.clone()),
                Item::Protocol(Protocol::Pipe {
                    name: Symbol::lab(format!("p{i}")),
                    table: Symbol::lab("master4"),
                    peer_table: table.clone(),
                }),
                Item::Protocol(Protocol::Kernel {
                    name: Symbol::lab(format!("rt{i}")),
                    channel: Channel::inline(vec![
                        ChannelOption::Table(table),
                        ChannelOption::Import(Policy::None),
                        ChannelOption::Export(Policy::All),
                    ]),
                    kernel_table: Some(crate::layout::FIRST_TABLE + *i as u32),
                    metric: Some(super::PROPAGATED_METRIC),
                }),
            ],
        });
    }
    BirdConfig {
        what: "the VPC router's route propagation".into(),
        router_id: me,
        bfd: Vec::new(),
        sections,
    }
}
