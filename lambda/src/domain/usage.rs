//! The org's API request allocation (a rolling 24 hours), as Salesforce last reported it, and
//! the ceiling above which the function leaves the rest to the org's other systems.

use super::outcome::{Failure, FailureCode};

/// Requests used and allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiUsage {
    pub used: u64,
    pub max: u64,
}

impl ApiUsage {
    /// Used, in percent of the allocation (100 when there is none).
    pub fn percent(self) -> f64 {
        if self.max == 0 {
            return 100.0;
        }
        self.used as f64 * 100.0 / self.max as f64
    }

    /// Whether the usage has reached `ceiling_percent` of the allocation.
    pub fn at_or_above(self, ceiling_percent: u8) -> bool {
        u128::from(self.used) * 100 >= u128::from(self.max) * u128::from(ceiling_percent)
    }

    /// The failure of a contact not read because the usage reached the ceiling.
    pub fn ceiling_failure(self, ceiling_percent: u8) -> Failure {
        Failure::new(
            FailureCode::SalesforceApiCeiling,
            format!(
                "the org has used {} of its {} API requests of the last 24 hours ({:.0} %), at or above the {ceiling_percent} % this function may use (SALESFORCE_API_USAGE_CEILING_PERCENT), so nothing was read or uploaded; resubmit once the usage has dropped",
                self.used,
                self.max,
                self.percent()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_is_reached_at_its_exact_share() {
        let usage = |used| ApiUsage { used, max: 15_000 };
        assert!(!usage(11_999).at_or_above(80));
        assert!(usage(12_000).at_or_above(80));
        assert_eq!(usage(3_000).percent(), 20.0);
        let none = ApiUsage { used: 0, max: 0 };
        assert!(none.at_or_above(80));
        assert_eq!(none.percent(), 100.0);
        let huge = ApiUsage {
            used: u64::MAX,
            max: u64::MAX,
        };
        assert!(huge.at_or_above(100));
    }
}
