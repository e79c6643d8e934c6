//! A tiny XML writer for S3 responses and a reader for the few request bodies S3 accepts.

use quick_xml::events::Event;

/// Builds `<?xml …?>` documents with escaped text.
pub struct XmlWriter {
    out: String,
}

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl XmlWriter {
    pub fn new() -> Self {
        XmlWriter {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        }
    }
    pub fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }
    /// Root element with the S3 namespace.
    pub fn open_root(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out
            .push_str(" xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    }
    pub fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }
    pub fn elem(&mut self, name: &str, text: &str) {
        self.open(name);
        escape_into(&mut self.out, text);
        self.close(name);
    }
    /// Escaped text inside the currently open element.
    pub fn elem_text(&mut self, text: &str) {
        escape_into(&mut self.out, text);
    }
    /// Pre-built markup (callers escape what they interpolate).
    pub fn raw(&mut self, markup: &str) {
        self.out.push_str(markup);
    }
    pub fn finish(self) -> String {
        self.out
    }
}

/// `s` with the XML special characters escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

fn escape_into(out: &mut String, s: &str) {
    // Runs without a character to escape go in whole (a listing's keys, mostly): every escaped
    // character is ASCII, so each found byte is a character boundary.
    let mut rest = s;
    while let Some(i) = rest
        .bytes()
        .position(|b| matches!(b, b'<' | b'>' | b'&' | b'"' | b'\'' | b'\r'))
    {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'"' => "&quot;",
            b'\'' => "&apos;",
            _ => "&#13;",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// A parsed element tree, small enough for S3 request bodies (bounded by the caller).
#[derive(Debug, Default, Clone)]
pub struct Node {
    pub name: String,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// Parses a document into a tree; namespaces are dropped (local names only). Any syntax error,
/// a depth over 16 or more than 20 000 elements → `None` (the caller answers MalformedXML).
pub fn parse(body: &[u8]) -> Option<Node> {
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut count = 0usize;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                count += 1;
                if stack.len() >= 16 || count > 20_000 || root.is_some() {
                    return None;
                }
                let name = std::str::from_utf8(e.local_name().as_ref())
                    .ok()?
                    .to_string();
                stack.push(Node {
                    name,
                    ..Default::default()
                });
            }
            Event::Empty(e) => {
                count += 1;
                let name = std::str::from_utf8(e.local_name().as_ref())
                    .ok()?
                    .to_string();
                let n = Node {
                    name,
                    ..Default::default()
                };
                match stack.last_mut() {
                    Some(p) => p.children.push(n),
                    None if root.is_none() => root = Some(n),
                    None => return None,
                }
            }
            Event::End(_) => {
                let n = stack.pop()?;
                match stack.last_mut() {
                    Some(p) => p.children.push(n),
                    None => root = Some(n),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    let s = t.decode().ok()?;
                    top.text.push_str(&quick_xml::escape::unescape(&s).ok()?);
                } else if !t.iter().all(|b| b.is_ascii_whitespace()) {
                    return None;
                }
            }
            Event::CData(t) => {
                let top = stack.last_mut()?;
                top.text.push_str(std::str::from_utf8(&t).ok()?);
            }
            Event::GeneralRef(r) => {
                let top = stack.last_mut()?;
                let name = std::str::from_utf8(&r).ok()?;
                let s = match name {
                    "lt" => "<".to_string(),
                    "gt" => ">".to_string(),
                    "amp" => "&".to_string(),
                    "quot" => "\"".to_string(),
                    "apos" => "'".to_string(),
                    n if n.starts_with("#x") => {
                        char::from_u32(u32::from_str_radix(&n[2..], 16).ok()?)?.to_string()
                    }
                    n if n.starts_with('#') => char::from_u32(n[1..].parse().ok()?)?.to_string(),
                    _ => return None,
                };
                top.text.push_str(&s);
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return None;
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let n = parse(b"<?xml version=\"1.0\"?><Delete xmlns=\"x\"><Object><Key>a&amp;b</Key></Object><Quiet>true</Quiet></Delete>").expect("parse");
        assert_eq!(n.name, "Delete");
        assert_eq!(
            n.child("Object").and_then(|o| o.child_text("Key")),
            Some("a&b")
        );
        assert!(parse(b"<Delete><Object></Delete>").is_none());
        assert!(parse(b"not xml").is_none());
        assert!(parse(b"<a></a><b></b>").is_none());
    }

    #[test]
    fn writer_escapes() {
        let mut w = XmlWriter::new();
        w.elem("Key", "a<b>&\"");
        assert!(w.finish().ends_with("<Key>a&lt;b&gt;&amp;&quot;</Key>"));
        // Runs between escapes, at both ends, around multi-byte characters, and none at all.
        assert_eq!(escape(""), "");
        assert_eq!(escape("plain/key.txt"), "plain/key.txt");
        assert_eq!(escape("<é'\r\r>"), "&lt;é&apos;&#13;&#13;&gt;");
        assert_eq!(escape("ünï&cødé\"x"), "ünï&amp;cødé&quot;x");
        // Parsed back, escaped text is the text.
        let tricky = "a<'b'>\r&\"ß\u{1F600}";
        let doc = format!("<K>{}</K>", escape(tricky));
        assert_eq!(
            parse(doc.as_bytes()).map(|n| n.text),
            Some(tricky.to_string())
        );
    }
}
