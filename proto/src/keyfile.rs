//! TSIG key files in the format BIND reads and `tsig-keygen` writes:
//!
//! ```text
//! key "xfr.example." {
//!     algorithm hmac-sha256;
//!     secret "base64==";
//! };
//! ```
//!
//! Several `key` statements per file, BIND's `#`, `//` and `/* */` comments, unquoted names and
//! any whitespace. Nothing else of `named.conf` is accepted: a key file that holds more is
//! refused rather than half-read.
//!
//! Errors name the line and never contain the secret. Because a misplaced secret could show up
//! where a keyword was expected, a token is quoted in an error only when it cannot be base64 of
//! a real secret (it holds `-` or `.`, which base64 never does, or is a short lower-case word).

use data_encoding::BASE64;

use crate::name;
use crate::tsig::Algorithm;

/// One `key` statement.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// Presentation form with a trailing dot, case as written.
    pub name: String,
    pub algorithm: Algorithm,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySpec")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &format_args!("<{} bytes>", self.secret.len()))
            .finish()
    }
}

/// Why a key file was refused, and on which line (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct KeyFileError {
    pub line: usize,
    pub reason: String,
}

/// Parses every `key` statement of `text`.
pub fn parse_keys(text: &str) -> Result<Vec<KeySpec>, KeyFileError> {
    let tokens = tokenize(text)?;
    let mut p = Parser { tokens: &tokens, pos: 0 };
    let mut keys: Vec<KeySpec> = Vec::new();
    while let Some(tok) = p.peek() {
        let line = tok.line;
        match &tok.kind {
            Kind::Word(w) if w.eq_ignore_ascii_case("key") => p.pos += 1,
            other => return Err(err(line, format!("expected `key`, found {}", describe(other)))),
        }
        let spec = p.key_body(line)?;
        if keys.iter().any(|k| k.name.eq_ignore_ascii_case(&spec.name)) {
            return Err(err(line, format!("key {:?} is defined twice", spec.name)));
        }
        keys.push(spec);
    }
    Ok(keys)
}

/// The key in the format `tsig-keygen` writes: `name` as given (presentation form, whose
/// escapes are kept), tab-indented clauses, standard padded base64.
pub fn format_key(name: &str, algorithm: Algorithm, secret: &[u8]) -> String {
    let mut quoted = String::with_capacity(name.len());
    let mut escaped = false;
    for c in name.chars() {
        // A bare quote would end the string early: escape it, as the presentation form does.
        if c == '"' && !escaped {
            quoted.push('\\');
        }
        escaped = c == '\\' && !escaped;
        quoted.push(c);
    }
    format!("key \"{quoted}\" {{\n\talgorithm {};\n\tsecret \"{}\";\n}};\n", algorithm.name_text(), BASE64.encode(secret))
}

fn err(line: usize, reason: String) -> KeyFileError {
    KeyFileError { line, reason }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Semi,
}

#[derive(Debug)]
struct Token {
    kind: Kind,
    line: usize,
}

fn tokenize(text: &str) -> Result<Vec<Token>, KeyFileError> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            _ if c.is_ascii_whitespace() => i += 1,
            b'#' => i = skip_line(b, i),
            b'/' if b.get(i + 1) == Some(&b'/') => i = skip_line(b, i),
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let start = line;
                i += 2;
                loop {
                    match b.get(i) {
                        None => return Err(err(start, "unterminated /* comment".into())),
                        Some(b'*') if b.get(i + 1) == Some(&b'/') => {
                            i += 2;
                            break;
                        }
                        Some(b'\n') => line += 1,
                        Some(_) => {}
                    }
                    i += 1;
                }
            }
            b'{' | b'}' | b';' => {
                let kind = match c {
                    b'{' => Kind::Open,
                    b'}' => Kind::Close,
                    _ => Kind::Semi,
                };
                out.push(Token { kind, line });
                i += 1;
            }
            b'"' => {
                let start = line;
                let mut s = Vec::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(err(start, "unterminated quoted string".into())),
                        Some(b'"') => break,
                        // As in BIND's lexer, a backslash only stops the next byte from ending
                        // the string; both stay, so `\.` and `\"` reach the name parser intact.
                        Some(b'\\') if i + 1 < b.len() => {
                            if b[i + 1] == b'\n' {
                                line += 1;
                            }
                            s.push(b'\\');
                            s.push(b[i + 1]);
                            i += 1;
                        }
                        Some(&ch) => {
                            if ch == b'\n' {
                                line += 1;
                            }
                            s.push(ch);
                        }
                    }
                    i += 1;
                }
                i += 1;
                // Splitting only at ASCII bytes keeps the input's UTF-8 intact.
                let s = String::from_utf8(s).map_err(|_| err(start, "invalid UTF-8 in a quoted string".into()))?;
                out.push(Token { kind: Kind::Quoted(s), line: start });
            }
            _ => {
                let start = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'{' | b'}' | b';' | b'"' | b'#') {
                    if b[i] == b'/' && matches!(b.get(i + 1), Some(b'/' | b'*')) {
                        break;
                    }
                    i += 1;
                }
                out.push(Token { kind: Kind::Word(text[start..i].to_string()), line });
            }
        }
    }
    Ok(out)
}

fn skip_line(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] != b'\n' {
        i += 1;
    }
    i
}

/// A token for an error message, its text only when it cannot be a secret (module docs).
fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Open => "`{`".into(),
        Kind::Close => "`}`".into(),
        Kind::Semi => "`;`".into(),
        Kind::Word(w) if shows(w) => format!("`{w}`"),
        Kind::Quoted(w) if shows(w) => format!("\"{w}\""),
        Kind::Word(_) => "a word".into(),
        Kind::Quoted(_) => "a quoted string".into(),
    }
}

fn shows(text: &str) -> bool {
    let not_base64 = text.contains(['-', '.']) && text.len() <= 64;
    let short_word = text.len() <= 12 && text.bytes().all(|c| c.is_ascii_lowercase());
    not_base64 || short_word
}

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self, what: &str) -> Result<&Token, KeyFileError> {
        let line = self.tokens.get(self.pos.saturating_sub(1)).map_or(1, |t| t.line);
        let tok = self.tokens.get(self.pos).ok_or_else(|| err(line, format!("file ends where {what} was expected")))?;
        self.pos += 1;
        Ok(tok)
    }

    fn expect(&mut self, kind: Kind, what: &str) -> Result<(), KeyFileError> {
        let tok = self.next(what)?;
        if tok.kind != kind {
            return Err(err(tok.line, format!("expected {what}, found {}", describe(&tok.kind))));
        }
        Ok(())
    }

    /// After `key`: NAME `{` clauses `}` `;`.
    fn key_body(&mut self, key_line: usize) -> Result<KeySpec, KeyFileError> {
        let tok = self.next("the key name")?;
        let line = tok.line;
        let raw = match &tok.kind {
            Kind::Word(w) | Kind::Quoted(w) => w.clone(),
            other => return Err(err(line, format!("expected the key name, found {}", describe(other)))),
        };
        let key_name = if raw.ends_with('.') && !raw.ends_with("\\.") { raw.clone() } else { format!("{raw}.") };
        if raw == "." || name::from_text(&key_name).is_err() {
            return Err(err(line, format!("{raw:?} is not a valid key name")));
        }
        self.expect(Kind::Open, "`{`")?;
        let mut algorithm = None;
        let mut secret = None;
        loop {
            let tok = self.next("`algorithm`, `secret` or `}`")?;
            let line = tok.line;
            match &tok.kind {
                Kind::Close => break,
                Kind::Word(w) if w.eq_ignore_ascii_case("algorithm") => {
                    if algorithm.is_some() {
                        return Err(err(line, format!("key {key_name:?}: `algorithm` given twice")));
                    }
                    let tok = self.next("the algorithm name")?;
                    let alg_line = tok.line;
                    let text = match &tok.kind {
                        Kind::Word(w) | Kind::Quoted(w) => w.clone(),
                        other => return Err(err(alg_line, format!("expected the algorithm name, found {}", describe(other)))),
                    };
                    let alg = Algorithm::from_name(&text).ok_or_else(|| {
                        let shown = if shows(&text) { format!("{text:?}") } else { "(not shown)".into() };
                        let supported = "hmac-sha256, hmac-sha384, hmac-sha512 or hmac-sha1";
                        err(alg_line, format!("key {key_name:?}: unknown or unsupported algorithm {shown}; use {supported}"))
                    })?;
                    algorithm = Some(alg);
                    self.expect(Kind::Semi, "`;` after the algorithm")?;
                }
                Kind::Word(w) if w.eq_ignore_ascii_case("secret") => {
                    if secret.is_some() {
                        return Err(err(line, format!("key {key_name:?}: `secret` given twice")));
                    }
                    let tok = self.next("the secret")?;
                    let secret_line = tok.line;
                    let text = match &tok.kind {
                        Kind::Word(w) | Kind::Quoted(w) => w.clone(),
                        // Whatever follows is not echoed: it may be part of the secret.
                        _ => return Err(err(secret_line, format!("key {key_name:?}: expected the secret as a quoted string"))),
                    };
                    // BIND reads base64 with embedded whitespace.
                    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                    let bytes = BASE64
                        .decode(compact.as_bytes())
                        .map_err(|_| err(secret_line, format!("key {key_name:?}: the secret is not valid base64")))?;
                    if bytes.is_empty() {
                        return Err(err(secret_line, format!("key {key_name:?}: the secret is empty")));
                    }
                    secret = Some(bytes);
                    let tok = self.next("`;` after the secret")?;
                    if tok.kind != Kind::Semi {
                        return Err(err(tok.line, format!("key {key_name:?}: expected `;` after the secret")));
                    }
                }
                other => {
                    return Err(err(line, format!("key {key_name:?}: expected `algorithm`, `secret` or `}}`, found {}", describe(other))));
                }
            }
        }
        self.expect(Kind::Semi, "`;` after `}`")?;
        let algorithm = algorithm.ok_or_else(|| err(key_line, format!("key {key_name:?} has no `algorithm`")))?;
        let secret = secret.ok_or_else(|| err(key_line, format!("key {key_name:?} has no `secret`")))?;
        Ok(KeySpec { name: key_name, algorithm, secret })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_B64: &str = "3phbsN2s3Okit4+vcoRnGSGdEerdnFKOuvUkPOS/v7iZoZQF+RvwBWm0XoEi4kyZ5JAGgjapFDJi0cAs5e5d7Q==";

    #[test]
    fn parses_bind_syntax() {
        let text = format!(
            "# generated\n// another comment\n/* block\n comment */ key \"xfr.example.\" {{\n\talgorithm hmac-sha512;\n\tsecret \"{SECRET_B64}\";\n}};\n\
             key other.example {{ secret \"AAEC AwQ=\" ; algorithm \"HMAC-SHA256.\"; }} ;key \"a\\\"b\"{{algorithm hmac-sha1;secret AAAA;}};"
        );
        let keys = parse_keys(&text).unwrap();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0].name, "xfr.example.");
        assert_eq!(keys[0].algorithm, Algorithm::HmacSha512);
        assert_eq!(keys[0].secret, BASE64.decode(SECRET_B64.as_bytes()).unwrap());
        assert_eq!(keys[1].name, "other.example.");
        assert_eq!(keys[1].algorithm, Algorithm::HmacSha256);
        assert_eq!(keys[1].secret, [0, 1, 2, 3, 4]);
        assert_eq!(keys[2].name, "a\\\"b.");
        assert_eq!(crate::name::from_text(&keys[2].name).unwrap(), b"\x03a\"b\x00");
        assert!(parse_keys("").unwrap().is_empty());
        assert!(parse_keys("# nothing\n").unwrap().is_empty());
    }

    #[test]
    fn format_round_trips() {
        let secret: Vec<u8> = (0..32).collect();
        let text = format_key("xfr.example.", Algorithm::HmacSha256, &secret);
        assert_eq!(
            text,
            "key \"xfr.example.\" {\n\talgorithm hmac-sha256;\n\tsecret \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\";\n};\n"
        );
        let back = parse_keys(&text).unwrap();
        assert_eq!(back, vec![KeySpec { name: "xfr.example.".into(), algorithm: Algorithm::HmacSha256, secret }]);
    }

    fn fails(text: &str) -> KeyFileError {
        let e = parse_keys(text).unwrap_err();
        assert!(!e.to_string().contains(SECRET_B64), "{e}");
        assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
        e
    }

    #[test]
    fn errors_name_the_line_and_hide_the_secret() {
        let e = fails("key \"k\" {\n algorithm hmac-md5;\n secret \"c2VjcmV0\";\n};");
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("\"hmac-md5\""), "{e}");
        let e = fails(&format!("key k {{\n algorithm hmac-sha256;\n secret \"{}!\";\n}};", SECRET_B64));
        assert_eq!(e.line, 3);
        assert!(e.to_string().contains("not valid base64"), "{e}");
        // A secret where a keyword belongs, quoted or not, is never shown.
        let e = fails(&format!("key k {{ algorithm hmac-sha256; \"{SECRET_B64}\"; }};"));
        assert!(e.to_string().contains("a quoted string"), "{e}");
        fails(&format!("key k {{ algorithm hmac-sha256; {SECRET_B64}; }};"));
        fails("key k { algorithm hmac-sha256; secret \"c2VjcmV0\" \"c2VjcmV0\"; };");
        fails("key k { algorithm hmac-sha256; secret c2VjcmV0 }; ");
        fails(&format!("key k {{ algorithm \"{SECRET_B64}\"; }};"));
        fails("key k { algorithm c2VjcmV0; };");
    }

    #[test]
    fn structural_errors() {
        for (text, line, needle) in [
            ("key k { algorithm hmac-sha256; };", 1, "no `secret`"),
            ("key k {\n secret \"AAAA\";\n};", 1, "no `algorithm`"),
            ("key k { algorithm hmac-sha256; secret \"\"; };", 1, "empty"),
            ("key k { algorithm hmac-sha256; algorithm hmac-sha1; secret \"AAAA\"; };", 1, "twice"),
            ("key k { algorithm hmac-sha256; secret \"AAAA\"; }", 1, "file ends"),
            ("key k { algorithm hmac-sha256; secret \"AAAA\";\n", 1, "file ends"),
            ("key k { algorithm hmac-sha256; secret \"AAAA\"; };\nkey K. { algorithm hmac-sha1; secret \"AAAA\"; };", 2, "twice"),
            ("options { };", 1, "expected `key`"),
            ("key k { algorithm hmac-sha256; secret \"AAAA\"; typo x; };", 1, "`typo`"),
            ("key k { algorithm hmac-sha256 secret \"AAAA\"; };", 1, "`;` after the algorithm"),
            ("key \"a..b\" { };", 1, "not a valid key name"),
            ("key . { };", 1, "not a valid key name"),
            ("\n/* open", 2, "unterminated"),
            ("key \"open", 1, "unterminated"),
        ] {
            let e = fails(text);
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.to_string().contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let base = format!("key \"x.\" {{ algorithm hmac-sha256; secret \"{SECRET_B64}\"; }};/*c*/#d\n//e\n");
        for cut in 0..=base.len() {
            if base.is_char_boundary(cut) {
                let _ = parse_keys(&base[..cut]);
            }
        }
        for s in ["\"", "\\", "/", "/*/", "key", "key \"\\", "key k { secret", "ключ { };", "key \"é\" { algorithm"] {
            let _ = parse_keys(s);
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let k = KeySpec { name: "k.".into(), algorithm: Algorithm::HmacSha256, secret: vec![0xAB; 4] };
        let s = format!("{k:?}");
        assert!(!s.contains("171") && !s.contains("ab") && s.contains("4 bytes"), "{s}");
    }
}
