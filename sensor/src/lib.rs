//! virga: a passive network sensor that finds command-and-control traffic
//! hiding behind serverless platforms (Cloudflare Workers, AWS Lambda function
//! URLs, Google Cloud Functions and Apps Script, Azure Functions, ...).
//!
//! Pipeline: capture ([`capture`]) → per-packet decode and flow tracking
//! ([`flow`], [`app`]) → EVE JSON events ([`output`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod capture;
pub mod flow;
pub mod output;
pub mod time;
