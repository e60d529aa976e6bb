//! What the capture layer asks of the operating system that the compiler
//! cannot check: mapping a capture file into memory, and (Linux) the
//! AF_PACKET sockets and their rings ([`af_packet`]). This is the only
//! module of the sensor where `unsafe` is allowed; every block says why it
//! is sound.
#![allow(unsafe_code)]

#[cfg(target_os = "linux")]
pub mod af_packet;

use std::fs::File;

/// Alignment of released ranges: a multiple of every page size in use
/// (4, 16 and 64 KiB).
pub const RELEASE_ALIGN: usize = 64 * 1024;

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

    /// Hands the pages of `from..end` back to the kernel (both rounded down
    /// to [`RELEASE_ALIGN`]), so that a walk that has passed them does not
    /// keep the whole file in its resident set. The bytes stay in the page
    /// cache; reading them again maps them back in. Returns where the
    /// released range ends.
    pub fn release(&self, from: usize, end: usize) -> usize {
        let from = from / RELEASE_ALIGN * RELEASE_ALIGN;
        let end = end.min(self.0.len()) / RELEASE_ALIGN * RELEASE_ALIGN;
        if end <= from {
            return from;
        }
        #[cfg(unix)]
        {
            // SAFETY: `memmap2::Mmap::map` makes a shared, read-only mapping
            // of a file. MADV_DONTNEED on it only drops this process's page
            // table entries for the range: nothing is written, the file's
            // bytes stay in the page cache, and any later read of the range
            // (a slice still held, a reader going back) faults the same
            // bytes in again, so no reference into the map sees other data.
            let _ = unsafe {
                self.0
                    .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, end - from)
            };
        }
        end
    }
}
