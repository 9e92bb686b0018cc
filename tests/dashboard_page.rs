//! The live page in a real headless Chromium (Debian's `chromium`; `scripts/test.sh` installs
//! it when missing): it loads with no console errors, shows the top-cities ranking the API
//! holds, and updates when new rows arrive.

mod common;

use common::dashboard::{generate, Server};
use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::Log::LogEntryLevel;
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::protocol::cdp::Runtime::ConsoleAPICalledEventTypeOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use std::io::Write;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn chromium() -> std::path::PathBuf {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .expect("Chromium is not installed: apt-get install -y chromium (scripts/test.sh does)")
}

fn text(tab: &Tab, expression: &str) -> String {
    tab.evaluate(expression, false)
        .expect("evaluate")
        .value
        .map(|v| match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })
        .unwrap_or_default()
}

/// Asserts that the page's table of `output` has rows.
fn assert_table_has_rows(tab: &Tab, output: &str) {
    let rows = text(
        tab,
        &format!("document.querySelectorAll('#table-{output} tbody tr').length"),
    );
    assert!(
        rows.parse::<u32>().expect("count") > 0,
        "{output}: no table rows"
    );
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Chromium on `url`, ready: the browser (kept alive by the caller), its tab, and the
/// console errors and exceptions seen so far.
fn open_page(url: &str) -> (Browser, Arc<Tab>, Arc<Mutex<Vec<String>>>) {
    let browser = Browser::new(
        LaunchOptions::default_builder()
            .path(Some(chromium()))
            .sandbox(false)
            .window_size(Some((1400, 1300)))
            .idle_browser_timeout(Duration::from_secs(300))
            .build()
            .expect("launch options"),
    )
    .expect("start Chromium");
    let tab = browser.new_tab().expect("tab");
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&errors);
    tab.enable_runtime().expect("runtime");
    tab.enable_log().expect("log");
    tab.add_event_listener(Arc::new(move |event: &Event| {
        let error = match event {
            Event::RuntimeExceptionThrown(e) => Some(format!("{:?}", e.params.exception_details)),
            Event::RuntimeConsoleAPICalled(e)
                if e.params.Type == ConsoleAPICalledEventTypeOption::Error =>
            {
                Some(format!("{:?}", e.params.args))
            }
            Event::LogEntryAdded(e) if e.params.entry.level == LogEntryLevel::Error => {
                Some(format!(
                    "{}: {}",
                    e.params.entry.url.clone().unwrap_or_default(),
                    e.params.entry.text
                ))
            }
            _ => None,
        };
        if let Some(error) = error {
            seen.lock().expect("errors").push(error);
        }
    }))
    .expect("listener");
    tab.navigate_to(url).expect("navigate");
    tab.wait_until_navigated().expect("navigated");
    wait_until("the page to be ready", || {
        text(&tab, "document.body.dataset.ready || ''") == "true"
    });
    (browser, tab, errors)
}

#[test]
fn the_page_shows_the_ranking_and_updates_as_rows_arrive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("tweets.jsonl");
    // First the bundled seed tweets, then generated ones from just after them.
    let bundled = std::fs::read_to_string(common::root().join("data/evilnet/tweets_decoded.jsonl"))
        .expect("the bundled tweets");
    generate(
        &input,
        "tweets",
        "6000",
        &[
            "--rate",
            "2",
            "--seed",
            "11",
            "--start",
            "2022-09-26T03:25:00Z",
        ],
    );
    let later = std::fs::read_to_string(&input).expect("tweets");
    let first: Vec<&str> = bundled.lines().collect();
    let second: Vec<&str> = later.lines().collect();

    let mut server = Server::start_with(
        dir.path(),
        &[
            "run",
            "dataflows/evilnet.toml",
            "--source",
            "file:-",
            "--quiet",
            "--sink",
            "jsonl:/dev/null",
        ],
        Stdio::piped(),
    );
    let mut stdin = server.stdin().expect("stdin");
    for line in &first {
        writeln!(stdin, "{line}").expect("write");
    }
    stdin.flush().expect("flush");
    server.wait_for(|s| {
        !s.get("/api/outputs/top_cities/latest").1["rows"]
            .as_array()
            .expect("rows")
            .is_empty()
    });

    let (_browser, tab, errors) = open_page(&format!("{}/", server.url));

    // The ranking table holds the API's newest ranking, in order.
    let (_, latest) = server.get("/api/outputs/top_cities/latest");
    let ranking: Vec<String> = latest["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["city"].as_str().expect("city").to_string())
        .collect();
    let table = text(
        &tab,
        "document.querySelector('#table-top_cities').innerText",
    );
    let mut at = 0;
    for city in &ranking {
        let found = table[at..]
            .find(city.as_str())
            .unwrap_or_else(|| panic!("{city} missing or out of order in\n{table}"));
        at += found + city.len();
    }
    assert!(
        table.contains("final") || table.contains("provisional"),
        "{table}"
    );
    let caption = text(
        &tab,
        "document.querySelector('#table-top_cities caption').innerText",
    );
    let updates: u64 = text(&tab, "document.body.dataset.updates")
        .parse()
        .expect("count");
    // Every chart drew something.
    let charts = text(&tab, "Object.values(Chart.instances).filter(c => c.data.datasets.some(d => d.data.length > 0)).length");
    assert!(
        charts.parse::<u32>().expect("count") >= 3,
        "charts with data: {charts}"
    );

    // New rows: the page follows without a reload.
    for line in &second {
        writeln!(stdin, "{line}").expect("write");
    }
    stdin.flush().expect("flush");
    wait_until("the page to update", || {
        let now: u64 = text(&tab, "document.body.dataset.updates")
            .parse()
            .unwrap_or(0);
        now > updates
            && text(
                &tab,
                "document.querySelector('#table-top_cities caption').innerText",
            ) != caption
    });
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("screenshot");
    std::fs::write(common::root().join("target/dashboard.png"), png).expect("write screenshot");
    let errors = errors.lock().expect("errors");
    assert!(errors.is_empty(), "console errors: {errors:?}");
    drop(stdin);
}

#[test]
fn the_taxi_page_maps_hotspots_and_draws_every_output_without_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("taxi.jsonl");
    generate(&input, "taxi", "6000", &["--rate", "1", "--seed", "12"]);
    let source = format!("file:{}", input.display());
    let mut server = Server::start(
        dir.path(),
        &[
            "run",
            "dataflows/taxi.toml",
            "--source",
            &source,
            "--quiet",
            "--sink",
            "jsonl:/dev/null",
        ],
    );
    server.wait_until_ended();
    let (_browser, tab, errors) = open_page(&format!("{}/", server.url));
    // The hotspot map holds the newest ranking's cells, at their centres.
    let (_, latest) = server.get("/api/outputs/hotspot_locations/latest");
    let cells = latest["rows"].as_array().expect("rows").len();
    assert!(cells > 0);
    let mapped = text(
        &tab,
        "Chart.getChart('map-hotspot_locations').data.datasets[0].data.length",
    );
    assert_eq!(mapped, cells.to_string());
    let first = text(
        &tab,
        "JSON.stringify(Chart.getChart('map-hotspot_locations').data.datasets[0].data[0])",
    );
    let point: serde_json::Value = serde_json::from_str(&first).expect("point");
    let cell = latest["rows"][0]["pickup_cell"].as_str().expect("cell");
    let (lat, lon) = cell.split_once(',').expect("lat,lon");
    assert_eq!(point["y"].as_f64(), lat.parse().ok(), "{point}");
    assert_eq!(point["x"].as_f64(), lon.parse().ok(), "{point}");
    // Every output has a table with rows.
    for output in [
        "fare_totals",
        "daily_totals",
        "hotspot_community_areas",
        "hotspot_locations",
    ] {
        assert_table_has_rows(&tab, output);
    }
    let errors = errors.lock().expect("errors");
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

#[test]
fn the_sentiment_page_shows_per_record_rows_without_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(
        dir.path(),
        &[
            "run",
            "dataflows/sentiment.toml",
            "--quiet",
            "--sink",
            "jsonl:/dev/null",
            "--http-retention",
            "1000d",
        ],
    );
    server.wait_until_ended();
    let (_browser, tab, errors) = open_page(&format!("{}/", server.url));
    for output in ["tweet_polarity", "sentiment_by_minute"] {
        assert_table_has_rows(&tab, output);
    }
    let points = text(
        &tab,
        "Chart.getChart('chart-tweet_polarity').data.datasets[0].data.length",
    );
    assert!(
        points.parse::<u32>().expect("count") > 0,
        "the polarity chart is empty"
    );
    let errors = errors.lock().expect("errors");
    assert!(errors.is_empty(), "console errors: {errors:?}");
}
