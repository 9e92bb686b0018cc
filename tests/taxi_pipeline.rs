//! `dataflows/taxi.toml` on the real trips of both layouts (the TFX sample and the City of
//! Chicago export sample in `data/chicago_taxi/`), checked against plain batch computations
//! over the CSV files, and its handling of bad rows.

mod common;

use chrono::{TimeZone, Timelike};
use common::{root, run_into};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// One trip as the test reads it: start (UTC ms), fare, tips, trip total, pickup area and
/// point.
#[derive(Clone, Debug)]
struct Trip {
    start: i64,
    fare: Option<f64>,
    tips: Option<f64>,
    total: Option<f64>,
    area: Option<String>,
    point: Option<(f64, f64)>,
}

fn money(cell: Option<&str>) -> Option<f64> {
    let cell = cell?.trim().trim_start_matches('$');
    (!cell.is_empty()).then(|| cell.parse().expect("amount"))
}

/// Reads either layout by its header names.
fn trips(file: &Path) -> Vec<Trip> {
    let mut reader = csv::Reader::from_path(file).expect("csv");
    let header = reader.headers().expect("header").clone();
    let column = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| header.iter().position(|h| h == *n))
    };
    let start = column(&["trip_start_timestamp", "Trip Start Timestamp"]).expect("start");
    let fare = column(&["fare", "Fare"]);
    let tips = column(&["tips", "Tips"]);
    let total = column(&["trip_total", "Trip Total"]);
    let area = column(&["pickup_community_area", "Pickup Community Area"]);
    let lat = column(&["pickup_latitude", "Pickup Centroid Latitude"]);
    let lon = column(&["pickup_longitude", "Pickup Centroid Longitude"]);
    reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            let get = |i: Option<usize>| i.and_then(|i| r.get(i)).filter(|c| !c.is_empty());
            let text = get(Some(start)).expect("start");
            let start = match text.parse::<i64>() {
                Ok(seconds) => seconds * 1000,
                Err(_) => {
                    let local = chrono::NaiveDateTime::parse_from_str(text, "%m/%d/%Y %I:%M:%S %p")
                        .expect("local time");
                    chrono_tz::America::Chicago
                        .from_local_datetime(&local)
                        .earliest()
                        .expect("exists")
                        .timestamp_millis()
                }
            };
            let point = match (money(get(lat)), money(get(lon))) {
                (Some(a), Some(b)) => Some((a, b)),
                _ => None,
            };
            Trip {
                start,
                fare: money(get(fare)),
                tips: money(get(tips)),
                total: money(get(total)),
                area: get(area).map(String::from),
                point,
            }
        })
        .collect()
}

fn millis(row: &Value, field: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(row[field].as_str().expect("time"))
        .expect("rfc3339")
        .timestamp_millis()
}

fn close(value: &Value, want: Option<f64>) -> bool {
    match (value.as_f64(), want) {
        (Some(v), Some(w)) => (v - w).abs() <= 1e-6,
        (None, None) => value.is_null(),
        _ => false,
    }
}

fn sum(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    values
        .flatten()
        .fold(None, |s, v| Some(s.unwrap_or(0.0) + v))
}

fn avg(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let present: Vec<f64> = values.flatten().collect();
    (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64)
}

/// The centre of the 0.01° cell holding a point, as the dataflow names it.
fn cell((lat, lon): (f64, f64)) -> String {
    let centre = |x: f64| (x / 0.01).floor() * 0.01 + 0.005;
    format!("{:.3},{:.3}", centre(lat), centre(lon))
}

fn run(dir: &Path, source: &Path) -> common::Finished {
    run_into(dir, "dataflows/taxi.toml", Some(source), &[])
}

fn rows<'r>(run: &'r common::Finished, output: &str) -> Vec<&'r Value> {
    run.rows
        .iter()
        .filter(|r| r["output"] == output && r["final"] == true)
        .collect()
}

/// The trips starting in `[start, end)` of trips sorted by start.
fn between<T>(sorted: &[T], start: i64, end: i64, time: impl Fn(&T) -> i64) -> &[T] {
    let lo = sorted.partition_point(|t| time(t) < start);
    let hi = sorted.partition_point(|t| time(t) < end);
    &sorted[lo..hi]
}

/// The windows and top-10 (by trips, ties by key) of a ranked output, from the trips (sorted
/// by start).
fn check_hotspots(run: &common::Finished, output: &str, key: &str, trips: &[(i64, String)]) {
    let mut ranked: BTreeMap<(i64, i64), Vec<(u64, String)>> = BTreeMap::new();
    for row in rows(run, output) {
        ranked
            .entry((millis(row, "window_start"), millis(row, "window_end")))
            .or_default()
            .push((
                row["rank"].as_u64().expect("rank"),
                row[key].as_str().expect("key").to_string(),
            ));
    }
    // Every sliding hour (every 15 minutes) holding a trip has a ranking.
    let mut windows = std::collections::BTreeSet::new();
    for (t, _) in trips {
        let last_start = t.div_euclid(900_000) * 900_000;
        for k in 0..4 {
            windows.insert((
                last_start - k * 900_000,
                last_start - k * 900_000 + 3_600_000,
            ));
        }
    }
    assert_eq!(
        ranked.keys().copied().collect::<Vec<_>>(),
        windows.iter().copied().collect::<Vec<_>>(),
        "{output}: one ranking per window with trips"
    );
    for ((start, end), mut got) in ranked {
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for (_, k) in between(trips, start, end, |t| t.0) {
            *counts.entry(k).or_default() += 1;
        }
        let mut want: Vec<(u64, &str)> = counts.into_iter().map(|(k, n)| (n, k)).collect();
        want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        want.truncate(10);
        got.sort();
        let got: Vec<&str> = got.iter().map(|(_, k)| k.as_str()).collect();
        let want: Vec<&str> = want.iter().map(|(_, k)| *k).collect();
        assert_eq!(got, want, "{output} at {start}");
    }
}

#[test]
fn tfx_trips_match_batch_totals_day_totals_and_hotspots() {
    let dir = tempfile::tempdir().expect("dir");
    let file = root().join("data/chicago_taxi/tfx_simple_data.csv");
    let mut trips = trips(&file);
    trips.sort_by_key(|t| t.start);
    let run = run(dir.path(), &file);
    assert!(run.dead.is_empty() && run.late.is_empty(), "{}", run.stderr);

    // Hourly fare totals.
    let mut hours: BTreeMap<i64, Vec<&Trip>> = BTreeMap::new();
    for trip in &trips {
        hours
            .entry(trip.start.div_euclid(3_600_000) * 3_600_000)
            .or_default()
            .push(trip);
    }
    let fare_totals = rows(&run, "fare_totals");
    assert_eq!(fare_totals.len(), hours.len());
    for row in fare_totals {
        let hour = &hours[&millis(row, "window_start")];
        assert_eq!(row["trips"].as_u64(), Some(hour.len() as u64), "{row}");
        assert!(
            close(&row["fare_sum"], sum(hour.iter().map(|t| t.fare))),
            "{row}"
        );
        assert!(
            close(&row["tips_sum"], sum(hour.iter().map(|t| t.tips))),
            "{row}"
        );
        assert!(
            row["trip_total_sum"].is_null(),
            "the TFX layout has no trip total"
        );
        assert!(
            close(&row["avg_fare"], avg(hour.iter().map(|t| t.fare))),
            "{row}"
        );
    }

    // "So far today": every window starts at a Chicago midnight, and its totals are those of
    // the day's trips before its end; the day's last window covers the whole day.
    let chicago = chrono_tz::America::Chicago;
    let mut days: BTreeMap<i64, i64> = BTreeMap::new();
    for row in rows(&run, "daily_totals") {
        let (start, end) = (millis(row, "window_start"), millis(row, "window_end"));
        let local = chicago.timestamp_millis_opt(start).single().expect("time");
        assert_eq!((local.hour(), local.minute()), (0, 0), "{row}");
        assert_eq!((end - start) % 900_000, 0, "15-minute steps: {row}");
        let so_far = between(&trips, start, end, |t| t.start);
        assert_eq!(row["trips"].as_u64(), Some(so_far.len() as u64), "{row}");
        assert!(
            close(&row["fare_total"], sum(so_far.iter().map(|t| t.fare))),
            "{row}"
        );
        assert!(
            close(&row["tips_avg"], avg(so_far.iter().map(|t| t.tips))),
            "{row}"
        );
        let longest = days.entry(start).or_default();
        *longest = (*longest).max(end);
    }
    let covered: usize = days
        .iter()
        .map(|(&day, &end)| between(&trips, day, end, |t| t.start).len())
        .sum();
    assert_eq!(
        covered,
        trips.len(),
        "every trip is in its day's last window"
    );

    let areas: Vec<(i64, String)> = trips
        .iter()
        .filter_map(|t| Some((t.start, t.area.clone()?)))
        .collect();
    assert!(areas.len() < trips.len(), "some trips have no pickup area");
    check_hotspots(&run, "hotspot_community_areas", "pickup_area", &areas);
    let mut cells: Vec<(i64, String)> = trips
        .iter()
        .filter_map(|t| Some((t.start, cell(t.point?))))
        .collect();
    cells.sort();
    check_hotspots(&run, "hotspot_locations", "pickup_cell", &cells);
}

#[test]
fn export_layout_reads_local_times_dollars_and_trip_totals() {
    let dir = tempfile::tempdir().expect("dir");
    let file = root().join("data/chicago_taxi/socrata_legacy_sample.csv");
    let trips = trips(&file);
    let run = run(dir.path(), &file);
    assert!(run.dead.is_empty(), "{}", run.stderr);
    let fare_totals = rows(&run, "fare_totals");
    let counted: u64 = fare_totals
        .iter()
        .map(|r| r["trips"].as_u64().expect("trips"))
        .sum();
    assert_eq!(counted, trips.len() as u64);
    for row in fare_totals {
        let start = millis(row, "window_start");
        let hour: Vec<&Trip> = trips
            .iter()
            .filter(|t| (start..start + 3_600_000).contains(&t.start))
            .collect();
        assert!(
            close(&row["fare_sum"], sum(hour.iter().map(|t| t.fare))),
            "{row}"
        );
        assert!(
            close(&row["trip_total_sum"], sum(hour.iter().map(|t| t.total))),
            "{row}"
        );
    }
}

#[test]
fn a_row_without_a_start_time_is_a_dead_letter_and_missing_optionals_are_left_out() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("trips.csv");
    std::fs::write(
        &file,
        "pickup_community_area,fare,trip_start_timestamp,pickup_latitude,pickup_longitude,tips\n\
         8,10.00,1400000400,41.88,-87.62,1.00\n\
         ,5.00,,41.88,-87.62,0\n\
         ,7.00,1400000500,,,\n\
         8,ten,1400000600,41.88,-87.62,0\n",
    )
    .expect("write");
    let run = run(dir.path(), &file);
    let dead: Vec<(u64, &str)> = run
        .dead
        .iter()
        .map(|d| {
            (
                d["line"].as_u64().expect("line"),
                d["reason"].as_str().expect("reason"),
            )
        })
        .collect();
    assert_eq!(
        dead,
        vec![
            (3, "missing field `start`"),
            (5, "field `fare`: expected a number, got \"ten\""),
        ]
    );
    let hour = rows(&run, "fare_totals")[0];
    assert_eq!(
        hour["trips"], 2,
        "the trip without area, point or tips counts here"
    );
    assert!(close(&hour["fare_sum"], Some(17.0)));
    assert!(
        close(&hour["tips_sum"], Some(1.0)),
        "a missing tip is left out"
    );
    let areas = rows(&run, "hotspot_community_areas");
    assert!(areas
        .iter()
        .all(|r| r["trips"] == 1 && r["pickup_area"] == "8"));
}
