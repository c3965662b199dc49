//! The sizes of the machine's data caches, read once from Linux's sysfs: the roofline probes
//! each level with them, and a layer's plan asks whether its weights stay in the last level.

use std::path::Path;
use std::sync::OnceLock;

/// The data caches' sizes in bytes: L1 and L2 per core, L3 in all (as sysfs gives them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSizes {
    /// One core's L1 data cache.
    pub l1: u64,
    /// One core's L2.
    pub l2: u64,
    /// The L3 the cores share.
    pub l3: u64,
}

impl CacheSizes {
    /// Usual figures for a machine whose sysfs does not say.
    const USUAL: CacheSizes = CacheSizes {
        l1: 32 << 10,
        l2: 1 << 20,
        l3: 32 << 20,
    };

    /// This machine's, read once (the usual figures for any level sysfs does not give).
    pub fn detect() -> CacheSizes {
        static SIZES: OnceLock<CacheSizes> = OnceLock::new();
        *SIZES.get_or_init(|| Self::read(Path::new("/sys/devices/system/cpu/cpu0/cache")))
    }

    /// The L3 a layer plans its projection for: this machine's, or in the crate's tests the
    /// size `with_l3` gives the calling thread.
    pub(crate) fn plan_l3() -> u64 {
        #[cfg(test)]
        if let Some(bytes) = L3_FOR_TESTS.get() {
            return bytes;
        }
        Self::detect().l3
    }

    /// The sizes under `base` (a CPU's `cache` folder in sysfs: `index0`, `index1`, ... each
    /// with its `level`, `type` and `size`).
    fn read(base: &Path) -> CacheSizes {
        let mut sizes = Self::USUAL;
        for index in 0..8 {
            let dir = base.join(format!("index{index}"));
            let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
            let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
            else {
                continue;
            };
            if kind.trim() == "Instruction" {
                continue;
            }
            let Some(bytes) = parse_size(size.trim()) else {
                continue;
            };
            match level.trim() {
                "1" => sizes.l1 = bytes,
                "2" => sizes.l2 = bytes,
                "3" => sizes.l3 = bytes,
                _ => {}
            }
        }
        sizes
    }
}

#[cfg(test)]
thread_local! {
    static L3_FOR_TESTS: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with [`CacheSizes::plan_l3`] giving `bytes` on this thread, so that a test can
/// take a layer down either projection plan on any machine.
#[cfg(test)]
pub(crate) fn with_l3<T>(bytes: u64, f: impl FnOnce() -> T) -> T {
    L3_FOR_TESTS.set(Some(bytes));
    let result = f();
    L3_FOR_TESTS.set(None);
    result
}

/// `32K`, `1024K`, `32M`, `1G` as bytes.
fn parse_size(text: &str) -> Option<u64> {
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = digits.parse().ok()?;
    match unit {
        "" => Some(n),
        "K" => Some(n << 10),
        "M" => Some(n << 20),
        "G" => Some(n << 30),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_sizes_parse_as_sysfs_writes_them() {
        assert_eq!(parse_size("32K"), Some(32 << 10));
        assert_eq!(parse_size("1024K"), Some(1 << 20));
        assert_eq!(parse_size("32M"), Some(32 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn sizes_come_from_each_data_cache_and_default_where_sysfs_is_silent() {
        let dir = std::env::temp_dir().join(format!("dynq-caches-{}", std::process::id()));
        let index = |i: usize, level: &str, kind: &str, size: &str| {
            let d = dir.join(format!("index{i}"));
            std::fs::create_dir_all(&d).unwrap();
            for (name, text) in [("level", level), ("type", kind), ("size", size)] {
                std::fs::write(d.join(name), format!("{text}\n")).unwrap();
            }
        };
        index(0, "1", "Data", "48K");
        index(1, "1", "Instruction", "32K");
        index(2, "2", "Unified", "2048K");
        let sizes = CacheSizes::read(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            sizes,
            CacheSizes {
                l1: 48 << 10,
                l2: 2 << 20,
                l3: CacheSizes::USUAL.l3,
            }
        );
        assert_eq!(CacheSizes::read(&dir), CacheSizes::USUAL);
    }
}
