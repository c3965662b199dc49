//! Human-friendly units, shared by the report and the dashboard: durations in ns/µs/ms/s,
//! sizes in B/KB/MB/GB, ratios as "x smaller".

/// A duration in nanoseconds with three significant digits: `950 ns`, `12.3 µs`, `1.23 ms`.
pub fn duration_ns(ns: u64) -> String {
    let ns = ns as f64;
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{} {unit}", three_digits(value))
}

/// A latency given in µs (whole nanoseconds, as the histograms record them), as
/// [`duration_ns`] shows it: `850 ns`, `12.3 µs`.
pub fn duration_us(us: f64) -> String {
    duration_ns((us * 1e3).round() as u64)
}

/// A byte count in decimal units: `512 B`, `4.26 KB`, `16.9 MB`.
pub fn bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1e3 {
        return format!("{bytes} B");
    }
    let (value, unit) = if b < 1e6 {
        (b / 1e3, "KB")
    } else if b < 1e9 {
        (b / 1e6, "MB")
    } else {
        (b / 1e9, "GB")
    };
    format!("{} {unit}", three_digits(value))
}

/// A byte count as the recipe prints sizes: KB with three decimals, from a million bytes MB
/// with two (`2.304 KB`, `33.62 MB`).
pub fn recipe_bytes(n: u64) -> String {
    match n {
        n if n >= 1_000_000 => format!("{:.2} MB", n as f64 / 1e6),
        n => format!("{:.3} KB", n as f64 / 1e3),
    }
}

/// How a size compares with FP32's: `3.71x smaller` (or `1.02x larger`).
pub fn size_ratio(ratio: f64) -> String {
    if ratio >= 1.0 {
        format!("{ratio:.2}x smaller")
    } else {
        format!("{:.2}x larger", 1.0 / ratio)
    }
}

/// How a latency compares with FP32's: `2.4x faster` (or `1.3x slower`).
pub fn speedup(ratio: f64) -> String {
    if ratio >= 1.0 {
        format!("{ratio:.1}x faster")
    } else {
        format!("{:.1}x slower", 1.0 / ratio)
    }
}

/// A small non-negative number with four significant digits, switching to scientific
/// notation below 0.001 so accuracy figures keep their precision: `0.1234`, `1.2e-5`.
pub fn small(value: f64) -> String {
    if value == 0.0 {
        "0".into()
    } else if value.abs() < 1e-3 {
        format!("{value:.1e}")
    } else if value.abs() < 10.0 {
        format!("{value:.4}")
    } else {
        format!("{value:.2}")
    }
}

/// `value` with three significant digits (`1.23`, `12.3`, `123`).
fn three_digits(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2}")
    } else if value < 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

/// `n` with thousands separators (`111,539`).
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_their_unit() {
        assert_eq!(duration_ns(950), "950 ns");
        assert_eq!(duration_ns(12_345), "12.3 µs");
        assert_eq!(duration_ns(1_234_567), "1.23 ms");
        assert_eq!(duration_ns(2_500_000_000), "2.50 s");
    }

    #[test]
    fn microseconds_show_as_durations() {
        assert_eq!(duration_us(0.85), "850 ns");
        assert_eq!(duration_us(12.34), "12.3 µs");
        assert_eq!(duration_us(1_234.0), "1.23 ms");
        assert_eq!(duration_us(2_500_000.0), "2.50 s");
    }

    #[test]
    fn recipe_sizes_are_kilo_or_megabytes() {
        assert_eq!(recipe_bytes(2_304), "2.304 KB");
        assert_eq!(recipe_bytes(33_620_000), "33.62 MB");
    }

    #[test]
    fn bytes_use_decimal_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(4_264), "4.26 KB");
        assert_eq!(bytes(16_900_000), "16.9 MB");
        assert_eq!(bytes(1_200_000_000), "1.20 GB");
    }

    #[test]
    fn ratios_read_as_sentences() {
        assert_eq!(size_ratio(3.7142), "3.71x smaller");
        assert_eq!(size_ratio(0.5), "2.00x larger");
        assert_eq!(speedup(2.43), "2.4x faster");
        assert_eq!(speedup(0.8), "1.2x slower");
    }

    #[test]
    fn small_numbers_keep_precision() {
        assert_eq!(small(0.0), "0");
        assert_eq!(small(0.123_456), "0.1235");
        assert_eq!(small(0.000_012_3), "1.2e-5");
        assert_eq!(small(12.345), "12.35");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(111_539), "111,539");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
