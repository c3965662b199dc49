//! Rendering snapshots (TestBackend + insta) from fixed data, and key handling.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;

use super::panels;
use super::{Action, App, Command, Options};
use crate::bench::{Config, Snapshot, SystemStats, VariantSnapshot};
use crate::metrics::{Accuracy, LatencyStats};
use crate::model::Cell;
use crate::quant::{Scheme, file_modules};
use crate::scenario::{Preset, RunLength, Step};

fn config(dim: usize) -> Config {
    Config {
        input_size: dim,
        hidden_size: dim,
        threads: 4,
        schemes: vec![Scheme::Fp32, Scheme::Int8, Scheme::Int8PerChannel],
        ..Config::default()
    }
}

/// A variant whose forwards take about `median_ns`, with a fixed spread.
fn variant(scheme: Scheme, size_bytes: u64, median_ns: u64, diff_pct: f64) -> VariantSnapshot {
    let histogram = (0..12)
        .map(|i| {
            let bound = (median_ns as f64 / 2.0 * 1.25f64.powi(i)) as u64;
            let count = [1, 3, 8, 20, 40, 60, 40, 20, 8, 3, 1, 1][i as usize];
            (bound, count)
        })
        .collect();
    let recent_ns = (0..60)
        .map(|i| median_ns + median_ns * ((i * 7) % 11) / 20)
        .collect();
    VariantSnapshot {
        scheme,
        size_bytes,
        modules: Vec::new(),
        latency: LatencyStats {
            min_ns: median_ns / 2,
            p50_ns: median_ns,
            p90_ns: median_ns * 13 / 10,
            p99_ns: median_ns * 17 / 10,
            max_ns: median_ns * 3,
            mean_ns: median_ns as f64 * 1.1,
            count: 205,
        },
        histogram,
        recent_ns,
        accuracy: Accuracy {
            output_mean_abs: 0.1294,
            diff_mean_abs: 0.1294 * diff_pct / 100.0,
            diff_pct,
            diff_max_abs: 0.1294 * diff_pct / 10.0,
        },
        task: None,
        generated: None,
    }
}

/// What the worker would publish for dimension `dim` after a while.
fn snapshot(dim: usize, generation: u64) -> Snapshot {
    let params = (4 * dim * (2 * dim) + 8 * dim) as u64;
    let fp32 = 4 * params + 400;
    let int8 = params + 4 * (8 * dim as u64) + 500;
    let per_channel = int8 + 4 * 8 * dim as u64;
    let median = 2_000 + (dim * dim) as u64 / 4;
    Snapshot {
        config: config(dim),
        generation,
        running: true,
        building: false,
        error: None,
        elapsed: Duration::from_millis(1500),
        variants: [
            variant(Scheme::Fp32, fp32, median, 0.0),
            variant(Scheme::Int8, int8, median * 10 / 24, 0.87),
            variant(Scheme::Int8PerChannel, per_channel, median * 10 / 22, 0.41),
        ]
        .map(|v| VariantSnapshot {
            modules: file_modules(&config(dim).dims(), v.scheme, None, v.size_bytes, fp32),
            ..v
        })
        .to_vec(),
        system: SystemStats {
            cpu: "AMD EPYC 7B13".into(),
            cores: 8,
            kernel: "avx2".into(),
            process_cpu_percent: 97.5,
            process_memory_bytes: 48_300_000,
            machine_cpu_percent: 23.0,
        },
        task: None,
        engine_gap: None,
        embedding_rows: None,
    }
}

fn preset() -> Preset {
    Preset {
        name: "dim-sweep".into(),
        description: "dimensions 64 to 1024".into(),
        steps: [64, 256, 1024]
            .map(|dim| Step {
                config: config(dim),
                length: RunLength {
                    seconds: Some(3.0),
                    min_samples: None,
                },
            })
            .to_vec(),
    }
}

/// A made-up machine fast enough for [`snapshot`]'s made-up medians to be 10% to 90% of its
/// limit.
fn fast_machine() -> crate::bench::Roofline {
    let mut machine = crate::bench::test_roofline();
    for level in &mut machine.levels {
        level.one_core_gbs *= 20.0;
        level.all_cores_gbs *= 20.0;
    }
    machine.int8_gmacs = machine.int8_gmacs.map(|r| r * 20.0);
    machine.f32_gfmas = machine.f32_gfmas.map(|r| r * 20.0);
    machine.handoff_ns = 5.0;
    machine
}

/// An app on step 2 of the dim-sweep that has measured dimensions 16, 64 and 256.
fn measured_app() -> App {
    let mut app = App::new(Options {
        config: config(64),
        preset: Some(preset()),
        max_threads: 8,
        roofline: Some(fast_machine()),
        crossover: None,
        stop: Default::default(),
    });
    for (generation, dim) in [16, 64].into_iter().enumerate() {
        app.on_snapshot(Snapshot {
            elapsed: Duration::from_millis(200),
            ..snapshot(dim, generation as u64)
        });
    }
    app.on_key(press(KeyCode::Char('n')));
    app.on_snapshot(snapshot(256, 2));
    app
}

fn press(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn draw(width: u16, height: u16, render: impl FnOnce(&mut ratatui::Frame)) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(render).unwrap();
    terminal.backend().to_string()
}

type Panel = fn(&mut ratatui::Frame, &App, Rect);

#[test]
fn whole_screen_120x40() {
    let app = measured_app();
    insta::assert_snapshot!(draw(120, 40, |f| panels::render(f, &app)));
}

#[test]
fn whole_screen_at_the_minimum_size() {
    let app = measured_app();
    insta::assert_snapshot!(draw(80, 24, |f| panels::render(f, &app)));
}

#[test]
fn before_the_first_snapshot() {
    let app = App::new(Options {
        config: Config {
            threads: 4,
            ..Config::default()
        },
        preset: None,
        max_threads: 8,
        roofline: None,
        crossover: None,
        stop: Default::default(),
    });
    insta::assert_snapshot!(draw(100, 30, |f| panels::render(f, &app)));
}

#[test]
fn too_small_shows_a_notice() {
    let app = measured_app();
    insta::assert_snapshot!(draw(20, 5, |f| panels::render(f, &app)));
}

#[test]
fn help_overlay() {
    let mut app = measured_app();
    app.on_key(press(KeyCode::Char('?')));
    insta::assert_snapshot!(draw(100, 30, |f| panels::render(f, &app)));
}

#[test]
fn each_panel() {
    let mut app = measured_app();
    app.set_status("report written to dynq-report.md");
    let panels: [(&str, Panel, u16, u16); 7] = [
        ("header", panels::header, 120, 4),
        ("size", panels::size, 50, 20),
        ("latency", panels::latency, 70, 20),
        ("accuracy", panels::accuracy, 60, 7),
        ("sliders", panels::sliders, 50, 10),
        ("system", panels::system, 40, 6),
        ("status", panels::status, 120, 1),
    ];
    for (name, render, width, height) in panels {
        let area = Rect::new(0, 0, width, height);
        insta::assert_snapshot!(name, draw(width, height, |f| render(f, &app, area)));
    }
}

#[test]
fn paused_and_split_sliders() {
    let mut app = measured_app();
    app.on_key(press(KeyCode::Char(' ')));
    app.on_key(press(KeyCode::Char('i')));
    insta::assert_snapshot!(draw(120, 4, |f| panels::header(f, &app, f.area())));
    insta::assert_snapshot!(draw(50, 10, |f| panels::sliders(f, &app, f.area())));
}

#[test]
fn quit_keys() {
    let mut app = measured_app();
    for key in [
        press(KeyCode::Char('q')),
        press(KeyCode::Esc),
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
    ] {
        assert_eq!(app.on_key(key), Some(Action::Quit), "{key:?}");
    }
}

#[test]
fn releases_are_ignored() {
    let mut app = measured_app();
    let mut key = press(KeyCode::Char('q'));
    key.kind = KeyEventKind::Release;
    assert_eq!(app.on_key(key), None);
}

#[test]
fn help_toggles_and_esc_closes_it_first() {
    let mut app = measured_app();
    assert_eq!(app.on_key(press(KeyCode::Char('?'))), None);
    assert!(app.help);
    assert_eq!(app.on_key(press(KeyCode::Esc)), None);
    assert!(!app.help);
}

#[test]
fn right_arrow_grows_the_dimension_and_resets_the_panels() {
    let mut app = measured_app();
    let action = app.on_key(press(KeyCode::Right));
    let expected = Config {
        input_size: 384,
        hidden_size: 384,
        ..config(256)
    };
    assert_eq!(
        action,
        Some(Action::Send(Command::SetConfig(expected.clone())))
    );
    assert_eq!(app.config, expected);
    assert_eq!(app.snapshot, None);
    // A late snapshot of the old Config does not come back on screen.
    app.on_snapshot(snapshot(256, 2));
    assert_eq!(app.snapshot, None);
    app.on_snapshot(snapshot(384, 3));
    assert_eq!(app.snapshot.as_ref().map(|s| s.generation), Some(3));
}

#[test]
fn arrows_select_and_change_each_slider() {
    let mut app = measured_app();
    let mut changed = |down: usize, key: KeyCode| {
        for _ in 0..down {
            app.on_key(press(KeyCode::Down));
        }
        match app.on_key(press(key)) {
            Some(Action::Send(Command::SetConfig(c))) => c,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(changed(1, KeyCode::Right).seq_len, 50);
    assert_eq!(changed(1, KeyCode::Right).batch, 2);
    assert_eq!(changed(1, KeyCode::Right).num_layers, 2);
    assert_eq!(changed(1, KeyCode::Right).cell, Some(Cell::Gru));
    assert!(changed(1, KeyCode::Right).bidirectional);
    assert_eq!(changed(1, KeyCode::Left).threads, 3);
    // The bottom row stays selected.
    assert_eq!(changed(1, KeyCode::Left).threads, 2);
}

#[test]
fn no_change_at_the_end_of_a_slider() {
    let mut app = App::new(Options {
        max_threads: 8,
        ..Options::new(Config::default())
    });
    assert_eq!(app.on_key(press(KeyCode::Left)), None);
}

#[test]
fn split_dimension_moves_input_alone() {
    let mut app = measured_app();
    assert_eq!(app.on_key(press(KeyCode::Char('i'))), None);
    let Some(Action::Send(Command::SetConfig(c))) = app.on_key(press(KeyCode::Right)) else {
        panic!("no Config change");
    };
    assert_eq!((c.input_size, c.hidden_size), (384, 256));
    // Joining again makes input follow hidden.
    let Some(Action::Send(Command::SetConfig(c))) = app.on_key(press(KeyCode::Char('i'))) else {
        panic!("no Config change");
    };
    assert_eq!((c.input_size, c.hidden_size), (256, 256));
}

#[test]
fn space_pauses_and_resumes() {
    let mut app = measured_app();
    let space = press(KeyCode::Char(' '));
    assert_eq!(app.on_key(space), Some(Action::Send(Command::Pause)));
    assert!(app.paused);
    assert_eq!(app.on_key(space), Some(Action::Send(Command::Resume)));
}

#[test]
fn reset_and_report_keys() {
    let mut app = measured_app();
    assert_eq!(
        app.on_key(press(KeyCode::Char('r'))),
        Some(Action::Send(Command::Reset))
    );
    assert_eq!(
        app.on_key(press(KeyCode::Char('s'))),
        Some(Action::WriteReport)
    );
}

#[test]
fn next_and_previous_preset_steps() {
    let mut app = measured_app();
    assert_eq!(app.replay.current(), 1);
    let step = |app: &mut App, key| match app.on_key(press(KeyCode::Char(key))) {
        Some(Action::Send(Command::SetConfig(c))) => Some(c.hidden_size),
        _ => None,
    };
    assert_eq!(step(&mut app, 'n'), Some(1024));
    assert_eq!(step(&mut app, 'n'), None);
    assert_eq!(app.status.as_deref(), Some("already at the last step"));
    assert_eq!(step(&mut app, 'p'), Some(256));
    assert_eq!(step(&mut app, 'p'), Some(64));
    assert_eq!(step(&mut app, 'p'), None);
    assert_eq!(app.replay.current(), 0);
}

#[test]
fn automatic_stepping_follows_the_measured_time() {
    let mut app = measured_app();
    assert!(app.replay.auto());
    let short = Snapshot {
        elapsed: Duration::from_secs(1),
        ..snapshot(256, 2)
    };
    assert_eq!(app.on_snapshot(short), None);
    let long = Snapshot {
        elapsed: Duration::from_secs(3),
        ..snapshot(256, 2)
    };
    assert!(matches!(
        app.on_snapshot(long),
        Some(Action::Send(Command::SetConfig(c))) if c.hidden_size == 1024
    ));
    assert_eq!(app.replay.current(), 2);
}

#[test]
fn moving_a_slider_stops_automatic_stepping() {
    let mut app = measured_app();
    app.on_key(press(KeyCode::Right));
    assert!(!app.replay.auto());
    let long = Snapshot {
        elapsed: Duration::from_secs(10),
        ..snapshot(384, 3)
    };
    assert_eq!(app.on_snapshot(long), None);
    app.on_key(press(KeyCode::Char('a')));
    assert!(app.replay.auto());
}

#[test]
fn history_keeps_the_latest_snapshot_per_config() {
    let mut app = measured_app();
    let dims: Vec<usize> = app.history.iter().map(|s| s.config.hidden_size).collect();
    assert_eq!(dims, [16, 64, 256]);
    app.on_snapshot(Snapshot {
        elapsed: Duration::from_secs(2),
        ..snapshot(256, 2)
    });
    assert_eq!(app.history.len(), 3);
    assert_eq!(app.history[2].elapsed, Duration::from_secs(2));
    // Measuring 64 again (a new generation) moves it to the end, with its new figures.
    app.on_snapshot(Snapshot {
        elapsed: Duration::from_secs(5),
        ..snapshot(64, 3)
    });
    let dims: Vec<usize> = app.history.iter().map(|s| s.config.hidden_size).collect();
    assert_eq!(dims, [16, 256, 64]);
    assert_eq!(app.history[2].elapsed, Duration::from_secs(5));
    // Building, failed: nothing to keep.
    app.on_snapshot(Snapshot {
        variants: Vec::new(),
        building: true,
        ..snapshot(1024, 4)
    });
    assert_eq!(app.history.len(), 3);
}

#[test]
fn history_keeps_the_latest_configs_up_to_its_limit() {
    use super::HISTORY_LIMIT;
    let mut app = measured_app();
    let generations = 3..3 + HISTORY_LIMIT as u64 + 5;
    for generation in generations.clone() {
        app.on_snapshot(Snapshot {
            config: Config {
                seq_len: generation as usize,
                ..config(64)
            },
            ..snapshot(64, generation)
        });
    }
    assert_eq!(app.history.len(), HISTORY_LIMIT);
    let seq_lens: Vec<u64> = app
        .history
        .iter()
        .map(|s| s.config.seq_len as u64)
        .collect();
    let latest: Vec<u64> = generations.skip(5).collect();
    assert_eq!(seq_lens, latest);
}

#[test]
fn the_report_reads_the_same_runs_from_the_history_as_from_the_snapshots() {
    use crate::report::Run;
    let app = language_app();
    let shown = app.snapshot.clone().unwrap();
    let kept = app.report_snapshots();
    assert_eq!(kept.len(), 3);
    let last = kept.last().unwrap();
    assert!(last.task.is_some() && last.variants[1].generated.is_some());
    assert_eq!(Run::from_snapshot(last), Run::from_snapshot(&shown));
    let first = snapshot(16, 0);
    assert_eq!(
        Run::from_snapshot(&kept[0]),
        Run::from_snapshot(&Snapshot {
            elapsed: Duration::from_millis(200),
            ..first
        })
    );
    // The size curve reads the same sizes.
    assert_eq!(
        app.history[0].variants[1].size_bytes,
        snapshot(16, 0).variants[1].size_bytes
    );
}

#[test]
fn mouse_wheel_changes_the_slider_under_the_pointer() {
    use crossterm::event::{MouseEvent, MouseEventKind};
    let mut app = measured_app();
    let screen = super::layout::Screen::new(Rect::new(0, 0, 120, 40)).unwrap();
    let wheel = MouseEvent {
        kind: MouseEventKind::ScrollUp,
        column: screen.sliders.x + 5,
        row: screen.sliders.y + 2,
        modifiers: KeyModifiers::NONE,
    };
    let action = app.on_mouse(wheel, Rect::new(0, 0, 120, 40));
    assert!(matches!(
        action,
        Some(Action::Send(Command::SetConfig(c))) if c.seq_len == 50
    ));
    assert_eq!(app.selected, 1);
}

/// The figures of a language model's variant after `tokens` of the text.
fn task_figures(loss: f64, reference_loss: f64, tokens: u64) -> crate::metrics::TaskAccuracy {
    crate::metrics::TaskAccuracy {
        loss,
        perplexity: loss.exp(),
        bits_per_token: loss / std::f64::consts::LN_2,
        top1_accuracy: 0.5641,
        top1_agreement: if loss == reference_loss { 1.0 } else { 0.9712 },
        delta_loss: loss - reference_loss,
        tokens_per_second: 115_000.0,
        tokens,
        top1_correct: tokens * 5641 / 10_000,
        top1_agree: tokens * 9712 / 10_000,
    }
}

/// The measured app, its model a character language model halfway through the text, FP32
/// and INT8 having written after "ROMEO:".
fn language_app() -> App {
    let mut app = measured_app();
    let mut snapshot = app.snapshot.clone().unwrap();
    let tokens = 55_770;
    snapshot.task = Some(crate::bench::TaskProgress {
        tokens_done: tokens,
        tokens_total: 111_539,
        vocabulary: 65,
        token_level: "char".into(),
        prompt: Some("ROMEO:".into()),
    });
    let losses = [1.4571, 1.4578, 1.4573];
    let texts = [
        "\nI will not stay the sun of the world.\n",
        "\nI will not stay the son of the world.\n",
        "\nI will not stay the sun of the world.\n",
    ];
    for ((variant, loss), text) in snapshot.variants.iter_mut().zip(losses).zip(texts) {
        variant.task = Some(task_figures(loss, losses[0], tokens));
        variant.generated = Some(text.into());
    }
    app.on_snapshot(snapshot);
    app
}

#[test]
fn a_language_model_gets_a_task_row_in_a_tall_terminal() {
    let app = language_app();
    insta::assert_snapshot!(draw(120, 40, |f| panels::render(f, &app)));
}

#[test]
fn in_a_low_terminal_the_task_panels_replace_accuracy_and_sliders() {
    let app = language_app();
    let screen = draw(100, 30, |f| panels::render(f, &app));
    assert!(screen.contains("Task accuracy") && screen.contains("Generated after"));
    assert!(!screen.contains("Sliders"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn task_panels() {
    let app = language_app();
    let figures = draw(70, 7, |f| panels::task(f, &app, f.area()));
    assert!(
        figures.contains("evaluating 55,770 / 111,539 tokens (50%)"),
        "{figures}"
    );
    assert!(figures.contains("+0.0007"), "{figures}");
    insta::assert_snapshot!("task", figures);
    let generated = draw(60, 7, |f| panels::generated(f, &app, f.area()));
    // "sun" against "son": they part at the 23rd character, the leading newline counted.
    assert!(generated.contains("part at character 23"), "{generated}");
    assert!(generated.contains("⏎I will not stay the s"), "{generated}");
    insta::assert_snapshot!("generated", generated);
}

#[test]
fn a_finished_evaluation_says_done() {
    let mut app = language_app();
    let mut snapshot = app.snapshot.clone().unwrap();
    let progress = snapshot.task.as_mut().unwrap();
    progress.tokens_done = progress.tokens_total;
    app.on_snapshot(snapshot);
    let figures = draw(70, 7, |f| panels::task(f, &app, f.area()));
    assert!(figures.contains("done: 111,539 char tokens"), "{figures}");
}

#[test]
fn the_mouse_wheel_moves_no_slider_where_the_task_panels_replace_them() {
    use crossterm::event::{MouseEvent, MouseEventKind};
    let mut app = language_app();
    let wheel_at = |area: Rect| {
        let sliders = super::layout::Screen::new(area).unwrap().sliders;
        MouseEvent {
            kind: MouseEventKind::ScrollUp,
            column: sliders.x + 5,
            row: sliders.y + 2,
            modifiers: KeyModifiers::NONE,
        }
    };
    let low = Rect::new(0, 0, 100, 30);
    assert_eq!(app.on_mouse(wheel_at(low), low), None);
    let tall = Rect::new(0, 0, 120, 40);
    assert!(matches!(
        app.on_mouse(wheel_at(tall), tall),
        Some(Action::Send(Command::SetConfig(c))) if c.seq_len == 50
    ));
}

/// The measured app with slider row `row` (of the linked rows) selected.
fn app_on_row(row: usize) -> App {
    let mut app = measured_app();
    for _ in 0..row {
        app.on_key(press(KeyCode::Down));
    }
    app
}

/// The Config a key sends, failing when it sends none.
fn sent_config(app: &mut App, code: KeyCode) -> Config {
    match app.on_key(press(code)) {
        Some(Action::Send(Command::SetConfig(c))) => c,
        other => panic!("no Config change: {other:?}"),
    }
}

#[test]
fn the_cell_switch_gives_a_gru_and_back() {
    let mut app = app_on_row(4);
    assert_eq!(app.selected_slider(), super::sliders::Slider::Cell);
    let gru = sent_config(&mut app, KeyCode::Right);
    assert_eq!(
        gru,
        Config {
            cell: Some(Cell::Gru),
            ..config(256)
        }
    );
    assert_eq!(app.config, gru);
    assert_eq!(app.snapshot, None, "the panels wait for the GRU's figures");
    assert_eq!(sent_config(&mut app, KeyCode::Right).cell, Some(Cell::Lstm));
    // Left cycles the other way round, `h` and `l` as the arrows, and the wheel too.
    assert_eq!(sent_config(&mut app, KeyCode::Left).cell, Some(Cell::Gru));
    assert_eq!(
        sent_config(&mut app, KeyCode::Char('l')).cell,
        Some(Cell::Lstm)
    );
    assert_eq!(
        sent_config(&mut app, KeyCode::Char('h')).cell,
        Some(Cell::Gru)
    );
    assert!(
        !app.replay.auto(),
        "switching the cell stops automatic stepping too"
    );
}

#[test]
fn the_bidirectional_toggle_flips_the_field() {
    let mut app = app_on_row(5);
    assert_eq!(app.selected_slider(), super::sliders::Slider::Bidirectional);
    let both = sent_config(&mut app, KeyCode::Right);
    assert_eq!(
        both,
        Config {
            bidirectional: true,
            ..config(256)
        }
    );
    assert!(!sent_config(&mut app, KeyCode::Right).bidirectional);
    assert!(sent_config(&mut app, KeyCode::Left).bidirectional);
    assert!(!sent_config(&mut app, KeyCode::Left).bidirectional);
}

#[test]
fn the_mouse_wheel_switches_the_cell_under_the_pointer() {
    use crossterm::event::{MouseEvent, MouseEventKind};
    let mut app = measured_app();
    let area = Rect::new(0, 0, 120, 40);
    let sliders = super::layout::Screen::new(area).unwrap().sliders;
    let wheel = MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: sliders.x + 5,
        row: sliders.y + 1 + 4,
        modifiers: KeyModifiers::NONE,
    };
    assert!(matches!(
        app.on_mouse(wheel, area),
        Some(Action::Send(Command::SetConfig(c))) if c.cell == Some(Cell::Gru)
    ));
    assert_eq!(app.selected, 4);
}

/// Where `text` starts in the rendered `buffer`, if anywhere.
fn find(buffer: &ratatui::buffer::Buffer, text: &str) -> Option<(u16, u16)> {
    let area = buffer.area;
    (area.top()..area.bottom()).find_map(|y| {
        let line: String = (area.left()..area.right())
            .map(|x| buffer[(x, y)].symbol())
            .collect();
        let at = line.find(text)?;
        Some((line[..at].chars().count() as u16, y))
    })
}

#[test]
fn the_sliders_panel_shows_the_cell_and_bidirectional_rows() {
    let mut app = app_on_row(4);
    app.on_key(press(KeyCode::Right));
    app.on_key(press(KeyCode::Down));
    app.on_key(press(KeyCode::Right));
    assert_eq!(
        (app.config.cell, app.config.bidirectional),
        (Some(Cell::Gru), true)
    );
    let mut terminal = Terminal::new(TestBackend::new(50, 10)).unwrap();
    terminal
        .draw(|f| panels::sliders(f, &app, f.area()))
        .unwrap();
    let screen = terminal.backend().to_string();
    assert!(
        screen.contains("│  cell          ○ LSTM  ● GRU"),
        "{screen}"
    );
    assert!(screen.contains("│▸ bidirectional ○ off  ● on"), "{screen}");
    // The current choices are drawn bright, the others dim.
    let buffer = terminal.backend().buffer();
    for (text, style) in [
        ("GRU", super::theme::FIGURE),
        ("LSTM", super::theme::DIM),
        (" on", super::theme::FIGURE),
        ("off", super::theme::DIM),
    ] {
        let (x, y) = find(buffer, text).unwrap();
        let cell = &buffer[(x + u16::from(text.starts_with(' ')), y)];
        assert_eq!(Some(cell.fg), style.fg, "{text}");
        assert_eq!(cell.modifier, style.add_modifier, "{text}");
    }
    insta::assert_snapshot!(screen);
}

#[test]
fn a_narrow_sliders_panel_shows_the_current_choices_alone() {
    let mut app = app_on_row(4);
    app.on_key(press(KeyCode::Right));
    let screen = draw(24, 10, |f| panels::sliders(f, &app, f.area()));
    assert!(screen.contains("│▸ cell          GRU   │"), "{screen}");
    assert!(screen.contains("│  bidirectional off   │"), "{screen}");
    assert!(screen.contains("│  layers          1   │"), "{screen}");
}

#[test]
fn in_a_low_terminal_the_sliders_scroll_to_the_selected_row() {
    use crossterm::event::{MouseEvent, MouseEventKind};
    let mut app = measured_app();
    let area = Rect::new(0, 0, 80, 24);
    let sliders = app.screen(area).unwrap().sliders;
    assert_eq!(sliders.height, 8, "six of the seven rows fit");
    // The sliders panel of the whole screen drawn in `area`.
    let panel = |app: &App, area: Rect| {
        let mut terminal = Terminal::new(TestBackend::new(area.width, area.height)).unwrap();
        terminal.draw(|f| panels::render(f, app)).unwrap();
        let sliders = app.screen(area).unwrap().sliders;
        let buffer = terminal.backend().buffer();
        (sliders.top()..sliders.bottom())
            .map(|y| {
                (sliders.left()..sliders.right())
                    .map(|x| buffer[(x, y)].symbol())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let top = panel(&app, area);
    assert!(
        top.contains("↓1 more") && top.contains("bidirectional"),
        "{top}"
    );
    assert!(!top.contains("threads"), "{top}");
    for _ in 0..6 {
        app.on_key(press(KeyCode::Down));
    }
    let bottom = panel(&app, area);
    assert!(
        bottom.contains("↑1 more") && bottom.contains("▸ threads"),
        "{bottom}"
    );
    assert!(!bottom.contains("dimension"), "{bottom}");
    // The wheel over the first line shown moves the row drawn there, the sequence length.
    let wheel = MouseEvent {
        kind: MouseEventKind::ScrollUp,
        column: sliders.x + 5,
        row: sliders.y + 1,
        modifiers: KeyModifiers::NONE,
    };
    assert!(matches!(
        app.on_mouse(wheel, area),
        Some(Action::Send(Command::SetConfig(c))) if c.seq_len == 50
    ));
    assert_eq!(app.selected, 1);
    // Input and hidden split: eight rows, all shown in a terminal two rows higher.
    app.on_key(press(KeyCode::Char('i')));
    let tall = panel(&app, Rect::new(0, 0, 80, 26));
    for label in [
        "input",
        "hidden",
        "sequence",
        "cell",
        "bidirectional",
        "threads",
    ] {
        assert!(tall.contains(&format!(" {label} ")), "{label}: {tall}");
    }
    assert!(!tall.contains("more"), "{tall}");
}

/// The measured app on a weight file whose model, once built, is a bidirectional GRU.
fn weight_file_app() -> App {
    let weights = Config {
        weights: Some("models/gru.safetensors".into()),
        ..config(256)
    };
    let mut app = App::new(Options {
        config: weights.clone(),
        preset: None,
        max_threads: 8,
        roofline: None,
        crossover: None,
        stop: Default::default(),
    });
    app.on_snapshot(Snapshot {
        config: Config {
            cell: Some(Cell::Gru),
            bidirectional: true,
            ..weights
        },
        ..snapshot(256, 0)
    });
    app
}

#[test]
fn with_a_weight_file_the_cell_and_directions_come_from_the_file() {
    let mut app = weight_file_app();
    let before = app.config.clone();
    let sliders = draw(50, 10, |f| panels::sliders(f, &app, f.area()));
    assert!(
        sliders.contains("│  cell          GRU  (weight file)"),
        "{sliders}"
    );
    assert!(
        sliders.contains("│  bidirectional on  (weight file)"),
        "{sliders}"
    );
    let header = draw(120, 4, |f| panels::header(f, &app, f.area()));
    assert!(
        header.contains("quantization of a bidirectional GRU "),
        "{header}"
    );
    assert!(
        header.contains("│bidirectional GRU 256 → 256  layers 1"),
        "{header}"
    );
    // The keys leave both rows (and the Config) alone, and say why.
    for row in [4, 5] {
        app.selected = row;
        for key in [KeyCode::Right, KeyCode::Left] {
            assert_eq!(app.on_key(press(key)), None);
        }
    }
    assert_eq!(app.config, before);
    assert_eq!(
        app.status.as_deref(),
        Some("the weight file sets the cell and the directions")
    );
    // The sliders still change the Config, as before (the file's sizes replace them).
    app.selected = 0;
    assert_eq!(sent_config(&mut app, KeyCode::Right).hidden_size, 384);
    // Until the new models are built, the file's choices are not known.
    let sliders = draw(50, 10, |f| panels::sliders(f, &app, f.area()));
    assert!(
        sliders.contains("│  cell          …  (weight file)"),
        "{sliders}"
    );
    let narrow = draw(24, 10, |f| panels::sliders(f, &app, f.area()));
    assert!(narrow.contains("│  cell            …   │"), "{narrow}");
}

#[test]
fn the_header_names_the_cell_and_the_directions() {
    let header = |cell, bidirectional| {
        let app = App::new(Options {
            config: Config {
                cell,
                bidirectional,
                ..config(64)
            },
            preset: None,
            max_threads: 8,
            roofline: None,
            crossover: None,
            stop: Default::default(),
        });
        draw(120, 4, |f| panels::header(f, &app, f.area()))
    };
    for (cell, bidirectional, title, line) in [
        (None, false, "of an LSTM ", "│LSTM 64 → 64  layers 1"),
        (
            Some(Cell::Lstm),
            true,
            "of a bidirectional LSTM ",
            "│bidirectional LSTM 64 → 64",
        ),
        (
            Some(Cell::Gru),
            false,
            "of a GRU ",
            "│GRU 64 → 64  layers 1",
        ),
        (
            Some(Cell::Gru),
            true,
            "of a bidirectional GRU ",
            "│bidirectional GRU 64 → 64",
        ),
    ] {
        let shown = header(cell, bidirectional);
        assert!(shown.contains(title) && shown.contains(line), "{shown}");
    }
}

/// A small crossover sweep: dims 8, 64, 256 × threads 1, 2 × batch 1, 64.
fn crossover_sweep() -> Preset {
    let mut steps = Vec::new();
    for threads in [1, 2] {
        for batch in [1, 64] {
            for dim in [8, 64, 256] {
                steps.push(Step {
                    config: Config {
                        threads,
                        batch,
                        schemes: vec![Scheme::Fp32, Scheme::Int8],
                        ..config(dim)
                    },
                    length: RunLength {
                        seconds: Some(0.25),
                        min_samples: None,
                    },
                });
            }
        }
    }
    Preset {
        name: "crossover".into(),
        description: "where INT8 starts to win".into(),
        steps,
    }
}

/// What the worker would publish for `config`: FP32 faster at small dims, INT8 from 64 on
/// (at batch 64 and 2 threads only from 256).
fn crossover_snapshot(config: &Config, generation: u64) -> Snapshot {
    let dim = config.hidden_size as u64;
    let fp32 = 1_000 + dim * dim / 8;
    let slowdown = if config.batch == 64 && config.threads == 2 && dim < 256 {
        3
    } else {
        1
    };
    let int8 = (1_500 + dim * dim / 30) * slowdown;
    Snapshot {
        config: config.clone(),
        generation,
        elapsed: Duration::from_millis(300),
        variants: vec![
            variant(Scheme::Fp32, 1000, fp32, 0.0),
            variant(Scheme::Int8, 300, int8, 0.8),
        ],
        ..snapshot(config.hidden_size, generation)
    }
}

#[test]
fn the_crossover_view_measures_its_sweep_in_the_background_and_draws_it() {
    let mut app = App::new(Options {
        crossover: Some(crossover_sweep()),
        ..Options::new(config(64))
    });
    let press = |app: &mut App, c| app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    // `c` starts the sweep at its first point and shows the view.
    let first = match press(&mut app, 'c') {
        Some(Action::Send(Command::SetConfig(c))) => c,
        other => panic!("expected the sweep's first Config, got {other:?}"),
    };
    assert!(app.crossover_view && app.replay.auto());
    assert_eq!((first.hidden_size, first.threads, first.batch), (8, 1, 1));
    // The worker measures each point; the app steps on by itself.
    let mut config = first;
    for generation in 0..12u64 {
        match app.on_snapshot(crossover_snapshot(&config, generation)) {
            Some(Action::Send(Command::SetConfig(next))) => config = next,
            None => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(app.replay.current(), 11, "every point measured");
    // Keys still answer mid-view: help opens and closes, q quits.
    assert_eq!(press(&mut app, '?'), None);
    assert!(app.help);
    assert_eq!(press(&mut app, '?'), None);
    insta::assert_snapshot!(draw(120, 40, |f| panels::render(f, &app)));
    // `c` hides the view; pressing it again shows it without measuring anew.
    assert_eq!(press(&mut app, 'c'), None);
    assert!(!app.crossover_view);
    assert_eq!(press(&mut app, 'c'), None);
    assert!(app.crossover_view);
    assert_eq!(press(&mut app, 'q'), Some(Action::Quit));
}

#[test]
fn q_quits_in_the_middle_of_a_crossover_sweep() {
    let mut app = App::new(Options {
        crossover: Some(crossover_sweep()),
        ..Options::new(config(64))
    });
    let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    let Some(Action::Send(Command::SetConfig(first))) = app.on_key(key('c')) else {
        panic!("the sweep starts");
    };
    app.on_snapshot(crossover_snapshot(&first, 0));
    assert_eq!(app.replay.current(), 1);
    assert_eq!(app.on_key(key('q')), Some(Action::Quit));
}
