//! CSV sources: columns by header name, `$` amounts, local timestamps in a time zone, and
//! day windows on the local wall clock; expected values are worked out by hand below.

mod common;

use common::run_into;

const DATAFLOW: &str = r#"
name = "fares"
[source]
uri = "file:trips.csv"
[fields]
start = "Trip Start Timestamp"
fare = "Fare"
area = "Pickup Community Area"
[time]
field = "start"
format = "%m/%d/%Y %I:%M:%S %p"
time_zone = "America/Chicago"
max_out_of_orderness = "1h"
allowed_lateness = "0s"
[[output]]
name = "hourly"
window = { tumbling = "1h" }
key = ["area"]
aggregates = [
  { name = "trips", fn = "count" },
  { name = "fare_total", fn = "sum", field = "fare" },
  { name = "fare_avg", fn = "avg", field = "fare" },
  { name = "fare_min", fn = "min", field = "fare" },
  { name = "fare_max", fn = "max", field = "fare" },
]
[[output]]
name = "daily"
window = { tumbling = "1d", time_zone = "America/Chicago" }
aggregates = [{ name = "trips", fn = "count" }]
"#;

const TRIPS: &str = "\
Trip ID,Trip Start Timestamp,Fare,Pickup Community Area
a,04/18/2015 11:15:00 PM,$7.65,8
b,04/18/2015 11:45:00 PM,$12.25,8
c,04/18/2015 11:30:00 PM,,32
d,04/19/2015 12:15:00 AM,$5.00,8
e,04/19/2015 01:00:00 AM,$3.10,
f,not a time,$1.00,8
";

#[test]
fn csv_rows_aggregate_in_local_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("trips.csv"), TRIPS).expect("csv");
    let dataflow = dir.path().join("fares.toml");
    std::fs::write(&dataflow, DATAFLOW).expect("dataflow");
    let run = run_into(dir.path(), dataflow.to_str().expect("path"), None, &[]);
    let stderr = &run.stderr;
    assert!(
        stderr.contains("read 6, kept 5, filtered 0, duplicates 0, late 0, dead letters 1"),
        "{stderr}"
    );

    // Row f has no valid time: dead letter. Row e has no pickup area, which only the hourly
    // output keys by: it is left out there and counted in the daily output.
    let letters = &run.dead;
    let lines: Vec<u64> = letters
        .iter()
        .map(|l| l["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(lines, vec![7]);
    assert!(
        letters[0]["reason"]
            .as_str()
            .expect("reason")
            .starts_with("field `start`"),
        "{}",
        letters[0]
    );
    assert!(!rows_have_area_missing(&run.rows));

    let rows = &run.rows;
    let hourly = |area: &str, start: &str| {
        rows.iter()
            .find(|r| r["output"] == "hourly" && r["area"] == area && r["window_start"] == start)
            .unwrap_or_else(|| panic!("no hourly row for {area} at {start}"))
            .clone()
    };
    // 11 PM CDT on 2015-04-18 is 04:00 UTC on the 19th.
    let eight = hourly("8", "2015-04-19T04:00:00.000Z");
    assert_eq!(eight["trips"], 2);
    assert_eq!(eight["fare_total"], 19.9);
    assert_eq!(eight["fare_avg"], 9.95);
    assert_eq!(eight["fare_min"], 7.65);
    assert_eq!(eight["fare_max"], 12.25);
    let no_fare = hourly("32", "2015-04-19T04:00:00.000Z");
    assert_eq!(no_fare["trips"], 1);
    assert!(
        no_fare["fare_total"].is_null(),
        "a missing fare is left out, not zero"
    );
    assert_eq!(hourly("8", "2015-04-19T05:00:00.000Z")["fare_total"], 5.0);

    // Days start at local midnight: 05:00 UTC during daylight saving time.
    let mut daily: Vec<(String, u64)> = rows
        .iter()
        .filter(|r| r["output"] == "daily")
        .map(|r| {
            (
                r["window_start"].as_str().expect("start").to_string(),
                r["trips"].as_u64().expect("trips"),
            )
        })
        .collect();
    daily.sort();
    assert_eq!(
        daily,
        vec![
            ("2015-04-18T05:00:00.000Z".to_string(), 3),
            ("2015-04-19T05:00:00.000Z".to_string(), 2)
        ]
    );
}

/// Whether some hourly row has no area.
fn rows_have_area_missing(rows: &[serde_json::Value]) -> bool {
    rows.iter()
        .any(|r| r["output"] == "hourly" && r["area"].is_null())
}
