//! Fuzz target `topology`: see [`vifgate_fuzz::targets::topology`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vifgate_fuzz::targets::topology(data));
