//! Fuzz target `cfn`: see [`vifgate_fuzz::targets::cfn`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vifgate_fuzz::targets::cfn(data));
