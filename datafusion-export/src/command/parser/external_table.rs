//! Parses `.create`/`.create-or-alter`/`.alter`/`.drop external table` and `.show external`.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::{bare_word, is_keyword, truncate, Parser};
use crate::command::ast::{
    Command, CreateMode, DataFormat, ExternalTableDef, ExternalTableKind, KustoType, PartitionExpr,
};
use crate::command::error::ParseError;

impl Parser<'_> {
    /// An error for a missing clause of `.create external table`, with a
    /// hint on clause order when a known clause was found instead.
    fn clause_error(&self, expected: &str) -> ParseError {
        let misplaced = ["kind", "partition", "pathformat", "dataformat", "with"]
            .iter()
            .any(|k| self.peek_keyword(k));
        let mut error = self.unexpected(expected);
        if misplaced {
            error.message.push_str(
                "; the clauses of an external table definition must come in this order: \
                 (columns) kind, partition by, pathformat, dataformat, (urls), with",
            );
        }
        error
    }

    /// `<create-ext> external` (already consumed) `table <name> ...`.
    pub(super) fn parse_external_table(
        &mut self,
        mode: CreateMode,
        command: &str,
    ) -> Result<Command, ParseError> {
        self.expect_keyword(
            "table",
            &format!("expected 'table' after '{command} external'"),
        )?;
        let (name, _) = self.parse_name(&format!(
            "an external table name after '{command} external table'"
        ))?;
        let columns = if self.peek_is(|t| matches!(t, Token::LParen)) {
            self.parse_column_list("expected '(' and a column list")?
        } else {
            Vec::new()
        };
        let Some(kind_tok) = self
            .peek()
            .filter(|t| is_keyword(&t.token, "kind"))
            .cloned()
        else {
            let expected = if columns.is_empty() {
                "expected a column list such as (a:long, s:string) or 'kind = storage|delta' \
                 after the external table name"
            } else {
                "expected 'kind = storage' or 'kind = delta' after the column list"
            };
            return Err(self.clause_error(expected));
        };
        self.advance();
        self.expect(
            |t| matches!(t, Token::Eq),
            "expected '=' after 'kind', e.g. kind = storage",
        )?;
        let Some(value_tok) = self
            .peek()
            .filter(|t| bare_word(&t.token).is_some())
            .cloned()
        else {
            return Err(self.unexpected("expected 'storage' or 'delta' after 'kind ='"));
        };
        let value = bare_word(&value_tok.token).unwrap_or_default();
        let kind = match value.to_ascii_lowercase().as_str() {
            "storage" | "blob" | "adl" => ExternalTableKind::Storage,
            "delta" => ExternalTableKind::Delta,
            _ => {
                return Err(self.error_at(
                    value_tok.start,
                    format!(
                        "unknown external table kind '{}'; expected storage or delta",
                        truncate(value)
                    ),
                ))
            }
        };
        self.advance();
        if kind == ExternalTableKind::Storage && columns.is_empty() {
            return Err(self.error_at(
                kind_tok.start,
                "a column list such as (a:long, s:string) is required before 'kind = storage' \
                 (only kind=delta external tables can infer their schema)",
            ));
        }
        let delta_rejects = |clause: &str, why: &str| {
            format!("'{clause}' is not allowed for kind=delta external tables ({why})")
        };

        let mut partitions = Vec::new();
        if let Some(t) = self
            .peek()
            .filter(|t| is_keyword(&t.token, "partition"))
            .cloned()
        {
            partitions = self.parse_partitions()?;
            if kind == ExternalTableKind::Delta {
                // A Delta table is partitioned by some of its columns; their values
                // live in the log, not in the data files.
                for p in &partitions {
                    if !matches!(&p.expr, PartitionExpr::Column(c) if *c == p.name) {
                        return Err(self.error_at(
                            t.start,
                            format!(
                                "a kind=delta external table is partitioned by its own columns: \
                                 write partition by ({}:{}), not an expression",
                                truncate(&p.name),
                                p.kusto_type
                            ),
                        ));
                    }
                    if !matches!(
                        p.kusto_type,
                        KustoType::String
                            | KustoType::Int
                            | KustoType::Long
                            | KustoType::Real
                            | KustoType::Bool
                            | KustoType::Decimal
                    ) {
                        return Err(self.error_at(
                            t.start,
                            format!(
                                "Delta partition column '{}' is {}; partition a Delta table by \
                                 string, int, long, real, bool or decimal columns",
                                truncate(&p.name),
                                p.kusto_type
                            ),
                        ));
                    }
                }
            }
        }

        let mut path_format = Vec::new();
        if let Some(t) = self
            .peek()
            .filter(|t| is_keyword(&t.token, "pathformat"))
            .cloned()
        {
            if kind == ExternalTableKind::Delta {
                return Err(self.error_at(
                    t.start,
                    delta_rejects("pathformat", "the layout comes from the Delta log"),
                ));
            }
            path_format = self.parse_path_format(&partitions)?;
        }

        let mut data_format = None;
        if let Some(t) = self
            .peek()
            .filter(|t| is_keyword(&t.token, "dataformat"))
            .cloned()
        {
            if kind == ExternalTableKind::Delta {
                return Err(self.error_at(
                    t.start,
                    delta_rejects("dataformat", "Delta tables are always parquet"),
                ));
            }
            self.advance();
            self.expect(
                |t| matches!(t, Token::Eq),
                "expected '=' after 'dataformat', e.g. dataformat = parquet",
            )?;
            const FORMATS: &str = "csv, tsv, json, parquet";
            let Some(format_tok) = self
                .peek()
                .filter(|t| bare_word(&t.token).is_some())
                .cloned()
            else {
                return Err(self.unexpected(&format!(
                    "expected a data format after 'dataformat ='; expected one of {FORMATS}"
                )));
            };
            let word = bare_word(&format_tok.token).unwrap_or_default();
            let Some(format) = DataFormat::from_name(word) else {
                return Err(self.error_at(
                    format_tok.start,
                    format!(
                        "unknown data format '{}'; expected one of {FORMATS}",
                        truncate(word)
                    ),
                ));
            };
            self.advance();
            data_format = Some(format);
        } else if kind == ExternalTableKind::Storage {
            return Err(self.clause_error(
                "expected 'dataformat = parquet|csv|tsv|json' (required for kind=storage)",
            ));
        }

        let url_start = self.peek().map(|t| t.start);
        let urls = if self.peek_is(|t| matches!(t, Token::LParen)) {
            self.parse_url_list("expected '('")?
        } else {
            let expected = match kind {
                ExternalTableKind::Storage => {
                    "expected '(' and a list of storage URLs, e.g. ('https://...')"
                }
                ExternalTableKind::Delta => {
                    "expected '(' and the Delta table URL, e.g. ('https://...')"
                }
            };
            return Err(self.clause_error(expected));
        };
        if kind == ExternalTableKind::Delta && urls.len() != 1 {
            return Err(self.error_at(
                url_start.unwrap_or(0),
                "a kind=delta external table takes exactly one URL",
            ));
        }
        let properties = self.parse_optional_properties()?;
        self.expect_end(&format!("'{command} external table'"))?;
        Ok(Command::CreateExternalTable(ExternalTableDef {
            name,
            mode,
            columns,
            kind,
            partitions,
            path_format,
            data_format,
            urls,
            properties,
        }))
    }

    /// `.drop external` (already consumed) `table <name> [ifexists]`.
    pub(super) fn parse_drop_external_table(&mut self) -> Result<Command, ParseError> {
        self.expect_keyword("table", "expected 'table' after '.drop external'")?;
        let (name, _) = self.parse_name("an external table name after '.drop external table'")?;
        let if_exists = self.parse_if_exists();
        self.expect_end("'.drop external table <name> [ifexists]'")?;
        Ok(Command::DropExternalTable { name, if_exists })
    }

    /// `.show external` (already consumed) `tables` or `table <name>
    /// [schema | cslschema]`.
    pub(super) fn parse_show_external(&mut self) -> Result<Command, ParseError> {
        if self.peek_keyword("tables") {
            self.advance();
            self.expect_end("'.show external tables'")?;
            return Ok(Command::ShowExternalTables);
        }
        self.expect_keyword(
            "table",
            "expected 'tables' or 'table <name>' after '.show external'",
        )?;
        let (name, _) = self.parse_name("an external table name after '.show external table'")?;
        if self.peek_keyword("schema") || self.peek_keyword("cslschema") {
            self.advance();
        } else if self.peek_is(|t| !matches!(t, Token::SemiColon)) {
            return Err(self.unexpected(
                "expected 'schema', 'cslschema' or the end of the command after the external \
                 table name",
            ));
        }
        self.expect_end("'.show external table <name> [schema|cslschema]'")?;
        Ok(Command::ShowExternalTable { name })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::command::ast::{
        BinStep, Command, CreateMode, DataFormat, ExternalTableDef, ExternalTableKind, KustoType,
        PartitionExpr, PathFormatPart, PropertyValue, StartOfUnit,
    };
    use crate::command::parser::test_util::{
        col, column_of, external, parse, parse_err, part, plain, prop, secret, STORAGE_EXAMPLE,
    };

    #[test]
    fn external_table_storage_full() {
        assert_eq!(
            external(STORAGE_EXAMPLE),
            ExternalTableDef {
                name: "X".into(),
                mode: CreateMode::Create,
                columns: vec![
                    col("a", KustoType::Long),
                    col("s", KustoType::String),
                    col("ts", KustoType::Datetime),
                ],
                kind: ExternalTableKind::Storage,
                partitions: vec![
                    part(
                        "Region",
                        KustoType::String,
                        PartitionExpr::Column("s".into())
                    ),
                    part(
                        "Day",
                        KustoType::Datetime,
                        PartitionExpr::Bin {
                            column: "ts".into(),
                            step: BinStep::Timespan(Duration::from_secs(86_400)),
                        }
                    ),
                    part(
                        "Hour",
                        KustoType::Datetime,
                        PartitionExpr::StartOf {
                            column: "ts".into(),
                            unit: StartOfUnit::Day,
                        }
                    ),
                    part(
                        "Bucket",
                        KustoType::Long,
                        PartitionExpr::Hash {
                            column: "a".into(),
                            modulo: 16,
                        }
                    ),
                    part("P", KustoType::String, PartitionExpr::Column("P".into())),
                ],
                path_format: vec![
                    PathFormatPart::Literal("region=".into()),
                    PathFormatPart::Partition("Region".into()),
                    PathFormatPart::Literal("/".into()),
                    PathFormatPart::DatetimePattern {
                        pattern: "yyyy/MM/dd".into(),
                        partition: "Day".into(),
                    },
                    PathFormatPart::Literal("/".into()),
                    PathFormatPart::Partition("Hour".into()),
                    PathFormatPart::Literal("/b=".into()),
                    PathFormatPart::Partition("Bucket".into()),
                    PathFormatPart::Literal("/".into()),
                    PathFormatPart::Partition("P".into()),
                ],
                data_format: Some(DataFormat::Parquet),
                urls: vec![
                    plain("https://acct.blob.core.windows.net/c/x"),
                    secret("https://acct.blob.core.windows.net/c/y;KEY"),
                ],
                properties: vec![
                    prop("fileExtension", PropertyValue::String(plain(".parquet"))),
                    prop("includeHeaders", PropertyValue::String(plain("none"))),
                ],
            }
        );
    }

    #[test]
    fn external_table_kusto_examples() {
        let d = external(
            ".create external table ExternalTable (Timestamp:datetime, x:long, s:string)
kind=storage
partition by (Date:datetime = bin(Timestamp, 1d))
dataformat=csv
(
   h@'abfss://filesystem@storageaccount.dfs.core.windows.net/path;secretKey'
)",
        );
        assert_eq!(d.partitions.len(), 1);
        assert!(d.path_format.is_empty());
        assert_eq!(d.data_format, Some(DataFormat::Csv));
        assert_eq!(d.urls.len(), 1);
        assert!(d.urls[0].is_obfuscated());

        let d = external(
            ".create external table ExternalTable (Timestamp:datetime, CustomerName:string)
kind=storage
partition by (CustomerNamePart:string = CustomerName, Date:datetime = startofday(Timestamp))
pathformat = (\"customer_name=\" CustomerNamePart \"/\" datetime_pattern(\"yyyy/MM/dd\", Date))
dataformat=csv
(
   h@'https://storageaccount.blob.core.windows.net/container1;secretKey'
)
with (fileExtension = \".txt\")",
        );
        assert_eq!(
            d.path_format,
            vec![
                PathFormatPart::Literal("customer_name=".into()),
                PathFormatPart::Partition("CustomerNamePart".into()),
                PathFormatPart::Literal("/".into()),
                PathFormatPart::DatetimePattern {
                    pattern: "yyyy/MM/dd".into(),
                    partition: "Date".into()
                },
            ]
        );
        assert_eq!(
            d.properties,
            vec![prop("fileExtension", PropertyValue::String(plain(".txt")))]
        );

        // Virtual columns and a datetime_pattern without separators inside.
        let d = external(
            ".create external table ExternalTable (EventName:string, Revenue:double)
kind=storage
partition by (CustomerName:string, Date:datetime)
pathformat=(\"customer=\" CustomerName \"/date=\" datetime_pattern(\"yyyyMMdd\", Date))
dataformat=parquet
(
    h@'https://storageaccount.blob.core.windows.net/container1;secretKey'
)",
        );
        assert_eq!(
            d.partitions,
            vec![
                part(
                    "CustomerName",
                    KustoType::String,
                    PartitionExpr::Column("CustomerName".into())
                ),
                part(
                    "Date",
                    KustoType::Datetime,
                    PartitionExpr::Column("Date".into())
                ),
            ]
        );

        let d = external(
            ".create external table ExternalTable (Timestamp:datetime, CustomerName:string)
kind=storage
partition by (CustomerId:long = hash(CustomerName, 10), Date:datetime = startofday(Timestamp))
pathformat = (\"customer_id=\" CustomerId \"/dt=\" datetime_pattern(\"yyyyMMdd\", Date))
dataformat=parquet
(
   h@'https://storageaccount.blob.core.windows.net/container1;secretKey'
)",
        );
        assert_eq!(
            d.partitions[0].expr,
            PartitionExpr::Hash {
                column: "CustomerName".into(),
                modulo: 10
            }
        );
        let debug = format!("{d:?}");
        assert!(!debug.contains("secretKey"), "{debug}");
    }

    #[test]
    fn external_table_modes() {
        let body = "external table T (a:long) kind=storage dataformat=csv ('x')";
        for (prefix, mode) in [
            (".create", CreateMode::Create),
            (".CREATE", CreateMode::Create),
            (".create-or-alter", CreateMode::CreateOrAlter),
            (".Create-Or-Alter", CreateMode::CreateOrAlter),
            (".create or alter", CreateMode::CreateOrAlter),
            (".create  OR\n ALTER", CreateMode::CreateOrAlter),
            (".alter", CreateMode::Alter),
        ] {
            let d = external(&format!("{prefix} {body}"));
            assert_eq!(d.mode, mode, "{prefix}");
            assert_eq!(d.name, "T");
            assert_eq!(d.columns, vec![col("a", KustoType::Long)]);
            assert_eq!(d.kind, ExternalTableKind::Storage);
            assert!(d.partitions.is_empty() && d.path_format.is_empty());
            assert_eq!(d.data_format, Some(DataFormat::Csv));
            assert_eq!(d.urls, vec![plain("x")]);
            assert!(d.properties.is_empty());
        }
        // kind and dataformat values are case-insensitive; blob/adl are
        // deprecated Kusto aliases of storage.
        for kind in ["STORAGE", "Storage", "blob", "ADL"] {
            let d = external(&format!(
                ".create external table T (a:long) kind = {kind} dataformat = JSON ('x');"
            ));
            assert_eq!(d.kind, ExternalTableKind::Storage, "{kind}");
            assert_eq!(d.data_format, Some(DataFormat::Json));
        }
        // Startof units, numeric bins, int hash and quoted names.
        let d = external(
            ".create external table ['my ext'] (['a b']:long, ts:datetime, r:real) kind=storage \
             partition by (W:datetime = STARTOFWEEK(ts), M:date = startofmonth(['ts']), \
             Y:datetime = startofyear(ts), N:long = bin(['a b'], 1000), R:real = bin(r, 5), \
             H:int = Hash(r, 2147483647), D:datetime = bin(ts, 00:30:00), E:datetime = bin(ts, 1.5h)) \
             dataformat=parquet ('x')",
        );
        assert_eq!(d.name, "my ext");
        let exprs: Vec<PartitionExpr> = d.partitions.into_iter().map(|p| p.expr).collect();
        assert_eq!(
            exprs,
            vec![
                PartitionExpr::StartOf {
                    column: "ts".into(),
                    unit: StartOfUnit::Week
                },
                PartitionExpr::StartOf {
                    column: "ts".into(),
                    unit: StartOfUnit::Month
                },
                PartitionExpr::StartOf {
                    column: "ts".into(),
                    unit: StartOfUnit::Year
                },
                PartitionExpr::Bin {
                    column: "a b".into(),
                    step: BinStep::Number(1000)
                },
                PartitionExpr::Bin {
                    column: "r".into(),
                    step: BinStep::Number(5)
                },
                PartitionExpr::Hash {
                    column: "r".into(),
                    modulo: 2_147_483_647
                },
                PartitionExpr::Bin {
                    column: "ts".into(),
                    step: BinStep::Timespan(Duration::from_secs(1800))
                },
                PartitionExpr::Bin {
                    column: "ts".into(),
                    step: BinStep::Timespan(Duration::from_secs(5400))
                },
            ]
        );
    }

    #[test]
    fn external_table_delta() {
        assert_eq!(
            parse(".create-or-alter external table ExternalTable kind=delta (h@'https://storageaccount.blob.core.windows.net/container1;secretKey')"),
            Command::CreateExternalTable(ExternalTableDef {
                name: "ExternalTable".into(),
                mode: CreateMode::CreateOrAlter,
                columns: vec![],
                kind: ExternalTableKind::Delta,
                partitions: vec![],
                path_format: vec![],
                data_format: None,
                urls: vec![secret(
                    "https://storageaccount.blob.core.windows.net/container1;secretKey"
                )],
                properties: vec![],
            })
        );
        let d = external(
            ".create external table D (a:long, s:string) kind = DELTA ('/data/delta') with (docString='x')",
        );
        assert_eq!(d.kind, ExternalTableKind::Delta);
        assert_eq!(d.columns.len(), 2);
        assert_eq!(d.urls, vec![plain("/data/delta")]);
        assert_eq!(d.properties.len(), 1);
    }

    #[test]
    fn external_table_errors() {
        let check = |text: &str, message: &str, needle: &str, nth: usize| {
            let e = parse_err(text);
            assert!(e.message.starts_with(message), "{text}: {e}");
            assert_eq!(
                (e.line, e.column),
                (1, column_of(text, needle, nth)),
                "{text}: {e}"
            );
        };
        let ok_tail = "kind=storage dataformat=csv ('x')";
        check(
            ".create external table T kind=storage dataformat=csv ('x')",
            "a column list such as (a:long, s:string) is required before 'kind = storage'",
            "kind",
            0,
        );
        check(
            ".create external table T (a:long) dataformat=csv ('x')",
            "expected 'kind = storage' or 'kind = delta' after the column list, found 'dataformat'; \
             the clauses of an external table definition must come in this order",
            "dataformat",
            0,
        );
        check(
            ".create external table T ('x')",
            "expected a column name, found a string literal",
            "'x'",
            0,
        );
        check(
            ".create external table T with (a=1)",
            "expected a column list such as (a:long, s:string) or 'kind = storage|delta' after \
             the external table name, found 'with'; the clauses of an external table definition \
             must come in this order",
            "with",
            0,
        );
        let e = parse_err(".create external table T");
        assert!(e.message.ends_with("found end of input"), "{e}");
        assert_eq!(e.column, 25);
        check(
            ".create external table T (a:long) kind=sql ('x')",
            "unknown external table kind 'sql'; expected storage or delta",
            "sql",
            0,
        );
        check(
            ".create external table T (a:long) kind storage",
            "expected '=' after 'kind'",
            "storage",
            0,
        );
        check(
            ".create external table T (a:long) kind=storage ('x')",
            "expected 'dataformat = parquet|csv|tsv|json' (required for kind=storage)",
            "(",
            1,
        );
        check(
            ".create external table T (a:long) kind=storage dataformat=avro ('x')",
            "unknown data format 'avro'; expected one of csv, tsv, json, parquet",
            "avro",
            0,
        );
        check(
            ".create external table T (a:long) kind=storage dataformat=csv with (a=1)",
            "expected '(' and a list of storage URLs, e.g. ('https://...'), found 'with'; the \
             clauses of an external table definition must come in this order",
            "with",
            0,
        );
        check(
            ".create external table T (a:long) kind=storage dataformat=csv ()",
            "expected a storage URL string",
            ")",
            1,
        );
        check(
            ".create external table T (a:long) kind=storage dataformat=csv ('')",
            "storage URL must not be empty",
            "''",
            0,
        );
        // Clause order.
        check(
            ".create external table T (a:long) kind=storage dataformat=csv partition by (P:string) ('x')",
            "expected '(' and a list of storage URLs, e.g. ('https://...'), found 'partition'; the \
             clauses of an external table definition must come in this order: (columns) kind, \
             partition by, pathformat, dataformat, (urls), with",
            "partition",
            0,
        );
        check(
            ".create external table T (a:long) kind=storage pathformat=(\"a\" P) partition by (P:string) dataformat=csv ('x')",
            "'pathformat' requires a 'partition by' clause before it",
            "pathformat",
            0,
        );
        check(
            ".create external table T (a:long) kind=storage dataformat=csv ('x') with (a=1) extra",
            "unexpected 'extra' after '.create external table'",
            "extra",
            0,
        );
        // Delta restrictions.
        check(
            ".create external table T kind=delta dataformat=parquet ('x')",
            "'dataformat' is not allowed for kind=delta external tables (Delta tables are always parquet)",
            "dataformat",
            0,
        );
        check(
            ".create external table T kind=delta partition by (P:string = s) ('x')",
            "a kind=delta external table is partitioned by its own columns: write partition by (P:string), not an expression",
            "partition",
            0,
        );
        check(
            ".create external table T kind=delta partition by (D:datetime) ('x')",
            "Delta partition column 'D' is datetime; partition a Delta table by string, int, long, real, bool or decimal columns",
            "partition",
            0,
        );
        check(
            ".create external table T kind=delta pathformat=(\"a\") ('x')",
            "'pathformat' is not allowed for kind=delta external tables",
            "pathformat",
            0,
        );
        check(
            ".create external table T kind=delta ('x', 'y')",
            "a kind=delta external table takes exactly one URL",
            "(",
            0,
        );
        check(
            ".create external table T kind=delta with (a=1)",
            "expected '(' and the Delta table URL, e.g. ('https://...'), found 'with'",
            "with",
            0,
        );
        // Other commands.
        check(
            ".alter table T (a:long)",
            "expected 'external table' after '.alter'",
            "table",
            0,
        );
        check(
            ".create or alter table T (a:long)",
            "expected 'external table' or 'continuous-export' after '.create or alter'",
            "table",
            0,
        );
        check(
            ".create-or-alter external T (a:long)",
            "expected 'table' after '.create-or-alter external'",
            "T",
            0,
        );
        check(
            ".create external table T (a:long, a:string) kind=storage dataformat=csv ('x')",
            "duplicate column name 'a'",
            "a:",
            1,
        );
        let _ = ok_tail;
    }

    #[test]
    fn drop_and_show_external_tables() {
        assert_eq!(
            parse(".drop external table T"),
            Command::DropExternalTable {
                name: "T".into(),
                if_exists: false
            }
        );
        assert_eq!(
            parse(".DROP EXTERNAL TABLE ['x y'] IfExists;"),
            Command::DropExternalTable {
                name: "x y".into(),
                if_exists: true
            }
        );
        assert_eq!(
            parse(".drop external table T if exists"),
            Command::DropExternalTable {
                name: "T".into(),
                if_exists: true
            }
        );
        assert_eq!(parse(".show external tables"), Command::ShowExternalTables);
        assert_eq!(parse(".Show External Tables;"), Command::ShowExternalTables);
        for text in [
            ".show external table T",
            ".show external table T schema",
            ".show EXTERNAL table T CslSchema;",
        ] {
            assert_eq!(
                parse(text),
                Command::ShowExternalTable { name: "T".into() },
                "{text}"
            );
        }
        let e = parse_err(".show external table T artifacts");
        assert!(
            e.message.starts_with(
                "expected 'schema', 'cslschema' or the end of the command after the external \
                 table name"
            ),
            "{e}"
        );
        assert_eq!(e.column, 24);
        let e = parse_err(".show external T");
        assert!(
            e.message
                .starts_with("expected 'tables' or 'table <name>' after '.show external'"),
            "{e}"
        );
        let e = parse_err(".drop external T");
        assert!(
            e.message
                .starts_with("expected 'table' after '.drop external'"),
            "{e}"
        );
        let e = parse_err(".drop external table T now");
        assert!(
            e.message
                .contains("unexpected 'now' after '.drop external table <name> [ifexists]'"),
            "{e}"
        );
    }
}
