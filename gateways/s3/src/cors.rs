//! Bucket CORS: the PutBucketCors/GetBucketCors document, and the evaluation of
//! preflight (OPTIONS) and actual cross-origin requests against it, following
//! Amazon S3.
//!
//! Behaviour taken from Amazon S3:
//! - The configuration holds 1 to 100 `CORSRule`s; each needs at least one
//!   `AllowedOrigin` and one `AllowedMethod`; methods are `GET PUT HEAD POST
//!   DELETE` (case-sensitive); an `AllowedOrigin` or `AllowedHeader` holds at
//!   most one `*`; an `ExposeHeader` holds none; the document is at most 64 KB.
//! - The first rule whose origins, methods and (for a preflight) headers all
//!   match the request is used. Origins and methods compare case-sensitively,
//!   header names case-insensitively; `*` stands for any run of characters.
//! - `Access-Control-Allow-Origin` is `*` when the matching rule allows the
//!   origin `*`, and the request's origin otherwise, in which case
//!   `Access-Control-Allow-Credentials: true` is sent too.
//! - `Vary: Origin, Access-Control-Request-Headers, Access-Control-Request-Method`
//!   comes with every successful evaluation.

use std::fmt;

use quick_xml::Reader;
use quick_xml::events::Event;
use serde::{Deserialize, Serialize};

/// The namespace of S3 documents.
pub const S3_XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
/// The largest PutBucketCors body Amazon S3 takes ("limited to 64 KB").
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The most rules a configuration may hold.
pub const MAX_RULES: usize = 100;
/// The longest rule ID, in characters.
pub const MAX_ID_CHARS: usize = 255;
/// The methods an `AllowedMethod` (and an `Access-Control-Request-Method`) may name.
pub const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

/// Response header names, in lowercase so that `http::HeaderName::from_static`
/// takes them.
pub const ALLOW_ORIGIN: &str = "access-control-allow-origin";
pub const ALLOW_METHODS: &str = "access-control-allow-methods";
pub const ALLOW_HEADERS: &str = "access-control-allow-headers";
pub const EXPOSE_HEADERS: &str = "access-control-expose-headers";
pub const MAX_AGE: &str = "access-control-max-age";
pub const ALLOW_CREDENTIALS: &str = "access-control-allow-credentials";
pub const VARY: &str = "vary";
/// The `Vary` value Amazon S3 sends with every successful CORS evaluation.
pub const VARY_VALUE: &str =
    "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

const MALFORMED_XML: &str =
    "The XML you provided was not well-formed or did not validate against our published schema";
const TOO_BIG: &str = "Your request was too big.";
const TOO_MANY_RULES: &str =
    "The number of CORS rules should not exceed allowed limit of 100 rules.";
const NO_ORIGIN: &str = "Insufficient information. Origin request header needed.";
const NOT_ENABLED: &str = "CORSResponse: CORS is not enabled for this bucket.";
const NOT_ALLOWED: &str = "CORSResponse: This CORS request is not allowed. This is usually because the \
     evalution of Origin, request method / Access-Control-Request-Method or \
     Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";

/// A bucket's CORS configuration, in the order the rules were given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsConfig {
    pub rules: Vec<CorsRule>,
}

/// One `CORSRule`. Values are kept exactly as given (case and whitespace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<u32>,
}

/// Why a PutBucketCors body was refused. Each carries Amazon S3's message;
/// [`CorsError::code`] and [`CorsError::status`] give the rest of the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsError {
    /// 400 `MalformedXML`: not well-formed, or not of the schema.
    MalformedXml(String),
    /// 400 `InvalidRequest`: of the schema, but a value S3 refuses.
    InvalidRequest(String),
    /// 400 `MaxMessageLengthExceeded`: the body is over 64 KB.
    MaxMessageLengthExceeded(String),
}

impl CorsError {
    fn malformed() -> Self {
        Self::MalformedXml(MALFORMED_XML.to_owned())
    }

    /// The S3 error code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedXml(_) => "MalformedXML",
            Self::InvalidRequest(_) => "InvalidRequest",
            Self::MaxMessageLengthExceeded(_) => "MaxMessageLengthExceeded",
        }
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> u16 {
        400
    }

    /// The S3 error message.
    #[must_use]
    pub fn message(&self) -> &str {
        match self {
            Self::MalformedXml(m) | Self::InvalidRequest(m) | Self::MaxMessageLengthExceeded(m) => {
                m
            }
        }
    }
}

impl fmt::Display for CorsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for CorsError {}

/// The CORS response headers for a request that a rule allows, as
/// (lowercase name, value) pairs in the order Amazon S3 sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsAnswer {
    pub headers: Vec<(&'static str, String)>,
}

impl CorsAnswer {
    /// The value of one header, by its lowercase name.
    #[must_use]
    #[cfg(test)]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Inserts the headers into a response's header map, replacing any of the
    /// same name. A value that is not a valid header value is left out.
    pub fn apply_to(&self, map: &mut http::HeaderMap) {
        for (name, value) in &self.headers {
            if let Ok(value) = http::HeaderValue::from_str(value) {
                map.insert(http::HeaderName::from_static(name), value);
            }
        }
    }
}

/// Evaluates a preflight (OPTIONS) request as Amazon S3 does, in its order:
/// the `Origin`, then `Access-Control-Request-Method`, then the names in
/// `Access-Control-Request-Headers`, then whether the bucket has a
/// configuration, then the rules. The error is (HTTP status, S3 code, message).
pub fn preflight_check(
    config: Option<&CorsConfig>,
    origin: Option<&str>,
    method: Option<&str>,
    request_headers: Option<&str>,
) -> Result<CorsAnswer, (u16, &'static str, String)> {
    let origin = match origin {
        Some(o) if !o.is_empty() => o,
        _ => return Err((400, "BadRequest", NO_ORIGIN.to_owned())),
    };
    let method = match method {
        Some(m) if METHODS.contains(&m) => m,
        Some(m) => {
            return Err((
                400,
                "BadRequest",
                format!("Invalid Access-Control-Request-Method: {m}"),
            ));
        }
        None => {
            return Err((
                400,
                "BadRequest",
                "Invalid Access-Control-Request-Method: null".to_owned(),
            ));
        }
    };
    let mut names: Vec<&str> = Vec::new();
    for name in split_header_list(request_headers.unwrap_or("")) {
        if !is_token(name) {
            return Err((
                400,
                "BadRequest",
                format!("Access-Control-Request-Headers \"{name}\" contains invalid character."),
            ));
        }
        names.push(name);
    }
    let Some(config) = config else {
        return Err((403, "AccessForbidden", NOT_ENABLED.to_owned()));
    };
    config
        .preflight(origin, method, &names)
        .ok_or_else(|| (403, "AccessForbidden", NOT_ALLOWED.to_owned()))
}

/// The non-empty names of a comma-separated header list, without the spaces
/// and tabs around them.
pub fn split_header_list(list: &str) -> impl Iterator<Item = &str> {
    list.split(',')
        .map(|n| n.trim_matches([' ', '\t']))
        .filter(|n| !n.is_empty())
}

impl CorsConfig {
    /// Parses and validates a PutBucketCors body as Amazon S3 does. Errors of
    /// the document's form (`MalformedXML`) come before errors of its values
    /// (`InvalidRequest`), which come rule by rule, and in a rule: methods,
    /// origins, allowed headers, expose headers.
    pub fn parse(xml: &[u8]) -> Result<CorsConfig, CorsError> {
        if xml.len() > MAX_BODY_BYTES {
            return Err(CorsError::MaxMessageLengthExceeded(TOO_BIG.to_owned()));
        }
        let xml = xml.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(xml);
        let rules = read_document(xml)?;
        if rules.is_empty() {
            return Err(CorsError::malformed());
        }
        for rule in &rules {
            let id_too_long = rule
                .id
                .as_ref()
                .is_some_and(|id| id.chars().count() > MAX_ID_CHARS);
            if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() || id_too_long {
                return Err(CorsError::malformed());
            }
        }
        if rules.len() > MAX_RULES {
            return Err(CorsError::InvalidRequest(TOO_MANY_RULES.to_owned()));
        }
        for rule in &rules {
            rule.validate_values()?;
        }
        Ok(CorsConfig { rules })
    }

    /// The GetBucketCors body: the XML declaration, then `CORSConfiguration` in
    /// the S3 namespace, each rule's elements in the order Amazon S3 writes them.
    #[must_use]
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(128 + self.rules.len() * 192);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CORSConfiguration xmlns=\"");
        out.push_str(S3_XMLNS);
        out.push_str("\">");
        for rule in &self.rules {
            out.push_str("<CORSRule>");
            if let Some(id) = &rule.id {
                push_element(&mut out, "ID", id);
            }
            for m in &rule.allowed_methods {
                push_element(&mut out, "AllowedMethod", m);
            }
            for o in &rule.allowed_origins {
                push_element(&mut out, "AllowedOrigin", o);
            }
            for h in &rule.allowed_headers {
                push_element(&mut out, "AllowedHeader", h);
            }
            if let Some(age) = rule.max_age_seconds {
                push_element(&mut out, "MaxAgeSeconds", &age.to_string());
            }
            for h in &rule.expose_headers {
                push_element(&mut out, "ExposeHeader", h);
            }
            out.push_str("</CORSRule>");
        }
        out.push_str("</CORSConfiguration>");
        out
    }

    /// A preflight request: the first rule that allows the origin, the method
    /// named by `Access-Control-Request-Method`, and every name of
    /// `Access-Control-Request-Headers` (given one name an element, or as the
    /// comma-separated list; blank names are skipped). `None`: no rule does.
    #[must_use]
    pub fn preflight(
        &self,
        origin: &str,
        method: &str,
        request_headers: &[&str],
    ) -> Option<CorsAnswer> {
        if origin.is_empty() {
            return None;
        }
        let names = || {
            request_headers
                .iter()
                .flat_map(|list| split_header_list(list))
        };
        let rule = self.rules.iter().find(|rule| {
            rule.allows_origin(origin)
                && rule.allows_method(method)
                && names().all(|name| rule.allows_header(name))
        })?;
        let mut allow_headers = String::new();
        for name in names() {
            if !allow_headers.is_empty() {
                allow_headers.push_str(", ");
            }
            allow_headers.extend(name.chars().map(|c| c.to_ascii_lowercase()));
        }
        Some(rule.answer(origin, Some(allow_headers)))
    }

    /// An actual (not preflight) request with an `Origin`: the first rule that
    /// allows the origin and the request's own method. A HEAD request needs a
    /// rule that allows HEAD; GET does not cover it. `AllowedHeader` plays no
    /// part. `None`: no CORS header is added.
    #[must_use]
    pub fn actual(&self, origin: &str, method: &str) -> Option<CorsAnswer> {
        if origin.is_empty() {
            return None;
        }
        self.rules
            .iter()
            .find(|rule| rule.allows_origin(origin) && rule.allows_method(method))
            .map(|rule| rule.answer(origin, None))
    }
}

impl CorsRule {
    fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|pattern| wildcard_match(pattern.as_bytes(), origin.as_bytes(), false))
    }

    fn allows_method(&self, method: &str) -> bool {
        self.allowed_methods.iter().any(|m| m == method)
    }

    fn allows_header(&self, name: &str) -> bool {
        self.allowed_headers
            .iter()
            .any(|pattern| wildcard_match(pattern.as_bytes(), name.as_bytes(), true))
    }

    fn answer(&self, origin: &str, allow_headers: Option<String>) -> CorsAnswer {
        let any_origin = self.allowed_origins.iter().any(|o| o == "*");
        let mut headers = Vec::with_capacity(7);
        headers.push((
            ALLOW_ORIGIN,
            if any_origin {
                "*".to_owned()
            } else {
                origin.to_owned()
            },
        ));
        headers.push((ALLOW_METHODS, self.allowed_methods.join(", ")));
        if let Some(names) = allow_headers.filter(|n| !n.is_empty()) {
            headers.push((ALLOW_HEADERS, names));
        }
        if !self.expose_headers.is_empty() {
            headers.push((EXPOSE_HEADERS, self.expose_headers.join(", ")));
        }
        if let Some(age) = self.max_age_seconds {
            headers.push((MAX_AGE, age.to_string()));
        }
        if !any_origin {
            headers.push((ALLOW_CREDENTIALS, "true".to_owned()));
        }
        headers.push((VARY, VARY_VALUE.to_owned()));
        CorsAnswer { headers }
    }

    fn validate_values(&self) -> Result<(), CorsError> {
        if let Some(m) = self
            .allowed_methods
            .iter()
            .find(|m| !METHODS.contains(&m.as_str()))
        {
            return Err(CorsError::InvalidRequest(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            )));
        }
        if let Some(o) = self.allowed_origins.iter().find(|o| wildcards(o) > 1) {
            return Err(CorsError::InvalidRequest(format!(
                "AllowedOrigin \"{o}\" can not have more than one wildcard."
            )));
        }
        for h in &self.allowed_headers {
            if wildcards(h) > 1 {
                return Err(CorsError::InvalidRequest(format!(
                    "AllowedHeader \"{h}\" can not have more than one wildcard."
                )));
            }
            if !h.is_empty() && !is_token(h) {
                return Err(invalid_character(h));
            }
        }
        for h in &self.expose_headers {
            if wildcards(h) > 0 {
                return Err(CorsError::InvalidRequest(format!(
                    "ExposeHeader \"{h}\" contains wildcard. We currently do not support wildcard for ExposeHeader."
                )));
            }
            if !h.is_empty() && !is_token(h) {
                // Amazon S3 names AllowedHeader in this message for an ExposeHeader too.
                return Err(invalid_character(h));
            }
        }
        Ok(())
    }
}

fn invalid_character(header: &str) -> CorsError {
    CorsError::InvalidRequest(format!(
        "AllowedHeader \"{header}\" contains invalid character."
    ))
}

fn wildcards(value: &str) -> usize {
    value.bytes().filter(|&b| b == b'*').count()
}

/// An HTTP token (RFC 9110 `tchar`s), the form of a header name. `*` is one.
fn is_token(value: &str) -> bool {
    !value.is_empty()
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// Whether `value` matches `pattern`, where each `*` of the pattern matches
/// any run of bytes, the empty one included.
fn wildcard_match(pattern: &[u8], value: &[u8], ignore_ascii_case: bool) -> bool {
    let same = |a: u8, b: u8| {
        if ignore_ascii_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut p, mut v) = (0, 0);
    // After the last `*` seen: where the pattern resumes, and where in the
    // value that `*` stopped taking bytes.
    let mut resume: Option<(usize, usize)> = None;
    while v < value.len() {
        match pattern.get(p) {
            Some(b'*') => {
                p += 1;
                resume = Some((p, v));
            }
            Some(&c) if same(c, value[v]) => {
                p += 1;
                v += 1;
            }
            _ => match resume {
                Some((rp, rv)) => {
                    p = rp;
                    v = rv + 1;
                    resume = Some((rp, rv + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&b| b == b'*')
}

fn push_element(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Escaped so that a reader's end-of-line handling keeps it.
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    AllowedOrigin,
    AllowedMethod,
    AllowedHeader,
    ExposeHeader,
    MaxAgeSeconds,
}

impl Field {
    fn from_name(name: &[u8]) -> Option<Self> {
        Some(match name {
            b"ID" => Self::Id,
            b"AllowedOrigin" => Self::AllowedOrigin,
            b"AllowedMethod" => Self::AllowedMethod,
            b"AllowedHeader" => Self::AllowedHeader,
            b"ExposeHeader" => Self::ExposeHeader,
            b"MaxAgeSeconds" => Self::MaxAgeSeconds,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    BeforeRoot,
    InRoot,
    InRule,
    InField(Field),
    AfterRoot,
}

/// Reads the rules of the document, refusing anything that is not
/// well-formed or not of the schema: another root, an unknown or nested
/// element, text outside a value, a second ID or MaxAgeSeconds, a
/// MaxAgeSeconds that is not an integer in 0..=2147483647, a DTD.
/// Element names are matched without their namespace prefix.
fn read_document(xml: &[u8]) -> Result<Vec<CorsRule>, CorsError> {
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().expand_empty_elements = true;
    let mut place = Place::BeforeRoot;
    let mut rules = Vec::new();
    let mut rule = empty_rule();
    let mut text = String::new();
    loop {
        let event = reader.read_event().map_err(|_| CorsError::malformed())?;
        match event {
            Event::Start(start) => {
                for attribute in start.attributes() {
                    attribute.map_err(|_| CorsError::malformed())?;
                }
                let name = start.local_name();
                place = match (place, name.as_ref()) {
                    (Place::BeforeRoot, b"CORSConfiguration") => Place::InRoot,
                    (Place::InRoot, b"CORSRule") => {
                        rule = empty_rule();
                        Place::InRule
                    }
                    (Place::InRule, field) => match Field::from_name(field) {
                        Some(field) => {
                            text.clear();
                            Place::InField(field)
                        }
                        None => return Err(CorsError::malformed()),
                    },
                    _ => return Err(CorsError::malformed()),
                };
            }
            Event::End(_) => {
                place = match place {
                    Place::InField(field) => {
                        store(&mut rule, field, &text)?;
                        Place::InRule
                    }
                    Place::InRule => {
                        rules.push(std::mem::replace(&mut rule, empty_rule()));
                        Place::InRoot
                    }
                    Place::InRoot => Place::AfterRoot,
                    Place::BeforeRoot | Place::AfterRoot => return Err(CorsError::malformed()),
                };
            }
            Event::Text(content) => {
                let content = content
                    .xml10_content()
                    .map_err(|_| CorsError::malformed())?;
                take_text(place, &mut text, &content)?;
            }
            Event::CData(content) => {
                let content = content
                    .xml10_content()
                    .map_err(|_| CorsError::malformed())?;
                if !matches!(place, Place::InField(_)) {
                    return Err(CorsError::malformed());
                }
                text.push_str(&content);
            }
            Event::GeneralRef(reference) => {
                if !matches!(place, Place::InField(_)) {
                    return Err(CorsError::malformed());
                }
                let c = match reference
                    .resolve_char_ref()
                    .map_err(|_| CorsError::malformed())?
                {
                    Some(c) => c,
                    None => match reference.as_ref() {
                        b"lt" => '<',
                        b"gt" => '>',
                        b"amp" => '&',
                        b"apos" => '\'',
                        b"quot" => '"',
                        _ => return Err(CorsError::malformed()),
                    },
                };
                text.push(c);
            }
            Event::Decl(_) if place == Place::BeforeRoot => {}
            Event::Comment(_) | Event::PI(_) => {}
            Event::Decl(_) | Event::DocType(_) | Event::Empty(_) => {
                return Err(CorsError::malformed());
            }
            Event::Eof => {
                return if place == Place::AfterRoot {
                    Ok(rules)
                } else {
                    Err(CorsError::malformed())
                };
            }
        }
    }
}

fn empty_rule() -> CorsRule {
    CorsRule {
        id: None,
        allowed_origins: Vec::new(),
        allowed_methods: Vec::new(),
        allowed_headers: Vec::new(),
        expose_headers: Vec::new(),
        max_age_seconds: None,
    }
}

/// Text in the document: kept inside a value, and only whitespace elsewhere.
fn take_text(place: Place, text: &mut String, content: &str) -> Result<(), CorsError> {
    if matches!(place, Place::InField(_)) {
        text.push_str(content);
        Ok(())
    } else if content.bytes().all(is_xml_space) {
        Ok(())
    } else {
        Err(CorsError::malformed())
    }
}

fn store(rule: &mut CorsRule, field: Field, value: &str) -> Result<(), CorsError> {
    if !value.chars().all(is_xml_char) {
        return Err(CorsError::malformed());
    }
    match field {
        Field::Id if rule.id.is_none() => rule.id = Some(value.to_owned()),
        Field::MaxAgeSeconds if rule.max_age_seconds.is_none() => {
            rule.max_age_seconds = Some(parse_max_age(value).ok_or_else(CorsError::malformed)?);
        }
        Field::Id | Field::MaxAgeSeconds => return Err(CorsError::malformed()),
        Field::AllowedOrigin => rule.allowed_origins.push(value.to_owned()),
        Field::AllowedMethod => rule.allowed_methods.push(value.to_owned()),
        Field::AllowedHeader => rule.allowed_headers.push(value.to_owned()),
        Field::ExposeHeader => rule.expose_headers.push(value.to_owned()),
    }
    Ok(())
}

/// An `xsd:int` that is not negative: optional whitespace around, an optional
/// `+`, decimal digits; at most 2147483647.
fn parse_max_age(value: &str) -> Option<u32> {
    let value = value.trim_matches(|c: char| c.is_ascii() && is_xml_space(c as u8));
    let digits = value.strip_prefix('+').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = digits.trim_start_matches('0');
    if significant.len() > 10 {
        return None;
    }
    let number: u64 = if significant.is_empty() {
        0
    } else {
        significant.parse().ok()?
    };
    let number = u32::try_from(number).ok()?;
    (number <= i32::MAX.unsigned_abs()).then_some(number)
}

fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// A character XML 1.0 allows in a document.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

    type Check = Box<dyn Fn(&CorsRule) -> bool>;
    /// (actual request?, origin, method, expected (Allow-Origin, Allow-Methods))
    type ActualOrPreflight = (
        bool,
        &'static str,
        &'static str,
        Option<(&'static str, &'static str)>,
    );
    /// (origin, method, Access-Control-Request-Headers, expected (Allow-Origin, Allow-Headers))
    type HeaderCase = (
        &'static str,
        &'static str,
        &'static str,
        Option<(&'static str, Option<&'static str>)>,
    );
    /// (name, origin, method, request headers, expected Allow-Origin)
    type PreflightCase = (
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
        Option<&'static str>,
    );
    /// (name, configuration, Origin, Access-Control-Request-Method, Access-Control-Request-Headers, expected)
    type CheckCase<'a> = (
        &'static str,
        Option<&'a CorsConfig>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Result<(), (u16, &'static str, String)>,
    );
    const ORIGIN: &str = "<AllowedOrigin>https://example.com</AllowedOrigin>";
    const METHOD: &str = "<AllowedMethod>GET</AllowedMethod>";

    fn doc(rules: &[&str]) -> String {
        let mut s = format!("<CORSConfiguration xmlns=\"{NS}\">");
        for r in rules {
            s.push_str("<CORSRule>");
            s.push_str(r);
            s.push_str("</CORSRule>");
        }
        s.push_str("</CORSConfiguration>");
        s
    }

    fn minimal() -> String {
        format!("{ORIGIN}{METHOD}")
    }

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            id: None,
            allowed_origins: origins.iter().map(|s| (*s).to_owned()).collect(),
            allowed_methods: methods.iter().map(|s| (*s).to_owned()).collect(),
            allowed_headers: headers.iter().map(|s| (*s).to_owned()).collect(),
            expose_headers: Vec::new(),
            max_age_seconds: None,
        }
    }

    fn config(rules: Vec<CorsRule>) -> CorsConfig {
        CorsConfig { rules }
    }

    fn malformed() -> CorsError {
        CorsError::MalformedXml(MALFORMED_XML.to_owned())
    }

    fn invalid(message: &str) -> CorsError {
        CorsError::InvalidRequest(message.to_owned())
    }

    // ---- parse: accepted documents ----

    #[test]
    fn parses_every_element() {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CORSConfiguration xmlns=\"{NS}\">\n  <CORSRule>\n    \
             <ID>rule-1</ID>\n    <AllowedOrigin>https://example.com</AllowedOrigin>\n    \
             <AllowedOrigin>https://*.example.org</AllowedOrigin>\n    <AllowedMethod>GET</AllowedMethod>\n    \
             <AllowedMethod>PUT</AllowedMethod>\n    <AllowedHeader>Authorization</AllowedHeader>\n    \
             <AllowedHeader>x-amz-*</AllowedHeader>\n    <ExposeHeader>ETag</ExposeHeader>\n    \
             <MaxAgeSeconds>3000</MaxAgeSeconds>\n  </CORSRule>\n  <CORSRule>\n    \
             <AllowedOrigin>*</AllowedOrigin>\n    <AllowedMethod>HEAD</AllowedMethod>\n  </CORSRule>\n</CORSConfiguration>\n"
        );
        let parsed = CorsConfig::parse(body.as_bytes()).expect("valid");
        assert_eq!(
            parsed,
            config(vec![
                CorsRule {
                    id: Some("rule-1".into()),
                    allowed_origins: vec![
                        "https://example.com".into(),
                        "https://*.example.org".into()
                    ],
                    allowed_methods: vec!["GET".into(), "PUT".into()],
                    allowed_headers: vec!["Authorization".into(), "x-amz-*".into()],
                    expose_headers: vec!["ETag".into()],
                    max_age_seconds: Some(3000),
                },
                rule(&["*"], &["HEAD"], &[]),
            ])
        );
    }

    #[test]
    fn parses_the_forms_of_one_document() {
        let inner = "<ID>r</ID><AllowedOrigin>https://example.com</AllowedOrigin>\
                     <AllowedMethod>GET</AllowedMethod><AllowedHeader>*</AllowedHeader>\
                     <ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>60</MaxAgeSeconds>";
        let expected = config(vec![CorsRule {
            id: Some("r".into()),
            allowed_origins: vec!["https://example.com".into()],
            allowed_methods: vec!["GET".into()],
            allowed_headers: vec!["*".into()],
            expose_headers: vec!["ETag".into()],
            max_age_seconds: Some(60),
        }]);
        let prefixed = format!(
            "<s3:CORSConfiguration xmlns:s3=\"{NS}\"><s3:CORSRule><s3:ID>r</s3:ID>\
             <s3:AllowedOrigin>https://example.com</s3:AllowedOrigin><s3:AllowedMethod>GET</s3:AllowedMethod>\
             <s3:AllowedHeader>*</s3:AllowedHeader><s3:ExposeHeader>ETag</s3:ExposeHeader>\
             <s3:MaxAgeSeconds>60</s3:MaxAgeSeconds></s3:CORSRule></s3:CORSConfiguration>"
        );
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("with namespace", doc(&[inner]).into_bytes()),
            (
                "without namespace",
                format!("<CORSConfiguration><CORSRule>{inner}</CORSRule></CORSConfiguration>").into_bytes(),
            ),
            ("namespace prefix", prefixed.into_bytes()),
            (
                "declaration and byte order mark",
                format!("\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>{}", doc(&[inner])).into_bytes(),
            ),
            (
                "elements in another order",
                doc(&["<MaxAgeSeconds>60</MaxAgeSeconds><ExposeHeader>ETag</ExposeHeader>\
                       <AllowedHeader>*</AllowedHeader><AllowedMethod>GET</AllowedMethod>\
                       <AllowedOrigin>https://example.com</AllowedOrigin><ID>r</ID>"])
                .into_bytes(),
            ),
            (
                "comments, CDATA and references",
                doc(&["<!-- c --><ID>&#x72;</ID><AllowedOrigin><![CDATA[https://exa]]>mple<!-- x -->.com</AllowedOrigin>\
                       <AllowedMethod>G&#69;T</AllowedMethod><AllowedHeader>*</AllowedHeader>\
                       <ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds> 060 </MaxAgeSeconds>"])
                .into_bytes(),
            ),
        ];
        for (name, body) in cases {
            assert_eq!(CorsConfig::parse(&body), Ok(expected.clone()), "{name}");
        }
    }

    #[test]
    fn accepts_edge_values() {
        let id255 = "a".repeat(255);
        let id255_wide = "é".repeat(255);
        let cases: Vec<(String, Check)> = vec![
            (
                format!("{}<MaxAgeSeconds>0</MaxAgeSeconds>", minimal()),
                Box::new(|r| r.max_age_seconds == Some(0)),
            ),
            (
                format!("{}<MaxAgeSeconds>2147483647</MaxAgeSeconds>", minimal()),
                Box::new(|r| r.max_age_seconds == Some(2_147_483_647)),
            ),
            (
                format!("{}<MaxAgeSeconds>+7</MaxAgeSeconds>", minimal()),
                Box::new(|r| r.max_age_seconds == Some(7)),
            ),
            (
                format!("{}<ID>{id255}</ID>", minimal()),
                Box::new(move |r| r.id.as_deref().map(str::len) == Some(255)),
            ),
            (
                format!("{}<ID>{id255_wide}</ID>", minimal()),
                Box::new(|r| r.id.as_ref().is_some_and(|i| i.chars().count() == 255)),
            ),
            (
                format!("{}<ID/>", minimal()),
                Box::new(|r| r.id.as_deref() == Some("")),
            ),
            (
                format!(
                    "{}<AllowedOrigin>HTTPS://Example.COM</AllowedOrigin>",
                    minimal()
                ),
                Box::new(|r| r.allowed_origins[1] == "HTTPS://Example.COM"),
            ),
            (
                format!(
                    "<AllowedOrigin>*</AllowedOrigin><AllowedOrigin>https://*.example.com</AllowedOrigin>\
                     <AllowedOrigin>http://example.com:*</AllowedOrigin>{METHOD}\
                     <AllowedHeader>*</AllowedHeader><AllowedHeader>x-*-id</AllowedHeader>"
                ),
                Box::new(|r| r.allowed_origins.len() == 3 && r.allowed_headers.len() == 2),
            ),
            (
                format!(
                    "{ORIGIN}<AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedMethod>HEAD</AllowedMethod><AllowedMethod>POST</AllowedMethod><AllowedMethod>DELETE</AllowedMethod>"
                ),
                Box::new(|r| r.allowed_methods == ["GET", "PUT", "HEAD", "POST", "DELETE"]),
            ),
        ];
        for (body, check) in cases {
            let parsed = CorsConfig::parse(doc(&[&body]).as_bytes());
            let parsed = parsed.unwrap_or_else(|e| panic!("{body}: {e}"));
            assert!(check(&parsed.rules[0]), "{body}");
        }
        let hundred: Vec<String> = (0..100).map(|_| minimal()).collect();
        let hundred: Vec<&str> = hundred.iter().map(String::as_str).collect();
        assert_eq!(
            CorsConfig::parse(doc(&hundred).as_bytes()).map(|c| c.rules.len()),
            Ok(100)
        );
    }

    // ---- parse: refused documents ----

    #[test]
    fn refuses_malformed_documents() {
        let m = minimal();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty body", Vec::new()),
            ("not XML", b"AllowedOrigin: *".to_vec()),
            ("not UTF-8", vec![b'<', 0xff, 0xfe, b'>']),
            (
                "unclosed",
                format!("<CORSConfiguration><CORSRule>{m}</CORSConfiguration>").into_bytes(),
            ),
            (
                "truncated",
                format!("<CORSConfiguration><CORSRule>{m}</CORSRule>").into_bytes(),
            ),
            (
                "DTD",
                format!("<!DOCTYPE CORSConfiguration>{}", doc(&[&m])).into_bytes(),
            ),
            (
                "other root",
                format!("<CORSRules><CORSRule>{m}</CORSRule></CORSRules>").into_bytes(),
            ),
            (
                "lowercase root",
                format!("<corsconfiguration><CORSRule>{m}</CORSRule></corsconfiguration>")
                    .into_bytes(),
            ),
            (
                "rule as root",
                format!("<CORSRule>{m}</CORSRule>").into_bytes(),
            ),
            (
                "two roots",
                format!("{}{}", doc(&[&m]), doc(&[&m])).into_bytes(),
            ),
            ("text after root", format!("{}x", doc(&[&m])).into_bytes()),
            ("no rule", doc(&[]).into_bytes()),
            (
                "empty root",
                format!("<CORSConfiguration xmlns=\"{NS}\"/>").into_bytes(),
            ),
            (
                "rule fields in root",
                format!("<CORSConfiguration>{m}</CORSConfiguration>").into_bytes(),
            ),
            (
                "unknown element in root",
                format!("<CORSConfiguration><CORSRule>{m}</CORSRule><Owner/></CORSConfiguration>")
                    .into_bytes(),
            ),
            (
                "text in root",
                format!("<CORSConfiguration>t<CORSRule>{m}</CORSRule></CORSConfiguration>")
                    .into_bytes(),
            ),
            (
                "rule in rule",
                doc(&[&format!("<CORSRule>{m}</CORSRule>")]).into_bytes(),
            ),
            ("empty rule", doc(&[""]).into_bytes()),
            (
                "self-closed rule",
                b"<CORSConfiguration><CORSRule/></CORSConfiguration>".to_vec(),
            ),
            ("no AllowedOrigin", doc(&[METHOD]).into_bytes()),
            ("no AllowedMethod", doc(&[ORIGIN]).into_bytes()),
            (
                "second rule without AllowedMethod",
                doc(&[&m, ORIGIN]).into_bytes(),
            ),
            ("text in rule", doc(&[&format!("{m}text")]).into_bytes()),
            (
                "unknown element",
                doc(&[&format!("{m}<AllowedHeaders>*</AllowedHeaders>")]).into_bytes(),
            ),
            (
                "unknown empty element",
                doc(&[&format!("{m}<Status/>")]).into_bytes(),
            ),
            (
                "element name in lowercase",
                doc(&[&format!("{m}<allowedheader>*</allowedheader>")]).into_bytes(),
            ),
            (
                "element in a value",
                doc(&[&format!("<AllowedOrigin><O>*</O></AllowedOrigin>{METHOD}")]).into_bytes(),
            ),
            (
                "MaxAgeSeconds empty",
                doc(&[&format!("{m}<MaxAgeSeconds></MaxAgeSeconds>")]).into_bytes(),
            ),
            (
                "MaxAgeSeconds a word",
                doc(&[&format!("{m}<MaxAgeSeconds>hour</MaxAgeSeconds>")]).into_bytes(),
            ),
            (
                "MaxAgeSeconds negative",
                doc(&[&format!("{m}<MaxAgeSeconds>-1</MaxAgeSeconds>")]).into_bytes(),
            ),
            (
                "MaxAgeSeconds fraction",
                doc(&[&format!("{m}<MaxAgeSeconds>1.5</MaxAgeSeconds>")]).into_bytes(),
            ),
            (
                "MaxAgeSeconds exponent",
                doc(&[&format!("{m}<MaxAgeSeconds>1e3</MaxAgeSeconds>")]).into_bytes(),
            ),
            (
                "MaxAgeSeconds over 32 bits",
                doc(&[&format!("{m}<MaxAgeSeconds>2147483648</MaxAgeSeconds>")]).into_bytes(),
            ),
            (
                "MaxAgeSeconds huge",
                doc(&[&format!(
                    "{m}<MaxAgeSeconds>99999999999999999999999</MaxAgeSeconds>"
                )])
                .into_bytes(),
            ),
            (
                "MaxAgeSeconds twice",
                doc(&[&format!(
                    "{m}<MaxAgeSeconds>1</MaxAgeSeconds><MaxAgeSeconds>1</MaxAgeSeconds>"
                )])
                .into_bytes(),
            ),
            (
                "ID of 256 characters",
                doc(&[&format!("{m}<ID>{}</ID>", "a".repeat(256))]).into_bytes(),
            ),
            (
                "ID twice",
                doc(&[&format!("{m}<ID>a</ID><ID>b</ID>")]).into_bytes(),
            ),
            (
                "undefined entity",
                doc(&[&format!("{m}<ID>&nbsp;</ID>")]).into_bytes(),
            ),
            (
                "illegal character reference",
                doc(&[&format!("{m}<ID>&#1;</ID>")]).into_bytes(),
            ),
            (
                "mismatched end tag",
                doc(&[&format!("{m}<ID>a</Id>")]).into_bytes(),
            ),
            (
                "MaxAgeSeconds error comes before InvalidRequest",
                doc(&[&format!(
                    "{ORIGIN}<AllowedMethod>PATCH</AllowedMethod><MaxAgeSeconds>x</MaxAgeSeconds>"
                )])
                .into_bytes(),
            ),
            (
                "missing origin comes before InvalidRequest",
                doc(&[
                    &format!("{ORIGIN}<AllowedMethod>PATCH</AllowedMethod>"),
                    METHOD,
                ])
                .into_bytes(),
            ),
        ];
        for (name, body) in cases {
            assert_eq!(CorsConfig::parse(&body), Err(malformed()), "{name}");
        }
    }

    #[test]
    fn refuses_invalid_values() {
        let cases: Vec<(&str, String, String)> = vec![
            ("PATCH", format!("{ORIGIN}{METHOD}<AllowedMethod>PATCH</AllowedMethod>"), "Found unsupported HTTP method in CORS config. Unsupported method is PATCH".into()),
            ("OPTIONS", format!("{ORIGIN}<AllowedMethod>OPTIONS</AllowedMethod>"), "Found unsupported HTTP method in CORS config. Unsupported method is OPTIONS".into()),
            ("lowercase get", format!("{ORIGIN}<AllowedMethod>get</AllowedMethod>"), "Found unsupported HTTP method in CORS config. Unsupported method is get".into()),
            ("empty method", format!("{ORIGIN}<AllowedMethod></AllowedMethod>"), "Found unsupported HTTP method in CORS config. Unsupported method is ".into()),
            ("star method", format!("{ORIGIN}<AllowedMethod>*</AllowedMethod>"), "Found unsupported HTTP method in CORS config. Unsupported method is *".into()),
            ("origin with two wildcards", format!("<AllowedOrigin>https://*.example.*</AllowedOrigin>{METHOD}"), "AllowedOrigin \"https://*.example.*\" can not have more than one wildcard.".into()),
            ("origin **", format!("{ORIGIN}<AllowedOrigin>**</AllowedOrigin>{METHOD}"), "AllowedOrigin \"**\" can not have more than one wildcard.".into()),
            ("escaped origin", format!("<AllowedOrigin>*&lt;&amp;*</AllowedOrigin>{METHOD}"), "AllowedOrigin \"*<&*\" can not have more than one wildcard.".into()),
            ("header with two wildcards", format!("{}<AllowedHeader>x-*-meta-*</AllowedHeader>", minimal()), "AllowedHeader \"x-*-meta-*\" can not have more than one wildcard.".into()),
            ("header with a space", format!("{}<AllowedHeader>x amz</AllowedHeader>", minimal()), "AllowedHeader \"x amz\" contains invalid character.".into()),
            ("header with a colon", format!("{}<AllowedHeader>x:amz</AllowedHeader>", minimal()), "AllowedHeader \"x:amz\" contains invalid character.".into()),
            ("expose wildcard", format!("{}<ExposeHeader>*</ExposeHeader>", minimal()), "ExposeHeader \"*\" contains wildcard. We currently do not support wildcard for ExposeHeader.".into()),
            ("expose with a wildcard", format!("{}<ExposeHeader>ETag</ExposeHeader><ExposeHeader>x-amz-*</ExposeHeader>", minimal()), "ExposeHeader \"x-amz-*\" contains wildcard. We currently do not support wildcard for ExposeHeader.".into()),
            ("expose with a slash", format!("{}<ExposeHeader>Bad/Header</ExposeHeader>", minimal()), "AllowedHeader \"Bad/Header\" contains invalid character.".into()),
            // The order of the checks in a rule: methods, origins, allowed headers, expose headers.
            ("method before origin", "<ExposeHeader>x-*</ExposeHeader><AllowedHeader>*-*</AllowedHeader><AllowedOrigin>*.*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod>".to_owned(), "Found unsupported HTTP method in CORS config. Unsupported method is PATCH".into()),
            ("origin before header", format!("<ExposeHeader>x-*</ExposeHeader><AllowedHeader>*-*</AllowedHeader><AllowedOrigin>*.*</AllowedOrigin>{METHOD}"), "AllowedOrigin \"*.*\" can not have more than one wildcard.".into()),
            ("header before expose", format!("<ExposeHeader>x-*</ExposeHeader><AllowedHeader>*-*</AllowedHeader>{}", minimal()), "AllowedHeader \"*-*\" can not have more than one wildcard.".into()),
        ];
        for (name, rule_body, message) in cases {
            assert_eq!(
                CorsConfig::parse(doc(&[&rule_body]).as_bytes()),
                Err(invalid(&message)),
                "{name}"
            );
        }
        // A later rule is checked too; the first bad rule decides.
        let body = doc(&[
            &minimal(),
            &format!("{}<ExposeHeader>a*</ExposeHeader>", minimal()),
            &format!("{ORIGIN}<AllowedMethod>TRACE</AllowedMethod>"),
        ]);
        assert_eq!(
            CorsConfig::parse(body.as_bytes()),
            Err(invalid(
                "ExposeHeader \"a*\" contains wildcard. We currently do not support wildcard for ExposeHeader."
            ))
        );
    }

    #[test]
    fn refuses_more_than_100_rules_and_more_than_64_kib() {
        let m = minimal();
        let rules: Vec<&str> = (0..101).map(|_| m.as_str()).collect();
        assert_eq!(
            CorsConfig::parse(doc(&rules).as_bytes()),
            Err(invalid(
                "The number of CORS rules should not exceed allowed limit of 100 rules."
            ))
        );
        let mut big = doc(&[&m]).into_bytes();
        big.splice(
            0..0,
            std::iter::repeat_n(b' ', MAX_BODY_BYTES + 1 - big.len()),
        );
        let error = CorsConfig::parse(&big).expect_err("too big");
        assert_eq!(
            error,
            CorsError::MaxMessageLengthExceeded("Your request was too big.".into())
        );
        assert_eq!(
            (error.status(), error.code()),
            (400, "MaxMessageLengthExceeded")
        );
        big.remove(0);
        assert!(CorsConfig::parse(&big).is_ok(), "64 KiB exactly is taken");
    }

    #[test]
    fn error_codes() {
        assert_eq!(
            (malformed().status(), malformed().code()),
            (400, "MalformedXML")
        );
        assert_eq!(invalid("x").code(), "InvalidRequest");
        assert_eq!(invalid("x").message(), "x");
        assert_eq!(
            malformed().to_string(),
            format!("MalformedXML: {MALFORMED_XML}")
        );
    }

    // ---- to_xml ----

    #[test]
    fn writes_get_bucket_cors() {
        let mut first = rule(
            &["https://example.com", "https://*.example.org"],
            &["GET", "PUT"],
            &["Authorization", "x-amz-*"],
        );
        first.id = Some("rule-1".into());
        first.expose_headers = vec!["ETag".into(), "x-amz-request-id".into()];
        first.max_age_seconds = Some(3000);
        let second = rule(&["*"], &["HEAD"], &[]);
        assert_eq!(
            config(vec![first, second]).to_xml(),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CORSConfiguration xmlns=\"{NS}\"><CORSRule><ID>rule-1</ID>\
                 <AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>\
                 <AllowedOrigin>https://example.com</AllowedOrigin><AllowedOrigin>https://*.example.org</AllowedOrigin>\
                 <AllowedHeader>Authorization</AllowedHeader><AllowedHeader>x-amz-*</AllowedHeader>\
                 <MaxAgeSeconds>3000</MaxAgeSeconds>\
                 <ExposeHeader>ETag</ExposeHeader><ExposeHeader>x-amz-request-id</ExposeHeader></CORSRule>\
                 <CORSRule><AllowedMethod>HEAD</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>"
            )
        );
        let mut escaped = rule(&["https://e.com/?a=1&b=<2>"], &["GET"], &[]);
        escaped.id = Some("\"q\" 'a'".into());
        assert!(config(vec![escaped]).to_xml().contains(
            "<ID>&quot;q&quot; &apos;a&apos;</ID><AllowedMethod>GET</AllowedMethod>\
             <AllowedOrigin>https://e.com/?a=1&amp;b=&lt;2&gt;</AllowedOrigin>"
        ));
    }

    #[test]
    fn round_trips() {
        let mut full = rule(
            &["https://example.com", "https://*.example.org", "http://x:*"],
            &["GET", "PUT", "POST", "DELETE", "HEAD"],
            &["*", "Content-Type", "x-amz-*"],
        );
        full.id = Some("<ID> & \"quotes\" 'apostrophes' ]]> é 日本 \r\n\ttab".into());
        full.expose_headers = vec!["ETag".into(), "x-amz-version-id".into()];
        full.max_age_seconds = Some(86_400);
        let mut zero = rule(&["*"], &["GET"], &[]);
        zero.max_age_seconds = Some(0);
        zero.id = Some(String::new());
        let many: Vec<CorsRule> = (0..100)
            .map(|i| {
                let mut r = rule(&["*"], &["GET"], &[]);
                r.id = Some(format!("rule-{i}"));
                r.max_age_seconds = Some(i);
                r
            })
            .collect();
        for cfg in [
            config(vec![full, zero, rule(&[""], &["DELETE", "DELETE"], &[""])]),
            config(many),
        ] {
            let xml = cfg.to_xml();
            assert_eq!(CorsConfig::parse(xml.as_bytes()), Ok(cfg.clone()));
            assert_eq!(
                CorsConfig::parse(xml.as_bytes()).map(|c| c.to_xml()),
                Ok(xml)
            );
        }
        // From a parsed document, through to_xml, back to the same rules.
        let body = doc(&[
            &format!(
                "<MaxAgeSeconds>5</MaxAgeSeconds>{}<ExposeHeader>ETag</ExposeHeader><ID>x</ID>",
                minimal()
            ),
            &minimal(),
        ]);
        let parsed = CorsConfig::parse(body.as_bytes()).expect("valid");
        assert_eq!(CorsConfig::parse(parsed.to_xml().as_bytes()), Ok(parsed));
    }

    // ---- matching ----

    #[test]
    fn wildcard_matching() {
        let cases: &[(&str, &str, bool, bool)] = &[
            ("*", "https://example.com", false, true),
            ("*", "", false, true),
            ("https://example.com", "https://example.com", false, true),
            ("https://example.com", "https://EXAMPLE.com", false, false),
            (
                "https://example.com",
                "https://example.com:8443",
                false,
                false,
            ),
            ("https://example.com", "https://example.com/", false, false),
            (
                "https://*.example.com",
                "https://www.example.com",
                false,
                true,
            ),
            (
                "https://*.example.com",
                "https://a.b.example.com",
                false,
                true,
            ),
            ("https://*.example.com", "https://.example.com", false, true),
            ("https://*.example.com", "https://example.com", false, false),
            (
                "https://*.example.com",
                "http://www.example.com",
                false,
                false,
            ),
            (
                "https://*.example.com",
                "https://www.example.com.evil",
                false,
                false,
            ),
            (
                "https://example.com:*",
                "https://example.com:8443",
                false,
                true,
            ),
            ("http*", "https://x", false, true),
            ("https://a*a", "https://aa", false, true),
            ("https://a*a", "https://a", false, false),
            ("ab*ba", "aba", false, false),
            ("a*b*c", "aXbYbZc", false, true),
            ("a*b*c", "aXcYb", false, false),
            ("", "", false, true),
            ("", "x", false, false),
            ("x-amz-*", "X-AMZ-DATE", true, true),
            ("X-Amz-*", "x-amz-date", true, true),
            ("x-amz-*", "x-amz-", true, true),
            ("x-amz-*", "x-amz", true, false),
            ("x-amz-*", "x-amzn-trace-id", true, false),
            ("*-type", "content-type", true, true),
            ("*-type", "content-types", true, false),
            ("x-*-id", "x--id", true, true),
            ("x-*-id", "x-id", true, false),
            ("content-type", "Content-Type", true, true),
            ("content-type", "Content-Type", false, false),
            ("é*", "é-x", false, true),
        ];
        for &(pattern, value, fold, expected) in cases {
            assert_eq!(
                wildcard_match(pattern.as_bytes(), value.as_bytes(), fold),
                expected,
                "{pattern:?} ~ {value:?} (fold {fold})"
            );
        }
    }

    /// The configuration of s3-tests' test_cors_origin_response.
    fn s3_tests_origin_config() -> CorsConfig {
        config(vec![
            rule(&["http://www.example1.com"], &["PUT", "DELETE"], &["*"]),
            rule(&["*"], &["GET"], &["*"]),
            rule(
                &["http://www.example2.com", "http://www.example3.com"],
                &["DELETE"],
                &["*"],
            ),
        ])
    }

    #[test]
    fn matches_as_s3_tests_expect() {
        let cfg = s3_tests_origin_config();
        // (actual request?, origin, method, expected Allow-Origin, expected Allow-Methods)
        let cases: &[ActualOrPreflight] = &[
            (true, "http://www.example1.com", "GET", Some(("*", "GET"))),
            (
                true,
                "http://www.example1.com",
                "PUT",
                Some(("http://www.example1.com", "PUT, DELETE")),
            ),
            (
                true,
                "http://www.example1.com",
                "DELETE",
                Some(("http://www.example1.com", "PUT, DELETE")),
            ),
            (true, "http://www.example3.com", "GET", Some(("*", "GET"))),
            (true, "http://www.example3.com", "PUT", None),
            (
                true,
                "http://www.example3.com",
                "DELETE",
                Some(("http://www.example3.com", "DELETE")),
            ),
            (true, "http://not.exists", "GET", Some(("*", "GET"))),
            (true, "http://not.exists", "PUT", None),
            (true, "http://not.exists", "DELETE", None),
            (false, "http://www.example1.com", "GET", Some(("*", "GET"))),
            (
                false,
                "http://www.example1.com",
                "DELETE",
                Some(("http://www.example1.com", "PUT, DELETE")),
            ),
            (
                false,
                "http://www.example2.com",
                "DELETE",
                Some(("http://www.example2.com", "DELETE")),
            ),
            (false, "http://www.example2.com", "PUT", None),
            (false, "http://not.exists", "GET", Some(("*", "GET"))),
            (false, "http://not.exists", "PUT", None),
        ];
        for &(actual, origin, method, expected) in cases {
            let answer = if actual {
                cfg.actual(origin, method)
            } else {
                cfg.preflight(origin, method, &[])
            };
            let got = answer.as_ref().map(|a| {
                (
                    a.get(ALLOW_ORIGIN).unwrap_or(""),
                    a.get(ALLOW_METHODS).unwrap_or(""),
                )
            });
            assert_eq!(got, expected, "actual={actual} {origin} {method}");
        }
    }

    #[test]
    fn preflight_matches_headers_as_s3_tests_expect() {
        // s3-tests' test_cors_header_option.
        let cfg = config(vec![
            rule(&["*"], &["GET"], &["x-amz-meta-header1"]),
            rule(
                &["http://www.example.com"],
                &["PUT"],
                &["x-amz-meta-header2", "x-amz-meta-header3"],
            ),
            rule(&["http://www.example1.com"], &["DELETE"], &[]),
            rule(&["http://www.example2.com"], &["POST"], &["*"]),
        ]);
        // (origin, method, Access-Control-Request-Headers, expected (Allow-Origin, Allow-Headers))
        let cases: &[HeaderCase] = &[
            (
                "http://any.origin",
                "GET",
                "x-amz-meta-header1",
                Some(("*", Some("x-amz-meta-header1"))),
            ),
            (
                "http://www.example.com",
                "GET",
                "x-amz-meta-header1",
                Some(("*", Some("x-amz-meta-header1"))),
            ),
            ("http://www.example.com", "PUT", "x-amz-meta-header1", None),
            (
                "http://www.example.com",
                "PUT",
                "x-amz-meta-header2",
                Some(("http://www.example.com", Some("x-amz-meta-header2"))),
            ),
            (
                "http://www.example.com",
                "PUT",
                "x-amz-meta-header3",
                Some(("http://www.example.com", Some("x-amz-meta-header3"))),
            ),
            (
                "http://www.example.com",
                "PUT",
                "x-amz-meta-header2, x-amz-meta-header3",
                Some((
                    "http://www.example.com",
                    Some("x-amz-meta-header2, x-amz-meta-header3"),
                )),
            ),
            (
                "http://www.example.com",
                "PUT",
                "",
                Some(("http://www.example.com", None)),
            ),
            (
                "http://www.example1.com",
                "DELETE",
                "x-amz-meta-header",
                None,
            ),
            (
                "http://www.example1.com",
                "DELETE",
                "",
                Some(("http://www.example1.com", None)),
            ),
            (
                "http://www.example2.com",
                "POST",
                "x-amz-meta-header",
                Some(("http://www.example2.com", Some("x-amz-meta-header"))),
            ),
            (
                "http://www.example2.com",
                "POST",
                "",
                Some(("http://www.example2.com", None)),
            ),
        ];
        for &(origin, method, headers, expected) in cases {
            let answer = cfg.preflight(origin, method, &[headers]);
            let got = answer
                .as_ref()
                .map(|a| (a.get(ALLOW_ORIGIN).unwrap_or(""), a.get(ALLOW_HEADERS)));
            assert_eq!(got, expected, "{origin} {method} {headers:?}");
        }
    }

    #[test]
    fn preflight_cases() {
        let cfg = config(vec![
            CorsRule {
                id: Some("site".into()),
                allowed_origins: vec!["https://example.com".into(), "http://*.example.com".into()],
                allowed_methods: vec!["GET".into(), "PUT".into(), "DELETE".into()],
                allowed_headers: vec!["Content-Type".into(), "x-amz-*".into()],
                expose_headers: vec!["ETag".into(), "x-amz-request-id".into()],
                max_age_seconds: Some(3000),
            },
            rule(&["*"], &["GET", "HEAD"], &[]),
        ]);
        const SITE: Option<&str> = Some("https://example.com");
        const STAR: Option<&str> = Some("*");
        // (name, origin, method, request headers, expected Allow-Origin)
        let cases: &[PreflightCase] = &[
            ("exact origin", "https://example.com", "PUT", &[], SITE),
            (
                "origin in another case",
                "https://EXAMPLE.com",
                "PUT",
                &[],
                None,
            ),
            (
                "wildcard origin",
                "http://app.example.com",
                "DELETE",
                &[],
                Some("http://app.example.com"),
            ),
            (
                "wildcard origin, other scheme",
                "https://app.example.com",
                "DELETE",
                &[],
                None,
            ),
            (
                "wildcard origin, apex",
                "http://example.com",
                "DELETE",
                &[],
                None,
            ),
            ("star rule", "https://other.org", "GET", &[], STAR),
            ("method mismatch", "https://example.com", "POST", &[], None),
            (
                "second rule for its method",
                "https://example.com",
                "HEAD",
                &[],
                STAR,
            ),
            (
                "header",
                "https://example.com",
                "PUT",
                &["content-type"],
                SITE,
            ),
            (
                "header in another case",
                "https://example.com",
                "PUT",
                &["CONTENT-TYPE"],
                SITE,
            ),
            (
                "header wildcard",
                "https://example.com",
                "PUT",
                &["X-Amz-Date"],
                SITE,
            ),
            (
                "header mismatch",
                "https://example.com",
                "PUT",
                &["authorization"],
                None,
            ),
            (
                "one header of several not allowed",
                "https://example.com",
                "PUT",
                &["content-type, authorization"],
                None,
            ),
            (
                "several headers with spaces",
                "https://example.com",
                "PUT",
                &[" Content-Type ,x-amz-date,  x-amz-meta-Name "],
                SITE,
            ),
            (
                "headers as separate values",
                "https://example.com",
                "PUT",
                &["content-type", "x-amz-date"],
                SITE,
            ),
            (
                "blank header list",
                "https://example.org",
                "GET",
                &[" , ,"],
                STAR,
            ),
            (
                "header for a rule without AllowedHeader",
                "https://example.org",
                "GET",
                &["content-type"],
                None,
            ),
            ("empty origin", "", "GET", &[], None),
        ];
        for &(name, origin, method, headers, expected) in cases {
            let answer = cfg.preflight(origin, method, headers);
            assert_eq!(
                answer.as_ref().and_then(|a| a.get(ALLOW_ORIGIN)),
                expected,
                "{name}"
            );
        }
        let answer = cfg
            .preflight(
                "https://example.com",
                "PUT",
                &[" Content-Type ,X-Amz-Date,  x-amz-meta-Name "],
            )
            .expect("allowed");
        assert_eq!(
            answer.headers,
            vec![
                (ALLOW_ORIGIN, "https://example.com".to_owned()),
                (ALLOW_METHODS, "GET, PUT, DELETE".to_owned()),
                (
                    ALLOW_HEADERS,
                    "content-type, x-amz-date, x-amz-meta-name".to_owned()
                ),
                (EXPOSE_HEADERS, "ETag, x-amz-request-id".to_owned()),
                (MAX_AGE, "3000".to_owned()),
                (ALLOW_CREDENTIALS, "true".to_owned()),
                (VARY, VARY_VALUE.to_owned()),
            ]
        );
        let public = cfg
            .preflight("https://example.org", "GET", &[])
            .expect("allowed");
        assert_eq!(
            public.headers,
            vec![
                (ALLOW_ORIGIN, "*".to_owned()),
                (ALLOW_METHODS, "GET, HEAD".to_owned()),
                (VARY, VARY_VALUE.to_owned()),
            ]
        );
    }

    #[test]
    fn allow_origin_and_credentials() {
        // (allowed origins, request origin, Allow-Origin, Allow-Credentials)
        let cases: &[(&[&str], &str, &str, Option<&str>)] = &[
            (&["*"], "https://example.com", "*", None),
            (
                &["https://example.com", "*"],
                "https://example.com",
                "*",
                None,
            ),
            (
                &["*", "https://example.com"],
                "https://example.com",
                "*",
                None,
            ),
            (
                &["https://example.com"],
                "https://example.com",
                "https://example.com",
                Some("true"),
            ),
            (
                &["https://*.example.com"],
                "https://www.example.com",
                "https://www.example.com",
                Some("true"),
            ),
            (
                &["http*"],
                "https://example.com",
                "https://example.com",
                Some("true"),
            ),
        ];
        for &(origins, origin, allow, credentials) in cases {
            let cfg = config(vec![rule(origins, &["GET"], &[])]);
            for answer in [cfg.preflight(origin, "GET", &[]), cfg.actual(origin, "GET")] {
                let answer = answer.expect("allowed");
                assert_eq!(answer.get(ALLOW_ORIGIN), Some(allow), "{origins:?}");
                assert_eq!(answer.get(ALLOW_CREDENTIALS), credentials, "{origins:?}");
                assert_eq!(answer.get(VARY), Some(VARY_VALUE));
            }
        }
    }

    #[test]
    fn actual_requests() {
        let mut site = rule(&["https://example.com"], &["GET", "PUT"], &["x-amz-*"]);
        site.expose_headers = vec!["ETag".into()];
        site.max_age_seconds = Some(600);
        let cfg = config(vec![site, rule(&["*"], &["GET", "HEAD"], &[])]);
        let answer = cfg.actual("https://example.com", "PUT").expect("allowed");
        assert_eq!(
            answer.headers,
            vec![
                (ALLOW_ORIGIN, "https://example.com".to_owned()),
                (ALLOW_METHODS, "GET, PUT".to_owned()),
                (EXPOSE_HEADERS, "ETag".to_owned()),
                (MAX_AGE, "600".to_owned()),
                (ALLOW_CREDENTIALS, "true".to_owned()),
                (VARY, VARY_VALUE.to_owned()),
            ]
        );
        // (origin, method, expected Allow-Origin)
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("https://example.com", "GET", Some("https://example.com")),
            ("https://example.com", "HEAD", Some("*")),
            ("https://example.org", "GET", Some("*")),
            ("https://example.org", "PUT", None),
            ("https://example.com", "DELETE", None),
            ("https://example.com", "OPTIONS", None),
            ("https://example.com", "get", None),
            ("", "GET", None),
        ];
        for &(origin, method, expected) in cases {
            let got = cfg.actual(origin, method);
            assert_eq!(
                got.as_ref().and_then(|a| a.get(ALLOW_ORIGIN)),
                expected,
                "{origin} {method}"
            );
            assert!(got.is_none_or(|a| a.get(ALLOW_HEADERS).is_none()));
        }
        // HEAD is not covered by GET.
        let get_only = config(vec![rule(&["*"], &["GET"], &[])]);
        assert!(get_only.actual("https://example.com", "HEAD").is_none());
        assert!(get_only.actual("https://example.com", "GET").is_some());
    }

    // ---- preflight_check ----

    #[test]
    fn preflight_check_errors() {
        let cfg = config(vec![rule(
            &["https://example.com"],
            &["GET"],
            &["content-type"],
        )]);
        let some = Some(&cfg);
        let bad = |message: &str| Err((400, "BadRequest", message.to_owned()));
        let cases: Vec<CheckCase<'_>> = vec![
            ("no origin", some, None, Some("GET"), None, bad(NO_ORIGIN)),
            (
                "empty origin",
                some,
                Some(""),
                Some("GET"),
                None,
                bad(NO_ORIGIN),
            ),
            (
                "no origin and no config",
                None,
                None,
                Some("GET"),
                None,
                bad(NO_ORIGIN),
            ),
            (
                "no origin and a bad method",
                some,
                None,
                Some("PATCH"),
                None,
                bad(NO_ORIGIN),
            ),
            (
                "no method",
                some,
                Some("https://example.com"),
                None,
                None,
                bad("Invalid Access-Control-Request-Method: null"),
            ),
            (
                "no method and no config",
                None,
                Some("https://example.com"),
                None,
                None,
                bad("Invalid Access-Control-Request-Method: null"),
            ),
            (
                "empty method",
                some,
                Some("https://example.com"),
                Some(""),
                None,
                bad("Invalid Access-Control-Request-Method: "),
            ),
            (
                "PATCH",
                some,
                Some("https://example.com"),
                Some("PATCH"),
                None,
                bad("Invalid Access-Control-Request-Method: PATCH"),
            ),
            (
                "OPTIONS",
                some,
                Some("https://example.com"),
                Some("OPTIONS"),
                None,
                bad("Invalid Access-Control-Request-Method: OPTIONS"),
            ),
            (
                "get",
                some,
                Some("https://example.com"),
                Some("get"),
                None,
                bad("Invalid Access-Control-Request-Method: get"),
            ),
            (
                "bad request header",
                some,
                Some("https://example.com"),
                Some("GET"),
                Some("content-type, x y"),
                bad("Access-Control-Request-Headers \"x y\" contains invalid character."),
            ),
            (
                "no config",
                None,
                Some("https://example.com"),
                Some("GET"),
                None,
                Err((403, "AccessForbidden", NOT_ENABLED.to_owned())),
            ),
            (
                "no config, with headers",
                None,
                Some("https://example.com"),
                Some("DELETE"),
                Some("content-type"),
                Err((403, "AccessForbidden", NOT_ENABLED.to_owned())),
            ),
            (
                "origin not allowed",
                some,
                Some("https://example.org"),
                Some("GET"),
                None,
                Err((403, "AccessForbidden", NOT_ALLOWED.to_owned())),
            ),
            (
                "method not allowed",
                some,
                Some("https://example.com"),
                Some("PUT"),
                None,
                Err((403, "AccessForbidden", NOT_ALLOWED.to_owned())),
            ),
            (
                "header not allowed",
                some,
                Some("https://example.com"),
                Some("GET"),
                Some("content-type,authorization"),
                Err((403, "AccessForbidden", NOT_ALLOWED.to_owned())),
            ),
            (
                "allowed",
                some,
                Some("https://example.com"),
                Some("GET"),
                Some("Content-Type"),
                Ok(()),
            ),
            (
                "allowed, blank header list",
                some,
                Some("https://example.com"),
                Some("GET"),
                Some(" , "),
                Ok(()),
            ),
        ];
        for (name, cfg, origin, method, headers, expected) in cases {
            assert_eq!(
                preflight_check(cfg, origin, method, headers).map(|_| ()),
                expected,
                "{name}"
            );
        }
        assert!(NOT_ALLOWED.starts_with("CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."));
        let answer = preflight_check(
            some,
            Some("https://example.com"),
            Some("GET"),
            Some("Content-Type"),
        )
        .expect("allowed");
        assert_eq!(answer.get(ALLOW_HEADERS), Some("content-type"));
        assert_eq!(answer.get(VARY), Some(VARY_VALUE));
    }

    #[test]
    fn answer_goes_into_a_header_map() {
        let cfg = config(vec![rule(&["https://example.com"], &["GET"], &[])]);
        let mut map = http::HeaderMap::new();
        map.insert(http::header::VARY, http::HeaderValue::from_static("Accept"));
        cfg.actual("https://example.com", "GET")
            .expect("allowed")
            .apply_to(&mut map);
        assert_eq!(
            map.get(http::header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .and_then(|v| v.to_str().ok()),
            Some("https://example.com")
        );
        assert_eq!(
            map.get(http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
                .and_then(|v| v.to_str().ok()),
            Some("true")
        );
        assert_eq!(
            map.get(http::header::VARY).and_then(|v| v.to_str().ok()),
            Some(VARY_VALUE)
        );
        assert_eq!(map.len(), 4);
    }
}
