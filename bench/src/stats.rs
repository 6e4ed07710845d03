//! Median and p99 of samples, and the row format `cargo xtask bench` reads.

use std::time::Duration;

/// Nearest-rank percentile of sorted samples (`q` in 0..=1).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Print one figure: its median and p99 over `samples`.
pub(crate) fn row(id: &str, unit: &str, label: &str, samples: &[f64]) {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    println!(
        "row\t{id}\t{unit}\t{:.4}\t{:.4}\t{}\t{label}",
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.99),
        sorted.len()
    );
}

/// Durations as milliseconds.
pub(crate) fn ms(samples: &[Duration]) -> Vec<f64> {
    samples.iter().map(|d| d.as_secs_f64() * 1e3).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[3.0], 0.99), 3.0);
    }
}
