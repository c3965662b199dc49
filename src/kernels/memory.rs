//! Giving freed memory back to the operating system. glibc's malloc keeps what a dropped large
//! model used: its mmap threshold rises to the size of the blocks freed (up to 32 MB), so the
//! next large buffers come from the heap, where each thread's arena holds on to them. A
//! dashboard that visited dimension 4096 and came back grew by tens of MB per visit
//! (tools/soak.py measured 25 MB to 231 MB over seven visits). A fixed threshold keeps every
//! block of 128 KiB or more in its own mapping, unmapped when freed (four such visits then
//! leave 8 MB).
//!
//! The smaller blocks of a large model (building and running one at dimension 4096 allocates
//! about a hundred of 8 to 128 KiB, 3 MB, mostly of 16 and 64 KiB) still come from the arena
//! of the thread that builds it, and once the model is dropped the pages they held stay
//! resident: the next, small models' blocks sit above them, so the arena's top cannot shrink. Two trips to 4096 and back left the arenas 1.1 MB larger
//! (356 KB to 1,420 KB, of which 133 KB in use), 15% of the dashboard's 7.5 MB; `malloc_trim(0)`,
//! which also hands back whole free pages inside the arenas, brought them back to 420 KB.

/// Blocks at least this large get a mapping of their own (glibc's initial threshold).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Makes the allocator give freed memory back to the system (glibc only; elsewhere the
/// allocator does so itself and this does nothing). The first call fixes the mmap threshold,
/// so that large blocks go back as soon as they are freed; every call also returns the free
/// pages the arenas hold. Call it before models are built and again each time models have
/// been dropped or built: it walks every arena's free lists (about a millisecond), so not in a
/// loop. Warm forward passes allocate nothing, so it costs them nothing.
pub fn return_large_blocks_when_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: mallopt takes no pointers and only sets a parameter of glibc's allocator,
        // under its lock; any thread may call it at any time.
        ONCE.call_once(|| unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        });
        // SAFETY: malloc_trim takes no pointers and only walks glibc's own free lists under
        // their locks; any thread may call it at any time.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}
