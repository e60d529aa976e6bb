//! Detection: the stage that turns connection starts and DNS observations
//! from every worker into alerts.
//!
//! - [`observe`]: what workers report (connection starts with their name and
//!   client fingerprint, DNS questions and answers).
//! - [`engine`]: the single detection thread; merges the workers' reports
//!   in packet-time order (so results do not depend on the number of
//!   workers), applies the allowlist and prevalence, runs the detectors.
//! - [`prevalence`]: distinct internal clients per name in a window.
//! - [`alert`]: EVE `alert` events.

pub mod alert;
pub mod engine;
pub mod observe;
pub mod prevalence;
