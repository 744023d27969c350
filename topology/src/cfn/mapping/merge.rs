//! `--merge OFFICE.toml`: an office file laid over an imported topology.

use toml::{Table, Value as Toml};

/// Lays an office file over an imported topology. The rule, applied
/// recursively from the top:
///
/// - a key only one side has is kept;
/// - two tables are merged key by key;
/// - two arrays of tables are concatenated, except that an office entry
///   whose `name` equals the `name` of an imported entry is merged into
///   that entry (so `[[vpc.route_table]]` with an imported table's name
///   and `propagate_vgw = true` sets it, and a `[[security_group]]` with an
///   imported group's name adds its rules);
/// - two equal values are kept once; two different values (scalars, or
///   arrays of plain values) are an error naming the key with its path,
///   entries of arrays by name (`vpc.route_table[private].propagate_vgw`);
/// - except the top-level `name` and `description`, which the office file
///   sets when it has them.
///
/// Mind that an office `egress` on an imported group that had none (allow
/// all) replaces the allow-all rule with the office's rules.
pub fn merge(imported: Table, office: Table) -> Result<Table, String> {
    let mut out = imported;
    for (k, v) in office {
        if k == "name" || k == "description" {
            out.insert(k, v);
            continue;
        }
        merge_key(&mut out, k.clone(), v, &k)?;
    }
    Ok(out)
}

fn merge_key(base: &mut Table, key: String, value: Toml, path: &str) -> Result<(), String> {
    match base.get_mut(&key) {
        None => {
            base.insert(key, value);
            Ok(())
        }
        Some(existing) => merge_value(existing, value, path),
    }
}

fn tables_only(items: &[Toml]) -> bool {
    items.iter().all(Toml::is_table)
}

fn merge_value(a: &mut Toml, b: Toml, path: &str) -> Result<(), String> {
    match (a, b) {
        (Toml::Table(x), Toml::Table(y)) => {
            for (k, v) in y {
                let p = format!("{path}.{k}");
                merge_key(x, k, v, &p)?;
            }
            Ok(())
        }
        (Toml::Array(x), Toml::Array(y))
            if tables_only(x) && tables_only(&y) && !(x.is_empty() && y.is_empty()) =>
        {
            for item in y {
                let name = item.get("name").and_then(Toml::as_str).map(str::to_string);
                let same = name.as_deref().and_then(|n| {
                    x.iter_mut()
                        .find(|e| e.get("name").and_then(Toml::as_str) == Some(n))
                });
                match (same, name) {
                    (Some(e), Some(n)) => merge_value(e, item, &format!("{path}[{n}]"))?,
                    _ => x.push(item),
                }
            }
            Ok(())
        }
        (a, b) if *a == b => Ok(()),
        (a, b) => Err(format!(
            "`{path}` is {} in the import and {} in the office file",
            short(a),
            short(&b)
        )),
    }
}

/// A value for a message, cut short.
fn short(v: &Toml) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Table {
        text.parse().expect("test TOML")
    }

    #[test]
    fn arrays_concatenate_and_named_entries_merge() {
        let imported = t(r#"
name = "stack"
[vpc]
name = "vpc"
[[vpc.route_table]]
name = "private"
[[security_group]]
name = "app"
ingress = [{ protocol = "tcp", ports = 80, sg = "elb" }]
"#);
        let office = t(r#"
name = "office"
[vpc]
vgw = { name = "vgw" }
[[vpc.route_table]]
name = "private"
propagate_vgw = true
[[security_group]]
name = "app"
ingress = [{ protocol = "tcp", ports = 22, cidr = "192.168.0.0/16" }]
[[security_group]]
name = "edge"
[[site]]
name = "hq"
"#);
        let m = merge(imported, office).expect("merges");
        assert_eq!(m["name"].as_str(), Some("office"));
        assert_eq!(m["vpc"]["vgw"]["name"].as_str(), Some("vgw"));
        let rts = m["vpc"]["route_table"].as_array().expect("array");
        assert_eq!(rts.len(), 1);
        assert_eq!(rts[0]["propagate_vgw"].as_bool(), Some(true));
        let sgs = m["security_group"].as_array().expect("array");
        assert_eq!(sgs.len(), 2);
        assert_eq!(sgs[0]["ingress"].as_array().map(Vec::len), Some(2));
        assert!(m.contains_key("site"));
    }

    #[test]
    fn a_conflicting_scalar_names_its_key() {
        let e = merge(
            t("[vpc]\nname = \"a\"\ncidr = \"10.0.0.0/16\"\n"),
            t("[vpc]\ncidr = \"10.1.0.0/16\"\n"),
        )
        .expect_err("conflict");
        assert!(e.contains("`vpc.cidr`"), "{e}");
        let e = merge(
            t("[[vpc.route_table]]\nname = \"rt\"\npropagate_vgw = false\n"),
            t("[[vpc.route_table]]\nname = \"rt\"\npropagate_vgw = true\n"),
        )
        .expect_err("conflict");
        assert!(e.contains("`vpc.route_table[rt].propagate_vgw`"), "{e}");
    }

    #[test]
    fn equal_values_are_kept_once() {
        let m = merge(
            t("[internet]\nname = \"internet\"\nip = \"198.51.100.10\"\n"),
            t("[internet]\nip = \"198.51.100.10\"\n"),
        )
        .expect("no conflict");
        assert_eq!(m["internet"]["ip"].as_str(), Some("198.51.100.10"));
    }
}
