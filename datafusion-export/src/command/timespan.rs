//! Kusto timespans: parsing ([`try_parse_timespan`], [`parse_timespan`]) and
//! formatting ([`format_timespan`]), up to [`MAX_TIMESPAN`].

use std::time::Duration;

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// The longest timespan: .NET's `TimeSpan.MaxValue`, `10675199.02:48:05.4775807`
/// (2^63 - 1 ticks of 100 ns, about 29,227 years), as in Kusto. Any timespan this
/// crate accepts converts to a `chrono::Duration` and can be subtracted from any
/// date of this era without overflow.
pub const MAX_TIMESPAN: Duration = Duration::new(922_337_203_685, 477_580_700);

/// Why a text is not a timespan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimespanError {
    /// It is not written as a timespan (`10m`, `1.5h`, `00:10:00`, …).
    Invalid,
    /// It is written as one but is longer than [`MAX_TIMESPAN`].
    OutOfRange,
}

impl TimespanError {
    /// What is wrong with `text`, for an error message (`text` is shortened).
    pub fn describe(&self, text: &str) -> String {
        match self {
            TimespanError::Invalid => format!(
                "'{}' is not a timespan; write one such as 10s, 5m, 1.5h, 100ms, 1d or \
                 '00:10:00'",
                truncate_for_message(text)
            ),
            TimespanError::OutOfRange => format!(
                "timespan '{}' is out of range: timespans are at most 10675199 days \
                 (10675199.02:48:05.4775807)",
                truncate_for_message(text),
            ),
        }
    }
}

fn truncate_for_message(s: &str) -> String {
    const MAX: usize = 40;
    let s = s.trim();
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

/// A timespan as users write it: `365d`, `5m`, `10s`, `100ms`, or
/// `d.hh:mm:ss.fffffffff` when no single unit fits.
pub fn format_timespan(d: Duration) -> String {
    const UNITS: [(u128, &str); 6] = [
        (86_400 * NANOS_PER_SECOND, "d"),
        (3_600 * NANOS_PER_SECOND, "h"),
        (60 * NANOS_PER_SECOND, "m"),
        (NANOS_PER_SECOND, "s"),
        (1_000_000, "ms"),
        (1_000, "microseconds"),
    ];
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    for (unit, name) in UNITS {
        if nanos.is_multiple_of(unit) {
            return format!("{}{name}", nanos / unit);
        }
    }
    let secs = d.as_secs();
    format!(
        "{}.{:02}:{:02}:{:02}.{:09}",
        secs / 86_400,
        (secs / 3_600) % 24,
        (secs / 60) % 60,
        secs % 60,
        d.subsec_nanos()
    )
}

/// Parses a Kusto timespan (see [`try_parse_timespan`]); `None` when it is not one
/// or is out of range.
pub fn parse_timespan(s: &str) -> Option<Duration> {
    try_parse_timespan(s).ok()
}

/// Parses a Kusto timespan.
///
/// Accepted forms:
/// * a number with a unit: `1d`, `2h`, `30m`, `10s`, `100ms`, `1.5h`, with
///   units `d`/`day(s)`, `h`/`hr(s)`/`hour(s)`, `m`/`min(s)`/`minute(s)`,
///   `s`/`sec(s)`/`second(s)`, `ms`/`milli(s)`/`millisecond(s)`,
///   `microsecond(s)` (units are case-insensitive);
/// * a clock form: `hh:mm`, `hh:mm:ss`, `hh:mm:ss.fffffff` and
///   `d.hh:mm:ss[.fffffff]` (minutes and seconds below 60; hours below 24
///   when days are given).
///
/// Leading/trailing whitespace is ignored. Negative values, bare numbers and
/// `time(...)` are not accepted. Timespans longer than [`MAX_TIMESPAN`] are
/// [`TimespanError::OutOfRange`]. Never panics, never overflows.
pub fn try_parse_timespan(s: &str) -> Result<Duration, TimespanError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(TimespanError::Invalid);
    }
    let nanos = if s.contains(':') {
        parse_clock_nanos(s)?
    } else {
        let unit_start = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or(TimespanError::Invalid)?;
        let number = s.get(..unit_start).ok_or(TimespanError::Invalid)?;
        let unit = s
            .get(unit_start..)
            .ok_or(TimespanError::Invalid)?
            .to_ascii_lowercase();
        let unit_nanos: u128 = match unit.as_str() {
            "d" | "day" | "days" => 86_400 * NANOS_PER_SECOND,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600 * NANOS_PER_SECOND,
            "m" | "min" | "mins" | "minute" | "minutes" => 60 * NANOS_PER_SECOND,
            "s" | "sec" | "secs" | "second" | "seconds" => NANOS_PER_SECOND,
            "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1_000_000,
            "microsecond" | "microseconds" => 1_000,
            _ => return Err(TimespanError::Invalid),
        };
        scaled_decimal(number, unit_nanos)?
    };
    if nanos > MAX_TIMESPAN.as_nanos() {
        return Err(TimespanError::OutOfRange);
    }
    let secs = u64::try_from(nanos / NANOS_PER_SECOND).map_err(|_| TimespanError::OutOfRange)?;
    let sub = u32::try_from(nanos % NANOS_PER_SECOND).map_err(|_| TimespanError::OutOfRange)?;
    Ok(Duration::new(secs, sub))
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A string of ASCII digits as a number, or `OutOfRange` when it has more than
/// `max_digits` significant digits.
fn digits_value(s: &str, max_digits: usize) -> Result<u128, TimespanError> {
    if !all_digits(s) {
        return Err(TimespanError::Invalid);
    }
    let significant = s.trim_start_matches('0');
    if significant.len() > max_digits {
        return Err(TimespanError::OutOfRange);
    }
    if significant.is_empty() {
        return Ok(0);
    }
    significant.parse().map_err(|_| TimespanError::OutOfRange)
}

/// `number * unit` for a decimal `number` like `1`, `1.5` (no sign).
fn scaled_decimal(number: &str, unit: u128) -> Result<u128, TimespanError> {
    let (int, frac) = match number.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (number, None),
    };
    // 20 digits and a unit of at most a day in nanoseconds stay far below u128::MAX.
    let mut total = digits_value(int, 20)?
        .checked_mul(unit)
        .ok_or(TimespanError::OutOfRange)?;
    if let Some(frac) = frac {
        if !all_digits(frac) {
            return Err(TimespanError::Invalid);
        }
        // Digits beyond 1e-18 of a unit cannot matter at nanosecond precision.
        let frac = frac
            .get(..frac.len().min(18))
            .ok_or(TimespanError::Invalid)?;
        let value: u128 = frac.parse().map_err(|_| TimespanError::Invalid)?;
        let scale = 10u128
            .checked_pow(u32::try_from(frac.len()).map_err(|_| TimespanError::Invalid)?)
            .ok_or(TimespanError::Invalid)?;
        let part = value.checked_mul(unit).ok_or(TimespanError::OutOfRange)? / scale;
        total = total.checked_add(part).ok_or(TimespanError::OutOfRange)?;
    }
    Ok(total)
}

/// `[d.]hh:mm[:ss[.f...]]` in nanoseconds.
fn parse_clock_nanos(s: &str) -> Result<u128, TimespanError> {
    use TimespanError::Invalid;
    let colon = s.find(':').ok_or(Invalid)?;
    let (days, clock) = match s.find('.') {
        Some(dot) if dot < colon => (
            Some(s.get(..dot).ok_or(Invalid)?),
            s.get(dot + 1..).ok_or(Invalid)?,
        ),
        _ => (None, s),
    };
    let mut parts = clock.split(':');
    let hours = parts.next().ok_or(Invalid)?;
    let minutes = parts.next().ok_or(Invalid)?;
    let seconds = parts.next();
    if parts.next().is_some() {
        return Err(Invalid);
    }
    // A field with a fixed width (minutes, seconds, hours after days).
    let fixed = |t: &str, max_len: usize| -> Result<u128, TimespanError> {
        if !all_digits(t) || t.len() > max_len {
            return Err(Invalid);
        }
        t.parse().map_err(|_| Invalid)
    };
    let days = match days {
        Some(d) => Some(digits_value(d, 20)?),
        None => None,
    };
    let hours = if days.is_some() {
        fixed(hours, 2)?
    } else {
        digits_value(hours, 20)?
    };
    if days.is_some() && hours >= 24 {
        return Err(Invalid);
    }
    let minutes = fixed(minutes, 2)?;
    if minutes >= 60 {
        return Err(Invalid);
    }
    let (seconds, frac_nanos) = match seconds {
        None => (0, 0),
        Some(sec) => {
            let (whole, frac) = match sec.split_once('.') {
                Some((w, f)) => (w, Some(f)),
                None => (sec, None),
            };
            let whole = fixed(whole, 2)?;
            if whole >= 60 {
                return Err(Invalid);
            }
            let frac_nanos = match frac {
                None => 0,
                Some(f) => {
                    if !all_digits(f) || f.len() > 9 {
                        return Err(Invalid);
                    }
                    let scale = 10u128.pow(9 - u32::try_from(f.len()).map_err(|_| Invalid)?);
                    f.parse::<u128>().map_err(|_| Invalid)? * scale
                }
            };
            (whole, frac_nanos)
        }
    };
    // At most 20 digits each: no u128 overflow below.
    let total_seconds = days.unwrap_or(0) * 86_400 + hours * 3_600 + minutes * 60 + seconds;
    Ok(total_seconds * NANOS_PER_SECOND + frac_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans_with_units() {
        let cases = [
            ("1d", Duration::from_secs(86_400)),
            ("2h", Duration::from_secs(7_200)),
            ("30m", Duration::from_secs(1_800)),
            ("10s", Duration::from_secs(10)),
            ("100ms", Duration::from_millis(100)),
            ("1.5h", Duration::from_secs(5_400)),
            ("0.5s", Duration::from_millis(500)),
            ("3microseconds", Duration::from_micros(3)),
            ("5min", Duration::from_secs(300)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_timespan(text), Some(expected), "{text}");
        }
        assert_eq!(parse_timespan(" 10M "), Some(Duration::from_secs(600)));
        assert_eq!(parse_timespan("1Hours"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_timespan("1.0000000001s"),
            Some(Duration::new(1, 0)),
            "sub-nanosecond digits are truncated"
        );
    }

    #[test]
    fn timespans_clock_form() {
        let cases = [
            ("00:10:00", Duration::from_secs(600)),
            ("01:00", Duration::from_secs(3600)),
            (
                "1.02:03:04",
                Duration::from_secs(86_400 + 2 * 3600 + 3 * 60 + 4),
            ),
            ("00:00:01.5", Duration::from_millis(1500)),
            ("00:00:00.0000001", Duration::from_nanos(100)),
            ("48:00:00", Duration::from_secs(48 * 3600)),
            (
                "2.00:00:00.250",
                Duration::from_millis(2 * 86_400_000 + 250),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_timespan(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn invalid_timespans() {
        for text in [
            "",
            " ",
            "10",
            "m",
            "-1h",
            "1x",
            "10tick",
            "1.h",
            ".5h",
            "1..5h",
            "00:60:00",
            "00:00:60",
            "1.24:00:00",
            "1:2:3:4",
            "aa:bb",
            "00:10:00.",
            "00:10:00.1234567890",
            "1 h",
            "time(1h)",
            "1e3s",
            "99999999999999999999999d",
            "00:10:",
            ":10",
            "１h",
        ] {
            assert_eq!(parse_timespan(text), None, "{text:?}");
        }
    }

    #[test]
    fn timespan_overflow_is_none() {
        assert_eq!(parse_timespan("99999999999999999999d"), None);
        assert!(parse_timespan("10675199d").is_some());
        assert_eq!(parse_timespan("10675200d"), None);
        assert!(parse_timespan("9999999999d").is_none());
    }

    #[test]
    fn timespan_errors_say_why() {
        use TimespanError::*;
        for (text, want) in [
            ("100000000d", OutOfRange),
            ("99999999999999999999s", OutOfRange),
            ("99999999999999999999999999999999999999999999d", OutOfRange),
            ("10675199.02:48:05.477580800", OutOfRange),
            ("256204778:48:05.4775808", OutOfRange),
            ("99999999999999999999999999.00:00:00", OutOfRange),
            ("-1.00:00:00", Invalid),
            ("-1d", Invalid),
            ("NaN", Invalid),
            ("NaNs", Invalid),
            ("infs", Invalid),
            ("1e309s", Invalid),
            ("1.5.5h", Invalid),
            ("0x10s", Invalid),
        ] {
            assert_eq!(try_parse_timespan(text), Err(want), "{text:?}");
            let message = want.describe(text);
            let shown: String = text.chars().take(40).collect();
            assert!(message.contains(&shown), "{message}");
        }
        assert_eq!(
            try_parse_timespan("10675199.02:48:05.4775807"),
            Ok(MAX_TIMESPAN)
        );
        assert_eq!(
            try_parse_timespan("0000000000000000000000000001d"),
            Ok(Duration::from_secs(86_400))
        );
        assert!(OutOfRange.describe("100000000d").contains("10675199"));
        // Whatever parses converts to chrono and subtracts from now without panicking.
        let max = chrono::Duration::from_std(MAX_TIMESPAN).unwrap();
        assert!(chrono::Utc::now().checked_sub_signed(max).is_some());
    }

    #[test]
    fn formats_timespans() {
        for (d, want) in [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(365 * 86_400), "365d"),
            (Duration::from_secs(7_200), "2h"),
            (Duration::from_secs(300), "5m"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(1_500), "1500ms"),
            (Duration::from_micros(3), "3microseconds"),
            (Duration::from_nanos(100), "0.00:00:00.000000100"),
            (MAX_TIMESPAN, "10675199.02:48:05.477580700"),
        ] {
            assert_eq!(format_timespan(d), want);
            if d >= Duration::from_micros(1) {
                assert_eq!(parse_timespan(&format_timespan(d)), Some(d), "{want}");
            }
        }
    }
}
