//! Micro-probes of the machine's limits, for the roofline (`bench::roofline`): how fast one
//! thread reads a buffer that lives in one cache level, and how many int8 and f32
//! multiply-adds it retires per second with the kernel in use, and how long a value one core
//! writes takes to reach another. Each is the loop the real kernels are made of, stripped of
//! everything else; the SIMD ones have a scalar twin that computes the same result.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::Kernel;
use super::pool::spin_until;
use super::recurrence::Padded;

/// The wrapping sum of `words`, read as wide as `kernel` reads (the bandwidth probe's loop).
pub fn read_sum(kernel: Kernel, words: &[u64]) -> u64 {
    match kernel {
        Kernel::Scalar => scalar_sum(words),
        // SAFETY: a Kernel::Avx2 value exists only when avx2 was detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { avx2_sum(words) },
        // SAFETY: an AVX-512 Kernel value exists only when avx512f was detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni | Kernel::Avx512Amx => unsafe { avx512_sum(words) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => scalar_sum(words),
    }
}

/// The scalar twin of the SIMD sums: the same wrapping sum, one word at a time.
pub fn scalar_sum(words: &[u64]) -> u64 {
    words.iter().fold(0u64, |sum, &w| sum.wrapping_add(w))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn avx2_sum(words: &[u64]) -> u64 {
    let chunks = words.chunks_exact(16);
    let tail = scalar_sum(chunks.remainder());
    let mut acc = [_mm256_setzero_si256(); 4];
    for chunk in chunks {
        for (k, acc) in acc.iter_mut().enumerate() {
            // SAFETY: the chunk holds 16 words: 4 loads of 4 words each.
            let v = unsafe { _mm256_loadu_si256(chunk.as_ptr().add(4 * k).cast()) };
            *acc = _mm256_add_epi64(*acc, v);
        }
    }
    let total = _mm256_add_epi64(
        _mm256_add_epi64(acc[0], acc[1]),
        _mm256_add_epi64(acc[2], acc[3]),
    );
    let mut lanes = [0u64; 4];
    // SAFETY: `lanes` holds 4 words.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), total) };
    lanes.iter().fold(tail, |sum, &w| sum.wrapping_add(w))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn avx512_sum(words: &[u64]) -> u64 {
    let chunks = words.chunks_exact(32);
    let tail = scalar_sum(chunks.remainder());
    let mut acc = [_mm512_setzero_si512(); 4];
    for chunk in chunks {
        for (k, acc) in acc.iter_mut().enumerate() {
            // SAFETY: the chunk holds 32 words: 4 loads of 8 words each.
            let v = unsafe { _mm512_loadu_si512(chunk.as_ptr().add(8 * k).cast()) };
            *acc = _mm512_add_epi64(*acc, v);
        }
    }
    let total = _mm512_add_epi64(
        _mm512_add_epi64(acc[0], acc[1]),
        _mm512_add_epi64(acc[2], acc[3]),
    );
    let mut lanes = [0u64; 8];
    // SAFETY: `lanes` holds 8 words.
    unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), total) };
    lanes.iter().fold(tail, |sum, &w| sum.wrapping_add(w))
}

/// Bytes per second one thread reads from `words`, the best of passes over it for about
/// `budget` (the first pass, which brings it into the caches, is not counted).
pub fn read_rate(kernel: Kernel, words: &[u64], budget: Duration) -> f64 {
    black_box(read_sum(kernel, words));
    let bytes = std::mem::size_of_val(words).max(1);
    // Enough passes per timed run that reading the clock costs nothing next to them.
    let passes = (MIN_BYTES_PER_RUN / bytes).max(1);
    best_rate(budget, || {
        for _ in 0..passes {
            black_box(read_sum(kernel, black_box(words)));
        }
        (passes * bytes) as f64
    })
}

/// Bytes read in each timed run of [`read_rate`], at least.
const MIN_BYTES_PER_RUN: usize = 1 << 20;

/// Multiply-adds of 8-bit values per second one thread retires with `kernel`'s instruction
/// (`vpdpbusd` on AVX-512 VNNI, `vpmaddubsw` + `vpmaddwd` on AVX2, scalar code else), the
/// best of short runs over about `budget`.
pub fn int8_rate(kernel: Kernel, budget: Duration) -> f64 {
    best_rate(budget, || int8_block(kernel))
}

/// Int8 multiply-adds per second one thread retires in `kernel`'s matrix tiles (AMX's
/// `tdpbusd`), or 0 for a kernel without them.
pub fn tile_int8_rate(kernel: Kernel, budget: Duration) -> f64 {
    match kernel {
        // SAFETY: a Kernel::Avx512Amx value exists only when AMX-INT8 was detected and this
        // process was granted its tiles.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Amx => best_rate(budget, || unsafe { super::amx::peak_block() }),
        _ => 0.0,
    }
}

/// Fused f32 multiply-adds per second one thread retires with `kernel`'s widest FMA.
pub fn f32_rate(kernel: Kernel, budget: Duration) -> f64 {
    best_rate(budget, || f32_block(kernel))
}

/// Round trips in each timed run of [`handoff_seconds`].
const ROUND_TRIPS_PER_RUN: usize = 1000;

/// Seconds for a value one core writes to reach a thread spinning on it on another core: half
/// the best average round trip of two threads bouncing a counter, over about `budget`. A
/// recurrent step split between cores waits this long at least once per step, for the other
/// core's part of `h`. On a virtual machine it changes when the host moves the cores (0.10 or
/// 0.40 µs a round trip, by turns, on this project's 2-core Zen 4).
///
/// The two threads are pinned to the first two CPUs the process may use (on Linux): left to
/// the scheduler, a new thread may start on its parent's CPU and stay there for longer than
/// the probe, and the round trip then measured two threads taking turns on one core (15 to
/// 18 µs). Where those two CPUs are one core's two hardware threads, the handoff measured is
/// that core's, shorter than between cores: the floor stays a floor.
pub fn handoff_seconds(budget: Duration) -> f64 {
    let cpus = allowed_cpus();
    let cpu = |k: usize| cpus.get(k).copied();
    // Each counter alone on its cache lines, as the recurrence's are.
    let (ping, pong) = (Padded(AtomicUsize::new(0)), Padded(AtomicUsize::new(0)));
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            pin_to(cpu(1));
            let mut seen = 0;
            loop {
                spin_until(|| {
                    stop.load(Ordering::Relaxed) || ping.0.load(Ordering::Acquire) != seen
                });
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                seen = ping.0.load(Ordering::Acquire);
                pong.0.store(seen, Ordering::Release);
            }
        });
        let sender = scope.spawn(|| {
            pin_to(cpu(0));
            let mut sent = 0;
            let mut round_trip = || {
                sent += 1;
                ping.0.store(sent, Ordering::Release);
                spin_until(|| pong.0.load(Ordering::Acquire) == sent);
            };
            // The first round trip waits for the other thread to start.
            round_trip();
            let per_second = best_rate(budget, || {
                for _ in 0..ROUND_TRIPS_PER_RUN {
                    round_trip();
                }
                ROUND_TRIPS_PER_RUN as f64
            });
            stop.store(true, Ordering::Relaxed);
            0.5 / per_second
        });
        sender.join().unwrap_or_else(|_| {
            stop.store(true, Ordering::Relaxed);
            0.0
        })
    })
}

/// The CPUs this process may run on, lowest first (Linux; elsewhere none are known).
fn allowed_cpus() -> Vec<usize> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: cpu_set_t is plain bits, for which all zeros is the empty set;
        // sched_getaffinity writes at most size_of::<cpu_set_t>() bytes into it, and CPU_ISSET
        // reads within it for every cpu below CPU_SETSIZE.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return Vec::new();
            }
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
                .collect()
        }
    }
    #[cfg(not(target_os = "linux"))]
    Vec::new()
}

/// Keeps the calling thread on `cpu` (Linux); does nothing for `None` or elsewhere.
fn pin_to(cpu: Option<usize>) {
    #[cfg(target_os = "linux")]
    if let Some(cpu) = cpu.filter(|&cpu| cpu < libc::CPU_SETSIZE as usize) {
        // SAFETY: as in allowed_cpus: the set is zeroed plain bits and CPU_SET writes within
        // it for a cpu below CPU_SETSIZE (checked); sched_setaffinity only reads it and
        // changes the calling thread's affinity alone (pid 0). A failure leaves the thread
        // where the scheduler put it, which only makes the probe less exact.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
}

/// Iterations of each compute block: long enough to time, short enough to repeat.
const BLOCK: usize = 4096;

/// Runs one block of independent int8 multiply-add chains; returns the multiply-adds done.
fn int8_block(kernel: Kernel) -> f64 {
    match kernel {
        // SAFETY: an AVX-512 Kernel value exists only when avx512vnni was detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni | Kernel::Avx512Amx => unsafe { vnni_block() },
        // SAFETY: a Kernel::Avx2 value exists only when avx2 was detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { maddubs_block() },
        _ => scalar_int8_block(),
    }
}

/// Runs one block of independent f32 FMA chains; returns the multiply-adds done.
fn f32_block(kernel: Kernel) -> f64 {
    match kernel {
        // SAFETY: an AVX-512 Kernel value exists only when avx512f was detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni | Kernel::Avx512Amx => unsafe { fma512_block() },
        // SAFETY: a Kernel::Avx2 value exists only when avx2 and fma were detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { fma256_block() },
        _ => scalar_f32_block(),
    }
}

/// Independent accumulator chains: enough to cover the units' latency × throughput.
const CHAINS: usize = 10;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn vnni_block() -> f64 {
    let a = _mm512_set1_epi8(black_box(3));
    let weights = [_mm512_set1_epi8(-2); CHAINS];
    let mut acc = [_mm512_setzero_si512(); CHAINS];
    for _ in 0..BLOCK {
        // Loaded every time, as the kernels load their weights.
        let w = black_box(&weights);
        for (acc, w) in acc.iter_mut().zip(w) {
            *acc = _mm512_dpbusd_epi32(*acc, a, *w);
        }
    }
    black_box(acc);
    (BLOCK * CHAINS * 64) as f64
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn maddubs_block() -> f64 {
    let (a, ones) = (_mm256_set1_epi8(black_box(3)), _mm256_set1_epi16(1));
    let weights = [_mm256_set1_epi8(-2); CHAINS];
    let mut acc = [_mm256_setzero_si256(); CHAINS];
    for _ in 0..BLOCK {
        // Loaded every time, as the kernels load their weights (and so not hoisted).
        let w = black_box(&weights);
        for (acc, w) in acc.iter_mut().zip(w) {
            let pairs = _mm256_maddubs_epi16(a, *w);
            *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(pairs, ones));
        }
    }
    black_box(acc);
    (BLOCK * CHAINS * 32) as f64
}

fn scalar_int8_block() -> f64 {
    let (a, w) = (black_box(3u8), black_box(-2i8));
    let mut acc = [0i32; CHAINS];
    for _ in 0..BLOCK / 16 {
        for acc in &mut acc {
            *acc = acc.wrapping_add(i32::from(a) * i32::from(w));
        }
        black_box(&mut acc);
    }
    (BLOCK / 16 * CHAINS) as f64
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fma512_block() -> f64 {
    let (x, y) = (
        _mm512_set1_ps(black_box(0.999)),
        _mm512_set1_ps(black_box(1e-3)),
    );
    let mut acc = [_mm512_setzero_ps(); CHAINS];
    for _ in 0..BLOCK {
        for acc in &mut acc {
            *acc = _mm512_fmadd_ps(*acc, x, y);
        }
    }
    black_box(acc);
    (BLOCK * CHAINS * 16) as f64
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma256_block() -> f64 {
    let (x, y) = (
        _mm256_set1_ps(black_box(0.999)),
        _mm256_set1_ps(black_box(1e-3)),
    );
    let mut acc = [_mm256_setzero_ps(); CHAINS];
    for _ in 0..BLOCK {
        for acc in &mut acc {
            *acc = _mm256_fmadd_ps(*acc, x, y);
        }
    }
    black_box(acc);
    (BLOCK * CHAINS * 8) as f64
}

fn scalar_f32_block() -> f64 {
    let (x, y) = (black_box(0.999f32), black_box(1e-3f32));
    let mut acc = [0f32; CHAINS];
    for _ in 0..BLOCK / 16 {
        for acc in &mut acc {
            *acc = acc.mul_add(x, y);
        }
        black_box(&mut acc);
    }
    (BLOCK / 16 * CHAINS) as f64
}

/// The best rate (units per second) of `run` (which returns the units it did) over repeated
/// runs for about `budget`, at least three.
fn best_rate(budget: Duration, mut run: impl FnMut() -> f64) -> f64 {
    let deadline = Instant::now() + budget;
    let mut best = 0.0f64;
    let mut runs = 0;
    while runs < 3 || Instant::now() < deadline {
        let start = Instant::now();
        let units = run();
        let seconds = start.elapsed().as_secs_f64();
        if seconds > 0.0 {
            best = best.max(units / seconds);
        }
        runs += 1;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_takes_some_time_to_reach_another_thread() {
        let seconds = handoff_seconds(Duration::from_millis(5));
        assert!(seconds > 0.0 && seconds < 1e-3, "{seconds}");
    }

    #[test]
    fn every_kernels_read_sum_is_the_scalar_twins() {
        // Odd lengths leave tails; values near 2^64 make the sums wrap.
        for len in [0, 1, 7, 31, 33, 100, 4099] {
            let words: Vec<u64> = (0..len as u64)
                .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (u64::MAX - i))
                .collect();
            for kernel in Kernel::available() {
                assert_eq!(
                    read_sum(kernel, &words),
                    scalar_sum(&words),
                    "{} len {len}",
                    kernel.name()
                );
            }
        }
    }

    #[test]
    fn every_probe_measures_a_positive_rate() {
        let words = vec![1u64; 4096];
        for kernel in Kernel::available() {
            let budget = Duration::from_millis(1);
            assert!(read_rate(kernel, &words, budget) > 0.0, "{}", kernel.name());
            assert!(int8_rate(kernel, budget) > 0.0, "{}", kernel.name());
            assert!(f32_rate(kernel, budget) > 0.0, "{}", kernel.name());
            let tiles = tile_int8_rate(kernel, budget);
            assert_eq!(
                tiles > 0.0,
                kernel == Kernel::Avx512Amx,
                "{} {tiles}",
                kernel.name()
            );
        }
    }
}
