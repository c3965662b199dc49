//! The machine's own limits, measured by dynq (`kernels::probe`), and the floor they put under
//! every forward: the weights each step streams from the cache level they live in, the
//! multiply-adds at the peak rate of the kernel in use, and, for a step split between cores,
//! the time `h` takes to pass from one core to another. "% of the machine's limit" is that
//! floor over the measured median (`metrics::percent_of_limit`). Measured once per machine and
//! kernel (half a second) and cached in the user's cache folder; the handoff between cores is
//! measured again at every load (10 ms), as a virtual machine's host may move its cores.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{DynqError, Result};
use crate::kernels::{CacheSizes, Kernel, probe};
use crate::model::ModelDims;
use crate::quant::Scheme;

/// The environment variable that moves the cache folder (tests use it; so can users).
pub const CACHE_DIR_ENV: &str = "DYNQ_CACHE_DIR";
/// Bumped whenever what is measured changes, so that older caches are measured again.
const FORMAT: u32 = 3;

/// Read bandwidth from one level of the memory hierarchy.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Level {
    /// `L1`, `L2`, `L3` or `memory`.
    pub name: String,
    /// What one core can keep at this level: the cache's size (L3: its share of it per core);
    /// for memory, 0 (no limit).
    pub bytes_per_core: u64,
    /// GB/s one core reads from it.
    pub one_core_gbs: f64,
    /// GB/s all cores read from it together.
    pub all_cores_gbs: f64,
}

/// A machine's limits with one kernel.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Roofline {
    /// Format of the cached file.
    pub format: u32,
    /// The CPU's model name.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// The kernel the compute rates are for.
    pub kernel: String,
    /// L1, L2, L3 and memory, fastest first.
    pub levels: Vec<Level>,
    /// G multiply-adds of 8-bit values per second: one core, all cores.
    pub int8_gmacs: [f64; 2],
    /// The same in the kernel's matrix tiles (AMX), which its products of 16 activation rows
    /// or more and 64 columns or more use; 0 for a kernel without tiles.
    pub int8_tile_gmacs: [f64; 2],
    /// G fused f32 multiply-adds per second: one core, all cores.
    pub f32_gfmas: [f64; 2],
    /// Nanoseconds for a value one core writes to reach another (0 with one core): measured
    /// again at every load (a cached value is not read back), as a virtual machine's host may
    /// move its cores.
    pub handoff_ns: f64,
    /// How long the probe took, seconds.
    pub probe_seconds: f64,
}

/// The floor under one forward.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Floor {
    /// The forward's least possible time, seconds.
    pub seconds: f64,
    /// What bounds the largest part: `L2 bandwidth`, `int8 compute`, ...
    pub bound_by: String,
    /// Each part: the input projections, the recurrent steps, the head.
    pub parts: Vec<FloorPart>,
}

/// One part of a forward's floor.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FloorPart {
    /// `layer 0 input projection`, `layer 0 steps`, `head`.
    pub what: String,
    /// Its least possible time, seconds.
    pub seconds: f64,
    /// What bounds it.
    pub bound_by: String,
}

impl Roofline {
    /// The cached figures for this machine and `kernel`, or new ones (measured with every
    /// core, then saved) when there are none, they are unreadable, or `remeasure`.
    pub fn load_or_measure(kernel: Kernel, remeasure: bool) -> Roofline {
        let cpu = super::Machine::detect().cpu;
        let path = cache_path(&cpu, kernel);
        if !remeasure
            && let Some(cached) = path
                .as_deref()
                .and_then(|p| Roofline::read(p, &cpu, kernel))
        {
            return Roofline {
                handoff_ns: cached.measure_handoff(),
                ..cached
            };
        }
        let measured = Roofline::measure(kernel, cpu);
        if let Some(path) = &path {
            // A cache that cannot be written is measured again next time; nothing else.
            let _ = measured.write(path);
        }
        measured
    }

    /// The core-to-core handoff measured now, ns (10 ms; 0 with one core): see
    /// [`Roofline::handoff_ns`].
    pub fn measure_handoff(&self) -> f64 {
        handoff_ns(self.cores)
    }

    /// Measures this machine with `kernel` (about half a second).
    pub fn measure(kernel: Kernel, cpu: String) -> Roofline {
        let start = Instant::now();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let caches = CacheSizes::detect();
        let bandwidth_budget = Duration::from_millis(25);
        let sizes = [
            ("L1", caches.l1, caches.l1 / 2),
            ("L2", caches.l2, caches.l2 / 2),
            ("L3", caches.l3 / cores as u64, caches.l3 / cores as u64 / 2),
            ("memory", 0, (caches.l3 * 4).max(64 << 20) / cores as u64),
        ];
        let levels = sizes
            .into_iter()
            .map(|(name, bytes_per_core, probe_bytes)| {
                let words = (probe_bytes as usize / 8).max(512);
                let rate = |threads| {
                    on_threads(threads, || {
                        // Aligned to a cache line, as the packed weights are: a vector load
                        // that straddles two lines costs two.
                        let buffer = vec![1u64; words + 8];
                        let skip = buffer.as_ptr().align_offset(64).min(8);
                        probe::read_rate(kernel, &buffer[skip..skip + words], bandwidth_budget)
                    })
                };
                Level {
                    name: name.into(),
                    bytes_per_core,
                    one_core_gbs: rate(1) / 1e9,
                    all_cores_gbs: rate(cores) / 1e9,
                }
            })
            .collect();
        let compute_budget = Duration::from_millis(20);
        let int8 = |threads| on_threads(threads, || probe::int8_rate(kernel, compute_budget)) / 1e9;
        let f32 = |threads| on_threads(threads, || probe::f32_rate(kernel, compute_budget)) / 1e9;
        // Only a kernel with tiles has a tile rate: no probe threads for the others.
        let tiles = |threads| {
            if kernel.has_tiles() {
                on_threads(threads, || probe::tile_int8_rate(kernel, compute_budget)) / 1e9
            } else {
                0.0
            }
        };
        Roofline {
            format: FORMAT,
            cpu,
            cores,
            kernel: kernel.name().into(),
            levels,
            int8_gmacs: [int8(1), int8(cores)],
            int8_tile_gmacs: [tiles(1), tiles(cores)],
            f32_gfmas: [f32(1), f32(cores)],
            handoff_ns: handoff_ns(cores),
            probe_seconds: start.elapsed().as_secs_f64(),
        }
    }

    /// The floor under one forward of a model of `dims` in `scheme` over `seq_len` steps of
    /// `batch` rows with `threads` threads: per layer (and direction) the input projection,
    /// one GEMM over every step that reads `W_ih` once, then the steps, each reading `W_hh`
    /// from the level the thread's share of it fits in (and, split between cores, waiting for
    /// `h`); then the head. Each part takes the longer of its bytes at that level's bandwidth
    /// and its multiply-adds at peak.
    pub fn forward_floor(
        &self,
        dims: &ModelDims,
        seq_len: usize,
        batch: usize,
        scheme: Scheme,
        threads: usize,
    ) -> Floor {
        let threads = threads.clamp(1, self.cores.max(1));
        // FP16 weights are rounded to f16 but kept, and read, as f32.
        let weight_bytes = if scheme.is_int8() { 1 } else { 4 };
        let rows = (seq_len * batch) as f64;
        let gate_rows = dims.cell.gates() * dims.hidden_size;
        let directions = dims.directions();
        let mut parts = Vec::new();
        for layer in 0..dims.num_layers {
            let input = dims.layer_input_size(layer);
            let ih = (gate_rows * input * directions) as f64;
            parts.push(self.part(
                format!("layer {layer} input projection"),
                ih * weight_bytes as f64,
                ih * rows,
                (scheme, fills_tiles(seq_len * batch, input)),
                threads,
            ));
            let hh = (gate_rows * dims.hidden_size * directions) as f64;
            parts.push(self.steps_part(
                format!("layer {layer} steps"),
                (hh * weight_bytes as f64, hh * batch as f64),
                (seq_len, batch, directions),
                (scheme, fills_tiles(batch, dims.hidden_size)),
                threads,
            ));
        }
        if dims.head > 0 {
            let head = (dims.head * dims.output_size()) as f64;
            parts.push(self.part(
                "head".into(),
                head * weight_bytes as f64,
                head * rows,
                (scheme, fills_tiles(seq_len * batch, dims.output_size())),
                threads,
            ));
        }
        let seconds = parts.iter().map(|p| p.seconds).sum();
        let bound_by = parts
            .iter()
            .max_by(|a, b| a.seconds.total_cmp(&b.seconds))
            .map_or_else(String::new, |p| p.bound_by.clone());
        Floor {
            seconds,
            bound_by,
            parts,
        }
    }

    /// A layer's `seq_len` steps, each reading `bytes` of recurrent weights (every
    /// direction's) and doing `macs`: the quickest of the ways to share them out. On one
    /// thread a direction, nothing is shared. Split by hidden units between the threads a
    /// direction gets, each reads its share of `W_hh`, and every step but the first also waits
    /// one handoff for the other cores' part of `h`. Split by batch rows (with a row for every
    /// thread), each thread reads all of its direction's `W_hh`, and waits for nobody.
    fn steps_part(
        &self,
        what: String,
        (bytes, macs): (f64, f64),
        (seq_len, batch, directions): (usize, usize, usize),
        compute: (Scheme, bool),
        threads: usize,
    ) -> FloorPart {
        let steps = seq_len as f64;
        let times_steps = |part: FloorPart, wait: f64| FloorPart {
            seconds: part.seconds * steps + wait,
            ..part
        };
        let alone = self.part(what.clone(), bytes, macs, compute, directions.min(threads));
        let mut best = times_steps(alone, 0.0);
        let per_direction = threads / directions;
        if per_direction > 1 {
            let handoffs = self.handoff_ns * 1e-9 * (steps - 1.0).max(0.0);
            let mut units = times_steps(
                self.part(what.clone(), bytes, macs, compute, threads),
                handoffs,
            );
            if handoffs > 0.0 {
                units.bound_by.push_str(" + handoff");
            }
            let rows = (batch >= per_direction).then(|| {
                let all_weights = bytes * per_direction as f64;
                times_steps(self.part(what, all_weights, macs, compute, threads), 0.0)
            });
            for candidate in std::iter::once(units).chain(rows) {
                if candidate.seconds < best.seconds {
                    best = candidate;
                }
            }
        }
        best
    }

    /// One part reading `bytes` of weights (split over `threads`) and doing `macs` in `scheme`
    /// (in the kernel's tiles, if it has them, when `tiles`: see [`fills_tiles`]).
    fn part(
        &self,
        what: String,
        bytes: f64,
        macs: f64,
        (scheme, tiles): (Scheme, bool),
        threads: usize,
    ) -> FloorPart {
        let share = bytes / threads as f64;
        let level = self
            .levels
            .iter()
            .find(|l| l.bytes_per_core == 0 || share <= l.bytes_per_core as f64)
            .or(self.levels.last());
        let (memory_s, level_name) = match level {
            Some(l) => (
                bytes / (self.scaled(threads, l.one_core_gbs, l.all_cores_gbs) * 1e9),
                l.name.as_str(),
            ),
            None => (0.0, "memory"),
        };
        let (rates, unit) = if scheme.is_int8() && tiles && self.int8_tile_gmacs[0] > 0.0 {
            (self.int8_tile_gmacs, "int8 tile compute")
        } else if scheme.is_int8() {
            (self.int8_gmacs, "int8 compute")
        } else {
            (self.f32_gfmas, "f32 compute")
        };
        let compute_s = macs / (self.scaled(threads, rates[0], rates[1]) * 1e9);
        let (seconds, bound_by) = if memory_s >= compute_s {
            (memory_s, format!("{level_name} bandwidth"))
        } else {
            (compute_s, unit.to_string())
        };
        FloorPart {
            what,
            seconds,
            bound_by,
        }
    }

    /// A rate with `threads` threads, between the one-core and all-core figures.
    fn scaled(&self, threads: usize, one: f64, all: f64) -> f64 {
        if self.cores <= 1 || threads <= 1 {
            return one.max(f64::MIN_POSITIVE);
        }
        let fraction = (threads - 1) as f64 / (self.cores - 1) as f64;
        (one + (all - one) * fraction).max(f64::MIN_POSITIVE)
    }

    /// The figures as `dynq roofline` prints them.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{} ({} cores), kernel {}: measured in {:.2} s\n\n",
            self.cpu, self.cores, self.kernel, self.probe_seconds
        );
        let _ = writeln!(
            out,
            "{:<8} {:>10} {:>12} {:>12}",
            "read", "per core", "one core", "all cores"
        );
        for level in &self.levels {
            let size = if level.bytes_per_core == 0 {
                "-".to_string()
            } else {
                let kib = level.bytes_per_core >> 10;
                if kib >= 1024 {
                    format!("{} MiB", kib >> 10)
                } else {
                    format!("{kib} KiB")
                }
            };
            let _ = writeln!(
                out,
                "{:<8} {:>10} {:>7.1} GB/s {:>7.1} GB/s",
                level.name, size, level.one_core_gbs, level.all_cores_gbs
            );
        }
        let _ = writeln!(
            out,
            "int8 multiply-adds   {:>7.1} G/s {:>7.1} G/s",
            self.int8_gmacs[0], self.int8_gmacs[1]
        );
        if self.int8_tile_gmacs[0] > 0.0 {
            let _ = writeln!(
                out,
                "int8 in tiles        {:>7.1} G/s {:>7.1} G/s",
                self.int8_tile_gmacs[0], self.int8_tile_gmacs[1]
            );
        }
        let _ = writeln!(
            out,
            "f32 multiply-adds    {:>7.1} G/s {:>7.1} G/s",
            self.f32_gfmas[0], self.f32_gfmas[1]
        );
        if self.cores > 1 {
            let _ = writeln!(
                out,
                "core-to-core handoff {:>7.0} ns (measured now: a virtual machine's cores move)",
                self.handoff_ns
            );
        }
        out
    }

    fn read(path: &Path, cpu: &str, kernel: Kernel) -> Option<Roofline> {
        let text = std::fs::read_to_string(path).ok()?;
        let cached: Roofline = serde_json::from_str(&text).ok()?;
        let sane = cached.format == FORMAT
            && cached.cpu == cpu
            && cached.kernel == kernel.name()
            && cached.levels.len() == 4
            && cached
                .levels
                .iter()
                .all(|l| l.one_core_gbs > 0.0 && l.all_cores_gbs > 0.0)
            && cached
                .int8_gmacs
                .iter()
                .chain(&cached.f32_gfmas)
                .all(|&r| r > 0.0);
        sane.then_some(cached)
    }

    fn write(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| DynqError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let json =
            serde_json::to_string_pretty(self).map_err(|e| DynqError::Benchmark(e.to_string()))?;
        crate::io::write_atomically(path, json.as_bytes())
    }
}

/// Whether a product of `rows` activation rows and `cols` columns runs in the kernel's tiles
/// when it has them (see `kernels::amx`): 16 rows and 64 columns fill one tile.
fn fills_tiles(rows: usize, cols: usize) -> bool {
    rows >= 16 && cols >= 64
}

/// Where the figures of this CPU and kernel are cached: `$DYNQ_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/dynq`, else `~/.cache/dynq` (`None` without any of them).
pub fn cache_path(cpu: &str, kernel: Kernel) -> Option<PathBuf> {
    let dir = match std::env::var_os(CACHE_DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("XDG_CACHE_HOME") {
            Some(cache) => PathBuf::from(cache).join("dynq"),
            None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/dynq"),
        },
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let id: String = format!("{cpu}-{cores}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    Some(dir.join(format!("roofline-{id}-{}.json", kernel.name())))
}

/// The core-to-core handoff in nanoseconds (see [`probe::handoff_seconds`]), 0 with one core.
fn handoff_ns(cores: usize) -> f64 {
    if cores < 2 {
        return 0.0;
    }
    probe::handoff_seconds(Duration::from_millis(10)) * 1e9
}

/// Runs `probe` on `threads` threads at once and adds up their rates.
fn on_threads(threads: usize, probe: impl Fn() -> f64 + Sync) -> f64 {
    if threads <= 1 {
        return probe();
    }
    let barrier = std::sync::Barrier::new(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    probe()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::io::Cell;

    /// A made-up 2-core machine with round figures.
    pub(crate) fn machine() -> Roofline {
        let level = |name: &str, bytes_per_core, one, all| Level {
            name: name.into(),
            bytes_per_core,
            one_core_gbs: one,
            all_cores_gbs: all,
        };
        Roofline {
            format: FORMAT,
            cpu: "Test CPU".into(),
            cores: 2,
            kernel: "avx512-vnni".into(),
            levels: vec![
                level("L1", 32 << 10, 200.0, 400.0),
                level("L2", 1 << 20, 100.0, 200.0),
                level("L3", 16 << 20, 50.0, 100.0),
                level("memory", 0, 20.0, 25.0),
            ],
            int8_gmacs: [200.0, 400.0],
            int8_tile_gmacs: [0.0, 0.0],
            f32_gfmas: [50.0, 100.0],
            handoff_ns: 0.0,
            probe_seconds: 0.5,
        }
    }

    #[test]
    fn products_that_fill_a_tile_run_at_the_tile_rate_where_the_kernel_has_tiles() {
        let mut m = machine();
        m.kernel = "avx512-amx".into();
        m.int8_tile_gmacs = [3200.0, 6400.0];
        let dims = ModelDims::square(512);
        // Batch 64: the projection (1280 rows) and each step (64 rows) fill tiles.
        let batch = m.forward_floor(&dims, 20, 64, Scheme::Int8, 2);
        assert_eq!(batch.parts[0].bound_by, "int8 tile compute");
        let want = 20.0 * 64.0 * 2048.0 * 512.0 / 6400e9;
        assert!((batch.parts[0].seconds - want).abs() < 1e-12, "{batch:?}");
        assert_eq!(batch.parts[1].bound_by, "int8 tile compute");
        // Batch 1: the projection (20 rows) waits on L2 even at the tile rate, and a step's
        // single row never fills a tile.
        let one = m.forward_floor(&dims, 20, 1, Scheme::Int8, 2);
        assert_eq!(one.parts[0].bound_by, "L2 bandwidth");
        assert_eq!(one.parts[1].bound_by, "L2 bandwidth");
        // Narrower than a tile (8 columns): the vector rate, as on a kernel without tiles.
        let narrow = m.forward_floor(&ModelDims::square(8), 20, 64, Scheme::Int8, 2);
        let vectors = machine().forward_floor(&ModelDims::square(8), 20, 64, Scheme::Int8, 2);
        assert_eq!(narrow, vectors);
        // FP32 never uses them.
        let fp32 = m.forward_floor(&dims, 20, 64, Scheme::Fp32, 2);
        assert_eq!(
            fp32,
            machine().forward_floor(&dims, 20, 64, Scheme::Fp32, 2)
        );
        assert!(m.to_text().contains("int8 in tiles"), "{}", m.to_text());
        assert!(!machine().to_text().contains("tiles"));
    }

    #[test]
    fn an_int8_lstm_at_dim_512_streams_its_recurrent_weights_from_l2() {
        let m = machine();
        let dims = ModelDims::square(512);
        let floor = m.forward_floor(&dims, 20, 1, Scheme::Int8, 2);
        // W_hh: 2048 × 512 bytes = 1 MB, half per core: L2 at 200 GB/s, 20 steps.
        let steps = &floor.parts[1];
        assert_eq!(steps.bound_by, "L2 bandwidth");
        let want = 20.0 * (2048.0 * 512.0) / 200e9;
        assert!(
            (steps.seconds - want).abs() < 1e-12,
            "{} vs {want}",
            steps.seconds
        );
        // W_ih's projection: 20 rows of 1M multiply-adds at 400 G/s, above its bytes' time.
        let projection = &floor.parts[0];
        assert_eq!(projection.bound_by, "int8 compute");
        assert!((projection.seconds - 20.0 * 2048.0 * 512.0 / 400e9).abs() < 1e-12);
        assert!((floor.seconds - steps.seconds - projection.seconds).abs() < 1e-15);
        assert_eq!(floor.bound_by, "L2 bandwidth");
    }

    #[test]
    fn a_step_split_between_cores_waits_for_a_handoff_unless_that_is_slower() {
        let mut m = machine();
        let dims = ModelDims::square(512);
        let without = m.forward_floor(&dims, 20, 1, Scheme::Int8, 2).parts[1].clone();
        m.handoff_ns = 100.0;
        let with = m.forward_floor(&dims, 20, 1, Scheme::Int8, 2).parts[1].clone();
        assert_eq!(with.bound_by, "L2 bandwidth + handoff");
        // Every step but the first waits once.
        let want = without.seconds + 19.0 * 100e-9;
        assert!((with.seconds - want).abs() < 1e-12, "{with:?}");
        // A handoff longer than the half step it saves: one thread is quicker.
        m.handoff_ns = 1e5;
        let one = m.forward_floor(&dims, 20, 1, Scheme::Int8, 1).parts[1].clone();
        assert_eq!(m.forward_floor(&dims, 20, 1, Scheme::Int8, 2).parts[1], one);
        assert_eq!(one.bound_by, "L2 bandwidth");
        // With a batch row for every thread, the threads split the rows and wait for nobody:
        // 2048 × 512 × 64 multiply-adds a step at 400 G/s.
        let rows = m.forward_floor(&dims, 20, 64, Scheme::Int8, 2).parts[1].clone();
        assert_eq!(rows.bound_by, "int8 compute");
        let want = 20.0 * 2048.0 * 512.0 * 64.0 / 400e9;
        assert!((rows.seconds - want).abs() < 1e-12, "{rows:?}");
        // One thread a direction: nothing is split, so nothing waits.
        let bidirectional = ModelDims {
            bidirectional: true,
            ..dims
        };
        let both = m
            .forward_floor(&bidirectional, 20, 1, Scheme::Int8, 2)
            .parts[1]
            .clone();
        assert_eq!(both.bound_by, "L2 bandwidth");
    }

    #[test]
    fn floors_grow_with_bytes_and_shrink_with_threads() {
        let m = machine();
        let dims = ModelDims::square(1024);
        let int8 = m.forward_floor(&dims, 20, 1, Scheme::Int8, 2).seconds;
        let fp32 = m.forward_floor(&dims, 20, 1, Scheme::Fp32, 2).seconds;
        let fp16 = m.forward_floor(&dims, 20, 1, Scheme::Fp16, 2).seconds;
        assert!(fp32 > 3.0 * int8, "{fp32} vs {int8}");
        assert_eq!(fp16, fp32, "fp16 weights are read as f32");
        let one = m.forward_floor(&dims, 20, 1, Scheme::Int8, 1).seconds;
        assert!(one > int8);
        let bidirectional = ModelDims {
            bidirectional: true,
            ..dims
        };
        let both = m
            .forward_floor(&bidirectional, 20, 1, Scheme::Int8, 2)
            .seconds;
        assert!(
            (both - 2.0 * int8).abs() < 1e-9 * int8,
            "{both} vs 2 × {int8}"
        );
        let gru = ModelDims {
            cell: Cell::Gru,
            ..dims
        };
        let gru = m.forward_floor(&gru, 20, 1, Scheme::Int8, 2).seconds;
        assert!(
            (gru - 0.75 * int8).abs() < 1e-9 * int8,
            "three gates of four"
        );
    }

    #[test]
    fn a_cache_round_trips_and_a_corrupt_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roofline.json");
        let m = machine();
        m.write(&path).unwrap();
        let kernel = Kernel::Avx512Vnni;
        assert_eq!(Roofline::read(&path, "Test CPU", kernel), Some(m.clone()));
        assert_eq!(Roofline::read(&path, "Other CPU", kernel), None);
        assert_eq!(Roofline::read(&path, "Test CPU", Kernel::Scalar), None);
        std::fs::write(&path, "{\"format\": 1, \"cpu\": ").unwrap();
        assert_eq!(Roofline::read(&path, "Test CPU", kernel), None);
        let mut zero = m;
        zero.int8_gmacs = [0.0, 0.0];
        zero.write(&path).unwrap();
        assert_eq!(
            Roofline::read(&path, "Test CPU", kernel),
            None,
            "a rate of 0"
        );
    }
}
