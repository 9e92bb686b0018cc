//! The dashboard API over a live run (`tidemark run --http`) answers with exactly the rows the
//! JSONL sink wrote, for every output of every bundled pipeline shape; bad requests get a
//! 4xx that says what is wrong; `tidemark query` prints the same rows.

mod common;

use common::dashboard::{assert_same_row, generate, keys_of, latest_versions, text, Server};
use common::{read_jsonl, tidemark};
use serde_json::Value;
use std::collections::BTreeSet;

/// A run of `dataflow` over generated events with the API on and a JSONL sink; returns the
/// server (still serving: the input has ended) and the sink's rows.
fn served_run(
    dir: &std::path::Path,
    dataflow: &str,
    kind: &str,
    gen: &[&str],
) -> (Server, Vec<Value>) {
    let input = dir.join(format!("{kind}.jsonl"));
    generate(&input, kind, gen[0], &gen[1..]);
    served_file(dir, dataflow, &input)
}

/// As [`served_run`], over a file.
fn served_file(
    dir: &std::path::Path,
    dataflow: &str,
    input: &std::path::Path,
) -> (Server, Vec<Value>) {
    let sink = dir.join(format!("{}.rows.jsonl", common::free_port()));
    let source = format!("file:{}", input.display());
    let sink_uri = format!("jsonl:{}", sink.display());
    let mut server = Server::start(
        dir,
        &[
            "run",
            dataflow,
            "--source",
            &source,
            "--sink",
            &sink_uri,
            "-w",
            "2",
            // Pieces of a file move the frontier a piece at a time: small ones, so that it
            // moves in steps as a long replay's does (provisional rows, then final ones).
            "--piece-bytes",
            "262144",
            "--quiet",
            "--http-retention",
            "1000d",
        ],
    );
    server.wait_until_ended();
    (server, read_jsonl(&sink))
}

/// Every output's rows over its whole range, its latest window, its final rows and its keys
/// agree with the JSONL sink.
fn assert_api_equals_sink(server: &Server, rows: &[Value]) {
    let (status, catalog) = server.get("/api/outputs");
    assert_eq!(status, 200);
    let expected = latest_versions(rows, &catalog);
    for output in catalog["outputs"].as_array().expect("outputs") {
        let name = output["name"].as_str().expect("name");
        let time = output["time"].as_str().expect("time column");
        let keys = keys_of(&catalog, name);
        let want: Vec<&Value> = expected[name].values().collect();
        assert!(
            !want.is_empty(),
            "{name} wrote no rows ({} rows in all)\n{}",
            rows.len(),
            server.log()
        );
        let times: BTreeSet<&str> = want
            .iter()
            .map(|r| r[time].as_str().expect("time"))
            .collect();
        let (from, to) = (
            times.first().expect("a time"),
            times.last().expect("a time"),
        );
        let (status, answer) = server.get(&format!("/api/outputs/{name}/rows?from={from}&to={to}"));
        assert_eq!(status, 200, "{answer}");
        let got = answer["rows"].as_array().expect("rows");
        assert_eq!(got.len(), want.len(), "{name}: row count");
        let mut by_identity = expected[name].clone();
        for row in got {
            let id_row = by_identity
                .iter()
                .find(|(_, w)| {
                    w["window_start"] == row["window_start"]
                        && w["window_end"] == row["window_end"]
                        && w.get("rank") == row.get("rank")
                        && (row.get("rank").is_some()
                            || keys.iter().all(|k| text(&w[k]) == text(&row[k])))
                })
                .map(|(id, w)| (id.clone(), w.clone()));
            let (id, want_row) = id_row.unwrap_or_else(|| panic!("{name}: unexpected row {row}"));
            assert_same_row(row, &want_row);
            by_identity.remove(&id);
        }
        // Time order: never decreasing in the filing time.
        let order: Vec<&str> = got
            .iter()
            .map(|r| r[time].as_str().expect("time"))
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] <= w[1]),
            "{name}: not in time order"
        );

        // Final rows only.
        let (_, finals) = server.get(&format!(
            "/api/outputs/{name}/rows?from={from}&to={to}&final=true"
        ));
        let want_finals = want.iter().filter(|r| r["final"] == true).count();
        assert_eq!(
            finals["rows"].as_array().expect("rows").len(),
            want_finals,
            "{name}: finals"
        );

        // The latest window: every row filed at the newest time (and newest other bound).
        let newest = want
            .iter()
            .map(|r| {
                (
                    r[time].as_str().expect("t"),
                    r["window_start"].as_str().expect("s"),
                    r["window_end"].as_str().expect("e"),
                )
            })
            .max()
            .expect("newest");
        let want_latest: Vec<&&Value> = want
            .iter()
            .filter(|r| r["window_start"] == newest.1 && r["window_end"] == newest.2)
            .collect();
        let (_, latest) = server.get(&format!("/api/outputs/{name}/latest"));
        let latest = latest["rows"].as_array().expect("rows");
        assert_eq!(latest.len(), want_latest.len(), "{name}: latest");
        for row in latest {
            assert_eq!(row["window_end"], newest.2, "{name}: latest window");
        }

        // Keys over the whole range, and one key's rows.
        if !keys.is_empty() {
            let (_, found) = server.get(&format!("/api/outputs/{name}/keys?from={from}&to={to}"));
            let got_keys: BTreeSet<String> = found["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .map(|k| {
                    keys.iter()
                        .map(|f| text(&k[f]))
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect();
            let want_keys: BTreeSet<String> = want
                .iter()
                .map(|r| {
                    keys.iter()
                        .map(|f| text(&r[f]))
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect();
            assert_eq!(got_keys, want_keys, "{name}: keys");
            if output["shape"] == "keyed" {
                let first = want[0];
                let filter: String = keys
                    .iter()
                    .map(|k| format!("&key.{k}={}", form(&text(&first[k]))))
                    .collect();
                let (_, one) = server.get(&format!(
                    "/api/outputs/{name}/rows?from={from}&to={to}{filter}"
                ));
                let one = one["rows"].as_array().expect("rows");
                let want_one = want
                    .iter()
                    .filter(|r| keys.iter().all(|k| text(&r[k]) == text(&first[k])))
                    .count();
                assert_eq!(one.len(), want_one, "{name}: one key");
                assert!(one.len() < want.len() || want.len() == want_one);
            }
        }
    }
}

fn form(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[test]
fn the_live_api_gives_the_rows_the_jsonl_sink_wrote() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Late and disordered tweets: provisional rows, corrections and final rows.
    let (server, rows) = served_run(
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
            "5",
        ],
    );
    assert!(
        rows.iter().any(|r| r["final"] == false),
        "some provisional rows"
    );
    assert_api_equals_sink(&server, &rows);
    assert_eq!(
        server.stop(),
        Some(0),
        "a served run stops cleanly on SIGTERM"
    );

    // Totals, cumulative windows and grid cells.
    let (server, rows) = served_run(
        dir.path(),
        "dataflows/taxi.toml",
        "taxi",
        &["6000", "--rate", "1"],
    );
    let (_, catalog) = server.get("/api/outputs");
    let geo: Vec<&str> = catalog["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .filter(|o| o["geo"] == true)
        .map(|o| o["name"].as_str().expect("name"))
        .collect();
    assert_eq!(geo, ["hotspot_locations"]);
    assert_api_equals_sink(&server, &rows);
    drop(server);

    // Per-record rows with numeric fields, on the bundled v1.1 tweets.
    let tweets = common::root().join("data/tweets_v1/gt_bigdata_sample_stream_2013.jsonl");
    let (server, rows) = served_file(dir.path(), "dataflows/sentiment.toml", &tweets);
    assert_api_equals_sink(&server, &rows);
}

#[test]
fn bad_requests_get_a_4xx_saying_what_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        dir.path(),
        &[
            "run",
            "dataflows/evilnet.toml",
            "--quiet",
            "--sink",
            "jsonl:/dev/null",
        ],
    );
    let cases: &[(&str, u16, &str)] = &[
        ("/api/outputs/nope/rows", 404, "no output `nope`"),
        (
            "/api/outputs/city_stats/rows?key.town=x",
            400,
            "no key field `town`",
        ),
        (
            "/api/outputs/city_stats/rows?from=yesterday&to=now",
            400,
            "is not a time",
        ),
        (
            "/api/outputs/city_stats/rows?from=2022-09-27T00:00:00Z&to=2022-09-26T00:00:00Z",
            400,
            "after",
        ),
        ("/api/outputs/city_stats/rows?last=soon", 400, "`last`"),
        ("/api/outputs/city_stats/rows?last=60d", 400, "at most 31"),
        (
            "/api/outputs/city_stats/rows?order=desc",
            400,
            "unknown parameter `order`",
        ),
        (
            "/api/outputs/city_stats/rows?final=perhaps",
            400,
            "not true or false",
        ),
        (
            "/api/outputs/top_cities/latest?key.city=x",
            400,
            "unknown parameter",
        ),
        ("/api/stream?output=nope", 404, "no output `nope`"),
        ("/api/nothing", 404, "no such path"),
    ];
    for (path, status, message) in cases {
        let (got, body) = server.get(path);
        assert_eq!(got, *status, "{path}: {body}");
        let error = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: {body}"));
        assert!(error.contains(message), "{path}: {error}");
    }
    // Over the row limit.
    drop(server);
    let server = Server::start(
        dir.path(),
        &[
            "run",
            "dataflows/evilnet.toml",
            "--quiet",
            "--sink",
            "jsonl:/dev/null",
            "--http-row-limit",
            "3",
        ],
    );
    let mut server = server;
    server.wait_until_ended();
    let (got, body) = server.get("/api/outputs/city_stats/rows?last=1h");
    assert_eq!(got, 400);
    assert!(
        body["error"]
            .as_str()
            .expect("error")
            .contains("more than 3 rows"),
        "{body}"
    );
    // Read-only: anything but GET is refused.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .post(&format!("{}/api/outputs", server.url))
        .send("")
        .expect("post");
    assert_eq!(response.status().as_u16(), 405);
}

#[test]
fn query_prints_the_rows_of_a_running_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = dir.path().join("rows.jsonl");
    let sink_uri = format!("jsonl:{}", sink.display());
    let mut server = Server::start(
        dir.path(),
        &[
            "run",
            "dataflows/evilnet.toml",
            "--quiet",
            "--sink",
            &sink_uri,
        ],
    );
    server.wait_until_ended();
    let rows = read_jsonl(&sink);
    let query = |args: &[&str]| {
        let output = tidemark()
            .args(["query", "dataflows/evilnet.toml"])
            .args(args)
            .args(["--http", &server.url])
            .current_dir(common::root())
            .output()
            .expect("query");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    // The newest ranking, as an aligned table.
    let newest_end = rows
        .iter()
        .filter(|r| r["output"] == "top_cities")
        .map(|r| r["window_end"].as_str().expect("end"))
        .max()
        .expect("a ranking");
    let versions = latest_versions(&rows, &server.get("/api/outputs").1);
    let ranking: Vec<&Value> = versions["top_cities"]
        .values()
        .filter(|r| r["window_end"] == newest_end)
        .collect();
    let (code, table, _) = query(&["top_cities", "--latest"]);
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("window_start"), "{table}");
    assert_eq!(lines.len(), ranking.len() + 1, "{table}");
    for row in &ranking {
        let city = row["city"].as_str().expect("city");
        let line = lines
            .iter()
            .find(|l| l.contains(city))
            .unwrap_or_else(|| panic!("{city} missing from\n{table}"));
        assert!(line.contains(newest_end), "{line}");
    }
    // Every line as wide as the header: aligned columns.
    let width = lines[0].len();
    assert!(lines.iter().all(|l| l.len() <= width + 40));

    // JSON lines are the API's rows; CSV has a header and one line per row.
    let city = "Toronto, Ontario";
    let (code, json, _) = query(&[
        "city_stats",
        "--key",
        &format!("city={city}"),
        "--last",
        "1h",
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0));
    let got: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert!(!got.is_empty());
    assert!(got.iter().all(|r| r["city"] == city));
    let (code, csv, _) = query(&[
        "city_stats",
        "--key",
        &format!("city={city}"),
        "--last",
        "1h",
        "--format",
        "csv",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(csv.lines().count(), got.len() + 1);
    assert!(csv.starts_with("window_start,window_end,city,tweets,retweets,unique_users,final"));

    // Wrong requests: exit 2 naming what is wrong; an unreachable server: exit 1.
    let (code, _, err) = query(&["city_stats", "--key", "town=x"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no key field `town`"), "{err}");
    let (code, _, err) = query(&["cities", "--latest"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("city_stats, top_cities, least_retweeted_cities"),
        "{err}"
    );
    let (code, _, err) = query(&[
        "city_stats",
        "--from",
        "noon",
        "--to",
        "2022-09-26T04:00:00Z",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("`from`"), "{err}");
    let output = tidemark()
        .args([
            "query",
            "dataflows/evilnet.toml",
            "top_cities",
            "--latest",
            "--http",
            "http://127.0.0.1:9",
        ])
        .current_dir(common::root())
        .output()
        .expect("query");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot reach http://127.0.0.1:9"));
}

#[test]
fn a_generated_source_happens_now_and_is_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = chrono::Utc::now().timestamp_millis();
    let sink = dir.path().join("rows.jsonl");
    let sink_uri = format!("jsonl:{}", sink.display());
    let mut server = Server::start(
        dir.path(),
        &[
            "run",
            "tests/data/dataflows/tweets_per_second.toml",
            "--source",
            "gen:tweets?rate=3000&duration_s=3",
            "--sink",
            &sink_uri,
            "--quiet",
        ],
    );
    server.wait_until_ended();
    let rows = read_jsonl(&sink);
    let finals: Vec<&Value> = rows.iter().filter(|r| r["final"] == true).collect();
    // Every tweet counted once, in windows of the run's own seconds.
    let total: u64 = finals
        .iter()
        .map(|r| r["tweets"].as_u64().expect("count"))
        .sum();
    assert_eq!(total, 9000);
    let distinct: u64 = finals
        .iter()
        .map(|r| r["ids"].as_u64().expect("count"))
        .sum();
    assert_eq!(distinct, 9000);
    for row in &finals {
        let start =
            chrono::DateTime::parse_from_rfc3339(row["window_start"].as_str().expect("start"))
                .expect("time")
                .timestamp_millis();
        assert!(
            start >= before - 1000,
            "event time is the run's own time: {row}"
        );
    }
    let (_, latest) = server.get("/api/outputs/per_second/latest");
    assert_eq!(latest["rows"].as_array().expect("rows").len(), 1);
}

#[test]
fn with_two_processes_process_0_serves_every_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("tweets.jsonl");
    generate(&input, "tweets", "8000", &["--rate", "2", "--seed", "8"]);
    let hostfile = dir.path().join("hosts");
    std::fs::write(
        &hostfile,
        format!(
            "127.0.0.1:{}\n127.0.0.1:{}\n",
            common::free_port(),
            common::free_port()
        ),
    )
    .expect("hostfile");
    let (hosts, source) = (
        hostfile.display().to_string(),
        format!("file:{}", input.display()),
    );
    let sink = format!("jsonl:{}", dir.path().join("rows.jsonl").display());
    let args = |p: &'static str| {
        vec![
            "run".to_string(),
            "dataflows/evilnet.toml".into(),
            "--source".into(),
            source.clone(),
            "--sink".into(),
            sink.clone(),
            "--quiet".into(),
            "-w".into(),
            "2".into(),
            "-n".into(),
            "2".into(),
            "-p".into(),
            p.into(),
            "-h".into(),
            hosts.clone(),
            "--http-retention".into(),
            "1000d".into(),
        ]
    };
    let second = tidemark()
        .args(args("1"))
        .args(["--http", "127.0.0.1:9"])
        .current_dir(common::root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("process 1");
    let first_args = args("0");
    let first_args: Vec<&str> = first_args.iter().map(String::as_str).collect();
    let mut server = Server::start(dir.path(), &first_args);
    server.wait_until_ended();
    let status = second.wait_with_output().expect("process 1").status;
    assert!(
        status.success(),
        "process 1 (which only feeds process 0) failed: {status}"
    );
    let mut rows = read_jsonl(&dir.path().join("rows.jsonl.0"));
    rows.extend(read_jsonl(&dir.path().join("rows.jsonl.1")));
    assert_api_equals_sink(&server, &rows);
}

#[test]
fn early_results_show_open_windows_while_they_fill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = dir.path().join("rows.jsonl");
    let sink_uri = format!("jsonl:{}", sink.display());
    let mut server = Server::start(
        dir.path(),
        &[
            "run",
            "tests/data/dataflows/early_results.toml",
            "--source",
            "gen:tweets?rate=1000&duration_s=4",
            "--sink",
            &sink_uri,
            "--quiet",
        ],
    );
    server.wait_until_ended();
    let rows = read_jsonl(&sink);
    // The run may straddle an hour: follow each window on its own.
    let mut by_window: std::collections::BTreeMap<String, Vec<(u64, bool)>> = Default::default();
    for row in &rows {
        by_window
            .entry(row["window_start"].as_str().expect("start").to_string())
            .or_default()
            .push((row["tweets"].as_u64().expect("count"), row["final"] == true));
    }
    let mut total = 0;
    let mut early = 0;
    for (window, versions) in &by_window {
        let (last, provisional) = versions.split_last().expect("a row");
        assert!(last.1, "{window}: the last row is final: {versions:?}");
        assert!(
            provisional.iter().all(|(_, f)| !f),
            "{window}: one final row"
        );
        let counts: Vec<u64> = versions.iter().map(|(n, _)| *n).collect();
        assert!(
            counts.windows(2).all(|w| w[0] < w[1]),
            "{window}: running counts grow: {counts:?}"
        );
        total += last.0;
        early += provisional.len();
    }
    assert_eq!(total, 4000);
    assert!(
        early >= 1,
        "open windows were shown while they filled: {rows:?}"
    );
}

#[test]
fn setup_errors_exit_2_naming_what_is_wrong() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("address").to_string();
    let in_use = format!("--http {address}: cannot listen");
    let run = ["run", "dataflows/evilnet.toml", "--quiet", "--http"];
    let serve = [
        "serve",
        "dataflows/evilnet.toml",
        "--http",
        "127.0.0.1:0",
        "--cassandra",
    ];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        ([&run[..], &[address.as_str()]].concat(), in_use.as_str()),
        ([&run[..], &["port eighty"]].concat(), "expected HOST:PORT"),
        (
            [&run[..], &[":0", "--http-retention", "soon"]].concat(),
            "--http-retention",
        ),
        (
            [&serve[..], &["cassandra://127.0.0.1:1/evilnet"]].concat(),
            "cannot connect to Cassandra at 127.0.0.1:1",
        ),
        (
            [&serve[..], &["cassandra://127.0.0.1:9042"]].concat(),
            "KEYSPACE",
        ),
        (
            vec!["query", "dataflows/nothing.toml", "top_cities"],
            "nothing.toml",
        ),
    ];
    for (args, message) in cases {
        let output = tidemark()
            .args(&args)
            .current_dir(common::root())
            .output()
            .expect("start tidemark");
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
}
