//! Raw configuration: the TOML file exactly as written, before validation.
//!
//! Every struct rejects unknown keys and takes its defaults from its `Default` impl, so a file
//! holding only some keys gets defaults for the rest. Values are only type-checked here; ranges,
//! addresses, patterns and cross-field rules are checked when the validated [`crate::Config`] is
//! built with `Config::try_from(raw)`.
//!
//! To add a key: add the field here (doc: meaning, default, unit), set its default in the
//! `Default` impl, add the validated field to its section of [`crate::Config`] (`model.rs`),
//! and document it in `deploy/virga.toml`.

use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    /// `[capture]`: packet capture. Defaults: see [`RawCapture`].
    pub capture: RawCapture,
    /// `[pipeline]`: worker threads and queues. Defaults: see [`RawPipeline`].
    pub pipeline: RawPipeline,
    /// `[flow]`: flow table and timeouts. Defaults: see [`RawFlow`].
    pub flow: RawFlow,
    /// `[names]`: per-client DNS name attribution cache. Defaults: see [`RawNames`].
    pub names: RawNames,
    /// `[output]`: EVE JSON output. Defaults: see [`RawOutput`].
    pub output: RawOutput,
    /// `[run]`: process identity. Defaults: see [`RawRun`].
    pub run: RawRun,
    /// `[metrics]`: metrics endpoint. Default: off.
    pub metrics: RawMetrics,
    /// `[catalogue]`: changes to the built-in serverless catalogue. Default: no changes.
    pub catalogue: RawCatalogue,
    /// `[[allowlist]]`: traffic never alerted on. Default: empty.
    pub allowlist: Vec<RawAllowEntry>,
    /// `[detect]`: detectors. Defaults: see [`RawDetect`].
    pub detect: RawDetect,
    /// `[attribution]`: host events naming the process behind connections. Defaults: see
    /// [`RawAttribution`].
    pub attribution: RawAttribution,
}

/// `[attribution]`: Sysmon network (event 3) and DNS (event 22) events joined to connections and
/// DNS queries, so alerts name the process.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAttribution {
    /// Sysmon event files (JSON lines or a JSON array, optionally gzip) or folders of them that
    /// `virga run` follows as they grow and across rotation. Default: none (no attribution).
    pub sysmon_paths: Vec<String>,
    /// Largest difference between an event's `UtcTime` and the packet time for the event to name
    /// a connection's or query's process. Default: 5 seconds. Range 0 to 300.
    pub skew_secs: u64,
    /// Host events held at once for the join (events older than the skew behind packet time are
    /// dropped first; past this, the oldest). Default: 262144 events. Range 1024 to 16777216.
    pub max_events: u64,
}

impl Default for RawAttribution {
    fn default() -> Self {
        RawAttribution {
            sysmon_paths: Vec::new(),
            skew_secs: 5,
            max_events: 262_144,
        }
    }
}

/// What the capture thread does when a worker queue is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawQueueFull {
    /// Drop the batch and count it (live capture keeps pace with the wire). The default.
    #[default]
    Drop,
    /// Wait for room (no sensor-side loss; the kernel ring may drop instead).
    Block,
}

/// How live capture reads the interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawCaptureMethod {
    /// libpcap, one capture thread. The default.
    #[default]
    Pcap,
    /// Linux AF_PACKET sockets, one TPACKET_V3 ring per worker in a fanout group.
    AfPacket,
}

/// Which pairs the beacon detector scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawBeaconScope {
    /// Destinations whose name (or DNS chain) is in the serverless catalogue. The default.
    #[default]
    Serverless,
    /// Every destination.
    All,
}

/// `[capture]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawCapture {
    /// Network interface for live capture, e.g. `"eth0"`. Default: none (an interface or a pcap
    /// file must then be given on the command line).
    pub interface: Option<String>,
    /// Bytes captured per packet. Default: 65535 bytes. Range 64 to 262144.
    pub snaplen_bytes: u64,
    /// Kernel capture buffer size. Default: 33554432 bytes (32 MiB). Range 65536 to 2147483647.
    pub buffer_size_bytes: u64,
    /// BPF filter applied in the kernel, libpcap syntax. Default: `""` (all packets).
    pub bpf_filter: String,
    /// Put the interface in promiscuous mode. Default: true.
    pub promiscuous: bool,
    /// Deliver packets as they arrive instead of when the kernel buffer fills. Default: true.
    pub immediate_mode: bool,
    /// Live capture policy when a worker queue is full: `"drop"` or `"block"`. Default: `"drop"`.
    /// Reading a pcap file always blocks.
    pub live_queue_full: RawQueueFull,
    /// How live capture reads the interface: `"pcap"` (libpcap, one capture thread) or
    /// `"af_packet"` (Linux only: one AF_PACKET ring per worker, the kernel spreading packets
    /// over them by client address). Default: `"pcap"`.
    pub method: RawCaptureMethod,
}

impl Default for RawCapture {
    fn default() -> Self {
        Self {
            interface: None,
            snaplen_bytes: 65_535,
            buffer_size_bytes: 32 * 1024 * 1024,
            bpf_filter: String::new(),
            promiscuous: true,
            immediate_mode: true,
            live_queue_full: RawQueueFull::Drop,
            method: RawCaptureMethod::Pcap,
        }
    }
}

/// `[pipeline]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawPipeline {
    /// Worker threads. Default: 0 (one per available CPU core). Range 0 to 1024.
    pub workers: u64,
    /// Packets per batch handed from capture to a worker. Default: 64 packets. Range 1 to 4096.
    pub batch_packets: u64,
    /// Capacity of each worker queue, in batches. Default: 256 batches. Range 1 to 1048576.
    pub queue_batches: u64,
}

impl Default for RawPipeline {
    fn default() -> Self {
        Self {
            workers: 0,
            batch_packets: 64,
            queue_batches: 256,
        }
    }
}

/// `[flow]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawFlow {
    /// Flows tracked per worker; the oldest is evicted past this. Default: 65536 flows.
    /// Range 1 to 16777216.
    pub max_flows: u64,
    /// Expire an established TCP flow idle this long. Default: 600 s (Suricata's
    /// `flow-timeouts.tcp.established`; Zeek's `tcp_inactivity_timeout` is 300 s).
    /// Range 1 to 86400.
    pub tcp_idle_timeout_secs: u64,
    /// Expire a TCP flow whose handshake is not complete (packets seen from one side only, such
    /// as an unanswered SYN) idle this long. The effective timeout of such a flow is the smaller
    /// of this and `tcp_idle_timeout_secs`. Default: 30 s (Suricata's `flow-timeouts.tcp.new`).
    /// Range 1 to 86400.
    pub tcp_new_timeout_secs: u64,
    /// Expire a TCP flow this long after FIN/RST in both directions. Default: 10 s
    /// (Suricata's `emergency-closed`; Zeek's `tcp_close_delay` is 5 s). Range 0 to 3600.
    pub tcp_closed_timeout_secs: u64,
    /// Expire a UDP flow idle this long. Default: 60 s (Zeek's `udp_inactivity_timeout`).
    /// Range 1 to 86400.
    pub udp_idle_timeout_secs: u64,
    /// Client payload bytes buffered per flow to parse the first flight (TLS ClientHello, QUIC
    /// Initial, HTTP request head). Default: 16384 bytes. Range 1024 to 1048576.
    pub first_flight_max_bytes: u64,
    /// Client segments or datagrams looked at for the first flight. Default: 16. Range 1 to 1024.
    pub first_flight_max_segments: u64,
    /// Bytes all first-flight buffers of one worker may hold together (Suricata's
    /// `stream.reassembly.memcap`). Default: 33554432 (32 MiB). Range 65536 to 17179869184.
    pub first_flight_memcap_bytes: u64,
}

impl Default for RawFlow {
    fn default() -> Self {
        Self {
            max_flows: 65_536,
            tcp_idle_timeout_secs: 600,
            tcp_new_timeout_secs: 30,
            tcp_closed_timeout_secs: 10,
            udp_idle_timeout_secs: 60,
            first_flight_max_bytes: 16_384,
            first_flight_max_segments: 16,
            first_flight_memcap_bytes: 32 << 20,
        }
    }
}

/// `[names]`: which DNS names each client resolved to which addresses, so that a connection
/// without SNI (or with ECH) can still be attributed to a name.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawNames {
    /// Cached (client, address) → name entries per worker; least recently used is evicted.
    /// Default: 65536 entries. Range 1 to 16777216.
    pub max_entries_per_worker: u64,
    /// Longest time an entry is kept, whatever the DNS TTL says. Default: 86400 s (1 day).
    /// Range 1 to 604800.
    pub max_ttl_secs: u64,
    /// Shortest time an entry is kept, even for TTL 0 answers. Default: 30 s. Range 0 to
    /// `max_ttl_secs`.
    pub min_ttl_secs: u64,
}

impl Default for RawNames {
    fn default() -> Self {
        Self {
            max_entries_per_worker: 65_536,
            max_ttl_secs: 86_400,
            min_ttl_secs: 30,
        }
    }
}

/// `[output]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawOutput {
    /// EVE JSON file (one event per line), appended to; `"-"` writes to standard output.
    /// Relative paths are relative to the working directory. Default: `"eve.json"`.
    pub eve_path: String,
    /// Unix stream socket to which EVE lines are also sent (the sensor connects as a client, as
    /// Suricata's `unix_stream` output does). Default: none.
    pub socket_path: Option<String>,
    /// Flush buffered output at least this often. Default: 1000 ms. Range 0 to 60000; 0 flushes
    /// after every batch of events.
    pub flush_interval_ms: u64,
    /// Log every parsed DNS, TLS, QUIC, HTTP and flow record, not only those involving a
    /// catalogued platform (alerts and stats are always logged). Default: false.
    pub log_all: bool,
    /// Emit a `stats` event this often. Default: 60 s. Range 0 to 86400; 0 turns stats off.
    pub stats_interval_secs: u64,
    /// Seed of the Community ID flow hash (`community_id` field). Default: 0. Range 0 to 65535.
    pub community_id_seed: u64,
    /// `[output.redis]`: EVE lines also sent to Redis, as Suricata's Redis output does. Default:
    /// none (the section absent).
    pub redis: Option<RawRedisOutput>,
}

/// How EVE lines are written to Redis (the names Suricata's `redis` output uses).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawRedisMode {
    /// `LPUSH key line`: the newest line at the head (Suricata's default). The default.
    #[default]
    List,
    /// `RPUSH key line`: the newest line at the tail.
    Rpush,
    /// `PUBLISH key line`: to whoever is subscribed at that moment.
    Channel,
    /// `XADD key MAXLEN ~ stream_maxlen * eve line`: a capped stream.
    Stream,
}

/// `[output.redis]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawRedisOutput {
    /// Server: `redis://[user:password@]host[:port][/db]`, `rediss://…` (TLS) or
    /// `redis+unix:///path/to/socket[?db=N]`. Default: `"redis://127.0.0.1:6379"`.
    pub url: String,
    /// `"list"` (LPUSH), `"rpush"` (RPUSH), `"channel"` (PUBLISH) or `"stream"` (XADD).
    /// Default: `"list"`.
    pub mode: RawRedisMode,
    /// The list, channel or stream key. Default: `"virga"`. At most 512 bytes.
    pub key: String,
    /// `stream` mode: entries kept (approximately: `MAXLEN ~`). Default: 100000. Range 1 to
    /// 1000000000.
    pub stream_maxlen: u64,
    /// Lines sent in one pipelined round trip. Default: 256. Range 1 to 65536.
    pub batch_lines: u64,
}

impl Default for RawRedisOutput {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379".to_owned(),
            mode: RawRedisMode::List,
            key: "virga".to_owned(),
            stream_maxlen: 100_000,
            batch_lines: 256,
        }
    }
}

impl Default for RawOutput {
    fn default() -> Self {
        Self {
            eve_path: "eve.json".to_owned(),
            socket_path: None,
            flush_interval_ms: 1000,
            log_all: false,
            stats_interval_secs: 60,
            community_id_seed: 0,
            redis: None,
        }
    }
}

/// `[run]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawRun {
    /// User (name or numeric id) to switch to once capture is open. Default: none (stay).
    pub run_as_user: Option<String>,
    /// Group (name or numeric id) to switch to once capture is open. Default: none (the user's
    /// primary group when `run_as_user` is set, otherwise stay).
    pub run_as_group: Option<String>,
    /// Allow packet processing to go on as root. Default: false.
    pub allow_root: bool,
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawMetrics {
    /// Address and port of the metrics HTTP endpoint, e.g. `"127.0.0.1:9911"` or `"[::1]:9911"`.
    /// Default: none (metrics endpoint off).
    pub listen: Option<String>,
}

/// `[catalogue]`: changes applied to the built-in serverless catalogue at load.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawCatalogue {
    /// Entries to add, same shape as the built-in ones. Default: none.
    pub add: Vec<RawCatalogueEntry>,
    /// Built-in entries to drop, by platform id (`"google_apps_script"`: all its patterns) or by
    /// exact pattern (`"*.ngrok.io"`). Applied before `add`. Default: none.
    pub remove: Vec<String>,
}

/// One catalogue entry: a name pattern belonging to a platform.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawCatalogueEntry {
    /// Platform id, snake_case (`"cloudflare_workers"`). Required. Entries sharing an id share
    /// the platform and must agree on `name` and `tier`.
    pub id: Option<String>,
    /// Human-readable platform name for alert signatures (`"Cloudflare Workers"`). Required.
    pub name: Option<String>,
    /// 1 (function/edge platforms seen fronting C2), 2 (edge/PaaS hosts usable as redirectors)
    /// or 3 (lower prevalence). Required.
    pub tier: Option<u64>,
    /// Name pattern, e.g. `"*.*.workers.dev"`; see [`crate::Pattern`] for the syntax. Required.
    pub pattern: Option<String>,
    /// Position of the account/tenant label, counted from the right end of the name
    /// (1 = top-level label), e.g. 3 for the `acme` in `relay.acme.workers.dev`. Must point at
    /// a wildcard. Default: none (no account grouping).
    pub account_label: Option<u64>,
    /// How the tenant is cut out of the account label when the platform packs it with other
    /// parts: `"label"` (the whole label, the default), `"after_double_dash"`,
    /// `"before_double_dash"`, `"vercel_scope"`, `"cloud_run_hash"`, `"leading_number"`,
    /// `"trailing_number"` or `"before_port"` (see [`crate::TenantRule`]). Needs
    /// `account_label`.
    pub tenant: Option<String>,
}

/// One `[[allowlist]]` entry; it matches when every field given matches.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAllowEntry {
    /// Client address or network in CIDR notation (`"10.1.2.3"`, `"10.0.0.0/8"`,
    /// `"2001:db8::/32"`). Default: any client.
    pub client: Option<String>,
    /// Server name, exact (`"api.example.com"`) or every name below a suffix
    /// (`"*.example.com"`). Case-insensitive. Default: any name.
    pub server_name: Option<String>,
    /// JA4 TLS/QUIC client fingerprint, exact (`"t13d1516h2_8daaf6152771_02713d6af862"`).
    /// Default: any fingerprint.
    pub ja4: Option<String>,
    /// Program image of the process that made the connection, as host events name it: a
    /// case-insensitive glob over the full path (`*` any characters, `?` one), e.g.
    /// `"*\\jenkins\\*"`. Matches only connections whose process is known (`[attribution]`).
    /// Default: any program.
    pub image: Option<String>,
    /// Why this traffic is allowed; shown in logs. Required, non-empty.
    pub reason: Option<String>,
}

/// `[detect]`: one sub-table per detector.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawDetect {
    /// `[detect.beacon]`: periodic client→function traffic. Defaults: see [`RawBeacon`].
    pub beacon: RawBeacon,
    /// `[detect.client]`: browser or not, from the ClientHello. Defaults: see
    /// [`RawClientDetect`].
    pub client: RawClientDetect,
    /// `[detect.dns]`: DNS anomalies around functions. Defaults: see [`RawDnsDetect`].
    pub dns: RawDnsDetect,
    /// `[detect.prevalence]`: how many distinct clients use each server name. Defaults: see
    /// [`RawPrevalence`].
    pub prevalence: RawPrevalence,
}

/// `[detect.beacon]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawBeacon {
    /// Run the beacon detector. Default: true.
    pub enabled: bool,
    /// Beats (connections, after merging those of one check-in) from a client to a name before
    /// the pair is scored. Default: 6 beats. Range 3 to 64 (the detector keeps the last 64
    /// beats of each pair).
    pub min_beats: u64,
    /// Alert when the beacon score (0 to 1) reaches this. Default: 0.7. Range 0.0 to 1.0.
    pub score_threshold: f64,
    /// Connections of one client to one name that start within this time of the first are one
    /// beat (check-in, task fetch and result post; retries); never more than a quarter of the
    /// pair's typical interval. Default: 3000 ms. Range 0 to 600000.
    pub beat_merge_ms: u64,
    /// Clients of the same class (browser or not) contacting a name that are expected of one
    /// intrusion; beyond this, the score is multiplied by `prevalence_free_clients / clients`.
    /// Default: 3 clients. Range 1 to 1000000.
    pub prevalence_free_clients: u64,
    /// Alert threshold for pairs whose client software is a browser (stricter: browser pages
    /// poll). Default: 0.9. Range 0.0 to 1.0.
    pub browser_score_threshold: f64,
    /// Browser pairs alert only when their intervals spread over at least this fraction of the
    /// longest interval (deliberate sleep jitter; page timers are exact). Default: 0.1. Range
    /// 0.0 to 1.0.
    pub browser_min_jitter_fraction: f64,
    /// After an alert, stay quiet for the same pair this long. Default: 3600 s. Range 0 to
    /// 604800.
    pub realert_quiet_secs: u64,
    /// Which (client, destination) pairs are scored: `"serverless"` (catalogued platforms, the
    /// default) or `"all"` (every destination: a name, or the address when the client used
    /// none; see `infrastructure_ports`).
    pub scope: RawBeaconScope,
    /// The former switch for scoring every name; replaced by `scope = "all"`. Any value is an
    /// error that says so.
    pub all_names: Option<serde::de::IgnoredAny>,
    /// A client→server burst after at least this much client silence inside a connection is a
    /// beat of its own (HTTP keep-alive requests, polls over one TLS or raw TCP/UDP session).
    /// Default: 1000 ms. Range 100 to 600000.
    pub burst_idle_ms: u64,
    /// With `scope = "all"`: server ports of infrastructure protocols left out (their periodic
    /// traffic is not command and control): NTP, Kerberos, LDAP, SMB, NetBIOS, DHCP, SNMP,
    /// syslog, mDNS, LLMNR, SSDP. DNS to resolvers is always left out (the DNS detector covers it).
    pub infrastructure_ports: Vec<u64>,
    /// (client, name) pairs tracked per worker; least recently seen is evicted.
    /// Default: 65536 pairs. Range 1 to 16777216.
    pub max_pairs_per_worker: u64,
}

impl Default for RawBeacon {
    fn default() -> Self {
        Self {
            enabled: true,
            min_beats: 6,
            score_threshold: 0.7,
            beat_merge_ms: 3000,
            prevalence_free_clients: 3,
            browser_score_threshold: 0.9,
            browser_min_jitter_fraction: 0.1,
            realert_quiet_secs: 3600,
            scope: RawBeaconScope::Serverless,
            all_names: None,
            burst_idle_ms: 1000,
            infrastructure_ports: vec![
                67, 68, 88, 123, 137, 138, 139, 161, 162, 389, 445, 464, 514, 636, 1900, 3268,
                3269, 5353, 5355,
            ],
            max_pairs_per_worker: 65_536,
        }
    }
}

/// `[detect.client]`: which client software (browser or not) opened a TLS/QUIC connection, from
/// its ClientHello. A shipped table of browser JA4s plus trait rules; these keys extend the table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawClientDetect {
    /// Run the client detector. Default: true.
    pub enabled: bool,
    /// JA4 fingerprints (`t13d1516h2_8daaf6152771_02713d6af862`) added to the shipped table of
    /// browsers: a hello with one of these is classified as a browser. Default: none.
    pub browser_ja4: Vec<String>,
    /// JA4 fingerprints always classified as non-browser (known tools or implants); they win over
    /// browser entries, the shipped ones included. Default: none.
    pub non_browser_ja4: Vec<String>,
    /// After a non-browser-client alert, stay quiet for the same (client, server name) this
    /// long. Default: 86400 s (1 day). Range 0 to 2592000 (30 days).
    pub quiet_secs: u64,
}

impl Default for RawClientDetect {
    fn default() -> Self {
        Self {
            enabled: true,
            browser_ja4: Vec::new(),
            non_browser_ja4: Vec::new(),
            quiet_secs: 86_400,
        }
    }
}

/// `[detect.dns]`: DNS anomalies under catalogued serverless names, per client and per account
/// (tenant) label.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawDnsDetect {
    /// Run the DNS detector. Default: true.
    pub enabled: bool,
    /// Sliding window of the random-subdomain, NXDOMAIN and TXT counts. Default: 300 s.
    /// Range 10 to 86400.
    pub window_secs: u64,
    /// A subdomain whose randomness score (0 = word-like, 1 = random) reaches this is
    /// "random-looking". Default: 0.35. Range 0.0 to 1.0.
    pub randomness_threshold: f64,
    /// Distinct random-looking subdomains of one account, from one client, within the window
    /// that raise a random-subdomain-burst alert. Default: 10 names. Range 2 to 256.
    pub random_names_min: u64,
    /// Distinct names of one account (or platform) answered NXDOMAIN to one client within the
    /// window that raise an NXDOMAIN-run alert. Default: 10 names. Range 2 to 256.
    pub nxdomain_names_min: u64,
    /// TXT, NULL or ANY queries for names of one account, from one client, within the window
    /// that raise a TXT-lookups alert. Default: 5 queries. Range 2 to 256.
    pub txt_queries_min: u64,
    /// Length of the buckets query rates are counted in. Default: 10 s. Range 1 to 3600.
    pub rate_bucket_secs: u64,
    /// Queries for one account from one client in one bucket needed for a rate-spike alert.
    /// Default: 50 queries. Range 2 to 1000000.
    pub rate_queries_min: u64,
    /// A bucket is a spike when it also holds this many times the client's usual rate for the
    /// account (an exponentially weighted mean of earlier buckets). Default: 10.0.
    /// Range 1.0 to 1000.0.
    pub rate_factor: f64,
    /// Report the first sighting of an account label on this sensor for platforms of this tier
    /// and lower-numbered tiers (1 = tier 1 only); 0 turns first-sighting reports off.
    /// Default: 1. Range 0 to 3.
    pub new_account_max_tier: u64,
    /// After an alert, stay quiet for the same (client, account, kind) this long.
    /// Default: 3600 s. Range 0 to 604800.
    pub realert_quiet_secs: u64,
    /// (client, account) pairs tracked per worker; least recently seen is evicted.
    /// Default: 16384 pairs. Range 1 to 16777216.
    pub max_tracks_per_worker: u64,
    /// Account labels remembered per worker for first-sighting reports; least recently seen is
    /// evicted (and would be reported again). Default: 65536 accounts. Range 1 to 16777216.
    pub max_accounts_per_worker: u64,
}

impl Default for RawDnsDetect {
    fn default() -> Self {
        Self {
            enabled: true,
            window_secs: 300,
            randomness_threshold: 0.35,
            random_names_min: 10,
            nxdomain_names_min: 10,
            txt_queries_min: 5,
            rate_bucket_secs: 10,
            rate_queries_min: 50,
            rate_factor: 10.0,
            new_account_max_tier: 1,
            realert_quiet_secs: 3600,
            max_tracks_per_worker: 16_384,
            max_accounts_per_worker: 65_536,
        }
    }
}

/// `[detect.prevalence]`: distinct internal clients of each class (browser or not) per server
/// name, which the beacon score is scaled by (see `prevalence_free_clients` in
/// [`RawBeacon`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawPrevalence {
    /// Window over which distinct clients per server name are counted (packet time).
    /// Default: 86400 s (1 day). Range 60 to 2592000 (30 days).
    pub window_secs: u64,
    /// Server names tracked (a name used by both browsers and other clients takes two entries);
    /// the least recently seen is forgotten past this, and counted afresh when seen again.
    /// Default: 65536 names. Range 1 to 16777216.
    pub max_names: u64,
    /// Redis server shared by several sensors (same URL forms as `[output.redis] url`): each
    /// adds its (name, client) pairs to per-window HyperLogLogs there and decides with the
    /// count over all sensors. Default: none (counted by this sensor alone).
    pub redis_url: Option<String>,
}

impl Default for RawPrevalence {
    fn default() -> Self {
        Self {
            window_secs: 86_400,
            max_names: 65_536,
            redis_url: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_defaults() {
        let r = RawConfig::default();
        assert_eq!(r.capture.snaplen_bytes, 65_535);
        assert_eq!(r.capture.buffer_size_bytes, 33_554_432);
        assert!(r.capture.promiscuous && r.capture.immediate_mode);
        assert_eq!(r.capture.live_queue_full, RawQueueFull::Drop);
        assert_eq!(r.capture.method, RawCaptureMethod::Pcap);
        assert_eq!(r.pipeline.workers, 0);
        assert_eq!(r.flow.tcp_idle_timeout_secs, 600);
        assert_eq!(r.flow.tcp_new_timeout_secs, 30);
        assert_eq!(r.names.min_ttl_secs, 30);
        assert_eq!(r.output.eve_path, "eve.json");
        assert!(!r.run.allow_root);
        assert!(r.metrics.listen.is_none());
        assert!(r.allowlist.is_empty());
        assert!(r.detect.beacon.enabled && r.detect.client.enabled && r.detect.dns.enabled);
        assert_eq!(r.detect.beacon.min_beats, 6);
        assert_eq!(r.detect.beacon.beat_merge_ms, 3000);
        assert_eq!(r.detect.beacon.prevalence_free_clients, 3);
        assert_eq!(r.detect.client.quiet_secs, 86_400);
        assert_eq!(r.detect.prevalence.window_secs, 86_400);
        assert_eq!(r.detect.prevalence.max_names, 65_536);
    }
}
