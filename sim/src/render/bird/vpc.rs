//! Propagation: the VPC router's BIRD (`L+vpc`). It learns the VGW's best
//! routes over an iBGP session on the `vgw0` link and writes them into
//! the kernel table of every route table with `propagate_vgw = true`, at
//! [`super::PROPAGATED_METRIC`] (a static route of the table, metric 10,
//! wins on an equal prefix). Withdrawn at the VGW, a prefix leaves exactly
//! those tables.

use std::fmt::Write as _;

use topology::model::Topology;

use super::text;

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

/// The VPC router's configuration.
pub fn config(t: &Topology, tables: &[(usize, String)]) -> String {
    let asn = super::amazon_asn(t);
    let mut s = text::header(
        "the VPC router's route propagation",
        crate::layout::VGW_LINK_ROUTER,
    );
    let _ = write!(
        s,
        "\nprotocol bgp {VGW_PROTOCOL} {{\n    local {} as {asn};\n    neighbor {} as {asn};\n    direct;\n{}    ipv4 {{ import all; export none; }};\n}}\n",
        crate::layout::VGW_LINK_ROUTER,
        crate::layout::VGW_LINK_VGW,
        text::LAB_RETRY
    );
    // one BIRD table per kernel table (a BIRD table syncs with one),
    // each fed from the VGW's routes by a pipe
    for (i, name) in tables {
        let _ = write!(
            s,
            "\n# route table {name}\nipv4 table t{i};\nprotocol pipe p{i} {{\n    table master4;\n    peer table t{i};\n    import none;\n    export all;\n}}\nprotocol kernel rt{i} {{\n    ipv4 {{ table t{i}; import none; export all; }};\n    kernel table {};\n    metric {};\n    learn off;\n}}\n",
            crate::layout::FIRST_TABLE + *i as u32,
            super::PROPAGATED_METRIC
        );
    }
    s
}
