//! Properties that must hold for every input the formats and limits accept, searched by
//! proptest: presets survive being written and read back, the forward never panics on a
//! shape within the limits, and a report's JSON always parses with ordered percentiles.

use std::path::PathBuf;
use std::time::Duration;

use dynq::bench::{Accuracy, Config, LatencyRecorder, Machine, Snapshot, VariantSnapshot};
use dynq::model::{Cell, random_inputs, random_model};
use dynq::report::{Report, to_json};
use dynq::scenario::{Overrides, Preset};
use dynq::{KernelChoice, ModelDims, RunOptions, Scheme, Workspace, quantize_dynamic};
use proptest::prelude::*;
use proptest::sample::subsequence;

fn schemes() -> impl Strategy<Value = Vec<Scheme>> {
    subsequence(Scheme::RECURRENT.to_vec(), 1..=Scheme::RECURRENT.len())
}

/// A `defaults` table or a step: any subset of the fields, each within its limits.
fn overrides() -> impl Strategy<Value = Overrides> {
    let shape = (
        prop::option::of(1usize..=4096),
        prop::option::of(1usize..=512),
        prop::option::of(1usize..=512),
        prop::option::of(1usize..=200),
        prop::option::of(1usize..=64),
        prop::option::of(1usize..=4),
        prop::option::of(0usize..=64),
    );
    let run = (
        prop::option::of(1usize..=2),
        prop::option::of(prop::sample::select(vec![
            KernelChoice::Auto,
            KernelChoice::Scalar,
        ])),
        prop::option::of(any::<u64>()),
        prop::option::of(schemes()),
        prop::option::of(0.001f64..86_400.0),
        prop::option::of(1u64..1_000_000),
        prop::option::of("[a-z]{1,8}(/[a-z]{1,8})?\\.safetensors"),
    );
    (shape, run).prop_map(
        |(
            (dim, input_size, hidden_size, seq_len, batch, num_layers, head),
            (threads, kernel, seed, schemes, seconds, min_samples, weights),
        )| Overrides {
            dim,
            input_size,
            hidden_size,
            seq_len,
            batch,
            num_layers,
            head,
            threads,
            kernel,
            seed,
            schemes,
            weights: weights.map(PathBuf::from),
            seconds,
            min_samples,
            ..Overrides::default()
        },
    )
}

/// The text of a preset file with these defaults and steps.
fn preset_text(defaults: &Overrides, steps: &[Overrides]) -> String {
    #[derive(serde::Serialize)]
    struct File<'a> {
        name: &'a str,
        description: &'a str,
        defaults: &'a Overrides,
        steps: &'a [Overrides],
    }
    let file = File {
        name: "generated",
        description: "A preset proptest wrote",
        defaults,
        steps,
    };
    toml::to_string(&file).expect("overrides serialize")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_preset_the_format_accepts_survives_save_and_load(
        defaults in overrides(),
        steps in prop::collection::vec(overrides(), 1..5),
    ) {
        let text = preset_text(&defaults, &steps);
        // Values within each field's limits can still combine into a model past the size
        // limit: the format refuses those, and they are not presets.
        let Ok(preset) = Preset::parse(&text, "generated.toml", &Overrides::default()) else {
            return Ok(());
        };
        let saved = preset.to_toml().expect("ASCII paths");
        let loaded = Preset::parse(&saved, "saved.toml", &Overrides::default())
            .unwrap_or_else(|e| panic!("{e}\n{saved}"));
        prop_assert_eq!(loaded, preset);
    }
}

#[test]
fn every_shipped_preset_survives_save_and_load() {
    for preset in Preset::shipped() {
        let saved = preset.to_toml().unwrap();
        let loaded = Preset::parse(&saved, "saved.toml", &Overrides::default()).unwrap();
        assert_eq!(loaded, preset, "{}", preset.name);
    }
}

/// The kernel choices this CPU can run.
fn available_kernels() -> Vec<KernelChoice> {
    KernelChoice::ALL
        .into_iter()
        .filter(|choice| choice.resolve().is_ok())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_forward_within_the_limits_never_panics(
        input_size in 1usize..=24,
        hidden_size in 1usize..=24,
        num_layers in 1usize..=3,
        head in 0usize..=5,
        seq_len in 1usize..=6,
        batch in 1usize..=5,
        threads in 1usize..=2,
        seed in any::<u64>(),
        scheme in prop::sample::select(Scheme::ALL.to_vec()),
        kernel in prop::sample::select(available_kernels()),
        cell in prop::sample::select(Cell::ALL.to_vec()),
        bidirectional in any::<bool>(),
    ) {
        let dims = ModelDims { input_size, hidden_size, num_layers, head, cell, bidirectional };
        let model = quantize_dynamic(&random_model(dims, seed).unwrap(), scheme);
        let options = RunOptions { threads, kernel };
        let model = model.with_run_options(options).unwrap();
        let (input, state) = random_inputs(dims, seq_len, batch, seed);
        let out = model.forward(input.view(), Some(&state)).unwrap();
        let width = if head > 0 { head } else { dims.output_size() };
        prop_assert_eq!(out.output().dim(), (seq_len, batch, width));
        prop_assert_eq!(out.h_n.dim(), (dims.state_rows(), batch, hidden_size));
        prop_assert!(out.output().iter().all(|v| v.is_finite()));
        // The same model through a reused workspace gives the same bits.
        let mut workspace = Workspace::default();
        let mut again = Default::default();
        model.forward_into(input.view(), Some(&state), &mut workspace, &mut again).unwrap();
        prop_assert_eq!(again, out);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_reports_json_parses_and_its_percentiles_are_ordered(
        latencies in prop::collection::vec(
            prop::collection::vec(1u64..=3_600_000_000_000, 0..200), 1..=4),
        diffs in prop::collection::vec(prop::num::f64::ANY, 4),
        schemes in schemes(),
    ) {
        let variants: Vec<VariantSnapshot> = schemes
            .iter()
            .zip(&latencies)
            .enumerate()
            .map(|(k, (&scheme, samples))| {
                let mut recorder = LatencyRecorder::default();
                samples.iter().for_each(|&ns| recorder.record(ns));
                VariantSnapshot {
                    scheme,
                    size_bytes: 1000 * (k as u64 + 1),
                    latency: recorder.stats(),
                    histogram: recorder.buckets(),
                    recent_ns: recorder.recent(),
                    accuracy: Accuracy {
                        output_mean_abs: diffs[0],
                        diff_mean_abs: diffs[1],
                        diff_pct: diffs[2],
                        diff_max_abs: diffs[3],
                    },
                    ..VariantSnapshot::default()
                }
            })
            .collect();
        let snapshot = Snapshot {
            config: Config { schemes: schemes.clone(), ..Config::default() },
            elapsed: Duration::from_millis(250),
            variants,
            ..Snapshot::default()
        };
        let machine = Machine {
            cpu: "Test CPU".into(),
            cores: 2,
            kernel: "scalar".into(),
            os: "TestOS".into(),
        };
        let report = Report::new("generated", "A report proptest made", machine, &[snapshot]);
        let json: serde_json::Value = serde_json::from_str(&to_json(&report))
            .expect("the report's JSON parses");
        for variant in json["runs"][0]["variants"].as_array().unwrap() {
            let l = &variant["latency_us"];
            let [min, p50, p90, p99, max] =
                ["min", "p50", "p90", "p99", "max"].map(|k| l[k].as_f64().unwrap());
            prop_assert!(min <= p50 && p50 <= p90 && p90 <= p99 && p99 <= max, "{l}");
            prop_assert!(l["samples"].as_u64().is_some());
        }
    }
}
