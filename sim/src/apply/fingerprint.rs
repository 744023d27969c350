//! What a lab was built from, as one hash: `sim up` records it in the
//! lab's state, and `sim test --reuse` refuses a lab whose hash is not the
//! one the file on disk gives now, since probing an old lab against a new
//! analysis reports disagreements that are not real.
//!
//! The hash (BLAKE2s-256, hex) covers three things:
//! - the topology text *normalised*: parsed as TOML and written back with
//!   tables in key order, so a comment, blank line, quoting style or key
//!   order changes nothing, while every change of meaning does — rules,
//!   addresses, expectations, and the policy the lab's gateways read from
//!   their copy of the file (which the plan does not hold);
//! - the plan, as JSON: what the text does not hold — the `--ports`, the
//!   lab name, files read while resolving (BGP keys), and how this build
//!   of vifgate turns the topology into namespaces and rules;
//! - the simulator's version.

use std::fmt::Write as _;

use blake2::{Blake2s256, Digest};

use crate::plan::Plan;

/// The fingerprint of a lab built from `plan` and `topology_text`.
pub fn fingerprint(plan: &Plan, topology_text: &str) -> String {
    let mut h = Blake2s256::new();
    let mut part = |name: &str, bytes: &[u8]| {
        // each part framed by its name and length: no two inputs collide
        // by moving bytes from one part to the next
        h.update(name.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    part("version", env!("CARGO_PKG_VERSION").as_bytes());
    part("topology", normalised_toml(topology_text).as_bytes());
    // a plan is plain data: serialising it cannot fail
    let plan_json = serde_json::to_vec(plan).unwrap_or_default();
    part("plan", &plan_json);
    h.finalize()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// TOML text in a canonical form: tables with their keys sorted, values
/// written one way. Text that is not TOML is kept as it is.
fn normalised_toml(text: &str) -> String {
    match text.parse::<toml::Table>() {
        Ok(t) => {
            let mut out = String::new();
            canonical(&toml::Value::Table(t), &mut out);
            out
        }
        Err(_) => text.to_string(),
    }
}

fn canonical(v: &toml::Value, out: &mut String) {
    match v {
        toml::Value::Table(t) => {
            let mut keys: Vec<&String> = t.keys().collect();
            keys.sort();
            out.push('{');
            for k in keys {
                let _ = write!(out, "{k:?}=");
                canonical(&t[k.as_str()], out);
                out.push(',');
            }
            out.push('}');
        }
        toml::Value::Array(a) => {
            out.push('[');
            for v in a {
                canonical(v, out);
                out.push(',');
            }
            out.push(']');
        }
        toml::Value::String(s) => {
            let _ = write!(out, "{s:?}");
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPOLOGY: &str = include_str!("../../../examples/yeohaengjigi.toml");

    fn plan_of(text: &str, ports: &[u16]) -> Plan {
        let t = topology::parse("t.toml", text.to_string())
            .expect("loads")
            .topology;
        crate::plan::plan(&t, "yh", ports).expect("plan")
    }

    #[test]
    fn comments_spacing_and_key_order_change_nothing() {
        let p = plan_of(TOPOLOGY, &[22]);
        let reformatted = format!("# a comment\n\n{}", TOPOLOGY.replace(" = ", "   =   "));
        assert_eq!(fingerprint(&p, TOPOLOGY), fingerprint(&p, &reformatted));
        let a = "[x]\nb = 1\na = 'two'\n";
        let b = "[x]\na = \"two\"\nb = 1\n";
        assert_eq!(normalised_toml(a), normalised_toml(b));
    }

    #[test]
    fn an_edit_of_meaning_or_other_ports_change_it() {
        let p = plan_of(TOPOLOGY, &[22]);
        let before = fingerprint(&p, TOPOLOGY);
        // a security group rule's port
        let edited = TOPOLOGY.replacen("ports = 22,", "ports = 23,", 1);
        assert_ne!(TOPOLOGY, edited);
        assert_ne!(before, fingerprint(&plan_of(&edited, &[22]), &edited));
        // a port no listener has yet
        assert_ne!(
            before,
            fingerprint(&plan_of(TOPOLOGY, &[22, 8081]), TOPOLOGY)
        );
        assert_eq!(before.len(), 64);
    }
}
