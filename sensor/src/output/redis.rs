//! EVE lines to Redis, as Suricata's `redis` output writes them: `LPUSH`
//! (`list`), `RPUSH`, `PUBLISH` (`channel`) or `XADD key MAXLEN ~ N * eve
//! LINE` (`stream`), so Logstash, Vector or rsyslog read virga where they
//! read Suricata.
//!
//! Redis never holds up the writer thread, and so never the capture, the
//! detection stage or the file: the writer hands each batch to a thread of
//! the sink's own through a queue bounded in bytes ([`QUEUE_MAX_BYTES`]);
//! a batch that does not fit is dropped whole and counted. That thread sends
//! the lines in order, [`RedisTarget::batch_lines`] per pipelined round trip.
//! When Redis is unreachable (not started yet, restarted, network down) the
//! lines that arrive meanwhile are counted as lost, stderr says so once per
//! outage, and the connection is retried with a backoff from
//! [`MIN_RETRY`] to [`MAX_RETRY`]; writing resumes by itself.
//!
//! What Redis loses is lost only there: the file output has every line.

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
pub use virga_config::RedisMode;

/// Bytes of lines waiting for the Redis thread; past this, batches are
/// dropped and counted.
pub const QUEUE_MAX_BYTES: usize = 16 * 1024 * 1024;

/// First interval between connection attempts after a failure.
pub const MIN_RETRY: Duration = Duration::from_millis(100);

/// Longest interval between connection attempts (the backoff doubles up to
/// this).
pub const MAX_RETRY: Duration = Duration::from_secs(5);

/// Deadline of a connection attempt and of each round trip: a Redis that
/// hangs costs at most this before its lines are counted as lost.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Where and how EVE lines go to Redis (`[output.redis]`).
#[derive(Clone, PartialEq, Eq)]
pub struct RedisTarget {
    /// Server URL (may hold credentials: never printed).
    pub url: String,
    /// The command each line is written with.
    pub mode: RedisMode,
    /// List, channel or stream key.
    pub key: String,
    /// `Stream` mode: approximate number of entries kept.
    pub stream_maxlen: u64,
    /// Lines per pipelined round trip (at least 1).
    pub batch_lines: usize,
    /// When the queue is full, wait for the Redis thread instead of
    /// dropping (replay: nothing is lost to a slow Redis; a Redis that is
    /// gone still loses, counted, as the thread empties the queue by
    /// counting). Live capture drops, so the capture never waits.
    pub wait_when_full: bool,
}

impl fmt::Debug for RedisTarget {
    /// The server's address only: the URL may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "redis {} ({:?} {})",
            server_name(&self.url),
            self.mode,
            self.key
        )
    }
}

/// The host and port (or socket path) of `url`, without credentials.
pub fn server_name(url: &str) -> String {
    redis::Client::open(url)
        .map(|c| c.get_connection_info().addr.to_string())
        .unwrap_or_else(|_| "(invalid URL)".to_owned())
}

/// Counters shared between the writer's side of the sink and its thread.
#[derive(Default)]
struct Shared {
    /// Bytes queued for the thread.
    queued: AtomicUsize,
    /// Lines Redis never got.
    lost: AtomicU64,
    /// Set at shutdown: the thread tries for a bounded time, then counts.
    closing: AtomicBool,
}

/// The writer's side: queues batches for the Redis thread.
pub(super) struct RedisSink {
    tx: Option<Sender<Vec<u8>>>,
    shared: Arc<Shared>,
    join: Option<JoinHandle<()>>,
    name: String,
    /// An overload is being reported (once, until the queue has room).
    overloaded: bool,
    wait_when_full: bool,
}

impl RedisSink {
    /// Starts the sink's thread; it connects when Redis is there.
    ///
    /// # Errors
    /// The URL is not one the `redis` crate accepts, or the thread cannot
    /// be started.
    pub(super) fn start(t: &RedisTarget) -> io::Result<RedisSink> {
        let client = redis::Client::open(t.url.as_str()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("Redis URL not usable: {:?}", e.kind()),
            )
        })?;
        let name = client.get_connection_info().addr.to_string();
        let shared = Arc::new(Shared::default());
        let (tx, rx) = unbounded::<Vec<u8>>();
        let mut sender = Courier {
            client,
            conn: None,
            target: t.clone(),
            name: name.clone(),
            shared: shared.clone(),
            retry: MIN_RETRY,
            next_attempt: Instant::now(),
            reported: false,
            packed: Vec::new(),
        };
        let join = std::thread::Builder::new()
            .name("virga-redis".into())
            .spawn(move || sender.run(&rx))?;
        Ok(RedisSink {
            tx: Some(tx),
            shared,
            join: Some(join),
            name,
            overloaded: false,
            wait_when_full: t.wait_when_full,
        })
    }

    /// Queues a batch of complete lines; drops and counts it when the queue
    /// is full. Never blocks.
    pub(super) fn push(&mut self, batch: &[u8]) {
        let Some(tx) = &self.tx else { return };
        let mut queued = self.shared.queued.load(Ordering::Acquire);
        if self.wait_when_full {
            let alive = self.join.as_ref().is_some_and(|j| !j.is_finished());
            while alive && queued > 0 && queued + batch.len() > QUEUE_MAX_BYTES {
                std::thread::sleep(Duration::from_micros(500));
                queued = self.shared.queued.load(Ordering::Acquire);
            }
        }
        if queued + batch.len() > QUEUE_MAX_BYTES {
            self.shared.lost.fetch_add(lines(batch), Ordering::Relaxed);
            if !self.overloaded {
                eprintln!(
                    "virga: EVE to Redis {}: Redis is not keeping up; counting lost events",
                    self.name
                );
                self.overloaded = true;
            }
            return;
        }
        self.overloaded = false;
        self.shared.queued.fetch_add(batch.len(), Ordering::AcqRel);
        if tx.send(batch.to_vec()).is_err() {
            self.shared.lost.fetch_add(lines(batch), Ordering::Relaxed);
        }
    }

    /// Lines Redis never got so far.
    pub(super) fn lost_lines(&self) -> u64 {
        self.shared.lost.load(Ordering::Relaxed)
    }

    /// Lets the thread deliver what is queued for at most [`FINISH`] (plus
    /// a round trip in progress), then counts the rest as lost and stops it.
    pub(super) fn finish(&mut self) {
        self.shared.closing.store(true, Ordering::Release);
        drop(self.tx.take());
        if let Some(j) = self.join.take() {
            let end = Instant::now() + FINISH + IO_TIMEOUT * 2;
            // The thread watches its own deadline; this bounds a join that
            // would outlast it (a round trip stuck past its timeout).
            while !j.is_finished() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(5));
            }
            if j.is_finished() {
                let _ = j.join();
            }
        }
    }
}

/// The sink's thread: a connection and the lines to send on it.
struct Courier {
    client: redis::Client,
    conn: Option<redis::Connection>,
    target: RedisTarget,
    name: String,
    shared: Arc<Shared>,
    retry: Duration,
    next_attempt: Instant,
    /// An outage is being reported (once, until delivery resumes).
    reported: bool,
    /// The commands of the round trip being sent (kept between round trips).
    packed: Vec<u8>,
}

/// How long the thread keeps delivering after shutdown began.
pub const FINISH: Duration = Duration::from_secs(2);

impl Courier {
    fn run(&mut self, rx: &Receiver<Vec<u8>>) {
        let mut deadline: Option<Instant> = None;
        loop {
            let batch = match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(b) => b,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            self.shared.queued.fetch_sub(batch.len(), Ordering::AcqRel);
            if self.shared.closing.load(Ordering::Acquire) {
                let end = *deadline.get_or_insert_with(|| Instant::now() + FINISH);
                if Instant::now() >= end {
                    self.shared.lost.fetch_add(lines(&batch), Ordering::Relaxed);
                    continue;
                }
            }
            self.deliver(&batch);
        }
    }

    /// Sends `batch`, `batch_lines` lines per round trip; what cannot be
    /// sent is counted.
    fn deliver(&mut self, batch: &[u8]) {
        let mut rest = batch;
        while !rest.is_empty() {
            let (chunk, n) = take_lines(rest, self.target.batch_lines);
            rest = &rest[chunk.len()..];
            self.connect_if_due();
            let Some(conn) = self.conn.as_mut() else {
                self.lose(n);
                continue;
            };
            let commands = encode_chunk(&self.target, chunk, &mut self.packed);
            let sent = redis::ConnectionLike::req_packed_commands(conn, &self.packed, 0, commands);
            match sent {
                Ok(replies) => match replies.iter().find_map(server_error) {
                    None => {
                        if self.reported {
                            eprintln!(
                                "virga: EVE to Redis {}: delivering again ({} events lost in all)",
                                self.name,
                                self.shared.lost.load(Ordering::Relaxed)
                            );
                            self.reported = false;
                        }
                    }
                    Some(refusal) => {
                        self.lose(n);
                        self.report(&format!("Redis refused the lines ({refusal})"));
                    }
                },
                Err(e) => {
                    // Some of the chunk may have reached Redis; all of it is
                    // counted as lost (the count is an upper bound).
                    self.lose(n);
                    if e.is_unrecoverable_error() || e.is_io_error() || e.is_timeout() {
                        self.conn = None;
                        self.next_attempt = Instant::now() + self.retry;
                        self.report(&format!("connection lost ({e})"));
                    } else {
                        self.report(&format!("Redis refused the lines ({e})"));
                    }
                }
            }
        }
    }

    fn connect_if_due(&mut self) {
        if self.conn.is_some() || Instant::now() < self.next_attempt {
            return;
        }
        let attempt = crate::redis_conn::connect(&self.client, IO_TIMEOUT);
        match attempt {
            Ok(c) => {
                self.conn = Some(c);
                self.retry = MIN_RETRY;
            }
            Err(e) => {
                self.next_attempt = Instant::now() + self.retry;
                self.report(&format!(
                    "cannot connect ({e}); retrying every {} ms at most",
                    MAX_RETRY.as_millis()
                ));
                self.retry = (self.retry * 2).min(MAX_RETRY);
            }
        }
    }

    fn lose(&mut self, n: u64) {
        self.shared.lost.fetch_add(n, Ordering::Relaxed);
    }

    fn report(&mut self, what: &str) {
        if !self.reported {
            eprintln!(
                "virga: EVE to Redis {}: {what}; counting lost events",
                self.name
            );
            self.reported = true;
        }
    }
}

/// A reply that is Redis refusing a command (a full memory, a key of
/// another type), as text.
fn server_error(v: &redis::Value) -> Option<String> {
    match v {
        redis::Value::ServerError(e) => Some(format!("{e:?}")),
        _ => None,
    }
}

/// Writes into `out` the commands of one round trip for the lines of
/// `chunk` (each ending in `\n`, which is not sent) and returns how many
/// commands that is. Lists take every line in one `LPUSH`/`RPUSH` (the same
/// order as one command per line); channels and streams take one command
/// per line.
///
/// The commands are written in RESP here rather than built with the
/// `redis` crate's `Cmd` and `Pipeline`: those copy every line into an
/// argument buffer and then again into the packed request, and allocate for
/// each; an EVE line is the bulk of the bytes, so it is copied once, into a
/// buffer kept from one round trip to the next. The crate still owns the
/// connection, the replies and the errors.
fn encode_chunk(t: &RedisTarget, chunk: &[u8], out: &mut Vec<u8>) -> usize {
    out.clear();
    let lines = eve_lines(chunk);
    match t.mode {
        RedisMode::List | RedisMode::Rpush => {
            let verb: &[u8] = if t.mode == RedisMode::List {
                b"LPUSH"
            } else {
                b"RPUSH"
            };
            resp_array(out, 2 + lines.clone().count());
            resp_bulk(out, verb);
            resp_bulk(out, t.key.as_bytes());
            for l in lines {
                resp_bulk(out, l);
            }
            1
        }
        RedisMode::Channel => {
            let mut commands = 0;
            for l in lines {
                resp_array(out, 3);
                resp_bulk(out, b"PUBLISH");
                resp_bulk(out, t.key.as_bytes());
                resp_bulk(out, l);
                commands += 1;
            }
            commands
        }
        RedisMode::Stream => {
            let mut maxlen = itoa::Buffer::new();
            let maxlen = maxlen.format(t.stream_maxlen).as_bytes();
            let mut commands = 0;
            for l in lines {
                resp_array(out, 8);
                resp_bulk(out, b"XADD");
                resp_bulk(out, t.key.as_bytes());
                resp_bulk(out, b"MAXLEN");
                resp_bulk(out, b"~");
                resp_bulk(out, maxlen);
                resp_bulk(out, b"*");
                resp_bulk(out, b"eve");
                resp_bulk(out, l);
                commands += 1;
            }
            commands
        }
    }
}

/// The non-empty lines of `chunk`, each without its `\n` (bytes after the
/// last `\n` are not a line).
fn eve_lines(chunk: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    let mut start = 0;
    memchr::memchr_iter(b'\n', chunk)
        .map(move |end| {
            let line = &chunk[start..end];
            start = end + 1;
            line
        })
        .filter(|l| !l.is_empty())
}

/// RESP array header: `*N\r\n`.
fn resp_array(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// RESP bulk string: `$LEN\r\nBYTES\r\n`.
fn resp_bulk(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(b.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// The first `max` lines of `b` (or all of it) and how many that is.
fn take_lines(b: &[u8], max: usize) -> (&[u8], u64) {
    match memchr::memchr_iter(b'\n', b).nth(max.max(1) - 1) {
        Some(i) => (&b[..=i], max.max(1) as u64),
        None => (b, lines(b)),
    }
}

fn lines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_of_whole_lines() {
        let b = b"a\nb\nc\n";
        assert_eq!(take_lines(b, 2), (&b"a\nb\n"[..], 2));
        assert_eq!(take_lines(b"c\n", 2), (&b"c\n"[..], 1));
        assert_eq!(take_lines(b, 10), (&b[..], 3));
    }

    /// The same commands built with the `redis` crate's own encoder.
    fn crate_packed(t: &RedisTarget, chunk: &[u8]) -> Vec<u8> {
        let mut p = redis::pipe();
        let lines = chunk.split(|c| *c == b'\n').filter(|l| !l.is_empty());
        match t.mode {
            RedisMode::List | RedisMode::Rpush => {
                let verb = if t.mode == RedisMode::List {
                    "LPUSH"
                } else {
                    "RPUSH"
                };
                let mut cmd = redis::cmd(verb);
                cmd.arg(&t.key);
                for l in lines {
                    cmd.arg(l);
                }
                p.add_command(cmd);
            }
            RedisMode::Channel => {
                for l in lines {
                    p.cmd("PUBLISH").arg(&t.key).arg(l);
                }
            }
            RedisMode::Stream => {
                for l in lines {
                    p.cmd("XADD")
                        .arg(&t.key)
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(t.stream_maxlen)
                        .arg("*")
                        .arg("eve")
                        .arg(l);
                }
            }
        }
        p.get_packed_pipeline()
    }

    #[test]
    fn commands_are_what_the_redis_crate_would_send() {
        let chunk = "{\"event_type\":\"alert\",\"s\":\"é\\r\\n\"}\n\n{}\n{\"a\":1}\n".as_bytes();
        for mode in [
            RedisMode::List,
            RedisMode::Rpush,
            RedisMode::Channel,
            RedisMode::Stream,
        ] {
            let t = RedisTarget {
                url: "redis://127.0.0.1/".into(),
                mode,
                key: "virga-eve".into(),
                stream_maxlen: 100_000,
                batch_lines: 256,
                wait_when_full: false,
            };
            let mut out = Vec::new();
            let commands = encode_chunk(&t, chunk, &mut out);
            assert_eq!(out, crate_packed(&t, chunk), "{mode:?}");
            let expected = if matches!(mode, RedisMode::List | RedisMode::Rpush) {
                1
            } else {
                3
            };
            assert_eq!(commands, expected, "{mode:?}");
        }
    }

    #[test]
    fn debug_and_name_never_show_the_password() {
        let t = RedisTarget {
            url: "redis://virga:s3cret@10.1.2.3:6380/2".into(),
            mode: RedisMode::Stream,
            key: "eve".into(),
            stream_maxlen: 10,
            batch_lines: 1,
            wait_when_full: false,
        };
        let shown = format!("{t:?}");
        assert!(
            shown.contains("10.1.2.3:6380") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
