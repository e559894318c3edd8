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
    // Rounded down as the stack does, float error included (0.2 - 0.75 x 0.2 gives 0.0499).
    let four_decimals = |rate: f64| (rate * 10_000.0).floor() / 10_000.0;
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
        entries_reads_per_hour: split(budgets.entries_reads_per_hour, per_second(1.0) * 3_600.0)
            .floor() as u64,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// The table cdk/quota-shares.test.ts checks the stack against, for one manual instance and
    /// the 900 s timeout, as here.
    const SHARED_CASES: &str = include_str!("../../../fixtures/quota-shares.json");

    #[test]
    fn the_shares_are_the_stacks() {
        let cases: Value = serde_json::from_str(SHARED_CASES).unwrap();
        let cases = cases["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 7);
        for case in cases {
            let number = |v: &Value, key: &str| v[key].as_f64().unwrap();
            let budgets = &case["budgets"];
            let worker = &case["worker"];
            let computed = shares(
                Budgets {
                    contact_lens_per_second: number(budgets, "contactLensPerSecond"),
                    describe_contact_per_second: number(budgets, "describeContactPerSecond"),
                    entries_reads_per_hour: number(budgets, "entriesReadsPerHour"),
                },
                case["workerInstances"].as_u64().unwrap() as u32,
                case["manualRequestContacts"].as_u64().unwrap() as u32,
            );
            let expected = Shares {
                contact_lens_per_second: number(worker, "contactLensPerSecond"),
                describe_contact_per_second: number(worker, "describeContactPerSecond"),
                entries_reads_per_hour: worker["entriesReadsPerHour"].as_u64().unwrap(),
            };
            assert_eq!(computed, expected, "{case}");
        }
    }
}
