//! Replay test: a test-sized run recorded by pad (`pad replay`: every random draw) and replayed by
//! PyTorch (scripts/replay/replay_pad.py, following the authors' main_PAD.py; fixture made by
//! tests/golden/make_replay_fixture.py). Three epochs of four iterations on real images, so the
//! epoch's shuffle, the input conversion, the epoch boundary and the first REM batch of an epoch
//! are covered, which the two-iteration golden test (tests/numerics/golden_pad.rs) does not reach. pad
//! records the run again here and must draw the same numbers and match PyTorch's losses at every
//! iteration and its parameters after the first and the last epoch to the golden test's 1e-4.
//! (Rounding alone leaves pad within 4e-7 of PyTorch here; an epoch boundary that kept z_old,
//! tried on purpose, moved parameters by 2e-4 to 3e-4 and failed.)
//!
//! And recording is only watching: a recorded run has exactly the bytes of `pad train`'s.
use crate::common::{assert_close, GOLDEN_TOL};
use pad::data::Images;
use pad::files::safetensors::{self, Loaded};
use pad::model::checkpoint::read_file;
use pad::model::{Encoder, Generator, Network};
use pad::train::batches::epoch_order;
use pad::train::run::EpochDraws;
use pad::train::{condition, record, start_state, train, PadState, RunSpec, StepStats};
use std::collections::BTreeMap;
use std::path::Path;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/replay_fixture.safetensors");

/// Elements PyTorch cannot pin down in float32, with their float64 values (see the script).
type Unstable = BTreeMap<String, BTreeMap<String, Vec<(usize, f64)>>>;

struct Fixture {
    file: Loaded,
}

impl Fixture {
    fn load() -> Self {
        Fixture { file: safetensors::load(Path::new(FIXTURE)).expect("fixture readable") }
    }
    fn bytes(&self, name: &str) -> &[u8] {
        self.file.tensor(name).unwrap_or_else(|| panic!("fixture lacks {name}")).1
    }
    fn f32s(&self, name: &str) -> Vec<f32> {
        safetensors::f32s(self.bytes(name))
    }
    fn f64s(&self, name: &str) -> Vec<f64> {
        safetensors::f64s(self.bytes(name))
    }
    fn meta(&self, key: &str) -> &str {
        &self.file.header.metadata[key]
    }
    fn num(&self, key: &str) -> usize {
        self.meta(key).parse().unwrap()
    }
    fn spec(&self, cond: &str) -> RunSpec {
        RunSpec {
            condition: condition(cond).unwrap(),
            seed: self.num("seed") as u64,
            epochs: self.num("epochs"),
            batch: self.num("batch"),
            dataset_id: self.meta("dataset").to_string(),
            nf: self.num("nf"),
            nz: self.num("nz"),
        }
    }
    fn init(&self, channels: usize) -> PadState {
        let mut enc = Encoder::with_size(channels, self.num("nf"), self.num("nz"));
        let mut gen = Generator::with_size(channels, self.num("nf"), self.num("nz"));
        for p in enc.params_mut().into_iter().chain(gen.params_mut()) {
            p.value.copy_from_slice(&self.f32s(&format!("init.{}", p.name)));
        }
        PadState::new(enc, gen)
    }
}

fn replay(cond: &str) {
    let f = Fixture::load();
    let channels = f.file.header.tensors["images"].shape[1];
    let images = Images::new(f.bytes("images"), channels).unwrap();
    let spec = f.spec(cond);
    let snapshot_at: Vec<usize> = serde_json::from_str(f.meta("snapshot_at")).unwrap();
    let rec = record(&spec, images, f.init(channels), &snapshot_at, false).unwrap();

    // The very draws PyTorch replayed.
    let shas: BTreeMap<String, String> = serde_json::from_str(f.meta("draws_sha256")).unwrap();
    assert_eq!(pad::files::sha256_hex(&rec.draws_bytes()), shas[cond], "{cond}: pad drew other numbers");

    // Losses at every iteration.
    let (want, want64) = (f.f32s(&format!("{cond}.losses")), f.f64s(&format!("{cond}.losses64")));
    assert_eq!(want.len(), rec.losses.len() * 7, "{cond}: iterations");
    for (it, (_, st)) in rec.losses.iter().enumerate() {
        for (k, (name, got)) in StepStats::NAMES.iter().zip(st.values()).enumerate() {
            let (w, exact) = (want[it * 7 + k] as f64, want64[it * 7 + k]);
            let scale = w.abs().max(1e-3);
            let err = (got as f64 - w).abs() / scale;
            // As for unstable elements: no farther from float64 than PyTorch's float32 is (x4).
            let near64 = (got as f64 - exact).abs() <= 4.0 * (w - exact).abs() + GOLDEN_TOL * scale;
            assert!(
                err <= GOLDEN_TOL || near64,
                "{cond} iteration {} {name}: pad {got} vs PyTorch {w} (relative error {err:.2e}; float64 {exact})",
                it + 1
            );
        }
    }

    // Parameters at the end of each epoch.
    let unstable: Unstable = serde_json::from_str(f.meta("unstable")).unwrap();
    let unstable = &unstable[cond];
    assert_eq!(rec.snapshots.iter().map(|(i, _)| *i).collect::<Vec<_>>(), snapshot_at);
    let mut worst = 0.0f64;
    for (it, tensors) in &rec.snapshots {
        for (name, (_, got)) in tensors {
            let key = format!("iter{it}.{name}");
            let want = f.f32s(&format!("{cond}.{key}"));
            worst = worst.max(assert_close(&format!("{cond} {key}"), got, &want, unstable.get(&key)));
        }
    }
    eprintln!("{cond}: largest relative error of a parameter {worst:.2e}");
}

#[test]
fn pad_replay_matches_pytorch_over_three_epochs() {
    replay("pad");
}

#[test]
fn wo_rem_replay_matches_pytorch_over_three_epochs() {
    replay("wo_rem");
}

#[test]
fn wo_nrem_replay_matches_pytorch_over_three_epochs() {
    replay("wo_nrem");
}

fn images(n: usize, channels: usize) -> Vec<u8> {
    (0..n * channels * 1024).map(|i| ((i * 37 + i / 1024 * 11) % 251) as u8).collect()
}

/// A record is the training run itself: the same initial checkpoint, the same final weights, bit
/// for bit; and its draws file holds the epochs' orders and the draws of EpochDraws.
#[test]
fn recording_changes_nothing_and_holds_every_draw() {
    let data = images(14, 1);
    let imgs = Images::new(&data, 1).unwrap();
    for cond in ["pad", "wo_rem"] {
        let spec = RunSpec {
            condition: condition(cond).unwrap(),
            seed: 9,
            epochs: 2,
            batch: 4,
            dataset_id: "synthetic".into(),
            nf: 4,
            nz: 8,
        };
        let run = tempfile::tempdir().unwrap();
        train(&spec, imgs, run.path(), false).unwrap();
        let rec = record(&spec, imgs, start_state(&spec, 1, None).unwrap(), &[1, 6], false).unwrap();
        let out = tempfile::tempdir().unwrap();
        rec.write(out.path()).unwrap();
        let read = |p: &Path| std::fs::read(p).unwrap();
        assert_eq!(read(&run.path().join("epoch-0000.safetensors")), read(&out.path().join("init.safetensors")));
        let trained = read_file(&run.path().join("epoch-0002.safetensors")).unwrap();
        let last = read_file(&out.path().join("pad/iter-0006.safetensors")).unwrap();
        assert_eq!(trained.tensors, last.tensors, "{cond}: recording changed the run");
        assert_eq!(rec.losses.len(), 6);

        // The draws file, read back.
        let draws = safetensors::load(&out.path().join("draws.safetensors")).unwrap();
        let get = |n: &str| draws.tensor(n).unwrap_or_else(|| panic!("draws lack {n}")).1;
        let mut it = 0;
        for epoch in 1..=2 {
            let order: Vec<usize> = get(&format!("order.{epoch}"))
                .chunks(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as usize)
                .collect();
            assert_eq!(order, epoch_order(9, epoch, 14));
            let mut ed = EpochDraws::new(9, epoch, 4, 8);
            for _ in 0..3 {
                let (d, occ) = ed.next_with_occlusion();
                let at = |n: &str, len: usize| safetensors::f32s(&get(n)[it * len * 4..(it + 1) * len * 4]);
                assert_eq!(at("rem_noise", 32), d.rem_noise);
                assert_eq!(at("mask", 1024), d.mask);
                assert_eq!(safetensors::f64s(get("drop"))[it], occ.drop);
                assert_eq!(i64::from_le_bytes(get("tile")[it * 8..it * 8 + 8].try_into().unwrap()), occ.tile as i64);
                // Wake noise only where it counts (epsilon > 0: wo_rem).
                match draws.tensor("wake_noise") {
                    Some(_) => assert_eq!(at("wake_noise", 32), d.wake_noise),
                    None => assert_eq!(cond, "pad"),
                }
                it += 1;
            }
        }
        let (x, _) = imgs.batch(&epoch_order(9, 1, 14)[..4]);
        let x_first = safetensors::f32s(get("x.first"));
        assert_eq!(x_first, pad::engine::swap_leading_axes(&x, 1, 4, 1024));
    }
}
