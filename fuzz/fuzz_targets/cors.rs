//! Bucket CORS (`gateways/s3/src/cors.rs`, through `gatehouse_s3::fuzzing`): the
//! PutBucketCors document, and preflight / actual requests judged against it.
//!
//! Input: a first line `ORIGIN METHOD REQUEST-HEADERS` (space-separated; a missing part is
//! an absent header, the third part is the rest of the line, a comma-separated list), then
//! the XML document (no newline: the whole input is the document, the request is
//! `https://example.com GET` without request headers).
//!
//! Oracles: `CorsConfig::parse` of `to_xml()` gives back an equal configuration; every rule
//! allows what it names (each origin with its `*` filled in, with each of its methods and its
//! allowed headers): `actual` and `preflight` find a rule; the answer names the origin or `*`;
//! `preflight`, `actual` and `preflight_check` never panic.
#![no_main]
use gatehouse_s3::fuzzing::{CorsConfig, preflight_check};
use libfuzzer_sys::fuzz_target;
// Linked for its allocation bound (see the crate docs).
use gatehouse_fuzz as _;

const ALLOW_ORIGIN: &str = "access-control-allow-origin";

/// A pattern's `*` filled in (with `fill`), giving a value the pattern matches.
fn instance(pattern: &str, fill: &str) -> String {
    pattern.replace('*', fill)
}

fn check_answer(answer: &[(&'static str, String)], origin: &str) {
    let Some((name, value)) = answer.first() else {
        panic!("an empty CORS answer");
    };
    assert_eq!(
        *name, ALLOW_ORIGIN,
        "the answer does not start with the origin"
    );
    assert!(
        value == "*" || value == origin,
        "Access-Control-Allow-Origin {value:?} for origin {origin:?}"
    );
}

fn judge(config: &CorsConfig, origin: &str, method: &str, headers: Option<&str>) {
    let lists: Vec<&str> = headers.into_iter().collect();
    if let Some(a) = config.preflight(origin, method, &lists) {
        check_answer(&a.headers, origin);
        let mut map = http::HeaderMap::new();
        a.apply_to(&mut map);
    }
    if let Some(a) = config.actual(origin, method) {
        check_answer(&a.headers, origin);
    }
}

fuzz_target!(|data: &[u8]| {
    let (line, xml) = match data.iter().position(|&b| b == b'\n') {
        Some(nl) => (Some(String::from_utf8_lossy(&data[..nl])), &data[nl + 1..]),
        None => (None, data),
    };
    let (origin, method, headers) = match &line {
        Some(line) => {
            let mut parts = line.splitn(3, ' ');
            (parts.next(), parts.next(), parts.next())
        }
        None => (Some("https://example.com"), Some("GET"), None),
    };

    let config = CorsConfig::parse(xml);
    // The request is judged whether or not the bucket has a configuration.
    let checked = preflight_check(config.as_ref().ok(), origin, method, headers);
    if let Ok(a) = &checked {
        check_answer(&a.headers, origin.unwrap_or_default());
    }
    let _ = preflight_check(None, origin, method, headers);
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            assert_eq!(e.status(), 400);
            assert!(!e.code().is_empty() && !e.message().is_empty());
            return;
        }
    };
    assert!(!config.rules.is_empty(), "a configuration without rules");
    judge(
        &config,
        origin.unwrap_or_default(),
        method.unwrap_or_default(),
        headers,
    );

    // What GetBucketCors returns is taken back as it is.
    let xml_out = config.to_xml();
    match CorsConfig::parse(xml_out.as_bytes()) {
        Ok(again) => assert_eq!(
            again, config,
            "to_xml changed the configuration:\n{xml_out}"
        ),
        Err(e) => panic!("to_xml is refused ({e}):\n{xml_out}"),
    }

    // Each rule allows what it names (maybe through an earlier rule).
    for rule in config.rules.iter().take(8) {
        let headers: Vec<String> = rule
            .allowed_headers
            .iter()
            .take(8)
            .map(|h| instance(h, "x"))
            .collect();
        let header_list = headers.join(", ");
        for pattern in rule.allowed_origins.iter().take(4) {
            for fill in ["", "fz"] {
                let origin = instance(pattern, fill);
                if origin.is_empty() {
                    continue;
                }
                for method in rule.allowed_methods.iter().take(5) {
                    let Some(a) = config.actual(&origin, method) else {
                        panic!("actual {origin:?} {method} finds no rule, though {rule:?}");
                    };
                    check_answer(&a.headers, &origin);
                    let Some(a) = config.preflight(&origin, method, &[header_list.as_str()]) else {
                        panic!(
                            "preflight {origin:?} {method} [{header_list}] finds no rule, though {rule:?}"
                        );
                    };
                    check_answer(&a.headers, &origin);
                    assert!(
                        preflight_check(
                            Some(&config),
                            Some(&origin),
                            Some(method),
                            Some(&header_list)
                        )
                        .is_ok(),
                        "preflight_check {origin:?} {method} [{header_list}] refused, though {rule:?}"
                    );
                }
            }
        }
    }
});
