//! A broker of the cluster of `scripts/cluster.sh` killed (SIGKILL) while `produce` sends and
//! the engine reads: both go on through the other broker, every tweet is in the topic exactly
//! once, and the final Cassandra rows equal an uninterrupted run's. (Its own test binary: no
//! other test may use the cluster while a broker is down.)

mod common;

use common::engine::Engine;
use common::failover::{assert_same, Failover};
use common::tidemark;

#[test]
fn a_broker_killed_mid_stream_loses_and_doubles_nothing() {
    let failover = Failover::new("broker-kill", 2, "61");
    let tweets = failover.dir.path().join("tweets.jsonl");
    let mut engine = failover.spawn("live", "live", &["-w", "2"]);
    let mut producer = Engine::spawn(
        {
            let mut command = tidemark();
            command.args([
                "produce",
                &format!("file:{}", tweets.display()),
                "--quiet",
                "--rate",
                "1000",
                "--to",
                &format!("kafka://{}/{}", failover.cluster.kafka(), failover.topic),
            ]);
            command
        },
        failover.dir.path().join("producer.log"),
    );
    // Mid-stream: a fifth of the tweets sent (the producer needs 20 s for all of them).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while common::messages_in(
        failover.cluster.kafka(),
        &failover.topic,
        failover.partitions,
    ) < 4000
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            producer.stderr()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let downed = failover.cluster.kill_for_a_while("broker-1");
    assert!(producer.running(), "the producer finished before the kill");
    let status = producer.wait("the producer did not finish through broker-2");
    let produced = producer.stderr();
    assert!(status.success(), "{produced}");
    assert!(produced.contains("acknowledged 20000"), "{produced}");
    assert!(produced.contains("possible duplicates 0"), "{produced}");
    downed.restart();

    // Every tweet is in the topic exactly once.
    let mut in_topic: Vec<String> =
        common::consume_all_from(failover.cluster.kafka(), &failover.topic)
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
    let mut sent = failover.lines.clone();
    in_topic.sort();
    sent.sort();
    assert!(in_topic == sent, "the topic lost or doubled tweets");

    // The engine read on through the other broker; stopped and finished, it wrote what an
    // uninterrupted run writes.
    assert!(engine.running(), "the engine ended: {}", engine.stderr());
    engine.terminate();
    let status = engine.wait("still running after SIGTERM");
    assert!(status.success(), "{}", engine.stderr());
    failover.run_to_end("live", "live", &["-w", "2"]);
    assert_same(
        &failover.uninterrupted(),
        &failover.rows("live"),
        "broker killed",
    );
}
