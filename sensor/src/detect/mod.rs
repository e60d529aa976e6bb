//! Detection: the stage that turns the workers' connection-start and DNS
//! records into alerts, and the detectors it runs. Detectors are pure,
//! streaming analyses of records with their own `[detect.*]` configuration
//! section; time comes from packet timestamps only. Nothing here writes
//! EVE: alerts are typed values ([`alert`]) that `eve::alert` serializes.
//!
//! - [`engine`]: the single detection thread; merges the workers' records
//!   in packet-time order (so results do not depend on the number of
//!   workers), applies the allowlist and prevalence, runs the detectors.
//! - [`prevalence`]: distinct internal clients per name in a window.
//! - [`prevalence_shared`]: the same count shared by several sensors
//!   through Redis.
//! - [`beacon`]: jitter-robust periodicity of (client, name) pairs.
//! - [`client`]: non-browser clients to serverless endpoints.
//! - [`dns_anomaly`]: anomalous DNS towards serverless domains.
//! - [`alert`]: the alerts and their rules.

pub mod alert;
pub mod beacon;
pub mod client;
pub mod dns_anomaly;
pub mod engine;
pub mod prevalence;
pub mod prevalence_shared;
