//! Wildcard patterns (`*` any run of characters, `?` one character) that may hold policy
//! variables (`${aws:username}`), compiled once and matched without allocating.
//!
//! Besides matching, a pattern can be *partially consumed*: [`consume`] runs it over a known
//! prefix (a bucket's name followed by `/`) and hands back the pattern's possible remainders.
//! Resources use this to match object keys directly and to answer questions about "every
//! object" or "some object" of a bucket.

use std::borrow::Cow;

/// A policy variable: the context key it names (lowercased) and its default value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Variable {
    pub key: Box<str>,
    pub default: Option<Box<str>>,
}

/// One token of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// Text that must appear as is. Never empty.
    Lit(Box<str>),
    /// `?`: exactly one character.
    One,
    /// `*`: any run of characters, the empty one included. Never two in a row.
    Star,
    /// A policy variable, by index into [`Pattern::vars`]; matches its value literally.
    Var(usize),
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Pattern {
    pub toks: Box<[Tok]>,
    pub vars: Box<[Variable]>,
}

/// Values of a pattern's variables, in [`Pattern::vars`] order; `None` is a variable without
/// a value, which makes the pattern match nothing.
pub(crate) type VarValues<'a> = [Option<Cow<'a, str>>];

#[derive(Default)]
struct Builder {
    toks: Vec<Tok>,
    vars: Vec<Variable>,
    lit: String,
}

impl Builder {
    fn flush(&mut self) {
        if !self.lit.is_empty() {
            self.toks
                .push(Tok::Lit(std::mem::take(&mut self.lit).into_boxed_str()));
        }
    }
    fn push(&mut self, tok: Tok) {
        self.flush();
        if tok == Tok::Star && self.toks.last() == Some(&Tok::Star) {
            return;
        }
        self.toks.push(tok);
    }
    fn finish(mut self) -> Pattern {
        self.flush();
        Pattern {
            toks: self.toks.into(),
            vars: self.vars.into(),
        }
    }
}

/// Reads the inside of `${...}`: a key, optionally followed by `, 'default'`.
fn parse_variable(inner: &str) -> Option<Variable> {
    let (key, default) = match inner.split_once(',') {
        None => (inner.trim(), None),
        Some((key, default)) => {
            let default = default.trim();
            let default = default.strip_prefix('\'')?.strip_suffix('\'')?;
            (key.trim(), Some(default.into()))
        }
    };
    let key_ok = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/:_-.+=@".contains(&b));
    key_ok.then(|| Variable {
        key: key.to_ascii_lowercase().into(),
        default,
    })
}

impl Pattern {
    /// Compiles `text`. With `wildcards`, `*` and `?` are wildcards; with `variables`
    /// (policy version 2012-10-17), `${key}`, `${key, 'default'}`, `${*}`, `${?}` and `${$}`
    /// are recognised. Text that only looks like a variable (no closing brace, a malformed
    /// key) is literal.
    pub(crate) fn parse(text: &str, wildcards: bool, variables: bool) -> Pattern {
        let mut b = Builder::default();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if variables
                && rest.starts_with("${")
                && let Some(end) = rest.find('}')
            {
                let inner = &rest[2..end];
                if matches!(inner, "*" | "?" | "$") {
                    b.lit.push_str(inner);
                    rest = &rest[end + 1..];
                    continue;
                }
                if let Some(var) = parse_variable(inner) {
                    let index = b.vars.len();
                    b.vars.push(var);
                    b.push(Tok::Var(index));
                    rest = &rest[end + 1..];
                    continue;
                }
            }
            match c {
                '*' if wildcards => b.push(Tok::Star),
                '?' if wildcards => b.push(Tok::One),
                _ => b.lit.push(c),
            }
            rest = &rest[c.len_utf8()..];
        }
        b.finish()
    }

    pub(crate) fn has_vars(&self) -> bool {
        !self.vars.is_empty()
    }

    /// The text of a pattern made of literal text only.
    #[inline]
    pub(crate) fn as_literal(&self) -> Option<&str> {
        match &*self.toks {
            [] => Some(""),
            [Tok::Lit(l)] => Some(l),
            _ => None,
        }
    }

    /// Whether the pattern holds `*` or `?`.
    pub(crate) fn has_wildcards(&self) -> bool {
        self.toks.iter().any(|t| matches!(t, Tok::Star | Tok::One))
    }

    /// Whether `text` matches. `ci` compares ASCII letters without regard to case.
    #[inline]
    pub(crate) fn is_match(&self, text: &str, ci: bool, vals: &VarValues<'_>) -> bool {
        match_toks(&self.toks, text, ci, vals)
    }

    /// Whether `text` equals the pattern read literally (for patterns without wildcards).
    #[inline]
    pub(crate) fn equals(&self, text: &str, vals: &VarValues<'_>) -> bool {
        if let Some(lit) = self.as_literal() {
            return lit == text;
        }
        let mut rest = text;
        for tok in self.toks.iter() {
            let piece = match tok {
                Tok::Lit(l) => &**l,
                Tok::Var(i) => match vals.get(*i) {
                    Some(Some(v)) => &**v,
                    _ => return false,
                },
                Tok::One => "?",
                Tok::Star => "*",
            };
            match rest.strip_prefix(piece) {
                Some(r) => rest = r,
                None => return false,
            }
        }
        rest.is_empty()
    }

    /// The text with variables replaced by their values; `None` if one has no value.
    /// Wildcards are written back as `*` and `?`.
    pub(crate) fn resolve(&self, vals: &VarValues<'_>) -> Option<String> {
        let mut out = String::new();
        for tok in self.toks.iter() {
            match tok {
                Tok::Lit(l) => out.push_str(l),
                Tok::One => out.push('?'),
                Tok::Star => out.push('*'),
                Tok::Var(i) => out.push_str(vals.get(*i)?.as_deref()?),
            }
        }
        Some(out)
    }

    /// The tokens with variables replaced by literal values; `None` if one has no value.
    pub(crate) fn concrete(&self, vals: &VarValues<'_>) -> Option<Vec<Tok>> {
        let mut b = Builder::default();
        for tok in self.toks.iter() {
            match tok {
                Tok::Lit(l) => b.lit.push_str(l),
                Tok::Var(i) => b.lit.push_str(vals.get(*i)?.as_deref()?),
                other => b.push(other.clone()),
            }
        }
        b.flush();
        Some(b.toks)
    }
}

fn char_len(lead: u8) -> usize {
    match lead {
        0..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

fn lit_at(text: &[u8], pos: usize, lit: &[u8], ci: bool) -> bool {
    match text.get(pos..pos + lit.len()) {
        Some(window) if ci => window.eq_ignore_ascii_case(lit),
        Some(window) => window == lit,
        None => false,
    }
}

/// Glob matching with backtracking to the last `*` only: linear in practice, and
/// `O(pattern × text)` at worst. Positions stay on character boundaries.
pub(crate) fn match_toks(toks: &[Tok], text: &str, ci: bool, vals: &VarValues<'_>) -> bool {
    if let [Tok::Star] = toks {
        return true;
    }
    let t = text.as_bytes();
    let (mut ti, mut pos) = (0usize, 0usize);
    // (token after the last star, text position where that star's run ends)
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(tok) = toks.get(ti) {
            let advanced = match tok {
                Tok::Star => {
                    star = Some((ti + 1, pos));
                    ti += 1;
                    continue;
                }
                Tok::Lit(l) => lit_at(t, pos, l.as_bytes(), ci).then_some(l.len()),
                Tok::One => t.get(pos).map(|&b| char_len(b)),
                Tok::Var(i) => match vals.get(*i) {
                    Some(Some(v)) => lit_at(t, pos, v.as_bytes(), ci).then_some(v.len()),
                    _ => return false,
                },
            };
            if let Some(n) = advanced {
                pos += n;
                ti += 1;
                continue;
            }
        } else if pos == t.len() {
            return true;
        }
        match star {
            Some((after, end)) if end < t.len() => {
                let end = end + char_len(t[end]);
                star = Some((after, end));
                ti = after;
                pos = end;
            }
            _ => return false,
        }
    }
}

/// How [`consume`] treats variables, whose values are unknown when a policy is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarMode {
    /// As `*`: what the pattern *could* match for some value (validation).
    AsStar,
    /// As opaque text: consuming gives up if a variable could take part of the prefix.
    Opaque,
}

/// A place in a pattern: before token `.0`, `.1` bytes into it if it is a literal.
pub(crate) type State = (usize, usize);

fn close(toks: &[Tok], states: &mut Vec<State>, mode: VarMode) {
    let mut i = 0;
    while i < states.len() {
        let (ti, _) = states[i];
        let skippable = match toks.get(ti) {
            Some(Tok::Star) => true,
            Some(Tok::Var(_)) => mode == VarMode::AsStar,
            _ => false,
        };
        if skippable && !states.contains(&(ti + 1, 0)) {
            states.push((ti + 1, 0));
        }
        i += 1;
    }
}

/// Runs `toks` over `prefix` and returns every place the pattern can be in afterwards, or
/// `None` in [`VarMode::Opaque`] when a variable would have to match part of `prefix`.
pub(crate) fn consume(toks: &[Tok], prefix: &str, mode: VarMode) -> Option<Vec<State>> {
    let mut states = vec![(0, 0)];
    close(toks, &mut states, mode);
    for c in prefix.chars() {
        let mut buf = [0u8; 4];
        let c = &*c.encode_utf8(&mut buf);
        let mut next: Vec<State> = Vec::new();
        for &(ti, off) in &states {
            let to = match toks.get(ti) {
                Some(Tok::Lit(l)) if l[off..].starts_with(c) => {
                    let off = off + c.len();
                    Some(if off == l.len() {
                        (ti + 1, 0)
                    } else {
                        (ti, off)
                    })
                }
                Some(Tok::One) => Some((ti + 1, 0)),
                Some(Tok::Star) => Some((ti, 0)),
                Some(Tok::Var(_)) if mode == VarMode::AsStar => Some((ti, 0)),
                Some(Tok::Var(_)) => return None,
                _ => None,
            };
            if let Some(s) = to
                && !next.contains(&s)
            {
                next.push(s);
            }
        }
        states = next;
        close(toks, &mut states, mode);
        if states.is_empty() {
            break;
        }
    }
    Some(states)
}

/// Whether one of `states` is the end of the pattern.
pub(crate) fn accepts(toks: &[Tok], states: &[State]) -> bool {
    states.iter().any(|&(ti, _)| ti == toks.len())
}

/// Whether one of `states` sits before a variable.
pub(crate) fn at_var(toks: &[Tok], states: &[State]) -> bool {
    states
        .iter()
        .any(|&(ti, _)| matches!(toks.get(ti), Some(Tok::Var(_))))
}

/// What is left of the pattern from each state, duplicates and remainders another one
/// already covers (the place after a `*` when the `*` itself is there) removed.
pub(crate) fn remainders(toks: &[Tok], states: &[State]) -> Vec<Vec<Tok>> {
    let mut out: Vec<Vec<Tok>> = Vec::new();
    for &(ti, off) in states {
        let covered =
            ti > 0 && off == 0 && toks[ti - 1] == Tok::Star && states.contains(&(ti - 1, 0));
        if covered {
            continue;
        }
        let mut rest = Vec::with_capacity(toks.len() - ti);
        match toks.get(ti) {
            Some(Tok::Lit(l)) if off > 0 => {
                rest.push(Tok::Lit(l[off..].into()));
                rest.extend_from_slice(&toks[ti + 1..]);
            }
            _ => rest.extend_from_slice(&toks[ti..]),
        }
        if !out.contains(&rest) {
            out.push(rest);
        }
    }
    out
}

/// Whether the union of `remainders` matches every non-empty string. A remainder holding
/// literal text cannot help (a string can avoid its characters), so only remainders made of
/// `*` and `?` count: each matches either exactly `n` characters or at least `n`.
/// A variable makes a remainder not count (resolve variables first).
pub(crate) fn covers_all_nonempty<'a>(remainders: impl IntoIterator<Item = &'a [Tok]>) -> bool {
    let mut exact: Vec<usize> = Vec::new();
    let mut min_open: Option<usize> = None;
    for rest in remainders {
        let mut ones = 0;
        let mut open = false;
        let mut pure = true;
        for tok in rest {
            match tok {
                Tok::One => ones += 1,
                Tok::Star => open = true,
                _ => pure = false,
            }
        }
        if !pure {
            continue;
        }
        if open {
            min_open = Some(min_open.map_or(ones, |m: usize| m.min(ones)));
        } else {
            exact.push(ones);
        }
    }
    match min_open {
        Some(m) => (1..m).all(|len| exact.contains(&len)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Pattern::parse(p, true, false).is_match(t, false, &[])
    }

    #[test]
    fn wildcard_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("", "", true),
            ("", "a", false),
            ("*", "", true),
            ("*", "anything/at:all", true),
            ("?", "", false),
            ("?", "a", true),
            ("?", "é", true),
            ("?", "ab", false),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*", "ba", false),
            ("*a", "bca", true),
            ("*a", "ab", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("a**b", "ab", true),
            ("*/test/*", "1///test///object.jpg", true),
            ("*/test/*", "/test/object.jpg", true),
            ("*/test/*", "1/test/", true),
            ("*/test/*", "1-test/object.jpg", false),
            ("*/test/*", "test/object.jpg", false),
            ("*/test/*", "1/2/test.jpg", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*?", "", false),
            ("*?", "x", true),
            ("*aab", "aaab", true),
            ("*ab*ab", "abab", true),
            ("*ab*ab", "ababx", false),
            ("ÿ*ü", "ÿxxü", true),
            ("Case", "case", false),
        ];
        for &(p, t, want) in cases {
            assert_eq!(m(p, t), want, "pattern {p:?} text {t:?}");
        }
    }

    #[test]
    fn case_insensitive() {
        let p = Pattern::parse("s3:get*", true, false);
        assert!(p.is_match("S3:GetObject", true, &[]));
        assert!(!p.is_match("S3:GetObject", false, &[]));
    }

    #[test]
    fn variables() {
        let p = Pattern::parse("home/${aws:username}/*", true, true);
        assert_eq!(p.vars.len(), 1);
        assert_eq!(&*p.vars[0].key, "aws:username");
        assert!(p.is_match("home/bob/x", false, &[Some("bob".into())]));
        assert!(!p.is_match("home/bob/x", false, &[Some("alice".into())]));
        assert!(!p.is_match("home/bob/x", false, &[None]));
        // a value's own wildcards are literal
        assert!(!p.is_match("home/bob/x", false, &[Some("b*".into())]));
        assert!(p.is_match("home/b*/x", false, &[Some("b*".into())]));
        // disabled: literal text
        let lit = Pattern::parse("home/${aws:username}", true, false);
        assert!(lit.is_match("home/${aws:username}", false, &[]));
        // specials
        let s = Pattern::parse("a${*}b${?}c${$}", true, true);
        assert!(s.is_match("a*b?c$", false, &[]));
        assert!(!s.is_match("aXb?c$", false, &[]));
        // default
        let d = Pattern::parse("${aws:PrincipalTag/team, 'company-wide'}", false, true);
        assert_eq!(d.vars[0].default.as_deref(), Some("company-wide"));
        assert_eq!(&*d.vars[0].key, "aws:principaltag/team");
        // malformed: literal
        let bad = Pattern::parse("${unclosed", true, true);
        assert!(bad.is_match("${unclosed", false, &[]));
        let bad = Pattern::parse("${}", true, true);
        assert!(bad.vars.is_empty());
    }

    #[test]
    fn consuming_prefix() {
        let p = Pattern::parse("bucket/*", true, false);
        let s = consume(&p.toks, "bucket", VarMode::Opaque).unwrap();
        assert!(!accepts(&p.toks, &s));
        let s = consume(&p.toks, "bucket/", VarMode::Opaque).unwrap();
        let r = remainders(&p.toks, &s);
        assert_eq!(r, vec![vec![Tok::Star]]);
        assert!(covers_all_nonempty(r.iter().map(|v| v.as_slice())));

        let p = Pattern::parse("buck*", true, false);
        let s = consume(&p.toks, "bucket", VarMode::Opaque).unwrap();
        assert!(accepts(&p.toks, &s));

        let p = Pattern::parse("bucket/a*", true, false);
        let s = consume(&p.toks, "bucket/", VarMode::Opaque).unwrap();
        let r = remainders(&p.toks, &s);
        assert!(!covers_all_nonempty(r.iter().map(|v| v.as_slice())));

        let p = Pattern::parse("bucket/?*", true, false);
        let s = consume(&p.toks, "bucket/", VarMode::Opaque).unwrap();
        let r = remainders(&p.toks, &s);
        assert!(covers_all_nonempty(r.iter().map(|v| v.as_slice())));

        let p = Pattern::parse("${aws:username}/*", true, true);
        assert!(consume(&p.toks, "bucket/", VarMode::Opaque).is_none());
        let s = consume(&p.toks, "bucket/", VarMode::AsStar).unwrap();
        assert!(!s.is_empty());
    }

    #[test]
    fn union_coverage() {
        let set = |ps: &[&str]| -> Vec<Vec<Tok>> {
            ps.iter()
                .map(|p| Pattern::parse(p, true, false).toks.to_vec())
                .collect()
        };
        let cov = |ps: &[&str]| covers_all_nonempty(set(ps).iter().map(|v| v.as_slice()));
        assert!(cov(&["*"]));
        assert!(cov(&["?", "??*"]));
        assert!(!cov(&["?", "???*"]));
        assert!(!cov(&["a*", "b*"]));
        assert!(!cov(&["?"]));
        assert!(!cov(&[]));
    }
}
