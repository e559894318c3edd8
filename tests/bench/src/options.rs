//! Command-line flags; every one has a default, so `cargo run --release -p bench` alone runs
//! the documented benchmark.

use std::time::Duration;

pub const USAGE: &str = "\
usage: bench [--contacts N] [--segments N] [--large-segments N] [--aws-latency-ms N]
             [--salesforce-latency-ms N] [--quota-rate R] [--quota-burst N] [--seed N]
             [--concurrency N] [--retry-max-attempts N] [--retry-base-delay-ms N]
             [--cold-starts N] [--no-lambda-build]
       bench busy-hour [...]       automatic repair through a busy hour (busy-hour --help)

  --contacts 100             contacts in the one uploadTranscript invocation (1-100)
  --segments 250             transcript turns per contact (250 = 3 Contact Lens pages)
  --large-segments 2000      turns per contact of the memory run (no Contact Lens quota)
  --aws-latency-ms 25        added to every Connect, Contact Lens and Secrets Manager response
  --salesforce-latency-ms 100  added to every Salesforce response (token and uploads)
  --quota-rate 10            Contact Lens requests per second; beyond it 429 ThrottlingException
  --quota-burst 10           Contact Lens token bucket capacity
  --seed 1                   seed of the generated contacts
  --concurrency 10           the function's CONTACT_CONCURRENCY (its default)
  --retry-max-attempts 6     the function's RETRY_MAX_ATTEMPTS (its default)
  --retry-base-delay-ms 500  the function's RETRY_BASE_DELAY_MS (its default)
  --cold-starts 20           spawns whose median is the cold start
  --no-lambda-build          when target/lambda/contact-data-sync/bootstrap.zip is stale, zip
                             the host binary instead of running cargo lambda build (minutes)";

#[derive(Clone, Debug)]
pub struct Options {
    pub contacts: usize,
    pub segments: usize,
    pub large_segments: usize,
    pub aws_latency: Duration,
    pub salesforce_latency: Duration,
    pub quota_rate: f64,
    pub quota_burst: u32,
    pub seed: u64,
    pub concurrency: usize,
    pub retry_max_attempts: u32,
    pub retry_base_delay: Duration,
    pub cold_starts: usize,
    pub lambda_build: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            contacts: 100,
            segments: 250,
            large_segments: 2_000,
            aws_latency: Duration::from_millis(25),
            salesforce_latency: Duration::from_millis(100),
            quota_rate: 10.0,
            quota_burst: 10,
            seed: 1,
            concurrency: 10,
            retry_max_attempts: 6,
            retry_base_delay: Duration::from_millis(500),
            cold_starts: 20,
            lambda_build: true,
        }
    }
}

impl Options {
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut o = Options::default();
        while let Some(flag) = args.next() {
            match flag.as_str() {
                "--help" | "-h" => return Err(USAGE.to_owned()),
                "--no-lambda-build" => {
                    o.lambda_build = false;
                    continue;
                }
                _ => {}
            }
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
            let int = || value.parse::<u64>().map_err(|e| bad(&e));
            let ms = || int().map(Duration::from_millis);
            let size = || int().map(|n| n as usize);
            match flag.as_str() {
                "--contacts" => o.contacts = size()?,
                "--segments" => o.segments = size()?,
                "--large-segments" => o.large_segments = size()?,
                "--aws-latency-ms" => o.aws_latency = ms()?,
                "--salesforce-latency-ms" => o.salesforce_latency = ms()?,
                "--quota-rate" => o.quota_rate = value.parse().map_err(|e| bad(&e))?,
                "--quota-burst" => o.quota_burst = value.parse().map_err(|e| bad(&e))?,
                "--seed" => o.seed = int()?,
                "--concurrency" => o.concurrency = size()?,
                "--retry-max-attempts" => {
                    o.retry_max_attempts = value.parse().map_err(|e| bad(&e))?
                }
                "--retry-base-delay-ms" => o.retry_base_delay = ms()?,
                "--cold-starts" => o.cold_starts = size()?,
                _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
            }
        }
        // The function refuses more than 100 contacts per request, and a rate of 0 never refills.
        if !(1..=100).contains(&o.contacts) || o.segments == 0 || o.large_segments == 0 {
            return Err(format!(
                "--contacts must be 1-100 and segments at least 1\n{USAGE}"
            ));
        }
        if o.quota_rate <= 0.0 || o.quota_burst == 0 || o.cold_starts == 0 || o.concurrency == 0 {
            return Err(format!(
                "--quota-rate, --quota-burst, --cold-starts and --concurrency must be positive\n{USAGE}"
            ));
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn defaults_are_the_documented_scenario() {
        let o = parse(&[]).expect("defaults");
        assert_eq!((o.contacts, o.segments, o.concurrency), (100, 250, 10));
        assert_eq!(o.aws_latency, Duration::from_millis(25));
        assert!(o.lambda_build);
    }

    #[test]
    fn flags_override_and_errors_name_the_flag() {
        let o = parse(&[
            "--contacts",
            "5",
            "--quota-rate",
            "2.5",
            "--no-lambda-build",
        ])
        .expect("flags");
        assert_eq!(o.contacts, 5);
        assert!((o.quota_rate - 2.5).abs() < f64::EPSILON);
        assert!(!o.lambda_build);
        assert!(parse(&["--seed", "x"]).unwrap_err().starts_with("--seed x"));
        assert!(parse(&["--contacts", "101"]).is_err());
        assert!(
            parse(&["--bogus", "1"])
                .unwrap_err()
                .contains("unknown flag")
        );
    }
}
