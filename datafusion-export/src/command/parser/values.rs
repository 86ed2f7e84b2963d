//! Parses values: string literals, `with (...)` properties, numbers and timespans.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::{bare_word, string_value, truncate, Parser};
use crate::command::ast::{
    try_parse_timespan, Property, PropertyValue, SecretString, TimespanError,
};
use crate::command::error::ParseError;
use crate::command::lexer::Tok;

impl Parser<'_> {
    /// Parses a Kusto string literal at the current position, if there is
    /// one: `'x'`, `"x"`, `@'x'`, `@"x"`, and the obfuscated `h'x'`,
    /// `h"x"`, `h@'x'`, `h@"x"` (prefix case-insensitive, no space between
    /// prefix and quote).
    pub(super) fn try_string_literal(&mut self) -> Result<Option<SecretString>, ParseError> {
        let Some(t) = self.peek() else {
            return Ok(None);
        };
        if let Some(value) = string_value(&t.token) {
            let s = SecretString::new(value, false);
            self.advance();
            return Ok(Some(s));
        }
        let adjacent_string = self
            .peek_nth(1)
            .filter(|next| next.start == t.end)
            .and_then(|next| string_value(&next.token))
            .map(str::to_string);
        let prefix = bare_word(&t.token).map(str::to_ascii_lowercase);
        let obfuscated = matches!(prefix.as_deref(), Some("h") | Some("h@"));
        let at_sign = matches!(t.token, Token::AtSign);
        if !(obfuscated || at_sign) {
            return Ok(None);
        }
        match adjacent_string {
            Some(value) => {
                self.pos += 2;
                Ok(Some(SecretString::new(value, obfuscated)))
            }
            None if at_sign => {
                let at = t.end;
                Err(self.error_at(
                    at,
                    "expected a string literal right after '@', e.g. @'C:\\data'",
                ))
            }
            // A plain word `h`.
            None => Ok(None),
        }
    }

    /// `with ( <props> )` if present, otherwise no properties.
    pub(super) fn parse_optional_properties(&mut self) -> Result<Vec<Property>, ParseError> {
        if self.peek_keyword("with") {
            self.parse_properties()
        } else {
            Ok(Vec::new())
        }
    }

    /// `with ( name = value [, ...] )`
    fn parse_properties(&mut self) -> Result<Vec<Property>, ParseError> {
        self.expect_keyword("with", "expected 'with'")?;
        self.expect(
            |t| matches!(t, Token::LParen),
            "expected '(' after 'with', e.g. with (format='csv')",
        )?;
        let mut properties: Vec<Property> = Vec::new();
        loop {
            let Some(name_tok) = self
                .peek()
                .filter(|t| matches!(t.token, Token::Word(_)))
                .cloned()
            else {
                return Err(self.unexpected("expected a property name"));
            };
            let name = match &name_tok.token {
                Token::Word(w) => w.value.clone(),
                _ => String::new(),
            };
            self.advance();
            self.expect(
                |t| matches!(t, Token::Eq),
                &format!("expected '=' after property '{}'", truncate(&name)),
            )?;
            let value = self.parse_property_value(&name)?;
            if properties
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case(&name))
            {
                return Err(self.error_at(
                    name_tok.start,
                    format!("duplicate property '{}'", truncate(&name)),
                ));
            }
            properties.push(Property {
                name: name.clone(),
                value,
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
                        "expected ',' or ')' after property '{}'",
                        truncate(&name)
                    )))
                }
            }
        }
        Ok(properties)
    }

    fn parse_property_value(&mut self, name: &str) -> Result<PropertyValue, ParseError> {
        if let Some(s) = self.try_string_literal()? {
            return Ok(PropertyValue::String(s));
        }
        let expected = format!(
            "expected a value for property '{}' (a string, number, timespan such as 10m, \
             true/false or an identifier)",
            truncate(name)
        );
        let Some(t) = self.peek().cloned() else {
            return Err(self.unexpected(&expected));
        };
        match &t.token {
            Token::Word(w) if w.quote_style.is_none() => {
                self.advance();
                if w.value.eq_ignore_ascii_case("true") {
                    Ok(PropertyValue::Bool(true))
                } else if w.value.eq_ignore_ascii_case("false") {
                    Ok(PropertyValue::Bool(false))
                } else if w.value.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    Ok(PropertyValue::Identifier(w.value.clone()))
                } else {
                    Err(self.error_at(
                        t.start,
                        format!(
                            "invalid value '{}' for property '{}'; quote it as a string, e.g. '{}'",
                            truncate(&w.value),
                            truncate(name),
                            truncate(&w.value)
                        ),
                    ))
                }
            }
            Token::Number(..) => self.parse_number_or_timespan(name, false, t.start),
            Token::Minus => {
                self.advance();
                if !self.peek_is(|t| matches!(t, Token::Number(..))) {
                    return Err(self.unexpected(&format!(
                        "expected a number after '-' for property '{}'",
                        truncate(name)
                    )));
                }
                self.parse_number_or_timespan(name, true, t.start)
            }
            _ => Err(self.unexpected(&expected)),
        }
    }

    /// A number, or a run of adjacent tokens starting with a number that
    /// forms a timespan (`10m`, `1.5h`, `00:10:00`, `1.02:00:00`).
    fn parse_number_or_timespan(
        &mut self,
        name: &str,
        negative: bool,
        sign_start: usize,
    ) -> Result<PropertyValue, ParseError> {
        let Some((first, end, run)) = self.take_number_run() else {
            return Err(self.unexpected("expected a number"));
        };
        let raw = self.text.get(first.start..end).unwrap_or("");
        if run > 1 {
            if negative {
                return Err(self.error_at(
                    sign_start,
                    format!(
                        "negative timespans are not supported (property '{}')",
                        truncate(name)
                    ),
                ));
            }
            return match try_parse_timespan(raw) {
                Ok(d) => Ok(PropertyValue::Timespan(d)),
                Err(TimespanError::OutOfRange) => Err(self.error_at(
                    first.start,
                    format!(
                        "property '{}': {}",
                        truncate(name),
                        TimespanError::OutOfRange.describe(raw)
                    ),
                )),
                Err(TimespanError::Invalid) => Err(self.error_at(
                    first.start,
                    format!(
                        "invalid value '{}' for property '{}'; expected a number or a timespan \
                         such as 10m, 1.5h, 100ms or 00:10:00",
                        truncate(raw),
                        truncate(name)
                    ),
                )),
            };
        }
        let digits = match &first.token {
            Token::Number(n, _) => n.as_str(),
            _ => raw,
        };
        let signed = if negative {
            format!("-{digits}")
        } else {
            digits.to_string()
        };
        if digits.bytes().all(|b| b.is_ascii_digit()) {
            return signed
                .parse::<i64>()
                .map(PropertyValue::Integer)
                .map_err(|_| {
                    self.error_at(
                        sign_start,
                        format!(
                            "integer {} for property '{}' is out of range",
                            truncate(&signed),
                            truncate(name)
                        ),
                    )
                });
        }
        match signed.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(PropertyValue::Float(f)),
            _ => Err(self.error_at(
                sign_start,
                format!(
                    "invalid number '{}' for property '{}'",
                    truncate(&signed),
                    truncate(name)
                ),
            )),
        }
    }

    /// A number token followed by the tokens that touch it (no whitespace)
    /// and may continue a number or timespan: `10m`, `1.5h`, `00:10:00`.
    /// Returns the first token, the end offset and the token count.
    pub(super) fn take_number_run(&mut self) -> Option<(Tok, usize, usize)> {
        let first = self.advance()?;
        let mut end = first.end;
        let mut run = 1usize;
        while let Some(next) = self.peek() {
            let continues = next.start == end
                && (matches!(
                    &next.token,
                    Token::Number(..) | Token::Colon | Token::Period
                ) || bare_word(&next.token).is_some());
            if !continues {
                break;
            }
            end = next.end;
            run += 1;
            self.pos += 1;
        }
        Some((first, end, run))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::command::ast::{Command, PropertyValue, SecretString};
    use crate::command::parser::test_util::{parse, parse_err, plain, prop};

    #[test]
    fn properties() {
        let text = ".append T with (a=1, b='x', c=true, d=10m, e=csv, F=-3, g=1.5, h=\"dq\", \
                    i=FALSE, j=00:10:00, k=1.02:00:00, l=100ms, m=1.5h, n=@'C:\\dir\\', \
                    o=-2.5, p=1e3, q=2d, r=10L) <| select 1";
        let Command::Append { properties, .. } = parse(text) else {
            panic!()
        };
        let expected = vec![
            prop("a", PropertyValue::Integer(1)),
            prop("b", PropertyValue::String(plain("x"))),
            prop("c", PropertyValue::Bool(true)),
            prop("d", PropertyValue::Timespan(Duration::from_secs(600))),
            prop("e", PropertyValue::Identifier("csv".into())),
            prop("F", PropertyValue::Integer(-3)),
            prop("g", PropertyValue::Float(1.5)),
            prop("h", PropertyValue::String(plain("dq"))),
            prop("i", PropertyValue::Bool(false)),
            prop("j", PropertyValue::Timespan(Duration::from_secs(600))),
            prop("k", PropertyValue::Timespan(Duration::from_secs(93_600))),
            prop("l", PropertyValue::Timespan(Duration::from_millis(100))),
            prop("m", PropertyValue::Timespan(Duration::from_secs(5_400))),
            prop("n", PropertyValue::String(plain("C:\\dir\\"))),
            prop("o", PropertyValue::Float(-2.5)),
            prop("p", PropertyValue::Float(1000.0)),
            prop("q", PropertyValue::Timespan(Duration::from_secs(172_800))),
            prop("r", PropertyValue::Integer(10)),
        ];
        assert_eq!(properties, expected);
        assert_eq!(
            properties[3].value.as_duration(),
            Some(Duration::from_secs(600))
        );

        // forcedLatency quoted or not
        for text in [
            ".append T with (forcedLatency=10m) <| select 1",
            ".append T with (forcedLatency='00:10:00') <| select 1",
            ".append T with (FORCEDLATENCY=\"10m\") <| select 1",
        ] {
            let Command::Append { properties, .. } = parse(text) else {
                panic!()
            };
            let v = crate::command::find_property(&properties, "forcedlatency").unwrap();
            assert_eq!(v.as_duration(), Some(Duration::from_secs(600)), "{text}");
        }
    }

    #[test]
    fn property_errors() {
        let e = parse_err(".append T with (a=1, A=2) <| select 1");
        assert_eq!(e.message, "duplicate property 'A'");
        assert_eq!(e.column, 22);
        let e = parse_err(".append T with (a 1) <| select 1");
        assert!(
            e.message.starts_with("expected '=' after property 'a'"),
            "{e}"
        );
        let e = parse_err(".append T with (a=10x) <| select 1");
        assert!(
            e.message
                .starts_with("invalid value '10x' for property 'a'"),
            "{e}"
        );
        assert_eq!(e.column, 19);
        let e = parse_err(".append T with (a=-10m) <| select 1");
        assert!(e.message.contains("negative timespans"), "{e}");
        let e = parse_err(".append T with (a=99999999999999999999) <| select 1");
        assert!(e.message.contains("out of range"), "{e}");
        let e = parse_err(".append T with (a=) <| select 1");
        assert!(
            e.message.starts_with("expected a value for property 'a'"),
            "{e}"
        );
        let e = parse_err(".append T with () <| select 1");
        assert!(e.message.starts_with("expected a property name"), "{e}");
        let e = parse_err(".append T with (a=1 <| select 1");
        assert!(
            e.message
                .starts_with("expected ',' or ')' after property 'a'"),
            "{e}"
        );
        let e = parse_err(".append T with a=1 <| select 1");
        assert!(e.message.starts_with("expected '(' after 'with'"), "{e}");
        let e = parse_err(".append T with (a=@x) <| select 1");
        assert!(
            e.message.starts_with("invalid value '@x' for property 'a'"),
            "{e}"
        );
        assert_eq!(e.column, 19);
        let e = parse_err(".append T with (a=-x) <| select 1");
        assert!(e.message.contains("expected a number after '-'"), "{e}");
    }

    #[test]
    fn huge_timespans_are_errors() {
        for (text, needle) in [
            (
                ".create-or-alter continuous-export E to table X with (forcedLatency=100000000d) <| select 1",
                "property 'forcedLatency': timespan '100000000d' is out of range",
            ),
            (
                ".create-or-alter continuous-export E to table X with (forcedLatency=99999999999999999999s) <| select 1",
                "property 'forcedLatency': timespan '99999999999999999999s' is out of range",
            ),
            (
                ".create-or-alter continuous-export E to table X with (intervalBetweenRuns=99999999999.00:00:00) <| select 1",
                "is out of range",
            ),
            (
                ".create-or-alter continuous-export E to table X with (forcedLatency=-1.00:00:00) <| select 1",
                "negative timespans are not supported (property 'forcedLatency')",
            ),
            (
                ".create external table X (ts:datetime) kind=storage partition by (D:datetime = bin(ts, 36501d)) dataformat=csv ('u')",
                "bin size 36501d is out of range; a timespan bin is at most 36500d",
            ),
            (
                ".create external table X (ts:datetime) kind=storage partition by (D:datetime = bin(ts, 100000000d)) dataformat=csv ('u')",
                "bin size 100000000d is out of range",
            ),
            (
                ".create external table X (a:long) kind=storage partition by (D:long = bin(a, 99999999999999999999)) dataformat=csv ('u')",
                "out of range",
            ),
        ] {
            let e = parse_err(text);
            assert!(e.message.contains(needle), "{text}: {e}");
        }
        // The largest ones still parse.
        parse(".create-or-alter continuous-export E to table X with (forcedLatency=10675199d) <| select 1");
        parse(".create external table X (ts:datetime) kind=storage partition by (D:datetime = bin(ts, 36500d)) dataformat=csv ('u')");
    }

    #[test]
    fn string_literal_forms() {
        let cases = [
            ("'a''b'", "a'b", false),
            ("\"a\"\"b\"", "a\"b", false),
            ("@'C:\\x\\'", "C:\\x\\", false),
            ("@\"C:\\y\"", "C:\\y", false),
            ("h'secret'", "secret", true),
            ("H'secret'", "secret", true),
            ("h\"secret\"", "secret", true),
            ("h@'sec\\ret'", "sec\\ret", true),
            ("H@\"secret\"", "secret", true),
            ("'/*!x*/'", "/*!x*/", false),
            ("'a // b'", "a // b", false),
        ];
        for (literal, value, obfuscated) in cases {
            let text = format!(".ingest into table T ({literal})");
            let Command::Ingest { sources, .. } = parse(&text) else {
                panic!()
            };
            assert_eq!(
                sources,
                vec![SecretString::new(value, obfuscated)],
                "{text}"
            );
        }
        // prefix and quote must touch
        let e = parse_err(".ingest into table T (h 'x')");
        assert!(e.message.starts_with("expected a source URL string"), "{e}");
        let e = parse_err(".ingest into table T (@ 'x')");
        assert!(e.message.contains("right after '@'"), "{e}");
    }

    #[test]
    fn secrets_never_leak() {
        let secret = "SUPERSECRETVALUE";
        let texts = [
            format!(".ingest into table T (h'https://a/b?sig={secret}')"),
            format!(".ingest into table T (h@'https://a/b;{secret}') with (x=h'{secret}')"),
            format!(".append T with (token=h\"{secret}\") <| select 1"),
            format!(".ingest into table T ('https://a/b?sv=1&sig={secret}')"),
            format!(".ingest into table T ('https://acct.blob.core.windows.net/c;{secret}')"),
            format!(".ingest into table T ('https://user:{secret}@host/x')"),
        ];
        for text in &texts {
            let command = parse(text);
            let debug = format!("{command:?}");
            assert!(!debug.contains(secret), "{debug}");
            let pretty = format!("{command:#?}");
            assert!(!pretty.contains(secret), "{pretty}");
        }
        // errors never quote string literals
        let broken = [
            format!(".drop table h'{secret}'"),
            format!(".ingest into table T (h'{secret}' h'{secret}')"),
            format!(".append T with (a=1) h'{secret}' <| x"),
            format!(".create table T (h'{secret}':long)"),
            format!(".show table T h'{secret}'"),
            format!(".ingest into table T (h'{secret}') with (a=h'{secret}' b)"),
        ];
        for text in &broken {
            let e = parse_err(text);
            assert!(!e.to_string().contains(secret), "{e}");
            assert!(!format!("{e:?}").contains(secret), "{e:?}");
        }
    }

    #[test]
    fn new_commands_never_leak_secrets() {
        let secret = "SUPERSECRETVALUE";
        let texts = [
            format!(".export to csv (h'https://a/b;{secret}') <| T"),
            format!(".export to parquet ('https://a/b?sv=1&sig={secret}') with (k=h'{secret}') <| T"),
            format!(".create external table T (a:long) kind=storage dataformat=csv (h@'https://a/c;{secret}')"),
            format!(".create external table T kind=delta ('https://user:{secret}@host/x')"),
            format!(".create-or-alter continuous-export E to table X with (token=h\"{secret}\") <| T"),
        ];
        for text in &texts {
            let command = parse(text);
            assert!(!format!("{command:?}").contains(secret), "{command:?}");
            assert!(!format!("{command:#?}").contains(secret), "{command:#?}");
        }
        let broken = [
            format!(".export to xml (h'{secret}') <| T"),
            format!(".export to csv (h'{secret}' h'{secret}') <| T"),
            format!(".export to csv (h'{secret}')"),
            format!(".export to csv ('https://a/b;{secret}') h'{secret}' <| T"),
            format!(".create external table T (a:long) kind=storage dataformat=csv (h'{secret}') h'{secret}'"),
            format!(".create external table T kind=delta (h'{secret}', h'{secret}')"),
            format!(".create external table T kind=delta dataformat=csv (h'{secret}')"),
            format!(".create external table T (a:long) kind=storage (h'{secret}')"),
            format!(".create external table T (a:long) kind=storage partition by (P:string) pathformat=(h'{secret}' P) dataformat=csv ('x')"),
            format!(".create external table T (a:long) kind=storage partition by (P:datetime) pathformat=(datetime_pattern(h'{secret}', P)) dataformat=csv ('x')"),
            format!(".show operation '{secret}'"),
            format!(".show operation h'{secret}'"),
            format!(".create-or-alter continuous-export E over (h'{secret}') to table X <| T"),
            format!(".drop continuous-export h'{secret}'"),
        ];
        for text in &broken {
            let e = parse_err(text);
            assert!(!e.to_string().contains(secret), "{e}");
            assert!(!format!("{e:?}").contains(secret), "{e:?}");
        }
    }
}
