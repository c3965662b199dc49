//! The dashboard driven by a fake worker that publishes synthetic snapshots, for trying the
//! TUI without running models: `cargo run --example tui_demo` (replays a dimension sweep).
//! `s` writes the snapshots as JSON to the temp directory.

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use dynq::Scheme;
use dynq::bench::{Config, LatencyStats, Snapshot, SystemStats, VariantSnapshot};
use dynq::tui::{Command, Engine, Options, Preset, PresetStep};

/// Log-spaced histogram bucket bounds: 100 ns · 1.15^k.
fn bucket_bounds() -> Vec<u64> {
    (0..130).map(|k| (100.0 * 1.15f64.powi(k)) as u64).collect()
}

/// A tiny xorshift, so the demo needs no extra dependency.
struct Noise(u64);

impl Noise {
    /// Uniform in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The synthetic measurements of one variant.
struct Variant {
    scheme: Scheme,
    samples: Vec<u64>,
}

/// The fake worker's state: what a real worker measures, invented.
struct Fake {
    config: Config,
    generation: u64,
    running: bool,
    elapsed: Duration,
    variants: Vec<Variant>,
    noise: Noise,
}

impl Fake {
    fn new(config: Config) -> Fake {
        let mut fake = Fake {
            config,
            generation: 0,
            running: true,
            elapsed: Duration::ZERO,
            variants: Vec::new(),
            noise: Noise(0x9E37_79B9_7F4A_7C15),
        };
        fake.reset();
        fake
    }

    fn reset(&mut self) {
        self.elapsed = Duration::ZERO;
        self.variants = self
            .config
            .schemes
            .iter()
            .map(|&scheme| Variant {
                scheme,
                samples: Vec::new(),
            })
            .collect();
    }

    fn params(&self) -> u64 {
        let (i, h) = (
            self.config.input_size as u64,
            self.config.hidden_size as u64,
        );
        let first = 4 * h * (i + h) + 8 * h;
        first + (self.config.num_layers as u64 - 1) * (4 * h * 2 * h + 8 * h)
    }

    fn size(&self, scheme: Scheme) -> u64 {
        let p = self.params();
        let biases = 8 * self.config.hidden_size as u64 * self.config.num_layers as u64;
        match scheme {
            Scheme::Fp32 => 4 * p + 600,
            Scheme::Int8 => (p - biases) + 4 * biases + 900,
            Scheme::Int8PerChannel => (p - biases) + 12 * biases + 1100,
            Scheme::Fp16 => 2 * (p - biases) + 4 * biases + 700,
        }
    }

    /// One forward's synthetic latency.
    fn latency(&mut self, scheme: Scheme) -> u64 {
        let c = &self.config;
        let work = self.params() as f64 * (c.seq_len * c.batch) as f64;
        let speed = match scheme {
            Scheme::Fp32 => 1.0,
            Scheme::Int8 => 2.6,
            Scheme::Int8PerChannel => 2.4,
            Scheme::Fp16 => 0.9,
        };
        let base = 800.0 + work * 0.25 / speed / (c.threads as f64).sqrt();
        let jitter = 1.0 + 0.15 * self.noise.next() + 0.6 * self.noise.next().powi(12);
        (base * jitter) as u64
    }

    /// Runs 100 ms of pretend forwards.
    fn advance(&mut self) {
        if !self.running {
            return;
        }
        self.elapsed += Duration::from_millis(100);
        for v in 0..self.variants.len() {
            let scheme = self.variants[v].scheme;
            let typical = self.latency(scheme).max(1);
            let forwards = (30_000_000 / typical).clamp(1, 200);
            for _ in 0..forwards {
                let ns = self.latency(scheme);
                self.variants[v].samples.push(ns);
            }
        }
    }

    fn snapshot(&self) -> Snapshot {
        let bounds = bucket_bounds();
        let dim = self.config.hidden_size as f64;
        let variants = self
            .variants
            .iter()
            .map(|v| {
                let mut sorted = v.samples.clone();
                sorted.sort_unstable();
                let at = |q: f64| {
                    sorted
                        .get(((sorted.len() as f64 - 1.0) * q) as usize)
                        .copied()
                        .unwrap_or(0)
                };
                let mut histogram: Vec<(u64, u64)> = bounds.iter().map(|&b| (b, 0)).collect();
                for &ns in &sorted {
                    let i = bounds.partition_point(|&b| b < ns).min(bounds.len() - 1);
                    histogram[i].1 += 1;
                }
                let diff_pct = match v.scheme {
                    Scheme::Fp32 => 0.0,
                    Scheme::Int8 => 0.9 + 2.0 / dim.sqrt(),
                    Scheme::Int8PerChannel => 0.5 + 1.0 / dim.sqrt(),
                    Scheme::Fp16 => 0.01,
                };
                let out = 0.12 + 0.3 / dim.sqrt();
                VariantSnapshot {
                    scheme: v.scheme,
                    size_bytes: self.size(v.scheme),
                    latency: LatencyStats {
                        min_ns: at(0.0),
                        p50_ns: at(0.5),
                        p90_ns: at(0.9),
                        p99_ns: at(0.99),
                        max_ns: at(1.0),
                        mean_ns: sorted.iter().sum::<u64>() as f64 / sorted.len().max(1) as f64,
                        count: sorted.len() as u64,
                    },
                    histogram,
                    recent_ns: v.samples[v.samples.len().saturating_sub(120)..].to_vec(),
                    output_mean_abs: out * (1.0 + diff_pct / 500.0),
                    diff_mean_abs: out * diff_pct / 100.0,
                    diff_pct,
                    diff_max_abs: out * diff_pct / 12.0,
                }
            })
            .collect();
        Snapshot {
            config: self.config.clone(),
            generation: self.generation,
            running: self.running,
            elapsed: self.elapsed,
            variants,
            system: SystemStats {
                cpu: "Demo CPU (synthetic figures)".into(),
                cores: 8,
                kernel: "demo".into(),
                process_cpu_percent: if self.running { 780.0 } else { 2.0 },
                process_memory_bytes: 40_000_000 + self.size(Scheme::Fp32) * 3,
                machine_cpu_percent: if self.running { 97.0 } else { 4.0 },
            },
        }
    }
}

/// The fake worker's loop: apply commands, pretend to run, publish ~10 snapshots a second.
fn fake_worker(config: Config, commands: Receiver<Command>, snapshots: Sender<Snapshot>) {
    let mut fake = Fake::new(config);
    loop {
        let tick = Instant::now();
        for command in commands.try_iter() {
            match command {
                Command::SetConfig(config) => {
                    fake.config = config;
                    fake.generation += 1;
                    fake.reset();
                }
                Command::Pause => fake.running = false,
                Command::Resume => fake.running = true,
                Command::Reset => fake.reset(),
                Command::Quit => return,
            }
        }
        fake.advance();
        if snapshots.send(fake.snapshot()).is_err() {
            return;
        }
        thread::sleep(Duration::from_millis(100).saturating_sub(tick.elapsed()));
    }
}

/// Hands commands to the fake worker and writes reports as JSON.
struct Demo(Sender<Command>);

impl Engine for Demo {
    fn send(&mut self, command: Command) {
        let _ = self.0.send(command);
    }

    fn write_report(&mut self, snapshots: &[Snapshot]) -> Result<String, String> {
        let path = std::env::temp_dir().join("dynq-demo-report.json");
        let json = serde_json::to_string_pretty(snapshots).map_err(|e| e.to_string())?;
        std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path.display().to_string())
    }
}

fn main() -> std::io::Result<()> {
    let base = Config {
        schemes: vec![Scheme::Fp32, Scheme::Int8, Scheme::Int8PerChannel],
        ..Config::default()
    };
    let steps: Vec<PresetStep> = [8, 32, 128, 512, 1024, 4096]
        .into_iter()
        .map(|dim| PresetStep {
            config: Config {
                input_size: dim,
                hidden_size: dim,
                ..base.clone()
            },
            duration: Duration::from_secs(3),
        })
        .collect();
    let config = steps[0].config.clone();
    let (commands, worker_commands) = mpsc::channel();
    let (worker_snapshots, snapshots) = mpsc::channel();
    let worker_config = config.clone();
    let worker =
        thread::spawn(move || fake_worker(worker_config, worker_commands, worker_snapshots));
    let options = Options {
        preset: Some(Preset {
            name: "demo-sweep".into(),
            steps,
        }),
        ..Options::new(config)
    };
    dynq::tui::run(options, &mut Demo(commands), snapshots)?;
    let _ = worker.join();
    Ok(())
}
