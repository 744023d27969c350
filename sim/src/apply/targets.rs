//! Registering and deregistering a load balancer's targets as an ALB's
//! target group does, through HAProxy's runtime API (its admin stats
//! socket): no reload, so no connection is disturbed.
//!
//! - Registering puts the instance in its server slot (declared up to the
//!   group's `max`, see [`crate::render::haproxy`]): its address, its name
//!   in the target map, health checks on, then the server is made ready
//!   *down*, so that it gets traffic only after `rise` passing checks (a
//!   healthy threshold), ramping up with `slowstart` where it is set.
//! - Deregistering puts the server in maintenance at once: no new request
//!   goes to it, not even a sticky client's (whose cookie then names a
//!   server that is not up: HAProxy sends it to another, whose cookie it
//!   gets). Requests in flight complete; once none is left, or when the
//!   deregistration delay is over, what is left is shut, and the slot is
//!   emptied; its name stays in the target map (one map for all the load
//!   balancer's backends, whose slots of one name hold one instance).
//!   (HAProxy's `drain` state would keep sending sticky clients to the
//!   target, which an ALB does not.)

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::plan::Target;
use crate::render::haproxy::PLACEHOLDER;
use crate::render::names::haproxy_name;

/// What [`register`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// The slot took the instance.
    InSlot,
    /// The backend has no such server: the configuration must be loaded.
    NoSlot,
}

/// Sends `command` to HAProxy's runtime API on `sock`; its answer
/// (trimmed).
pub fn haproxy_api(sock: &Path, command: &str) -> io::Result<String> {
    use std::io::{Read as _, Write as _};
    let mut s = std::os::unix::net::UnixStream::connect(sock)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", sock.display())))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("{command}\n").as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.trim().to_string())
}

/// Sends `command`, and makes an error of any answer but an empty one or
/// one that starts with one of `fine`.
fn expect(sock: &Path, command: &str, fine: &[&str]) -> io::Result<()> {
    let said = haproxy_api(sock, command)?;
    if said.is_empty() || fine.iter().any(|f| said.starts_with(f)) {
        Ok(())
    } else {
        Err(io::Error::other(format!("`{command}`: {said}")))
    }
}

/// Registers `t` in its slot of the HAProxy on `sock`, whose target map
/// (server to instance, what the `X-Vifgate-Target` header says) is the
/// file `map`.
pub fn register(sock: &Path, map: &Path, t: &Target) -> io::Result<Registered> {
    let server = format!("{}/{}", t.backend, t.server);
    let said = haproxy_api(
        sock,
        &format!(
            "set server {server} addr {} port {}",
            t.address.ip(),
            t.address.port()
        ),
    )?;
    if said.contains("No such server") || said.contains("No such backend") {
        return Ok(Registered::NoSlot);
    }
    if !said.is_empty() && !said.starts_with("IP changed") && !said.starts_with("no need") {
        return Err(io::Error::other(format!(
            "set server {server} addr: {said}"
        )));
    }
    name_slot(sock, map, &t.server, &haproxy_name(&t.instance))?;
    expect(sock, &format!("enable health {server}"), &[])?;
    // drain (no new request) while its health is set down, then ready:
    // it is DOWN until `rise` checks pass
    expect(sock, &format!("set server {server} state drain"), &[])?;
    expect(sock, &format!("set server {server} health down"), &[])?;
    expect(sock, &format!("set server {server} state ready"), &[])?;
    Ok(Registered::InSlot)
}

/// Deregisters `t` from the HAProxy on `sock` (see the module's doc),
/// waiting at most `delay` for its requests in flight. A server that is
/// not there is no error.
pub fn deregister(sock: &Path, t: &Target, delay: Duration) -> io::Result<()> {
    let server = format!("{}/{}", t.backend, t.server);
    let said = haproxy_api(sock, &format!("set server {server} state maint"))?;
    if said.contains("No such server") || said.contains("No such backend") {
        return Ok(());
    }
    let drained_by = Instant::now() + delay;
    while sessions(&haproxy_api(sock, "show stat")?, &t.backend, &t.server) > 0
        && Instant::now() < drained_by
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    expect(sock, &format!("shutdown sessions server {server}"), &[])?;
    expect(sock, &format!("disable health {server}"), &[])?;
    let placeholder = format!("set server {server} addr {PLACEHOLDER}");
    // the slot's name stays in the target map: the map is the load
    // balancer's, one for all its backends, whose slots of one name hold
    // the same instance, and another backend's may still be serving
    // (deleting it made their answers say `-` until their own
    // deregistration); an empty slot answers nothing, and registering
    // names it anew
    expect(sock, &placeholder, &["IP changed", "no need"])
}

/// Gives `slot` the name `instance` in the target map `map`, in one
/// command when it has a name already (`set map`), so that an answer
/// from the slot in another backend never finds it without one.
fn name_slot(sock: &Path, map: &Path, slot: &str, instance: &str) -> io::Result<()> {
    let map = map.display();
    let said = haproxy_api(sock, &format!("set map {map} {slot} {instance}"))?;
    if said.is_empty() {
        return Ok(());
    }
    if !said.starts_with("entry not found") {
        return Err(io::Error::other(format!("set map {map} {slot}: {said}")));
    }
    expect(sock, &format!("add map {map} {slot} {instance}"), &[])
}

/// The current sessions of server `name` of `backend` in the CSV of
/// HAProxy's `show stat` (`pxname,svname,qcur,qmax,scur,...`); 0 when it
/// is not listed.
pub fn sessions(show_stat: &str, backend: &str, name: &str) -> u64 {
    show_stat
        .lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f.len() > 4 && f[0] == backend && f[1] == name)
        .and_then(|f| f[4].parse().ok())
        .unwrap_or(0)
}

/// A target's health as HAProxy's checks see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TargetHealth {
    /// The load balancer.
    pub load_balancer: String,
    /// The backend (`b80`).
    pub backend: String,
    /// The server (slot).
    pub server: String,
    /// The instance in it.
    pub instance: String,
    /// HAProxy's status: `UP`, `DOWN`, `DOWN 1/5` (rising), `UP 1/2`
    /// (falling), `MAINT`, `DRAIN`, `no check`.
    pub status: String,
    /// The last check's result (`L7OK`, `L4TOUT`, ...).
    pub check: String,
}

/// The (status, last check) of server `name` of `backend` in the CSV of
/// HAProxy's `show stat` (the 18th and 37th fields).
pub fn health_in(show_stat: &str, backend: &str, name: &str) -> Option<(String, String)> {
    show_stat
        .lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f.len() > 36 && f[0] == backend && f[1] == name)
        .map(|f| (f[17].to_string(), f[36].to_string()))
}

/// The health of every target of `h`, asked of its HAProxy on `sock`
/// (an unreachable HAProxy gives each target status `unknown` and why).
pub fn health(sock: &Path, h: &crate::plan::HaproxySpec) -> Vec<TargetHealth> {
    let stat = haproxy_api(sock, "show stat");
    h.targets
        .iter()
        .map(|t| {
            let (status, check) = match &stat {
                Ok(text) => health_in(text, &t.backend, &t.server)
                    .unwrap_or_else(|| ("absent".into(), String::new())),
                Err(e) => ("unknown".into(), e.to_string()),
            };
            TargetHealth {
                load_balancer: h.node.clone(),
                backend: t.backend.clone(),
                server: t.server.clone(),
                instance: t.instance.clone(),
                status,
                check,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_read_from_show_stat() {
        let stat =
            "# pxname,svname,qcur,qmax,scur,smax\nb80,web-asg-1,0,0,3,5\nb80,BACKEND,0,0,3,5\n";
        assert_eq!(sessions(stat, "b80", "web-asg-1"), 3);
        assert_eq!(sessions(stat, "b80", "web-asg-2"), 0);
        assert_eq!(sessions(stat, "b443", "web-asg-1"), 0);
    }

    #[test]
    fn health_is_read_from_show_stat() {
        // a row of HAProxy 2.6's `show stat`, cut after check_status
        let mut row: Vec<&str> = vec![""; 40];
        (row[0], row[1], row[17], row[36]) = ("b80", "web-asg-2", "DOWN 1/5", "L7OK");
        let stat = format!("# pxname,svname\n{}\n", row.join(","));
        assert_eq!(
            health_in(&stat, "b80", "web-asg-2"),
            Some(("DOWN 1/5".into(), "L7OK".into()))
        );
        assert_eq!(health_in(&stat, "b80", "web-asg-1"), None);
    }
}
