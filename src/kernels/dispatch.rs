//! Which kernel family runs: chosen once, by CPU feature detection or by the user.

use std::fmt;
use std::str::FromStr;

use crate::error::DynqError;

/// The kernel family a user asks for (`--kernel auto|scalar|avx2|avx512-vnni|avx512-amx`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum KernelChoice {
    /// The fastest kernel this CPU supports.
    #[default]
    Auto,
    /// The portable reference kernels.
    Scalar,
    /// AVX2 + FMA (`vpmaddubsw` + `vpmaddwd` for int8).
    Avx2,
    /// AVX-512 with VNNI (`vpdpbusd` for int8).
    Avx512Vnni,
    /// AVX-512 VNNI, with AMX tiles (`tdpbusd`) for the int8 products of 16 rows or more.
    Avx512Amx,
}

impl KernelChoice {
    /// Every choice, in the order `--help` lists them.
    pub const ALL: [KernelChoice; 5] = [
        KernelChoice::Auto,
        KernelChoice::Scalar,
        KernelChoice::Avx2,
        KernelChoice::Avx512Vnni,
        KernelChoice::Avx512Amx,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            KernelChoice::Auto => "auto",
            KernelChoice::Scalar => "scalar",
            KernelChoice::Avx2 => "avx2",
            KernelChoice::Avx512Vnni => "avx512-vnni",
            KernelChoice::Avx512Amx => "avx512-amx",
        }
    }

    /// The concrete kernel for this choice on this CPU, or an error naming what the CPU lacks.
    pub fn resolve(self) -> Result<Kernel, DynqError> {
        let wanted = match self {
            KernelChoice::Auto => return Ok(Kernel::detect()),
            KernelChoice::Scalar => Kernel::Scalar,
            KernelChoice::Avx2 => Kernel::Avx2,
            KernelChoice::Avx512Vnni => Kernel::Avx512Vnni,
            KernelChoice::Avx512Amx => Kernel::Avx512Amx,
        };
        if wanted.is_supported() {
            Ok(wanted)
        } else {
            Err(DynqError::Unsupported(format!(
                "kernel '{}' is not supported by this CPU (it lacks {}); available: {}",
                self.name(),
                wanted.required_features(),
                Kernel::available()
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

impl From<Kernel> for KernelChoice {
    /// The choice that resolves to `kernel` (on this CPU, which has it).
    fn from(kernel: Kernel) -> Self {
        match kernel {
            Kernel::Scalar => KernelChoice::Scalar,
            Kernel::Avx2 => KernelChoice::Avx2,
            Kernel::Avx512Vnni => KernelChoice::Avx512Vnni,
            Kernel::Avx512Amx => KernelChoice::Avx512Amx,
        }
    }
}

impl fmt::Display for KernelChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KernelChoice {
    type Err = DynqError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normalized = s.trim().to_ascii_lowercase().replace('_', "-");
        KernelChoice::ALL
            .into_iter()
            .find(|k| k.name() == normalized)
            .ok_or_else(|| {
                DynqError::Unsupported(format!(
                    "unknown kernel '{s}': expected one of auto, scalar, avx2, avx512-vnni, avx512-amx"
                ))
            })
    }
}

/// A kernel family that this CPU supports (only [`KernelChoice::resolve`] and
/// [`Kernel::detect`] make one, so holding a `Kernel` proves the CPU can run it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Portable reference kernels.
    Scalar,
    /// AVX2 + FMA.
    Avx2,
    /// AVX-512 F/BW/VL + VNNI.
    Avx512Vnni,
    /// [`Kernel::Avx512Vnni`] with AMX-INT8 tiles for the int8 products of 16 rows or more.
    Avx512Amx,
}

impl Kernel {
    /// The fastest kernel this CPU supports (detected once).
    pub fn detect() -> Kernel {
        static BEST: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| {
            *Kernel::available()
                .last()
                .expect("scalar is always available")
        })
    }

    /// Every kernel this CPU supports, slowest first.
    pub fn available() -> Vec<Kernel> {
        [
            Kernel::Scalar,
            Kernel::Avx2,
            Kernel::Avx512Vnni,
            Kernel::Avx512Amx,
        ]
        .into_iter()
        .filter(|k| k.is_supported())
        .collect()
    }

    /// The name used in reports (same as [`KernelChoice`]'s).
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512Vnni => "avx512-vnni",
            Kernel::Avx512Amx => "avx512-amx",
        }
    }

    /// The family whose vector code this kernel runs: everything but AMX's tile products is
    /// [`Kernel::Avx512Vnni`]'s.
    pub(crate) fn vectors(self) -> Kernel {
        match self {
            Kernel::Avx512Amx => Kernel::Avx512Vnni,
            other => other,
        }
    }

    /// Whether this kernel runs products in matrix tiles (AMX), beside its vector code.
    pub(crate) fn has_tiles(self) -> bool {
        self != self.vectors()
    }

    pub(super) fn required_features(self) -> &'static str {
        match self {
            Kernel::Scalar => "nothing",
            Kernel::Avx2 => "avx2 and fma",
            Kernel::Avx512Vnni => "avx512f, avx512bw and avx512vnni (plus avx2 and fma)",
            Kernel::Avx512Amx => {
                "amx-tile and amx-int8 usable by this process (plus avx512-vnni's)"
            }
        }
    }

    fn is_supported(self) -> bool {
        match self {
            Kernel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => {
                Kernel::Avx2.is_supported()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Amx => Kernel::Avx512Vnni.is_supported() && super::amx::usable(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a model runs, as the user asks for it: `kernel` (default [`KernelChoice::Auto`]) and
/// `threads` (0, the default, means one per core; small models use fewer on their own).
///
/// ```
/// use dynq::model::random_model;
/// use dynq::{KernelChoice, ModelDims, RunOptions, Scheme, quantize_dynamic};
///
/// let fp32 = random_model(ModelDims::square(8), 1).unwrap();
/// let options = RunOptions { kernel: "scalar".parse::<KernelChoice>().unwrap(), threads: 1 };
/// let int8 = quantize_dynamic(&fp32, Scheme::Int8).with_run_options(options).unwrap();
/// assert_eq!(int8.kernel_name(), "scalar");
/// // A kernel the CPU lacks is refused with an error naming the missing features.
/// let _ = RunOptions { kernel: KernelChoice::Avx512Vnni, threads: 0 }.resolve();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RunOptions {
    /// Which kernel family to use.
    pub kernel: KernelChoice,
    /// Most threads a forward pass may use; 0 for [`default_threads`].
    pub threads: usize,
}

impl RunOptions {
    /// Checks the options against this CPU: the kernel must be supported.
    pub fn resolve(self) -> Result<Execution, DynqError> {
        Ok(Execution {
            kernel: self.kernel.resolve()?,
            threads: if self.threads == 0 {
                default_threads()
            } else {
                self.threads
            },
        })
    }
}

/// Resolved [`RunOptions`]: the kernel in use and the most threads a forward pass may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Execution {
    /// The kernel family in use.
    pub kernel: Kernel,
    /// Most threads per forward pass (at least 1).
    pub threads: usize,
}

impl Default for Execution {
    /// The fastest kernel and one thread per core.
    fn default() -> Self {
        Execution {
            kernel: Kernel::detect(),
            threads: default_threads(),
        }
    }
}

/// The machine's number of cores (1 if unknown), measured once.
pub fn default_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for choice in KernelChoice::ALL {
            assert_eq!(choice.name().parse::<KernelChoice>().unwrap(), choice);
            assert_eq!(choice.to_string(), choice.name());
        }
        assert_eq!(
            "AVX512_VNNI".parse::<KernelChoice>().unwrap(),
            KernelChoice::Avx512Vnni
        );
        let err = "neon".parse::<KernelChoice>().unwrap_err().to_string();
        assert!(err.contains("neon") && err.contains("avx512-vnni"), "{err}");
    }

    #[test]
    fn auto_and_scalar_always_resolve() {
        assert_eq!(KernelChoice::Scalar.resolve().unwrap(), Kernel::Scalar);
        assert_eq!(KernelChoice::Auto.resolve().unwrap(), Kernel::detect());
        for k in Kernel::available() {
            let choice = KernelChoice::from(k);
            assert_eq!(choice.name(), k.name());
            assert_eq!(choice.resolve().unwrap(), k);
        }
    }
}
