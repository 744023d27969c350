//! A silent cut of a Direct Connect or VPN link (`sim link A B --down`):
//! an nftables table in each end's namespace dropping every IP packet in
//! and out of the link's interface, while its carrier stays up — as a
//! fibre cut behind a provider's switch looks to both routers. Nothing
//! tells the BGP daemons: BFD (or the hold timer without it) finds out,
//! and BIRD withdraws the routes. `--up` deletes the table.

/// The cut's table name for one interface of a lab (`inet` family).
pub fn table_name(lab: &str, ifname: &str) -> String {
    let token = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    };
    format!("vifgate_cut_{}_{}", token(lab), token(ifname))
}

/// The interfaces a cut on `ifname` covers: it, and its VLAN
/// sub-interface when the link is tagged.
pub fn interfaces(ifname: &str, vlan: Option<u16>) -> Vec<String> {
    let mut v = vec![ifname.to_string()];
    if let Some(id) = vlan {
        v.push(format!("{ifname}.{id}"));
    }
    v
}

/// The `nft -f` script that puts the cut in place (replacing one already
/// there).
pub fn cut_script(table: &str, ifnames: &[String]) -> String {
    let set = ifnames
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "add table inet {table}\ndelete table inet {table}\ntable inet {table} {{\n\
         \tchain input {{ type filter hook input priority -400; policy accept; iifname {{ {set} }} drop; }}\n\
         \tchain output {{ type filter hook output priority -400; policy accept; oifname {{ {set} }} drop; }}\n\
         \tchain forward {{ type filter hook forward priority -400; policy accept; iifname {{ {set} }} drop; oifname {{ {set} }} drop; }}\n}}\n"
    )
}

/// The `nft -f` script that removes the cut (nothing if there is none).
pub fn uncut_script(table: &str) -> String {
    format!("add table inet {table}\ndelete table inet {table}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cut_drops_both_ways_on_the_link_and_its_vlan() {
        // the example's VIF `dx-vif`: its link is named after it
        let link = &crate::layout::vif_links(["dx-vif"])[0];
        assert_eq!(link, "dxa99a4d7a");
        let t = table_name("yh-2", link);
        assert_eq!(t, "vifgate_cut_yh_2_dxa99a4d7a");
        let s = cut_script(&t, &interfaces(link, Some(101)));
        let set = "{ \"dxa99a4d7a\", \"dxa99a4d7a.101\" }";
        assert!(s.contains(&format!("iifname {set} drop;")), "{s}");
        assert!(s.contains(&format!("oifname {set} drop;")), "{s}");
        assert!(s.starts_with("add table inet vifgate_cut_yh_2_dxa99a4d7a\ndelete table"));
        assert_eq!(
            uncut_script(&t),
            "add table inet vifgate_cut_yh_2_dxa99a4d7a\ndelete table inet vifgate_cut_yh_2_dxa99a4d7a\n"
        );
    }
}
