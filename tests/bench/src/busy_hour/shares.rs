//! Each instance's share of the deployment's quota budgets: the CDK stack computes the same
//! (cdk/quota-shares.ts), so the bench deploys what the stack would.

/// What a manual invoke must be able to do at once: `manualRequestContacts` contacts within
/// 80 % of the 900 s timeout, each costing 1 entries read, 2 Contact Lens requests and 1
/// DescribeContact.
const MANUAL_SECONDS: f64 = 0.8 * 900.0;
/// The manual slot never takes more than this share of a budget.
const MANUAL_MAX_SHARE: f64 = 0.75;

/// The deployment's budgets (the stack's props).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budgets {
    pub contact_lens_per_second: f64,
    pub describe_contact_per_second: f64,
    pub entries_reads_per_hour: f64,
}

/// One background instance's shares, as the stack sets them in the function's environment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shares {
    pub contact_lens_per_second: f64,
    pub describe_contact_per_second: f64,
    pub entries_reads_per_hour: u64,
}

/// The budget left after the manual slot's share, sized for `manual_contacts` contacts (the
/// stack's `manualRequestContacts`), split among `background` instances (repair's maximum
/// concurrency plus the backfill's, held even while no backfill runs).
pub fn shares(budgets: Budgets, background: u32, manual_contacts: u32) -> Shares {
    let split = |budget: f64, manual_need: f64| {
        let headroom = (MANUAL_MAX_SHARE * budget).min(manual_need);
        (budget - headroom) / f64::from(background.max(1))
    };
    // The epsilon keeps float error (0.2 - 0.75 x 0.2 = 0.0499999...) from costing a step.
    let four_decimals = |rate: f64| (rate * 10_000.0 + 1e-6).floor() / 10_000.0;
    let per_second = |per_contact: f64| f64::from(manual_contacts) * per_contact / MANUAL_SECONDS;
    Shares {
        contact_lens_per_second: four_decimals(split(
            budgets.contact_lens_per_second,
            per_second(2.0),
        )),
        describe_contact_per_second: four_decimals(split(
            budgets.describe_contact_per_second,
            per_second(1.0),
        )),
        entries_reads_per_hour: (split(budgets.entries_reads_per_hour, per_second(1.0) * 3_600.0)
            + 1e-6)
            .floor() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_raised_budgets_give_the_stacks_shares() {
        let default = shares(
            Budgets {
                contact_lens_per_second: 1.0,
                describe_contact_per_second: 5.0,
                entries_reads_per_hour: 800.0,
            },
            3,
            100,
        );
        assert_eq!(
            default,
            Shares {
                contact_lens_per_second: 0.2407,
                describe_contact_per_second: 1.6203,
                entries_reads_per_hour: 100,
            }
        );
        let raised = shares(
            Budgets {
                contact_lens_per_second: 5.0,
                describe_contact_per_second: 5.0,
                entries_reads_per_hour: 8_000.0,
            },
            3,
            100,
        );
        assert_eq!(raised.contact_lens_per_second, 1.574);
        assert_eq!(raised.entries_reads_per_hour, 2_500);
    }

    #[test]
    fn a_small_budget_keeps_a_quarter_for_the_background() {
        let small = shares(
            Budgets {
                contact_lens_per_second: 0.2,
                describe_contact_per_second: 0.1,
                entries_reads_per_hour: 400.0,
            },
            1,
            100,
        );
        assert_eq!(small.contact_lens_per_second, 0.05);
        assert_eq!(small.entries_reads_per_hour, 100);
    }

    #[test]
    fn a_manual_share_for_ten_contacts_leaves_the_rest_to_the_background() {
        let small_manual = shares(
            Budgets {
                contact_lens_per_second: 1.0,
                describe_contact_per_second: 5.0,
                entries_reads_per_hour: 800.0,
            },
            3,
            10,
        );
        assert_eq!(
            small_manual,
            Shares {
                contact_lens_per_second: 0.324,
                describe_contact_per_second: 1.662,
                entries_reads_per_hour: 250,
            }
        );
    }
}
