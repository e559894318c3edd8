//! Numbers, durations and UTC timestamps as the CLI prints them.

use std::time::{Duration, SystemTime};

use time::{OffsetDateTime, PrimitiveDateTime};

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `42s`, `6m54s`, `1h02m`: whole seconds, minutes and seconds, or hours and minutes.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs() + u64::from(d.subsec_millis() >= 500);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// A UTC instant broken into calendar fields (whole seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Utc {
    pub fn at(time: SystemTime) -> Self {
        let secs = match time.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs_f64().ceil() as i64),
        };
        // Only clock readings are shown; one outside years ±9999 shows as that range's end.
        let utc = OffsetDateTime::from_unix_timestamp(secs).unwrap_or_else(|_| {
            let end = if secs < 0 {
                PrimitiveDateTime::MIN
            } else {
                PrimitiveDateTime::MAX
            };
            end.assume_utc()
        });
        Self {
            year: i64::from(utc.year()),
            month: u32::from(u8::from(utc.month())),
            day: u32::from(utc.day()),
            hour: u32::from(utc.hour()),
            minute: u32::from(utc.minute()),
            second: u32::from(utc.second()),
        }
    }

    /// `20260101T093000Z`, as in manifest keys and execution names.
    pub fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `2026-01-01 09:30:00 UTC`, for people.
    pub fn readable(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        for (n, s) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (10_000, "10,000"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(thousands(n), s);
        }
    }

    #[test]
    fn durations_round_to_seconds() {
        for (secs, ms, s) in [
            (0, 0, "0s"),
            (59, 499, "59s"),
            (59, 500, "1m00s"),
            (414, 0, "6m54s"),
            (3_599, 0, "59m59s"),
            (3_600, 0, "1h00m"),
            (239_880, 0, "66h38m"),
        ] {
            assert_eq!(
                duration(Duration::from_secs(secs) + Duration::from_millis(ms)),
                s
            );
        }
    }

    #[test]
    fn utc_fields_across_leap_years_and_the_epoch() {
        let at = |secs: u64| Utc::at(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0).compact(), "19700101T000000Z");
        assert_eq!(at(951_782_400).compact(), "20000229T000000Z");
        assert_eq!(at(1_767_225_600).compact(), "20260101T000000Z");
        assert_eq!(at(1_767_261_599).readable(), "2026-01-01 09:59:59 UTC");
        assert_eq!(at(4_107_542_399).compact(), "21000228T235959Z");
        assert_eq!(
            Utc::at(SystemTime::UNIX_EPOCH - Duration::from_secs(1)).compact(),
            "19691231T235959Z"
        );
    }
}
