//! Giving freed memory back to the operating system. glibc's malloc keeps what a dropped large
//! model used: its mmap threshold rises to the size of the blocks freed (up to 32 MB), so the
//! next large buffers come from the heap, where each thread's arena holds on to them. A
//! dashboard that visited dimension 4096 and came back grew by tens of MB per visit
//! (tools/soak.py measured 25 MB to 231 MB over seven visits). A fixed threshold keeps every
//! block of 128 KiB or more in its own mapping, unmapped when freed (four such visits then
//! leave 8 MB).

/// Blocks at least this large get a mapping of their own (glibc's initial threshold).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Makes the allocator give large blocks back to the system as soon as they are freed
/// (glibc only; elsewhere the allocator does so itself and this does nothing). Once per
/// process, before models are built; warm forward passes allocate nothing, so it costs them
/// nothing.
pub fn return_large_blocks_when_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: mallopt takes no pointers and only sets a parameter of glibc's allocator,
        // under its lock; any thread may call it at any time.
        ONCE.call_once(|| unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        });
    }
}
