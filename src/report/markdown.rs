//! The Markdown exporter: the machine, then per step one table with a row per variant, laid
//! out like the recipe's printout (size and "x smaller", latency and speed-up, mean |output|,
//! mean |difference| and percent difference).

use std::fmt::Write;

use super::{Report, Run};
use crate::format::{duration_us, recipe_bytes};
use crate::quant::heaviest_unshrunk;

/// `report` as Markdown.
pub fn to_markdown(report: &Report) -> String {
    let m = &report.machine;
    let mut out = format!(
        "# dynq report: {}\n\n{}\n\n",
        report.preset, report.description
    );
    let threads = report.runs.first().map_or(0, |r| r.config.threads);
    let _ = writeln!(out, "- CPU: {} ({} cores)", m.cpu, m.cores);
    let _ = writeln!(out, "- Kernel: {}", m.kernel);
    let _ = writeln!(out, "- Threads: {threads}");
    let _ = writeln!(out, "- OS: {}", m.os);
    if let Some(r) = &report.roofline {
        let levels: Vec<String> = r
            .levels
            .iter()
            .map(|l| format!("{} {:.0}", l.name, l.all_cores_gbs))
            .collect();
        let _ = writeln!(
            out,
            "- Limits (`dynq roofline`, all cores): read GB/s {}; int8 {:.0} and f32 {:.0} G \
             multiply-adds/s; core-to-core handoff {}",
            levels.join(", "),
            r.int8_gmacs[1],
            r.f32_gfmas[1],
            handoff_text(r.handoff_ns, report.handoff_after_ns)
        );
    }
    let _ = writeln!(out, "- dynq {}", report.dynq_version);
    out.push_str(&crossover_section(report));
    for (k, run) in report.runs.iter().enumerate() {
        let _ = write!(
            out,
            "\n## Step {} of {}: {}\n\n",
            k + 1,
            report.runs.len(),
            describe(run)
        );
        out.push_str(&table(run));
        if report.roofline.is_some() {
            out.push_str(&limits_section(run));
        }
        out.push_str(&size_section(run));
        out.push_str(&engine_gap(run));
        out.push_str(&task_section(run));
    }
    out
}

/// How far apart the handoffs measured before and after the runs may be before the report
/// warns that the cores moved.
const HANDOFF_MOVED: f64 = 1.5;

/// `46 ns before the runs, 48 after`, with a warning when the two are far apart.
fn handoff_text(before_ns: f64, after_ns: Option<f64>) -> String {
    let Some(after_ns) = after_ns else {
        return format!("{before_ns:.0} ns");
    };
    let moved = before_ns.max(after_ns) > HANDOFF_MOVED * before_ns.min(after_ns);
    let warning = if moved {
        " (the cores moved while the steps ran: the floors, read with the first, may not fit \
         every step)"
    } else {
        ""
    };
    format!("{before_ns:.0} ns before the runs, {after_ns:.0} after{warning}")
}

/// Where INT8 starts to win, one line per (shape, threads, batch, variant), with the
/// speed-ups it is read from.
fn crossover_section(report: &Report) -> String {
    if report.crossover.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n## Where INT8 starts to win\n");
    let mut shape = "";
    for c in &report.crossover {
        if c.shape != shape {
            shape = &c.shape;
            let _ = write!(out, "\n{shape}:\n\n");
        }
        let speedups: Vec<String> = c
            .points
            .iter()
            .map(|p| format!("{} {:.2}x", p.dim, p.speedup))
            .collect();
        let _ = writeln!(
            out,
            "- {} (speed-up by dim: {})",
            c.sentence(),
            speedups.join(", ")
        );
    }
    out
}

/// For a language model evaluated on text: the tutorial's comparison (size, latency, loss and
/// the other task figures per variant), then what each variant wrote after the prompt.
fn task_section(run: &Run) -> String {
    let Some(progress) = &run.task else {
        return String::new();
    };
    let evaluated = run.config.evaluation.as_ref();
    let mut out = format!(
        "\n### Task accuracy on {} ({} of {} tokens, {}-level, vocabulary {})\n\n",
        evaluated.map_or("the text", |e| e.data.as_str()),
        progress.tokens_done,
        progress.tokens_total,
        progress.token_level,
        progress.vocabulary,
    );
    out.push_str(
        "| Variant | Size | p50 | Loss | Δloss | Perplexity | Bits/token | Top-1 | \
         Agreement | Tokens/s |\n\
         |:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for v in &run.variants {
        let Some(t) = &v.task else {
            continue;
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.4} | {:+.4} | {:.3} | {:.4} | {:.2} % | {:.2} % | {:.0} |",
            v.name,
            recipe_bytes(v.size_bytes),
            duration_us(v.latency_us.p50),
            t.loss,
            t.delta_loss,
            t.perplexity,
            t.bits_per_token,
            t.top1_accuracy * 100.0,
            t.top1_agreement * 100.0,
            t.tokens_per_second,
        );
    }
    if let Some(prompt) = evaluated.and_then(|e| e.prompt.as_ref()) {
        let _ = write!(out, "\nGenerated after the prompt {prompt:?} (greedy):\n");
        for v in &run.variants {
            if let Some(text) = &v.generated {
                let _ = write!(out, "\n{}:\n\n```text\n{prompt}{text}\n```\n", v.name);
            }
        }
    }
    out
}

/// Each variant's median beside the floor the machine's limits put under it, and the
/// sequences per second it runs at.
fn limits_section(run: &Run) -> String {
    let mut out = String::from(
        "\n### Against this machine's limits\n\n\
         | Variant | p50 | Floor | % of limit | Bound by | Sequences/s |\n\
         |:--|--:|--:|--:|:--|--:|\n",
    );
    for v in &run.variants {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} % | {} | {:.0} |",
            v.name,
            duration_us(v.latency_us.p50),
            duration_us(v.floor_us),
            v.percent_of_limit,
            v.bound_by,
            v.sequences_per_second,
        );
    }
    if run.variants.iter().any(|v| v.percent_of_limit > 100.0) {
        out.push_str(
            "\nAbove 100%: a forward ran faster than the floor its limits give. Mostly the \
             machine was busier when they were measured than in these runs (`dynq roofline \
             --remeasure` measures them again); a forward that overlaps its input projection \
             with its steps can also pass a floor that adds the two.\n",
        );
    }
    out
}

/// The size by module: a row per module with its bytes in every variant, then per int8
/// variant the module that keeps it furthest from 4x smaller.
fn size_section(run: &Run) -> String {
    let Some(reference) = run.variants.first().filter(|r| !r.modules.is_empty()) else {
        return String::new();
    };
    let mut out = String::from("\n### Size by module\n\n| Module |");
    for v in &run.variants {
        let _ = write!(out, " {} |", v.name);
    }
    out.push_str("\n|:--|");
    out.push_str(&"--:|".repeat(run.variants.len()));
    out.push('\n');
    for (index, module) in reference.modules.iter().enumerate() {
        let _ = write!(out, "| {} |", module.name);
        for v in &run.variants {
            match v.modules.get(index) {
                Some(m) => {
                    let _ = write!(out, " {} {} |", recipe_bytes(m.bytes), m.dtype);
                }
                None => out.push_str(" - |"),
            }
        }
        out.push('\n');
    }
    out.push('\n');
    for v in run.variants.iter().filter(|v| v.name.is_int8()) {
        if let Some(module) = heaviest_unshrunk(&v.modules) {
            let _ = writeln!(
                out,
                "- {}: {:.2}x smaller than FP32; what keeps it furthest from 4x is the {} ({}, \
                 {} of FP32's {}, {:.2}x).",
                v.name,
                v.size_ratio,
                module.name,
                module.dtype,
                recipe_bytes(module.bytes),
                recipe_bytes(module.fp32_bytes),
                module.ratio(),
            );
        }
    }
    out
}

/// With both int8 engines: one line on how far ARM's answer is from x86's.
fn engine_gap(run: &Run) -> String {
    let Some(gap) = run.engine_gap else {
        return String::new();
    };
    format!(
        "\nx86 vs ARM: the same int8 model's output under qnnpack (`int8_qnnpack`) differs \
         from x86's (`int8`) by at most {:.3e} (mean {:.3e}).\n",
        gap.max_abs_diff, gap.mean_abs_diff
    )
}

/// The step's Config in a few words.
fn describe(run: &Run) -> String {
    let c = &run.config;
    let mut text = format!(
        "{}{}, input {}, hidden {}, seq {}, batch {}, {} layer{}",
        if c.bidirectional {
            "bidirectional "
        } else {
            ""
        },
        c.cell.name().to_uppercase(),
        c.input_size,
        c.hidden_size,
        c.seq_len,
        c.batch,
        c.num_layers,
        if c.num_layers == 1 { "" } else { "s" }
    );
    if c.head > 0 {
        let _ = write!(text, ", head {}", c.head);
    }
    match &c.weights {
        Some(path) => {
            let _ = write!(text, ", weights {path}");
        }
        None => {
            let _ = write!(text, ", seed {}", c.seed);
        }
    }
    text
}

fn table(run: &Run) -> String {
    let mut out = String::from(
        "| Variant | Size | Smaller | p50 | p90 | p99 | Speed-up | Mean abs(output) | \
         Mean abs(diff) | Diff | Samples |\n\
         |:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for v in &run.variants {
        let l = &v.latency_us;
        let _ = writeln!(
            out,
            "| {} | {} | {:.2}x | {} | {} | {} | {:.2}x | {:.5} | {:.5} | {:.2} % | {} |",
            v.name,
            recipe_bytes(v.size_bytes),
            v.size_ratio,
            duration_us(l.p50),
            duration_us(l.p90),
            duration_us(l.p99),
            v.speedup_p50,
            v.accuracy.output_mean_abs,
            v.accuracy.diff_mean_abs,
            v.accuracy.diff_pct,
            l.samples,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_line_gives_the_handoff_before_and_after_and_says_when_the_cores_moved() {
        let limits = |after: f64| {
            let mut machine = crate::bench::test_roofline();
            machine.handoff_ns = 46.0;
            let report = super::super::tests::sample()
                .with_roofline(machine)
                .with_handoff_after(after);
            let text = to_markdown(&report);
            let line = text.lines().find(|l| l.starts_with("- Limits")).unwrap();
            line.to_string()
        };
        let steady = limits(52.0);
        assert!(
            steady.ends_with("core-to-core handoff 46 ns before the runs, 52 after"),
            "{steady}"
        );
        let moved = limits(190.0);
        assert!(
            moved.contains("handoff 46 ns before the runs, 190 after (the cores moved"),
            "{moved}"
        );
        assert_eq!(handoff_text(46.0, None), "46 ns");
    }

    #[test]
    fn a_variant_above_its_floor_is_explained() {
        let mut run = super::super::tests::sample().runs.remove(0);
        run.variants[1].percent_of_limit = 99.0;
        assert!(!limits_section(&run).contains("Above 100%"));
        run.variants[1].percent_of_limit = 136.0;
        let text = limits_section(&run);
        assert!(
            text.contains("| 136 % |") && text.contains("Above 100%: a forward ran faster"),
            "{text}"
        );
    }

    #[test]
    fn the_sample_report() {
        insta::assert_snapshot!(to_markdown(&super::super::tests::sample()));
    }

    #[test]
    fn a_language_model_gets_the_tutorials_comparison_and_its_texts() {
        insta::assert_snapshot!(to_markdown(&super::super::tests::sample_with_task()));
    }
}
