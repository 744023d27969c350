//! HAProxy's own view of a backend, from `show stat` on its runtime API:
//! the servers in service (the capacity `sim load` prints) and the
//! responses each server gave (what a test compares the generator's
//! counts with).

use crate::haproxy_stat::ShowStat;

/// One server of a backend in `show stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStat {
    /// `svname`.
    pub name: String,
    /// `status`: `UP`, `UP 1/3` (going down), `DOWN`, `DOWN 1/2` (going
    /// up), `NOLB`, `DRAIN`, `MAINT`, `no check`.
    pub status: String,
    /// Responses it gave, all classes (`hrsp_1xx` to `hrsp_other`).
    pub responses: u64,
}

impl ServerStat {
    /// Whether it takes new requests: up (a server going down still
    /// does), or not checked.
    pub fn in_service(&self) -> bool {
        self.status.starts_with("UP") || self.status == "no check"
    }
}

/// The servers of `backend` in the CSV `show stat` prints (a header line
/// `# pxname,svname,...` naming the columns); empty when the backend is
/// not there or the text is not that CSV.
pub fn servers(show_stat: &str, backend: &str) -> Vec<ServerStat> {
    let Some(table) = ShowStat::parse(show_stat) else {
        return Vec::new();
    };
    if !table.has(&["pxname", "svname", "status"]) {
        return Vec::new();
    }
    let responses = [
        "hrsp_1xx",
        "hrsp_2xx",
        "hrsp_3xx",
        "hrsp_4xx",
        "hrsp_5xx",
        "hrsp_other",
    ];
    table
        .servers()
        .filter(|r| r.get("pxname") == Some(backend))
        .map(|r| ServerStat {
            name: r.get("svname").unwrap_or_default().to_string(),
            status: r.get("status").unwrap_or_default().to_string(),
            responses: responses
                .iter()
                .filter_map(|c| r.get(c).and_then(|v| v.parse::<u64>().ok()))
                .sum(),
        })
        .collect()
}

/// How many servers of `backend` are in service.
pub fn capacity(show_stat: &str, backend: &str) -> u32 {
    servers(show_stat, backend)
        .iter()
        .filter(|s| s.in_service())
        .count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// `show stat` of HAProxy 2.6, cut to its first columns and the
    /// response counters (the real one has about a hundred).
    const SHOW_STAT: &str =
        "# pxname,svname,scur,status,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,
l80,FRONTEND,0,OPEN,0,30,0,0,0,0,
b80,web-a1,0,UP,0,10,0,1,0,0,
b80,web-c1,0,UP 1/3,0,12,0,0,2,0,
b80,web-a2,0,DOWN 1/2,0,0,0,0,0,0,
b80,web-c2,0,MAINT,0,5,0,0,0,0,
b80,BACKEND,0,UP,0,27,0,1,2,0,
b443,web-a1,0,DRAIN,0,3,0,0,0,0,
";

    #[test]
    fn capacity_counts_the_servers_that_take_requests() {
        assert_eq!(capacity(SHOW_STAT, "b80"), 2);
        assert_eq!(
            capacity(SHOW_STAT, "b443"),
            0,
            "a draining server takes none"
        );
        assert_eq!(capacity(SHOW_STAT, "nope"), 0);
        assert_eq!(capacity("Unknown command", "b80"), 0);
    }

    #[test]
    fn each_servers_responses_are_summed_over_classes() {
        let s = servers(SHOW_STAT, "b80");
        let by_name: BTreeMap<&str, u64> =
            s.iter().map(|s| (s.name.as_str(), s.responses)).collect();
        assert_eq!(by_name["web-a1"], 11);
        assert_eq!(by_name["web-c1"], 14);
        assert_eq!(by_name["web-c2"], 5);
        assert_eq!(s.len(), 4, "neither FRONTEND nor BACKEND is a server");
    }
}
