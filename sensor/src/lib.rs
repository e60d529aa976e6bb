//! virga: a passive network sensor that finds command-and-control traffic
//! hiding behind serverless platforms (Cloudflare Workers, AWS Lambda function
//! URLs, Google Cloud Functions and Apps Script, Azure Functions, ...).
//!
//! Pipeline: capture ([`capture`]) → per-packet decode and flow tracking in a
//! [`worker`] ([`flow`], [`app`]) → EVE JSON events ([`output`]).
//! [`replay`] drives it over capture files, [`live_run`] over an interface;
//! [`signals`] turns SIGTERM/SIGINT/SIGHUP into flags those loops poll.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod app;
pub mod capture;
pub mod detect;
pub mod flow;
pub mod live_run;
pub mod metrics;
pub mod names;
pub mod output;
pub mod pipeline;
pub mod privilege;
pub mod progress;
pub mod replay;
pub mod shard;
pub mod signals;
pub mod stats;
pub mod time;
pub mod worker;
