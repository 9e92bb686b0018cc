//! Spool write and read-back rates: how fast `tidemark produce` can park messages on disk
//! during an outage and read them back to drain.

// `criterion_group!` generates a function it cannot document.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tidemark::produce::{Record, Spool};

const RECORDS: u64 = 100_000;

fn record(seq: u64) -> Record {
    Record {
        seq,
        timestamp_ms: 1_700_000_000_000,
        key: Some(format!("{}", 1_000_000 + seq % 200_000).into_bytes()),
        payload: vec![b'x'; 450],
    }
}

fn spool(c: &mut Criterion) {
    let mut group = c.benchmark_group("spool");
    group.throughput(Throughput::Elements(RECORDS));
    group.sample_size(10);
    group.bench_function("append 100k x 450 B", |b| {
        b.iter_with_large_drop(|| {
            let dir = tempfile::tempdir().expect("dir");
            let mut spool = Spool::open(dir.path()).expect("open");
            for seq in 0..RECORDS {
                spool.append(&record(seq)).expect("append");
            }
            spool.flush().expect("flush");
            dir
        })
    });
    let dir = tempfile::tempdir().expect("dir");
    {
        let mut spool = Spool::open(dir.path()).expect("open");
        for seq in 0..RECORDS {
            spool.append(&record(seq)).expect("append");
        }
        spool.flush().expect("flush");
    }
    group.bench_function("read back 100k x 450 B", |b| {
        b.iter(|| {
            let mut spool = Spool::open(dir.path()).expect("open");
            let mut n = 0;
            while spool.read(&mut |d| panic!("{d}")).expect("read").is_some() {
                n += 1;
            }
            assert_eq!(n, RECORDS);
        })
    });
    group.finish();
}

criterion_group!(benches, spool);
criterion_main!(benches);
