//! The daemons' configurations as text: how a topology name is written
//! into each configuration language ([`names`]).

pub mod names;

#[cfg(test)]
mod accepted;
