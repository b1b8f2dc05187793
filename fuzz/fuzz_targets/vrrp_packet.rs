#![no_main]
use libfuzzer_sys::fuzz_target;
fuzz_target!(|data: &[u8]| {
    let _ = vipd::vrrp::packet::parse_ipv4(data);
});
