//! The `virga` command line: a thin layer over the library.
//!
//! ```text
//! virga replay [-c FILE] [-o FILE|-] [--log-all] [--sysmon PATH]... PCAP|DIR...
//! virga hunt [-c FILE] [-o FILE|-] [--scope serverless|all] [--sysmon PATH]... ZEEK-LOG|DIR...
//! virga run [-i IFACE] [-c FILE] [-o FILE|-] [--log-all] [--allow-root]
//! virga check-config FILE
//! virga health [-c FILE] [--address ADDR:PORT]
//! virga report [-o FILE|-] EVE...
//! ```
//!
//! Exit status:
//!
//! - `0`: success. `run` stopped by SIGTERM or SIGINT after ending every flow
//!   and flushing every event; `check-config` found the file valid; `--help`,
//!   `--version`.
//! - `1`: failure after work started: a capture file broke off or is corrupt
//!   partway (`FILE: corrupt capture at byte N after packet K: REASON`, N the
//!   offset of the broken record or block; the events before are written), a
//!   live capture failed while running, a replay's EVE output could not be
//!   written for a while (lines lost, counted in `stats.virga.output`; `run`
//!   keeps going and reports them in its stop line instead), or a second
//!   SIGTERM/SIGINT cut the shutdown drain short, or an EVE file failed while
//!   `report` read it (no report is written). `health` exits 1 for every
//!   failure (no endpoint, no answer, a bad configuration): Docker's
//!   HEALTHCHECK reserves 2.
//! - `2`: nothing was done because of the invocation: bad arguments, an
//!   unreadable or invalid configuration (`check-config` lists every error as
//!   `FILE:LINE: KEY: REASON`), a missing, unreadable or non-capture input file
//!   (for `hunt`, a missing log path or no log in the folders given; a bad
//!   line inside a log is reported and counted, never an exit status),
//!   an interface that does not exist or may not be captured on, a bad BPF
//!   filter, an EVE output that cannot be opened (by the `run_as_user` account),
//!   a metrics address that cannot be bound, a `run_as_user`/`run_as_group`
//!   that does not exist or cannot be switched to, or still being root after
//!   start-up without `allow_root`; for `report`, an EVE file that cannot be
//!   opened or a report file that cannot be created.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use virga::capture::{expand_inputs, live::LiveCapture, pcap_file::PcapFile, PacketSource as _};
use virga::live_run::{self, LiveOptions};
use virga::output::Target;
use virga::replay::{self, ReplayOptions};
use virga::signals::Signals;

/// Passive sensor for command-and-control traffic behind serverless platforms.
#[derive(Parser)]
#[command(name = "virga", version, about, after_help = EXIT_STATUS)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay pcap/pcapng files (or directories of them) and write EVE JSON.
    Replay {
        /// Configuration file (TOML).
        #[arg(short = 'c', long = "config", value_name = "FILE")]
        config: Option<PathBuf>,
        /// EVE output file; `-` is standard output. Default: the config's
        /// `output.eve_path` (`eve.json`).
        #[arg(short = 'o', long = "output", value_name = "FILE|-")]
        output: Option<String>,
        /// Log tls, quic, dns, http and flow events for all traffic, not only
        /// serverless names.
        #[arg(long = "log-all")]
        log_all: bool,
        /// Sysmon event file (JSON lines or array, gzip or not) or folder of
        /// them, joined to connections and DNS queries so alerts name the
        /// process; repeatable.
        #[arg(long = "sysmon", value_name = "PATH")]
        sysmon: Vec<PathBuf>,
        /// Capture files or directories, replayed in order as one capture.
        #[arg(required = true, value_name = "PCAP")]
        inputs: Vec<String>,
    },
    /// Run the detectors over existing Zeek logs (conn, ssl, dns, http; TSV or
    /// JSON lines, plain or gzip; files, flat folders or Zeek's daily
    /// folders) and write the same EVE alerts as `replay`, then `stats`.
    Hunt {
        /// Configuration file (TOML).
        #[arg(short = 'c', long = "config", value_name = "FILE")]
        config: Option<PathBuf>,
        /// EVE output file; `-` is standard output. Default: the config's
        /// `output.eve_path` (`eve.json`).
        #[arg(short = 'o', long = "output", value_name = "FILE|-")]
        output: Option<String>,
        /// Which destinations the beacon detector scores: serverless names
        /// only, or all (overrides `[detect.beacon] scope`).
        #[arg(long = "scope", value_name = "SCOPE", value_parser = ["serverless", "all"])]
        scope: Option<String>,
        /// Sysmon events (JSON lines or arrays, plain or gzip; a file or a
        /// folder) joined to the logs' connections and DNS queries: alerts
        /// name the process. Repeatable.
        #[arg(long = "sysmon", value_name = "PATH")]
        sysmon: Vec<PathBuf>,
        /// Zeek log files or folders of them.
        #[arg(required = true, value_name = "ZEEK-LOG")]
        inputs: Vec<String>,
    },
    /// Capture live on an interface until SIGTERM/SIGINT; SIGHUP reloads the
    /// configuration and reopens the EVE output.
    Run {
        /// Interface to capture on. Default: the config's `capture.interface`.
        #[arg(short = 'i', long = "interface", value_name = "IFACE")]
        interface: Option<String>,
        /// Configuration file (TOML); SIGHUP reads it again.
        #[arg(short = 'c', long = "config", value_name = "FILE")]
        config: Option<PathBuf>,
        /// EVE output file; `-` is standard output. Default: the config's
        /// `output.eve_path` (`eve.json`).
        #[arg(short = 'o', long = "output", value_name = "FILE|-")]
        output: Option<String>,
        /// Log tls, quic, dns, http and flow events for all traffic, not only
        /// serverless names.
        #[arg(long = "log-all")]
        log_all: bool,
        /// Keep processing packets as root when no `run.run_as_user` is set
        /// (same as `run.allow_root = true`).
        #[arg(long = "allow-root")]
        allow_root: bool,
    },
    /// Make an analyst's report of alerts: one self-contained HTML file with a
    /// summary, a sortable table of pairs, and each pair's timeline, intervals
    /// and evidence, from the EVE files of one or several sensors.
    Report {
        /// HTML file to write; `-` is standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE", default_value = virga::report::DEFAULT_OUTPUT)]
        output: PathBuf,
        /// EVE files (JSON lines), read in order.
        #[arg(required = true, value_name = "EVE")]
        inputs: Vec<PathBuf>,
    },
    /// Check a configuration file: prints `FILE: ok`, or every error as
    /// `FILE:LINE: KEY: REASON` and exits 2.
    CheckConfig {
        /// Configuration file (TOML).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Probe the metrics endpoint of a running `virga run` (container
    /// health checks): exit 0 when it answers with virga's metrics, else 1.
    Health {
        /// Configuration file whose `metrics.listen` to probe.
        #[arg(short = 'c', long = "config", value_name = "FILE")]
        config: Option<PathBuf>,
        /// Address to probe instead (an unspecified address such as 0.0.0.0
        /// is probed on loopback).
        #[arg(long = "address", value_name = "ADDR:PORT")]
        address: Option<std::net::SocketAddr>,
    },
}

/// The exit statuses, for `--help` (as in the module documentation).
const EXIT_STATUS: &str = "Exit status:
  0  success (also `run` stopped by SIGTERM/SIGINT after flushing every event)
  1  failure after work started: a capture file is truncated or corrupt partway
     (one line `virga: FILE: corrupt capture at byte N after packet K: REASON`;
     every event before it is written), live capture failed, or a second
     SIGTERM/SIGINT cut the shutdown short, or an EVE file failed while
     `report` read it
  2  nothing done: bad arguments or configuration, a missing or non-capture
     input (`virga: FILE: cannot open capture: REASON`), a bad interface or BPF
     filter, an EVE output that cannot be opened, an EVE file `report` cannot
     open or a report file it cannot create";

/// Exit status for invocation errors (see the module documentation).
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(USAGE),
            };
        }
    };
    let result = match cli.command {
        Command::Replay {
            config,
            output,
            log_all,
            sysmon,
            inputs,
        } => replay_cmd(config, output, log_all, &sysmon, inputs),
        Command::Hunt {
            config,
            output,
            scope,
            sysmon,
            inputs,
        } => hunt_cmd(config, output, scope, &sysmon, inputs),
        Command::Run {
            interface,
            config,
            output,
            log_all,
            allow_root,
        } => run_cmd(interface, config, output, log_all, allow_root),
        Command::Report { output, inputs } => report(&inputs, &output),
        Command::CheckConfig { file } => check_config(&file),
        Command::Health { config, address } => health(config.as_ref(), address),
    };
    result.unwrap_or_else(|(code, msg)| {
        eprintln!("virga: {msg}");
        ExitCode::from(code)
    })
}

/// A failure: exit status and one message.
type Failure = (u8, String);

/// The configuration file, or the defaults; every error printed, exit 2.
fn load_config(path: Option<&PathBuf>) -> Result<virga_config::Config, Failure> {
    match path {
        Some(p) => virga_config::load(p).map_err(|errs| {
            // One line per problem, as FILE:LINE: KEY: REASON.
            (
                USAGE,
                format!("invalid configuration:\n{}", errs.to_string().trim_end()),
            )
        }),
        None => Ok(virga_config::Config::default()),
    }
}

/// The EVE target of `-o`, or of the configuration.
fn eve_target(cli: Option<&str>, config: &virga_config::Config) -> Target {
    live_run::output_targets(config, cli.map(Target::parse).as_ref()).swap_remove(0)
}

/// Opens (creating) an EVE file once to report a bad path as an invocation
/// error before any work starts.
fn check_output(t: &Target) -> Result<(), Failure> {
    if let Target::File(p) = t {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| (USAGE, format!("cannot open EVE output {p}: {e}")))?;
    }
    Ok(())
}

fn replay_cmd(
    config: Option<PathBuf>,
    output: Option<String>,
    log_all: bool,
    sysmon: &[PathBuf],
    inputs: Vec<String>,
) -> Result<ExitCode, Failure> {
    let config = load_config(config.as_ref())?;
    // Every input must exist and be a capture before anything is written.
    let files = expand_inputs(&inputs).map_err(|e| (USAGE, e.to_string()))?;
    if files.is_empty() {
        return Err((USAGE, format!("no capture files in {}", inputs.join(" "))));
    }
    for f in &files {
        PcapFile::open(f).map_err(|e| (USAGE, e.to_string()))?;
    }
    let attribution = sysmon_events(sysmon, &config)?;
    let output = eve_target(output.as_deref(), &config);
    check_output(&output)?;
    let opts = ReplayOptions {
        inputs,
        output,
        log_all,
        config,
        workers: None,
        attribution,
    };
    let signals = Signals::install();
    let summary =
        replay::run_until(&opts, &signals.shutdown_flag()).map_err(|e| (1, format!("{e:#}")))?;
    if signals.shutdown_requested() {
        eprintln!(
            "virga: stopped by signal after {} packets; every event up to there was written",
            summary.packets
        );
    }
    if opts.attribution.is_some() {
        let a = &summary.attribution;
        eprintln!(
            "virga: process attribution: {} connection records named, {} ambiguous, {} without \
             an event; {} DNS records named",
            a.conns_known, a.conns_ambiguous, a.conns_unmatched, a.dns_matched
        );
    }
    if summary.output.redis_lost_lines > 0 {
        eprintln!(
            "virga: {} of {} EVE lines not delivered to Redis (the file has them all)",
            summary.output.redis_lost_lines, summary.output.lines
        );
    }
    output_losses(
        &summary.output,
        &describe_targets(std::slice::from_ref(&opts.output)),
    )
}

fn hunt_cmd(
    config: Option<PathBuf>,
    output: Option<String>,
    scope: Option<String>,
    sysmon: &[PathBuf],
    inputs: Vec<String>,
) -> Result<ExitCode, Failure> {
    let config = load_config(config.as_ref())?;
    // Every input must exist before anything is written.
    let files = virga::zeek::expand_paths(&inputs).map_err(|e| (USAGE, format!("{e:#}")))?;
    if files.is_empty() {
        return Err((USAGE, format!("no Zeek logs in {}", inputs.join(" "))));
    }
    let scope = match scope.as_deref() {
        Some("all") => Some(virga_config::BeaconScope::All),
        Some(_) => Some(virga_config::BeaconScope::Serverless),
        None => None,
    };
    let attribution = sysmon_events(sysmon, &config)?;
    let output = eve_target(output.as_deref(), &config);
    check_output(&output)?;
    let opts = virga::hunt::HuntOptions {
        inputs,
        output,
        config,
        scope,
        report_bad: None,
        attribution,
    };
    let signals = Signals::install();
    let summary = virga::hunt::run_until(&opts, &signals.shutdown_flag())
        .map_err(|e| (1, format!("{e:#}")))?;
    let c = &summary.counters;
    eprintln!(
        "virga hunt: {} files, {} lines, {} rows, {} bad lines, {} connections, {} alerts",
        c.files_read, c.lines, c.rows, c.bad_lines, c.conn_starts, summary.alerts
    );
    output_losses(
        &summary.output,
        &describe_targets(std::slice::from_ref(&opts.output)),
    )
}

/// Reads the `--sysmon` files before anything is written: a path that
/// cannot be read is an invocation error; what was read is reported on
/// stderr in one line.
fn sysmon_events(
    paths: &[PathBuf],
    config: &virga_config::Config,
) -> Result<Option<virga::attribution::AttributionConfig>, Failure> {
    if paths.is_empty() {
        return Ok(None);
    }
    let (cfg, s) = virga::attribution::load(paths, &config.attribution)
        .map_err(|e| (USAGE, format!("--sysmon: {e:#}")))?;
    eprintln!(
        "virga: sysmon: {} file(s): {} network connection and {} DNS events, {} other events \
         skipped, {} bad lines",
        s.files, s.stats.connections, s.stats.dns, s.stats.skipped, s.stats.bad
    );
    Ok(Some(cfg))
}

/// Exit 1 with one message when EVE lines were lost (the output could not be
/// written for a while); success otherwise.
fn output_losses(o: &virga::output::OutputStats, to: &str) -> Result<ExitCode, Failure> {
    if o.lost_lines == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    Err((
        1,
        format!(
            "{} of {} EVE lines could not be written to {to} ({} failed writes)",
            o.lost_lines, o.lines, o.write_errors
        ),
    ))
}

fn run_cmd(
    interface: Option<String>,
    config_path: Option<PathBuf>,
    output: Option<String>,
    log_all: bool,
    allow_root: bool,
) -> Result<ExitCode, Failure> {
    // Handlers first: a SIGTERM during start-up is honoured, not fatal.
    let signals = Signals::install();
    let mut config = load_config(config_path.as_ref())?;
    if interface.is_some() {
        config.capture.interface = interface;
    }
    // A host event path may appear later (a collector not started yet):
    // said once, then followed when it exists.
    for p in &config.attribution.sysmon_paths {
        if !p.exists() {
            eprintln!(
                "virga: [attribution] sysmon_paths: {} does not exist yet; followed once it appears",
                p.display()
            );
        }
    }
    if config.capture.interface.is_none() {
        return Err((
            USAGE,
            "no interface: give -i IFACE or set capture.interface".into(),
        ));
    }
    let shown = config_path
        .as_ref()
        .map_or_else(|| "(defaults)".to_string(), |p| p.display().to_string());
    // Privileged steps first: the capture, then the metrics port (which may
    // be below 1024); then privileges go, before any thread is started or
    // any packet read (virga::privilege).
    let capture = match config.capture.method {
        // One libpcap handle, read by the capture loop.
        virga_config::CaptureMethod::Pcap => {
            Capturing::Fed(LiveCapture::open(&config.capture).map_err(|e| (USAGE, e.to_string()))?)
        }
        // One source per worker, each read by its worker.
        virga_config::CaptureMethod::AfPacket => Capturing::Own(
            virga::capture::open_sources(&config.capture, config.pipeline.worker_count().get())
                .map_err(|e| (USAGE, e.to_string()))?,
        ),
    };
    let listener = match config.metrics.listen {
        Some(addr) => Some(virga::telemetry::metrics::bind(addr).map_err(|e| {
            (
                USAGE,
                format!("{shown}: metrics.listen: cannot listen on {addr}: {e}"),
            )
        })?),
        None => None,
    };
    let privileges = virga::privilege::enforce(&config.run, allow_root)
        .map_err(|e| (USAGE, format!("{shown}: {e}")))?;
    // EVE outputs are opened as the account virga now runs as, like every
    // SIGHUP reopen after it.
    let cli_output = output.as_deref().map(Target::parse);
    let targets = live_run::output_targets(&config, cli_output.as_ref());
    check_output(&targets[0])?;
    let hub = listener
        .as_ref()
        .map(|_| virga::telemetry::metrics::LatestCounters::new());
    if let (Some(l), Some(h)) = (listener, &hub) {
        let addr = l
            .local_addr()
            .map_or_else(|_| "?".into(), |a| a.to_string());
        virga::telemetry::metrics::serve(l, h.clone())
            .map_err(|e| (USAGE, format!("cannot start the metrics endpoint: {e}")))?;
        eprintln!("virga: metrics on http://{addr}/metrics");
    }
    eprintln!(
        "virga: capturing on {}, EVE to {}, {}",
        capture.describe(),
        describe_targets(&targets),
        match privileges {
            virga::privilege::Outcome::Dropped { uid, gid } => {
                format!("privileges dropped to uid {uid} gid {gid}")
            }
            virga::privilege::Outcome::Unprivileged { uid, shed } if shed.is_empty() => {
                format!("running as uid {uid}")
            }
            virga::privilege::Outcome::Unprivileged { uid, shed } => {
                format!(
                    "running as uid {uid}, capabilities dropped: {}",
                    shed.join(", ")
                )
            }
            virga::privilege::Outcome::RootAllowed => "running as root (allowed)".into(),
        }
    );
    let opts = LiveOptions {
        config,
        config_path,
        output: cli_output,
        log_all,
        metrics: hub,
    };
    let summary = match capture {
        Capturing::Fed(mut source) => live_run::run_live(&mut source, &opts, &signals),
        Capturing::Own(sources) => live_run::run_live_workers(sources, &opts, &signals),
    }
    .map_err(|e| (1, format!("{e:#}")))?;
    let c = summary.capture;
    eprintln!(
        "virga: stopped: {} packets processed ({} received, {} dropped by the kernel, {} by the \
         interface), {} flows, {} events written{}",
        summary.packets,
        c.received,
        c.kernel_drops,
        c.interface_drops,
        summary.flows,
        summary.output.lines,
        lost_note(&summary.output)
    );
    match summary.error {
        Some(e) => Err((1, e.to_string())),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// What `virga run` captures with: one libpcap handle the capture loop
/// reads, or one source per worker (`capture.method = "af_packet"`).
enum Capturing {
    Fed(LiveCapture),
    Own(Vec<Box<dyn virga::capture::PacketSource + Send>>),
}

impl Capturing {
    /// The interface and how it is read, for the start line.
    fn describe(&self) -> String {
        match self {
            Capturing::Fed(s) => format!("{} (LINKTYPE {}, libpcap)", s.origin(), s.linktype()),
            Capturing::Own(sources) => format!(
                "{} (AF_PACKET, {} worker{} each on its own ring)",
                sources.first().map_or("?", |s| s.origin()),
                sources.len(),
                if sources.len() == 1 { "" } else { "s" }
            ),
        }
    }
}

/// ", N not written …" for the stop line, or nothing.
fn lost_note(o: &virga::output::OutputStats) -> String {
    let mut note = String::new();
    if o.lost_lines > 0 {
        note += &format!(", {} lost (the output could not be written)", o.lost_lines);
    }
    if o.socket_lost_lines > 0 {
        note += &format!(", {} not delivered to the socket", o.socket_lost_lines);
    }
    if o.redis_lost_lines > 0 {
        note += &format!(", {} not delivered to Redis", o.redis_lost_lines);
    }
    note
}

fn describe_targets(targets: &[Target]) -> String {
    targets
        .iter()
        .map(|t| match t {
            Target::File(p) => p.clone(),
            Target::Stdout => "stdout".into(),
            Target::UnixSocket(p) => format!("socket {p}"),
            Target::Redis(r) => format!("{r:?}"),
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

/// `virga health`: exit 0 when healthy and 1 for every failure, a bad
/// configuration included (Docker's HEALTHCHECK reserves status 2).
fn health(
    config: Option<&PathBuf>,
    address: Option<std::net::SocketAddr>,
) -> Result<ExitCode, Failure> {
    let mut addr = match address {
        Some(a) => a,
        None => load_config(config)
            .map_err(|(_, m)| (1, m))?
            .metrics
            .listen
            .ok_or((
                1,
                "no metrics endpoint: give --address or set metrics.listen".to_string(),
            ))?,
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    match virga::telemetry::metrics::probe(addr, std::time::Duration::from_secs(3)) {
        Ok(received) => {
            println!("{addr}: ok, {received} packets received");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err((1, format!("unhealthy: {e}"))),
    }
}

/// `virga report`: exit 2 when an input cannot be opened or the output
/// created, 1 when an input fails while being read.
fn report(inputs: &[PathBuf], output: &std::path::Path) -> Result<ExitCode, Failure> {
    let m = virga::report::write_report(inputs, output)
        .map_err(|e| (if e.is_usage() { USAGE } else { 1 }, e.to_string()))?;
    if output.as_os_str() != "-" {
        eprintln!(
            "virga: report of {} alerts ({} pairs) from {} lines written to {}",
            m.read.alerts,
            m.pairs.len(),
            m.read.lines,
            output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn check_config(file: &PathBuf) -> Result<ExitCode, Failure> {
    match virga_config::load(file) {
        Ok(_) => {
            println!("{}: ok", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(errs) => {
            eprint!("{errs}");
            if !errs.to_string().ends_with('\n') {
                eprintln!();
            }
            Ok(ExitCode::from(USAGE))
        }
    }
}
