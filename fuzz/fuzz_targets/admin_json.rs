//! The admin API's JSON request bodies, through the real router as the admin. Input: a first
//! line `METHOD PATH` naming one of `JSON_ENDPOINTS` (others are skipped: the fuzzer must not
//! delete the fixtures), then the body. No answer may be 5xx.
#![no_main]
use gatehouse_fuzz::{JSON_ENDPOINTS, assert_not_server_error, env};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        env();
    },
    |data: &[u8]| {
    let Some(nl) = data.iter().position(|b| *b == b'\n') else {
        return;
    };
    let Ok(line) = std::str::from_utf8(&data[..nl]) else {
        return;
    };
    let Some((method, path)) = JSON_ENDPOINTS
        .iter()
        .find(|(m, p)| line.split_once(' ') == Some((*m, *p)))
    else {
        return;
    };
    let env = env();
    let mut req = env.request(method, path, data[nl + 1..].to_vec());
    req.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let (status, body) = env.send(&env.admin_api, req);
    assert_not_server_error(line, status, &body);
});
