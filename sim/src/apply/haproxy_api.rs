//! HAProxy's runtime API on a load balancer's admin socket: a target
//! deregistered as AWS does it (drained, then deleted).

use super::*;

/// Sends `command` to HAProxy's runtime API on `sock`; its answer
/// (trimmed).
pub(super) fn haproxy_api(sock: &Path, command: &str) -> io::Result<String> {
    use std::io::{Read as _, Write as _};
    let mut s = std::os::unix::net::UnixStream::connect(sock)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", sock.display())))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("{command}\n").as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.trim().to_string())
}

/// How long a deregistered target is drained at most: its connections
/// end by themselves until then (AWS's deregistration delay, shortened
/// for a lab), and are shut after.
pub(super) const DRAIN_AT_MOST: Duration = Duration::from_secs(10);

/// Takes `server` (`BACKEND/SERVER`) out of its backend as AWS
/// deregisters a target: drained first (no new connection goes to it, the
/// ones it has end by themselves, [`DRAIN_AT_MOST`]), then into
/// maintenance, any session left shut (HAProxy deletes only a server with
/// none), then deleted. A server that is not there is no error.
pub(super) fn deregister(sock: &Path, server: &str) -> io::Result<()> {
    let said = haproxy_api(sock, &format!("set server {server} state drain"))?;
    if said.contains("No such server") {
        return Ok(());
    }
    let drained_by = Instant::now() + DRAIN_AT_MOST;
    while sessions(&haproxy_api(sock, "show stat")?, server) > 0 && Instant::now() < drained_by {
        std::thread::sleep(Duration::from_millis(50));
    }
    haproxy_api(sock, &format!("disable server {server}"))?;
    haproxy_api(sock, &format!("shutdown sessions server {server}"))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let said = haproxy_api(sock, &format!("del server {server}"))?;
        if said.starts_with("Server deleted") || said.contains("No such server") {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!("del server {server}: {said}")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The current sessions of `server` (`BACKEND/SERVER`) in the CSV of
/// HAProxy's `show stat` (`pxname,svname,qcur,qmax,scur,...`); 0 when it
/// is not listed.
pub(super) fn sessions(show_stat: &str, server: &str) -> u64 {
    let Some((backend, name)) = server.split_once('/') else {
        return 0;
    };
    show_stat
        .lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f.len() > 4 && f[0] == backend && f[1] == name)
        .and_then(|f| f[4].parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_servers_sessions_are_read_from_show_stat() {
        let stat = "# pxname,svname,qcur,qmax,scur,smax\n\
                    b80,web-a1,0,0,3,4\n\
                    b443,web-a1,0,0,0,0\n\
                    b80,BACKEND,0,0,3,4\n";
        assert_eq!(sessions(stat, "b80/web-a1"), 3);
        assert_eq!(sessions(stat, "b443/web-a1"), 0);
        assert_eq!(sessions(stat, "b80/web-c1"), 0);
        assert_eq!(sessions(stat, "web-a1"), 0);
    }
}
