//! `vifgate topology import-cfn`: a CloudFormation template read as a stack
//! would be, mapped onto a topology file, checked, and written.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use topology::cfn::mapping::{self, MapOptions};
use topology::cfn::{eval, yaml, ImportOptions, ImportWarning};

/// Imports `template`: evaluates it with `params` (`KEY=VALUE`), `region`
/// and `azs` (`a,b,c`: zone names for `Fn::GetAZs`), maps it, merges the
/// office file `merge` over it, checks that the result loads, and writes
/// it to `output` (standard output when `None`). Warnings go to standard
/// error as `TEMPLATE:LINE: warning: LOGICAL_ID: message`.
///
/// Exit status 1 when the template or the office file cannot be read or
/// evaluated, when the merge conflicts, or when the result does not load.
pub fn import_cfn(
    template: &Path,
    params: &[String],
    region: Option<String>,
    azs: Option<String>,
    merge: Option<&Path>,
    output: Option<&Path>,
) -> Result<ExitCode> {
    let opts = options(params, region, azs)?;
    let src = match topology::diag::read_source(template) {
        Ok(s) => s,
        Err(d) => {
            eprint!("{d}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let ev = match eval::evaluate(&src, &opts) {
        Ok(ev) => ev,
        Err(d) => {
            eprint!("{d}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let map_opts = MapOptions {
        office_placeholder: merge.is_none(),
    };
    let (table, map_warnings) = mapping::to_topology_with(&ev, &map_opts);
    let mut warnings: Vec<ImportWarning> = ev.warnings.clone();
    warnings.extend(map_warnings);
    warnings.sort_by_key(|w| w.line);
    for w in &warnings {
        eprintln!("{}", warning_line(template, w));
    }

    let table = match merge {
        None => table,
        Some(office_path) => {
            let text = std::fs::read_to_string(office_path)
                .with_context(|| format!("cannot read {}", office_path.display()))?;
            let office = match mapping::parse_table(&text) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{}: error: {}", office_path.display(), e.trim_end());
                    return Ok(ExitCode::FAILURE);
                }
            };
            match mapping::merge(table, office) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{}: error: cannot merge: {e}", office_path.display());
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    };

    let secret = no_echo_parameters(&src);
    let text =
        header(template, &opts, &ev.region, &ev.azs, merge, &secret) + &mapping::render(&table);
    let name: PathBuf = match output {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from(format!(
            "{}.toml",
            template
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "import".into())
        )),
    };
    match topology::parse(&name, text.clone()) {
        Ok(loaded) => {
            for w in &loaded.warnings.0 {
                eprint!("{w}");
            }
        }
        Err(d) => {
            eprint!("{d}");
            if merge.is_some() {
                eprintln!(
                    "error: the merged topology does not load: check the office file, or report an importer bug with the template"
                );
            } else {
                eprintln!(
                    "error: the imported topology does not load: this is a bug in the importer, please report it with the template"
                );
            }
            return Ok(ExitCode::FAILURE);
        }
    }
    match output {
        Some(p) => {
            std::fs::write(p, &text).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The evaluation options from the command line.
fn options(
    params: &[String],
    region: Option<String>,
    azs: Option<String>,
) -> Result<ImportOptions> {
    let mut opts = ImportOptions {
        region,
        ..ImportOptions::default()
    };
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            bail!("--param `{p}` is not KEY=VALUE");
        };
        if k.trim().is_empty() {
            bail!("--param `{p}` has no key");
        }
        opts.params.push((k.trim().to_string(), v.to_string()));
    }
    if let Some(list) = azs {
        let zones: Vec<String> = list
            .split(',')
            .map(|z| z.trim().to_string())
            .filter(|z| !z.is_empty())
            .collect();
        if zones.is_empty() {
            bail!("--azs `{list}` names no zone");
        }
        opts.azs = Some(zones);
    }
    Ok(opts)
}

/// `TEMPLATE:LINE: warning: LOGICAL_ID: message` (no line when unknown).
fn warning_line(template: &Path, w: &ImportWarning) -> String {
    if w.line == 0 {
        format!(
            "{}: warning: {}: {}",
            template.display(),
            w.logical_id,
            w.message
        )
    } else {
        format!(
            "{}:{}: warning: {}: {}",
            template.display(),
            w.line,
            w.logical_id,
            w.message
        )
    }
}

/// Parameters declared `NoEcho: true`: their values are not written.
fn no_echo_parameters(src: &topology::SourceFile) -> Vec<String> {
    let Ok(root) = yaml::parse(src) else {
        return Vec::new();
    };
    let Some(params) = root.get("Parameters").and_then(|p| p.as_map()) else {
        return Vec::new();
    };
    params
        .iter()
        .filter(|(_, p)| {
            p.get("NoEcho")
                .and_then(|n| n.scalar_text())
                .is_some_and(|t| t.eq_ignore_ascii_case("true"))
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// The comment at the top of the written file.
fn header(
    template: &Path,
    opts: &ImportOptions,
    region: &str,
    azs: &[String],
    merge: Option<&Path>,
    secret: &[String],
) -> String {
    let params = if opts.params.is_empty() {
        "none (defaults)".to_string()
    } else {
        opts.params
            .iter()
            .map(|(k, v)| {
                if secret.contains(k) {
                    format!("{k}=****")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut h = format!(
        "# Generated by `vifgate topology import-cfn` from {}\n# parameters: {params}\n# region: {region}; zones for Fn::GetAZs: {}\n",
        template.display(),
        azs.join(", ")
    );
    if let Some(m) = merge {
        h.push_str(&format!("# merged with: {}\n", m.display()));
    }
    h.push_str(&format!(
        "# Addresses AWS assigns at deployment are placeholders: public ones from {}\n# (documentation range), private ones the lowest free in their subnet.\n# Regenerate rather than edit.\n\n",
        mapping::FIRST_PUBLIC
    ));
    h
}
