//! The benchmark as a whole: the runs in order, then one line per figure, each beside its target
//! with PASS or MISS, and the correctness verdict (the exit status).

use std::time::Duration;

use emulators::{Service, Stats};

use crate::artifacts;
use crate::options::Options;
use crate::scenario::{self, Outcome, Setup, Stage};

/// The function reads Contact Lens 100 segments a page (the API's maximum).
const PAGE_SIZE: usize = 100;
/// The function's UPLOAD_BATCH_SIZE default, left as is.
const UPLOAD_BATCH_SIZE: usize = 25;
const TARGET_RATIO: f64 = 1.2;
const TARGET_COLD_START: Duration = Duration::from_millis(20);
/// MB here are 10^6 bytes, the stricter reading of the targets.
const TARGET_MEMORY_MB: f64 = 48.0;
const TARGET_ZIP_MB: f64 = 8.0;

/// Runs everything; Ok(false) when a contact was not uploaded whole.
pub async fn run(o: &Options) -> Result<bool, String> {
    let target = artifacts::target_dir()?;
    eprintln!("bench: cargo build --release -p contact-data-sync");
    let binary = artifacts::build_function(&target)?;
    let logs = target.join("bench");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let quota = Some((o.quota_rate, o.quota_burst));
    // As an operator who knows the quota would: pace Contact Lens at it (unlimited without one).
    let pace =
        |quota: Option<(f64, u32)>| quota.map_or(1_000, |(rate, _)| rate.floor().max(1.0) as u32);
    let setup = |concurrency: usize, segments: usize, quota: Option<(f64, u32)>| Setup {
        contacts: o.contacts,
        segments,
        seed: o.seed,
        aws_latency: o.aws_latency,
        salesforce_latency: o.salesforce_latency,
        quota,
        function_env: vec![
            ("CONTACT_CONCURRENCY".to_owned(), concurrency.to_string()),
            (
                "RETRY_MAX_ATTEMPTS".to_owned(),
                o.retry_max_attempts.to_string(),
            ),
            (
                "RETRY_BASE_DELAY_MS".to_owned(),
                o.retry_base_delay.as_millis().to_string(),
            ),
            (
                "CONTACT_LENS_REQUESTS_PER_SECOND".to_owned(),
                pace(quota).to_string(),
            ),
        ],
    };
    let mut correct = true;

    let main = setup(o.concurrency, o.segments, quota);
    let stage = Stage::new(&main).await;
    eprintln!("bench: cold start, {} spawns", o.cold_starts);
    let mut cold = Vec::with_capacity(o.cold_starts);
    for _ in 0..o.cold_starts {
        let (function, _api, took) = stage
            .start_function(&binary, &logs.join("cold-start.log"))
            .await?;
        function.stop().await;
        cold.push(took);
    }
    cold.sort();

    let runs = [
        ("concurrent", main.clone()),
        ("sequential", setup(1, o.segments, quota)),
        ("large", setup(o.concurrency, o.large_segments, None)),
    ];
    let mut outcomes = Vec::new();
    for (name, setup) in &runs {
        eprintln!(
            "bench: {name} run: {} contacts x {} segments, CONTACT_CONCURRENCY {}, log in {}",
            setup.contacts,
            setup.segments,
            setup.function_env[0].1,
            logs.join(format!("{name}.log")).display()
        );
        // The first run reuses the cold-start stage; the others get a fresh world.
        let fresh;
        let stage = if *name == "concurrent" {
            &stage
        } else {
            fresh = Stage::new(setup).await;
            &fresh
        };
        let outcome = scenario::run(
            stage,
            setup.quota,
            &binary,
            &logs.join(format!("{name}.log")),
        )
        .await?;
        if !outcome.failures.is_empty() {
            correct = false;
            println!("FAILED: the {name} run did not upload every contact whole:");
            for failure in outcome.failures.iter().take(20) {
                println!("  {failure}");
            }
            if outcome.failures.len() > 20 {
                println!("  ... and {} more", outcome.failures.len() - 20);
            }
        }
        outcomes.push(outcome);
    }
    let [concurrent, sequential, large] = &outcomes[..] else {
        unreachable!("three runs")
    };

    print_results(o, concurrent, sequential, large, &cold);
    // Last, as it may have to cross-compile for minutes: the figures above are out by then.
    eprintln!("bench: deployment zip");
    let zip = artifacts::deployment_zip(&target, &binary, o.lambda_build)?;
    let zip_mb = zip.bytes as f64 / 1e6;
    line(
        "deployment zip",
        &format!("{zip_mb:.2} MB ({} bytes; {})", zip.bytes, zip.how),
        &format!("< {TARGET_ZIP_MB} MB"),
        Some(zip_mb < TARGET_ZIP_MB),
    );
    println!(
        "{:<18} {}",
        "correctness",
        if correct {
            "every contact SUCCESS, with all its entries in Salesforce, in all 3 runs"
        } else {
            "FAILED (above)"
        }
    );
    Ok(correct)
}

fn print_results(
    o: &Options,
    concurrent: &Outcome,
    sequential: &Outcome,
    large: &Outcome,
    cold: &[Duration],
) {
    println!(
        "scenario: one uploadTranscript of {} contacts x {} segments ({} pages); AWS latency {} ms, \
         Salesforce {} ms, Contact Lens quota {}/s burst {}; function CONTACT_CONCURRENCY={} \
         RETRY_MAX_ATTEMPTS={} RETRY_BASE_DELAY_MS={} UPLOAD_BATCH_SIZE={UPLOAD_BATCH_SIZE} \
         CONTACT_LENS_REQUESTS_PER_SECOND=<quota rate>",
        o.contacts,
        o.segments,
        pages(o.segments),
        o.aws_latency.as_millis(),
        o.salesforce_latency.as_millis(),
        o.quota_rate,
        o.quota_burst,
        o.concurrency,
        o.retry_max_attempts,
        o.retry_base_delay.as_millis(),
    );
    let (best, formula) = ideal(o, o.concurrency);
    let ratio = concurrent.wall.as_secs_f64() / best.as_secs_f64();
    line(
        "wall time",
        &format!(
            "{:.2} s = {ratio:.2} x ideal {:.2} s",
            concurrent.wall.as_secs_f64(),
            best.as_secs_f64()
        ),
        &format!("ratio <= {TARGET_RATIO} with every contact uploaded"),
        // Failing contacts fast is not speed.
        Some(ratio <= TARGET_RATIO && concurrent.failures.is_empty()),
    );
    println!("{:<18}   {formula}", "");
    let (ideal_1, _) = ideal(o, 1);
    line(
        "concurrency 1",
        &format!(
            "{:.2} s ({:.2} x its ideal {:.2} s); concurrency {} is {:.2}x faster",
            sequential.wall.as_secs_f64(),
            sequential.wall.as_secs_f64() / ideal_1.as_secs_f64(),
            ideal_1.as_secs_f64(),
            o.concurrency,
            sequential.wall.as_secs_f64() / concurrent.wall.as_secs_f64()
        ),
        "-",
        None,
    );
    line("requests", &requests(o, &concurrent.stats), "-", None);
    line(
        "  at concurrency 1",
        &requests(o, &sequential.stats),
        "-",
        None,
    );
    let median = cold[cold.len() / 2];
    line(
        "cold start",
        &format!(
            "median {:.1} ms of {} spawns (min {:.1}, max {:.1}): spawn to first /next poll",
            ms(median),
            cold.len(),
            ms(cold[0]),
            ms(cold[cold.len() - 1])
        ),
        &format!("< {} ms", TARGET_COLD_START.as_millis()),
        Some(median < TARGET_COLD_START),
    );
    let mb = |outcome: &Outcome| outcome.peak_rss_kib.map(|kib| kib as f64 * 1024.0 / 1e6);
    let show = |v: Option<f64>| v.map_or("unknown".to_owned(), |v| format!("{v:.1} MB"));
    let (small_mb, large_mb) = (mb(concurrent), mb(large));
    line(
        "peak memory",
        &format!(
            "{} for {}x{}; {} for {}x{} (no quota) (VmHWM)",
            show(small_mb),
            o.contacts,
            o.segments,
            show(large_mb),
            o.contacts,
            o.large_segments
        ),
        &format!("< {TARGET_MEMORY_MB} MB"),
        Some(
            [small_mb, large_mb]
                .iter()
                .all(|v| v.is_some_and(|v| v < TARGET_MEMORY_MB)),
        ),
    );
}

fn line(name: &str, figure: &str, target: &str, pass: Option<bool>) {
    let verdict = match pass {
        Some(true) => "PASS",
        Some(false) => "MISS",
        None => "",
    };
    println!("{name:<18} {figure}  | target {target}  {verdict}");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn pages(segments: usize) -> usize {
    segments.div_ceil(PAGE_SIZE)
}

/// The shortest possible invocation: Contact Lens' quota or the contacts' own latency, whichever
/// binds, then the last upload's round trip. Returns it with the formula and its numbers.
fn ideal(o: &Options, concurrency: usize) -> (Duration, String) {
    let pages = pages(o.segments);
    let requests = o.contacts * pages;
    let by_quota = requests as f64 / o.quota_rate;
    let critical = o.aws_latency.as_secs_f64() * (1 + pages) as f64;
    let by_latency = critical * o.contacts as f64 / concurrency as f64;
    let upload = o.salesforce_latency.as_secs_f64();
    let ideal = by_quota.max(by_latency) + upload;
    let formula = format!(
        "ideal = max(ContactLens requests / quota, contacts x (DescribeContact + pages x ContactLens) / concurrency) + upload \
         = max({requests} / {}/s = {by_quota:.2} s, {} x ({} + {pages} x {}) ms / {concurrency} = {by_latency:.2} s) + {:.2} s = {ideal:.2} s",
        o.quota_rate,
        o.contacts,
        o.aws_latency.as_millis(),
        o.aws_latency.as_millis(),
        upload,
    );
    (Duration::from_secs_f64(ideal), formula)
}

/// Requests per service, throttled answers and retries (requests beyond the logical ones).
fn requests(o: &Options, stats: &Stats) -> String {
    let logical = [
        (Service::Connect, o.contacts as u64),
        (
            Service::ContactLens,
            (o.contacts * pages(o.segments)) as u64,
        ),
        // One secret read and one token per cold process.
        (Service::SecretsManager, 1),
        // The token, one look at each conversation's entries (no duplicates), the uploads.
        (
            Service::Salesforce,
            1 + o.contacts as u64 + o.contacts.div_ceil(UPLOAD_BATCH_SIZE) as u64,
        ),
    ];
    let mut parts = Vec::new();
    let (mut throttled, mut retries) = (0, 0);
    for (service, logical) in logical {
        let s = stats.service(service);
        throttled += s.throttled;
        retries += s.requests.saturating_sub(logical);
        parts.push(format!(
            "{} {} ({logical} logical, {} errors, max {} in flight)",
            name(service),
            s.requests,
            s.errors,
            s.max_in_flight
        ));
    }
    format!(
        "{}; throttled {throttled}; retries {retries}",
        parts.join(", ")
    )
}

fn name(service: Service) -> &'static str {
    match service {
        Service::Connect => "Connect",
        Service::ContactLens => "ContactLens",
        Service::SecretsManager => "SecretsManager",
        Service::Salesforce => "Salesforce",
        Service::Ssm => "SSM",
        Service::S3 => "S3",
        Service::Sqs => "SQS",
    }
}
