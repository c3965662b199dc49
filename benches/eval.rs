//! Evaluating the shipped Shakespeare char-LSTM on its whole validation text (111,539
//! predicted characters) per variant, by the tutorial's protocol: batch 1, chunks of 25 steps,
//! the hidden state carried over; the default run options (fastest kernel, one thread per core).
//! Compare with PyTorch's evaluate loop on the same machine (`tools/train_charlm.py` times it).

use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dynq::Scheme;
use dynq::lm::{Evaluation, ModelFile, TokenGrid};
use dynq::model::Workspace;

fn evaluate(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lm = ModelFile::load(&root.join("models/shakespeare-charlstm.safetensors"))
        .and_then(|f| {
            f.into_language_model("shipped")
                .map_err(dynq::DynqError::Unsupported)
        })
        .expect("the shipped model loads");
    let text = std::fs::read_to_string(root.join("models/shakespeare-val.txt")).expect("text");
    let tokens = lm.vocab.tokenize(&text, "validation").expect("tokenizes");
    let dims = lm.lstm.dims();
    let mut group = c.benchmark_group("eval");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(10))
        .sample_size(10);
    for eval_batch in [1, 10] {
        let grid = TokenGrid::batchify(&tokens, eval_batch).expect("enough text");
        for scheme in Scheme::ALL {
            let model = lm.variant(scheme);
            let embedding = lm.stored_embedding(scheme);
            let mut workspace = Workspace::default();
            let id = BenchmarkId::new(scheme.name(), format!("batch{eval_batch}"));
            group.bench_function(id, |b| {
                b.iter(|| {
                    let mut evaluation =
                        Evaluation::new(grid.clone(), 25, 1, dims).expect("valid shape");
                    evaluation
                        .run_to_end(&[embedding.lookup_table()], &[&model], 0, &mut workspace)
                        .expect("runs");
                    evaluation.totals(0)
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
