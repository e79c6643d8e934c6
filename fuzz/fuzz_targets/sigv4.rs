//! SigV4 (Authorization header and presigned query), Basic/Bearer and SigV2 request
//! authentication on a request in the corpus's text form (see `TextRequest`), verified with
//! a fixed secret at a fixed time.
#![no_main]
use std::time::Duration;

use gatehouse_fuzz::{TextRequest, lookup, t0};
use gatehouse_s3::auth::{RequestParts, sigv2, sigv4};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(r) = TextRequest::parse(data) else {
        return;
    };
    let parts = RequestParts {
        method: &r.method,
        raw_path: &r.path,
        raw_query: r.query.as_deref(),
        headers: &r.headers,
    };
    let now = t0() + Duration::from_secs(60);
    let v4 = sigv4::authenticate(&parts, now, &lookup);
    if let Ok(a) = &v4 {
        // Only the one key we know can authenticate.
        assert_eq!(a.access_key, gatehouse_fuzz::AK);
    }
    let v2 = sigv2::try_authenticate(&parts, Some("examplebucket"), now, &lookup);
    if let Some(Ok(a)) = &v2 {
        assert_eq!(a.access_key, gatehouse_fuzz::AK);
    }
    // The same request 30 days later must not authenticate: a signature (header or
    // presigned, at most 7 days) carries its time; only Basic/Bearer carry none.
    let late = t0() + Duration::from_secs(30 * 86_400);
    if let Ok(a) = sigv4::authenticate(&parts, late, &lookup) {
        let value = r
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let scheme = value.trim().split(' ').next().unwrap_or("");
        assert!(
            scheme.eq_ignore_ascii_case("basic") || scheme.eq_ignore_ascii_case("bearer"),
            "a signed request verified 30 days after its date: {a:?}"
        );
    }
});
