//! Test-only record of which kernel family ran which kernel function, so a test can fail when
//! a SIMD kernel the CPU supports was never exercised. Compiled only into the unit tests: the
//! kernels of a real build carry no counters.

use std::sync::atomic::{AtomicBool, Ordering};

use super::Kernel;

/// The kernel functions whose every family must be exercised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    GemmU8I8,
    /// The int8 product dequantized as it is stored.
    GemmU8I8Dequantized,
    GemmF32,
    /// The finiteness check of inputs and states.
    AllFinite,
    MinMax,
    QuantizeU8,
    LstmCell,
    GruCell,
    /// The int8 GRU step.
    GruStep,
    /// The int8 LSTM step (fused on AVX-512).
    LstmStep,
    /// The whole int8 layer with its state in registers (AVX-512 only, small layers).
    RegisterLayer,
    /// An int8 product in AMX tiles (AMX only).
    TileProducts,
}

impl Function {
    /// Every function, in the order the report lists them.
    pub(crate) const ALL: [Function; 12] = [
        Function::GemmU8I8,
        Function::GemmU8I8Dequantized,
        Function::GemmF32,
        Function::AllFinite,
        Function::MinMax,
        Function::QuantizeU8,
        Function::LstmCell,
        Function::GruCell,
        Function::GruStep,
        Function::LstmStep,
        Function::RegisterLayer,
        Function::TileProducts,
    ];

    /// Whether `kernel` has its own code for this function.
    pub(crate) fn exists_for(self, kernel: Kernel) -> bool {
        match self {
            Function::RegisterLayer => kernel.vectors() == Kernel::Avx512Vnni,
            Function::TileProducts => kernel.has_tiles(),
            _ => true,
        }
    }
}

/// Every kernel family, supported here or not.
pub(crate) const FAMILIES: [Kernel; 4] = [
    Kernel::Scalar,
    Kernel::Avx2,
    Kernel::Avx512Vnni,
    Kernel::Avx512Amx,
];

static RAN: [[AtomicBool; Function::ALL.len()]; FAMILIES.len()] =
    [const { [const { AtomicBool::new(false) }; Function::ALL.len()] }; FAMILIES.len()];

fn family_index(kernel: Kernel) -> usize {
    FAMILIES
        .iter()
        .position(|&k| k == kernel)
        .expect("every kernel is a family")
}

fn function_index(function: Function) -> usize {
    Function::ALL
        .iter()
        .position(|&f| f == function)
        .expect("every function is listed")
}

/// Notes that `kernel`'s code for `function` ran.
pub(crate) fn record(kernel: Kernel, function: Function) {
    RAN[family_index(kernel)][function_index(function)].store(true, Ordering::Relaxed);
}

/// Whether `kernel`'s code for `function` has run in this process.
pub(crate) fn ran(kernel: Kernel, function: Function) -> bool {
    RAN[family_index(kernel)][function_index(function)].load(Ordering::Relaxed)
}
