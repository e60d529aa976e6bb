//! Shared helpers for virga benchmarks and measurement harnesses.
