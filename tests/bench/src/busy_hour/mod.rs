//! `bench busy-hour`: automatic repair as production runs it, an hour compressed. Calls end at
//! a steady rate; each one's DISCONNECTED event waits in a simulated SQS queue for its delivery
//! delay, then Lambda's event source mapping (simulated here) hands batches to at most
//! `--processes` function processes at once, deletes what the function did not list in
//! `batchItemFailures` and dead-letters a message received too often. Every quota, rate, delay
//! and timeout is divided by `--scale`; the figures are given back in simulated time.

mod calls;
mod options;
mod queue;
mod shares;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use emulators::{
    Emulators, InvokeError, MessageAttribute, RuntimeApi, Service, World,
    register_sandbox_salesforce,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use options::BusyHour;

use crate::artifacts;
use crate::function::Function;
use crate::scenario::{INSTANCE_ID, lambda_env, start_function};
use calls::{Call, Delivery};
use queue::Queue;

const HOUR: Duration = Duration::from_secs(3_600);
/// The stack's defaults: autoRepairDelaySeconds, the batch size and window, the function's
/// timeout and the queue's visibility timeout (six of them), autoRepairMaxReceiveCount.
const DELIVERY_DELAY: Duration = Duration::from_secs(600);
const BATCH_SIZE: usize = 10;
const BATCHING_WINDOW: Duration = Duration::from_secs(30);
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(900);
const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(6 * 900);
const MAX_RECEIVES: u32 = 5;
/// Contact Lens' account quota allows a burst of 2 whatever its rate.
const CONTACT_LENS_BURST: u32 = 2;
/// The org's daily API allocation the emulator starts with.
const API_ALLOCATION: u64 = 100_000;
const REPAIR_QUEUE: &str = "ContactDataSync-AutoRepair";
/// How often the simulated event source mapping looks at the queue (real time).
const TICK: Duration = Duration::from_millis(10);

/// One finished invocation: the process slot, the batch's message ids, the answer.
type Done = (usize, Vec<String>, Result<Value, InvokeError>);

struct Slot {
    api: Arc<RuntimeApi>,
    function: Function,
    busy: bool,
    /// Its last invocation timed out: Lambda replaces such an execution environment.
    timed_out: bool,
}

/// What one run counted, in simulated time.
struct Run {
    /// Per call (in `calls` order): when it ended and when its check was done.
    ended: Vec<Option<Duration>>,
    checked: Vec<Option<Duration>>,
    invocations: u64,
    /// Invocations that answered an error or nothing in time.
    failed_invocations: u64,
    deferrals: u64,
    dead_lettered: usize,
    /// Calls still in the queue at the end and the age of the oldest.
    waiting: usize,
    oldest_waiting: Option<Duration>,
}

/// Runs the scenario once and prints its figures; Ok(false) when Salesforce got duplicate
/// entries or a checked call's gaps were not all filled.
pub async fn run(o: &BusyHour) -> Result<bool, String> {
    let target = artifacts::target_dir()?;
    let binary = match &o.binary {
        Some(binary) => binary.clone(),
        None => {
            eprintln!("bench: cargo build --release -p contact-data-sync");
            artifacts::build_function(&target)?
        }
    };
    let logs = target.join("bench");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;

    eprintln!("bench: generating {} calls", o.calls_per_hour);
    let world = World::new(INSTANCE_ID);
    let calls = calls::add_calls(
        &world,
        o.calls_per_hour as usize,
        o.seed,
        o.gap_share,
        o.undelivered_share,
    );
    let emulators = Emulators::start(&world).await;
    register_sandbox_salesforce(&world, &emulators.salesforce.url());
    for service in [
        Service::Connect,
        Service::ContactLens,
        Service::SecretsManager,
    ] {
        world.set_latency(service, o.real(o.aws_latency));
    }
    world.set_latency(Service::Salesforce, o.real(o.salesforce_latency));
    world.set_entries_reads_per_hour(o.entries_limit);
    world.set_entries_reads_window(o.real(HOUR));
    world.set_api_allocation(o.api_used, API_ALLOCATION);
    let (function_env, configured) = function_env(o);
    let mut env = lambda_env(&emulators);
    env.extend(function_env);
    // Where the function re-sends what it defers; the code before this issue defers nothing.
    let repair_queue = (!o.as_before).then(|| world.create_queue(REPAIR_QUEUE));
    if let Some(url) = &repair_queue {
        env.push(("REPAIR_QUEUE_URL".to_owned(), url.clone()));
    }

    let mut slots = Vec::new();
    for i in 0..o.processes {
        let (function, api, _) = start_function(&env, &binary, &log(&logs, i)).await?;
        slots.push(Slot {
            api: Arc::new(api),
            function,
            busy: false,
            timed_out: false,
        });
    }
    eprintln!(
        "bench: {} processes of {}, logs in {}",
        o.processes,
        binary.display(),
        log(&logs, 0).display()
    );
    world.record_requests();
    // The bucket starts full when set: set it now so the start-up does not refill it.
    world.set_contact_lens_quota(o.contact_lens_quota * o.scale, CONTACT_LENS_BURST);
    let before = world.stats();
    let start = Instant::now();
    let stage = Stage {
        world: &world,
        repair_queue: repair_queue.as_deref(),
        env: &env,
        binary: &binary,
        logs: &logs,
    };
    let run = simulate(o, &stage, &calls, &mut slots, start).await?;
    let after = world.stats();
    for slot in slots {
        slot.function.stop().await;
    }
    let correct = report(o, &world, &calls, &run, start, &before, &after, &configured);
    Ok(correct)
}

fn log(logs: &Path, process: u32) -> PathBuf {
    logs.join(format!("busy-hour-{process}.log"))
}

/// The function's settings beyond Lambda's, and how to print them. After quota shares, the
/// stack's shares scaled by S; before, what an operator set: the account's Contact Lens quota
/// split evenly (a whole number of requests per second, as that code read it).
fn function_env(o: &BusyHour) -> (Vec<(String, String)>, String) {
    let env: Vec<(&str, String)> = if o.as_before {
        let per_process = (o.contact_lens_quota * o.scale / f64::from(o.processes)).floor();
        vec![(
            "CONTACT_LENS_REQUESTS_PER_SECOND",
            per_process.max(1.0).to_string(),
        )]
    } else {
        let s = shares::shares(
            o.budgets,
            o.processes + o.backfill_instances,
            o.manual_contacts,
        );
        vec![
            (
                "CONTACT_LENS_REQUESTS_PER_SECOND",
                format!("{:.4}", s.contact_lens_per_second * o.scale),
            ),
            (
                "DESCRIBE_CONTACT_REQUESTS_PER_SECOND",
                format!("{:.4}", s.describe_contact_per_second * o.scale),
            ),
            (
                "SALESFORCE_ENTRIES_READS_PER_HOUR",
                (s.entries_reads_per_hour as f64 * o.scale).to_string(),
            ),
            ("SALESFORCE_API_USAGE_CEILING_PERCENT", "80".to_owned()),
        ]
    };
    let shown = env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    (
        env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        shown,
    )
}

/// What the simulation needs besides its queue: the world, the queue the function re-sends
/// deferred messages to, and how to start a function process again.
struct Stage<'a> {
    world: &'a World,
    repair_queue: Option<&'a str>,
    env: &'a [(String, String)],
    binary: &'a Path,
    logs: &'a Path,
}

/// The hour and the drain: calls end, the queue delivers, the processes answer.
async fn simulate(
    o: &BusyHour,
    stage: &Stage<'_>,
    calls: &[Call],
    slots: &mut [Slot],
    start: Instant,
) -> Result<Run, String> {
    let simulated = |at: Instant| at.duration_since(start).mul_f64(o.scale);
    let index: HashMap<&str, usize> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| (c.contact_id.as_str(), i))
        .collect();
    let mut queue = Queue::new(o.real(VISIBILITY_TIMEOUT), MAX_RECEIVES);
    let mut resent: HashMap<String, u32> = HashMap::new();
    let mut run = Run {
        ended: vec![None; calls.len()],
        checked: vec![None; calls.len()],
        invocations: 0,
        failed_invocations: 0,
        deferrals: 0,
        dead_lettered: 0,
        waiting: 0,
        oldest_waiting: None,
    };
    let spacing = o.real(HOUR) / o.calls_per_hour;
    let end = start + o.real(HOUR + o.drain);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut next_call = 0;
    let mut window_opened: Option<Instant> = None;
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let now = Instant::now();
        while next_call < calls.len() && start + spacing * next_call as u32 <= now {
            let call = &calls[next_call];
            let ended = start + spacing * next_call as u32;
            queue.send(
                &call.contact_id,
                call.event(OffsetDateTime::now_utc()),
                json!({}),
                ended + o.real(DELIVERY_DELAY),
            );
            run.ended[next_call] = Some(simulated(ended));
            next_call += 1;
        }
        while let Ok(done) = done_rx.try_recv() {
            let mut finished = Finished {
                queue: &mut queue,
                run: &mut run,
                resent: &mut resent,
                index: &index,
            };
            finished.take(o, stage, done, slots, now, simulated(now));
        }
        for (at, slot) in slots.iter_mut().enumerate() {
            if slot.timed_out {
                let (function, api, _) =
                    start_function(stage.env, stage.binary, &log(stage.logs, at as u32)).await?;
                let old = std::mem::replace(&mut slot.function, function);
                old.stop().await;
                slot.api = Arc::new(api);
                slot.timed_out = false;
            }
        }
        if now >= end {
            break;
        }
        for (at, slot) in slots.iter_mut().enumerate() {
            if slot.busy {
                continue;
            }
            let visible = queue.visible(now, BATCH_SIZE);
            if visible == 0 {
                window_opened = None;
                break;
            }
            let opened = *window_opened.get_or_insert(now);
            if visible < BATCH_SIZE && now.duration_since(opened) < o.real(BATCHING_WINDOW) {
                break;
            }
            window_opened = None;
            let batch = queue.receive(now, BATCH_SIZE);
            if batch.is_empty() {
                continue;
            }
            let (ids, records): (Vec<String>, Vec<Value>) = batch.into_iter().unzip();
            slot.busy = true;
            run.invocations += 1;
            let api = slot.api.clone();
            let done = done_tx.clone();
            let timeout = o.real(FUNCTION_TIMEOUT);
            tokio::spawn(async move {
                let answer = api.invoke(json!({ "Records": records }), timeout).await;
                // The receiver outlives every invocation: the loop below waits for them.
                let _ = done.send((at, ids, answer));
            });
        }
    }
    // No new batch after the end; the ones in flight finish (within the function's timeout).
    while slots.iter().any(|slot| slot.busy) {
        let Some(done) = done_rx.recv().await else {
            break;
        };
        let now = Instant::now();
        let mut finished = Finished {
            queue: &mut queue,
            run: &mut run,
            resent: &mut resent,
            index: &index,
        };
        finished.take(o, stage, done, slots, now, simulated(now));
    }
    let now = simulated(Instant::now());
    run.dead_lettered = queue.dead.len();
    run.waiting = queue.waiting().count();
    run.oldest_waiting = queue
        .waiting()
        .filter_map(|m| run.ended[*index.get(m.contact_id.as_str())?])
        .map(|ended| now.saturating_sub(ended))
        .max();
    Ok(run)
}

/// What an invocation's answer changes.
struct Finished<'a> {
    queue: &'a mut Queue,
    run: &'a mut Run,
    /// Calls whose message the function re-sent and whose deleted original is not seen yet.
    resent: &'a mut HashMap<String, u32>,
    index: &'a HashMap<&'a str, usize>,
}

impl Finished<'_> {
    /// The messages the function re-sent join the queue after their delay, as new messages
    /// (never received). Then the messages it did not list in `batchItemFailures` are deleted
    /// (all stay, to come back after the visibility timeout, when it failed); a deleted
    /// message's call is checked now, unless the function re-sent it (a deferral).
    fn take(
        &mut self,
        o: &BusyHour,
        stage: &Stage<'_>,
        (at, ids, answer): Done,
        slots: &mut [Slot],
        now: Instant,
        simulated_now: Duration,
    ) {
        slots[at].busy = false;
        slots[at].timed_out = matches!(answer, Err(InvokeError::Timeout));
        for sent in stage
            .repair_queue
            .map(|url| stage.world.take_sent_messages(url))
            .unwrap_or_default()
        {
            let contact = contact_of(&sent.body);
            *self.resent.entry(contact.clone()).or_default() += 1;
            self.run.deferrals += 1;
            let delay = o.real(Duration::from_secs(u64::from(sent.delay_seconds)));
            self.queue.send(
                &contact,
                sent.body,
                event_attributes(&sent.attributes),
                now + delay,
            );
        }
        let failed: HashSet<String> = match &answer {
            Ok(response) => match response["batchItemFailures"].as_array() {
                Some(failures) => failures
                    .iter()
                    .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                    .collect(),
                // Lambda treats an answer it cannot read as a failure of the whole batch.
                None => ids.iter().cloned().collect(),
            },
            Err(_) => ids.iter().cloned().collect(),
        };
        if answer.is_err() {
            self.run.failed_invocations += 1;
        }
        for id in ids.iter().filter(|id| !failed.contains(*id)) {
            let Some(message) = self.queue.delete(id) else {
                continue;
            };
            match self.resent.get_mut(&message.contact_id) {
                Some(pending) if *pending > 0 => *pending -= 1,
                _ => {
                    if let Some(&call) = self.index.get(message.contact_id.as_str()) {
                        self.run.checked[call] = Some(simulated_now);
                    }
                }
            }
        }
    }
}

/// The contactId of a DISCONNECTED event's body; empty when it has none.
fn contact_of(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|event| event["detail"]["contactId"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Sent message attributes as Lambda's SQS event gives them. Only String and Number values:
/// the function sends no Binary attribute.
fn event_attributes(attributes: &BTreeMap<String, MessageAttribute>) -> Value {
    attributes
        .iter()
        .map(|(name, attribute)| {
            let value = json!({
                "stringValue": attribute.string_value,
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": attribute.data_type,
            });
            (name.clone(), value)
        })
        .collect::<serde_json::Map<String, Value>>()
        .into()
}

/// Most instants of `times` (sorted) within any `window`.
fn peak(times: &[Instant], window: Duration) -> usize {
    let mut first = 0;
    let mut best = 0;
    for (last, &at) in times.iter().enumerate() {
        while at.duration_since(times[first]) >= window {
            first += 1;
        }
        best = best.max(last - first + 1);
    }
    best
}

/// Most of `times` (simulated, any order) within any simulated hour.
fn busiest_hour(times: impl Iterator<Item = Duration>) -> usize {
    let mut times: Vec<Duration> = times.collect();
    times.sort();
    let mut first = 0;
    let mut best = 0;
    for last in 0..times.len() {
        while times[last] - times[first] >= HOUR {
            first += 1;
        }
        best = best.max(last - first + 1);
    }
    best
}

/// Whether the conversation holds every turn of the call.
fn whole(world: &World, call: &Call) -> bool {
    let held: HashSet<String> = world
        .conversation_entries(&call.contact_id)
        .iter()
        .filter_map(|e| e["identifier"].as_str().map(str::to_owned))
        .collect();
    call.segment_ids.iter().all(|id| held.contains(id))
}

#[allow(clippy::too_many_arguments)]
fn report(
    o: &BusyHour,
    world: &World,
    calls: &[Call],
    run: &Run,
    start: Instant,
    before: &emulators::Stats,
    after: &emulators::Stats,
    configured: &str,
) -> bool {
    let code = if o.as_before {
        "before (operator's settings of 743da9e)"
    } else {
        "after (the stack's quota shares)"
    };
    println!(
        "busy hour: {} calls/h for 1 h, then {} min without calls; compressed x{} (1 h = {:.0} s); \
         {} function processes, {code}",
        o.calls_per_hour,
        o.drain.as_secs() / 60,
        o.scale,
        o.real(HOUR).as_secs_f64(),
        o.processes,
    );
    println!(
        "  quotas: Contact Lens {}/s burst {CONTACT_LENS_BURST}, entries reads {}/h per app user, \
         API {} of {API_ALLOCATION} used at the start; budgets: Contact Lens {}/s, DescribeContact \
         {}/s, entries {}/h; {} background instances ({} repair + {} backfill)",
        o.contact_lens_quota,
        o.entries_limit,
        o.api_used,
        o.budgets.contact_lens_per_second,
        o.budgets.describe_contact_per_second,
        o.budgets.entries_reads_per_hour,
        o.processes + o.backfill_instances,
        o.processes,
        o.backfill_instances,
    );
    println!(
        "  latency (scaled like every delay): AWS {} ms, Salesforce {} ms",
        o.aws_latency.as_millis(),
        o.salesforce_latency.as_millis()
    );
    println!("  function env (x{} where scaled): {configured}", o.scale);

    let with_gaps: Vec<(usize, &Call)> = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.delivery != Delivery::Complete)
        .collect();
    let nothing = calls
        .iter()
        .filter(|c| c.delivery == Delivery::Nothing)
        .count();
    let ended = run.ended.iter().flatten().count();
    let checked = run.checked.iter().flatten().count();
    let repaired: Vec<Duration> = with_gaps
        .iter()
        .filter(|(i, call)| run.checked[*i].is_some() && whole(world, call))
        .filter_map(|(i, _)| run.checked[*i])
        .collect();
    let checked_gaps = with_gaps
        .iter()
        .filter(|(i, _)| run.checked[*i].is_some())
        .count();
    let whole_gaps = with_gaps.iter().filter(|(_, c)| whole(world, c)).count();
    let busiest_checked = busiest_hour(run.checked.iter().flatten().copied());
    let busiest_repaired = busiest_hour(repaired.iter().copied());

    let records = world.requests();
    let times = |service: Service, entries: bool, admitted_only: bool| -> Vec<Instant> {
        records
            .iter()
            .filter(|r| r.service == service && r.received >= start)
            .filter(|r| !entries || (r.method == "GET" && r.path.ends_with("/entries")))
            .filter(|r| !admitted_only || r.status() == Some(200))
            .map(|r| r.received)
            .collect()
    };
    let second = o.real(Duration::from_secs(1));
    let cl_all = times(Service::ContactLens, false, false);
    let cl_peak = peak(&cl_all, second);
    let cl_admitted = peak(&times(Service::ContactLens, false, true), second);
    let cl_limit = o.contact_lens_quota + f64::from(CONTACT_LENS_BURST);
    let dc_all = times(Service::Connect, false, false);
    let dc_peak = peak(&dc_all, second);
    let en_admitted = times(Service::Salesforce, true, true);
    let en_peak = peak(&en_admitted, o.real(HOUR));
    let en_tried = peak(&times(Service::Salesforce, true, false), o.real(HOUR));
    let cl_throttled = after.contact_lens.throttled - before.contact_lens.throttled;
    let dc_throttled = after.connect.throttled - before.connect.throttled;
    let refused = after.entries_reads_refused - before.entries_reads_refused;
    let api_used = world.api_usage().0 - o.api_used;
    let duplicates = world.duplicate_entries();
    let gaps_verdict = if repaired.len() == checked_gaps {
        format!("yes: all {checked_gaps} checked calls with gaps are whole")
    } else {
        format!(
            "NO: {} of {checked_gaps} checked calls with gaps are whole",
            repaired.len()
        )
    };
    let minutes = |d: Duration| d.as_secs_f64() / 60.0;
    let oldest = run
        .oldest_waiting
        .map_or("none".to_owned(), |d| format!("{:.0} min", minutes(d)));

    let line = |name: &str, figure: String| println!("{name:<20} {figure}");
    line(
        "calls ended",
        format!(
            "{ended} ({} with gaps, {nothing} with nothing delivered)",
            with_gaps.len() - nothing
        ),
    );
    line(
        "calls checked",
        format!(
            "{checked}; busiest hour {busiest_checked}; {} invocations ({} failed or timed out)",
            run.invocations, run.failed_invocations
        ),
    );
    line(
        "calls repaired",
        format!(
            "{} of {} with gaps or nothing; busiest hour {busiest_repaired}; {whole_gaps} whole at the end",
            repaired.len(),
            with_gaps.len()
        ),
    );
    line(
        "Contact Lens",
        format!(
            "peak {cl_peak} requests in any 1 s ({cl_admitted} admitted) vs {cl_limit} ({}/s + burst \
             {CONTACT_LENS_BURST}); {cl_throttled} throttled (429); {} requests in all",
            o.contact_lens_quota,
            cl_all.len()
        ),
    );
    line(
        "DescribeContact",
        format!(
            "peak {dc_peak} in any 1 s vs budget {}/s (the emulator has no quota); {dc_throttled} \
             throttled; {} in all",
            o.budgets.describe_contact_per_second,
            dc_all.len()
        ),
    );
    line(
        "entries GETs",
        format!(
            "peak {en_peak} admitted in any hour ({en_tried} tried) vs {} per hour; {refused} refused \
             (503); {} admitted in all",
            o.entries_limit,
            en_admitted.len()
        ),
    );
    line(
        "API allocation",
        format!(
            "{api_used} REST calls ({:.2} % of {API_ALLOCATION} per 24 h)",
            api_used as f64 * 100.0 / API_ALLOCATION as f64
        ),
    );
    line("deferrals", format!("{} re-sent messages", run.deferrals));
    line("dead-lettered", run.dead_lettered.to_string());
    line(
        "oldest waiting",
        format!("{oldest} at the end ({} calls in the queue)", run.waiting),
    );
    line("duplicates", duplicates.to_string());
    line("gaps repaired", gaps_verdict.clone());
    println!(
        "row: | {} | {} | {} | {ended} | {checked} ({busiest_checked}) | {} of {} ({busiest_repaired}) \
         | {cl_peak} / {cl_limit} | {en_peak} / {} | {dc_peak} | {api_used} | {} | {refused} | {} | {} \
         | {oldest} | {duplicates} | {} |",
        o.calls_per_hour,
        if o.contact_lens_quota > 1.0 || o.entries_limit > 1_000 {
            "raised"
        } else {
            "default"
        },
        if o.as_before { "before" } else { "after" },
        repaired.len(),
        with_gaps.len(),
        o.entries_limit,
        cl_throttled + dc_throttled,
        run.deferrals,
        run.dead_lettered,
        if repaired.len() == checked_gaps {
            "yes"
        } else {
            "no"
        },
    );
    duplicates == 0 && repaired.len() == checked_gaps
}
