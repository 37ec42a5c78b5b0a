//! Arbitrary bytes through every JSON request body and its field rules: nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    skyhook_api::fuzzing::json_inputs(data);
});
