//! AMX-INT8 tiles for the u8 × i8 products of 16 activation rows or more (a batch's recurrent
//! product, a sequence's input projection): `tdpbusd` multiplies a tile of 16 activation rows ×
//! 64 columns by 16 groups of a weight panel, which [`PackedI8`] already stores as AMX wants
//! its second operand (each group's 16 rows × 4 columns in 64 bytes). Everything else, and the
//! columns past the last whole 64, runs [`super::Kernel::Avx512Vnni`]'s code: integer sums are
//! exact in any order, so the outputs are bit for bit the scalar twin's.
//!
//! The tile instructions are written with `asm!` (Rust's AMX intrinsics are unstable), and a
//! process may use the tiles only after asking Linux for them ([`usable`]).

use std::arch::asm;
use std::arch::x86_64::*;
use std::ops::Range;

use super::OutputRows;
use super::avx512::{StorePanel, U8I8, gemv_i8};
use super::gemm::{MicroKernel, Sink, Tile, gemm};
use super::pack::{PANEL, PackedI8};

/// Activation rows of one tile, and weight groups (of 4 columns) of one tile's depth.
const TILE_ROWS: usize = 16;
/// Bytes of one tile row: 16 groups of 4 columns, or 16 i32 sums.
const TILE_ROW_BYTES: usize = 64;

/// Whether this process can run AMX-INT8: the CPU has it, the operating system saves its
/// state (`XCR0` bits 17 and 18) and, on Linux, granted this process the tile data
/// (`arch_prctl(ARCH_REQ_XCOMP_PERM)`, asked once). Elsewhere it is never used.
pub(super) fn usable() -> bool {
    static USABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *USABLE.get_or_init(|| cpu_has_amx_int8() && os_saves_tiles() && tiles_granted())
}

fn cpu_has_amx_int8() -> bool {
    // cpuid exists on every x86-64 CPU; leaf 7 is read only when the CPU has it.
    if __cpuid(0).eax < 7 {
        return false;
    }
    let leaf7 = __cpuid_count(7, 0);
    let (amx_tile, amx_int8) = (leaf7.edx >> 24 & 1 == 1, leaf7.edx >> 25 & 1 == 1);
    amx_tile && amx_int8
}

fn os_saves_tiles() -> bool {
    /// `XCR0`'s tile configuration (17) and tile data (18) bits.
    const XTILE: u64 = 0b11 << 17;
    if !is_x86_feature_detected!("xsave") {
        return false;
    }
    /// Reads `XCR0`.
    #[target_feature(enable = "xsave")]
    fn xcr0() -> u64 {
        // SAFETY: the CPU has xsave (target feature) and the OS enabled it (std's detection
        // checks OSXSAVE), so xgetbv may run.
        unsafe { _xgetbv(0) }
    }
    // SAFETY: xsave was detected above.
    let enabled = unsafe { xcr0() };
    enabled & XTILE == XTILE
}

#[cfg(target_os = "linux")]
fn tiles_granted() -> bool {
    /// `arch_prctl` code asking for an extended state component, and the tile data's number.
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: arch_prctl with this code takes two integers, touches no memory of ours and
    // only grants this process the tile state (or fails with an error code).
    let answer = unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        )
    };
    answer == 0
}

#[cfg(not(target_os = "linux"))]
fn tiles_granted() -> bool {
    false
}

/// The tile palette every product here loads: palette 1, all eight tiles 16 rows × 64 bytes.
/// Tiles 0 to 3 accumulate, 4 and 5 hold activations, 6 and 7 weights.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl TileConfig {
    const FULL: TileConfig = {
        let mut bytes = [0u8; 64];
        bytes[0] = 1;
        let mut t = 0;
        while t < 8 {
            bytes[16 + 2 * t] = TILE_ROW_BYTES as u8;
            bytes[48 + t] = TILE_ROWS as u8;
            t += 1;
        }
        TileConfig(bytes)
    };
}

/// See [`super::gemm_u8i8`]: products of 16 activation rows or more and 64 columns or more
/// go through the tiles, all others are [`super::avx512::gemm_u8i8`]'s.
///
/// # Safety
/// The CPU must have AMX-INT8 and this process the right to use it ([`usable`]).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
pub unsafe fn gemm_u8i8<O: StorePanel>(
    a: &[u8],
    m: usize,
    zp: i32,
    w: &PackedI8,
    rows: Range<usize>,
    out: (OutputRows<'_, O::Out>, O),
) {
    if m < TILE_ROWS || w.groups() < TILE_ROWS {
        super::avx512::gemm_u8i8(a, m, zp, w, rows, out);
        return;
    }
    #[cfg(test)]
    super::coverage::record(
        super::Kernel::Avx512Amx,
        super::coverage::Function::TileProducts,
    );
    // SAFETY (all three): the caller guarantees AMX, and the tiles are configured between
    // the first call and the last.
    unsafe {
        configure_tiles();
        gemm_in_tiles(&Amx, a, m, zp, w, rows, out);
        release_tiles();
    }
}

/// The product of [`gemm_u8i8`] with `unit`'s tile instructions.
///
/// # Safety
/// `unit` must be usable: for [`Amx`], the CPU has AMX-INT8, this process may use it and the
/// tiles are configured as [`TileConfig::FULL`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
unsafe fn gemm_in_tiles<O: StorePanel, U: TileUnit>(
    unit: &U,
    a: &[u8],
    m: usize,
    zp: i32,
    w: &PackedI8,
    rows: Range<usize>,
    (out, sums_out): (OutputRows<'_, O::Out>, O),
) {
    let kernel = Tiles {
        vectors: U8I8::new(zp, w, sums_out),
        unit,
    };
    gemm(&kernel, a, m, w, rows, out);
}

/// The tile instructions the products use: AMX's ([`Amx`]), or in the tests a model of them
/// in plain Rust, which runs the same products on any CPU with AVX-512 VNNI. Tiles 0 to 3
/// accumulate, 4 and 5 hold activations and 6 and 7 weights, each 16 rows of 64 bytes.
///
/// # Safety
/// Implementations may assume the guarantees their methods state.
unsafe trait TileUnit {
    /// Zeroes accumulator tile `tile`.
    ///
    /// # Safety
    /// The unit must be usable (see [`gemm_in_tiles`]).
    unsafe fn zero(&self, tile: u8);
    /// Loads tile `tile`'s 16 rows of 64 bytes from `src`, rows `stride` bytes apart.
    ///
    /// # Safety
    /// As for [`TileUnit::zero`], and those 16 rows must be readable.
    unsafe fn load(&self, tile: u8, src: *const u8, stride: usize);
    /// Tile `c` += the u8 × i8 dot products of tile `a`'s rows with tile `b`'s columns of 4
    /// bytes: `c[m][n] += Σ_k Σ_i a[m][4k + i] · b[k][4n + i]`.
    ///
    /// # Safety
    /// As for [`TileUnit::zero`].
    unsafe fn dpbusd(&self, c: u8, a: u8, b: u8);
    /// Stores accumulator tile `tile` into `dst`.
    ///
    /// # Safety
    /// As for [`TileUnit::zero`].
    unsafe fn store(&self, tile: u8, dst: &mut TileSums);
}

/// AMX's tile instructions (each method inlines to one instruction for the constant tile
/// numbers of [`for_each_product`]; any other number means the last tile of its kind).
struct Amx;

// SAFETY: each method runs its instruction under the guarantees the trait states.
unsafe impl TileUnit for Amx {
    #[inline(always)]
    unsafe fn zero(&self, tile: u8) {
        // SAFETY: the caller guarantees AMX and the configuration.
        unsafe {
            match tile {
                0 => tile_zero::<0>(),
                1 => tile_zero::<1>(),
                2 => tile_zero::<2>(),
                _ => tile_zero::<3>(),
            }
        }
    }

    #[inline(always)]
    unsafe fn load(&self, tile: u8, src: *const u8, stride: usize) {
        // SAFETY: the caller guarantees AMX, the configuration and the memory.
        unsafe {
            match tile {
                4 => tile_load::<4>(src, stride),
                5 => tile_load::<5>(src, stride),
                6 => tile_load::<6>(src, stride),
                _ => tile_load::<7>(src, stride),
            }
        }
    }

    #[inline(always)]
    unsafe fn dpbusd(&self, c: u8, a: u8, b: u8) {
        // SAFETY: the caller guarantees AMX-INT8 and the configuration.
        unsafe {
            match (c, a, b) {
                (0, 4, 6) => tile_dpbusd::<0, 4, 6>(),
                (1, 4, 7) => tile_dpbusd::<1, 4, 7>(),
                (2, 5, 6) => tile_dpbusd::<2, 5, 6>(),
                _ => tile_dpbusd::<3, 5, 7>(),
            }
        }
    }

    #[inline(always)]
    unsafe fn store(&self, tile: u8, dst: &mut TileSums) {
        // SAFETY: the caller guarantees AMX and the configuration.
        unsafe {
            match tile {
                0 => tile_store::<0>(dst),
                1 => tile_store::<1>(dst),
                2 => tile_store::<2>(dst),
                _ => tile_store::<3>(dst),
            }
        }
    }
}

/// The tile micro-kernel: blocks of 32 or 16 activation rows against one or two panels at a
/// time in `unit`'s tiles, the rest (fewer than 16 rows) by the AVX-512 micro-kernel
/// `vectors`. Made only inside [`gemm_in_tiles`].
struct Tiles<'a, O, U> {
    vectors: U8I8<'a, O>,
    unit: &'a U,
}

// SAFETY: a Tiles exists only inside gemm_in_tiles, which enables the AVX-512 features and
// whose callers guarantee a usable unit.
unsafe impl<O: StorePanel, U: TileUnit> MicroKernel for Tiles<'_, O, U> {
    type Lhs = u8;
    type Rhs = i8;
    type Out = O::Out;
    type Lane = i32;
    type Acc = __m512i;
    const GROUP_PANELS: usize = U8I8::<O>::GROUP_PANELS;

    /// Two tiles of rows, then one, then the AVX-512 kernel's blocks.
    #[inline(always)]
    fn block_rows(rows_left: usize) -> usize {
        match rows_left {
            32.. => 32,
            16.. => 16,
            _ => U8I8::<O>::block_rows(rows_left),
        }
    }

    #[inline(always)]
    unsafe fn block(
        &self,
        at: Tile<u8, i8>,
        panels: usize,
        rows: usize,
        sink: &mut impl Sink<Self::Acc>,
    ) {
        // SAFETY (all calls): the caller guarantees `panels` panels and `rows` rows of
        // `at.depth` groups, and the tiles are configured (see the impl's SAFETY).
        unsafe {
            match rows {
                32 => tile_block::<2>(self.unit, at, panels, sink),
                16 => tile_block::<1>(self.unit, at, panels, sink),
                _ => self.vectors.block(at, panels, rows, sink),
            }
        }
    }

    #[inline(always)]
    unsafe fn row(
        &self,
        at: Tile<u8, i8>,
        panels_left: usize,
        sink: &mut impl Sink<Self::Acc>,
    ) -> usize {
        // SAFETY: the caller's guarantees are the wrapped kernel's.
        unsafe { self.vectors.row(at, panels_left, sink) }
    }

    #[inline(always)]
    unsafe fn store_panel(&self, acc: __m512i, first_row: usize, dst: *mut O::Out) {
        // SAFETY: the caller's guarantees are the wrapped kernel's.
        unsafe { self.vectors.store_panel(acc, first_row, dst) }
    }

    #[inline(always)]
    unsafe fn lanes(&self, acc: __m512i) -> [i32; PANEL] {
        // SAFETY: the caller's guarantees are the wrapped kernel's.
        unsafe { self.vectors.lanes(acc) }
    }

    #[inline(always)]
    fn finish_lane(&self, lane: i32, row: usize) -> O::Out {
        self.vectors.finish_lane(lane, row)
    }
}

/// One tile's sums: 16 activation rows × the 16 rows of a panel, as i32.
#[repr(C, align(64))]
struct TileSums([[i32; PANEL]; TILE_ROWS]);

/// `RT` tiles of 16 activation rows against `panels` panels, two at a time: the whole groups
/// of 16 in tiles, the last `depth % 16` groups with `vpdpbusd`, each panel and row's sums put
/// in `sink`.
///
/// # Safety
/// `at` must point at `panels` panels and `16 · RT` rows of `at.depth` groups, on a CPU with
/// AVX-512 VNNI and a usable `unit` (see [`gemm_in_tiles`]).
#[inline(always)]
unsafe fn tile_block<const RT: usize>(
    unit: &impl TileUnit,
    at: Tile<u8, i8>,
    panels: usize,
    sink: &mut impl Sink<__m512i>,
) {
    let whole = at.depth / TILE_ROWS * TILE_ROWS;
    let mut sums = [const { TileSums([[0; PANEL]; TILE_ROWS]) }; 4];
    let mut p = 0;
    while p < panels {
        let two = panels - p >= 2;
        // SAFETY: panels p and (when `two`) p + 1 exist, and the caller's rows and tiles.
        unsafe {
            let at = at.panel(p);
            if two {
                tile_sums::<RT, 2>(unit, at, whole, &mut sums);
            } else {
                tile_sums::<RT, 1>(unit, at, whole, &mut sums);
            }
            for pp in 0..1 + usize::from(two) {
                let w = at.w.add(pp * at.panel_len + whole * TILE_ROW_BYTES);
                for t in 0..RT {
                    for r in 0..TILE_ROWS {
                        let row = t * TILE_ROWS + r;
                        let tile = &sums[2 * t + pp].0[r];
                        let mut acc = _mm512_loadu_si512(tile.as_ptr().cast());
                        if whole < at.depth {
                            let a = at.a.add(row * at.a_stride + whole * 4);
                            let rest = gemv_i8(a, w, at.depth - whole);
                            acc = _mm512_add_epi32(acc, rest);
                        }
                        sink.put(p + pp, row, acc);
                    }
                }
            }
        }
        p += 1 + usize::from(two);
    }
}

/// Calls `f(accumulator, activation tile, weight tile)` for each product of a block of `RT`
/// activation tiles and `NP` panels: accumulator `2 · t + p` (0 to 3) takes activation tile
/// `4 + t` against weight tile `6 + p`. (Constant bounds: the loops unroll, and each call's
/// tile numbers are constants.)
#[inline(always)]
fn for_each_product<const RT: usize, const NP: usize>(mut f: impl FnMut(u8, u8, u8)) {
    for t in 0..RT as u8 {
        for p in 0..NP as u8 {
            f(2 * t + p, 4 + t, 6 + p);
        }
    }
}

/// The sums of `16 · RT` activation rows against `NP` panels over the first `whole` groups,
/// into `sums[2 · t + panel]`.
///
/// # Safety
/// As for [`tile_block`], with `NP` panels from `at.w` and `whole ≤ at.depth` a multiple of 16.
#[inline(always)]
unsafe fn tile_sums<const RT: usize, const NP: usize>(
    unit: &impl TileUnit,
    at: Tile<u8, i8>,
    whole: usize,
    sums: &mut [TileSums; 4],
) {
    // SAFETY: the caller guarantees the unit; every load reads 16 rows of 64 bytes that the
    // caller guarantees: activation rows `16 · t..16 · t + 16` at columns `4 · g..4 · g + 64`,
    // and groups `g..g + 16` of each panel (64 bytes a group); every store writes one TileSums
    // (16 rows of 64 bytes).
    unsafe {
        for_each_product::<RT, NP>(|c, _, _| unit.zero(c));
        for g in (0..whole).step_by(TILE_ROWS) {
            for t in 0..RT {
                let rows = at.a.add(t * TILE_ROWS * at.a_stride + g * 4);
                unit.load(4 + t as u8, rows, at.a_stride);
            }
            for p in 0..NP {
                let panel = at.w.add(p * at.panel_len + g * TILE_ROW_BYTES);
                unit.load(6 + p as u8, panel.cast(), TILE_ROW_BYTES);
            }
            for_each_product::<RT, NP>(|c, a, b| unit.dpbusd(c, a, b));
        }
        for_each_product::<RT, NP>(|c, _, _| unit.store(c, &mut sums[usize::from(c)]));
    }
}

/// Configures the tiles as [`TileConfig::FULL`] (and zeroes them).
///
/// # Safety
/// The CPU must have AMX and this process the right to use it ([`usable`]).
#[inline(always)]
unsafe fn configure_tiles() {
    let config = &TileConfig::FULL;
    // SAFETY: the caller guarantees AMX; the 64 bytes read are a valid palette 1 configuration.
    unsafe {
        asm!(
            "ldtilecfg [{}]",
            in(reg) config.0.as_ptr(),
            options(nostack, readonly, preserves_flags),
        );
    }
}

/// Returns the tiles to their initial state, unconfigured.
///
/// # Safety
/// As for [`configure_tiles`].
#[inline(always)]
unsafe fn release_tiles() {
    // SAFETY: the caller guarantees AMX.
    unsafe { asm!("tilerelease", options(nostack, nomem, preserves_flags)) };
}

/// Zeroes tile `T`.
///
/// # Safety
/// AMX with tiles configured.
#[inline(always)]
unsafe fn tile_zero<const T: u8>() {
    // SAFETY: the caller guarantees AMX and a configuration.
    unsafe { asm!("tilezero tmm{t}", t = const T, options(nostack, nomem, preserves_flags)) };
}

/// Loads tile `T`'s 16 rows of 64 bytes from `src`, rows `stride` bytes apart.
///
/// # Safety
/// AMX with tiles configured, and those 16 rows readable.
#[inline(always)]
unsafe fn tile_load<const T: u8>(src: *const u8, stride: usize) {
    // SAFETY: the caller guarantees AMX, a configuration and the memory.
    unsafe {
        asm!(
            "tileloadd tmm{t}, [{src} + {stride} * 1]",
            t = const T,
            src = in(reg) src,
            stride = in(reg) stride,
            options(nostack, readonly, preserves_flags),
        );
    }
}

/// Tile `C` += the u8 × i8 dot products of tile `A`'s rows with tile `B`'s columns of 4 bytes.
///
/// # Safety
/// AMX-INT8 with tiles configured.
#[inline(always)]
unsafe fn tile_dpbusd<const C: u8, const A: u8, const B: u8>() {
    // SAFETY: the caller guarantees AMX-INT8 and a configuration.
    unsafe {
        asm!(
            "tdpbusd tmm{c}, tmm{a}, tmm{b}",
            c = const C,
            a = const A,
            b = const B,
            options(nostack, nomem, preserves_flags),
        );
    }
}

/// Stores tile `T` into `dst`.
///
/// # Safety
/// AMX with tiles configured.
#[inline(always)]
unsafe fn tile_store<const T: u8>(dst: &mut TileSums) {
    // SAFETY: the caller guarantees AMX and a configuration; dst holds 16 rows of 64 bytes.
    unsafe {
        asm!(
            "tilestored [{dst} + {stride} * 1], tmm{t}",
            t = const T,
            dst = in(reg) dst.0.as_mut_ptr(),
            stride = in(reg) TILE_ROW_BYTES,
            options(nostack, preserves_flags),
        );
    }
}

/// `tdpbusd` instructions in one [`peak_block`].
const PEAK_BLOCK: usize = 1024;

/// One block of the tile peak probe: four accumulator tiles, fed as [`tile_sums`] feeds a
/// block of 32 rows and two panels (`ldtilecfg` zeroes them; their sums are never read);
/// returns the multiply-adds done (16 × 16 × 64 per instruction).
///
/// # Safety
/// The CPU must have AMX-INT8 and this process the right to use it ([`usable`]).
pub(super) unsafe fn peak_block() -> f64 {
    let operand = [1u8; TILE_ROWS * TILE_ROW_BYTES];
    // SAFETY: the caller guarantees AMX; the configuration is a valid palette 1 one and each
    // load reads 16 rows of 64 bytes of `operand`.
    unsafe {
        configure_tiles();
        for tile in 4..8 {
            Amx.load(tile, operand.as_ptr(), TILE_ROW_BYTES);
        }
        for _ in 0..PEAK_BLOCK / 4 {
            for_each_product::<2, 2>(|c, a, b| Amx.dpbusd(c, a, b));
        }
        release_tiles();
    }
    (PEAK_BLOCK * TILE_ROWS * PANEL * TILE_ROW_BYTES) as f64
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::kernels::{ActivationParams, Engine, Kernel, gemm_u8i8 as scalar_product};

    /// AMX's eight tiles in plain Rust: `tdpbusd` as the instruction reference defines it.
    struct ModelTiles(RefCell<[[[u8; TILE_ROW_BYTES]; TILE_ROWS]; 8]>);

    // SAFETY: the model reads only the 16 rows the caller guarantees in `load`, and writes
    // only through `dst` in `store`.
    unsafe impl TileUnit for ModelTiles {
        unsafe fn zero(&self, tile: u8) {
            self.0.borrow_mut()[usize::from(tile)] = [[0; TILE_ROW_BYTES]; TILE_ROWS];
        }

        unsafe fn load(&self, tile: u8, src: *const u8, stride: usize) {
            for (r, row) in self.0.borrow_mut()[usize::from(tile)]
                .iter_mut()
                .enumerate()
            {
                // SAFETY: the caller guarantees 16 rows of 64 bytes, `stride` apart.
                let bytes = unsafe { std::slice::from_raw_parts(src.add(r * stride), 64) };
                row.copy_from_slice(bytes);
            }
        }

        unsafe fn dpbusd(&self, c: u8, a: u8, b: u8) {
            let mut tiles = self.0.borrow_mut();
            let (a, b) = (tiles[usize::from(a)], tiles[usize::from(b)]);
            for (m, row) in tiles[usize::from(c)].iter_mut().enumerate() {
                for n in 0..PANEL {
                    let lane = &mut row[4 * n..4 * n + 4];
                    let mut sum = i32::from_le_bytes(lane.try_into().unwrap());
                    for k in 0..TILE_ROWS {
                        for i in 0..4 {
                            let x = i32::from(a[m][4 * k + i]);
                            let w = i32::from(b[k][4 * n + i] as i8);
                            sum = sum.wrapping_add(x * w);
                        }
                    }
                    lane.copy_from_slice(&sum.to_le_bytes());
                }
            }
        }

        unsafe fn store(&self, tile: u8, dst: &mut TileSums) {
            let tiles = self.0.borrow();
            for (row, out) in tiles[usize::from(tile)].iter().zip(&mut dst.0) {
                for (lane, v) in row.chunks_exact(4).zip(out) {
                    *v = i32::from_le_bytes(lane.try_into().unwrap());
                }
            }
        }
    }

    /// The tile products' driver (blocks of 32 and 16 rows, pairs of panels and a last odd
    /// one, columns past the last whole 64, rows past the last whole 16) on the model of the
    /// tiles, against the scalar twin: on any CPU with AVX-512 VNNI, so that a CPU without AMX
    /// checks everything but the four instructions themselves.
    #[test]
    fn tile_products_on_a_model_of_the_tiles_equal_the_scalar_twin() {
        if !Kernel::available().contains(&Kernel::Avx512Vnni) {
            eprintln!("avx512-vnni not available on this CPU: the tile driver was not tested");
            return;
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for (case, (m, cols, rows)) in [(16, 64, 16), (33, 130, 5 * 16 + 3), (70, 256, 48)]
            .into_iter()
            .enumerate()
        {
            let engine = [Engine::X86, Engine::Qnnpack][case % 2];
            let weights: Vec<i8> = (0..rows * cols).map(|_| next() as i8).collect();
            let w = PackedI8::pack(&weights, rows, cols);
            let top = u64::from(engine.activation_max()) + 1;
            let a: Vec<u8> = (0..m * w.padded_cols())
                .map(|_| (next() % top) as u8)
                .collect();
            let x = ActivationParams {
                scale: 1.0,
                zero_point: (next() % top) as i32,
                engine,
            };
            let (start, end) = (case, rows - case);
            let n = end - start;
            let mut expected = vec![0i32; m * n];
            let out = OutputRows::new(&mut expected, n);
            scalar_product(Kernel::Scalar, &a, m, x, &w, start..end, out);
            let mut got = vec![0i32; m * n];
            let model = ModelTiles(RefCell::new([[[0; TILE_ROW_BYTES]; TILE_ROWS]; 8]));
            let out = (OutputRows::new(&mut got, n), crate::kernels::gemm::Sums);
            // SAFETY: the CPU has AVX-512 VNNI (checked above); the model needs nothing.
            unsafe { gemm_in_tiles(&model, &a, m, x.zero_point, &w, start..end, out) };
            assert_eq!(
                got, expected,
                "case {case}: {m} rows × {cols} columns, {rows} weight rows"
            );
        }
    }
}
