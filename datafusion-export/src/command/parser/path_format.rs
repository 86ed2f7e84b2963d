//! Parses external tables' `pathformat = (...)` and checks it against the declared partitions.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::{bare_word, is_keyword, truncate, Parser};
use crate::command::ast::{KustoType, PartitionDef, PathFormatPart};
use crate::command::error::ParseError;

impl Parser<'_> {
    /// `pathformat = ( <part> ... )`, checked against `partitions`.
    pub(super) fn parse_path_format(
        &mut self,
        partitions: &[PartitionDef],
    ) -> Result<Vec<PathFormatPart>, ParseError> {
        let Some(keyword) = self.advance() else {
            return Err(self.unexpected("expected 'pathformat'"));
        };
        if partitions.is_empty() {
            return Err(self.error_at(
                keyword.start,
                "'pathformat' requires a 'partition by' clause before it",
            ));
        }
        self.expect(
            |t| matches!(t, Token::Eq),
            "expected '=' after 'pathformat', e.g. pathformat = (\"region=\" Region)",
        )?;
        self.expect(
            |t| matches!(t, Token::LParen),
            "expected '(' after 'pathformat =', e.g. pathformat = (\"region=\" Region)",
        )?;
        let declared = |name: &str| partitions.iter().find(|p| p.name == name);
        let declared_list = || {
            partitions
                .iter()
                .map(|p| truncate(&p.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        let mut used: Vec<&str> = Vec::new();
        let mut after_partition = false;
        loop {
            let Some(t) = self.peek().cloned() else {
                return Err(self.unexpected("expected ')' to close pathformat"));
            };
            if matches!(t.token, Token::RParen) {
                self.advance();
                break;
            }
            if let Some(literal) = self.try_string_literal()? {
                if literal.is_obfuscated() {
                    return Err(self.error_at(
                        t.start,
                        "obfuscated strings (h'...') are not allowed in pathformat",
                    ));
                }
                if !literal.expose().is_empty() {
                    parts.push(PathFormatPart::Literal(literal.expose().to_string()));
                    after_partition = false;
                }
                continue;
            }
            let is_pattern = is_keyword(&t.token, "datetime_pattern")
                && self
                    .peek_nth(1)
                    .is_some_and(|next| matches!(next.token, Token::LParen));
            let clause_keyword = bare_word(&t.token).is_some_and(|w| {
                declared(w).is_none()
                    && ["kind", "partition", "pathformat", "dataformat", "with"]
                        .iter()
                        .any(|k| w.eq_ignore_ascii_case(k))
            });
            if clause_keyword {
                return Err(self.unexpected("expected ')' to close pathformat"));
            }
            if !is_pattern && !matches!(t.token, Token::Word(_) | Token::LBracket) {
                return Err(self.unexpected(
                    "expected a string, a partition name, datetime_pattern(...) or ')' in \
                     pathformat",
                ));
            }
            if after_partition {
                return Err(self.error_at(
                    t.start,
                    "partition references in pathformat must be separated by a string such as \"/\"",
                ));
            }
            let pattern = if is_pattern {
                self.pos += 2;
                let pattern_start = self.peek().map(|p| p.start);
                let pattern =
                    match self.try_string_literal()? {
                        Some(p) if p.is_obfuscated() => {
                            return Err(self.error_at(
                                pattern_start.unwrap_or(t.start),
                                "obfuscated strings (h'...') are not allowed in pathformat",
                            ))
                        }
                        Some(p) if p.expose().is_empty() => {
                            return Err(self.error_at(
                                pattern_start.unwrap_or(t.start),
                                "the datetime_pattern format must not be empty",
                            ))
                        }
                        Some(p) => p.expose().to_string(),
                        None => return Err(self.unexpected(
                            "expected a format string such as \"yyyy/MM/dd\" in datetime_pattern",
                        )),
                    };
                self.expect(
                    |t| matches!(t, Token::Comma),
                    "expected ',' and a partition name after the datetime_pattern format",
                )?;
                Some(pattern)
            } else {
                None
            };
            let (name, name_tok) = self.parse_name("a partition name")?;
            let Some(partition) = declared(&name) else {
                return Err(self.error_at(
                    name_tok.start,
                    format!(
                        "pathformat refers to '{}', which is not a declared partition \
                         (declared: {})",
                        truncate(&name),
                        declared_list()
                    ),
                ));
            };
            let part = match pattern {
                Some(pattern) => {
                    if partition.kusto_type != KustoType::Datetime {
                        return Err(self.error_at(
                            name_tok.start,
                            format!(
                                "datetime_pattern can only format a datetime partition; '{}' is \
                                 declared as {}",
                                truncate(&name),
                                partition.kusto_type
                            ),
                        ));
                    }
                    self.expect(
                        |t| matches!(t, Token::RParen),
                        "expected ')' after the partition name of datetime_pattern",
                    )?;
                    PathFormatPart::DatetimePattern {
                        pattern,
                        partition: name,
                    }
                }
                None => PathFormatPart::Partition(name),
            };
            used.push(partition.name.as_str());
            parts.push(part);
            after_partition = true;
        }
        if let Some(missing) = partitions.iter().find(|p| !used.contains(&p.name.as_str())) {
            return Err(self.error_at(
                keyword.start,
                format!(
                    "partition '{}' does not appear in pathformat; every partition must be used \
                     in pathformat",
                    truncate(&missing.name)
                ),
            ));
        }
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    use crate::command::ast::PathFormatPart;
    use crate::command::parser::test_util::{column_of, external, parse_err};

    #[test]
    fn path_format_errors() {
        let check = |path_format: &str, message: &str, needle: &str, nth: usize| {
            let text = format!(
                ".create external table T (a:long, ts:datetime) kind=storage \
                 partition by (R:string = a, D:datetime = startofday(ts)) \
                 pathformat = {path_format} dataformat=csv ('x')"
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
            "(\"r=\" R \"/\" X)",
            "pathformat refers to 'X', which is not a declared partition (declared: R, D)",
            "X",
            0,
        );
        check(
            "(\"r=\" R)",
            "partition 'D' does not appear in pathformat; every partition must be used in pathformat",
            "pathformat",
            0,
        );
        check(
            "()",
            "partition 'R' does not appear in pathformat",
            "pathformat",
            0,
        );
        check(
            "(R D)",
            "partition references in pathformat must be separated by a string such as \"/\"",
            "D)",
            0,
        );
        check(
            "(R \"\" datetime_pattern(\"yyyy\", D))",
            "partition references in pathformat must be separated",
            "datetime_pattern",
            0,
        );
        check(
            "(datetime_pattern(\"yyyy\", R) \"/\" D)",
            "datetime_pattern can only format a datetime partition; 'R' is declared as string",
            "R)",
            0,
        );
        check(
            "(\"/\" datetime_pattern(\"yyyy\", Z) \"/\" R)",
            "pathformat refers to 'Z', which is not a declared partition",
            "Z",
            0,
        );
        check(
            "(R \"/\" datetime_pattern(\"\", D))",
            "the datetime_pattern format must not be empty",
            "\"\"",
            0,
        );
        check(
            "(R \"/\" datetime_pattern(D))",
            "expected a format string such as \"yyyy/MM/dd\" in datetime_pattern",
            "D))",
            0,
        );
        check(
            "(R \"/\" datetime_pattern(\"yyyy\" D))",
            "expected ',' and a partition name after the datetime_pattern format",
            "D))",
            0,
        );
        check(
            "(R \"/\" datetime_pattern(\"yyyy\", D, 1))",
            "expected ')' after the partition name of datetime_pattern",
            ", 1",
            0,
        );
        check(
            "(R, \"/\", D)",
            "expected a string, a partition name, datetime_pattern(...) or ')' in pathformat",
            ",",
            2,
        );
        check(
            "(h'/' R \"/\" D)",
            "obfuscated strings (h'...') are not allowed in pathformat",
            "h'",
            0,
        );
        check("\"r=\" R", "expected '(' after 'pathformat ='", "\"r=\"", 0);
        check(
            "(\"r=\" R \"/\" D",
            "expected ')' to close pathformat",
            "dataformat",
            0,
        );
        // Literals may be adjacent, partitions may repeat, leading/trailing
        // separators are allowed.
        let d = external(
            ".create external table T (a:long, ts:datetime) kind=storage \
             partition by (R:string = a, D:datetime = startofday(ts)) \
             pathformat = (\"/\" \"r=\" R \"/y=\" datetime_pattern('yyyy', D) \"/m=\" \
             datetime_pattern(@'MM', D) \"/\" D '/') dataformat=csv ('x')",
        );
        assert_eq!(
            d.path_format,
            vec![
                PathFormatPart::Literal("/".into()),
                PathFormatPart::Literal("r=".into()),
                PathFormatPart::Partition("R".into()),
                PathFormatPart::Literal("/y=".into()),
                PathFormatPart::DatetimePattern {
                    pattern: "yyyy".into(),
                    partition: "D".into()
                },
                PathFormatPart::Literal("/m=".into()),
                PathFormatPart::DatetimePattern {
                    pattern: "MM".into(),
                    partition: "D".into()
                },
                PathFormatPart::Literal("/".into()),
                PathFormatPart::Partition("D".into()),
                PathFormatPart::Literal("/".into()),
            ]
        );
    }
}
