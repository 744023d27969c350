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

/// The route tables that propagate: (kernel table, name), the kernel
/// table [`crate::layout::route_table_numbers`]'.
pub fn propagating_tables(t: &Topology) -> Vec<(u32, String)> {
    let numbers =
        crate::layout::route_table_numbers(t.route_tables.iter().map(|rt| rt.name.as_str()));
    t.route_tables
        .iter()
        .zip(numbers)
        .filter(|(rt, _)| rt.propagate)
        .map(|(rt, table)| (table, rt.name.clone()))
        .collect()
}

/// The VPC router's configuration (see [`config_value`]), as text.
pub fn config(t: &Topology, tables: &[(u32, String)]) -> String {
    config_value(t, tables).to_string()
}

/// The VPC router's configuration: the iBGP session to the VGW, and per
/// propagating route table `tables` a BIRD table fed by a pipe and synced
/// with the route table's kernel table.
pub fn config_value(t: &Topology, tables: &[(u32, String)]) -> BirdConfig {
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
    // each fed from the VGW's routes by a pipe, named by its kernel
    // table, so that a route table added renames no other's protocols
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
                    kernel_table: Some(*i),
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
