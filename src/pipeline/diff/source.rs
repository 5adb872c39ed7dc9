//! The two sides of a diff: a git revision (files read with `git cat-file`, so nothing is checked
//! out) or a directory on disk (the working tree, or a results tree copied from elsewhere).
use super::error::DiffError;
use crate::files::At;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where the files of one side come from.
#[derive(Debug, Clone)]
enum Store {
    /// A commit of the repository around the current directory (its full hash).
    Git { rev: String, commit: String },
    /// Files on disk.
    Files,
}

/// One side: its label, and where its profile's results and its experiment file are.
#[derive(Debug, Clone)]
pub struct Source {
    store: Store,
    /// How the report names this side: "HEAD (450e806)", "working tree", a directory.
    pub label: String,
    /// results/<profile> (a path of the repository for a revision, else on disk).
    pub results: PathBuf,
    /// The experiment file (pipeline.toml), same convention.
    pub config: PathBuf,
}

/// Where the working tree keeps results and the experiment file (`--results`, `--config`).
#[derive(Debug, Clone)]
pub struct Layout {
    pub profile: String,
    pub results: PathBuf,
    pub config: PathBuf,
}

impl Source {
    /// The working tree: `<results>/<profile>` and the experiment file as given.
    pub fn work_tree(l: &Layout) -> Source {
        Source {
            store: Store::Files,
            label: "working tree".into(),
            results: l.results.join(&l.profile),
            config: l.config.clone(),
        }
    }

    /// A command-line side: an existing directory (see `directory`), else a git revision.
    pub fn resolve(arg: &str, l: &Layout) -> Result<Source, DiffError> {
        let dir = Path::new(arg);
        if dir.is_dir() {
            return directory(dir, l);
        }
        let commit = commit_of(arg)?;
        // "HEAD~1 (450e806)"; a hash names itself.
        let short = &commit[..commit.len().min(7)];
        let label = if commit.starts_with(arg) { arg.to_string() } else { format!("{arg} ({short})") };
        Ok(Source {
            store: Store::Git { rev: arg.into(), commit },
            label,
            results: l.results.join(&l.profile),
            config: l.config.clone(),
        })
    }

    /// The file at `path` on this side, or None where it does not exist.
    pub fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, DiffError> {
        match &self.store {
            Store::Files if path.is_file() => std::fs::read(path).at(path).map(Some).map_err(DiffError::from),
            Store::Files => Ok(None),
            Store::Git { commit, .. } => {
                let object = format!("{commit}:{}", repo_path(path)?);
                if object_type(&object)?.as_deref() != Some("blob") {
                    return Ok(None);
                }
                Ok(Some(git(&["cat-file", "blob", &object])?.stdout))
            }
        }
    }

    /// The names of the CSV tables in this side's results/<profile>/ (sorted), or None where the
    /// directory does not exist.
    pub fn tables(&self) -> Result<Option<Vec<String>>, DiffError> {
        let mut names = match &self.store {
            Store::Files if self.results.is_dir() => {
                let rd = std::fs::read_dir(&self.results).at(&self.results)?;
                let mut v = Vec::new();
                for e in rd {
                    let e = e.at(&self.results)?;
                    if e.path().is_file() {
                        v.push(e.file_name().to_string_lossy().into_owned());
                    }
                }
                v
            }
            Store::Files => return Ok(None),
            Store::Git { commit, .. } => {
                let object = format!("{commit}:{}", repo_path(&self.results)?);
                if object_type(&object)?.as_deref() != Some("tree") {
                    return Ok(None);
                }
                // --full-tree: otherwise ls-tree run in a subdirectory filters the entries by it.
                let out = git(&["ls-tree", "--full-tree", "-z", &object])?;
                String::from_utf8_lossy(&out.stdout)
                    .split('\0')
                    .filter_map(|entry| entry.split_once('\t').filter(|(meta, _)| meta.contains(" blob ")))
                    .map(|(_, name)| name.to_string())
                    .collect()
            }
        };
        names.retain(|n| n.ends_with(".csv") && !n.starts_with('.'));
        names.sort();
        Ok(Some(names))
    }

    /// How an error names a file of this side: "HEAD~1:results/demo/x.csv" or the path on disk.
    pub fn name(&self, path: &Path) -> String {
        match &self.store {
            Store::Git { rev, .. } => format!("{rev}:{}", path.display()),
            Store::Files => path.display().to_string(),
        }
    }
}

/// A directory argument is, in this order of checks: a results root (it has `<profile>/`), a
/// profile's results directory (it holds .csv tables), or a checkout (it has
/// `<results>/<profile>/`). The experiment file is looked for beside the results root (in the
/// checkout for the last form); a side without one reports its configuration as not recorded.
fn directory(dir: &Path, l: &Layout) -> Result<Source, DiffError> {
    let config_name = l.config.file_name().map(PathBuf::from).unwrap_or_else(|| "pipeline.toml".into());
    let beside = |root: &Path| root.parent().unwrap_or(Path::new("")).join(&config_name);
    let label = dir.display().to_string();
    let has_csv = std::fs::read_dir(dir)
        .at(dir)?
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().ends_with(".csv"));
    let (results, config) = if dir.join(&l.profile).is_dir() {
        (dir.join(&l.profile), beside(dir))
    } else if has_csv {
        (dir.to_path_buf(), beside(dir.parent().unwrap_or(Path::new(""))))
    } else if dir.join(&l.results).join(&l.profile).is_dir() {
        (dir.join(&l.results).join(&l.profile), dir.join(&l.config))
    } else {
        return Err(DiffError::Directory {
            dir: dir.into(),
            msg: format!(
                "not a results root (no {p}/), a profile's results (no .csv tables) or a checkout (no {r}/{p}/)",
                p = l.profile,
                r = l.results.display()
            ),
        });
    };
    Ok(Source { store: Store::Files, label, results, config })
}

/// Runs git with `args` in the current directory; a failure carries git's own message.
fn git(args: &[&str]) -> Result<Output, DiffError> {
    let out = run_git(args)?;
    if !out.status.success() {
        return Err(DiffError::Git {
            args: args.join(" "),
            msg: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out)
}

/// Runs git, whatever its exit status; only a git that cannot be started is an error.
fn run_git(args: &[&str]) -> Result<Output, DiffError> {
    Command::new("git").args(args).output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DiffError::GitMissing { rev: args.last().copied().unwrap_or("").into() },
        _ => DiffError::Git { args: args.join(" "), msg: e.to_string() },
    })
}

/// The full hash of the commit `rev` names.
fn commit_of(rev: &str) -> Result<String, DiffError> {
    let unknown = |why: String| DiffError::UnknownRevision { rev: rev.into(), why };
    if rev.starts_with('-') {
        return Err(unknown(String::new()));
    }
    let spec = format!("{rev}^{{commit}}");
    let out = run_git(&["rev-parse", "--verify", "--quiet", "--end-of-options", &spec]).map_err(|e| match e {
        DiffError::GitMissing { .. } => DiffError::GitMissing { rev: rev.into() },
        e => e,
    })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    // Say why: outside a repository git knows no revision at all.
    let repo = run_git(&["rev-parse", "--git-dir"])?;
    if !repo.status.success() {
        return Err(unknown(format!(" (the current directory is not in a git repository: {})", stderr(&repo))));
    }
    Err(unknown(String::new()))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

/// "blob", "tree", ... for an object name like `<commit>:<path>`, None where it does not exist.
fn object_type(object: &str) -> Result<Option<String>, DiffError> {
    let out = run_git(&["cat-file", "-t", object])?;
    Ok(out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
}

/// A path as a revision's file name: relative paths are taken from the current directory
/// (git's `./` form), absolute ones must lie inside the repository.
fn repo_path(path: &Path) -> Result<String, DiffError> {
    if path.is_relative() {
        return Ok(format!("./{}", path.display()));
    }
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let top = PathBuf::from(String::from_utf8_lossy(&top.stdout).trim());
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (top, path) = (canonical(&top), canonical(path));
    path.strip_prefix(&top).map(|p| p.display().to_string()).map_err(|_| DiffError::Malformed {
        file: path.display().to_string(),
        msg: format!("not inside the git repository at {}", top.display()),
    })
}
