//! The flags of `bench busy-hour`; every one has a default.

use std::path::PathBuf;
use std::time::Duration;

use super::shares::Budgets;

pub const USAGE: &str = "\
usage: bench busy-hour [--calls-per-hour N] [--scale S] [--drain-minutes N] [--processes R]
             [--backfill-instances B] [--gap-share F] [--undelivered-share F]
             [--contact-lens-quota R] [--entries-limit N] [--contact-lens-budget R]
             [--describe-contact-budget R] [--entries-budget N] [--manual-contacts N]
             [--api-used N]
             [--aws-latency-ms N] [--salesforce-latency-ms N] [--seed N]
             [--binary PATH] [--as-before]

  --calls-per-hour 2000        calls ending in the hour, evenly spaced
  --scale 60                   time compression: every quota, rate, delay and timeout x S
                               (60: one hour in one minute)
  --drain-minutes 60           simulated minutes after the hour with no new calls
  --processes 2                function processes = the event source mapping's maxConcurrency
  --backfill-instances 1       backfill slots whose shares the stack holds back (idle here)
  --gap-share 0.10             calls whose real-time delivery dropped some turns
  --undelivered-share 0.02     calls with nothing delivered
  --contact-lens-quota 1       the account's Contact Lens quota per second (burst 2)
  --entries-limit 1000         Salesforce's entries reads per hour per connected app user
  --contact-lens-budget        the stack's contactLensQuotaPerSecond (default: the quota)
  --describe-contact-budget 5  the stack's describeContactQuotaPerSecond
  --entries-budget 800         the stack's salesforceEntriesReadsPerHour
  --manual-contacts 100        the stack's manualRequestContacts (1 to 100): the manual
                               function's share, which the background does not get
  --api-used 0                 the org's API calls already used of its 100,000 per 24 h
  --aws-latency-ms 25          added to every Connect, Contact Lens and Secrets Manager
                               response (scaled, like every delay)
  --salesforce-latency-ms 100  added to every Salesforce response (scaled)
  --seed 1                     seed of the generated calls
  --binary PATH                run this function binary instead of building the workspace's
  --as-before                  configure the function as an operator did before quota shares
                               (743da9e): CONTACT_LENS_REQUESTS_PER_SECOND = quota / processes";

#[derive(Clone, Debug)]
pub struct BusyHour {
    pub calls_per_hour: u32,
    pub scale: f64,
    pub drain: Duration,
    pub processes: u32,
    pub backfill_instances: u32,
    pub gap_share: f64,
    pub undelivered_share: f64,
    pub contact_lens_quota: f64,
    pub entries_limit: u32,
    pub budgets: Budgets,
    pub manual_contacts: u32,
    pub api_used: u64,
    pub aws_latency: Duration,
    pub salesforce_latency: Duration,
    pub seed: u64,
    pub binary: Option<PathBuf>,
    pub as_before: bool,
}

impl BusyHour {
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<BusyHour, String> {
        let mut o = BusyHour {
            calls_per_hour: 2_000,
            scale: 60.0,
            drain: Duration::from_secs(3_600),
            processes: 2,
            backfill_instances: 1,
            gap_share: 0.10,
            undelivered_share: 0.02,
            contact_lens_quota: 1.0,
            entries_limit: 1_000,
            budgets: Budgets {
                contact_lens_per_second: f64::NAN,
                describe_contact_per_second: 5.0,
                entries_reads_per_hour: 800.0,
            },
            manual_contacts: 100,
            api_used: 0,
            aws_latency: Duration::from_millis(25),
            salesforce_latency: Duration::from_millis(100),
            seed: 1,
            binary: None,
            as_before: false,
        };
        while let Some(flag) = args.next() {
            match flag.as_str() {
                "--help" | "-h" => return Err(USAGE.to_owned()),
                "--as-before" => {
                    o.as_before = true;
                    continue;
                }
                _ => {}
            }
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
            let int = || value.parse::<u64>().map_err(|e| bad(&e));
            let float = || value.parse::<f64>().map_err(|e| bad(&e));
            let small = || value.parse::<u32>().map_err(|e| bad(&e));
            match flag.as_str() {
                "--calls-per-hour" => o.calls_per_hour = small()?,
                "--scale" => o.scale = float()?,
                "--drain-minutes" => o.drain = Duration::from_secs(int()? * 60),
                "--processes" => o.processes = small()?,
                "--backfill-instances" => o.backfill_instances = small()?,
                "--gap-share" => o.gap_share = float()?,
                "--undelivered-share" => o.undelivered_share = float()?,
                "--contact-lens-quota" => o.contact_lens_quota = float()?,
                "--entries-limit" => o.entries_limit = small()?,
                "--contact-lens-budget" => o.budgets.contact_lens_per_second = float()?,
                "--describe-contact-budget" => o.budgets.describe_contact_per_second = float()?,
                "--entries-budget" => o.budgets.entries_reads_per_hour = float()?,
                "--manual-contacts" => o.manual_contacts = small()?,
                "--api-used" => o.api_used = int()?,
                "--aws-latency-ms" => o.aws_latency = Duration::from_millis(int()?),
                "--salesforce-latency-ms" => o.salesforce_latency = Duration::from_millis(int()?),
                "--seed" => o.seed = int()?,
                "--binary" => o.binary = Some(PathBuf::from(&value)),
                _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
            }
        }
        if o.budgets.contact_lens_per_second.is_nan() {
            o.budgets.contact_lens_per_second = o.contact_lens_quota;
        }
        let shares = o.gap_share + o.undelivered_share;
        if o.calls_per_hour == 0
            || o.processes == 0
            || o.scale < 1.0
            || o.contact_lens_quota <= 0.0
            || !(1..=100).contains(&o.manual_contacts)
            || !(0.0..=1.0).contains(&shares)
            || o.gap_share < 0.0
            || o.undelivered_share < 0.0
        {
            return Err(format!(
                "--calls-per-hour, --processes and --contact-lens-quota must be positive, \
                 --scale at least 1, --manual-contacts from 1 to 100, and the shares of calls \
                 between 0 and 1\n{USAGE}"
            ));
        }
        Ok(o)
    }

    /// A simulated duration as the bench waits it.
    pub fn real(&self, simulated: Duration) -> Duration {
        simulated.div_f64(self.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<BusyHour, String> {
        BusyHour::parse(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn the_contact_lens_budget_defaults_to_the_quota() {
        let o = parse(&["--contact-lens-quota", "5", "--as-before"]).expect("flags");
        assert_eq!(o.budgets.contact_lens_per_second, 5.0);
        assert!(o.as_before);
        assert_eq!(o.real(Duration::from_secs(3_600)), Duration::from_secs(60));
        let o = parse(&["--contact-lens-budget", "0.5"]).expect("flags");
        assert_eq!(
            (o.contact_lens_quota, o.budgets.contact_lens_per_second),
            (1.0, 0.5)
        );
        assert!(parse(&["--gap-share", "0.99"]).is_err());
        assert!(parse(&["--processes", "0"]).is_err());
        assert!(parse(&["--manual-contacts", "101"]).is_err());
        assert_eq!(
            parse(&["--manual-contacts", "10"]).map(|o| o.manual_contacts),
            Ok(10)
        );
    }
}
