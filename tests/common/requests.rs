//! Python HTTP clients in a lab's namespaces, for tests that count the
//! requests that fail while the lab changes.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use super::text;

/// `python3 -c CODE ARGS` in namespace `ns`, started, its output piped
/// (`what` names it in a panic).
pub fn python_in(ns: &str, code: &str, args: &[&str], what: &str) -> Child {
    Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", code])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// What a loop printed (`OK FAILED`, then each failure): the two counts
/// and the whole text.
pub fn loop_counts(out: &Output) -> (usize, usize, String) {
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let counts: Vec<usize> = report
        .split_whitespace()
        .take(2)
        .map(|n| n.parse().expect("a count"))
        .collect();
    assert_eq!(counts.len(), 2, "the loop printed {report}\n{}", text(out));
    (counts[0], counts[1], report)
}

/// A request loop in namespace `ns`: a GET of `url` on a new connection
/// every 10 ms (about 100 a second) until `stop` exists; prints `OK
/// FAILED` and then each failure (seconds since the start, why).
pub fn request_loop(ns: &str, url: &str, stop: &Path) -> Child {
    let code = "import os,sys,time,urllib.request\n\
         url,stop=sys.argv[1],sys.argv[2]; ok=0; bad=[]; t0=time.monotonic()\n\
         while not os.path.exists(stop) and time.monotonic()-t0<120:\n\
         \x20 t=time.monotonic()\n\
         \x20 try:\n\
         \x20   with urllib.request.urlopen(url,timeout=3) as r:\n\
         \x20     r.read(); ok+=1\n\
         \x20 except Exception as e: bad.append('%.2f %s'%(t-t0,e))\n\
         \x20 time.sleep(max(0,0.01-(time.monotonic()-t)))\n\
         print(ok,len(bad))\n\
         for b in bad[:20]: print(b)\n";
    python_in(
        ns,
        code,
        &[url, &stop.to_string_lossy()],
        "start the request loop",
    )
}
