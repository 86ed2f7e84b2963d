//! The KQL tokenizer.
//!
//! KQL is not lexed with the SQL tokenizer of [`crate::command::lexer`]: there `"x"`
//! is a quoted identifier (in KQL a string), `\` does not escape in strings, `1h` is
//! two tokens, `=~`, `!in`, `!contains` and `..` are not operators, and `$left` is a
//! placeholder. A small lexer of our own keeps every token's byte range, so that
//! errors point at line:column.

use std::time::Duration;

use crate::command::error::ParseError;
use crate::command::timespan::try_parse_timespan;

/// One KQL token kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum T {
    /// A name: `where`, `Timestamp`, `project-away` is three tokens. `['a b']` and
    /// `$left` are names too (`quoted` tells a bracketed name).
    Ident { name: String, quoted: bool },
    /// `!has`, `!contains`, `!in`, `!between`, `!startswith`, …: a negated word operator.
    NotWord(String),
    /// An integer literal.
    Long(i64),
    /// A real literal.
    Real(f64),
    /// A timespan literal (`1h`, `30m`, `100ms`, `2d`, `10tick`).
    Timespan(i64),
    /// A string literal; `hidden` for `h'…'` (obfuscated) literals.
    Str { value: String, hidden: bool },
    /// The raw text between the parentheses of `datetime(…)`, `timespan(…)` or
    /// `time(…)` when it is not a string literal (`datetime(2024-01-01 10:00)`).
    Raw { kind: String, text: String },
    /// Punctuation or an operator: `|`, `(`, `==`, `=~`, `..`, …
    Sym(&'static str),
}

/// A token and its byte range in the text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tok {
    pub t: T,
    pub start: usize,
    pub end: usize,
}

const SYMBOLS: &[&str] = &[
    "==", "!=", "<>", "=~", "!~", "<=", ">=", "..", "|", "(", ")", "[", "]", "{", "}", ",", ";",
    "=", "<", ">", "+", "-", "*", "/", "%", ".", ":", "!", "~",
];

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Tokenizes KQL text; `//` comments are skipped. Never panics.
pub(crate) fn lex(text: &str) -> Result<Vec<Tok>, ParseError> {
    let mut toks = Vec::new();
    let mut chars = text.char_indices().peekable();
    let err = |at: usize, m: String| ParseError::at_offset(text, at, m);
    while let Some(&(i, c)) = chars.peek() {
        let rest = text.get(i..).unwrap_or("");
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if rest.starts_with("//") {
            // A comment runs to the end of its line.
            while chars.peek().is_some_and(|&(_, c)| c != '\n') {
                chars.next();
            }
            continue;
        }
        // Strings: '…', "…", @'…', h'…', h@'…', H"…".
        let (prefix_len, hidden, verbatim) = string_prefix(rest);
        if let Some(quote) = rest.get(prefix_len..).and_then(|s| s.chars().next()) {
            if (quote == '\'' || quote == '"') && (prefix_len > 0 || c == quote) {
                let body_start = i + prefix_len + 1;
                let (value, end) = read_string(text, body_start, quote, verbatim)
                    .ok_or_else(|| err(i, "unterminated string literal".into()))?;
                toks.push(Tok {
                    t: T::Str { value, hidden },
                    start: i,
                    end,
                });
                while chars.peek().is_some_and(|&(j, _)| j < end) {
                    chars.next();
                }
                continue;
            }
        }
        if c == '[' {
            // `['name']` / `["name"]`: a bracketed name.
            let after = rest.get(1..).unwrap_or("").trim_start();
            if let Some(q) = after.chars().next().filter(|q| *q == '\'' || *q == '"') {
                let body_start = i + (rest.len() - after.len()) + 1;
                if let Some((name, end)) = read_string(text, body_start, q, false) {
                    let tail = text.get(end..).unwrap_or("");
                    let trimmed = tail.trim_start();
                    if trimmed.starts_with(']') {
                        let close = end + (tail.len() - trimmed.len()) + 1;
                        toks.push(Tok {
                            t: T::Ident { name, quoted: true },
                            start: i,
                            end: close,
                        });
                        while chars.peek().is_some_and(|&(j, _)| j < close) {
                            chars.next();
                        }
                        continue;
                    }
                }
            }
        }
        if c.is_ascii_digit() {
            let (tok, end) = number(text, i)?;
            toks.push(Tok {
                t: tok,
                start: i,
                end,
            });
            while chars.peek().is_some_and(|&(j, _)| j < end) {
                chars.next();
            }
            continue;
        }
        if is_ident_start(c)
            || (c == '$'
                && rest
                    .get(1..)
                    .is_some_and(|r| r.starts_with(|c: char| is_ident_start(c))))
            || (c == '!'
                && rest
                    .get(1..)
                    .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_alphabetic())))
        {
            let word_start = if c == '$' || c == '!' { i + 1 } else { i };
            let len = text
                .get(word_start..)
                .unwrap_or("")
                .find(|c: char| !is_ident_char(c))
                .unwrap_or(text.len() - word_start);
            let end = word_start + len;
            let word = text.get(word_start..end).unwrap_or("").to_string();
            let t = match c {
                '!' => T::NotWord(word.to_ascii_lowercase()),
                '$' => T::Ident {
                    name: format!("${word}"),
                    quoted: false,
                },
                _ => T::Ident {
                    name: word.clone(),
                    quoted: false,
                },
            };
            let mut end = end;
            let mut t = t;
            // `datetime(2024-01-01 10:00)`: the text inside is not KQL tokens.
            if matches!(word.as_str(), "datetime" | "timespan" | "time") && c != '!' && c != '$' {
                let tail = text.get(end..).unwrap_or("");
                let trimmed = tail.trim_start();
                if let Some(inner) = trimmed.strip_prefix('(') {
                    let inner_trim = inner.trim_start();
                    let is_string = inner_trim.starts_with(['\'', '"', '@', 'h', 'H'])
                        && string_prefix(inner_trim).0 < inner_trim.len()
                        && inner_trim
                            .get(string_prefix(inner_trim).0..)
                            .is_some_and(|s| s.starts_with(['\'', '"']));
                    if !is_string {
                        let open = end + (tail.len() - trimmed.len());
                        let close = inner
                            .find(')')
                            .map(|k| open + 1 + k)
                            .ok_or_else(|| err(open, format!("expected ')' to close {word}(")))?;
                        let raw = text.get(open + 1..close).unwrap_or("").trim().to_string();
                        t = T::Raw {
                            kind: word.clone(),
                            text: raw,
                        };
                        end = close + 1;
                    }
                }
            }
            toks.push(Tok { t, start: i, end });
            while chars.peek().is_some_and(|&(j, _)| j < end) {
                chars.next();
            }
            continue;
        }
        match SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            Some(sym) => {
                toks.push(Tok {
                    t: T::Sym(sym),
                    start: i,
                    end: i + sym.len(),
                });
                for _ in 0..sym.len() {
                    chars.next();
                }
            }
            None => return Err(err(i, format!("unexpected character '{c}'"))),
        }
    }
    Ok(toks)
}

/// The length of a string literal's prefix (`h`, `@`, `h@`), and whether it hides
/// (`h`) and is verbatim (`@`). (0, false, false) when there is none.
fn string_prefix(rest: &str) -> (usize, bool, bool) {
    let b = rest.as_bytes();
    let quote = |k: usize| b.get(k).is_some_and(|q| *q == b'\'' || *q == b'"');
    match (b.first(), b.get(1)) {
        (Some(b'h' | b'H'), Some(b'@')) if quote(2) => (2, true, true),
        (Some(b'h' | b'H'), _) if quote(1) => (1, true, false),
        (Some(b'@'), _) if quote(1) => (1, false, true),
        _ => (0, false, false),
    }
}

/// Reads a string body starting at byte `start` (after the opening quote) up to
/// the closing `quote`. Regular strings take `\` escapes; verbatim (`@`) strings
/// take a doubled quote. Returns the value and the offset after the closing quote.
fn read_string(text: &str, start: usize, quote: char, verbatim: bool) -> Option<(String, usize)> {
    let mut value = String::new();
    let mut it = text.get(start..)?.char_indices().peekable();
    while let Some((k, c)) = it.next() {
        if c == quote {
            if verbatim && it.peek().is_some_and(|&(_, n)| n == quote) {
                it.next();
                value.push(quote);
                continue;
            }
            return Some((value, start + k + c.len_utf8()));
        }
        if c == '\\' && !verbatim {
            let (_, e) = it.next()?;
            value.push(match e {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                '0' => '\0',
                other => other,
            });
            continue;
        }
        if c == '\n' && !verbatim {
            return None;
        }
        value.push(c);
    }
    None
}

/// Reads a number (and a timespan unit glued to it) at byte `start`.
fn number(text: &str, start: usize) -> Result<(T, usize), ParseError> {
    let rest = text.get(start..).unwrap_or("");
    let bytes = rest.as_bytes();
    let mut k = 0;
    while bytes.get(k).is_some_and(|b| b.is_ascii_digit()) {
        k += 1;
    }
    let mut real = false;
    // `1.5` but not `1..5` (a range) nor `1.h`.
    if bytes.get(k) == Some(&b'.') && bytes.get(k + 1).is_some_and(|b| b.is_ascii_digit()) {
        real = true;
        k += 1;
        while bytes.get(k).is_some_and(|b| b.is_ascii_digit()) {
            k += 1;
        }
    }
    // Exponent: `1e5`, `2.5E-3`.
    if matches!(bytes.get(k), Some(b'e' | b'E')) {
        let mut j = k + 1;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if bytes.get(j).is_some_and(|b| b.is_ascii_digit()) {
            while bytes.get(j).is_some_and(|b| b.is_ascii_digit()) {
                j += 1;
            }
            real = true;
            k = j;
        }
    }
    let digits = rest.get(..k).unwrap_or("");
    let unit_len = rest
        .get(k..)
        .unwrap_or("")
        .find(|c: char| !is_ident_char(c))
        .unwrap_or(rest.len() - k);
    let end = start + k + unit_len;
    let bad = |m: &str| ParseError::at_offset(text, start, m.to_string());
    if unit_len > 0 {
        let literal = rest.get(..k + unit_len).unwrap_or("");
        let unit = rest.get(k..k + unit_len).unwrap_or("").to_ascii_lowercase();
        let nanos = if unit == "tick" || unit == "ticks" {
            digits
                .parse::<i64>()
                .ok()
                .and_then(|n| n.checked_mul(100))
                .ok_or_else(|| bad(&format!("invalid timespan '{literal}'")))?
        } else {
            let d: Duration = try_parse_timespan(literal).map_err(|_| {
                bad(&format!(
                    "invalid number or timespan '{literal}' (timespan units: d, h, m, s, ms, \
                     microsecond, tick)"
                ))
            })?;
            i64::try_from(d.as_nanos()).map_err(|_| bad("timespan out of range"))?
        };
        return Ok((T::Timespan(nanos), end));
    }
    if real {
        let v = digits
            .parse::<f64>()
            .map_err(|_| bad(&format!("invalid number '{digits}'")))?;
        return Ok((T::Real(v), end));
    }
    match digits.parse::<i64>() {
        Ok(v) => Ok((T::Long(v), end)),
        Err(_) => digits
            .parse::<f64>()
            .map(|v| (T::Real(v), end))
            .map_err(|_| bad(&format!("invalid number '{digits}'"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<T> {
        lex(text).unwrap().into_iter().map(|t| t.t).collect()
    }

    #[test]
    fn operators_strings_and_timespans() {
        assert_eq!(
            kinds("a =~ 'x' !~ \"y\" !in !contains .. 1h 100ms 1.5 h'k' @'c:\\d'"),
            vec![
                T::Ident {
                    name: "a".into(),
                    quoted: false
                },
                T::Sym("=~"),
                T::Str {
                    value: "x".into(),
                    hidden: false
                },
                T::Sym("!~"),
                T::Str {
                    value: "y".into(),
                    hidden: false
                },
                T::NotWord("in".into()),
                T::NotWord("contains".into()),
                T::Sym(".."),
                T::Timespan(3_600_000_000_000),
                T::Timespan(100_000_000),
                T::Real(1.5),
                T::Str {
                    value: "k".into(),
                    hidden: true
                },
                T::Str {
                    value: "c:\\d".into(),
                    hidden: false
                },
            ]
        );
        assert_eq!(
            kinds("$left.id 1..5 ['my col'] 'it\\'s' // c\n x"),
            vec![
                T::Ident {
                    name: "$left".into(),
                    quoted: false
                },
                T::Sym("."),
                T::Ident {
                    name: "id".into(),
                    quoted: false
                },
                T::Long(1),
                T::Sym(".."),
                T::Long(5),
                T::Ident {
                    name: "my col".into(),
                    quoted: true
                },
                T::Str {
                    value: "it's".into(),
                    hidden: false
                },
                T::Ident {
                    name: "x".into(),
                    quoted: false
                },
            ]
        );
        assert_eq!(
            kinds("datetime(2024-01-01 10:00)")[0],
            T::Raw {
                kind: "datetime".into(),
                text: "2024-01-01 10:00".into()
            }
        );
        assert!(matches!(
            kinds("datetime('2024-01-01')")[0],
            T::Ident { .. }
        ));
    }

    #[test]
    fn errors_are_located() {
        let e = lex("T | where a == 'x").unwrap_err();
        assert_eq!((e.line, e.column), (1, 16));
        let e = lex("T\n| take 1zz").unwrap_err();
        assert_eq!((e.line, e.column), (2, 8));
        assert!(e.message.contains("1zz"), "{e}");
        assert!(lex("a # b").is_err());
    }
}
