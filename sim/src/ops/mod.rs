//! The operations on a running lab: `sim link` ([`link`], a VIF or VPN cut
//! silently with [`link_cut`]), failover timing ([`failover`]), the lab read
//! back ([`status`], [`inspect`]), live results against the analysis
//! ([`compare`], [`report_html`]), a plan as a shell script ([`script`]),
//! [`lab::Lab`] for integration tests; and a test (`accepted.rs`) that
//! every daemon accepts what the lab writes, whatever the names.

#[cfg(test)]
mod accepted;
pub mod compare;
pub mod fail;
pub mod failover;
pub mod inspect;
pub mod lab;
pub mod link;
pub mod link_cut;
pub mod report_html;
pub mod script;
pub mod status;
