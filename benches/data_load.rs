//! Load time of an SVHN-train-sized artifact (73,257 RGB images). `cargo bench --bench data_load`
//! builds a synthetic one in a temporary directory, or times PAD_BENCH_ARTIFACT if set.

use pad::data::{self, Dataset, Split};

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = match std::env::var_os("PAD_BENCH_ARTIFACT") {
        Some(p) => p.into(),
        None => {
            let n = 73_257;
            let split = |n: usize| Split {
                images: (0..n * 3 * 1024).map(|i| (i * 31 % 251) as u8).collect(),
                labels: (0..n).map(|i| (i % 10) as u8).collect(),
                n,
            };
            let ds = Dataset {
                name: "svhn-sized".into(),
                channels: 3,
                classes: (0..10).map(|d| d.to_string()).collect(),
                train: split(n),
                test: split(26_032),
            };
            let p = dir.path().join("svhn-sized.safetensors");
            data::write_artifact(&ds, &p).expect("write");
            p
        }
    };
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = std::time::Instant::now();
        std::hint::black_box(data::load_artifact(&path).expect("load"));
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!("load {}: min {:.3} s, median {:.3} s over 5 runs", path.display(), times[0], times[2]);
}
