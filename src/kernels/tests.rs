//! Every SIMD kernel against the scalar one, bit for bit, on random odd shapes.

use super::*;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn f32(&mut self, scale: f32) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
    }
}

fn simd_kernels() -> Vec<Kernel> {
    Kernel::available()
        .into_iter()
        .filter(|k| *k != Kernel::Scalar)
        .collect()
}

/// A product's shape: `m × cols` activations, `rows × cols` weights, output rows `start..end`
/// written `out_stride` apart.
struct ProductShape {
    rows: usize,
    cols: usize,
    m: usize,
    start: usize,
    end: usize,
    out_stride: usize,
}

impl ProductShape {
    /// Small odd shapes, and one case in four large enough for the kernels' widest blocks
    /// (eight panels of 16 rows against up to eight activation rows at once).
    fn random(rng: &mut Rng, case: usize) -> Self {
        let cols = 1 + rng.below(70);
        if case.is_multiple_of(4) {
            let rows = 8 * PANEL + 1 + rng.below(150);
            let start = rng.below(PANEL);
            let end = rows - rng.below(PANEL);
            let m = 1 + rng.below(20);
            let out_stride = end - start + rng.below(5);
            return ProductShape {
                rows,
                cols,
                m,
                start,
                end,
                out_stride,
            };
        }
        let rows = 1 + rng.below(70);
        let m = 1 + rng.below(11);
        let start = rng.below(rows);
        let end = start + 1 + rng.below(rows - start);
        let out_stride = end - start + rng.below(5);
        ProductShape {
            rows,
            cols,
            m,
            start,
            end,
            out_stride,
        }
    }

    /// Length of an output buffer: `m` rows of `end − start` values, `out_stride` apart.
    fn out_len(&self) -> usize {
        (self.m - 1) * self.out_stride + self.end - self.start
    }

    /// The values of output row `i`.
    fn out_row(&self, i: usize) -> Range<usize> {
        i * self.out_stride..i * self.out_stride + self.end - self.start
    }
}

#[test]
fn integer_products_equal_scalar_bit_for_bit() {
    let mut rng = Rng(7);
    for case in 0..120 {
        let shape = ProductShape::random(&mut rng, case);
        let ProductShape {
            rows,
            cols,
            m,
            start,
            end,
            out_stride,
        } = shape;
        // Activations reach 128 on x86 (see gemm_u8i8) and 255 on qnnpack (every third case);
        // two cases in ten are AVX2's extremes, where every pair of products sums to exactly
        // i16::MIN or to 32512 on x86, and would saturate vpmaddubsw on qnnpack.
        let extreme = [Some(i8::MIN), Some(i8::MAX), None][(case % 10).min(2)];
        let engine = if case % 3 == 2 {
            Engine::Qnnpack
        } else {
            Engine::X86
        };
        let top = engine.activation_max();
        let w: Vec<i8> = (0..rows * cols)
            .map(|_| extreme.unwrap_or(rng.next() as i8))
            .collect();
        let packed = PackedI8::pack(&w, rows, cols);
        let stride = packed.padded_cols();
        let a: Vec<u8> = (0..m * stride)
            .map(|_| {
                if extreme.is_some() {
                    top
                } else {
                    rng.below(usize::from(top) + 1) as u8
                }
            })
            .collect();
        let zp = rng.below(engine.qmax() as usize + 1) as i32;
        let params = ActivationParams {
            scale: 1.0,
            zero_point: zp,
            engine,
        };
        let len = shape.out_len();
        let mut expected = vec![0i32; len];
        let out = OutputRows::new(&mut expected, out_stride);
        gemm_u8i8(Kernel::Scalar, &a, m, params, &packed, start..end, out);
        for i in 0..m {
            for r in start..end {
                let dot = exact_sum(&a[i * stride..][..cols], zp, &w[r * cols..][..cols]);
                assert_eq!(expected[i * out_stride + r - start], dot, "case {case}");
            }
        }
        for kernel in simd_kernels() {
            let mut got = vec![0i32; len];
            let out = OutputRows::new(&mut got, out_stride);
            gemm_u8i8(kernel, &a, m, params, &packed, start..end, out);
            for i in 0..m {
                let row = shape.out_row(i);
                assert_eq!(got[row.clone()], expected[row], "{kernel} case {case}");
            }
        }
    }
}

/// `Σ_k (a[k] − zp) · w[k]`: the exact sum every kernel's product must equal.
fn exact_sum(a: &[u8], zp: i32, w: &[i8]) -> i32 {
    a.iter()
        .zip(w)
        .map(|(&x, &w)| (i32::from(x) - zp) * i32::from(w))
        .sum()
}

/// Random operands of a u8 × i8 product: `rows × cols` weights (row-major, and packed) and
/// `m` activation rows of the packed stride, within `engine`'s range.
fn random_operands(
    rng: &mut Rng,
    (m, cols, rows): (usize, usize, usize),
    engine: Engine,
) -> (Vec<i8>, PackedI8, Vec<u8>) {
    let w: Vec<i8> = (0..rows * cols).map(|_| rng.next() as i8).collect();
    let packed = PackedI8::pack(&w, rows, cols);
    let top = usize::from(engine.activation_max());
    let a: Vec<u8> = (0..m * packed.padded_cols())
        .map(|_| rng.below(top + 1) as u8)
        .collect();
    (w, packed, a)
}

/// Products large enough for AMX's tiles (16 activation rows or more, 64 columns or more),
/// with activation rows and columns past the last whole tile, odd numbers of panels, and
/// output rows that start and end inside a panel: every SIMD kernel's sums and dequantized
/// outputs against the scalar twin's, bit for bit (values between output rows untouched).
#[test]
fn tile_sized_products_equal_scalar_bit_for_bit() {
    let mut rng = Rng(53);
    let shapes = [
        (16, 64, 2 * PANEL),
        (17, 65, 3 * PANEL),
        (31, 130, 5 * PANEL + 3),
        (32, 128, 9 * PANEL + 5),
        (33, 256, 4 * PANEL),
        (47, 300, 3 * PANEL + 9),
        (64, 100, 11 * PANEL + 1),
    ];
    for (case, (m, cols, rows)) in shapes.into_iter().enumerate() {
        let engine = [Engine::X86, Engine::Qnnpack][case % 2];
        let (w, packed, a) = random_operands(&mut rng, (m, cols, rows), engine);
        let stride = packed.padded_cols();
        let x = ActivationParams {
            scale: 0.02,
            zero_point: rng.below(engine.qmax() as usize + 1) as i32,
            engine,
        };
        let scales: Vec<f32> = (0..rows).map(|_| rng.f32(0.01)).collect();
        let bias: Vec<f32> = (0..rows).map(|_| rng.f32(1.0)).collect();
        let (start, end) = (case % PANEL, rows - case % 3);
        let out_stride = end - start + case % 4;
        let shape = ProductShape {
            rows,
            cols,
            m,
            start,
            end,
            out_stride,
        };
        let len = shape.out_len();
        let sums = |kernel| {
            let mut out = vec![0i32; len];
            let to = OutputRows::new(&mut out, out_stride);
            gemm_u8i8(kernel, &a, m, x, &packed, start..end, to);
            out
        };
        let dequantized = |kernel| {
            let mut out = vec![f32::NAN; len];
            let to = OutputRows::new(&mut out, out_stride);
            let parts = (&scales[..], &bias[..]);
            gemm_u8i8_dequantized(kernel, &a, m, x, &packed, parts, start..end, to);
            out.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        let expected = (sums(Kernel::Scalar), dequantized(Kernel::Scalar));
        for i in 0..m {
            for r in start..end {
                let (a, w) = (&a[i * stride..][..cols], &w[r * cols..][..cols]);
                let dot = exact_sum(a, x.zero_point, w);
                assert_eq!(expected.0[shape.out_row(i)][r - start], dot, "case {case}");
            }
        }
        for kernel in simd_kernels() {
            let got = (sums(kernel), dequantized(kernel));
            assert!(
                got == expected,
                "{kernel} case {case}: {m} rows × {cols} columns against {rows} weight rows"
            );
        }
    }
}

#[test]
fn f32_products_equal_scalar_bit_for_bit() {
    let mut rng = Rng(11);
    for case in 0..120 {
        let shape = ProductShape::random(&mut rng, case);
        let ProductShape {
            rows,
            cols,
            m,
            start,
            end,
            out_stride,
        } = shape;
        let w: Vec<f32> = (0..rows * cols).map(|_| rng.f32(1.0)).collect();
        let packed = PackedF32::pack(&w, rows, cols);
        let a: Vec<f32> = (0..m * cols).map(|_| rng.f32(3.0)).collect();
        let bias: Vec<f32> = (0..rows).map(|_| rng.f32(2.0)).collect();
        let len = shape.out_len();
        let mut expected = vec![0f32; len];
        let out = OutputRows::new(&mut expected, out_stride);
        gemm_f32(Kernel::Scalar, &a, m, &packed, &bias, start..end, out);
        let exact = |i: usize, r: usize| -> f64 {
            (0..cols)
                .map(|k| f64::from(a[i * cols + k]) * f64::from(w[r * cols + k]))
                .sum::<f64>()
                + f64::from(bias[r])
        };
        assert!((f64::from(expected[0]) - exact(0, start)).abs() < 1e-4);
        // The bias is added once, to the finished sum, as PyTorch's addmm rounds it.
        let mut sums = vec![0f32; len];
        let zeros = vec![0f32; rows];
        let out = OutputRows::new(&mut sums, out_stride);
        gemm_f32(Kernel::Scalar, &a, m, &packed, &zeros, start..end, out);
        for i in 0..m {
            for (j, r) in (start..end).enumerate() {
                let at = i * out_stride + j;
                assert_eq!(expected[at].to_bits(), (sums[at] + bias[r]).to_bits());
            }
        }
        for kernel in simd_kernels() {
            let mut got = vec![0f32; len];
            let out = OutputRows::new(&mut got, out_stride);
            gemm_f32(kernel, &a, m, &packed, &bias, start..end, out);
            for i in 0..m {
                let row = shape.out_row(i);
                let (g, e): (Vec<u32>, Vec<u32>) = (
                    got[row.clone()].iter().map(|v| v.to_bits()).collect(),
                    expected[row].iter().map(|v| v.to_bits()).collect(),
                );
                assert_eq!(g, e, "{kernel} case {case}");
            }
        }
    }
}

/// The fused f32 step product (`gates_f32_with_ahead`) gives each of its two products' values
/// exactly as `gemm_f32` alone does, on every kernel that fuses them, for LSTM and GRU gate
/// counts, from 1 input row to one per gate, input columns fewer than, as many as and more
/// than the hidden units, any whole-panel block of units, and both sweep directions; it
/// declines the shapes it cannot fuse.
#[test]
fn fused_f32_step_product_equals_the_two_products_bit_for_bit() {
    let mut rng = Rng(23);
    let mut fused_cases = 0;
    for case in 0..48 {
        let gates = 3 + case % 2;
        let hidden = PANEL * (1 + rng.below(6));
        let cols = [7, hidden, hidden + 21, 16][case / 2 % 4];
        let rows = 1 + case / 8 % gates;
        let first = PANEL * rng.below(hidden / PANEL);
        let n = PANEL * (1 + rng.below((hidden - first) / PANEL));
        let units = first..first + n;
        let (gate, backwards) = (rng.below(gates), case % 3 == 0);
        let random = |rng: &mut Rng, len: usize, scale: f32| -> Vec<f32> {
            (0..len).map(|_| rng.f32(scale)).collect()
        };
        let w_hh = PackedF32::pack(
            &random(&mut rng, gates * hidden * hidden, 1.0),
            gates * hidden,
            hidden,
        );
        let b_hh = random(&mut rng, gates * hidden, 2.0);
        let w_ih = PackedF32::pack(
            &random(&mut rng, gates * hidden * cols, 1.0),
            gates * hidden,
            cols,
        );
        let b_ih = random(&mut rng, gates * hidden, 2.0);
        let h = random(&mut rng, hidden, 1.0);
        let x = random(&mut rng, rows * cols, 3.0);
        // What the two products give alone, on the scalar kernel: the gates `[gate][unit]`,
        // and gate `gate` of the rows' projection `[row][gate][unit]` (the rest left as is).
        let untouched = random(&mut rng, rows * gates * n, 5.0);
        let mut expected_gates = vec![0f32; gates * n];
        for g in 0..gates {
            let r = g * hidden + first..g * hidden + first + n;
            let out = OutputRows::new(&mut expected_gates[g * n..], gates * n);
            gemm_f32(Kernel::Scalar, &h, 1, &w_hh, &b_hh, r, out);
        }
        let mut expected_ahead = untouched.clone();
        let r = gate * hidden + first..gate * hidden + first + n;
        let out = OutputRows::new(&mut expected_ahead[gate * n..], gates * n);
        gemm_f32(Kernel::Scalar, &x, rows, &w_ih, &b_ih, r, out);
        for kernel in Kernel::available() {
            let mut got_gates = vec![f32::NAN; gates * n];
            let mut got_ahead = untouched.clone();
            let mut ahead = F32Ahead {
                w: &w_ih,
                bias: &b_ih,
                x: &x,
                gate,
                out: &mut got_ahead,
            };
            let product = (&h[..], &w_hh, &b_hh[..]);
            let shape = (gates, units.clone());
            if !gates_f32_with_ahead(
                kernel,
                product,
                shape,
                &mut got_gates,
                &mut ahead,
                backwards,
            ) {
                assert_ne!(
                    kernel.vectors(),
                    Kernel::Avx512Vnni,
                    "case {case}: AVX-512 fuses every such shape"
                );
                continue;
            }
            fused_cases += 1;
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            let context = format!(
                "{kernel} case {case}: {gates} gates, hidden {hidden}, {cols} columns, {rows} rows, units {units:?}"
            );
            assert_eq!(bits(&got_gates), bits(&expected_gates), "gates, {context}");
            assert_eq!(bits(&got_ahead), bits(&expected_ahead), "ahead, {context}");
        }
    }
    // Every AVX-512 kernel (avx512-vnni, and avx512-amx where the CPU has it) fuses them all.
    let avx512_kernels = Kernel::available()
        .into_iter()
        .filter(|k| k.vectors() == Kernel::Avx512Vnni)
        .count();
    if avx512_kernels > 0 {
        assert_eq!(fused_cases, 48 * avx512_kernels);
    } else {
        eprintln!(
            "avx512-vnni not available on this CPU: the fused f32 step product was not tested"
        );
    }
    // Shapes no kernel fuses: units off the panels, and more input rows than gates.
    let w = PackedF32::pack(&[0.5; 4 * 32 * 32], 4 * 32, 32);
    let bias = [0.25; 4 * 32];
    let (h, x) = ([1.0; 32], [1.0; 5 * 32]);
    let mut gates_out = [0f32; 4 * 32];
    for kernel in Kernel::available() {
        for (units, rows) in [(8..24, 1), (0..32, 5)] {
            let mut out = vec![0f32; rows * 4 * units.len()];
            let mut ahead = F32Ahead {
                w: &w,
                bias: &bias,
                x: &x[..rows * 32],
                gate: 1,
                out: &mut out,
            };
            let product = (&h[..], &w, &bias[..]);
            let fused = gates_f32_with_ahead(
                kernel,
                product,
                (4, units),
                &mut gates_out,
                &mut ahead,
                false,
            );
            assert!(!fused, "{kernel} fused {rows} rows");
        }
    }
}

#[test]
fn quantization_and_range_equal_scalar() {
    let mut rng = Rng(13);
    for case in 0..60 {
        let cols = 1 + rng.below(40);
        let rows = 1 + rng.below(4);
        let stride = cols + rng.below(4);
        let scale = [1e-3, 1.0, 100.0][case % 3];
        let x: Vec<f32> = (0..rows * cols).map(|_| rng.f32(scale)).collect();
        let (lo, hi) = min_max(Kernel::Scalar, &x);
        let inv = 1.0 / ((hi - lo) / 127.0);
        let zp = rng.below(128) as i32;
        let mut expected = vec![0u8; rows * stride];
        quantize_u8(Kernel::Scalar, &x, cols, inv, zp, &mut expected, stride);
        for kernel in simd_kernels() {
            assert_eq!(min_max(kernel, &x), (lo, hi), "{kernel} case {case}");
            let mut got = vec![0u8; rows * stride];
            quantize_u8(kernel, &x, cols, inv, zp, &mut got, stride);
            assert_eq!(got, expected, "{kernel} case {case}");
        }
    }
}

/// Ties, values far outside the range (clamped at both ends), infinities and NaN (mapped to
/// 0) quantize alike on every kernel, whatever a row's length and position in the vector.
#[test]
fn quantization_clamps_ties_and_nan_alike_on_every_kernel() {
    let specials = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1e30,
        -1e30,
        -0.0,
        300.0,
        -300.0,
    ];
    let mut rng = Rng(43);
    for cols in [1, 15, 16, 17, 31, 32, 33, 70] {
        let rows = 3;
        // Halves: exact ties once multiplied by an inverse scale of 1.
        let mut x: Vec<f32> = (0..rows * cols).map(|i| (i as f32 - 40.0) + 0.5).collect();
        for (k, &v) in specials.iter().enumerate() {
            let at = (k * 7 + rng.below(rows * cols)) % (rows * cols);
            x[at] = v;
        }
        for zp in [0, 64, 127] {
            let stride = cols + 3;
            let mut expected = vec![7u8; rows * stride];
            quantize_u8(Kernel::Scalar, &x, cols, 1.0, zp, &mut expected, stride);
            for kernel in simd_kernels() {
                let mut got = vec![7u8; rows * stride];
                quantize_u8(kernel, &x, cols, 1.0, zp, &mut got, stride);
                assert_eq!(got, expected, "{kernel} cols {cols} zero point {zp}");
            }
        }
    }
}

#[test]
fn every_kernel_finds_each_infinity_and_nan_as_the_scalar_twin_does() {
    let mut rng = Rng(43);
    let odd = [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
    for n in [0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 64, 100, 1000] {
        let x: Vec<f32> = (0..n).map(|_| rng.f32(1e30)).collect();
        for kernel in Kernel::available() {
            assert!(all_finite(kernel, &x), "{kernel} n {n}");
        }
        for at in (0..n).step_by(1 + n / 13) {
            for bad in odd {
                let mut y = x.clone();
                y[at] = bad;
                assert!(!all_finite(Kernel::Scalar, &y));
                for kernel in simd_kernels() {
                    assert!(!all_finite(kernel, &y), "{kernel} n {n}, {bad} at {at}");
                }
            }
        }
        // The largest finite values and the smallest subnormals are finite.
        let edges = [f32::MAX, f32::MIN, f32::MIN_POSITIVE, -1e-45, 0.0, -0.0];
        let y: Vec<f32> = (0..n).map(|i| edges[i % edges.len()]).collect();
        for kernel in Kernel::available() {
            assert!(all_finite(kernel, &y), "{kernel} n {n} edges");
        }
    }
}

#[test]
fn min_max_skips_nan_on_every_kernel() {
    let mut rng = Rng(41);
    for n in [1, 8, 9, 17, 31, 32, 33, 64, 100] {
        let mut x: Vec<f32> = (0..n).map(|_| rng.f32(3.0)).collect();
        for at in [0, n / 2, n - 1] {
            x[at] = f32::NAN;
            let finite: Vec<f32> = x.iter().copied().filter(|v| !v.is_nan()).collect();
            let lo = finite.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = finite.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            for kernel in Kernel::available() {
                assert_eq!(min_max(kernel, &x), (lo, hi), "{kernel} n {n} NaN at {at}");
            }
        }
    }
}

#[test]
fn lstm_cell_equals_scalar_bit_for_bit() {
    let mut rng = Rng(17);
    for n in [1, 7, 8, 9, 16, 23, 32, 48, 57, 64] {
        for scale in [1e-6, 0.1, 2.0, 30.0, 200.0] {
            let mut vecs = (0..8).map(|_| (0..n).map(|_| rng.f32(scale)).collect::<Vec<f32>>());
            let mut gates: Vec<Vec<f32>> = Vec::new();
            for _ in 0..8 {
                gates.push(vecs.next().unwrap());
            }
            let hh = [&gates[0][..], &gates[1], &gates[2], &gates[3]];
            let ih = [&gates[4][..], &gates[5], &gates[6], &gates[7]];
            let c0: Vec<f32> = (0..n).map(|_| rng.f32(scale)).collect();
            let (mut c_ref, mut h_ref) = (c0.clone(), vec![0f32; n]);
            lstm_cell(Kernel::Scalar, hh, ih, &mut c_ref, &mut h_ref);
            for kernel in simd_kernels() {
                let (mut c, mut h) = (c0.clone(), vec![0f32; n]);
                lstm_cell(kernel, hh, ih, &mut c, &mut h);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&c), bits(&c_ref), "{kernel} n {n}");
                assert_eq!(bits(&h), bits(&h_ref), "{kernel} n {n}");
            }
        }
    }
}

#[test]
fn gru_cell_equals_scalar_bit_for_bit() {
    let mut rng = Rng(19);
    for n in [1, 7, 8, 9, 16, 23, 32, 48, 57, 64] {
        for scale in [1e-6, 0.1, 2.0, 30.0, 200.0] {
            let gates: Vec<Vec<f32>> = (0..7)
                .map(|_| (0..n).map(|_| rng.f32(scale)).collect())
                .collect();
            let hh = [&gates[0][..], &gates[1], &gates[2]];
            let ih = [&gates[3][..], &gates[4], &gates[5]];
            let h_old = &gates[6];
            let mut expected = vec![0f32; n];
            gru_cell(Kernel::Scalar, hh, ih, h_old, &mut expected);
            // ATen's formula, written out: the scalar twin is it.
            for j in 0..n {
                let r = scalar::sigmoid(hh[0][j] + ih[0][j]);
                let z = scalar::sigmoid(hh[1][j] + ih[1][j]);
                let new = scalar::tanh(ih[2][j] + hh[2][j] * r);
                assert_eq!(
                    expected[j].to_bits(),
                    ((h_old[j] - new) * z + new).to_bits()
                );
            }
            for kernel in simd_kernels() {
                let mut h = vec![0f32; n];
                gru_cell(kernel, hh, ih, h_old, &mut h);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&h), bits(&expected), "{kernel} n {n}");
            }
        }
    }
}

/// `lstm_cells` and `gru_cells` (every batch row of a block of units at once; AVX-512 runs
/// two rows' cells side by side) against the scalar cell run row by row, on blocks of units
/// within wider rows, even and odd batches, and every width a row's units leave: thirty-two
/// units and more, sixteen, and the last fewer than sixteen.
#[test]
fn cells_of_every_batch_row_equal_the_scalar_cell_row_by_row_bit_for_bit() {
    let mut rng = Rng(29);
    for case in 0..60 {
        let gates = if case % 2 == 0 { 4 } else { 3 };
        let hidden = 1 + rng.below(80);
        let first = rng.below(hidden);
        let units = first..first + 1 + rng.below(hidden - first);
        let (n, batch) = (units.len(), 1 + rng.below(5));
        let scale = [1e-6, 0.1, 2.0, 30.0][case % 4];
        let mut values = |len: usize| (0..len).map(|_| rng.f32(scale)).collect::<Vec<f32>>();
        let (hh, ih) = (values(batch * gates * n), values(batch * gates * n));
        let (c0, h_old) = (values(batch * hidden), values(batch * hidden));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        // Row b's gates of the block, n values each.
        let row_gates = |v: &[f32], b: usize| -> Vec<Vec<f32>> {
            (0..gates)
                .map(|k| v[(b * gates + k) * n..][..n].to_vec())
                .collect()
        };
        let (mut c_ref, mut h_ref) = (c0.clone(), vec![0f32; batch * hidden]);
        for b in 0..batch {
            let at = b * hidden + units.start..b * hidden + units.end;
            let (hh, ih) = (row_gates(&hh, b), row_gates(&ih, b));
            let (c, h) = (&mut c_ref[at.clone()], &mut h_ref[at.clone()]);
            if gates == 4 {
                let [hh, ih] = [&hh, &ih].map(|g| [0, 1, 2, 3].map(|k| &g[k][..]));
                lstm_cell(Kernel::Scalar, hh, ih, c, h);
            } else {
                let [hh, ih] = [&hh, &ih].map(|g| [0, 1, 2].map(|k| &g[k][..]));
                gru_cell(Kernel::Scalar, hh, ih, &h_old[at], h);
            }
        }
        for kernel in Kernel::available() {
            let (mut c, mut h) = (c0.clone(), vec![0f32; batch * hidden]);
            let mut whole = UnitState::whole(&mut c, &mut h, hidden);
            let mut block = whole.block(units.clone(), 0..batch);
            if gates == 4 {
                lstm_cells(kernel, &hh, &ih, &mut block);
            } else {
                gru_cells(kernel, &hh, &ih, &h_old, &mut block);
            }
            let what =
                format!("{kernel}, {gates} gates, units {units:?} of {hidden}, batch {batch}");
            assert_eq!(bits(&c), bits(&c_ref), "c: {what}");
            assert_eq!(bits(&h), bits(&h_ref), "h: {what}");
        }
    }
}

/// The product dequantized as it is stored gives, on every kernel, exactly the exact sums
/// rescaled as each engine rounds them (one fused multiply-add on x86, the product rounded
/// first on qnnpack): per tensor and per row, for any rows of the weights and output rows
/// apart.
#[test]
fn dequantized_products_equal_the_exact_sums_rescaled_bit_for_bit() {
    let mut rng = Rng(31);
    for case in 0..120 {
        let shape = ProductShape::random(&mut rng, case);
        let ProductShape {
            rows,
            cols,
            m,
            start,
            end,
            out_stride,
        } = shape;
        let engine = [Engine::X86, Engine::Qnnpack][case % 2];
        let (_, packed, a) = random_operands(&mut rng, (m, cols, rows), engine);
        let x = ActivationParams {
            scale: rng.f32(0.1).abs() + 1e-3,
            zero_point: rng.below(engine.qmax() as usize + 1) as i32,
            engine,
        };
        let per_row = case / 2 % 2 == 1;
        let scales: Vec<f32> = (0..if per_row { rows } else { 1 })
            .map(|_| rng.f32(0.01))
            .collect();
        let bias: Vec<f32> = (0..rows).map(|_| rng.f32(1.0)).collect();
        let n = end - start;
        let mut sums = vec![0i32; m * n];
        let out = OutputRows::new(&mut sums, n);
        gemm_u8i8(Kernel::Scalar, &a, m, x, &packed, start..end, out);
        let expected: Vec<f32> = (0..m * n)
            .map(|at| {
                let r = start + at % n;
                let scale = x.scale * if per_row { scales[r] } else { scales[0] };
                let sum = sums[at] as f32;
                match engine {
                    Engine::X86 => sum.mul_add(scale, bias[r]),
                    Engine::Qnnpack => sum * scale + bias[r],
                }
            })
            .collect();
        for kernel in Kernel::available() {
            // Values between the output rows stay as they were.
            let mut got = vec![f32::NAN; shape.out_len()];
            let out = OutputRows::new(&mut got, out_stride);
            let parts = (&scales[..], &bias[..]);
            gemm_u8i8_dequantized(kernel, &a, m, x, &packed, parts, start..end, out);
            let bits = |v: &[f32]| v.iter().map(|y| y.to_bits()).collect::<Vec<_>>();
            for i in 0..m {
                let row = &got[shape.out_row(i)];
                assert_eq!(
                    bits(row),
                    bits(&expected[i * n..][..n]),
                    "{kernel} case {case}"
                );
                let gap = shape.out_row(i).end..((i + 1) * out_stride).min(got.len());
                assert!(got[gap].iter().all(|v| v.is_nan()), "{kernel} case {case}");
            }
        }
    }
}

/// A random int8 recurrent map `W_hh` (`gates · H × H`) with per-tensor or per-row scales,
/// computing as x86 or qnnpack does.
struct RandomRecurrent {
    weight: PackedI8,
    scales: Vec<f32>,
    bias: Vec<f32>,
    engine: Engine,
}

impl RandomRecurrent {
    fn new(rng: &mut Rng, gates: usize, hidden: usize, per_channel: bool, engine: Engine) -> Self {
        Self::map(rng, gates * hidden, hidden, per_channel, engine)
    }

    /// Any int8 map, `rows × cols` (a layer's `W_ih`, say).
    fn map(rng: &mut Rng, rows: usize, cols: usize, per_channel: bool, engine: Engine) -> Self {
        let w: Vec<i8> = (0..rows * cols).map(|_| rng.next() as i8).collect();
        RandomRecurrent {
            weight: PackedI8::pack(&w, rows, cols),
            scales: (0..if per_channel { rows } else { 1 })
                .map(|_| 0.001 + rng.f32(0.01).abs())
                .collect(),
            bias: (0..rows).map(|_| rng.f32(1.0)).collect(),
            engine,
        }
    }

    fn view(&self) -> QuantizedRecurrent<'_> {
        QuantizedRecurrent {
            weight: &self.weight,
            scales: &self.scales,
            bias: &self.bias,
            engine: self.engine,
        }
    }
}

#[test]
fn fused_int8_step_equals_scalar_bit_for_bit_for_any_block_of_units() {
    let mut rng = Rng(23);
    for case in 0..120 {
        // LSTM steps (fused on AVX-512) and GRU steps.
        let gates = if case % 3 == 2 { 3 } else { 4 };
        let step = if gates == 4 {
            lstm_units_u8i8
        } else {
            gru_units_u8i8
        };
        // Two cases in eight (one per-channel, one per-tensor) a multiple of 16 units and
        // (below) blocks of a multiple of 16 units and one batch row: the AVX-512 steps then
        // interleave their product and their cell, on any row of the batch.
        let aligned = matches!(case % 8, 3 | 6);
        let hidden = if aligned {
            PANEL * (1 + rng.below(5))
        } else {
            1 + rng.below(70)
        };
        let batch = 1 + rng.below(3);
        let rows = gates * hidden;
        let per_channel = case % 2 == 1;
        let engine = [Engine::X86, Engine::Qnnpack][case / 4 % 2];
        let layer = RandomRecurrent::new(&mut rng, gates, hidden, per_channel, engine);
        let recurrent = layer.view();
        let scale = [0.01, 1.0, 20.0][case % 3];
        let h_prev: Vec<f32> = (0..batch * hidden).map(|_| rng.f32(scale)).collect();
        let ih: Vec<f32> = (0..batch * rows).map(|_| rng.f32(scale)).collect();
        let c0: Vec<f32> = (0..batch * hidden).map(|_| rng.f32(scale)).collect();
        // The whole step in blocks of `per` units (one block when per >= hidden), each for
        // batch rows `rows_per` at a time, as the threads split a step by units or by rows.
        let run = |kernel: Kernel, per: usize, rows_per: usize| {
            let (mut c, mut h) = (c0.clone(), vec![0f32; batch * hidden]);
            let mut scratch = StepScratch {
                h_is_new: true,
                ..StepScratch::default()
            };
            let mut whole = UnitState::whole(&mut c, &mut h, hidden);
            for first_row in (0..batch).step_by(rows_per) {
                let batch_rows = first_row..(first_row + rows_per).min(batch);
                for start in (0..hidden).step_by(per) {
                    let units = start..(start + per).min(hidden);
                    // The block's part of the input projection, [batch][gate][unit].
                    let ih_block: Vec<f32> = (batch_rows.start * gates..batch_rows.end * gates)
                        .flat_map(|row| &ih[row * hidden + units.start..row * hidden + units.end])
                        .copied()
                        .collect();
                    let mut block = whole.block(units, batch_rows.clone());
                    // Every other block reads its weights last to first, as odd steps do.
                    scratch.backwards = start / per % 2 == 1;
                    let h_ih = (&h_prev[..], &ih_block[..]);
                    step(kernel, recurrent, h_ih, &mut block, &mut scratch, None);
                }
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            (bits(&c), bits(&h))
        };
        let expected = run(Kernel::Scalar, hidden, batch);
        if gates == 3 {
            // A GRU leaves `c` alone and its `h` is the cell's on the dequantized products.
            assert_eq!(
                expected.0,
                c0.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            );
        }
        let per = if aligned {
            PANEL * (1 + rng.below(hidden / PANEL))
        } else {
            1 + rng.below(hidden)
        };
        let rows_per = if aligned { 1 } else { 1 + rng.below(batch) };
        assert_eq!(
            run(Kernel::Scalar, per, batch),
            expected,
            "scalar in blocks of {per}, case {case}"
        );
        assert_eq!(
            run(Kernel::Scalar, hidden, rows_per),
            expected,
            "scalar in blocks of {rows_per} rows, case {case}"
        );
        for kernel in simd_kernels() {
            assert_eq!(run(kernel, hidden, batch), expected, "{kernel} case {case}");
            assert_eq!(
                run(kernel, per, batch),
                expected,
                "{kernel} in blocks of {per}, case {case}"
            );
            assert_eq!(
                run(kernel, per, rows_per),
                expected,
                "{kernel} in blocks of {per} units and {rows_per} rows, case {case}"
            );
        }
    }
}

#[test]
fn steps_projecting_ahead_equal_the_step_and_then_the_projection_bit_for_bit() {
    let mut rng = Rng(41);
    for case in 0..80 {
        let gates = if case % 4 == 3 { 3 } else { 4 };
        let step = if gates == 4 {
            lstm_units_u8i8
        } else {
            gru_units_u8i8
        };
        // Mostly whole panels and one batch row, where the AVX-512 LSTM step fuses the
        // projection into its own product (one or two ahead panels a block, W_ih with fewer
        // or more columns than W_hh); else any block, on any kernel.
        let aligned = case % 5 != 4;
        let hidden = if aligned {
            PANEL * (1 + rng.below(5))
        } else {
            1 + rng.below(50)
        };
        let (inputs, rows, batch) = (
            1 + rng.below(90),
            1 + rng.below(gates),
            1 + usize::from(!aligned),
        );
        let (per_channel, engine) = (case % 2 == 1, [Engine::X86, Engine::Qnnpack][case / 2 % 2]);
        let w_hh = RandomRecurrent::new(&mut rng, gates, hidden, per_channel, engine);
        let w_ih = RandomRecurrent::map(&mut rng, gates * hidden, inputs, per_channel, engine);
        // The ahead rows, quantized as a layer's input sequence is.
        let x: Vec<f32> = (0..rows * inputs).map(|_| rng.f32(2.0)).collect();
        let (lo, hi) = min_max(Kernel::Scalar, &x);
        let params = choose_activation_params(engine, lo, hi);
        let stride = w_ih.weight.padded_cols();
        let mut input = vec![0u8; rows * stride];
        let (inv_scale, zp) = (1.0 / params.scale, params.zero_point);
        quantize_u8(
            Kernel::Scalar,
            &x,
            inputs,
            inv_scale,
            zp,
            &mut input,
            stride,
        );
        let units = if aligned {
            let start = PANEL * rng.below(hidden / PANEL);
            start..start + PANEL * (1 + rng.below((hidden - start) / PANEL))
        } else {
            let start = rng.below(hidden);
            start..start + 1 + rng.below(hidden - start)
        };
        let n = units.len();
        let gate = rng.below(gates);
        let h_prev: Vec<f32> = (0..batch * hidden).map(|_| rng.f32(1.0)).collect();
        let ih: Vec<f32> = (0..batch * gates * n).map(|_| rng.f32(1.0)).collect();
        let c0: Vec<f32> = (0..batch * hidden).map(|_| rng.f32(1.0)).collect();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        // The step's (c, h), and the ahead buffer (NaN where the step must not write).
        let run = |kernel: Kernel, ahead: bool| {
            let (mut c, mut h) = (c0.clone(), vec![0f32; batch * hidden]);
            let mut out = vec![f32::NAN; rows * gates * n];
            let mut scratch = StepScratch {
                h_is_new: true,
                ..StepScratch::default()
            };
            let mut whole = UnitState::whole(&mut c, &mut h, hidden);
            let mut block = whole.block(units.clone(), 0..batch);
            let ahead = ahead.then(|| AheadProjection {
                w: w_ih.view(),
                input: &input,
                params,
                gate,
                out: &mut out,
            });
            step(
                kernel,
                w_hh.view(),
                (&h_prev, &ih),
                &mut block,
                &mut scratch,
                ahead,
            );
            (bits(&c), bits(&h), bits(&out))
        };
        let (c, h, untouched) = run(Kernel::Scalar, false);
        // The projection on its own, into the same place.
        let mut projected = vec![f32::NAN; rows * gates * n];
        let first = gate * hidden + units.start;
        let out = OutputRows::new(&mut projected[gate * n..], gates * n);
        let parts = (&w_ih.scales[..], &w_ih.bias[..]);
        let w = &w_ih.weight;
        gemm_u8i8_dequantized(
            Kernel::Scalar,
            &input,
            rows,
            params,
            w,
            parts,
            first..first + n,
            out,
        );
        assert!(projected.iter().any(|v| !v.is_nan()), "case {case}");
        let expected = (c, h, bits(&projected));
        assert_ne!(untouched, expected.2, "case {case}");
        for kernel in Kernel::available() {
            assert_eq!(run(kernel, true), expected, "{kernel} case {case}");
        }
    }
}

/// [`run_layer`] of a one-row layer of `shape` split by units with `projection` (and
/// `h_ranges`), from `h0` filled with `h0` and `c` with zeros, `ih` and the output starting as
/// NaNs: the output.
#[allow(clippy::too_many_arguments)]
fn run_units_layer<S>(
    threads: usize,
    pool: &mut Pool,
    scratch: &mut Vec<StepScratch>,
    shape: LayerShape,
    projection: Projection<'_>,
    step: &S,
    h0: f32,
    h_ranges: Option<Kernel>,
) -> Vec<f32>
where
    S: Fn(&[f32], &[f32], &mut UnitState<'_>, &mut StepScratch, Option<AheadRows<'_>>) + Sync,
{
    let LayerShape {
        steps,
        hidden,
        gates,
        ..
    } = shape;
    let mut ih = vec![f32::NAN; steps * gates * hidden];
    let (h0, mut c) = (vec![h0; hidden], vec![0f32; hidden]);
    let mut out = vec![f32::NAN; steps * hidden];
    let layer = LayerBuffers {
        shape,
        h0: &h0,
        c: &mut c,
        out: &mut out,
    };
    let split = Split::Units(projection);
    run_layer(
        threads,
        pool,
        scratch,
        (split, step),
        &mut ih,
        layer,
        h_ranges,
    );
    out
}

#[test]
fn projecting_ahead_gives_every_step_its_input_rows_in_either_direction() {
    // The input projection of (row, gate, unit) is a value that names them; each step writes
    // into h the sum of its units' gates weighted by gate number, so a step that read a row
    // not yet projected (NaN) or another row's projection leaves a wrong h at its time.
    let value = |row: usize, gate: usize, unit: usize| (row * 1000 + gate * 100 + unit) as f32;
    let gates = 4;
    // With each thread making its own copy of the input ready, the copy holds the thread
    // that made it (1 + its index in the run, counted below) and the forward pass's number:
    // every projection must get the calling thread's copy of this pass, and none without.
    use std::cell::Cell;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    std::thread_local!(static PREPARED_BY: Cell<u8> = const { Cell::new(0) });
    let (with_own, pass) = (AtomicBool::new(false), AtomicUsize::new(0));
    let preparers = AtomicUsize::new(0);
    let prepare = |own: &mut LinearScratch| {
        let thread = (1 + preparers.fetch_add(1, Ordering::Relaxed)) as u8;
        own.quantized.resize(2, 0);
        own.quantized[0] = thread;
        own.quantized[1] = pass.load(Ordering::Relaxed) as u8;
        PREPARED_BY.with(|p| p.set(thread));
    };
    let check_own = |own: Option<&LinearScratch>| match own {
        Some(own) => {
            assert!(
                with_own.load(Ordering::Relaxed),
                "an own copy without own_input"
            );
            assert_eq!(
                own.quantized[1],
                pass.load(Ordering::Relaxed) as u8,
                "a stale copy"
            );
            let made_here = PREPARED_BY.with(|p| p.get());
            assert_eq!(own.quantized[0], made_here, "another thread's copy");
        }
        None => assert!(
            !with_own.load(Ordering::Relaxed),
            "no own copy with own_input"
        ),
    };
    let project = |units: Range<usize>, rows: Range<usize>, out: &mut [f32], own: Option<&_>| {
        check_own(own);
        let n = units.len();
        assert_eq!(out.len(), rows.len() * gates * n);
        for (r, row) in rows.enumerate() {
            for g in 0..gates {
                for (u, unit) in units.clone().enumerate() {
                    out[(r * gates + g) * n + u] = value(row, g, unit);
                }
            }
        }
    };
    let step = |_: &[f32],
                ih: &[f32],
                state: &mut UnitState<'_>,
                _: &mut StepScratch,
                ahead: Option<AheadRows<'_>>| {
        let units = state.units();
        let n = units.len();
        if let Some(AheadRows {
            rows,
            gate,
            out,
            own,
        }) = ahead
        {
            let mut all = vec![f32::NAN; out.len()];
            project(units.clone(), rows, &mut all, own);
            for r in 0..all.len() / (gates * n) {
                let at = (r * gates + gate) * n;
                out[at..at + n].copy_from_slice(&all[at..at + n]);
            }
        }
        let (_, h) = state.row(0);
        for (u, h) in h.iter_mut().enumerate() {
            *h = (0..gates).map(|g| (g + 1) as f32 * ih[g * n + u]).sum();
        }
    };
    let mut pool = Pool::default();
    let mut scratch = Vec::new();
    for reverse in [false, true] {
        for steps in [1, 3, 4, 5, 8, 9] {
            for (hidden, threads) in [(32, 2), (48, 2), (64, 3)] {
                let shape = LayerShape {
                    steps,
                    batch: 1,
                    hidden,
                    gates,
                    reverse,
                };
                let plans = [
                    (ProjectionPlan::Upfront, false),
                    (ProjectionPlan::Ahead, false),
                    (ProjectionPlan::Ahead, true),
                ];
                for (plan, own) in plans {
                    with_own.store(own, Ordering::Relaxed);
                    pass.fetch_add(1, Ordering::Relaxed);
                    let projection = Projection {
                        project: &project,
                        plan,
                        own_input: own.then_some((&prepare as _, 2)),
                    };
                    let out = run_units_layer(
                        threads,
                        &mut pool,
                        &mut scratch,
                        shape,
                        projection,
                        &step,
                        0.0,
                        None,
                    );
                    for t in 0..steps {
                        for unit in 0..hidden {
                            let expected: f32 =
                                (0..gates).map(|g| (g + 1) as f32 * value(t, g, unit)).sum();
                            assert_eq!(
                                out[t * hidden + unit],
                                expected,
                                "{plan:?} own {own} reverse {reverse} steps {steps} hidden \
                                 {hidden} t {t}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn steps_held_up_on_either_thread_still_see_every_previous_step_whole() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // Each unit's new h is its input projection plus the previous h of the next unit (the
    // last one wrapping to the first), so every block reads the other block's units: a step
    // run before the previous one was done, twice, or not at all leaves a wrong value. Every
    // fourth call sleeps, on whichever thread runs it, for longer than a thread waits for
    // another's block before looking at its claim. Every step but the first is also given
    // the range of the whole previous h, from what the blocks found of their parts.
    let (steps, hidden, threads) = (12, 64, 2);
    let value = |row: usize, unit: usize| (row * 7 + unit % 5) as f32;
    let project = |units: Range<usize>, rows: Range<usize>, out: &mut [f32], _: Option<&_>| {
        let n = units.len();
        for (r, row) in rows.enumerate() {
            for (u, unit) in units.clone().enumerate() {
                out[r * n + u] = value(row, unit);
            }
        }
    };
    let calls = AtomicUsize::new(0);
    let ranges_given = AtomicUsize::new(0);
    let step = |h_prev: &[f32],
                ih: &[f32],
                state: &mut UnitState<'_>,
                scratch: &mut StepScratch,
                _: Option<AheadRows<'_>>| {
        if let Some(range) = scratch.h_range.take() {
            assert_eq!(range, min_max(Kernel::Scalar, h_prev), "h_prev's range");
            ranges_given.fetch_add(1, Ordering::Relaxed);
        }
        if calls.fetch_add(1, Ordering::Relaxed) % 4 == 3 {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        let units = state.units();
        let (_, h) = state.row(0);
        for (u, unit) in units.enumerate() {
            h[u] = ih[u] + h_prev[(unit + 1) % hidden];
        }
    };
    let mut expected = vec![0f32; steps * hidden];
    let mut h_prev = vec![1f32; hidden];
    for t in 0..steps {
        for unit in 0..hidden {
            expected[t * hidden + unit] = value(t, unit) + h_prev[(unit + 1) % hidden];
        }
        h_prev.copy_from_slice(&expected[t * hidden..(t + 1) * hidden]);
    }
    let mut pool = Pool::default();
    let mut scratch = Vec::new();
    for _ in 0..5 {
        let shape = LayerShape {
            steps,
            batch: 1,
            hidden,
            gates: 1,
            reverse: false,
        };
        let projection = Projection {
            project: &project,
            plan: ProjectionPlan::Upfront,
            own_input: None,
        };
        let out = run_units_layer(
            threads,
            &mut pool,
            &mut scratch,
            shape,
            projection,
            &step,
            1.0,
            Some(Kernel::detect()),
        );
        assert_eq!(out, expected);
    }
    assert_eq!(
        calls.into_inner(),
        5 * steps * 2,
        "each block of each step ran once"
    );
    assert_eq!(
        ranges_given.into_inner(),
        5 * (steps - 1) * 2,
        "each block of every step after the first was given the range"
    );
}

#[test]
fn pool_gives_distinct_indices_and_the_caller_always_takes_part() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let mut pool = Pool::default();
    for threads in [1, 2, 3, 1, 3, 2] {
        for _ in 0..20 {
            let seen = AtomicUsize::new(0);
            let next = AtomicUsize::new(0);
            let work = AtomicUsize::new(0);
            pool.run(threads, &|index| {
                assert!(index < threads);
                let bit = 1 << index;
                assert_eq!(
                    seen.fetch_or(bit, Ordering::Relaxed) & bit,
                    0,
                    "index reused"
                );
                while next.fetch_add(1, Ordering::Relaxed) < 1000 {
                    work.fetch_add(1, Ordering::Relaxed);
                }
            });
            assert_eq!(seen.into_inner() & 1, 1);
            assert_eq!(work.into_inner(), 1000);
        }
    }
}

#[test]
fn a_panic_on_any_thread_reaches_the_caller_once_every_thread_is_done() {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    let mut pool = Pool::default();
    for panicking in [1, 0] {
        let worker_started = AtomicBool::new(false);
        let worker_done = AtomicBool::new(false);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            pool.run(2, &|index| {
                if index == 0 {
                    // Make sure the worker takes part (it may join late on a busy machine).
                    let start = Instant::now();
                    while !worker_started.load(Ordering::Acquire)
                        && start.elapsed() < Duration::from_secs(30)
                    {
                        std::hint::spin_loop();
                    }
                } else {
                    worker_started.store(true, Ordering::Release);
                    std::thread::sleep(Duration::from_millis(20));
                }
                if index == panicking {
                    panic!("job panicked on thread {index}");
                }
                if index == 1 {
                    worker_done.store(true, Ordering::Release);
                }
            });
        }));
        let payload = outcome.expect_err("the panic reaches the caller");
        let message = payload
            .downcast_ref::<String>()
            .expect("a formatted message");
        assert_eq!(message, &format!("job panicked on thread {panicking}"));
        if panicking == 0 {
            assert!(
                worker_done.load(Ordering::Acquire),
                "the caller unwound while the worker still ran the job"
            );
        }
        // The pool still runs jobs on every thread.
        let ran = AtomicBool::new(false);
        pool.run(2, &|_| ran.store(true, Ordering::Relaxed));
        assert!(ran.into_inner());
    }
}

#[test]
fn int8_layer_equals_scalar_bit_for_bit_on_every_kernel() {
    let mut rng = Rng(41);
    for case in 0..90 {
        // Mostly small layers, which AVX-512 runs with its state in registers; LSTM and GRU,
        // forward and reverse.
        let gates = if case % 3 == 1 { 3 } else { 4 };
        let hidden = 1 + rng.below(if case % 4 == 0 { 40 } else { 12 });
        let batch = 1 + usize::from(case % 5 == 4);
        let steps = 1 + rng.below(6);
        let engine = [Engine::X86, Engine::Qnnpack][case / 6 % 2];
        let layer = RandomRecurrent::new(&mut rng, gates, hidden, case % 2 == 1, engine);
        let recurrent = layer.view();
        let scale = [0.01, 1.0, 20.0][case % 3];
        let shape = LayerShape {
            steps,
            batch,
            hidden,
            gates,
            reverse: case % 7 >= 4,
        };
        let context = format!("case {case}, hidden {hidden}");
        int8_layer_equals_scalar(&mut rng, recurrent, shape, scale, &context);
    }
}

/// Runs an int8 layer of `shape` on random inputs (within ±`scale`) on the scalar kernel and
/// on every SIMD kernel, and checks that the states and outputs are bit for bit the same.
fn int8_layer_equals_scalar(
    rng: &mut Rng,
    recurrent: QuantizedRecurrent<'_>,
    shape: LayerShape,
    scale: f32,
    context: &str,
) {
    let LayerShape {
        steps,
        batch,
        hidden,
        gates,
        ..
    } = shape;
    let layer_kernel = if gates == 4 {
        lstm_layer_u8i8
    } else {
        gru_layer_u8i8
    };
    let ih: Vec<f32> = (0..steps * batch * gates * hidden)
        .map(|_| rng.f32(scale))
        .collect();
    let h0: Vec<f32> = (0..batch * hidden).map(|_| rng.f32(scale)).collect();
    let c0: Vec<f32> = (0..batch * hidden).map(|_| rng.f32(scale)).collect();
    let run = |kernel: Kernel| {
        let (mut c, mut out) = (c0.clone(), vec![0f32; steps * batch * hidden]);
        let mut scratch = StepScratch::default();
        let layer = LayerBuffers {
            shape,
            h0: &h0,
            c: &mut c,
            out: &mut out,
        };
        layer_kernel(kernel, recurrent, &ih, layer, &mut scratch);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        (bits(&c), bits(&out))
    };
    let expected = run(Kernel::Scalar);
    for kernel in simd_kernels() {
        assert_eq!(run(kernel), expected, "{kernel} {context}");
    }
}

/// Layers whose batch fills AMX's tiles (16 rows or more, 64 hidden units or more), LSTM and
/// GRU, forward and reverse, both engines: every SIMD kernel against the scalar twin.
#[test]
fn batched_int8_layers_equal_scalar_bit_for_bit() {
    let mut rng = Rng(59);
    for (case, (gates, hidden, batch)) in [(4, 64, 16), (3, 80, 17), (4, 100, 33), (3, 64, 32)]
        .into_iter()
        .enumerate()
    {
        let engine = [Engine::X86, Engine::Qnnpack][case % 2];
        let layer = RandomRecurrent::new(&mut rng, gates, hidden, case % 3 == 1, engine);
        let shape = LayerShape {
            steps: 3,
            batch,
            hidden,
            gates,
            reverse: case % 2 == 1,
        };
        let context = format!("case {case}: {gates} gates, hidden {hidden}, batch {batch}");
        int8_layer_equals_scalar(&mut rng, layer.view(), shape, 1.0, &context);
    }
}

/// Runs every bit-equality test above, then checks that each kernel family this CPU supports
/// ran its own code for every kernel function: a SIMD kernel that a dispatch change left
/// unreached would otherwise pass the comparisons unnoticed. Families the CPU lacks are named
/// on stderr (uncaptured), so a run on such a CPU says plainly what it did not test.
#[test]
fn every_available_kernel_ran_every_kernel_function() {
    use std::io::Write;

    use super::coverage::{FAMILIES, Function, ran};
    integer_products_equal_scalar_bit_for_bit();
    f32_products_equal_scalar_bit_for_bit();
    quantization_and_range_equal_scalar();
    every_kernel_finds_each_infinity_and_nan_as_the_scalar_twin_does();
    lstm_cell_equals_scalar_bit_for_bit();
    gru_cell_equals_scalar_bit_for_bit();
    dequantized_products_equal_the_exact_sums_rescaled_bit_for_bit();
    fused_int8_step_equals_scalar_bit_for_bit_for_any_block_of_units();
    int8_layer_equals_scalar_bit_for_bit_on_every_kernel();
    tile_sized_products_equal_scalar_bit_for_bit();
    batched_int8_layers_equal_scalar_bit_for_bit();
    let available = Kernel::available();
    for kernel in FAMILIES {
        if !available.contains(&kernel) {
            // Written to the stream itself: the test harness captures `eprintln!`.
            let _ = writeln!(
                std::io::stderr(),
                "{kernel} kernels not available on this CPU (it lacks {}): they were not tested",
                kernel.required_features()
            );
            continue;
        }
        let missed: Vec<_> = Function::ALL
            .into_iter()
            .filter(|f| f.exists_for(kernel) && !ran(kernel, *f))
            .collect();
        assert!(missed.is_empty(), "{kernel} never ran {missed:?}");
    }
}

#[test]
fn gate_pieces_cover_each_gate_row_once_and_backwards_is_the_reverse_order() {
    for (gates, hidden, units, row_bytes) in [
        (4, 1024, 0..1024, 4096),
        (4, 1024, 512..1024, 1024),
        (3, 80, 48..80, 80),
        (4, 300, 0..300, 4),
        (4, 5, 1..4, 8),
        (4, 8, 0..8, 32),
    ] {
        // Every (weight row, output index) for_each_gate covers, one by one.
        let mut expected = Vec::new();
        for_each_gate(gates, hidden, &units, |rows, offset| {
            expected.extend(rows.enumerate().map(|(i, r)| (r, offset + i)));
        });
        let pieces = |backwards| {
            let mut seen = Vec::new();
            let mut calls = Vec::new();
            for_each_gate_piece(
                gates,
                hidden,
                &units,
                row_bytes,
                backwards,
                |rows, offset| {
                    assert!(rows.len() * row_bytes <= (128 << 10).max(128 * row_bytes));
                    calls.push((rows.clone(), offset));
                    seen.extend(rows.enumerate().map(|(i, r)| (r, offset + i)));
                },
            );
            (seen, calls)
        };
        let (mut forward, forward_calls) = pieces(false);
        let (mut backward, mut backward_calls) = pieces(true);
        assert_eq!(forward, expected, "{gates} x {hidden}, units {units:?}");
        if units.len() == hidden && gates * hidden * row_bytes <= 128 << 10 {
            // Small enough for one piece: one product over every gate's rows, as before.
            assert_eq!(forward_calls, [(0..gates * hidden, 0)]);
        }
        backward_calls.reverse();
        assert_eq!(
            backward_calls, forward_calls,
            "{gates} x {hidden}, units {units:?}"
        );
        forward.sort_unstable();
        backward.sort_unstable();
        assert_eq!(backward, forward);
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn simd_exp_sigmoid_and_tanh_equal_scalar_bit_for_bit_across_their_range() {
    // A dense sweep over −110..110 (exp's subnormal results below −87.3, its cut-offs at −104
    // and 100, tanh's clamp at 9.5) and the values around the edges.
    let mut xs: Vec<f32> = (-110_000..=110_000).map(|i| i as f32 * 1e-3).collect();
    for edge in [
        -104.0f32, -103.97, -87.34, -87.33, 0.0, 8.664_34, 9.0, 9.5, 88.72, 100.0, 1e-30,
    ] {
        let mut x = edge;
        for _ in 0..40 {
            xs.extend([x, -x]);
            x = f32::from_bits(x.to_bits() + 1);
        }
    }
    // tanh's f64 part over its whole range of 2^k: a spread of magnitudes from 1e-38 up.
    xs.extend(
        (0..2000)
            .map(|i| 1e-38f32 * 1.05f32.powi(i))
            .take_while(|x| x.is_finite()),
    );
    xs.extend([
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -0.0,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
    ]);
    xs.resize(xs.len().next_multiple_of(PANEL), 0.5);
    // Each instruction set's vectors, where the CPU has them.
    type Activations = fn(&[f32]) -> [Vec<f32>; 3];
    let simd: [(Kernel, Activations); 2] = [
        // SAFETY (both): called only when the CPU has the kernel (checked below).
        (Kernel::Avx2, |x| unsafe { avx2::activations(x) }),
        (Kernel::Avx512Vnni, |x| unsafe { avx512::activations(x) }),
    ];
    for (kernel, activations) in simd {
        if !Kernel::available().contains(&kernel) {
            eprintln!("{kernel} not available on this CPU: its activations were not tested");
            continue;
        }
        let got = activations(&xs);
        for (i, &v) in xs.iter().enumerate() {
            let expected = [scalar::exp(v), scalar::sigmoid(v), scalar::tanh(v)];
            for (f, name) in ["exp", "sigmoid", "tanh"].iter().enumerate() {
                assert_eq!(
                    got[f][i].to_bits(),
                    expected[f].to_bits(),
                    "{kernel} {name}({v:e}): {:e}, scalar {:e}",
                    got[f][i],
                    expected[f]
                );
            }
        }
    }
}
