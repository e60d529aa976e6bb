//! Detection: the stage that turns connection starts and DNS observations
//! from every worker into alerts, and the detectors it runs. Detectors are
//! pure, streaming analyses with their own `[detect.*]` configuration
//! section; time comes from packet timestamps only.
//!
//! - [`observe`]: what workers report (connection starts with their name and
//!   client fingerprint, DNS questions and answers).
//! - [`engine`]: the single detection thread; merges the workers' reports
//!   in packet-time order (so results do not depend on the number of
//!   workers), applies the allowlist and prevalence, runs the detectors.
//! - [`prevalence`]: distinct internal clients per name in a window.
//! - [`beacon`]: jitter-robust periodicity of (client, name) pairs.
//! - [`client`]: browser / non-browser classification of a ClientHello.
//! - [`dns_anomaly`]: anomalous DNS towards serverless domains.
//! - [`alert`]: EVE `alert` events.

pub mod alert;
pub mod beacon;
pub mod client;
pub mod dns_anomaly;
pub mod engine;
pub mod observe;
pub mod prevalence;
