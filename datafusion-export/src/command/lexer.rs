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
pub(crate) fn lex(text: &str) -> Lexed {
    let masked = text.replace("/*!", "/* ");
    let dialect = GenericDialect {};
    let mut tokens: Vec<Tok> = Vec::new();
    // Byte offset at which the current tokenizer run starts.
    let mut base = 0usize;
    'runs: loop {
        let rest = masked.get(base..).unwrap_or("");
        let mut buf = Vec::new();
        let result = Tokenizer::new(&dialect, rest).tokenize_with_location_into_buf(&mut buf);
        let mut mapper = LocationMapper::new(rest);
        let mut i = 0usize;
        while let Some(t) = buf.get(i) {
            let start = base + mapper.offset(t.span.start);
            let end = (base + mapper.offset(t.span.end)).max(start);
            if matches!(t.token, Token::DuckIntDiv) && masked.get(start..start + 2) == Some("//") {
                // A `//` comment up to and including the end of the line.
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
                if line_end >= masked.len() {
                    // The comment runs to the end of the text.
                    return Lexed {
                        tokens,
                        error: None,
                    };
                }
                // If this run has a token starting exactly at the next line,
                // everything from there on is tokenized exactly as a fresh
                // run would, so keep using it.
                let mut j = i + 1;
                let mut resume = None;
                while let Some(u) = buf.get(j) {
                    let s = base + mapper.offset(u.span.start);
                    if s == line_end {
                        resume = Some(j);
                        break;
                    }
                    if s > line_end {
                        break;
                    }
                    j += 1;
                }
                match resume {
                    Some(j) => {
                        i = j;
                        continue;
                    }
                    None => {
                        // The comment swallowed the line end (e.g. it
                        // contained an unbalanced quote): tokenize again
                        // from the next line.
                        base = line_end;
                        continue 'runs;
                    }
                }
            }
            let mut token = t.token.clone();
            if masked.get(start..end) != text.get(start..end) {
                // The token contains `/*!` that was masked: re-read it.
                if let Some(original) = text.get(start..end) {
                    if let Ok(mut again) = Tokenizer::new(&dialect, original).tokenize() {
                        if again.len() == 1 {
                            if let Some(t) = again.pop() {
                                token = t;
                            }
                        }
                    }
                }
            }
            tokens.push(Tok { token, start, end });
            i += 1;
        }
        let error = result.err().map(|e| LexError {
            offset: base + mapper.offset(e.location),
            message: e.message,
        });
        return Lexed { tokens, error };
    }
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
