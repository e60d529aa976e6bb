//! virga: a passive network sensor that finds command-and-control traffic
//! hiding behind serverless platforms (Cloudflare Workers, AWS Lambda function
//! URLs, Google Cloud Functions and Apps Script, Azure Functions, ...).
//!
//! Data flows one way: packet sources ([`capture`]) → workers ([`worker`]:
//! decode, flows ([`flow`]), the application layer ([`app`]), names
//! ([`name_cache`]), client classes ([`client_class`])) → typed
//! [`records`] → detectors ([`detect`]) → EVE JSON ([`eve`]) → sinks
//! ([`output`]), with [`telemetry`] (counters, `stats` snapshots, metrics)
//! at the bottom. [`pipeline`] wires the threads together, [`settings`]
//! turns the configuration into their settings, [`replay`] drives them over
//! capture files and [`live_run`] over an interface; [`signals`] turns
//! SIGTERM/SIGINT/SIGHUP into flags those loops poll. [`report`] reads EVE
//! back (through [`eve::read`]) and makes an analyst's HTML view of alerts.
//!
//! `unsafe` is denied everywhere but `capture::os`: capture files mapped
//! into memory, and (Linux) the AF_PACKET rings, memory shared with the
//! kernel.
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod app;
pub mod attribution;
pub mod capture;
pub mod client_class;
pub mod detect;
pub mod eve;
pub mod flow;
pub mod hunt;
pub mod live_run;
pub mod name_cache;
pub mod output;
pub mod pipeline;
pub mod privilege;
pub mod progress;
pub mod records;
pub mod redis_conn;
pub mod replay;
pub mod report;
pub mod settings;
pub mod shard;
pub mod signals;
pub mod telemetry;
pub mod time;
pub mod worker;
pub mod zeek;
