//! Parses external tables' `partition by (...)`: partition expressions, `bin` steps, `hash` moduli.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::{bare_word, truncate, Parser, MAX_BIN_TIMESPAN};
use crate::command::ast::{
    format_timespan, try_parse_timespan, BinStep, KustoType, PartitionDef, PartitionExpr,
    StartOfUnit, TimespanError,
};
use crate::command::error::ParseError;

impl Parser<'_> {
    /// `partition by ( <partition> [, ...] )`
    pub(super) fn parse_partitions(&mut self) -> Result<Vec<PartitionDef>, ParseError> {
        self.expect_keyword("partition", "expected 'partition by'")?;
        self.expect_keyword("by", "expected 'by' after 'partition'")?;
        self.expect(
            |t| matches!(t, Token::LParen),
            "expected '(' after 'partition by', e.g. partition by (Day:datetime = startofday(Timestamp))",
        )?;
        if self.peek_is(|t| matches!(t, Token::RParen)) {
            return Err(self.unexpected(
                "expected at least one partition such as Day:datetime = startofday(Timestamp)",
            ));
        }
        let mut partitions: Vec<PartitionDef> = Vec::new();
        loop {
            let (name, name_tok) = self.parse_name("a partition name")?;
            self.expect(
                |t| matches!(t, Token::Colon),
                &format!(
                    "expected ':' and a type after partition '{}', e.g. {}:string",
                    truncate(&name),
                    truncate(&name)
                ),
            )?;
            let kusto_type = self.parse_kusto_type(&format!("partition '{}'", truncate(&name)))?;
            if partitions.iter().any(|p| p.name == name) {
                return Err(self.error_at(
                    name_tok.start,
                    format!("duplicate partition name '{}'", truncate(&name)),
                ));
            }
            let expr = if self.peek_is(|t| matches!(t, Token::Eq)) {
                self.advance();
                self.parse_partition_expr(&name, kusto_type)?
            } else {
                PartitionExpr::Column(name.clone())
            };
            partitions.push(PartitionDef {
                name: name.clone(),
                kusto_type,
                expr,
            });
            match self.peek().map(|t| &t.token) {
                Some(Token::Comma) => {
                    self.advance();
                }
                Some(Token::RParen) => {
                    self.advance();
                    break;
                }
                _ => {
                    return Err(self.unexpected(&format!(
                        "expected ',' or ')' after partition '{}'",
                        truncate(&name)
                    )))
                }
            }
        }
        Ok(partitions)
    }

    /// The expression after `Partition:type =`.
    fn parse_partition_expr(
        &mut self,
        partition: &str,
        kusto_type: KustoType,
    ) -> Result<PartitionExpr, ParseError> {
        const EXPECTED: &str = "expected a column name, bin(<column>, <step>), \
            hash(<column>, <modulo>) or startofday|startofweek|startofmonth|startofyear(<column>)";
        let Some(t) = self.peek().cloned() else {
            return Err(self.unexpected(EXPECTED));
        };
        let function = bare_word(&t.token)
            .filter(|_| {
                self.peek_nth(1)
                    .is_some_and(|next| matches!(next.token, Token::LParen))
            })
            .map(str::to_ascii_lowercase);
        let Some(function) = function else {
            if !matches!(t.token, Token::Word(_) | Token::LBracket) {
                return Err(self.unexpected(EXPECTED));
            }
            let (column, _) = self.parse_name("a column name")?;
            return Ok(PartitionExpr::Column(column));
        };
        let mismatch = |expr: &str, produces: &str| {
            format!(
                "partition '{}': {expr} produces {produces}, but the partition is declared as {}",
                truncate(partition),
                kusto_type
            )
        };
        let is_numeric = matches!(
            kusto_type,
            KustoType::Int | KustoType::Long | KustoType::Real | KustoType::Decimal
        );
        if let Some(unit) = StartOfUnit::from_function_name(&function) {
            if kusto_type != KustoType::Datetime {
                return Err(self.error_at(
                    t.start,
                    mismatch(&format!("{}()", unit.function_name()), "a datetime"),
                ));
            }
            self.pos += 2;
            let (column, _) = self.parse_name("a column name")?;
            self.expect(
                |t| matches!(t, Token::RParen),
                &format!(
                    "expected ')' after the column of {}()",
                    unit.function_name()
                ),
            )?;
            return Ok(PartitionExpr::StartOf { column, unit });
        }
        match function.as_str() {
            "bin" => {
                self.pos += 2;
                let (column, _) = self.parse_name("a column name")?;
                self.expect(
                    |t| matches!(t, Token::Comma),
                    "expected ',' and a bin size after the column, e.g. bin(Timestamp, 1d)",
                )?;
                let step_start = self.peek().map(|s| s.start).unwrap_or(t.start);
                let step = self.parse_bin_step()?;
                let ok = match step {
                    BinStep::Timespan(_) => kusto_type == KustoType::Datetime,
                    BinStep::Number(_) => is_numeric,
                };
                if !ok {
                    let produces = match step {
                        BinStep::Timespan(_) => "a datetime",
                        BinStep::Number(_) => "a number (int, long, real or decimal)",
                    };
                    return Err(self.error_at(step_start, mismatch("bin()", produces)));
                }
                self.expect(
                    |t| matches!(t, Token::RParen),
                    "expected ')' after the bin size",
                )?;
                Ok(PartitionExpr::Bin { column, step })
            }
            "hash" => {
                if !matches!(kusto_type, KustoType::Long | KustoType::Int) {
                    return Err(self.error_at(t.start, mismatch("hash()", "a long")));
                }
                self.pos += 2;
                let (column, _) = self.parse_name("a column name")?;
                self.expect(
                    |t| matches!(t, Token::Comma),
                    "expected ',' and a modulo after the column, e.g. hash(UserId, 16)",
                )?;
                let modulo = self.parse_hash_modulo()?;
                self.expect(
                    |t| matches!(t, Token::RParen),
                    "expected ')' after the hash modulo",
                )?;
                Ok(PartitionExpr::Hash { column, modulo })
            }
            _ => Err(self.error_at(
                t.start,
                format!(
                    "unknown partition function '{}'; expected bin, hash, startofday, \
                     startofweek, startofmonth or startofyear",
                    truncate(bare_word(&t.token).unwrap_or_default())
                ),
            )),
        }
    }

    /// The step of `bin(column, step)`: a positive timespan or integer.
    fn parse_bin_step(&mut self) -> Result<BinStep, ParseError> {
        const EXPECTED: &str =
            "expected a bin size: a timespan such as 1d, 1h or 00:30:00, or a positive integer";
        if let Some(minus) = self.peek().filter(|t| matches!(t.token, Token::Minus)) {
            return Err(self.error_at(minus.start, "the bin size must be greater than zero"));
        }
        if !self.peek_is(|t| matches!(t, Token::Number(..))) {
            return Err(self.unexpected(EXPECTED));
        }
        let Some((first, end, run)) = self.take_number_run() else {
            return Err(self.unexpected(EXPECTED));
        };
        let raw = self.text.get(first.start..end).unwrap_or("");
        let invalid = || {
            format!(
                "invalid bin size '{}'; expected a timespan such as 1d, 1h or 00:30:00, or a \
                 positive integer",
                truncate(raw)
            )
        };
        let step = if run > 1 {
            match try_parse_timespan(raw) {
                Ok(d) if d.is_zero() => {
                    return Err(self.error_at(first.start, "the bin size must be greater than zero"))
                }
                Ok(d) if d <= MAX_BIN_TIMESPAN => BinStep::Timespan(d),
                Ok(_) | Err(TimespanError::OutOfRange) => {
                    return Err(self.error_at(
                        first.start,
                        format!(
                            "bin size {} is out of range; a timespan bin is at most {}",
                            truncate(raw),
                            format_timespan(MAX_BIN_TIMESPAN)
                        ),
                    ))
                }
                Err(TimespanError::Invalid) => return Err(self.error_at(first.start, invalid())),
            }
        } else if raw.bytes().all(|b| b.is_ascii_digit()) {
            match raw.parse::<i64>() {
                Ok(n) if n > 0 => BinStep::Number(n),
                Ok(_) => {
                    return Err(self.error_at(first.start, "the bin size must be greater than zero"))
                }
                Err(_) => {
                    return Err(self.error_at(
                        first.start,
                        format!("bin size {} is out of range", truncate(raw)),
                    ))
                }
            }
        } else {
            return Err(self.error_at(first.start, invalid()));
        };
        Ok(step)
    }

    /// The modulo of `hash(column, modulo)`: an integer in 1..=2^31-1.
    fn parse_hash_modulo(&mut self) -> Result<u32, ParseError> {
        const RANGE: &str = "the hash modulo must be an integer between 1 and 2147483647";
        if let Some(minus) = self.peek().filter(|t| matches!(t.token, Token::Minus)) {
            return Err(self.error_at(minus.start, RANGE));
        }
        if !self.peek_is(|t| matches!(t, Token::Number(..))) {
            return Err(self.unexpected("expected a hash modulo such as 16"));
        }
        let Some((first, end, run)) = self.take_number_run() else {
            return Err(self.unexpected("expected a hash modulo such as 16"));
        };
        let raw = self.text.get(first.start..end).unwrap_or("");
        let modulo = (run == 1 && raw.bytes().all(|b| b.is_ascii_digit()))
            .then(|| raw.parse::<u32>().ok())
            .flatten()
            .filter(|m| (1..=i32::MAX as u32).contains(m));
        match modulo {
            Some(m) => Ok(m),
            None => Err(self.error_at(
                first.start,
                format!("invalid hash modulo '{}': {RANGE}", truncate(raw)),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::command::parser::test_util::{column_of, parse_err};

    #[test]
    fn partition_errors() {
        let check = |partitions: &str, message: &str, needle: &str, nth: usize| {
            let text = format!(
                ".create external table T (a:long, s:string, ts:datetime) kind=storage \
                 partition by ({partitions}) dataformat=csv ('x')"
            );
            let e = parse_err(&text);
            assert!(e.message.starts_with(message), "{text}: {e}");
            assert_eq!(
                (e.line, e.column),
                (1, column_of(&text, needle, nth)),
                "{text}: {e}"
            );
        };
        check(
            "P:string, Q:long = a, P:datetime",
            "duplicate partition name 'P'",
            "P:",
            1,
        );
        check(
            "P string",
            "expected ':' and a type after partition 'P'",
            "string",
            1,
        );
        check(
            "P:text",
            "unknown type 'text' for partition 'P'; expected one of bool, int",
            "text",
            0,
        );
        check("P:", "expected a type for partition 'P'", ")", 1);
        check(
            "P:long = hash(a, 0)",
            "invalid hash modulo '0': the hash modulo must be an integer between 1 and 2147483647",
            "0",
            0,
        );
        check(
            "P:long = hash(a, 2147483648)",
            "invalid hash modulo '2147483648'",
            "2147483648",
            0,
        );
        check(
            "P:long = hash(a, -3)",
            "the hash modulo must be an integer between 1 and 2147483647",
            "-",
            0,
        );
        check(
            "P:long = hash(a, 1.5)",
            "invalid hash modulo '1.5'",
            "1.5",
            0,
        );
        check(
            "P:long = hash(a, 16x)",
            "invalid hash modulo '16x'",
            "16x",
            0,
        );
        check(
            "P:long = hash(a)",
            "expected ',' and a modulo after the column",
            ")",
            1,
        );
        check(
            "P:long = hash(a, b)",
            "expected a hash modulo such as 16",
            "b)",
            0,
        );
        check(
            "P:string = hash(a, 16)",
            "partition 'P': hash() produces a long, but the partition is declared as string",
            "hash",
            0,
        );
        check(
            "P:datetime = bin(ts, 0d)",
            "the bin size must be greater than zero",
            "0d",
            0,
        );
        check(
            "P:long = bin(a, 0)",
            "the bin size must be greater than zero",
            "0)",
            0,
        );
        check(
            "P:long = bin(a, -5)",
            "the bin size must be greater than zero",
            "-5",
            0,
        );
        check("P:datetime = bin(ts, 1x)", "invalid bin size '1x'", "1x", 0);
        check("P:long = bin(a, 1.5)", "invalid bin size '1.5'", "1.5", 0);
        check(
            "P:long = bin(a, 99999999999999999999)",
            "bin size 99999999999999999999 is out of range",
            "9999",
            0,
        );
        check("P:long = bin(a, x)", "expected a bin size", "x)", 0);
        check(
            "P:string = bin(ts, 1d)",
            "partition 'P': bin() produces a datetime, but the partition is declared as string",
            "1d",
            0,
        );
        check(
            "P:datetime = bin(a, 10)",
            "partition 'P': bin() produces a number (int, long, real or decimal), but the \
             partition is declared as datetime",
            "10",
            0,
        );
        check(
            "P:string = startofday(ts)",
            "partition 'P': startofday() produces a datetime, but the partition is declared as string",
            "startofday",
            0,
        );
        check(
            "P:datetime = startofhour(ts)",
            "unknown partition function 'startofhour'; expected bin, hash, startofday",
            "startofhour",
            0,
        );
        check(
            "P:datetime = startofday(ts, 1)",
            "expected ')' after the column of startofday()",
            ",",
            2,
        );
        check("P:string = 'x'", "expected a column name, bin(", "'x'", 0);
        check("P:string = ", "expected a column name, bin(", ")", 1);
        check(
            "P:string P2:string",
            "expected ',' or ')' after partition 'P'",
            "P2",
            0,
        );
        let e = parse_err(
            ".create external table T (a:long) kind=storage partition by () dataformat=csv ('x')",
        );
        assert!(
            e.message.starts_with("expected at least one partition"),
            "{e}"
        );
        let e = parse_err(
            ".create external table T (a:long) kind=storage partition (P:string) dataformat=csv ('x')",
        );
        assert!(
            e.message.starts_with("expected 'by' after 'partition'"),
            "{e}"
        );
    }
}
