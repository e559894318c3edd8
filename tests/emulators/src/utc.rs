//! UTC calendar arithmetic for S3 timestamps and Contact Lens file names, without a date crate:
//! Howard Hinnant's civil-from-days algorithm over the proleptic Gregorian calendar.

pub(crate) const DAY_MS: i64 = 86_400_000;

/// An instant broken down into UTC calendar fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
    /// Days since the epoch, for the weekday.
    days: i64,
}

impl Utc {
    /// The instant `ms` milliseconds after the Unix epoch (negative: before it).
    pub fn at(ms: i64) -> Utc {
        let days = ms.div_euclid(DAY_MS);
        let in_day = ms.rem_euclid(DAY_MS);
        let (year, month, day) = civil_from_days(days);
        let field = |unit: i64, modulus: i64| {
            u32::try_from(in_day / unit % modulus).expect("a time-of-day field is small")
        };
        Utc {
            year,
            month,
            day,
            hour: field(3_600_000, 24),
            minute: field(60_000, 60),
            second: field(1_000, 60),
            millis: field(1, 1_000),
            days,
        }
    }

    /// `YYYY/MM/DD`, as in Contact Lens output paths.
    pub fn date_path(&self) -> String {
        format!("{:04}/{:02}/{:02}", self.year, self.month, self.day)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn iso_seconds(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`, as S3 writes LastModified in XML.
    pub fn iso_millis(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }

    /// The IMF-fixdate of HTTP headers: `Mon, 01 Jan 2024 00:00:00 GMT`.
    pub fn http_date(&self) -> String {
        const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        // The epoch was a Thursday.
        let weekday = WEEKDAYS[usize::try_from(self.days.rem_euclid(7)).unwrap_or_default()];
        let month = MONTHS[usize::try_from(self.month - 1).unwrap_or_default()];
        format!(
            "{weekday}, {:02} {month} {:04} {:02}:{:02}:{:02} GMT",
            self.day, self.year, self.hour, self.minute, self.second
        )
    }
}

/// The start of the UTC day holding `ms`.
pub(crate) fn day_start(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS) * DAY_MS
}

/// (year, month 1..=12, day 1..=31) of the day `days` after 1970-01-01. Eras of 400 years
/// starting on 1 March make the leap day the last day of a year, so no month table is needed.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let small = |v: i64| u32::try_from(v).expect("month and day are small");
    (year, small(month), small(day))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(ms: i64) -> String {
        Utc::at(ms).iso_millis()
    }

    #[test]
    fn year_boundaries() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(iso(1_704_067_199_999), "2023-12-31T23:59:59.999Z");
        assert_eq!(iso(1_704_067_200_000), "2024-01-01T00:00:00.000Z");
    }

    #[test]
    fn leap_days_and_month_ends() {
        // 2000 is a leap year (divisible by 400), 2100 is not (divisible by 100).
        assert_eq!(iso(951_868_799_000), "2000-02-29T23:59:59.000Z");
        assert_eq!(iso(951_868_800_000), "2000-03-01T00:00:00.000Z");
        assert_eq!(iso(1_709_251_080_000), "2024-02-29T23:58:00.000Z");
        assert_eq!(iso(4_107_499_200_000), "2100-02-28T12:00:00.000Z");
        assert_eq!(iso(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
        // Every day of 2023 to 2025 follows its predecessor.
        let mut previous = Utc::at(1_672_531_200_000 - DAY_MS);
        for day in 0..3 * 366 {
            let next = Utc::at(1_672_531_200_000 + day * DAY_MS);
            let same_month = (next.year, next.month, next.day)
                == (previous.year, previous.month, previous.day + 1);
            let next_month = (next.year, next.month, next.day)
                == (previous.year, previous.month + 1, 1)
                && previous.day >= 28;
            let next_year = (next.year, next.month, next.day) == (previous.year + 1, 1, 1)
                && (previous.month, previous.day) == (12, 31);
            assert!(
                same_month || next_month || next_year,
                "{previous:?} -> {next:?}"
            );
            previous = next;
        }
    }

    #[test]
    fn formats() {
        let at = Utc::at(1_709_251_080_000 + 2 * 60_000 + 15_250);
        assert_eq!(at.date_path(), "2024/03/01");
        assert_eq!(at.iso_seconds(), "2024-03-01T00:00:15Z");
        assert_eq!(at.http_date(), "Fri, 01 Mar 2024 00:00:15 GMT");
        assert_eq!(Utc::at(-1).http_date(), "Wed, 31 Dec 1969 23:59:59 GMT");
        assert_eq!(
            Utc::at(4_107_542_400_000).http_date(),
            "Mon, 01 Mar 2100 00:00:00 GMT"
        );
        assert_eq!(day_start(1_704_067_199_999), 1_704_067_200_000 - DAY_MS);
        assert_eq!(day_start(-1), -DAY_MS);
    }
}
