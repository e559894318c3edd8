//! `backfill`: the operators' command-line tool for contact-data-sync backfills, run by the
//! backfill Step Functions state machine (a Distributed Map that sends 100 manifest rows to each
//! function invocation, then summarizes the results).
//!
//! # Manifests
//!
//! - CSV (`*.csv`): exactly the header `contactId,relatedRecords`, then one contact a row;
//!   `relatedRecords` lists one or more Salesforce VoiceCall ids separated by `;`
//!   (`faaa3a21-5990-48cd-a035-e85ca8c861ff,0LQ1Q000002TZtn;0LQ1Q000002TAtn`).
//! - JSON Lines (`*.jsonl`): one object a line, like one item of an uploadTranscript `payload`
//!   (`{"contactId":"faaa3a21-…","relatedRecords":["0LQ1Q000002TZtn"]}`).
//!
//! Every row is checked with the function's own request parser, and a contactId may appear only
//! once. The function rejects a batch of 100 as a whole when one of its contacts is malformed,
//! so `start` uploads nothing while the manifest has any problem.
//!
//! # Time windows
//!
//! `start --from --to` needs no manifest: the state machine's first step has the function list
//! every Salesforce VoiceCall that started in `[from, to)` into
//! `manifests/windows/<execution name>.csv`, then runs as for a manifest. The window is checked
//! first with the function's own rules (ISO 8601 instants with a zone, `from` before `to`, at
//! most 31 days apart); a window it would refuse starts nothing. An execution whose window the
//! function refuses (one started from the console, say) FAILS with the error `BadRequest`, and
//! `report` prints the function's message as the cause.
//!
//! # Commands
//!
//! ```text
//! backfill validate calls.csv                # offline: "<n> contacts OK", or the problems (exit 1)
//! backfill start calls.csv [--watch]         # validate, upload to s3://<bucket>/manifests/, start
//! backfill start --from 2026-11-01T00:00:00Z --to 2026-11-08T00:00:00Z [--watch]
//!                                            # start on the calls Salesforce lists in the window
//! backfill watch <execution-arn> [--interval 5]   # progress bar until it ends, then the report
//! backfill report <execution-arn> [--failed-manifest failed.csv]
//! backfill start failed.csv                  # retry the contacts that failed
//! ```
//!
//! `report` prints the totals per status and failure code of a SUCCEEDED execution and saves its
//! `failed.csv` with `--failed-manifest`; prints progress while it is RUNNING; and prints the
//! error and cause of a FAILED, TIMED_OUT or ABORTED one, exiting with 1.
//!
//! # Where things are
//!
//! The state machine and the bucket are the `BackfillStateMachineArn` and `BackfillBucketName`
//! outputs of the CloudFormation stack `--stack` (default `ContactDataSync`), unless
//! `--state-machine-arn` / `--bucket` (or `BACKFILL_STATE_MACHINE_ARN` / `BACKFILL_BUCKET`) say
//! otherwise. Credentials and region come from the standard AWS chain (`AWS_PROFILE`,
//! `AWS_REGION`, …); `AWS_ENDPOINT_URL` points every client at an emulator.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    backfill::cli::run(backfill::cli::Cli::parse()).await
}
