//! Dashboards over Cassandra, on the real node: `tidemark serve` answers every request with
//! the same bytes as the live API of the run that wrote the tables, `tidemark query` prints
//! the same from both, and every provisioned Grafana panel's CQL (`config/grafana/`) returns
//! the rows the JSONL sink wrote, without `ALLOW FILTERING`.

mod common;

use common::cassandra::{keyspace, sink, Cassandra};
use common::dashboard::{generate, get_text, latest_versions, text, Server};
use common::{read_jsonl, root, tidemark};
use scylla::value::{CqlTimestamp, CqlValue, Row};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A run writing Cassandra and JSONL with the live API on, then `tidemark serve` over its
/// keyspace.
struct Served {
    live: Server,
    history: Server,
    keyspace: String,
    rows: Vec<Value>,
    dataflow: &'static str,
}

fn served(dir: &std::path::Path, dataflow: &'static str, kind: &str, gen: &[&str]) -> Served {
    let input = dir.join(format!("{kind}.jsonl"));
    generate(&input, kind, gen[0], &gen[1..]);
    let keyspace = keyspace(&format!("dash_{kind}"));
    let jsonl = dir.join(format!("{kind}.rows.jsonl"));
    let (source, cassandra, jsonl_uri) = (
        format!("file:{}", input.display()),
        sink(&keyspace),
        format!("jsonl:{}", jsonl.display()),
    );
    let mut live = Server::start(
        dir,
        &[
            "run",
            dataflow,
            "--source",
            &source,
            "--sink",
            &cassandra,
            "--sink",
            &jsonl_uri,
            "-w",
            "2",
            "--quiet",
            "--http-retention",
            "1000d",
        ],
    );
    live.wait_until_ended();
    let history = Server::start(dir, &["serve", dataflow, "--cassandra", &cassandra]);
    Served {
        live,
        history,
        keyspace,
        rows: read_jsonl(&jsonl),
        dataflow,
    }
}

fn form(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Every request a dashboard makes gets the same bytes from both backends.
fn assert_same_answers(served: &Served) {
    let (_, catalog) = served.live.get("/api/outputs");
    assert_eq!(
        get_text(&format!("{}/api/outputs", served.history.url)),
        catalog.to_string()
    );
    let expected = latest_versions(&served.rows, &catalog);
    for output in catalog["outputs"].as_array().expect("outputs") {
        let name = output["name"].as_str().expect("name");
        let time = output["time"].as_str().expect("time");
        let want: Vec<&Value> = expected[name].values().collect();
        let times: BTreeSet<&str> = want.iter().map(|r| r[time].as_str().expect("t")).collect();
        let (from, to) = (times.first().expect("t"), times.last().expect("t"));
        let mut paths = vec![
            format!("/api/outputs/{name}/rows?from={from}&to={to}"),
            format!("/api/outputs/{name}/rows?from={from}&to={to}&final=true"),
            format!("/api/outputs/{name}/rows?last=1h"),
            format!("/api/outputs/{name}/latest"),
            format!("/api/outputs/{name}/latest?final=true"),
        ];
        let keys: Vec<&str> = output["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k.as_str().expect("key"))
            .collect();
        if !keys.is_empty() {
            paths.push(format!("/api/outputs/{name}/keys?from={from}&to={to}"));
            let filter: String = keys
                .iter()
                .map(|k| format!("&key.{k}={}", form(&text(&want[want.len() / 2][*k]))))
                .collect();
            paths.push(format!(
                "/api/outputs/{name}/rows?from={from}&to={to}{filter}"
            ));
        }
        for path in paths {
            let live = get_text(&format!("{}{path}", served.live.url));
            let history = get_text(&format!("{}{path}", served.history.url));
            assert_eq!(live, history, "{path}");
            let body: Value = serde_json::from_str(&live).expect("json");
            let answered = body.get("rows").or(body.get("keys")).expect("rows or keys");
            assert!(
                !answered.as_array().expect("array").is_empty() || path.contains("final=true"),
                "{path}: empty"
            );
        }
    }
}

/// `tidemark query` prints the same from the API and from Cassandra.
fn assert_same_queries(served: &Served, args: &[&[&str]]) {
    let cassandra = sink(&served.keyspace);
    for query in args {
        let run = |backend: &[&str]| {
            let output = tidemark()
                .args(["query", served.dataflow])
                .args(*query)
                .args(backend)
                .current_dir(root())
                .output()
                .expect("query");
            assert!(
                output.status.success(),
                "{query:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).expect("utf-8")
        };
        let from_api = run(&["--http", &served.live.url]);
        let from_cassandra = run(&["--cassandra", &cassandra]);
        assert_eq!(from_api, from_cassandra, "{query:?}");
        assert!(
            from_api.lines().count() > 1,
            "{query:?}: no rows\n{from_api}"
        );
    }
}

/// A CQL result as JSON objects in the JSONL sink's spelling (the `day` column left out).
fn result_rows(cassandra: &Cassandra, cql: &str) -> Vec<Value> {
    let result = cassandra.query(cql);
    let names: Vec<String> = result
        .column_specs()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    result
        .rows::<Row>()
        .expect("rows")
        .map(|row| {
            let row = row.expect("row");
            let mut object = serde_json::Map::new();
            for (name, value) in names.iter().zip(row.columns) {
                let json = match value {
                    None => Value::Null,
                    Some(CqlValue::Text(s)) => Value::String(s),
                    Some(CqlValue::BigInt(i)) => Value::from(i),
                    Some(CqlValue::Int(i)) => Value::from(i),
                    Some(CqlValue::Double(f)) => Value::from(f),
                    Some(CqlValue::Boolean(b)) => Value::Bool(b),
                    Some(CqlValue::Timestamp(CqlTimestamp(ms))) => Value::String(
                        chrono::DateTime::from_timestamp_millis(ms)
                            .expect("time")
                            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                            .to_string(),
                    ),
                    Some(CqlValue::Date(_)) => continue,
                    Some(other) => panic!("{name}: unexpected {other:?}"),
                };
                object.insert(name.clone(), json);
            }
            Value::Object(object)
        })
        .collect()
}

/// Asserts that a panel's rows are exactly `expected`: as many, and each equal to one of them
/// in every column it selects.
fn assert_panel_rows(title: &str, got: &[Value], expected: &[&Value]) {
    assert!(!expected.is_empty(), "{title}: nothing to compare with");
    assert_eq!(got.len(), expected.len(), "{title}: {got:?}");
    let mut left: Vec<&Value> = expected.to_vec();
    for row in got {
        let columns = row.as_object().expect("row");
        let position = left
            .iter()
            .position(|want| {
                columns
                    .iter()
                    .all(|(name, value)| match (value, &want[name]) {
                        (Value::Number(a), Value::Number(b)) => {
                            let (a, b) = (a.as_f64().expect("f64"), b.as_f64().expect("f64"));
                            (a - b).abs() <= 1e-9 * b.abs().max(1.0)
                        }
                        (a, b) => text(a) == text(b),
                    })
            })
            .unwrap_or_else(|| panic!("{title}: {row} is not a row the sink wrote"));
        left.remove(position);
    }
}

fn millis(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("time")
        .timestamp_millis()
}

/// The rows of `output` (latest versions).
fn of<'r>(versions: &'r BTreeMap<String, BTreeMap<String, Value>>, output: &str) -> Vec<&'r Value> {
    versions[output].values().collect()
}

/// The newest ranking of `output` with all `k` ranks: its window end and rows.
fn full_ranking<'r>(rows: &[&'r Value], k: usize) -> (String, Vec<&'r Value>) {
    let mut by_end: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for row in rows {
        by_end
            .entry(row["window_end"].as_str().expect("end"))
            .or_default()
            .push(row);
    }
    let (end, ranking) = by_end
        .into_iter()
        .rev()
        .find(|(_, ranking)| ranking.len() == k)
        .expect("a full ranking");
    (end.to_string(), ranking)
}

/// Runs every panel of a provisioned dashboard with the time range and variables `setting`
/// gives for its title, and checks its rows against what `expect` says the sink wrote.
fn assert_panels<'v>(
    dashboard: &str,
    keyspace: &str,
    mut setting: impl FnMut(&str) -> (i64, i64, Vec<&'v Value>),
    variables: &[(&str, &str)],
) {
    let path = root().join("config/grafana/dashboards").join(dashboard);
    let board: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard")).expect("json");
    let cassandra = Cassandra::connect();
    let panels = board["panels"].as_array().expect("panels");
    assert!(!panels.is_empty());
    for panel in panels {
        let title = panel["title"].as_str().expect("title");
        let (from, to, expected) = setting(title);
        for target in panel["targets"].as_array().expect("targets") {
            let mut cql = target["target"].as_str().expect("CQL").to_string();
            assert!(
                !cql.to_uppercase().contains("ALLOW FILTERING"),
                "{title}: {cql}"
            );
            assert_eq!(
                target["datasource"]["type"],
                "hadesarchitect-cassandra-datasource"
            );
            cql = cql
                .replace("$keyspace", keyspace)
                .replace("$__timeFrom", &from.to_string())
                .replace("$__timeTo", &to.to_string());
            for (name, value) in variables {
                cql = cql.replace(&format!("${name}"), &value.replace('\'', "''"));
            }
            assert!(!cql.contains('$'), "{title}: unset variable in {cql}");
            assert_panel_rows(title, &result_rows(&cassandra, &cql), &expected);
        }
    }
    // Query variables run too.
    for variable in board["templating"]["list"].as_array().expect("variables") {
        if variable["type"] == "query" {
            let cql = variable["query"]["query"]
                .as_str()
                .expect("query")
                .replace("$keyspace", keyspace);
            assert!(!cql.to_uppercase().contains("ALLOW FILTERING"));
            let got = result_rows(&cassandra, &cql);
            assert!(!got.is_empty(), "{cql}: no values");
        }
    }
}

#[test]
fn evilnet_from_cassandra_as_from_the_engine_and_in_grafana() {
    let dir = tempfile::tempdir().expect("tempdir");
    let served = served(
        dir.path(),
        "dataflows/evilnet.toml",
        "tweets",
        &[
            "20000",
            "--rate",
            "2",
            "--disorder-s",
            "900",
            "--very-late",
            "0.01",
            "--seed",
            "3",
        ],
    );
    assert_same_answers(&served);
    assert_same_queries(
        &served,
        &[
            &["top_cities", "--latest"],
            &["least_retweeted_cities", "--latest", "--final"],
            &["city_stats", "--last", "30m", "--format", "csv"],
            &[
                "city_stats",
                "--key",
                "city=Toronto, Ontario",
                "--last",
                "2h",
                "--format",
                "json",
            ],
        ],
    );

    let (_, catalog) = served.live.get("/api/outputs");
    let versions = latest_versions(&served.rows, &catalog);
    let city_stats = of(&versions, "city_stats");
    let starts: BTreeSet<i64> = city_stats
        .iter()
        .map(|r| millis(r["window_start"].as_str().expect("s")))
        .collect();
    let (first, last) = (*starts.first().expect("t"), *starts.last().expect("t"));
    let city = "Toronto, Ontario";
    assert_panels(
        "evilnet.json",
        &served.keyspace,
        |title| match title {
            "Trend of $city" => (
                first,
                last,
                city_stats
                    .iter()
                    .copied()
                    .filter(|r| r["city"] == city)
                    .collect(),
            ),
            "All cities, last hour" => (
                last - 3_600_000,
                last,
                city_stats
                    .iter()
                    .copied()
                    .filter(|r| millis(r["window_start"].as_str().expect("s")) >= last - 3_600_000)
                    .collect(),
            ),
            "Top 5 cities now" | "Least retweeted cities now" => {
                let output = if title.starts_with("Top") {
                    "top_cities"
                } else {
                    "least_retweeted_cities"
                };
                let (end, ranking) = full_ranking(&of(&versions, output), 5);
                (first, millis(&end), ranking)
            }
            other => panic!("no expectation for panel `{other}`: add one"),
        },
        &[("city", city)],
    );
}

#[test]
fn taxi_from_cassandra_as_from_the_engine_and_in_grafana() {
    let dir = tempfile::tempdir().expect("tempdir");
    let served = served(
        dir.path(),
        "dataflows/taxi.toml",
        "taxi",
        &["8000", "--rate", "1", "--seed", "4"],
    );
    assert_same_answers(&served);
    assert_same_queries(
        &served,
        &[
            &["hotspot_locations", "--latest"],
            &["daily_totals", "--last", "1h"],
            &["fare_totals", "--last", "6h", "--format", "csv"],
        ],
    );

    let (_, catalog) = served.live.get("/api/outputs");
    let versions = latest_versions(&served.rows, &catalog);
    let fares = of(&versions, "fare_totals");
    let starts: BTreeSet<i64> = fares
        .iter()
        .map(|r| millis(r["window_start"].as_str().expect("s")))
        .collect();
    let (first, last) = (*starts.first().expect("t"), *starts.last().expect("t"));
    let day = |ms: i64| ms.div_euclid(86_400_000);
    assert_panels(
        "taxi.json",
        &served.keyspace,
        |title| match title {
            "Fare totals per hour" => (first, last, fares.clone()),
            "So far today" => {
                let days = [day(first - 86_400_000), day(first), day(last)];
                let rows = of(&versions, "daily_totals")
                    .into_iter()
                    .filter(|r| {
                        let start = millis(r["window_start"].as_str().expect("s"));
                        days.contains(&day(start)) && start >= first - 86_400_000 && start <= last
                    })
                    .collect();
                (first, last, rows)
            }
            "Hotspot community areas now" | "Hotspot locations now" => {
                let output = if title.contains("areas") {
                    "hotspot_community_areas"
                } else {
                    "hotspot_locations"
                };
                let (end, ranking) = full_ranking(&of(&versions, output), 10);
                (first, millis(&end), ranking)
            }
            other => panic!("no expectation for panel `{other}`: add one"),
        },
        &[],
    );
}
