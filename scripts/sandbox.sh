#!/usr/bin/env bash
# The local sandbox: builds the function, starts the emulators of Amazon Connect, Contact Lens,
# Secrets Manager and Salesforce with sample contacts, runs the function under cargo-lambda's
# Lambda runtime emulator, and invokes both operations with the documented example payloads;
# then uploads the same contacts again (nothing is doubled) and two calls older than 24 hours
# (read from Contact Lens post-call analysis files in the S3 emulator); repairs a call whose
# real-time delivery lost half its entries, from an SQS event as automatic repair receives it;
# repairs a call transferred from one agent to another (two contacts, one Salesforce
# conversation) whose real-time delivery lost entries of both legs, from an SQS event holding
# its legs' DISCONNECTED events in reverse order and repeated; and lists the last three days'
# calls from Salesforce into a backfill manifest.
#
#   scripts/sandbox.sh [--secret-format project|scv|scv-ssm]
#
# The Salesforce credentials come from the project's secret (default), Service Cloud Voice's own
# secret with its token-cache secret (scv), or SCV's older SSM parameters (scv-ssm).
# The binaries are built into $CARGO_TARGET_DIR when it is set, else into target/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --rust-only

secret_format=project
case "${1:-}" in
  "") ;;
  --secret-format) secret_format=${2:?--secret-format needs project, scv or scv-ssm} ;;
  *) echo "usage: scripts/sandbox.sh [--secret-format project|scv|scv-ssm]" >&2; exit 2 ;;
esac

port=${SANDBOX_PORT:-9009}
target_dir=${CARGO_TARGET_DIR:-target}
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_for() { # description, then a command that succeeds when ready
  local what=$1; shift
  for _ in $(seq 100); do "$@" 2>/dev/null && return 0; sleep 0.1; done
  echo "sandbox: $what did not start" >&2
  cat "$work"/*.log >&2
  return 1
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
show() { # title, then a JSON document on stdin: printed with any Payload string expanded
  printf '\n--- %s\n' "$1"
  python3 -c '
import json, sys
doc = json.load(sys.stdin)
for item in doc if isinstance(doc, list) else [doc]:
    if isinstance(item.get("Payload"), str):
        item["Payload"] = json.loads(item["Payload"])
print(json.dumps(doc, indent=2, ensure_ascii=False))'
}

echo "sandbox: building the function and the emulators"
cargo build --quiet -p contact-data-sync -p emulators --bins

"$target_dir/debug/emulators" --env-file "$work/emulators.env" --secret-format "$secret_format" \
  2>"$work/emulators.log" &
pids+=($!)
wait_for "the emulators" test -s "$work/emulators.env"
echo "sandbox: Salesforce credentials from the $secret_format format:"
grep '^SALESFORCE_' "$work/emulators.env"

cargo lambda watch --only-lambda-apis --invoke-address 127.0.0.1 --invoke-port "$port" \
  >"$work/runtime-api.log" 2>&1 &
pids+=($!)
wait_for "the Lambda runtime emulator (cargo lambda watch) on port $port" port_open "$port"

(
  set -a
  . "$work/emulators.env"
  AWS_LAMBDA_FUNCTION_NAME=_ AWS_LAMBDA_FUNCTION_VERSION='$LATEST' AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128
  AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$port/.rt" AWS_LAMBDA_LOG_FORMAT=JSON
  exec "$target_dir/debug/contact-data-sync"
) >"$work/function.log" 2>&1 &
pids+=($!)

invoke() { cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$port" "$@"; }

upload=$(invoke --data-file tests/fixtures/requests/upload-transcript.json)
show "uploadTranscript (tests/fixtures/requests/upload-transcript.json)" <<<"$upload"

# The documented status example names uploads that exist only in its author's org; ask
# about the ones this run just made instead.
status_request=$(python3 -c '
import json, sys
results = [r for e in json.load(sys.stdin) for r in json.loads(e["Payload"])["conversationBulkUploadsResults"]]
print(json.dumps({"operation": "fetchUploadIdsStatus", "uploadIds": [r["uploadId"] for r in results if r["uploadId"]]}))
' <<<"$upload")
status=$(invoke --data-ascii "$status_request")
show "fetchUploadIdsStatus $status_request" <<<"$status"

show "fetchUploadIdsStatus (tests/fixtures/requests/fetch-upload-ids-status.json: ids from the documentation, unknown here)" \
  <<<"$(invoke --data-file tests/fixtures/requests/fetch-upload-ids-status.json)"

again=$(invoke --data-file tests/fixtures/requests/upload-transcript.json)
show "uploadTranscript again: Salesforce already holds both transcripts, so nothing is doubled" <<<"$again"

old_calls=$(invoke --data-file tests/fixtures/requests/upload-older-than-a-day.json)
show "uploadTranscript of calls older than 24 hours, from Contact Lens post-call analysis files in S3 (tests/fixtures/requests/upload-older-than-a-day.json)" <<<"$old_calls"

# Automatic repair: Salesforce holds 4 of the call's 8 entries; the dry runs show the gap before
# and after the function handles the SQS event of its DISCONNECTED contact event.
partial='{"operation":"uploadTranscript","dryRun":true,"payload":[{"contactId":"3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a08","relatedRecords":["0LQ1Q000003SB08"]}]}'
before=$(invoke --data-ascii "$partial")
show "dry run before the repair: what Salesforce lacks of call ...1a08" <<<"$before"
repair=$(invoke --data-file tests/fixtures/events/sqs-contact-disconnected.json)
show "automatic repair of the SQS event tests/fixtures/events/sqs-contact-disconnected.json (batchItemFailures: messages to deliver again)" <<<"$repair"
repair_log() { # the "contact event processed" log lines from line $1 of the function's log on
  tail -n "+$1" "$work/function.log" | grep '"contact event processed"' | python3 -c '
import json, sys
first_message = {}
for line in sys.stdin:
    f = json.loads(line).get("fields", {})
    contact, message = f.get("contactId"), f.get("messageId")
    reason = " (%s)" % f["reason"] if f.get("reason") else ""
    if contact in first_message:  # a batch checks and uploads each contact once
        done = "the same check and upload as message %s" % first_message[contact]
    else:
        first_message[contact] = message
        done = "%s entries uploaded" % f.get("entries")
    print("filled: message %s, contact %s: %s%s, %s" % (message, contact, f.get("outcome"), reason, done))'
}
repair_log 1
after=$(invoke --data-ascii "$partial")
show "dry run after the repair" <<<"$after"

# A transferred call: a cold transfer from contact ...1a09 (first leg, VoiceCall 0LQ1Q000003SBT1)
# to ...1a10 (second leg, 0LQ1Q000003SBT2). Salesforce keeps both legs in one conversation, under
# the first leg's contactId, and holds 2 of the first leg's 4 entries and 3 of the second's 6.
# The SQS event holds the legs' DISCONNECTED events as they may come: the second leg's, the
# first's, the second's again. Only the second leg's (the leg that ended last) uploads: both
# legs' missing entries in one part; the first leg's is COVERED_BY_LAST_LEG.
legs='{"operation":"uploadTranscript","dryRun":true,"payload":[{"contactId":"3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a09","relatedRecords":["0LQ1Q000003SBT1"]},{"contactId":"3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a10","relatedRecords":["0LQ1Q000003SBT2"]}]}'
legs_before=$(invoke --data-ascii "$legs")
show "dry run before the repair of the transferred call ...1a09 -> ...1a10: each leg's call, conversation and gap" <<<"$legs_before"
log_from=$(($(wc -l <"$work/function.log") + 1))
legs_repair=$(invoke --data-file tests/fixtures/events/sqs-transferred-call-disconnected.json)
show "automatic repair of the SQS event tests/fixtures/events/sqs-transferred-call-disconnected.json (second leg, first leg, second leg again)" <<<"$legs_repair"
repair_log "$log_from"
legs_after=$(invoke --data-ascii "$legs")
show "dry run of both legs after the repair" <<<"$legs_after"

window_request=$(python3 -c '
import datetime, json
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
print(json.dumps({"operation": "buildBackfillManifest", "from": (now - datetime.timedelta(days=3)).isoformat().replace("+00:00", "Z"),
                  "to": now.isoformat().replace("+00:00", "Z"), "executionName": "sandbox-window"}))')
window=$(invoke --data-ascii "$window_request")
show "the backfill state machine's first step for a time window: $window_request" <<<"$window"

printf '\n--- the function'"'"'s log lines (JSON; metrics in Embedded Metric Format)\n'
cat "$work/function.log"

python3 - "$upload" "$status" "$again" "$old_calls" "$before" "$repair" "$after" \
  "$legs_before" "$legs_repair" "$legs_after" "$window" <<'PY'
import json, sys
upload, status, again, old_calls, before, repair, after, legs_before, legs_repair, legs_after, window = (
    json.loads(a) for a in sys.argv[1:])
first_leg = "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a09"
def dry_all(response):
    return json.loads(response[0]["Payload"])["dryRunResults"]
def dry(response):
    return dry_all(response)[0]
def results(response):
    return [r for e in response for r in json.loads(e["Payload"])["conversationBulkUploadsResults"]]
def all_of(response, status):
    found = results(response)
    return len(found) == 2 and all(r["status"] == status for r in found)
statuses = json.loads(status["Payload"])["conversationBulkUploadStatuses"]
checks = {
    "both transcripts uploaded": all_of(upload, "SUCCESS"),
    "and confirmed": len(statuses) == 2 and all(s["status"] == "SUCCESS" for s in statuses),
    "a re-run skipped both": all_of(again, "SKIPPED"),
    "both calls older than a day uploaded": all_of(old_calls, "SUCCESS"),
    "a call missing 4 of its 8 entries": dry(before)["entries"] == 4 and dry(before)["alreadyInSalesforce"] == 4,
    "repaired from its SQS event": repair == {"batchItemFailures": []},
    "and then complete": dry(after)["status"] == "WOULD_SKIP",
    "a transferred call missing entries of both legs, in the first leg's conversation": len(dry_all(legs_before)) == 2
        and all(r["conversation"] == first_leg and r["entries"] > 0 for r in dry_all(legs_before)),
    "repaired from its legs' SQS events": legs_repair == {"batchItemFailures": []},
    "and then both legs complete": len(dry_all(legs_after)) == 2
        and all(r["status"] == "WOULD_SKIP" for r in dry_all(legs_after)),
    "the window's calls listed into a manifest": window.get("manifestKey") == "manifests/windows/sandbox-window.csv" and window.get("contacts", 0) >= 8,
}
failed = [name for name, ok in checks.items() if not ok]
print("\nsandbox: " + (", ".join(checks) if not failed else "UNEXPECTED RESULT: " + ", ".join(failed)))
sys.exit(1 if failed else 0)
PY
