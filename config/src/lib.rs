//! Configuration of the virga sensor (work in progress).

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![allow(dead_code)] // interim: the loader that uses these lands in a later commit

mod catalogue;
mod de;
mod error;
mod path;
pub mod raw;
mod source;

pub use catalogue::{Catalogue, Entry as CatalogueEntry, Match, Pattern, PatternError, Platform, Tier};
