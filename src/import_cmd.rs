//! `vifgate topology import-cfn`: a CloudFormation template read as a stack
//! would be, mapped onto a topology file, checked, and written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use topology::cfn::mapping::{self, MapOptions};
use topology::cfn::stacks::{self, Deployment, DeploymentOptions, StackTemplate};
use topology::cfn::{Evaluated, ImportWarning};

/// What `import-cfn` was asked.
#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    /// The templates, each `TEMPLATE` or `NAME=TEMPLATE` (the stack's name;
    /// default the file stem).
    pub templates: Vec<String>,
    /// `--param [STACK.]KEY=VALUE`.
    pub params: Vec<String>,
    /// `--import NAME=VALUE`.
    pub imports: Vec<String>,
    /// `--region`.
    pub region: Option<String>,
    /// `--azs a,b,c`: zone names for `Fn::GetAZs`.
    pub azs: Option<String>,
    /// `--merge OFFICE.toml`.
    pub merge: Option<PathBuf>,
    /// `-o FILE` (standard output when `None`).
    pub output: Option<PathBuf>,
}

/// Imports the templates as one deployment (see
/// [`topology::cfn::stacks`]): evaluates them with their parameters, the
/// `--import` values, the region and zones, maps them, merges the office
/// file over the result, checks that it loads, and writes it. Warnings go
/// to standard error as `TEMPLATE:LINE: warning: LOGICAL_ID: message`,
/// then one listing every import left unresolved.
///
/// Exit status 1 when a template or the office file cannot be read or
/// evaluated, when the stacks' imports conflict, when the merge conflicts,
/// or when the result does not load.
pub fn import_cfn(req: &ImportRequest) -> Result<ExitCode> {
    let stacks: Vec<(String, PathBuf)> = req
        .templates
        .iter()
        .map(|a| stack_argument(a))
        .collect::<Result<_>>()?;
    // every file read: the output may be none of them
    let inputs: Vec<&Path> = stacks
        .iter()
        .map(|(_, p)| p.as_path())
        .chain(req.merge.as_deref())
        .collect();
    if let Some(out) = &req.output {
        // an output that is an input (or cannot be written) is the files'
        // conflict, status 1 like the others: 2 is a malformed command line
        if let Err(e) = crate::output_file::check(out, &inputs) {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::FAILURE);
        }
    }
    let mut templates = Vec::new();
    for (name, path) in &stacks {
        let src = match topology::diag::read_source(path) {
            Ok(s) => s,
            Err(d) => {
                eprint!("{d}");
                return Ok(ExitCode::FAILURE);
            }
        };
        templates.push(StackTemplate {
            name: name.clone(),
            src,
            params: Vec::new(),
        });
    }
    let params: Vec<Vec<stacks::DeclaredParameter>> = templates
        .iter()
        .map(|t| stacks::declared_parameters(&t.src))
        .collect();
    let declared: Vec<(String, Vec<String>)> = templates
        .iter()
        .zip(&params)
        .map(|(t, p)| (t.name.clone(), p.iter().map(|d| d.name.clone()).collect()))
        .collect();
    let routed = match stacks::route_params(&declared, &key_values("--param", &req.params)?) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    for (t, p) in templates.iter_mut().zip(routed) {
        t.params = p;
    }
    if let Some(r) = &req.region {
        topology::resolve::regions::check_region(r).map_err(|e| anyhow::anyhow!("--region {e}"))?;
    }
    let opts = DeploymentOptions {
        region: req.region.clone(),
        azs: zones(req.region.as_deref(), req.azs.as_deref())?,
        account_id: None,
        imports: key_values("--import", &req.imports)?,
    };
    let secrets: HashMap<String, Vec<String>> = templates
        .iter()
        .zip(&params)
        .map(|(t, p)| {
            let secret = p.iter().filter(|d| d.no_echo).map(|d| d.name.clone());
            (t.name.clone(), secret.collect())
        })
        .collect();
    let deployment = match stacks::deploy(templates, &opts) {
        Ok(d) => d,
        Err(d) => {
            eprint!("{d}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let merge = req.merge.as_deref();
    let map_opts = MapOptions {
        office_placeholder: merge.is_none(),
    };
    let combined = deployment.combined();
    let (table, map_warnings) = mapping::to_topology_with(&combined, &map_opts);
    print_warnings(&deployment, &map_warnings);
    for (name, _) in &opts.imports {
        let asked = combined.imports.iter().map(|u| u.name.as_str());
        if !combined.imports.iter().any(|u| &u.name == name) {
            let unresolved = deployment.unresolved();
            let open = unresolved.iter().map(|(_, u)| u.name.as_str());
            let hint = topology::diag::did_you_mean(name, open.chain(asked))
                .map_or(String::new(), |s| format!("; did you mean `{s}`?"));
            eprintln!("warning: --import {name}: no template imports `{name}`{hint}");
        }
    }

    let table = match merge {
        None => table,
        Some(office_path) => {
            let text = topology::diag::read_input_text(office_path)
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

    let text = header(&deployment, &combined, &opts, merge, &secrets) + &mapping::render(&table);
    let name: PathBuf = match &req.output {
        Some(p) => p.clone(),
        None => PathBuf::from(format!(
            "{}.toml",
            deployment
                .stacks
                .first()
                .and_then(|s| s.file.file_stem())
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
    match &req.output {
        Some(p) => crate::output_file::write(p, text.as_bytes(), &inputs)?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `NAME=TEMPLATE` or `TEMPLATE` (an existing file is always a template).
fn stack_argument(arg: &str) -> Result<(String, PathBuf)> {
    let path = Path::new(arg);
    if !path.exists() {
        if let Some((name, file)) = arg.split_once('=') {
            stacks::check_stack_name(name).map_err(anyhow::Error::msg)?;
            return Ok((name.to_string(), PathBuf::from(file)));
        }
    }
    Ok((stacks::default_stack_name(path), path.to_path_buf()))
}

/// `KEY=VALUE` arguments of `flag`.
fn key_values(flag: &str, args: &[String]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(args.len());
    for p in args {
        let Some((k, v)) = p.split_once('=') else {
            bail!("{flag} `{p}` is not KEY=VALUE");
        };
        if k.trim().is_empty() {
            bail!("{flag} `{p}` has no key");
        }
        out.push((k.trim().to_string(), v.to_string()));
    }
    Ok(out)
}

/// `--azs a,b,c`: zones of the region (`--region`, or its default).
fn zones(region: Option<&str>, list: Option<&str>) -> Result<Option<Vec<String>>> {
    let Some(list) = list else {
        return Ok(None);
    };
    let zones: Vec<String> = list
        .split(',')
        .map(|z| z.trim().to_string())
        .filter(|z| !z.is_empty())
        .collect();
    if zones.is_empty() {
        bail!("--azs `{list}` names no zone");
    }
    let region = region.unwrap_or(topology::cfn::DEFAULT_REGION);
    for z in &zones {
        topology::resolve::regions::check_zone(region, z)
            .map_err(|e| anyhow::anyhow!("--azs {e}"))?;
    }
    Ok(Some(zones))
}

/// Every warning, stack by stack in line order, each naming its template;
/// then the imports left unresolved, all in one warning.
fn print_warnings(d: &Deployment, map_warnings: &[ImportWarning]) {
    let mut elsewhere = Vec::new();
    let mut per_stack: Vec<Vec<ImportWarning>> = d
        .stacks
        .iter()
        .map(|s| s.evaluated.warnings.clone())
        .collect();
    for w in map_warnings {
        match d.attribute(w) {
            (Some(s), w) => {
                if let Some(i) = d.stacks.iter().position(|x| x.name == s.name) {
                    per_stack[i].push(w);
                }
            }
            (None, w) => elsewhere.push(w),
        }
    }
    for (s, mut ws) in d.stacks.iter().zip(per_stack) {
        ws.sort_by_key(|w| w.line);
        // one template given as several stacks: say which stack
        let shared = d.stacks.iter().filter(|x| x.file == s.file).count() > 1;
        for w in &mut ws {
            if shared {
                w.logical_id = format!("{}.{}", s.name, w.logical_id);
            }
            eprintln!("{}", warning_line(Some(&s.file), w));
        }
    }
    for w in &elsewhere {
        eprintln!("{}", warning_line(None, w));
    }
    let unresolved = d.unresolved();
    if unresolved.is_empty() {
        return;
    }
    // name → where it is used, names in first-use order
    let mut uses: Vec<(&str, Vec<String>)> = Vec::new();
    let several = d.stacks.len() > 1;
    for (s, u) in &unresolved {
        let mut at = format!("{}:{}:{}", s.file.display(), u.line, u.col);
        if several {
            at = format!("stack {} at {at}", s.name);
        }
        match uses.iter_mut().find(|(n, _)| *n == u.name) {
            Some((_, ats)) => ats.push(at),
            None => uses.push((u.name.as_str(), vec![at])),
        }
    }
    let list: Vec<String> = uses
        .iter()
        .map(|(n, ats)| format!("`{n}` ({})", ats.join(", ")))
        .collect();
    eprintln!(
        "warning: {} import{} left unresolved, so what uses {} is skipped or incomplete: {}; give the exporting stack's template too, or the value with --import NAME=VALUE",
        uses.len(),
        if uses.len() == 1 { "" } else { "s" },
        if uses.len() == 1 { "it" } else { "them" },
        list.join(", ")
    );
}

/// `TEMPLATE:LINE: warning: LOGICAL_ID: message` (no line when unknown).
fn warning_line(template: Option<&Path>, w: &ImportWarning) -> String {
    let file = template.map_or(String::new(), |t| t.display().to_string());
    match (file.is_empty(), w.line) {
        (true, _) => format!("warning: {}: {}", w.logical_id, w.message),
        (false, 0) => format!("{file}: warning: {}: {}", w.logical_id, w.message),
        (false, line) => format!("{file}:{line}: warning: {}: {}", w.logical_id, w.message),
    }
}

/// The comment at the top of the written file: the templates with their
/// stack names and parameters (`NoEcho` ones as `****`), the `--import`
/// values, the region and zones.
fn header(
    d: &Deployment,
    combined: &Evaluated,
    opts: &DeploymentOptions,
    merge: Option<&Path>,
    secrets: &HashMap<String, Vec<String>>,
) -> String {
    let params = |stack: &str, params: &[(String, String)]| {
        if params.is_empty() {
            return "none (defaults)".to_string();
        }
        let secret = secrets.get(stack).map_or(&[][..], |v| &v[..]);
        params
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
    let files: Vec<String> = d
        .stacks
        .iter()
        .map(|s| s.file.display().to_string())
        .collect();
    let mut h = format!(
        "# Generated by `vifgate topology import-cfn` from {}\n",
        files.join(", ")
    );
    match d.stacks.as_slice() {
        [one] => h.push_str(&format!(
            "# parameters: {}\n",
            params(&one.name, &one.params)
        )),
        several => {
            for s in several {
                h.push_str(&format!(
                    "# stack {} ({}): parameters: {}\n",
                    s.name,
                    s.file.display(),
                    params(&s.name, &s.params)
                ));
            }
        }
    }
    if !opts.imports.is_empty() {
        let given: Vec<String> = opts
            .imports
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        h.push_str(&format!("# imports given: {}\n", given.join(" ")));
    }
    h.push_str(&format!(
        "# region: {}; zones for Fn::GetAZs: {}\n",
        combined.region,
        combined.azs.join(", ")
    ));
    if let Some(m) = merge {
        h.push_str(&format!("# merged with: {}\n", m.display()));
    }
    h.push_str(&format!(
        "# Addresses AWS assigns at deployment are placeholders: public ones from {}\n# (documentation range), private ones the lowest free in their subnet.\n# Regenerate rather than edit.\n\n",
        topology::resolve::FIRST_PUBLIC
    ));
    h
}
