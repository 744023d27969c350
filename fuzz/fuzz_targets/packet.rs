//! Fuzz target `packet`: see [`vifgate_fuzz::targets::packet`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vifgate_fuzz::targets::packet(data));
