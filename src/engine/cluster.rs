//! The cluster a run forms: workers per process, processes, this process's index and the
//! hostfile, checked before timely starts (so that a mistake is named, not waited on), and
//! a watch on the connections between processes while timely makes them.

use std::net::{TcpListener, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// How many workers and processes to run, with timely's meaning of `-w -n -p -h`.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// Worker threads per process.
    pub workers: usize,
    /// Number of processes.
    pub processes: usize,
    /// This process's index.
    pub process: usize,
    /// File of `host:port` lines, one per process; default `localhost:2101+i`.
    pub hostfile: Option<PathBuf>,
    /// How long to wait for the other processes to connect before giving up.
    pub connect_timeout: Duration,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            workers: 1,
            processes: 1,
            process: 0,
            hostfile: None,
            connect_timeout: Duration::from_secs(60),
        }
    }
}

/// Cluster settings that cannot work.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// Counts out of range.
    #[error("bad cluster: -w {workers} -n {processes} -p {process} (need -w >= 1, -n >= 1, 0 <= -p < -n)")]
    Counts {
        /// `-w`.
        workers: usize,
        /// `-n`.
        processes: usize,
        /// `-p`.
        process: usize,
    },
    /// More workers than this machine's memory holds.
    #[error(
        "-w {workers} with {total} workers in all needs about {need_mib} MiB (each worker \
         thread, and channels that grow with workers x all workers), more than half of the \
         {available_mib} MiB this machine has available; use fewer workers per process"
    )]
    TooManyWorkers {
        /// Workers in this process.
        workers: usize,
        /// Workers in all processes.
        total: usize,
        /// The estimate.
        need_mib: u64,
        /// `MemAvailable`.
        available_mib: u64,
    },
    /// The hostfile cannot be read.
    #[error("{file}: cannot read the hostfile: {reason}")]
    Unreadable {
        /// The hostfile.
        file: String,
        /// Why.
        reason: std::io::Error,
    },
    /// A hostfile line that is not an address.
    #[error("{file}: line {line}: `{text}` is not a host:port address ({reason})")]
    BadAddress {
        /// The hostfile.
        file: String,
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
        /// Why.
        reason: String,
    },
    /// Fewer addresses than processes.
    #[error("{file}: {lines} host lines for -n {processes}")]
    TooFewHosts {
        /// The hostfile.
        file: String,
        /// Lines found.
        lines: usize,
        /// `-n`.
        processes: usize,
    },
    /// This process's address cannot be listened on.
    #[error("cannot listen on {address} (process {process}'s address, {from}): {reason}")]
    CannotListen {
        /// The address.
        address: String,
        /// This process.
        process: usize,
        /// Where the address came from.
        from: String,
        /// Why.
        reason: std::io::Error,
    },
}

/// Estimated memory of one worker thread (its stack, allocator arenas and dataflow), and of
/// the channels between each pair of (local worker, any worker): the evilnet dataflow in a
/// release build measured 214 MB at `-w 100`, 600 MB at `-w 200` and 1.2 GB at `-w 400`.
const BYTES_PER_WORKER: u64 = 3 << 20;
const BYTES_PER_WORKER_PAIR: u64 = 3 << 10;

impl Cluster {
    /// Checks the settings and makes timely's configuration.
    pub fn timely_config(&self) -> Result<timely::Config, ClusterError> {
        use timely::CommunicationConfig;
        if self.workers == 0 || self.processes == 0 || self.process >= self.processes {
            return Err(ClusterError::Counts {
                workers: self.workers,
                processes: self.processes,
                process: self.process,
            });
        }
        self.check_memory()?;
        let communication = if self.processes > 1 {
            let addresses = self.addresses()?;
            self.check_listen(&addresses[self.process])?;
            CommunicationConfig::Cluster {
                threads: self.workers,
                process: self.process,
                addresses,
                report: false,
                zerocopy: false,
            }
        } else if self.workers > 1 {
            CommunicationConfig::Process(self.workers)
        } else {
            CommunicationConfig::Thread
        };
        Ok(timely::Config {
            communication,
            worker: timely::WorkerConfig::default(),
        })
    }

    /// Refuses a worker count whose channels would not fit in the memory available.
    fn check_memory(&self) -> Result<(), ClusterError> {
        let total = self.workers.saturating_mul(self.processes);
        let workers = self.workers as u64;
        let need = workers.saturating_mul(BYTES_PER_WORKER).saturating_add(
            workers
                .saturating_mul(total as u64)
                .saturating_mul(BYTES_PER_WORKER_PAIR),
        );
        let Some(available) = available_memory() else {
            return Ok(());
        };
        if need > available / 2 {
            return Err(ClusterError::TooManyWorkers {
                workers: self.workers,
                total,
                need_mib: need >> 20,
                available_mib: available >> 20,
            });
        }
        Ok(())
    }

    /// Where the addresses come from, for messages.
    fn address_source(&self) -> String {
        match &self.hostfile {
            Some(path) => format!("line {} of {}", self.process + 1, path.display()),
            None => "the default localhost:2101+p".into(),
        }
    }

    /// The address of every process: the hostfile's lines, or `localhost:2101+i`.
    pub(crate) fn addresses(&self) -> Result<Vec<String>, ClusterError> {
        let Some(path) = &self.hostfile else {
            return Ok((0..self.processes)
                .map(|i| format!("localhost:{}", 2101 + i))
                .collect());
        };
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|reason| ClusterError::Unreadable {
            file: file.clone(),
            reason,
        })?;
        let mut hosts = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // timely allows several addresses on one line, separated by spaces.
            for address in line.split_whitespace() {
                let resolved = address.to_socket_addrs().map(|mut a| a.next());
                let reason = match resolved {
                    Ok(Some(_)) => continue,
                    Ok(None) => "it resolves to no address".to_string(),
                    Err(e) => e.to_string(),
                };
                return Err(ClusterError::BadAddress {
                    file,
                    line: i + 1,
                    text: line.to_string(),
                    reason,
                });
            }
            hosts.push(line.to_string());
        }
        if hosts.len() < self.processes {
            return Err(ClusterError::TooFewHosts {
                file,
                lines: hosts.len(),
                processes: self.processes,
            });
        }
        hosts.truncate(self.processes);
        Ok(hosts)
    }

    /// Checks that this process can listen on its address (timely would otherwise wait on
    /// its peers first and report nothing).
    fn check_listen(&self, addresses: &str) -> Result<(), ClusterError> {
        for address in addresses.split_whitespace() {
            if let Err(reason) = TcpListener::bind(address) {
                return Err(ClusterError::CannotListen {
                    address: address.to_string(),
                    process: self.process,
                    from: self.address_source(),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// While timely connects the processes, says every few seconds which ones this process
    /// waits for, and ends the process with exit code 2 after the connect timeout. The watch
    /// ends when the returned guard is dropped.
    pub fn watch_connections(&self) -> Option<ConnectionWatch> {
        if self.processes <= 1 {
            return None;
        }
        let others: Vec<String> = match self.addresses() {
            Ok(all) => all
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != self.process)
                .map(|(i, a)| format!("process {i} at {a}"))
                .collect(),
            Err(_) => return None,
        };
        let (done, wait) = mpsc::channel::<()>();
        let timeout = self.connect_timeout;
        let process = self.process;
        std::thread::spawn(move || {
            let start = Instant::now();
            let others = others.join(", ");
            loop {
                let left = timeout.saturating_sub(start.elapsed());
                if left.is_zero() {
                    eprintln!(
                        "error: process {process} gave up after {} s (--connect-timeout) waiting \
                         for the other processes to connect: {others}",
                        timeout.as_secs()
                    );
                    std::process::exit(2);
                }
                let every = Duration::from_secs(5);
                match wait.recv_timeout(left.min(every)) {
                    Err(mpsc::RecvTimeoutError::Timeout) if left > every => {
                        tracing::warn!("process {process} is waiting to connect with {others}");
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        });
        Some(ConnectionWatch { _done: done })
    }
}

/// Ends the connection watch when dropped.
pub struct ConnectionWatch {
    _done: mpsc::Sender<()>,
}

/// `MemAvailable` from `/proc/meminfo`, in bytes; `None` where it cannot be read.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(workers: usize, processes: usize, hostfile: Option<PathBuf>) -> Cluster {
        Cluster {
            workers,
            processes,
            hostfile,
            ..Cluster::default()
        }
    }

    #[test]
    fn names_the_hostfile_line_that_is_not_an_address() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hosts = dir.path().join("hosts");
        std::fs::write(&hosts, "127.0.0.1:2101\n\nnot an address\n").expect("write");
        let error = cluster(1, 2, Some(hosts.clone()))
            .timely_config()
            .expect_err("garbage");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("{}: line 3: `not an address`", hosts.display())),
            "{message}"
        );
        std::fs::write(&hosts, "127.0.0.1:2101\n").expect("write");
        let error = cluster(1, 2, Some(hosts))
            .timely_config()
            .expect_err("short");
        assert!(
            error.to_string().contains("1 host lines for -n 2"),
            "{error}"
        );
    }

    #[test]
    fn names_the_address_already_in_use() {
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = taken.local_addr().expect("address").to_string();
        let dir = tempfile::tempdir().expect("tempdir");
        let hosts = dir.path().join("hosts");
        std::fs::write(&hosts, format!("{address}\n127.0.0.1:1\n")).expect("write");
        let error = cluster(1, 2, Some(hosts))
            .timely_config()
            .expect_err("in use");
        assert!(
            error
                .to_string()
                .starts_with(&format!("cannot listen on {address} (process 0's address")),
            "{error}"
        );
    }

    #[test]
    fn refuses_more_workers_than_memory_holds() {
        let Some(available) = available_memory() else {
            return;
        };
        // Enough workers that their channels alone need more than all the memory there is.
        let workers = ((available / BYTES_PER_WORKER_PAIR) as f64).sqrt() as usize + 1;
        let error = cluster(workers, 1, None)
            .timely_config()
            .expect_err("too many");
        assert!(
            matches!(error, ClusterError::TooManyWorkers { .. }),
            "{error}"
        );
        assert!(cluster(2, 1, None).timely_config().is_ok());
    }
}
