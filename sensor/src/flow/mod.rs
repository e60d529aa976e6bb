//! Flows: identity ([`key`]), Community ID ([`community_id`]) and first-flight
//! reassembly ([`stream`]).

pub mod community_id;
pub mod key;
pub mod stream;
pub mod table;
