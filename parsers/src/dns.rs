//! Not yet written: see the parsers issue.
