//! Fuzz target `gateway_config`: see [`vifgate_fuzz::targets::gateway_config`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vifgate_fuzz::targets::gateway_config(data));
