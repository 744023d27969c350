//! nftables commands run in a lab's namespaces: in-process through
//! libnftables (the library the `nft` program is built on, loaded at run
//! time) from threads that have entered each namespace, or, where the
//! library is missing, by spawning `nft` in the namespace.
//!
//! Both read the same text and make the same single transaction: a
//! script of `table X; delete table X; table X { .. }` replaces a table
//! at once, with no moment without a filter and conntrack kept. A
//! process costs ~10 ms of CPU for its start-up and ruleset cache; the
//! library call costs the netlink round trips only.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fs::File;
use std::io::{self, Write as _};
use std::os::fd::{AsRawFd, FromRawFd};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use super::netns::Netns;

/// The library's file name, as Debian's `libnftables1` installs it.
const LIBRARY: &CStr = c"libnftables.so.1";

/// Set to `spawn` to always spawn `nft` (to compare the two ways).
pub const MODE_ENV: &str = "VIFGATE_NFT";

/// At most this many threads load namespaces in parallel. More than the
/// cores: a transaction's time is mostly the kernel's wait for its commit
/// (an RCU grace period), not CPU, so the waits overlap (with two
/// threads, 28 tables took three times as long as 28 `nft` processes).
const MAX_THREADS: usize = 32;

/// One nftables command in one namespace: `nft ARGS` with `stdin` piped
/// to it (an `nft -f -` script).
pub type Run<'a> = (&'a str, &'a [&'a str], Option<&'a str>);

/// Runs `nft ARGS` in namespace `ns`, with `stdin` (an `nft -f -`
/// script): its output, or an error with nft's message.
pub fn nft(ns: &str, args: &[&str], stdin: Option<&str>) -> io::Result<String> {
    nft_each(&[(ns, args, stdin)])
        .pop()
        .unwrap_or_else(|| Err(io::Error::other("no nft outcome")))
}

/// [`nft`] for each `(ns, args, stdin)`, run in parallel: the outcomes in
/// the same order. In-process when libnftables loads and the command is
/// one it takes as text (`-f -` with a script, or plain words such as
/// `delete table inet t`); otherwise by spawning `nft`.
pub fn nft_each(runs: &[Run<'_>]) -> Vec<io::Result<String>> {
    match Library::get() {
        Some(lib) if runs.iter().all(|r| command_text(r).is_some()) => in_process(lib, runs),
        _ => spawn_each(runs),
    }
}

/// What libnftables runs for `nft ARGS` with `stdin`, if it is one
/// without options: the script of `-f -`, or the words themselves.
fn command_text<'a>(&(_, args, stdin): &Run<'a>) -> Option<Input<'a>> {
    match (args, stdin) {
        (["-f", "-"], Some(script)) => Some(Input::Script(script)),
        (words, None) if !words.is_empty() && words.iter().all(|w| !w.starts_with('-')) => {
            Some(Input::Words(words.join(" ")))
        }
        _ => None,
    }
}

/// An nft command as libnftables takes it.
#[derive(Debug, PartialEq)]
enum Input<'a> {
    /// A script (`nft -f -`): read from a file, as `nft -f` does, so that
    /// an error names its line and quotes it (from a buffer the library
    /// quotes the first line and names none).
    Script(&'a str),
    /// One command line (`nft delete table inet t`).
    Words(String),
}

/// The name a script's errors are reported under, as `nft -f -` does.
const SCRIPT_NAME: &str = "/dev/stdin";

/// The functions of libnftables this module calls.
struct Library {
    ctx_new: NewFn,
    ctx_free: FreeFn,
    buffer_output: FlagFn,
    buffer_error: FlagFn,
    output: BufferFn,
    error: BufferFn,
    run: RunFn,
    run_file: RunFn,
}

/// `nft_ctx_new(uint32_t flags)`.
type NewFn = unsafe extern "C" fn(u32) -> *mut c_void;
/// `nft_ctx_free(struct nft_ctx *)`.
type FreeFn = unsafe extern "C" fn(*mut c_void);
/// `nft_ctx_buffer_output` and `_error`.
type FlagFn = unsafe extern "C" fn(*mut c_void) -> c_int;
/// `nft_ctx_get_output_buffer` and `_error_buffer`.
type BufferFn = unsafe extern "C" fn(*mut c_void) -> *const c_char;
/// `nft_run_cmd_from_buffer` and `_from_filename`.
type RunFn = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int;

/// Serialises `nft_ctx_new` and `nft_ctx_free`: the first initialises
/// process-wide state (GMP's allocator, xtables) without a lock.
static CONTEXTS: Mutex<()> = Mutex::new(());

impl Library {
    /// The library, loaded once; `None` (said in a debug log) when it
    /// cannot be loaded or [`MODE_ENV`] asks for `nft` processes.
    fn get() -> Option<&'static Library> {
        static LOADED: OnceLock<Option<Library>> = OnceLock::new();
        LOADED
            .get_or_init(|| {
                if std::env::var(MODE_ENV).is_ok_and(|v| v == "spawn") {
                    tracing::debug!("{MODE_ENV}=spawn: nftables through `nft` processes");
                    return None;
                }
                Library::load()
                    .map_err(|e| tracing::debug!("nftables through `nft` processes: {e}"))
                    .ok()
            })
            .as_ref()
    }

    fn load() -> Result<Library, String> {
        // SAFETY: a NUL-terminated name; the handle is never closed, so
        // the symbols stay valid for the life of the process.
        let handle = unsafe { libc::dlopen(LIBRARY.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return Err(format!(
                "{} not loaded: {}",
                LIBRARY.to_string_lossy(),
                dl_error()
            ));
        }
        let sym = |name: &CStr| -> Result<*mut c_void, String> {
            // SAFETY: a live handle and a NUL-terminated name.
            let p = unsafe { libc::dlsym(handle, name.as_ptr()) };
            if p.is_null() {
                Err(format!(
                    "{} lacks {}",
                    LIBRARY.to_string_lossy(),
                    name.to_string_lossy()
                ))
            } else {
                Ok(p)
            }
        };
        // SAFETY: each symbol has the C signature libnftables.h declares
        // for it (nft_ctx *, uint32_t, const char *, int).
        unsafe {
            Ok(Library {
                ctx_new: std::mem::transmute::<*mut c_void, NewFn>(sym(c"nft_ctx_new")?),
                ctx_free: std::mem::transmute::<*mut c_void, FreeFn>(sym(c"nft_ctx_free")?),
                buffer_output: std::mem::transmute::<*mut c_void, FlagFn>(sym(
                    c"nft_ctx_buffer_output",
                )?),
                buffer_error: std::mem::transmute::<*mut c_void, FlagFn>(sym(
                    c"nft_ctx_buffer_error",
                )?),
                output: std::mem::transmute::<*mut c_void, BufferFn>(sym(
                    c"nft_ctx_get_output_buffer",
                )?),
                error: std::mem::transmute::<*mut c_void, BufferFn>(sym(
                    c"nft_ctx_get_error_buffer",
                )?),
                run: std::mem::transmute::<*mut c_void, RunFn>(sym(c"nft_run_cmd_from_buffer")?),
                run_file: std::mem::transmute::<*mut c_void, RunFn>(sym(
                    c"nft_run_cmd_from_filename",
                )?),
            })
        }
    }

    /// Runs `input` in the calling thread's namespace: what it printed,
    /// or its error message, and the context it ran in, to be released
    /// once every run of the batch is done (see [`Context`]).
    fn run(&'static self, input: &Input<'_>) -> (Result<String, String>, Option<Context>) {
        // a script is read from a memory file, named as /proc shows it
        let (file, text) = match input {
            Input::Script(script) => {
                let file = match memory_file(script) {
                    Ok(f) => f,
                    Err(e) => return (Err(format!("script file: {e}")), None),
                };
                let path = format!("/proc/self/fd/{}", file.as_raw_fd());
                (Some((file, path.clone())), path)
            }
            Input::Words(words) => (None, words.clone()),
        };
        let Ok(text) = CString::new(text) else {
            return (Err("a NUL byte in the command".to_string()), None);
        };
        let ctx = {
            let _one = CONTEXTS.lock().unwrap_or_else(|p| p.into_inner());
            // SAFETY: NFT_CTX_DEFAULT (0); freed when the Context drops.
            unsafe { (self.ctx_new)(0) }
        };
        if ctx.is_null() {
            return (Err("nft_ctx_new failed".into()), None);
        }
        let context = Context { lib: self, ctx };
        // SAFETY: a live context; the buffers it returns are valid until
        // it is freed, and copied before that.
        let outcome = unsafe {
            if (self.buffer_output)(ctx) != 0 || (self.buffer_error)(ctx) != 0 {
                Err("nft_ctx_buffer_* failed".into())
            } else {
                let run = if file.is_some() {
                    self.run_file
                } else {
                    self.run
                };
                let rc = run(ctx, text.as_ptr());
                let read = |p: *const c_char| {
                    if p.is_null() {
                        String::new()
                    } else {
                        CStr::from_ptr(p).to_string_lossy().into_owned()
                    }
                };
                if rc == 0 {
                    Ok(read((self.output)(ctx)))
                } else {
                    Err(read((self.error)(ctx)))
                }
            }
        };
        let outcome = match file {
            Some((_, path)) => outcome.map_err(|e| e.replace(&path, SCRIPT_NAME)),
            None => outcome,
        };
        (outcome, Some(context))
    }
}

/// A libnftables context, freed when dropped.
///
/// Freeing one closes its netlink socket, and the kernel makes that close
/// wait until the objects of every committed transaction are destroyed
/// (nf_tables flushes its destroy work, an RCU grace period, ~10-15 ms on
/// this VM). Freed one after another, each right after its commit, 28
/// replacements paid that wait up to 28 times; freed together once all are
/// committed, the first free waits for all of them and the rest find
/// nothing left to wait for.
struct Context {
    lib: &'static Library,
    ctx: *mut c_void,
}

// SAFETY: a context is used by one thread at a time: made and run on a
// worker, then only freed (under CONTEXTS) by whoever drops it.
unsafe impl Send for Context {}

impl Drop for Context {
    fn drop(&mut self) {
        let _one = CONTEXTS.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: made by nft_ctx_new, freed once, not used after.
        unsafe { (self.lib.ctx_free)(self.ctx) };
    }
}

/// A file in memory holding `text`, closed when dropped.
fn memory_file(text: &str) -> io::Result<File> {
    // SAFETY: a NUL-terminated name; the fd is owned by the File below.
    let fd = unsafe { libc::memfd_create(c"nft-script".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd owned by no one else.
    let mut file = unsafe { File::from_raw_fd(fd) };
    file.write_all(text.as_bytes())?;
    Ok(file)
}

/// The last `dlerror` message.
fn dl_error() -> String {
    // SAFETY: dlerror returns null or a NUL-terminated string.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown error".into()
    } else {
        // SAFETY: as above.
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

/// `runs` through the library, from up to [`MAX_THREADS`] threads, each
/// entering a run's namespace before it runs it.
/// Every context is freed after the last run is done ([`Context`]).
fn in_process(lib: &'static Library, runs: &[Run<'_>]) -> Vec<io::Result<String>> {
    let next = AtomicUsize::new(0);
    let threads = runs.len().min(MAX_THREADS);
    let mut contexts: Vec<Context> = Vec::new();
    let mut out: Vec<(usize, io::Result<String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    let mut held = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(run) = runs.get(i) else {
                            return (done, held);
                        };
                        let (outcome, ctx) = run_in(lib, run);
                        done.push((i, outcome));
                        held.extend(ctx);
                    }
                })
            })
            .collect();
        let mut out = Vec::new();
        for w in workers {
            if let Ok((done, held)) = w.join() {
                out.extend(done);
                contexts.extend(held);
            }
        }
        out
    });
    drop(contexts);
    out.sort_by_key(|(i, _)| *i);
    // a thread that panicked leaves its runs without an outcome
    let mut out = out.into_iter().peekable();
    (0..runs.len())
        .map(|i| match out.next_if(|(j, _)| *j == i) {
            Some((_, r)) => r,
            None => Err(io::Error::other("nft thread panicked")),
        })
        .collect()
}

/// One run in its namespace, on the calling thread (which stays there).
fn run_in(lib: &'static Library, run: &Run<'_>) -> (io::Result<String>, Option<Context>) {
    let (ns, args, _) = *run;
    let Some(input) = command_text(run) else {
        return (Err(io::Error::other("not a text command")), None);
    };
    if let Err(e) = Netns::open(ns).and_then(|n| n.enter_thread()) {
        return (Err(e), None);
    }
    let (outcome, ctx) = lib.run(&input);
    (outcome.map_err(|msg| failed(ns, args, &msg)), ctx)
}

/// The error of `nft ARGS` in `ns` that printed `msg`.
fn failed(ns: &str, args: &[&str], msg: &str) -> io::Error {
    io::Error::other(format!("nft {} in {ns}: {}", args.join(" "), msg.trim()))
}

/// [`nft`] for each run by spawning `nft`, all started before any is
/// waited for.
fn spawn_each(runs: &[Run<'_>]) -> Vec<io::Result<String>> {
    let children: Vec<io::Result<Child>> = runs
        .iter()
        .map(|&(ns, args, stdin)| spawn_nft(ns, args, stdin))
        .collect();
    children
        .into_iter()
        .zip(runs)
        .map(|(child, &(ns, args, _))| child.and_then(|c| nft_output(c, ns, args)))
        .collect()
}

/// `nft ARGS` started in `ns`, `stdin` written to it and closed.
fn spawn_nft(ns: &str, args: &[&str], stdin: Option<&str>) -> io::Result<Child> {
    let mut cmd = Command::new("nft");
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Netns::open(ns)?.command(&mut cmd)?;
    let mut child = cmd.spawn().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("run nft in {ns} (is nftables installed?): {e}"),
        )
    })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())?;
    }
    Ok(child)
}

/// What a started `nft ARGS` printed, once it has ended; an error with
/// its message when it failed.
fn nft_output(child: Child, ns: &str, args: &[&str]) -> io::Result<String> {
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(failed(ns, args, &String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::lab::{need_tool, root_or_skip, TestNet};

    /// The library, or a skip (a failure under `CI=true`) without it.
    fn library(test: &str) -> Option<&'static Library> {
        if !root_or_skip(test) || !need_tool("nft") {
            return None;
        }
        let lib = Library::load();
        if std::env::var("CI").as_deref() == Ok("true") {
            return Some(Box::leak(Box::new(lib.expect("libnftables"))));
        }
        lib.map_err(|e| eprintln!("skipped: {e}"))
            .ok()
            .map(|l| &*Box::leak(Box::new(l)))
    }

    /// A firewall as the lab writes them, replacing its table: a set,
    /// conntrack, counters, a comment, a jump.
    fn script(table: &str) -> String {
        format!(
            "table inet {table}\ndelete table inet {table}\n\
             table inet {table} {{\n\
             \tset admitted {{ type ipv4_addr; flags interval; elements = {{ 10.0.0.0/24, 10.1.2.3 }} }}\n\
             \tchain sg_in {{\n\
             \t\ttcp dport {{ 22, 443 }} ip saddr @admitted counter accept comment \"sg-0 rule 1\"\n\
             \t}}\n\
             \tchain input {{\n\
             \t\ttype filter hook input priority filter; policy drop;\n\
             \t\tct state established,related accept\n\
             \t\tiifname \"lo\" accept\n\
             \t\tjump sg_in\n\
             \t}}\n\
             }}\n"
        )
    }

    fn ruleset(ns: &str) -> String {
        spawn_each(&[(ns, &["list", "ruleset"], None)])
            .pop()
            .expect("one outcome")
            .expect("nft list ruleset")
    }

    #[test]
    fn a_ruleset_loaded_in_process_lists_as_the_one_nft_loads() {
        let Some(lib) = library("a_ruleset_loaded_in_process_lists_as_the_one_nft_loads") else {
            return;
        };
        let mut net = TestNet::new();
        let (a, b) = (net.add_bare_ns("a"), net.add_bare_ns("b"));
        let table = format!("vsnft{}", std::process::id());
        let text = script(&table);
        // twice each: the second replaces the table the first made
        for _ in 0..3 {
            let ours = in_process(lib, &[(&a, &["-f", "-"], Some(&text))]);
            let nfts = spawn_each(&[(&b, &["-f", "-"], Some(&text))]);
            assert!(ours[0].is_ok() && nfts[0].is_ok(), "{ours:?} {nfts:?}");
        }
        let listed = ruleset(&a);
        assert!(listed.contains("@admitted"), "{listed}");
        assert_eq!(listed, ruleset(&b));
        // in the namespace, not the test's own
        let here = Command::new("nft")
            .args(["list", "table", "inet", &table])
            .output()
            .expect("nft");
        assert!(
            !here.status.success(),
            "the table leaked out of the namespace"
        );
        // plain words run too: the table removed
        let removed = in_process(lib, &[(&a, &["delete", "table", "inet", &table], None)]);
        assert!(removed[0].is_ok(), "{removed:?}");
        assert_eq!(ruleset(&a), "");
    }

    #[test]
    fn a_refused_ruleset_gives_nfts_message_with_its_line() {
        let Some(lib) = library("a_refused_ruleset_gives_nfts_message_with_its_line") else {
            return;
        };
        let mut net = TestNet::new();
        let (a, b) = (net.add_bare_ns("a"), net.add_bare_ns("b"));
        let table = format!("vsnfe{}", std::process::id());
        // line 4: an unknown statement, after a table that would load
        let text = script(&table).replacen("counter accept", "counter acept", 1);
        let many: Vec<Run<'_>> = vec![
            (&a, &["-f", "-"], Some(&text)),
            (&b, &["-f", "-"], Some(&text)),
        ];
        let ours = in_process(lib, &many);
        let nfts = spawn_each(&many[1..]);
        let ours = ours[0].as_ref().expect_err("refused").to_string();
        let nfts = nfts[0].as_ref().expect_err("refused").to_string();
        assert!(ours.starts_with(&format!("nft -f - in {a}: ")), "{ours}");
        assert!(
            ours.contains("/dev/stdin:6:58-64: Error: syntax error"),
            "{ours}"
        );
        assert!(
            ours.contains("counter acept comment"),
            "the line quoted: {ours}"
        );
        assert_eq!(ours.replace(&a, &b), nfts);
        // one transaction: nothing of the script is left
        assert_eq!(ruleset(&a), "");
    }

    #[test]
    fn only_option_free_commands_run_in_process() {
        let script = "table inet t {}";
        assert_eq!(
            command_text(&("x", &["-f", "-"], Some(script))),
            Some(Input::Script(script))
        );
        assert_eq!(
            command_text(&("x", &["delete", "table", "inet", "t"], None)),
            Some(Input::Words("delete table inet t".into()))
        );
        assert_eq!(command_text(&("x", &["-j", "list", "ruleset"], None)), None);
        assert_eq!(command_text(&("x", &["-f", "/etc/x"], None)), None);
        assert_eq!(command_text(&("x", &[], None)), None);
    }
}
