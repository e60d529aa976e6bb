//! What the capture layer asks of the operating system that the compiler
//! cannot check: mapping a capture file into memory, and (Linux) the
//! AF_PACKET sockets and their rings ([`af_packet`]). This is the only
//! module of the sensor where `unsafe` is allowed; every block says why it
//! is sound.
#![allow(unsafe_code)]

#[cfg(target_os = "linux")]
pub mod af_packet;

use std::fs::File;

/// A capture file mapped read-only into memory.
pub struct MappedBytes(memmap2::Mmap);

impl MappedBytes {
    /// Maps `file` (opened for reading) whole.
    ///
    /// # Errors
    /// The OS's refusal (an empty file, a file that cannot be mapped).
    pub fn map(file: &File) -> std::io::Result<MappedBytes> {
        // SAFETY: the map is read-only and private to this process, and the
        // bytes are only read through the `&[u8]` it derefs to, which every
        // reader bounds-checks. What Rust cannot rule out is another process
        // truncating the file while it is mapped (reading past the new end
        // raises SIGBUS) or rewriting it (the bytes change under the
        // reader): capture files are not modified while they are replayed,
        // and a reader that sees changed bytes sees only a differently
        // corrupt capture, which it handles like any other.
        let map = unsafe { memmap2::Mmap::map(file)? };
        Ok(MappedBytes(map))
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}
