//! The daemons' configurations as text: how a topology name is written
//! into each configuration language ([`names`]), and each file checked
//! by its daemon before it starts ([`check`]).

pub mod check;
pub mod names;

#[cfg(test)]
mod accepted;
