//! Manifest fixtures through the validator, and the `backfill validate` binary end to end.

mod common;

use std::path::PathBuf;

use backfill::domain::manifest::{ManifestFormat, PRINTED_PROBLEMS, check};
use common::{fixtures, run_backfill};

fn manifest(name: &str) -> PathBuf {
    fixtures().join("manifests").join(name)
}

fn expected(name: &str) -> String {
    let path = manifest(&format!("{name}.expected"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn checked(name: &str) -> Result<usize, String> {
    let format = ManifestFormat::from_file_name(name).expect("a manifest extension");
    let data = std::fs::read(manifest(name)).expect("read the fixture");
    check(format, &data).map_err(|problems| problems.render(PRINTED_PROBLEMS))
}

#[test]
fn good_manifests_pass() {
    assert_eq!(checked("good.csv"), Ok(5));
    assert_eq!(checked("good.jsonl"), Ok(3));
}

/// Each bad fixture's `<name>.expected` holds its problems, exactly as printed.
const BAD: [&str; 7] = [
    "bad-header.csv",
    "bad-rows.csv",
    "bad-rows.jsonl",
    "empty.csv",
    "empty.jsonl",
    "header-only.csv",
    "many-problems.csv",
];

#[test]
fn bad_manifests_report_every_problem_by_line() {
    for name in BAD {
        assert_eq!(checked(name), Err(expected(name)), "{name}");
    }
}

#[test]
fn the_printed_list_stops_at_fifty() {
    let printed = expected("many-problems.csv");
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 51);
    assert!(
        lines[49].starts_with("line 51: contactId: "),
        "{}",
        lines[49]
    );
    assert_eq!(lines[50], "… and 10 more");
}

#[tokio::test]
async fn validate_prints_the_count_or_the_problems_and_exits_accordingly() {
    for (name, contacts) in [("good.csv", 5), ("good.jsonl", 3)] {
        let path = manifest(name);
        let run = run_backfill(&["validate", path.to_str().expect("UTF-8 path")], &[]).await;
        assert_eq!(run.code, Some(0), "{run:?}");
        assert_eq!(run.stdout, format!("{contacts} contacts OK\n"));
        assert_eq!(run.stderr, "");
    }
    for (name, count) in [
        ("bad-rows.csv", 10),
        ("bad-rows.jsonl", 9),
        ("empty.csv", 1),
    ] {
        let path = manifest(name);
        let path = path.to_str().expect("UTF-8 path");
        let run = run_backfill(&["validate", path], &[]).await;
        assert_eq!(run.code, Some(1), "{run:?}");
        assert_eq!(
            run.stdout,
            format!("{}{path}: {count} problem(s)\n", expected(name))
        );
        assert_eq!(run.stderr, "");
    }
}

#[tokio::test]
async fn validate_refuses_other_file_types_and_missing_files() {
    let json = manifest("calls.json");
    let run = run_backfill(&["validate", json.to_str().expect("UTF-8 path")], &[]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: calls.json: unsupported manifest type; use a .csv file (header contactId,relatedRecords) or a .jsonl file (one {\"contactId\",\"relatedRecords\"} object a line)\n"
    );
    let missing = manifest("missing.csv");
    let missing = missing.to_str().expect("UTF-8 path");
    let run = run_backfill(&["validate", missing], &[]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .starts_with(&format!("error: cannot read {missing}: No such file")),
        "{}",
        run.stderr
    );
    let run = run_backfill(&["validate"], &[]).await;
    assert_eq!(run.code, Some(2), "a usage error: {run:?}");
}
