//! Fuzz target `router`: see [`vifgate_fuzz::targets::router`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vifgate_fuzz::targets::router(data));
