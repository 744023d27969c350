//! `vifgate`: the command line. It parses arguments and calls into the
//! crates; it holds no network logic of its own.
//!
//! One file per command family: `topology_cmd` (`topology check`, `reach`,
//! `bgp`, `matrix`, `graph`), `scale_cmd` (`topology scale`) and `import_cmd`
//! (`topology import-cfn`) over the `topology` crate; `gateway_cmd` (`gateway`, `status`) and `keys_cmd`
//! (`genkey`, `pubkey`, `genpsk`) over `gateway`; `sim_cmd` (`sim plan`,
//! `up`, `down`, `status`, `exec`, `link`, `test`, `bgp`) over `sim` (a BGP
//! report, predicted or live, printed by `BgpReport::render`); and `bench/`
//! (`bench matrix`, `conntrack`, `acl`, `sim`, and the traffic tools
//! `flood-gen`, `syn-flood` and `tcp-probe`), one file per benchmark or tool.

mod bench;
mod flowlogs_cmd;
mod gateway_cmd;
mod import_cmd;
mod keys_cmd;
mod output_file;
mod scale_cmd;
mod sim_cmd;
mod topology_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Hybrid-cloud network gateway and Direct Connect simulator.
#[derive(Parser)]
#[command(name = "vifgate", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check, analyse and draw a topology file (offline, no root).
    #[command(subcommand)]
    Topology(topology_cmd::TopologyCommand),
    /// Run the gateway in the foreground (root: TUN device).
    Gateway {
        /// Gateway configuration (TOML, docs/gateway.md).
        #[arg(long)]
        config: PathBuf,
        /// Only check the configuration.
        #[arg(long)]
        check: bool,
    },
    /// Print a new WireGuard private key, like `wg genkey`.
    #[command(visible_alias = "keygen")]
    Genkey,
    /// Read a private key on standard input, print its public key, like `wg pubkey`.
    Pubkey,
    /// Print a new WireGuard preshared key, like `wg genpsk`.
    Genpsk,
    /// Ask a running gateway for peers, routes, counters.
    Status {
        /// The gateway's status socket.
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Or its interface name (socket /run/vifgate/NAME.sock).
        #[arg(long, value_parser = parse_interface_name)]
        interface: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Bring a topology to life in network namespaces and check live
    /// traffic against the static analysis (root).
    #[command(subcommand)]
    Sim(sim_cmd::SimCommand),
    /// Benchmarks that print figures (not tests).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

impl Command {
    /// Whether the command was asked for JSON (`--json`): its errors then
    /// come as one JSON object on standard output too.
    fn json(&self) -> bool {
        match self {
            Command::Topology(c) => c.json(),
            Command::Status { json, .. } => *json,
            Command::Sim(c) => c.json(),
            _ => false,
        }
    }
}

fn main() -> ExitCode {
    // `vifgate topology matrix ... | head` ends quietly, like any Unix tool,
    // instead of panicking on a closed pipe
    // SAFETY: setting a signal disposition to its default before any thread
    // starts has no memory-safety effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return command_line_error(e),
    };
    // the gateway is a service: its start, reloads and stops are news
    let default_level = match cli.command {
        Command::Gateway { check: false, .. } => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let json = cli.command.json();
    let result = match cli.command {
        Command::Topology(c) => topology_cmd::run(c),
        Command::Gateway { config, check } => gateway_cmd::gateway(&config, check),
        Command::Status {
            socket,
            interface,
            json,
        } => gateway_cmd::status(&gateway_cmd::socket_path(socket, interface), json),
        Command::Genkey => keys_cmd::genkey(),
        Command::Pubkey => keys_cmd::pubkey(),
        Command::Genpsk => keys_cmd::genpsk(),
        Command::Bench(c) => bench::run(c),
        Command::Sim(c) => sim_cmd::run(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if let Some(f) = e.downcast_ref::<topology_cmd::FileErrors>() {
                // the file's diagnostics, as the topology commands print them
                if json {
                    println!("{}", topology_cmd::json_errors(&f.file, &f.diagnostics));
                } else {
                    eprint!("{}", f.diagnostics);
                    eprintln!("error: {e:#}");
                }
            } else if json {
                // a script reads standard output: one object, as the
                // command's own output would have been
                println!("{}", serde_json::json!({ "error": format!("{e:#}") }));
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::from(2)
        }
    }
}

/// A command line clap refuses (a bad value such as a lab name, a port or
/// a timeout, which are checked as the line is read): with `--json` among
/// the options, one JSON object on standard output, as every failing
/// command gives; otherwise clap's own message. Status 2 either way.
fn command_line_error(e: clap::Error) -> ExitCode {
    let json = std::env::args()
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    if !json || !e.use_stderr() {
        // help and --version print as they always do
        e.exit()
    }
    let text = e.render().to_string();
    let first = text.split("\n\n").next().unwrap_or_default();
    let message = first.strip_prefix("error: ").unwrap_or(first).trim();
    println!("{}", serde_json::json!({ "error": message }));
    ExitCode::from(2)
}

/// An interface name as the kernel takes it (checked before it becomes a
/// socket path: `--interface ../x` must not name a file elsewhere).
fn parse_interface_name(name: &str) -> Result<String, String> {
    match gateway::config::interface_name_problem(name) {
        Some(why) => Err(format!("`{name}` is no interface name: {why}")),
        None => Ok(name.to_string()),
    }
}
