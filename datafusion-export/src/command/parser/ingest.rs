//! Parses `.append`, `.set-or-append` and `.ingest into table`, and the query after `<|`.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::{clean_statement, Parser};
use crate::command::ast::Command;
use crate::command::error::ParseError;
use crate::command::lexer::lex;

impl Parser<'_> {
    pub(super) fn parse_append(&mut self, create_if_missing: bool) -> Result<Command, ParseError> {
        let command = if create_if_missing {
            ".set-or-append"
        } else {
            ".append"
        };
        let (table, _) = self.parse_name(&format!("a table name after '{command}'"))?;
        let properties = self.parse_optional_properties()?;
        let query = self.parse_query(properties.is_empty())?;
        Ok(Command::Append {
            table,
            query,
            create_if_missing,
            properties,
        })
    }

    pub(super) fn parse_ingest(&mut self) -> Result<Command, ParseError> {
        self.expect_keyword("into", "expected 'into table <name>' after '.ingest'")?;
        self.expect_keyword("table", "expected 'table' after '.ingest into'")?;
        let (table, _) = self.parse_name("a table name after '.ingest into table'")?;
        const SOURCE: &str = "expected a source URL string such as 'https://...' or h'...'";
        let mut sources = Vec::new();
        if self.peek_is(|t| matches!(t, Token::LParen)) {
            self.advance();
            loop {
                let start = self.peek().map(|t| t.start);
                let Some(source) = self.try_string_literal()? else {
                    return Err(self.unexpected(SOURCE));
                };
                if source.expose().trim().is_empty() {
                    return Err(self.error_at(start.unwrap_or(0), "source URL must not be empty"));
                }
                sources.push(source);
                match self.peek().map(|t| &t.token) {
                    Some(Token::Comma) => {
                        self.advance();
                    }
                    Some(Token::RParen) => {
                        self.advance();
                        break;
                    }
                    _ => return Err(self.unexpected("expected ',' or ')' after source")),
                }
            }
        } else {
            let start = self.peek().map(|t| t.start);
            let Some(source) = self.try_string_literal()? else {
                return Err(self.unexpected(
                    "expected a source URL string or a parenthesized list of them after the \
                     table name, e.g. ('https://...')",
                ));
            };
            if source.expose().trim().is_empty() {
                return Err(self.error_at(start.unwrap_or(0), "source URL must not be empty"));
            }
            sources.push(source);
        }
        let properties = self.parse_optional_properties()?;
        self.expect_end("'.ingest into table'")?;
        Ok(Command::Ingest {
            table,
            sources,
            properties,
        })
    }

    /// `<| <query>`: the rest of the text, sliced raw (trimmed, without
    /// trailing `;` and comments). `with_allowed` adds a hint that a
    /// `with (...)` clause may come before `<|`.
    pub(super) fn parse_query(&mut self, with_allowed: bool) -> Result<String, ParseError> {
        let arrow = self
            .peek()
            .filter(|t| {
                matches!(t.token, Token::Lt) && self.text.get(t.start..t.start + 2) == Some("<|")
            })
            .map(|t| t.start);
        let Some(arrow) = arrow else {
            let expected = if with_allowed {
                "expected '<|' followed by a query (or 'with (...)' properties)"
            } else {
                "expected '<|' followed by a query"
            };
            return Err(self.unexpected(expected));
        };
        let query_start = arrow + 2;
        let raw = self.text.get(query_start..).unwrap_or("");
        let lexed = lex(raw);
        let only_trivia = lexed.error.is_none()
            && lexed
                .tokens
                .iter()
                .all(|t| t.is_trivia() || matches!(t.token, Token::SemiColon));
        let query = clean_statement(raw, &lexed);
        if query.is_empty() || only_trivia {
            return Err(self.error_at(query_start, "expected a query after '<|'"));
        }
        // Nothing after `<|` belongs to the command.
        self.pos = self.toks.len();
        Ok(query)
    }
}

#[cfg(test)]
mod tests {
    use crate::command::ast::{Command, PropertyValue, SecretString};
    use crate::command::parser::test_util::{parse, parse_err, plain, prop};

    #[test]
    fn append_and_set_or_append() {
        assert_eq!(
            parse(".append T <| select * from src"),
            Command::Append {
                table: "T".into(),
                query: "select * from src".into(),
                create_if_missing: false,
                properties: vec![],
            }
        );
        assert_eq!(
            parse(".Set-Or-Append ['My T'] with (creationTime='2024-01-01') <|\n  select 1 ;  \n"),
            Command::Append {
                table: "My T".into(),
                query: "select 1".into(),
                create_if_missing: true,
                properties: vec![prop(
                    "creationTime",
                    PropertyValue::String(plain("2024-01-01"))
                )],
            }
        );
        // The query is sliced raw from the original text, comments and all.
        assert_eq!(
            parse(".append T <|select a, 'x<|y;' /* c */ from t -- done"),
            Command::Append {
                table: "T".into(),
                query: "select a, 'x<|y;' /* c */ from t".into(),
                create_if_missing: false,
                properties: vec![],
            }
        );
        // Whatever follows `<|` is not tokenized by the command parser.
        assert_eq!(
            parse(".append T <| T | where x == 'unterminated"),
            Command::Append {
                table: "T".into(),
                query: "T | where x == 'unterminated".into(),
                create_if_missing: false,
                properties: vec![],
            }
        );
        let e = parse_err(".append T <|   ;  ");
        assert_eq!(e.message, "expected a query after '<|'");
        assert_eq!(e.column, 13);
        let e = parse_err(".append T <| -- nothing\n");
        assert_eq!(e.message, "expected a query after '<|'");
        let e = parse_err(".append T select 1");
        assert!(
            e.message.starts_with("expected '<|' followed by a query"),
            "{e}"
        );
        assert_eq!(e.column, 11);
        let e = parse_err(".append T < | select 1");
        assert!(e.message.starts_with("expected '<|'"), "{e}");
        let e = parse_err(".set-or-append <| select 1");
        assert!(
            e.message
                .contains("expected a table name after '.set-or-append'"),
            "{e}"
        );
        let e = parse_err(".set - or-append T <| select 1");
        assert!(e.message.contains("unknown command '.set'"), "{e}");
    }

    #[test]
    fn multibyte_text_before_query() {
        let text = ".append ['données 日本 😀'] with (tag='é😀') <| select 'ü', \"ç\" from 表";
        assert_eq!(
            parse(text),
            Command::Append {
                table: "données 日本 😀".into(),
                query: "select 'ü', \"ç\" from 表".into(),
                create_if_missing: false,
                properties: vec![prop("tag", PropertyValue::String(plain("é😀")))],
            }
        );
        let text = "/* ünïcödé 😀\n ☃ */ .append\n  ['日本'] <|\n\tselect '😀'";
        match parse(text) {
            Command::Append { table, query, .. } => {
                assert_eq!(table, "日本");
                assert_eq!(query, "select '😀'");
            }
            other => panic!("{other:?}"),
        }
        // Error columns count characters, not bytes.
        let e = parse_err(".append ['日本'] <|");
        assert_eq!((e.line, e.column), (1, 18));
        let e = parse_err("-- ☃☃☃\n.drop table ☃");
        assert_eq!((e.line, e.column), (2, 13));
    }

    #[test]
    fn ingest() {
        assert_eq!(
            parse(".ingest into table T ('https://a/x.csv', h'https://b/y.csv?sig=s') with (format='csv', ignoreFirstRecord=true)"),
            Command::Ingest {
                table: "T".into(),
                sources: vec![
                    plain("https://a/x.csv"),
                    SecretString::new("https://b/y.csv?sig=s", true)
                ],
                properties: vec![
                    prop("format", PropertyValue::String(plain("csv"))),
                    prop("ignoreFirstRecord", PropertyValue::Bool(true)),
                ],
            }
        );
        assert_eq!(
            parse(".INGEST INTO TABLE T h@'https://c/z;key'"),
            Command::Ingest {
                table: "T".into(),
                sources: vec![SecretString::new("https://c/z;key", true)],
                properties: vec![],
            }
        );
        let e = parse_err(".ingest into table T ()");
        assert!(e.message.starts_with("expected a source URL string"), "{e}");
        let e = parse_err(".ingest into table T ('')");
        assert_eq!(e.message, "source URL must not be empty");
        let e = parse_err(".ingest into table T");
        assert!(e.message.contains("found end of input"), "{e}");
        let e = parse_err(".ingest table T ('x')");
        assert!(e.message.starts_with("expected 'into table <name>'"), "{e}");
        let e = parse_err(".ingest into table T ('x' 'y')");
        assert!(
            e.message.starts_with("expected ',' or ')' after source"),
            "{e}"
        );
        let e = parse_err(".ingest into table T ('x') with (format=csv) extra");
        assert!(e.message.contains("unexpected 'extra'"), "{e}");
    }
}
