//! Parses `.export` (to storage URLs or to an external table) and storage URL lists.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::{bare_word, truncate, Parser};
use crate::command::ast::{Command, DataFormat, ExportCommand, ExportTarget, SecretString};
use crate::command::error::ParseError;

impl Parser<'_> {
    /// `.export` (already consumed) `[async] [compressed] to ...`.
    pub(super) fn parse_export(&mut self) -> Result<Command, ParseError> {
        let is_async = self.peek_keyword("async");
        if is_async {
            self.advance();
        }
        let compressed = self.peek_keyword("compressed");
        if compressed {
            self.advance();
        }
        if compressed && self.peek_keyword("async") {
            return Err(self.unexpected("'async' must come before 'compressed': expected 'to'"));
        }
        self.expect_keyword(
            "to",
            "expected 'to <format> (...)' or 'to table <name>' after '.export [async] [compressed]'",
        )?;
        let expected_format = "expected an export format (csv, tsv, json, parquet) or \
                               'table <name>' after 'to'";
        let Some(format_tok) = self
            .peek()
            .filter(|t| bare_word(&t.token).is_some())
            .cloned()
        else {
            return Err(self.unexpected(expected_format));
        };
        let word = bare_word(&format_tok.token).unwrap_or_default();
        let target = if word.eq_ignore_ascii_case("table") {
            self.advance();
            let (name, _) = self.parse_name("an external table name after 'to table'")?;
            ExportTarget::Table { name }
        } else {
            let Some(format) = DataFormat::from_name(word) else {
                return Err(self.error_at(
                    format_tok.start,
                    format!(
                        "unknown export format '{}'; expected one of csv, tsv, json, parquet \
                         (or 'table <name>')",
                        truncate(word)
                    ),
                ));
            };
            self.advance();
            let urls = self.parse_url_list(&format!(
                "expected '(' and a list of storage URLs after '{}', e.g. ('https://...')",
                format.name()
            ))?;
            ExportTarget::Storage { format, urls }
        };
        let properties = self.parse_optional_properties()?;
        let query = self.parse_query(properties.is_empty())?;
        Ok(Command::Export(ExportCommand {
            is_async,
            compressed,
            target,
            properties,
            query,
        }))
    }

    /// `( <string> [, ...] )`: at least one non-blank URL.
    pub(super) fn parse_url_list(
        &mut self,
        missing_paren: &str,
    ) -> Result<Vec<SecretString>, ParseError> {
        const URL: &str = "expected a storage URL string such as 'https://...' or h'...'";
        self.expect(|t| matches!(t, Token::LParen), missing_paren)?;
        let mut urls = Vec::new();
        loop {
            let start = self.peek().map(|t| t.start);
            let Some(url) = self.try_string_literal()? else {
                return Err(self.unexpected(URL));
            };
            if url.expose().trim().is_empty() {
                return Err(self.error_at(start.unwrap_or(0), "storage URL must not be empty"));
            }
            urls.push(url);
            match self.peek().map(|t| &t.token) {
                Some(Token::Comma) => {
                    self.advance();
                }
                Some(Token::RParen) => {
                    self.advance();
                    break;
                }
                _ => return Err(self.unexpected("expected ',' or ')' after storage URL")),
            }
        }
        Ok(urls)
    }
}

#[cfg(test)]
mod tests {
    use crate::command::ast::{Command, DataFormat, ExportCommand, ExportTarget, PropertyValue};
    use crate::command::parser::test_util::{
        column_of, export, parse, parse_err, plain, prop, secret,
    };

    #[test]
    fn export_kusto_example() {
        let text = ".export async compressed to csv (h@\"https://storage1.blob.core.windows.net/containerName;secretKey\", h@\"https://storage1.blob.core.windows.net/containerName2;secretKey\") with (sizeLimit=100000, namePrefix=export, includeHeaders=all, encoding=UTF8NoBOM) <| myLogs | where id == \"moshe\" | limit 10000";
        assert_eq!(
            parse(text),
            Command::Export(ExportCommand {
                is_async: true,
                compressed: true,
                target: ExportTarget::Storage {
                    format: DataFormat::Csv,
                    urls: vec![
                        secret("https://storage1.blob.core.windows.net/containerName;secretKey"),
                        secret("https://storage1.blob.core.windows.net/containerName2;secretKey"),
                    ],
                },
                properties: vec![
                    prop("sizeLimit", PropertyValue::Integer(100_000)),
                    prop("namePrefix", PropertyValue::Identifier("export".into())),
                    prop("includeHeaders", PropertyValue::Identifier("all".into())),
                    prop("encoding", PropertyValue::Identifier("UTF8NoBOM".into())),
                ],
                query: "myLogs | where id == \"moshe\" | limit 10000".into(),
            })
        );
        let debug = format!("{:?}", parse(text));
        assert!(!debug.contains("secretKey"), "{debug}");
    }

    #[test]
    fn export_to_storage_forms() {
        let e = export(".export to parquet ('/tmp/out') <| select 1");
        assert!(!e.is_async && !e.compressed);
        assert_eq!(
            e.target,
            ExportTarget::Storage {
                format: DataFormat::Parquet,
                urls: vec![plain("/tmp/out")]
            }
        );
        assert!(e.properties.is_empty());
        assert_eq!(e.query, "select 1");

        let e = export(".EXPORT ASYNC TO Json (@'C:\\out', \"s3://b/p\") <| T;");
        assert!(e.is_async && !e.compressed);
        assert_eq!(
            e.target,
            ExportTarget::Storage {
                format: DataFormat::Json,
                urls: vec![plain("C:\\out"), plain("s3://b/p")]
            }
        );
        let e = export(".export compressed to TSV ('a') <| T | take 10 ; ");
        assert!(!e.is_async && e.compressed);
        assert_eq!(e.query, "T | take 10");
        let ExportTarget::Storage { format, .. } = e.target else {
            panic!()
        };
        assert_eq!(format, DataFormat::Tsv);

        for (name, format) in [
            ("csv", DataFormat::Csv),
            ("tsv", DataFormat::Tsv),
            ("json", DataFormat::Json),
            ("parquet", DataFormat::Parquet),
            ("PARQUET", DataFormat::Parquet),
        ] {
            let e = export(&format!(".export to {name} ('x') <| select 1"));
            assert_eq!(
                e.target,
                ExportTarget::Storage {
                    format,
                    urls: vec![plain("x")]
                },
                "{name}"
            );
        }
        // The query is raw text: comments, quotes and `<|` inside are kept.
        let e = export(
            ".export to csv ('x')\n  with (a=1)\n<|\n  select 'a<|b' /* c */ from t -- end\n",
        );
        assert_eq!(e.query, "select 'a<|b' /* c */ from t");
        assert_eq!(e.properties, vec![prop("a", PropertyValue::Integer(1))]);
    }

    #[test]
    fn export_to_table() {
        assert_eq!(
            parse(".export async to table ExternalBlob <| T"),
            Command::Export(ExportCommand {
                is_async: true,
                compressed: false,
                target: ExportTarget::Table {
                    name: "ExternalBlob".into()
                },
                properties: vec![],
                query: "T".into(),
            })
        );
        let e = export(
            ".export compressed to TABLE ['ext t'] with (sizeLimit=1000, distribution='per_node') <| select * from src",
        );
        assert!(e.compressed);
        assert_eq!(
            e.target,
            ExportTarget::Table {
                name: "ext t".into()
            }
        );
        assert_eq!(e.properties.len(), 2);
        assert_eq!(e.query, "select * from src");
    }

    #[test]
    fn export_errors() {
        let text = ".export to xml ('x') <| T";
        let e = parse_err(text);
        assert_eq!(
            e.message,
            "unknown export format 'xml'; expected one of csv, tsv, json, parquet (or 'table <name>')"
        );
        assert_eq!((e.line, e.column), (1, column_of(text, "xml", 0)));

        let e = parse_err(".export to csv () <| T");
        assert!(
            e.message.starts_with("expected a storage URL string"),
            "{e}"
        );
        assert_eq!(e.column, 17);
        let e = parse_err(".export to csv ('x', '  ') <| T");
        assert_eq!(e.message, "storage URL must not be empty");
        assert_eq!(e.column, 22);
        let e = parse_err(".export to csv 'x' <| T");
        assert!(
            e.message
                .starts_with("expected '(' and a list of storage URLs after 'csv'"),
            "{e}"
        );
        let e = parse_err(".export to csv ('x' 'y') <| T");
        assert!(
            e.message
                .starts_with("expected ',' or ')' after storage URL"),
            "{e}"
        );
        let e = parse_err(".export csv ('x') <| T");
        assert!(e.message.starts_with("expected 'to <format> (...)'"), "{e}");
        assert_eq!(e.column, 9);
        let e = parse_err(".export compressed async to csv ('x') <| T");
        assert!(
            e.message
                .starts_with("'async' must come before 'compressed'"),
            "{e}"
        );
        assert_eq!(e.column, 20);
        let e = parse_err(".export to ('x') <| T");
        assert!(e.message.starts_with("expected an export format"), "{e}");
        let e = parse_err(".export to csv ('x')");
        assert!(
            e.message
                .starts_with("expected '<|' followed by a query (or 'with (...)' properties)"),
            "{e}"
        );
        let e = parse_err(".export to csv ('x') with (a=1) T");
        assert!(
            e.message.starts_with("expected '<|' followed by a query,"),
            "{e}"
        );
        let e = parse_err(".export to csv ('x') <|  ");
        assert_eq!(e.message, "expected a query after '<|'");
        let e = parse_err(".export to table <| T");
        assert!(
            e.message
                .starts_with("expected an external table name after 'to table'"),
            "{e}"
        );
        let e = parse_err(".export async async to csv ('x') <| T");
        assert!(e.message.starts_with("expected 'to"), "{e}");
    }
}
