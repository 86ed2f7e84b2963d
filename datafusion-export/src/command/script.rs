//! Splitting a script into statements.

use datafusion::sql::sqlparser::tokenizer::{Token, Whitespace};

use super::error::ParseError;
use super::lexer::lex;

/// Splits `script` into statements.
///
/// Statements are separated by `;` or by one or more blank lines (lines that
/// contain only whitespace). Separators inside string literals, quoted
/// identifiers and comments (`--`, `//`, `/* */`) are ignored.
///
/// A statement that starts with the keyword `let` is a KQL query whose `let`
/// statements end in `;` (`let x = 1; T | where a > x`): its `;`s do not end it,
/// only a blank line (or the end of the script) does.
///
/// Each statement is returned as its original text, starting at its first
/// token and ending at its last token: leading and trailing whitespace and
/// comments are dropped, comments inside a statement are kept. Empty and
/// comment-only statements are dropped.
///
/// Fails when the script cannot be tokenized, e.g. on an unterminated string
/// literal or block comment.
pub fn split_statements(script: &str) -> Result<Vec<String>, ParseError> {
    let lexed = lex(script);
    if let Some(e) = lexed.error {
        return Err(ParseError::at_offset(script, e.offset, e.message));
    }
    let mut statements = Vec::new();
    // Byte range of the current statement's significant tokens.
    let mut current: Option<(usize, usize)> = None;
    // Newlines seen since the last token that was not a space, tab or
    // newline; two of them mean a blank line.
    let mut newlines = 0usize;
    let mut finish = |current: &mut Option<(usize, usize)>| {
        if let Some((start, end)) = current.take() {
            if let Some(text) = script.get(start..end) {
                let text = text.trim();
                if !text.is_empty() {
                    statements.push(text.to_string());
                }
            }
        }
    };
    // Whether the current statement is a KQL query starting with `let`.
    let mut kql_let = false;
    for tok in &lexed.tokens {
        match &tok.token {
            Token::SemiColon if kql_let => {
                newlines = 0;
            }
            Token::SemiColon => {
                finish(&mut current);
                newlines = 0;
            }
            Token::Whitespace(Whitespace::Newline) => {
                newlines += 1;
                if newlines >= 2 {
                    finish(&mut current);
                    kql_let = false;
                }
            }
            Token::Whitespace(Whitespace::Space | Whitespace::Tab) => {}
            Token::Whitespace(Whitespace::SingleLineComment { comment, .. }) => {
                // The comment ends its line; what follows starts a new line.
                newlines = usize::from(comment.ends_with('\n'));
            }
            Token::Whitespace(Whitespace::MultiLineComment(_)) => {
                newlines = 0;
            }
            _ => {
                newlines = 0;
                match &mut current {
                    Some((_, end)) => *end = tok.end,
                    None => {
                        kql_let = matches!(&tok.token, Token::Word(w) if w.quote_style.is_none() && w.value == "let");
                        current = Some((tok.start, tok.end));
                    }
                }
            }
        }
    }
    finish(&mut current);
    Ok(statements)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(script: &str) -> Vec<String> {
        split_statements(script).unwrap_or_else(|e| panic!("{script:?}: {e}"))
    }

    #[test]
    fn semicolons() {
        assert_eq!(split("select 1; select 2;"), vec!["select 1", "select 2"]);
        assert_eq!(split("  select 1  "), vec!["select 1"]);
        assert_eq!(split(";;; ;"), Vec::<String>::new());
        assert_eq!(split(""), Vec::<String>::new());
        assert_eq!(
            split(".show tables;.drop table T ifexists"),
            vec![".show tables", ".drop table T ifexists"]
        );
    }

    #[test]
    fn separators_inside_literals_and_comments_are_ignored() {
        let script = "select 'a;b\n\nc', \"x;y\" from t -- c1; c2\n\
                      where s = 'it''s;' /* ; \n\n */ and u = `q;`;\n\
                      .ingest into table T (h'https://a/b;key') with (format='csv;')";
        let statements = split(script);
        assert_eq!(statements.len(), 2, "{statements:#?}");
        assert!(statements[0].starts_with("select 'a;b\n\nc'"));
        assert!(statements[0].ends_with("u = `q;`"));
        assert_eq!(
            statements[1],
            ".ingest into table T (h'https://a/b;key') with (format='csv;')"
        );
    }

    #[test]
    fn slash_slash_comments() {
        let script = "// header comment; don't split here\n\
                      .show tables // it's fine\n\
                      ;select 1 // trailing ' quote\n";
        assert_eq!(split(script), vec![".show tables", "select 1"]);
        // comment-only script
        assert_eq!(
            split("// only a comment\n-- and another\n/* and a block */"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn blank_lines_split() {
        let script = "select 1\nfrom t\n\nselect 2\n  \t \n\n\nselect 3";
        assert_eq!(
            split(script),
            vec!["select 1\nfrom t", "select 2", "select 3"]
        );
        let script = "select 1\r\n\r\nselect 2";
        assert_eq!(split(script), vec!["select 1", "select 2"]);
    }

    #[test]
    fn kql_let_statements_end_at_a_blank_line() {
        let script = "let x = 1; let t = T | where a > x;\nt | count;\n\nselect 1; select 2";
        assert_eq!(
            split(script),
            vec![
                "let x = 1; let t = T | where a > x;\nt | count",
                "select 1",
                "select 2"
            ]
        );
        // Not a `let`: `;` still ends the statement.
        assert_eq!(split("lets; x"), vec!["lets", "x"]);
    }

    #[test]
    fn comment_lines_are_not_blank() {
        let script = "select 1\n-- comment\nfrom t";
        assert_eq!(split(script), vec!["select 1\n-- comment\nfrom t"]);
        let script = "select 1 -- c\n\nselect 2";
        assert_eq!(split(script), vec!["select 1", "select 2"]);
        let script = "select 1\n/* c */\nfrom t";
        assert_eq!(split(script), vec!["select 1\n/* c */\nfrom t"]);
        let script = "select 1 // c\n\nselect 2";
        assert_eq!(split(script), vec!["select 1", "select 2"]);
    }

    #[test]
    fn leading_and_trailing_comments_are_dropped() {
        let script = "-- load data\n.append T <| select 1 -- done\n\n/* x */ select 2 /* y */;";
        assert_eq!(split(script), vec![".append T <| select 1", "select 2"]);
    }

    #[test]
    fn multibyte_text() {
        let script = "select 'héllo; wörld' as 日本;\n\nselect '😀'";
        assert_eq!(
            split(script),
            vec!["select 'héllo; wörld' as 日本", "select '😀'"]
        );
    }

    #[test]
    fn errors_have_positions() {
        let err = split_statements("select 1;\nselect 'oops").unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(err.column, 8);
        assert!(err.message.to_lowercase().contains("unterminated"), "{err}");
        let err = split_statements("select 1 /* never closed").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.to_string().contains("(at line 1, column"), "{err}");
    }

    #[test]
    fn many_slash_comments_with_quotes_are_fast() {
        let mut script = String::new();
        for i in 0..2000 {
            script.push_str(&format!("// don't do {i}\nselect {i}, 'x' from t;\n"));
        }
        let started = std::time::Instant::now();
        let statements = split(&script);
        assert_eq!(statements.len(), 2000);
        assert_eq!(statements[7], "select 7, 'x' from t");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn no_panic_on_arbitrary_input() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u32
        };
        let alphabet: Vec<char> = ";'\"`\n\r\t /*-!@h.<|()[]é日😀ab1:=,".chars().collect();
        for _ in 0..3000 {
            let len = (next() % 40) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[(next() as usize) % alphabet.len()])
                .collect();
            if let Ok(statements) = split_statements(&s) {
                for st in statements {
                    assert!(!st.is_empty());
                    assert!(s.contains(&st));
                }
            }
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = split_statements(&String::from_utf8_lossy(&bytes));
        }
    }
}
