//! A thin layer over the sqlparser tokenizer that yields tokens with byte
//! offsets into the original text.
//!
//! Two adjustments are made on top of the plain [`GenericDialect`] tokenizer:
//!
//! * `//` starts a comment that runs to the end of the line (Kusto style). The
//!   generic dialect tokenizes `//` as an integer-division operator and then
//!   keeps tokenizing the rest of the line as SQL, which breaks on comments
//!   such as `// don't`. When a `//` token is found the rest of the line is
//!   turned into a comment token and, if needed, tokenizing restarts on the
//!   next line.
//! * MySQL-style optimizer hints (`/*! ... */`) are *not* expanded into
//!   tokens: the text is tokenized with every `/*!` replaced by `/* ` (same
//!   length, so all positions are unchanged), and string tokens that contain
//!   `/*!` are re-read from the original text.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer, Whitespace};

/// A token together with its byte range in the original text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tok {
    pub token: Token,
    /// Byte offset of the first character of the token.
    pub start: usize,
    /// Byte offset just after the last character of the token.
    pub end: usize,
}

impl Tok {
    /// Whitespace and comments.
    pub fn is_trivia(&self) -> bool {
        matches!(self.token, Token::Whitespace(_))
    }
}

/// A tokenizer error, located at a byte offset of the original text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LexError {
    pub offset: usize,
    pub message: String,
}

/// The result of [`lex`]: every token that could be read and, if tokenizing
/// stopped early, the reason. Tokens are contiguous and cover the text from
/// its start up to the error (or the end).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lexed {
    pub tokens: Vec<Tok>,
    pub error: Option<LexError>,
}

/// Tokenizes `text` with the generic SQL dialect (see the module docs).
///
/// To keep the work linear when `//` comments contain quotes (`// don't`),
/// the text is tokenized in chunks that end right after an occurrence of
/// `//`. A chunk's tokens are final except the last one, which may have been
/// cut short (e.g. a string containing `http://`); in that case tokenizing
/// resumes at that token with a chunk at least twice as long.
pub(crate) fn lex(text: &str) -> Lexed {
    let masked = text.replace("/*!", "/* ");
    let len = masked.len();
    let dialect = GenericDialect {};
    let mut tokens: Vec<Tok> = Vec::new();
    // Byte offset of a token boundary where the next chunk starts.
    let mut base = 0usize;
    // The next chunk must end at or after this offset.
    let mut min_cut = 0usize;
    'chunks: loop {
        let cut = next_cut(&masked, min_cut.max(base));
        let chunk = masked.get(base..cut).unwrap_or("");
        let mut buf = Vec::new();
        let result = Tokenizer::new(&dialect, chunk).tokenize_with_location_into_buf(&mut buf);
        let mut mapper = LocationMapper::new(chunk);
        let pushed_before = tokens.len();
        for t in &buf {
            let start = base + mapper.offset(t.span.start);
            let end = (base + mapper.offset(t.span.end)).max(start);
            if matches!(t.token, Token::DuckIntDiv) && masked.get(start..start + 2) == Some("//") {
                let line_end = push_slash_comment(text, &masked, start, &mut tokens);
                if line_end >= len {
                    return Lexed {
                        tokens,
                        error: None,
                    };
                }
                base = line_end;
                min_cut = line_end;
                continue 'chunks;
            }
            tokens.push(Tok {
                token: unmasked(&dialect, text, &masked, &t.token, start, end),
                start,
                end,
            });
        }
        if cut >= len {
            let error = result.err().map(|e| LexError {
                offset: base + mapper.offset(e.location),
                message: e.message,
            });
            return Lexed { tokens, error };
        }
        // The chunk ended early: its last token may be incomplete.
        let span = cut.saturating_sub(base);
        if tokens.len() > pushed_before {
            if let Some(last) = tokens.pop() {
                base = last.start;
            }
        }
        min_cut = cut.max(base.saturating_add(span.saturating_mul(2)));
    }
}

/// End offset of the first `//` at or after `from`, or the text length.
fn next_cut(masked: &str, from: usize) -> usize {
    let mut from = from.min(masked.len());
    while !masked.is_char_boundary(from) {
        from += 1;
    }
    masked
        .get(from..)
        .and_then(|s| s.find("//"))
        .map(|k| from + k + 2)
        .unwrap_or(masked.len())
}

/// Pushes a `//` comment starting at `start` (up to and including the end of
/// its line) and returns the offset just after it.
fn push_slash_comment(text: &str, masked: &str, start: usize, tokens: &mut Vec<Tok>) -> usize {
    let line_end = masked
        .get(start..)
        .and_then(|s| s.find('\n'))
        .map(|k| start + k + 1)
        .unwrap_or(masked.len());
    let comment = text.get(start + 2..line_end).unwrap_or("").to_string();
    tokens.push(Tok {
        token: Token::Whitespace(Whitespace::SingleLineComment {
            comment,
            prefix: "//".to_string(),
        }),
        start,
        end: line_end,
    });
    line_end
}

/// Re-reads a token whose text contained a masked `/*!` from the original
/// text, so that string values are exact.
fn unmasked(
    dialect: &GenericDialect,
    text: &str,
    masked: &str,
    token: &Token,
    start: usize,
    end: usize,
) -> Token {
    let original = text.get(start..end);
    if masked.get(start..end) != original {
        if let Some(original) = original {
            if let Ok(mut again) = Tokenizer::new(dialect, original).tokenize() {
                if again.len() == 1 {
                    if let Some(t) = again.pop() {
                        return t;
                    }
                }
            }
        }
    }
    token.clone()
}

/// Converts tokenizer locations (1-based line, 1-based column counted in
/// characters, lines separated by `\n`) into byte offsets. Queries are
/// expected in mostly increasing order, which makes a full pass linear.
struct LocationMapper<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
    line: u64,
    column: u64,
    byte: usize,
}

impl<'a> LocationMapper<'a> {
    fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Self {
            text,
            line_starts,
            line: 1,
            column: 1,
            byte: 0,
        }
    }

    /// Byte offset of `loc`, clamped to the text.
    fn offset(&mut self, loc: Location) -> usize {
        if loc.line == 0 {
            return 0;
        }
        if loc.line != self.line || loc.column < self.column {
            let index = usize::try_from(loc.line - 1).unwrap_or(usize::MAX);
            match self.line_starts.get(index) {
                Some(&start) => {
                    self.line = loc.line;
                    self.column = 1;
                    self.byte = start;
                }
                None => return self.text.len(),
            }
        }
        if self.column < loc.column {
            let rest = self.text.get(self.byte..).unwrap_or("");
            for c in rest.chars() {
                if self.column >= loc.column {
                    break;
                }
                self.byte += c.len_utf8();
                self.column += 1;
            }
        }
        self.byte
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(String, &str)> {
        let lexed = lex(text);
        assert!(lexed.error.is_none(), "{:?}", lexed.error);
        lexed
            .tokens
            .iter()
            .map(|t| (format!("{:?}", t.token), &text[t.start..t.end]))
            .collect()
    }

    #[test]
    fn tokens_are_contiguous_and_sliceable() {
        for text in [
            "select 'é', \"ü\" from t -- ç\n; x",
            "a\r\nb\rc",
            "日本語 <| 'x' // comment ' here\n next",
            "/*! hint ; */ select",
            "",
            "a // c",
        ] {
            let lexed = lex(text);
            assert!(lexed.error.is_none(), "{text}: {:?}", lexed.error);
            let mut pos = 0;
            for t in &lexed.tokens {
                assert_eq!(t.start, pos, "{text}: {t:?}");
                assert!(t.end > t.start);
                pos = t.end;
            }
            assert_eq!(pos, text.len(), "{text}");
        }
    }

    #[test]
    fn slash_slash_comments() {
        let toks = kinds("a // don't\nb");
        let texts: Vec<&str> = toks.iter().map(|(_, s)| *s).collect();
        assert_eq!(texts, vec!["a", " ", "// don't\n", "b"]);
        let toks = kinds("a // ok\nb // it's\n'c'");
        let texts: Vec<&str> = toks.iter().map(|(_, s)| *s).collect();
        assert_eq!(
            texts,
            vec!["a", " ", "// ok\n", "b", " ", "// it's\n", "'c'"]
        );
        // `//` inside a string is not a comment
        let toks = kinds("'http://x' y");
        assert_eq!(toks[0].1, "'http://x'");
    }

    #[test]
    fn hints_are_not_expanded() {
        let lexed = lex("a /*! b; c */ d '/*!x'");
        assert!(lexed.error.is_none());
        assert!(!lexed
            .tokens
            .iter()
            .any(|t| matches!(t.token, Token::SemiColon)));
        let last = lexed.tokens.last().unwrap();
        assert_eq!(last.token, Token::SingleQuotedString("/*!x".into()));
    }

    /// Straightforward (quadratic in the worst case) version of [`lex`]:
    /// restart the tokenizer after every `//` comment.
    fn lex_reference(text: &str) -> Lexed {
        let masked = text.replace("/*!", "/* ");
        let dialect = GenericDialect {};
        let mut tokens = Vec::new();
        let mut base = 0usize;
        'runs: loop {
            let rest = masked.get(base..).unwrap_or("");
            let mut buf = Vec::new();
            let result = Tokenizer::new(&dialect, rest).tokenize_with_location_into_buf(&mut buf);
            let mut mapper = LocationMapper::new(rest);
            for t in &buf {
                let start = base + mapper.offset(t.span.start);
                let end = base + mapper.offset(t.span.end);
                if matches!(t.token, Token::DuckIntDiv) {
                    let line_end = push_slash_comment(text, &masked, start, &mut tokens);
                    if line_end >= masked.len() {
                        return Lexed {
                            tokens,
                            error: None,
                        };
                    }
                    base = line_end;
                    continue 'runs;
                }
                tokens.push(Tok {
                    token: unmasked(&dialect, text, &masked, &t.token, start, end),
                    start,
                    end,
                });
            }
            let error = result.err().map(|e| LexError {
                offset: base + mapper.offset(e.location),
                message: e.message,
            });
            return Lexed { tokens, error };
        }
    }

    #[test]
    fn chunked_lexing_matches_reference() {
        let mut state = 0x0123_4567_89ab_cdefu64;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u32
        };
        let pieces = [
            "//", "/", "*", "/*", "*/", "/*!", "'", "\"", "`", "--", "\n", "\r", " ", "a", "1",
            "e", "http://x", "$$", "$a$", "é", "😀", ";", "<|", ".", "_", "-", "|", "h'", "@",
            "E'", "\\", "x'", "r'", "b\"", "U&'", "q'[", "]'", "<", ">", "=",
        ];
        for _ in 0..20_000 {
            let n = (next() % 24) as usize;
            let text: String = (0..n)
                .map(|_| pieces[(next() as usize) % pieces.len()])
                .collect();
            let got = lex(&text);
            let want = lex_reference(&text);
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn linear_on_many_slash_comments_with_quotes() {
        let mut script = String::new();
        for i in 0..3000 {
            script.push_str(&format!(
                "// don't stop {i}\nselect {i}, 'x' from t; /* it's // ok */\n"
            ));
        }
        let started = std::time::Instant::now();
        let lexed = lex(&script);
        assert!(lexed.error.is_none());
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        let slash_comments = lexed
            .tokens
            .iter()
            .filter(|t| {
                matches!(&t.token, Token::Whitespace(Whitespace::SingleLineComment { prefix, .. }) if prefix == "//")
            })
            .count();
        assert_eq!(slash_comments, 3000);
        let small: String = script.lines().take(200).map(|l| format!("{l}\n")).collect();
        assert_eq!(lex(&small), lex_reference(&small));
    }

    #[test]
    fn long_token_with_many_slashes() {
        let mut script = String::from("/*");
        for i in 0..3000 {
            script.push_str(&format!(" // x{i} 'q\n"));
        }
        script.push_str("*/ select 1");
        let lexed = lex(&script);
        assert!(lexed.error.is_none());
        assert_eq!(lexed.tokens.len(), 5);
        assert_eq!(lexed, lex_reference(&script));
    }

    #[test]
    fn errors_are_located() {
        let text = "ab\n  'unterminated";
        let lexed = lex(text);
        let err = lexed.error.unwrap();
        assert_eq!(&text[err.offset..], "'unterminated");
        // tokens before the error are kept
        assert_eq!(lexed.tokens.first().map(|t| t.start), Some(0));
        // error after a restarted run
        let text = "a // x'\n é 'oops";
        let err = lex(text).error.unwrap();
        assert_eq!(&text[err.offset..], "'oops");
    }
}
