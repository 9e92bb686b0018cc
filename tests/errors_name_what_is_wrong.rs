//! Errors name what is wrong: setup mistakes exit 2 naming the file, key, line or address;
//! an input that fails while it is read ends the run with exit 1 naming the file and offset;
//! pipes and standard input are read as sources; the summary adds up as printed.

mod common;

use common::{root, tidemark};
use std::io::Write;
use std::process::{Output, Stdio};

fn run(args: &[&str]) -> Output {
    tidemark()
        .current_dir(root())
        .arg("run")
        .args(args)
        .arg("--quiet")
        .output()
        .expect("start tidemark")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The bundled evilnet dataflow with `from` replaced by `to`, written to `dir`.
fn evilnet_changed(dir: &std::path::Path, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(root().join("dataflows/evilnet.toml")).expect("dataflow");
    assert!(text.contains(from), "{from}");
    let path = dir.join("changed.toml");
    std::fs::write(&path, text.replace(from, to)).expect("write");
    path.display().to_string()
}

#[test]
fn help_lists_every_source_and_sink_form() {
    let help = tidemark().args(["run", "--help"]).output().expect("help");
    let text = String::from_utf8_lossy(&help.stdout);
    for form in [
        "file:-",
        "kafka://[USER@]HOST:PORT",
        "password.env=",
        "password.file=",
        "tls.ca=",
        "config=FILE",
        "start=earliest|latest|committed",
        "group=NAME",
        "stop=end",
        "until stopped",
        "cassandra://[USER@]HOST:PORT",
        "kafka://[USER@]HOST:PORT[,HOST:PORT]/TOPIC (one JSON message per row",
        "replication=",
        "ttl=",
        "consistency=",
        "--connect-timeout",
    ] {
        assert!(text.contains(form), "`{form}` missing from:\n{text}");
    }
    assert!(!text.contains("its sources until they end"), "{text}");
}

#[test]
fn a_missing_dataflow_file_says_why() {
    let output = run(&["nope.toml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("nope.toml: cannot read: No such file or directory"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_invalid_strftime_format_is_refused_at_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dataflow = evilnet_changed(dir.path(), "format = \"rfc3339\"", "format = \"%Y-%Q\"");
    let output = run(&[&dataflow]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains("changed.toml: time.format: `%Y-%Q` is not a valid strftime pattern"),
        "{text}"
    );
}

#[test]
fn a_typo_inside_where_names_the_key_and_what_is_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dataflow = evilnet_changed(
        dir.path(),
        "key = [\"city\"]\naggregates = [{ name = \"tweets\", fn = \"count\" }]\nrank = { top",
        "key = [\"city\"]\nwhere = { field = \"place_type\", eqals = \"city\" }\naggregates = [{ name = \"tweets\", fn = \"count\" }]\nrank = { top",
    );
    let output = run(&[&dataflow]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains("output.top_cities.where: unknown field `eqals`"),
        "{text}"
    );
    assert!(text.contains("non_empty"), "{text}");
    assert!(!text.contains("untagged"), "{text}");

    // The same inside an aggregate's condition and a filter.
    for (from, to, key) in [
        (
            "where = { field = \"referenced\", non_empty = true } },\n  { name = \"unique_users\"",
            "where = { field = \"referenced\", non_emtpy = true } },\n  { name = \"unique_users\"",
            "output.city_stats.aggregates.retweets.where: unknown field `non_emtpy`",
        ),
        (
            "field = \"place_type\"\nequals = \"city\"",
            "field = \"place_type\"\nequal = \"city\"",
            "filter[0]: unknown field `equal`",
        ),
    ] {
        let dataflow = evilnet_changed(dir.path(), from, to);
        let output = run(&[&dataflow]);
        assert_eq!(output.status.code(), Some(2));
        let text = stderr(&output);
        assert!(text.contains(key), "{key}: {text}");
        assert!(text.contains("non_empty = true"), "{text}");
    }
}

#[test]
fn a_garbage_hostfile_names_its_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1:2101\nbanana\n").expect("write");
    let hosts = hosts.display().to_string();
    let output = run(&["dataflows/evilnet.toml", "-n", "2", "-p", "0", "-h", &hosts]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains(&format!(
            "{hosts}: line 2: `banana` is not a host:port address"
        )),
        "{text}"
    );
}

#[test]
fn a_port_in_use_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("address").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, format!("{address}\n127.0.0.1:1\n")).expect("write");
    let hosts = hosts.display().to_string();
    let output = run(&["dataflows/evilnet.toml", "-n", "2", "-p", "0", "-h", &hosts]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains(&format!("cannot listen on {address}")),
        "{text}"
    );
}

#[test]
fn a_missing_peer_is_named_and_given_up_on() {
    let free = |()| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").to_string()
    };
    let (mine, peer) = (free(()), free(()));
    let dir = tempfile::tempdir().expect("tempdir");
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, format!("{mine}\n{peer}\n")).expect("write");
    let hosts = hosts.display().to_string();
    let output = run(&[
        "dataflows/evilnet.toml",
        "-n",
        "2",
        "-p",
        "0",
        "-h",
        &hosts,
        "--connect-timeout",
        "2",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains(&format!("process 1 at {peer}")), "{text}");
    assert!(text.contains("--connect-timeout"), "{text}");
}

#[test]
fn an_input_that_fails_while_read_ends_the_run_naming_file_and_offset() {
    let output = run(&["dataflows/evilnet.toml", "--source", "file:/proc/self/mem"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains("/proc/self/mem: cannot read at byte offset 0"),
        "{text}"
    );
    assert!(text.contains("summary: read 0"), "{text}");
}

#[test]
fn a_worker_count_the_machine_cannot_hold_is_refused() {
    let output = run(&["dataflows/evilnet.toml", "-w", "100000"]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("-w 100000") && text.contains("MiB"), "{text}");
}

/// Asserts that `output` is a setup error (exit 2) whose message holds each of `needles`.
fn refused(output: &Output, what: &str, needles: &[&str]) {
    assert_eq!(output.status.code(), Some(2), "{what}");
    let text = stderr(output);
    assert!(needles.iter().all(|n| text.contains(n)), "{what}: {text}");
}

/// A generator asked for no cities, authors, symbols or events per second is refused, not
/// quietly given one: by `tidemark gen` and by a `gen:` source alike.
#[test]
fn a_generator_of_nothing_is_refused_naming_the_option() {
    for name in ["cities", "users", "symbols", "rate"] {
        let needle = format!("{name} must be at least 1");
        let output = tidemark()
            .args(["gen", "tweets", "--count", "3", &format!("--{name}"), "0"])
            .output()
            .expect("start tidemark");
        refused(&output, &format!("--{name} 0"), &[&needle]);
        assert!(output.stdout.is_empty(), "--{name} 0 wrote tweets");
        let source = format!("gen:tweets?count=3&{name}=0");
        let output = run(&["dataflows/evilnet.toml", "--source", &source]);
        refused(&output, &source, &[&needle]);
    }
}

/// A producer asked for no messages per second or a topic of no partitions is refused
/// before it looks for a broker.
#[test]
fn a_producer_of_nothing_is_refused_naming_the_option() {
    for (flag, value, needle) in [
        ("--rate", "0", "--rate must be a positive number"),
        ("--rate", "NaN", "--rate must be a positive number"),
        ("--partitions", "0", "--partitions must be at least 1"),
    ] {
        let output = tidemark()
            .args([
                "produce",
                "--to",
                "kafka://127.0.0.1:1/t",
                "gen:tweets?count=3",
            ])
            .args(["--quiet", flag, value])
            .output()
            .expect("start tidemark");
        refused(&output, &format!("{flag} {value}"), &[needle]);
    }
}

/// An API answer of no rows is refused where the flag is given, by `run` and `serve`.
#[test]
fn a_row_limit_of_zero_is_refused() {
    for args in [
        &["run", "dataflows/evilnet.toml", "--http", "127.0.0.1:0"][..],
        &["serve"][..],
    ] {
        let output = tidemark()
            .current_dir(root())
            .args(args)
            .args(["--http-row-limit", "0"])
            .output()
            .expect("start tidemark");
        refused(
            &output,
            &format!("{args:?}"),
            &["--http-row-limit", "at least 1 row"],
        );
    }
}

#[test]
fn a_literal_path_wins_over_glob_meaning_and_an_empty_glob_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tweets = std::fs::read(root().join("data/evilnet/tweets_decoded.jsonl")).expect("tweets");
    std::fs::write(dir.path().join("x[1].jsonl"), &tweets).expect("write");
    // A file the pattern would match, holding nothing: reading it would give no rows.
    std::fs::write(dir.path().join("x1.jsonl"), "").expect("write");
    let literal = format!("file:{}/x[1].jsonl", dir.path().display());
    let output = run(&["dataflows/evilnet.toml", "--source", &literal]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("summary: read 74"),
        "{}",
        stderr(&output)
    );

    let pattern = format!("{}/*.nothing", dir.path().display());
    let output = run(&[
        "dataflows/evilnet.toml",
        "--source",
        &format!("file:{pattern}"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!("{pattern}: no file matches this pattern")),
        "{}",
        stderr(&output)
    );
}

#[test]
fn standard_input_and_fifos_are_read_as_one_partition() {
    let tweets = std::fs::read(root().join("data/evilnet/tweets_decoded.jsonl")).expect("tweets");
    let bundled = run(&["dataflows/evilnet.toml"]);
    assert!(bundled.status.success());

    let mut child = tidemark()
        .current_dir(root())
        .args([
            "run",
            "dataflows/evilnet.toml",
            "--source",
            "file:-",
            "--quiet",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = {
        let tweets = tweets.clone();
        std::thread::spawn(move || stdin.write_all(&tweets).expect("write stdin"))
    };
    let piped = child.wait_with_output().expect("wait");
    writer.join().expect("writer");
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_eq!(piped.stdout, bundled.stdout);

    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("tweets.fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, tweets).expect("write fifo"))
    };
    let from_fifo = run(&[
        "dataflows/evilnet.toml",
        "--source",
        &format!("file:{}", fifo.display()),
    ]);
    writer.join().expect("writer");
    assert!(from_fifo.status.success(), "{}", stderr(&from_fifo));
    assert_eq!(from_fifo.stdout, bundled.stdout);
}

#[test]
fn the_summary_adds_up_and_counts_each_window_once() {
    let one = run(&["dataflows/evilnet.toml", "-w", "1"]);
    let four = run(&["dataflows/evilnet.toml", "-w", "4"]);
    let line = |output: &Output, prefix: &str| {
        stderr(output)
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in {}", stderr(output)))
            .to_string()
    };
    assert_eq!(line(&one, "windows final"), line(&four, "windows final"));

    // A replayed tweet is a duplicate, counted apart from kept.
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("twice.jsonl");
    let tweets =
        std::fs::read_to_string(root().join("data/evilnet/tweets_decoded.jsonl")).expect("tweets");
    std::fs::write(&input, format!("{tweets}{tweets}")).expect("write");
    let twice = run(&[
        "dataflows/evilnet.toml",
        "--source",
        &format!("file:{}", input.display()),
    ]);
    let summary = line(&twice, "summary:");
    let number = |name: &str| -> u64 {
        let at = summary.find(&format!("{name} ")).expect(name) + name.len() + 1;
        summary[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .expect("number")
    };
    assert_eq!(number("duplicates"), 73, "{summary}");
    assert_eq!(
        number("read"),
        number("kept")
            + number("filtered")
            + number("duplicates")
            + number("late")
            + number("dead letters"),
        "{summary}"
    );
}

#[test]
fn logs_carry_no_colour_when_standard_error_is_not_a_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("bad.jsonl");
    std::fs::write(&input, "not json\n").expect("write");
    // Without --dead-letter the dead letter is logged as a warning.
    let output = run(&[
        "dataflows/evilnet.toml",
        "--source",
        &format!("file:{}", input.display()),
    ]);
    let text = stderr(&output);
    assert!(text.contains("WARN"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
}
