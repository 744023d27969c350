//! BGP in a lab: the sessions' names ([`names`]) and the session list the
//! daemons are configured from ([`sessions`], pure); the wait for them to
//! come up ([`wait`]), the running daemons read back ([`live`]) and compared
//! with the analysis ([`check`]).

pub mod check;
pub mod live;
pub mod names;
pub mod sessions;
pub mod wait;
