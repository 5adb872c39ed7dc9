//! Fetch-level behaviour of the data layer: loopback HTTP downloads, mirrors, the lock, cached
//! archives, and errors that name the bad file and leave no artifact behind.

use pad::data::{self, DataError, FetchRequest};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// path -> (status, body, Content-Length to announce)
type Routes = Arc<Mutex<HashMap<String, (u16, Vec<u8>, usize)>>>;

/// A tiny HTTP/1.0 file server on 127.0.0.1 (loopback only). `files` maps a path to
/// (status, body, Content-Length to announce). Stops when dropped, or after 60 s.
struct Server {
    base: String,
    files: Routes,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let files: Routes = Arc::default();
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (f, h, s) = (files.clone(), hits.clone(), stop.clone());
        std::thread::spawn(move || {
            let t0 = Instant::now();
            while !s.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(60) {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => req.extend_from_slice(&buf[..k]),
                    }
                }
                let line = String::from_utf8_lossy(&req).lines().next().unwrap_or("").to_string();
                let path = line.split(' ').nth(1).unwrap_or("/").to_string();
                h.fetch_add(1, Ordering::SeqCst);
                let (status, body, len) =
                    f.lock().unwrap().get(&path).cloned().unwrap_or((404, b"not found".to_vec(), 9));
                let head = format!("HTTP/1.0 {status} X\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(&body);
            }
        });
        Server { base, files, hits, stop }
    }

    fn put(&self, name: &str, body: Vec<u8>) {
        let n = body.len();
        self.files.lock().unwrap().insert(format!("/{name}"), (200, body, n));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// MNIST-format files: (name, gz bytes).
fn mnist_files(n_train: usize, n_test: usize, bad_label: bool) -> Vec<(&'static str, Vec<u8>)> {
    let imgs =
        |n: usize| gz(&data::idx::encode_idx(&[n, 28, 28], &(0..n * 784).map(|i| (i % 251) as u8).collect::<Vec<_>>()));
    let labs = |n: usize| {
        let mut l: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        if bad_label {
            l[n - 1] = 12;
        }
        gz(&data::idx::encode_idx(&[n], &l))
    };
    vec![
        ("train-images-idx3-ubyte.gz", imgs(n_train)),
        ("train-labels-idx1-ubyte.gz", labs(n_train)),
        ("t10k-images-idx3-ubyte.gz", imgs(n_test)),
        ("t10k-labels-idx1-ubyte.gz", labs(n_test)),
    ]
}

/// Writes `files` into `<dir>/mirror` and returns that directory.
fn mirror_dir(dir: &Path, files: Vec<(&str, Vec<u8>)>) -> PathBuf {
    let mirror = dir.join("mirror");
    std::fs::create_dir_all(&mirror).unwrap();
    for (n, b) in files {
        std::fs::write(mirror.join(n), b).unwrap();
    }
    mirror
}

fn args(dataset: &str, dir: &Path, mirror: &str) -> FetchRequest {
    FetchRequest {
        dataset: dataset.into(),
        mirror: Some(mirror.into()),
        data_dir: Some(dir.join("dl")),
        out: Some(dir.join("out.safetensors")),
        allow_unpublished: true,
        ..Default::default()
    }
}

fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for sub in [dir.to_path_buf(), dir.join("dl")] {
        if let Ok(rd) = std::fs::read_dir(sub) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.ends_with(".part") || n.ends_with(".tmp") || n.ends_with(".safetensors") {
                    v.push(e.path());
                }
            }
        }
    }
    v
}

#[test]
fn http_mirror_download_lock_and_cache() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start();
    for (n, b) in mnist_files(12, 5, false) {
        srv.put(&format!("m/{n}"), b);
    }
    let a = args("mnist", dir.path(), &format!("{}/m/", srv.base));
    let out = data::fetch_to_artifact(&a).unwrap().path;
    let ds = data::load_artifact(&out).unwrap();
    assert_eq!((ds.name.as_str(), ds.channels, ds.train.n, ds.test.n), ("mnist", 1, 12, 5));
    assert_eq!(ds.train.labels[..3], [0, 1, 2]);
    assert_eq!(srv.hits.load(Ordering::SeqCst), 4);
    let meta = data::artifact::read_meta(&out).unwrap();
    assert_eq!(meta.sources.len(), 4);
    // the lock records each archive with its origin and decompressed-content hash
    let lock = data::lock::Lock::load(&dir.path().join("dl/datasets.lock")).unwrap();
    assert_eq!(lock.file.len(), 4);
    assert!(lock.file.iter().all(|e| e.origin.contains("127.0.0.1") && e.content_sha256.is_some()));
    let sha1 = lock.artifact("mnist").unwrap().sha256.clone();
    assert_eq!(sha1, pad::files::sha256_file(&out).unwrap());
    // cached: nothing downloaded again, same artifact
    data::fetch_to_artifact(&a).unwrap();
    std::fs::remove_file(&out).unwrap();
    let out = data::fetch_to_artifact(&a).unwrap().path;
    assert_eq!(srv.hits.load(Ordering::SeqCst), 4, "archives in the download dir are not fetched again");
    assert_eq!(pad::files::sha256_file(&out).unwrap(), sha1, "rebuild is byte-identical");
}

#[test]
fn http_errors_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start();
    // 404 on the second file
    let files = mnist_files(3, 2, false);
    srv.put(files[0].0, files[0].1.clone());
    let e = data::fetch_to_artifact(&args("mnist", dir.path(), &srv.base)).unwrap_err();
    assert!(
        matches!(&e, DataError::Http { url, detail } if url.ends_with("/train-labels-idx1-ubyte.gz") && detail.contains("404")),
        "{e}"
    );
    assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
    // wrong size: Content-Length says more than is sent
    let (name, body) = &files[1];
    srv.files.lock().unwrap().insert(format!("/{name}"), (200, body.clone(), body.len() + 100));
    let e = data::fetch_to_artifact(&args("mnist", dir.path(), &srv.base)).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("train-labels-idx1-ubyte.gz"), "{msg}");
    assert!(matches!(e, DataError::SizeMismatch { .. } | DataError::Http { .. }), "{e}");
    assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
}

#[test]
fn changed_mirror_file_is_a_hash_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start();
    for (n, b) in mnist_files(3, 2, false) {
        srv.put(n, b);
    }
    data::fetch_to_artifact(&args("mnist", dir.path(), &srv.base)).unwrap();
    std::fs::remove_file(dir.path().join("out.safetensors")).unwrap();
    // the origin now serves different bytes for a file the lock knows
    std::fs::remove_file(dir.path().join("dl/t10k-labels-idx1-ubyte.gz")).unwrap();
    srv.put("t10k-labels-idx1-ubyte.gz", gz(&data::idx::encode_idx(&[2], &[1, 1])));
    let e = data::fetch_to_artifact(&args("mnist", dir.path(), &srv.base)).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, DataError::HashMismatch { .. }), "{msg}");
    assert!(
        msg.contains("t10k-labels-idx1-ubyte.gz") && msg.contains("127.0.0.1") && msg.contains("expected"),
        "{msg}"
    );
    assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
    // a tampered archive already in the download dir is refused too
    std::fs::write(dir.path().join("dl/t10k-labels-idx1-ubyte.gz"), gz(&data::idx::encode_idx(&[2], &[3, 3]))).unwrap();
    let e = data::fetch_to_artifact(&args("mnist", dir.path(), &srv.base)).unwrap_err();
    assert!(matches!(&e, DataError::HashMismatch { from, .. } if from.contains("dl")), "{e}");
}

#[test]
fn fashion_content_hash_is_checked_and_bad_labels_leave_no_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let mirror = mirror_dir(dir.path(), mnist_files(3, 2, false));
    // synthetic files are not Fashion-MNIST: the published decompressed-content hash rejects them
    // (unless the caller says they are its own data: allow_unpublished)
    let strict =
        FetchRequest { allow_unpublished: false, ..args("fashion-mnist", dir.path(), mirror.to_str().unwrap()) };
    let e = data::fetch_to_artifact(&strict).unwrap_err();
    assert!(
        matches!(&e, DataError::HashMismatch { algo, file, .. } if algo.contains("content") && file == "train-images-idx3-ubyte.gz"),
        "{e}"
    );
    assert!(leftovers(dir.path()).is_empty());
    // label out of range in a file that verifies (mnist from a fresh mirror): decoded, refused
    mirror_dir(dir.path(), mnist_files(3, 2, true));
    let e = data::fetch_to_artifact(&args("mnist", dir.path(), mirror.to_str().unwrap())).unwrap_err();
    assert!(
        matches!(&e, DataError::LabelOutOfRange { path, label: 12, .. } if path.ends_with("train-labels-idx1-ubyte.gz")),
        "{e}"
    );
    assert!(!dir.path().join("out.safetensors").exists());
}

#[test]
fn mirror_files_must_match_published_hashes_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let mirror = mirror_dir(dir.path(), mnist_files(3, 2, false));
    let strict = FetchRequest { allow_unpublished: false, ..args("mnist", dir.path(), mirror.to_str().unwrap()) };
    let e = data::fetch_to_artifact(&strict).unwrap_err();
    assert!(
        matches!(&e, DataError::HashMismatch { algo: "md5", file, expected, .. }
        if file == "train-images-idx3-ubyte.gz" && expected == "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "{e}"
    );
    assert!(leftovers(dir.path()).is_empty());
    // CIFAR-10 from a mirror: the published size is checked first
    std::fs::write(mirror.join("cifar-10-binary.tar.gz"), b"not the archive").unwrap();
    let e = data::fetch_to_artifact(&FetchRequest { dataset: "cifar10".into(), ..strict.clone() }).unwrap_err();
    assert!(matches!(e, DataError::SizeMismatch { expected: 170_052_171, actual: 15, .. }), "{e}");
}

#[test]
fn svhn_from_scipy_fixture_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    std::fs::create_dir_all(&mirror).unwrap();
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    std::fs::copy(fx.join("svhn_tiny_z.mat"), mirror.join("train_32x32.mat")).unwrap();
    std::fs::copy(fx.join("svhn_tiny.mat"), mirror.join("test_32x32.mat")).unwrap();
    let out = data::fetch_to_artifact(&args("svhn", dir.path(), mirror.to_str().unwrap())).unwrap().path;
    let ds = data::load_artifact(&out).unwrap();
    assert_eq!((ds.channels, ds.train.n, ds.test.n), (3, 5, 5));
    assert_eq!(ds.train, ds.test);
    assert_eq!(ds.test.labels, vec![0, 1, 2, 9, 0]);
    // a .mat with a missing variable: clear error, no artifact
    std::fs::copy(fx.join("svhn_missing_y.mat"), mirror.join("test_32x32.mat")).unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let e = data::fetch_to_artifact(&args("svhn", dir2.path(), mirror.to_str().unwrap())).unwrap_err();
    assert!(matches!(&e, DataError::MatMissing { path, var } if var == "y" && path.ends_with("test_32x32.mat")), "{e}");
    assert!(leftovers(dir2.path()).is_empty());
}

#[test]
fn cli_end_to_end_image_folder() {
    let dir = tempfile::tempdir().unwrap();
    let png = data::image_folder::testing::png_bytes(40, 40, 3, &[9u8; 40 * 40 * 3]);
    let tgz = dir.path().join("shapes.tar.gz");
    std::fs::write(&tgz, data::targz::testing::targz(&[("train/x/1.png", &png), ("test/x/1.png", &png)])).unwrap();
    let run = |p: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_pad"))
            .args(["fetch", "image-folder", "--path"])
            .arg(p)
            .arg("--data-dir")
            .arg(dir.path().join("dl"))
            .output()
            .unwrap()
    };
    let o = run(&tgz);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("sha256") && stdout.contains("1 train"), "{stdout}");
    let ds = data::load_artifact(&dir.path().join("dl/shapes.safetensors")).unwrap();
    assert_eq!((ds.name.as_str(), ds.channels, ds.train.n), ("shapes", 3, 1));
    // bad image: non-zero exit, the message names the file, no artifact
    let bad = dir.path().join("broken.tar.gz");
    std::fs::write(&bad, data::targz::testing::targz(&[("train/x/1.png", &png), ("test/x/2.png", &png[..60])]))
        .unwrap();
    let o = run(&bad);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("2.png"), "{stderr}");
    assert!(!dir.path().join("dl/broken.safetensors").exists());
}

/// CIFAR-10 binary batches in a tar.gz: `labels` per batch, pixel value = record index.
fn cifar_archive(record_len: usize, label: u8) -> Vec<u8> {
    let batch = |labels: &[u8]| -> Vec<u8> {
        labels
            .iter()
            .enumerate()
            .flat_map(|(i, &l)| std::iter::once(l).chain(std::iter::repeat_n(i as u8, record_len - 1)))
            .collect()
    };
    let names: Vec<String> = (1..=5).map(|i| format!("cifar-10-batches-bin/data_batch_{i}.bin")).collect();
    let train = batch(&[1, 2]);
    let test = batch(&[label]);
    let mut files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), train.as_slice())).collect();
    files.push(("cifar-10-batches-bin/batches.meta.txt", b"airplane\n"));
    files.push(("cifar-10-batches-bin/test_batch.bin", &test));
    data::targz::testing::targz(&files)
}

#[test]
fn cifar10_over_http_and_bad_records() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start();
    srv.put("cifar-10-binary.tar.gz", cifar_archive(3073, 7));
    let out = data::fetch_to_artifact(&args("cifar10", dir.path(), &srv.base)).unwrap().path;
    let ds = data::load_artifact(&out).unwrap();
    assert_eq!((ds.channels, ds.train.n, ds.test.n, ds.test.labels[0]), (3, 10, 1, 7));
    assert_eq!(ds.classes[9], "truck");
    // wrong record length and label out of range: named, and no artifact
    for (archive, want) in
        [(cifar_archive(3072, 1), "not a whole number of 3073-byte records"), (cifar_archive(3073, 10), "label 10")]
    {
        let dir = tempfile::tempdir().unwrap();
        srv.put("cifar-10-binary.tar.gz", archive);
        let e = data::fetch_to_artifact(&args("cifar10", dir.path(), &srv.base)).unwrap_err().to_string();
        assert!(e.contains("cifar-10-binary.tar.gz") && e.contains(want), "{e}");
        assert!(leftovers(dir.path()).is_empty());
    }
    // a truncated archive (the transfer itself complete)
    let dir = tempfile::tempdir().unwrap();
    let full = cifar_archive(3073, 1);
    srv.put("cifar-10-binary.tar.gz", full[..full.len() * 2 / 3].to_vec());
    let e = data::fetch_to_artifact(&args("cifar10", dir.path(), &srv.base)).unwrap_err();
    assert!(matches!(e, DataError::Truncated { .. } | DataError::MissingMember { .. }), "{e}");
    assert!(leftovers(dir.path()).is_empty());
}

/// `pad ARGS` with its address space capped at `cap` bytes (as `prlimit --as` would): a process
/// that tried to allocate what a hostile file declares would abort (SIGABRT), not fail cleanly.
fn pad_capped(args: &[&std::ffi::OsStr], cap: u64) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pad"));
    cmd.args(args).env("RAYON_NUM_THREADS", "2");
    // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else of the parent.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit { rlim_cur: cap, rlim_max: cap };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

#[test]
fn a_decompression_bomb_in_an_image_folder_is_a_clear_error_under_a_memory_cap() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("shapes");
    let png = data::image_folder::testing::png_bytes(40, 40, 3, &[9u8; 40 * 40 * 3]);
    for p in ["train/x/1.png", "test/x/1.png"] {
        std::fs::create_dir_all(root.join(p).parent().unwrap()).unwrap();
        std::fs::write(root.join(p), &png).unwrap();
    }
    let dl = dir.path().join("dl");
    let fetch = |root: &Path| {
        let args =
            ["fetch".as_ref(), "image-folder".as_ref(), "--path".as_ref(), root.as_os_str(), "--data-dir".as_ref()];
        let mut args: Vec<&std::ffi::OsStr> = args.to_vec();
        args.push(dl.as_os_str());
        pad_capped(&args, 1 << 30)
    };
    // The cap leaves room for real work: the folder as it is decodes.
    let o = fetch(&root);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_dir_all(&dl).unwrap();

    // 1 MB on disk, a valid PNG of 16384 x 16384 RGBA pixels: 1 GiB decoded, the whole cap.
    let bomb = data::image_folder::testing::png_bomb(16_384, 16_384);
    assert!(bomb.len() < 2 << 20);
    std::fs::write(root.join("train/x/bomb.png"), &bomb).unwrap();
    let o = fetch(&root);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!((o.status.code(), o.status.signal()), (Some(1), None), "{stderr}");
    assert!(
        stderr.contains("train/x/bomb.png: image of 16384x16384 pixels, decoding to 1 GiB (4 bytes a pixel), is larger than pad reads (at most 128 MiB decoded per image)"),
        "{stderr}"
    );
    assert!(!dl.join("shapes.safetensors").exists() && leftovers(&dl).is_empty());

    // A header declaring 60000 x 60000 pixels (10.8 GB), as a JPEG this time.
    std::fs::remove_file(root.join("train/x/bomb.png")).unwrap();
    std::fs::write(root.join("test/x/big.jpg"), data::image_folder::testing::jpeg_header(60_000, 60_000)).unwrap();
    let o = fetch(&root);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!((o.status.code(), o.status.signal()), (Some(1), None), "{stderr}");
    assert!(
        stderr.contains(
            "test/x/big.jpg: image of 60000x60000 pixels is larger than pad reads (at most 16384 pixels a side)"
        ),
        "{stderr}"
    );
}
