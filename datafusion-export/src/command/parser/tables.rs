//! Parses `.create table`, `.drop table` and `.show table`, and names, column lists and types.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::{bare_word, string_value, truncate, Parser};
use crate::command::ast::{ColumnDef, Command, KustoType};
use crate::command::error::ParseError;
use crate::command::lexer::Tok;

impl Parser<'_> {
    /// A table or column name.
    pub(super) fn parse_name(&mut self, what: &str) -> Result<(String, Tok), ParseError> {
        let expected = format!("expected {what}");
        let Some(t) = self.peek().cloned() else {
            return Err(self.unexpected(&expected));
        };
        match &t.token {
            Token::Word(w) if w.quote_style.is_none() => {
                if let Some(bad) = w
                    .value
                    .chars()
                    .find(|c| !(c.is_alphanumeric() || *c == '_'))
                {
                    return Err(self.error_at(
                        t.start,
                        format!(
                            "invalid character '{bad}' in name '{}'; quote names with special \
                             characters as ['name']",
                            truncate(&w.value)
                        ),
                    ));
                }
                self.advance();
                Ok((w.value.clone(), t))
            }
            Token::Word(w) => {
                if w.value.trim().is_empty() {
                    return Err(self.error_at(t.start, format!("{expected}, found an empty name")));
                }
                self.advance();
                Ok((w.value.clone(), t))
            }
            Token::LBracket => {
                self.advance();
                let inner = self
                    .peek()
                    .and_then(|i| string_value(&i.token))
                    .map(str::to_string);
                let Some(name) = inner else {
                    return Err(
                        self.unexpected("expected a quoted name inside [...], e.g. ['my table']")
                    );
                };
                let name_tok = self.advance();
                self.expect(
                    |t| matches!(t, Token::RBracket),
                    "expected ']' after the quoted name",
                )?;
                if name.trim().is_empty() {
                    let at = name_tok.map(|n| n.start).unwrap_or(t.start);
                    return Err(self.error_at(at, format!("{expected}, found an empty name")));
                }
                Ok((name, t))
            }
            _ => Err(self.unexpected(&expected)),
        }
    }

    /// `.create table` (already consumed) `<name> ( <column>:<type> [, ...] )`.
    pub(super) fn parse_create_table(&mut self) -> Result<Command, ParseError> {
        let (name, _) = self.parse_name("a table name after '.create table'")?;
        let columns = self.parse_column_list(
            "expected '(' and a column list after the table name, e.g. (a:long, s:string)",
        )?;
        self.expect_end("'.create table'")?;
        Ok(Command::CreateTable { name, columns })
    }

    /// `.drop table` (already consumed) `<name> [ifexists]`.
    pub(super) fn parse_drop_table(&mut self) -> Result<Command, ParseError> {
        let (name, _) = self.parse_name("a table name after '.drop table'")?;
        let if_exists = self.parse_if_exists();
        self.expect_end("'.drop table <name> [ifexists]'")?;
        Ok(Command::DropTable { name, if_exists })
    }

    /// `.show table` (already consumed) `<name> [schema | extents]`.
    pub(super) fn parse_show_table(&mut self) -> Result<Command, ParseError> {
        let (name, _) = self.parse_name("a table name after '.show table'")?;
        let command = if self.peek_keyword("policy") {
            self.advance();
            self.expect_keyword("merge", "expected 'merge' after 'policy'")?;
            Command::ShowMergePolicy { table: Some(name) }
        } else if self.peek_keyword("extents") {
            self.advance();
            Command::ShowTableExtents { name }
        } else if self.peek_keyword("schema") {
            self.advance();
            Command::ShowTableSchema { name }
        } else if self.peek_is(|t| !matches!(t, Token::SemiColon)) {
            return Err(self.unexpected(
                "expected 'schema', 'extents' or the end of the command after the table name",
            ));
        } else {
            Command::ShowTableSchema { name }
        };
        self.expect_end("'.show table <name> [schema|extents|policy merge]'")?;
        Ok(command)
    }

    /// `.merge` (already consumed) `[async] <table> [( <extent id> [, ...] )]`.
    pub(super) fn parse_merge(&mut self) -> Result<Command, ParseError> {
        const FORM: &str = "'.merge [async] <table> [(<extent id>, ...)]'";
        // `async` unless it is the table's name (nothing or a list follows it).
        let is_async = self.peek_keyword("async")
            && self
                .peek_nth(1)
                .is_some_and(|t| !matches!(t.token, Token::LParen | Token::SemiColon));
        if is_async {
            self.advance();
        }
        let (table, _) = self.parse_name("a table name after '.merge'")?;
        let ids = if self.peek_is(|t| matches!(t, Token::LParen)) {
            self.advance();
            let mut ids = vec![self.parse_guid("extent id")?];
            loop {
                if self.peek_is(|t| matches!(t, Token::Comma)) {
                    self.advance();
                    ids.push(self.parse_guid("extent id")?);
                } else if self.peek_is(|t| matches!(t, Token::RParen)) {
                    self.advance();
                    break;
                } else {
                    return Err(self.unexpected("expected ',' or ')' in the list of extent ids"));
                }
            }
            Some(ids)
        } else {
            None
        };
        self.expect_end(FORM)?;
        Ok(Command::MergeExtents {
            is_async,
            table,
            ids,
        })
    }

    /// `( <column>:<type> [, ...] )`: at least one column, names unique.
    pub(super) fn parse_column_list(
        &mut self,
        missing_paren: &str,
    ) -> Result<Vec<ColumnDef>, ParseError> {
        self.expect(|t| matches!(t, Token::LParen), missing_paren)?;
        if self.peek_is(|t| matches!(t, Token::RParen)) {
            return Err(self.unexpected("expected at least one column definition such as a:long"));
        }
        let mut columns: Vec<ColumnDef> = Vec::new();
        loop {
            let (column, column_tok) = self.parse_name("a column name")?;
            self.expect(
                |t| matches!(t, Token::Colon),
                &format!(
                    "expected ':' and a type after column '{}', e.g. {}:long",
                    truncate(&column),
                    truncate(&column)
                ),
            )?;
            let kusto_type = self.parse_kusto_type(&format!("column '{}'", truncate(&column)))?;
            if columns.iter().any(|c| c.name == column) {
                return Err(self.error_at(
                    column_tok.start,
                    format!("duplicate column name '{}'", truncate(&column)),
                ));
            }
            columns.push(ColumnDef {
                name: column.clone(),
                kusto_type,
            });
            match self.peek().map(|t| &t.token) {
                Some(Token::Comma) => {
                    self.advance();
                }
                Some(Token::RParen) => {
                    self.advance();
                    break;
                }
                Some(_) => {
                    return Err(self.unexpected(&format!(
                        "expected ',' or ')' after column '{}'",
                        truncate(&column)
                    )))
                }
                None => return Err(self.unexpected("expected ')' after column list")),
            }
        }
        Ok(columns)
    }

    /// A Kusto type name; `owner` (e.g. `column 'a'`) is used in errors.
    pub(super) fn parse_kusto_type(&mut self, owner: &str) -> Result<KustoType, ParseError> {
        let Some(type_tok) = self
            .peek()
            .filter(|t| bare_word(&t.token).is_some())
            .cloned()
        else {
            return Err(self.unexpected(&format!(
                "expected a type for {owner}; expected one of {}",
                KustoType::expected_list()
            )));
        };
        let type_name = bare_word(&type_tok.token).unwrap_or_default();
        let Some(kusto_type) = KustoType::from_name(type_name) else {
            return Err(self.error_at(
                type_tok.start,
                format!(
                    "unknown type '{}' for {owner}; expected one of {}",
                    truncate(type_name),
                    KustoType::expected_list()
                ),
            ));
        };
        self.advance();
        Ok(kusto_type)
    }
}

#[cfg(test)]
mod tests {
    use crate::command::ast::{Command, KustoType};
    use crate::command::parser::test_util::{col, parse, parse_err};

    #[test]
    fn names() {
        let cases = [
            (".drop table T", "T"),
            (".drop table my_table2", "my_table2"),
            (".drop table \"Quoted Name\"", "Quoted Name"),
            (".drop table `back tick`", "back tick"),
            (".drop table ['with spaces']", "with spaces"),
            (".drop table [\"dq\"]", "dq"),
            (".drop table [ 'x-y.z' ]", "x-y.z"),
            (".drop table ['it''s']", "it's"),
            (".drop table Données", "Données"),
            (".drop table select", "select"),
        ];
        for (text, name) in cases {
            assert_eq!(
                parse(text),
                Command::DropTable {
                    name: name.into(),
                    if_exists: false
                },
                "{text}"
            );
        }
        let e = parse_err(".drop table a$b");
        assert!(e.message.contains("invalid character '$'"), "{e}");
        assert!(e.message.contains("['name']"), "{e}");
        let e = parse_err(".drop table ['']");
        assert!(e.message.contains("empty name"), "{e}");
        let e = parse_err(".drop table [T]");
        assert!(
            e.message.contains("expected a quoted name inside [...]"),
            "{e}"
        );
        let e = parse_err(".drop table ['T'");
        assert!(e.message.contains("expected ']'"), "{e}");
        let e = parse_err(".drop table 'T'");
        assert!(e.message.contains("found a string literal"), "{e}");
        let e = parse_err(".drop table 1abc");
        assert!(e.message.contains("expected a table name"), "{e}");
        let e = parse_err(".drop table a.b");
        assert!(e.message.contains("unexpected '.'"), "{e}");
    }

    #[test]
    fn drop_table() {
        assert_eq!(
            parse(".drop table T ifexists"),
            Command::DropTable {
                name: "T".into(),
                if_exists: true
            }
        );
        assert_eq!(
            parse(".DROP TABLE T IfExists;"),
            Command::DropTable {
                name: "T".into(),
                if_exists: true
            }
        );
        assert_eq!(
            parse(".drop table T if exists"),
            Command::DropTable {
                name: "T".into(),
                if_exists: true
            }
        );
        let e = parse_err(".drop T");
        assert!(
            e.message.contains(
                "expected 'table', 'external table' or 'continuous-export' after '.drop'"
            ),
            "{e}"
        );
        assert_eq!((e.line, e.column), (1, 7));
        let e = parse_err(".drop table T whatever");
        assert!(e.message.contains("unexpected 'whatever'"), "{e}");
    }

    #[test]
    fn create_table() {
        assert_eq!(
            parse(".create table T (a:long, s:string)"),
            Command::CreateTable {
                name: "T".into(),
                columns: vec![col("a", KustoType::Long), col("s", KustoType::String)],
            }
        );
        let text = ".CREATE TABLE Events (\n  Timestamp: datetime,\n  ['user id']:GUID,\n  \
                    \"Flag\" : boolean, n:int32, big:int64, r:double, d:decimal,\n  \
                    ts:timespan, t2:time, dyn:dynamic, u:uuid, b:bool, i:int, x:real\n);";
        assert_eq!(
            parse(text),
            Command::CreateTable {
                name: "Events".into(),
                columns: vec![
                    col("Timestamp", KustoType::Datetime),
                    col("user id", KustoType::Guid),
                    col("Flag", KustoType::Bool),
                    col("n", KustoType::Int),
                    col("big", KustoType::Long),
                    col("r", KustoType::Real),
                    col("d", KustoType::Decimal),
                    col("ts", KustoType::Timespan),
                    col("t2", KustoType::Timespan),
                    col("dyn", KustoType::Dynamic),
                    col("u", KustoType::Guid),
                    col("b", KustoType::Bool),
                    col("i", KustoType::Int),
                    col("x", KustoType::Real),
                ],
            }
        );
    }

    #[test]
    fn create_table_errors() {
        let e = parse_err(".create table T (a:lng)");
        assert_eq!(
            e.message,
            "unknown type 'lng' for column 'a'; expected one of bool, int, long, real, \
             decimal, string, datetime, timespan, guid, dynamic"
        );
        assert_eq!((e.line, e.column), (1, 20));
        assert_eq!(
            e.to_string(),
            format!("{} (at line 1, column 20)", e.message)
        );

        let e = parse_err(".create table T (a:long");
        assert!(
            e.message.starts_with("expected ')' after column list"),
            "{e}"
        );
        assert_eq!(e.column, 24);

        let e = parse_err(".create table T (a:long s:string)");
        assert!(
            e.message
                .starts_with("expected ',' or ')' after column 'a', found 's'"),
            "{e}"
        );
        assert_eq!(e.column, 25);

        let e = parse_err(".create table T (a long)");
        assert!(
            e.message
                .contains("expected ':' and a type after column 'a'"),
            "{e}"
        );

        let e = parse_err(".create table T ()");
        assert!(e.message.contains("at least one column"), "{e}");

        let e = parse_err(".create table T");
        assert!(e.message.contains("expected '(' and a column list"), "{e}");

        let e = parse_err(".create table T (a:long, a:string)");
        assert!(e.message.contains("duplicate column name 'a'"), "{e}");
        assert_eq!(e.column, 26);

        let e = parse_err(".create table T (a:long,)");
        assert!(
            e.message.contains("expected a column name, found ')'"),
            "{e}"
        );

        let e = parse_err(".create table T (a:)");
        assert!(e.message.contains("expected a type for column 'a'"), "{e}");

        let e = parse_err(".create T (a:long)");
        assert!(
            e.message
                .starts_with("expected 'table', 'external table' or 'or alter' after '.create'"),
            "{e}"
        );

        let e = parse_err(".create table T (a:long) with (docstring='x')");
        assert!(
            e.message
                .contains("unexpected 'with' after '.create table'"),
            "{e}"
        );

        let e = parse_err(".create table T (a:long); select 1");
        assert!(e.message.contains("only one statement"), "{e}");
    }

    #[test]
    fn show_table_forms() {
        assert_eq!(
            parse(".show table T"),
            Command::ShowTableSchema { name: "T".into() }
        );
        assert_eq!(
            parse(".show TABLE MyTable Schema;"),
            Command::ShowTableSchema {
                name: "MyTable".into()
            }
        );
        assert_eq!(
            parse(".show table T extents"),
            Command::ShowTableExtents { name: "T".into() }
        );
        assert_eq!(
            parse(".show table ['my table'] EXTENTS"),
            Command::ShowTableExtents {
                name: "my table".into()
            }
        );
        let e = parse_err(".show table T details");
        assert!(e.message.contains("'schema', 'extents'"), "{e}");
        assert_eq!((e.line, e.column), (1, 15));
        let e = parse_err(".show");
        assert!(
            e.message
                .starts_with("expected 'tables', 'table <name>', 'external tables'"),
            "{e}"
        );
        assert!(e.message.contains("found end of input"), "{e}");
        let e = parse_err(".show databases");
        assert_eq!(e.column, 7);
    }
}
