//! The layering of src/, checked from the source text (the command that shows the module graph
//! has no cycles: `cargo test --test layering`).
//!
//! Every `crate::`, `super::`, `self::` and `pad::` path of every file under src/ (in `use`
//! statements and inline, comments and strings removed) is resolved to the file that defines
//! what it names, following the `pub use` re-exports of module files. Then:
//! (a) no file imports a file of a later layer (LAYERS, below: each layer may use itself and
//!     those before it);
//! (b) within a layer, files do not import each other in a circle.
//!
//! The re-exports of a mod.rs (or lib.rs) are its public face, not code that uses the module
//! they name: they count for (a) (a layer must not hand out a later layer's items) but are not
//! edges for (b) (a reference through them is already followed to the file behind them).
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The layers in order, each a list of path prefixes under the crate root; the longest matching
/// prefix decides a file's layer.
const LAYERS: &[(&str, &[&str])] = &[
    // Declarations of the library's modules only: lib.rs may import nothing.
    ("root", &["src/lib.rs"]),
    // Tensors and their ops: knows nothing of PAD or files.
    ("engine", &["src/engine/"]),
    // Writing files atomically, file errors with their path, hashing, the safetensors format.
    ("files", &["src/files/"]),
    ("data", &["src/data/"]),
    ("model", &["src/model/"]),
    ("train", &["src/train/"]),
    ("eval", &["src/eval/"]),
    ("report", &["src/report/"]),
    ("pipeline", &["src/pipeline/"]),
    // The binary's side: main.rs and its cli module, and `pad bench`.
    ("cli", &["src/main.rs", "src/cli/", "src/bench/"]),
];

/// Layers that must know nothing of some earlier ones: the report draws from plain data, not from
/// how results were made.
const KNOWS_NOTHING_OF: &[(&str, &[&str])] = &[("report", &["data", "model", "train", "eval"])];

fn layer_index(name: &str) -> usize {
    LAYERS.iter().position(|l| l.0 == name).expect("a layer of LAYERS")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Layer index of a file (path relative to the crate root, with forward slashes).
fn layer_of(rel: &str) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, (_, prefixes)) in LAYERS.iter().enumerate() {
        for p in prefixes.iter() {
            if rel.starts_with(p) && best.is_none_or(|(len, _)| p.len() > len) {
                best = Some((p.len(), i));
            }
        }
    }
    best.map(|b| b.1)
}

/// Replaces comments, string and character literals with spaces (newlines kept), so that only
/// code is searched for paths.
fn strip(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            loop {
                if i >= c.len() {
                    break;
                }
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
        } else if c[i] == 'r'
            && (i == 0 || !ident(c[i - 1]) || (c[i - 1] == 'b' && (i < 2 || !ident(c[i - 2]))))
            && matches!(next, Some('"') | Some('#'))
        {
            // A raw string r"..." or r#"..."# (the hashes must be followed by a quote).
            let mut j = i + 1;
            while c.get(j) == Some(&'#') {
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            out.extend(std::iter::repeat_n(' ', j + 1 - i));
            i = j + 1;
            while i < c.len() {
                if c[i] == '"' && (0..hashes).all(|k| c.get(i + 1 + k) == Some(&'#')) {
                    out.extend(std::iter::repeat_n(' ', hashes + 1));
                    i += hashes + 1;
                    break;
                }
                out.push(blank(c[i]));
                i += 1;
            }
        } else if c[i] == '"' {
            out.push(' ');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < c.len() {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c[i] == '\'' && (next == Some('\\') || (next.is_some() && c.get(i + 2) == Some(&'\''))) {
            // A character literal (a lifetime has no closing quote after one character).
            out.push(' ');
            i += 1;
            if c.get(i) == Some(&'\\') {
                out.push(' ');
                i += 1;
            }
            while i < c.len() && c[i] != '\'' {
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Expands a use tree (`a::{b, c::{d as e}, self}`) into full paths.
fn expand_use(tree: &str) -> Vec<Vec<String>> {
    fn split_top(s: &str) -> Vec<&str> {
        let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
        for (i, ch) in s.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&s[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&s[start..]);
        parts
    }
    fn go(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
        let tree = tree.trim();
        if tree.is_empty() {
            return;
        }
        if let Some(open) = tree.find('{') {
            let head: Vec<String> =
                tree[..open].split("::").map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let p: Vec<String> = prefix.iter().cloned().chain(head).collect();
            for part in split_top(inner) {
                go(&p, part, out);
            }
            return;
        }
        let path = tree.split(" as ").next().unwrap_or("");
        let mut p: Vec<String> = prefix.to_vec();
        for seg in path.split("::").map(str::trim).filter(|s| !s.is_empty()) {
            if seg == "self" && !p.is_empty() {
                continue; // `a::{self}` names a itself
            }
            p.push(seg.to_string());
        }
        if !p.is_empty() {
            out.push(p);
        }
    }
    let mut out = Vec::new();
    go(&[], tree, &mut out);
    out
}

/// A path found in a file: where it was (the module it was written in) and what it says.
struct Reference {
    module: Vec<String>,
    path: Vec<String>,
    in_use: bool,
    /// A `pub use` at the top level of the file.
    reexport: bool,
    line: usize,
}

struct SourceFile {
    rel: String,
    /// The binary's files resolve `crate::` in the binary.
    bin: bool,
    /// Module path of the file (without inline modules).
    module: Vec<String>,
    is_mod_file: bool,
    refs: Vec<Reference>,
    /// Names this file re-exports (`pub use`), with the path they stand for.
    reexports: BTreeMap<String, (Vec<String>, Vec<String>)>,
    /// Modules declared inline (`mod tests { ... }`), as full module paths.
    inline_mods: BTreeSet<Vec<String>>,
}

fn is_ident(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

fn scan(rel: &str, text: &str) -> SourceFile {
    let bin = rel == "src/main.rs" || rel.starts_with("src/cli/");
    let stem = rel.trim_start_matches("src/").trim_end_matches(".rs");
    let is_mod_file = stem.ends_with("/mod") || stem == "lib" || stem == "main" || stem == "mod";
    let mut module: Vec<String> = stem.split('/').map(String::from).collect();
    if is_mod_file {
        module.pop();
    }
    let code = strip(text);
    let c: Vec<char> = code.chars().collect();
    let mut f = SourceFile {
        rel: rel.to_string(),
        bin,
        module: module.clone(),
        is_mod_file,
        refs: Vec::new(),
        reexports: BTreeMap::new(),
        inline_mods: BTreeSet::new(),
    };
    // Stack of (inline module name, brace depth inside it).
    let mut mods: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut line = 1;
    let mut i = 0;
    let word_at = |i: usize, w: &str| -> bool {
        let wc: Vec<char> = w.chars().collect();
        (i == 0 || !is_ident(c[i - 1]))
            && c.len() >= i + wc.len()
            && c[i..i + wc.len()] == wc[..]
            && c.get(i + wc.len()).is_none_or(|&ch| !is_ident(ch))
    };
    let current = |mods: &Vec<(String, usize)>| -> Vec<String> {
        module.iter().cloned().chain(mods.iter().map(|m| m.0.clone())).collect()
    };
    while i < c.len() {
        match c[i] {
            '\n' => line += 1,
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if mods.last().is_some_and(|m| depth < m.1) {
                    mods.pop();
                }
            }
            _ => {}
        }
        if word_at(i, "mod") {
            // `mod name {` opens an inline module; `mod name;` declares a file module.
            let mut j = i + 3;
            while j < c.len() && c[j].is_whitespace() {
                j += 1;
            }
            let start = j;
            while j < c.len() && is_ident(c[j]) {
                j += 1;
            }
            let name: String = c[start..j].iter().collect();
            while j < c.len() && c[j].is_whitespace() {
                j += 1;
            }
            if !name.is_empty() && c.get(j) == Some(&'{') {
                let mut m = current(&mods);
                m.push(name.clone());
                f.inline_mods.insert(m);
                line += c[i..j].iter().filter(|&&ch| ch == '\n').count();
                depth += 1;
                mods.push((name, depth));
                i = j + 1;
                continue;
            }
        }
        if word_at(i, "use") {
            let end = (i..c.len()).find(|&j| c[j] == ';').unwrap_or(c.len());
            let tree: String = c[i + 3..end].iter().collect();
            // `pub use` / `pub(crate) use` just before, at the file's top level.
            let before: String = c[i.saturating_sub(20)..i].iter().collect();
            let before = before.trim_end();
            let public = before.ends_with("pub") || (before.ends_with(')') && before.contains("pub("));
            let reexport = public && mods.is_empty();
            let m = current(&mods);
            for path in expand_use(&tree) {
                if reexport {
                    let name = tree_alias(&tree, &path);
                    f.reexports.insert(name, (m.clone(), path.clone()));
                }
                f.refs.push(Reference { module: m.clone(), path, in_use: true, reexport, line });
            }
            line += c[i..end].iter().filter(|&&ch| ch == '\n').count();
            i = end;
            continue;
        }
        for start in ["crate", "super", "self", "pad"] {
            if word_at(i, start) && c.get(i + start.len()) == Some(&':') && c.get(i + start.len() + 1) == Some(&':') {
                let mut j = i;
                let mut path = Vec::new();
                loop {
                    let s = j;
                    while j < c.len() && is_ident(c[j]) {
                        j += 1;
                    }
                    path.push(c[s..j].iter().collect::<String>());
                    if c.get(j) == Some(&':')
                        && c.get(j + 1) == Some(&':')
                        && c.get(j + 2).is_some_and(|&ch| is_ident(ch))
                    {
                        j += 2;
                    } else {
                        break;
                    }
                }
                f.refs.push(Reference { module: current(&mods), path, in_use: false, reexport: false, line });
                i = j;
                break;
            }
        }
        i += 1;
    }
    f
}

/// The name a use path is bound to (its last segment, or the alias after `as`).
fn tree_alias(tree: &str, path: &[String]) -> String {
    let last = path.last().cloned().unwrap_or_default();
    let pat = format!("{last} as ");
    match tree.find(&pat) {
        Some(p) => tree[p + pat.len()..].split(|ch: char| !is_ident(ch)).next().unwrap_or(&last).to_string(),
        None => last,
    }
}

struct Crate {
    files: Vec<SourceFile>,
    /// (bin, module path) -> index of the file defining the module.
    modules: BTreeMap<(bool, Vec<String>), usize>,
    /// Modules the binary declares (`mod cli;` in main.rs).
    bin_mods: BTreeSet<String>,
}

impl Crate {
    fn load() -> Crate {
        let mut paths = Vec::new();
        let mut stack = vec![root().join("src")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    paths.push(p);
                }
            }
        }
        paths.sort();
        let files: Vec<SourceFile> = paths
            .iter()
            .map(|p| {
                let rel = p.strip_prefix(root()).unwrap().to_string_lossy().replace('\\', "/");
                scan(&rel, &std::fs::read_to_string(p).unwrap())
            })
            .collect();
        let modules = files.iter().enumerate().map(|(i, f)| ((f.bin, f.module.clone()), i)).collect();
        let main = std::fs::read_to_string(root().join("src/main.rs")).unwrap_or_default();
        let bin_mods = strip(&main)
            .split(';')
            .filter_map(|s| s.trim().strip_prefix("mod ").or_else(|| s.trim().strip_prefix("pub mod ")))
            .map(|s| s.trim().to_string())
            .collect();
        Crate { files, modules, bin_mods }
    }

    fn module_file(&self, bin: bool, m: &[String]) -> Option<usize> {
        // The binary's modules: main.rs and what it declares; everything else is the library's.
        let bin = bin && (m.is_empty() || self.bin_mods.contains(&m[0]));
        self.modules.get(&(bin, m.to_vec())).copied()
    }

    /// The file a path written in `module` of file `from` names, if it is one of ours.
    fn resolve(&self, from: usize, module: &[String], path: &[String], in_use: bool, hops: usize) -> Option<usize> {
        let f = &self.files[from];
        let (bin, mut abs): (bool, Vec<String>) = match path.first().map(String::as_str) {
            Some("crate") => (f.bin, Vec::new()),
            Some("pad") => (false, Vec::new()),
            Some("self") => (f.bin, module.to_vec()),
            Some("super") => (f.bin, module.to_vec()),
            Some(first) if in_use => {
                // A relative use path: a child module of the current module, else an external crate.
                let mut child = module.to_vec();
                child.push(first.to_string());
                let inline = self.files[from].inline_mods.contains(&child);
                if self.module_file(f.bin, &child).is_none() && !inline {
                    return None;
                }
                (f.bin, module.to_vec())
            }
            _ => return None,
        };
        let mut rest: &[String] = path;
        match path[0].as_str() {
            "crate" | "pad" | "self" => rest = &path[1..],
            "super" => {
                while rest.first().is_some_and(|s| s == "super") {
                    abs.pop();
                    rest = &rest[1..];
                }
            }
            _ => {}
        }
        // Walk down the modules; inline modules belong to the file that holds them.
        let mut file = self.module_file(bin, &abs);
        let mut k = 0;
        while k < rest.len() {
            let mut next = abs.clone();
            next.push(rest[k].clone());
            if let Some(i) = self.module_file(bin, &next) {
                file = Some(i);
                abs = next;
                k += 1;
            } else if file.is_some_and(|i| self.files[i].inline_mods.contains(&next)) {
                abs = next;
                k += 1;
            } else {
                break;
            }
        }
        let file = file?;
        // An item the module re-exports: the file behind the re-export.
        if let Some(name) = rest.get(k) {
            if let Some((m, target)) = self.files[file].reexports.get(name) {
                if hops < 8 && file != from {
                    let mut t = target.clone();
                    t.extend(rest[k + 1..].iter().cloned());
                    return self.resolve(file, m, &t, true, hops + 1).or(Some(file));
                }
            }
        }
        Some(file)
    }

    /// (from, to, line, re-export) for every reference between two different files of ours.
    fn edges(&self) -> Vec<(usize, usize, usize, bool)> {
        let mut out = Vec::new();
        for (i, f) in self.files.iter().enumerate() {
            for r in &f.refs {
                if let Some(j) = self.resolve(i, &r.module, &r.path, r.in_use, 0) {
                    if j != i {
                        out.push((i, j, r.line, r.reexport && f.is_mod_file));
                    }
                }
            }
        }
        out
    }
}

#[test]
fn every_file_has_a_layer() {
    let c = Crate::load();
    let unplaced: Vec<&str> = c.files.iter().filter(|f| layer_of(&f.rel).is_none()).map(|f| f.rel.as_str()).collect();
    assert!(unplaced.is_empty(), "files with no declared layer (add them to LAYERS): {unplaced:?}");
}

#[test]
fn no_module_imports_a_later_layer() {
    let c = Crate::load();
    let mut bad = BTreeSet::new();
    for (i, j, line, _) in c.edges() {
        let (a, b) = (&c.files[i].rel, &c.files[j].rel);
        if let (Some(la), Some(lb)) = (layer_of(a), layer_of(b)) {
            if lb > la {
                bad.insert(format!("{a}:{line} ({}) uses {b} ({})", LAYERS[la].0, LAYERS[lb].0));
            }
        }
    }
    let order: Vec<&str> = LAYERS.iter().map(|l| l.0).collect();
    assert!(bad.is_empty(), "layer order {order:?} broken by:\n  {}", bad.into_iter().collect::<Vec<_>>().join("\n  "));
}

#[test]
fn the_report_knows_nothing_of_how_results_were_made() {
    let c = Crate::load();
    let mut bad = BTreeSet::new();
    for (i, j, line, _) in c.edges() {
        let (a, b) = (&c.files[i].rel, &c.files[j].rel);
        for (layer, unknown) in KNOWS_NOTHING_OF {
            if layer_of(a) == Some(layer_index(layer)) && unknown.iter().any(|u| layer_of(b) == Some(layer_index(u))) {
                bad.insert(format!("{a}:{line} ({layer}) uses {b}"));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.into_iter().collect::<Vec<_>>().join("\n"));
}

/// Strongly connected components of more than one file (Tarjan), each sorted.
fn cycles(n: usize, adj: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    struct T<'a> {
        adj: &'a [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(t: &mut T, v: usize) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on[v] = true;
        for &w in t.adj[v].iter() {
            match t.index[w] {
                None => {
                    visit(t, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                _ => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t =
        T { adj, index: vec![None; n], low: vec![0; n], on: vec![false; n], stack: vec![], next: 0, out: vec![] };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn files_of_a_layer_do_not_import_each_other_in_a_circle() {
    let c = Crate::load();
    let n = c.files.len();
    let mut adj = vec![BTreeSet::new(); n];
    for (i, j, _, facade) in c.edges() {
        if !facade && layer_of(&c.files[i].rel) == layer_of(&c.files[j].rel) {
            adj[i].insert(j);
        }
    }
    let found: Vec<String> = cycles(n, &adj)
        .into_iter()
        .map(|comp| {
            let names: Vec<&str> = comp.iter().map(|&i| c.files[i].rel.as_str()).collect();
            let arrows: Vec<String> = comp
                .iter()
                .flat_map(|&i| adj[i].iter().filter(|j| comp.contains(j)).map(move |&j| (i, j)))
                .map(|(i, j)| format!("{} -> {}", c.files[i].rel, c.files[j].rel))
                .collect();
            format!("{names:?}: {}", arrows.join(", "))
        })
        .collect();
    assert!(found.is_empty(), "import cycles:\n  {}", found.join("\n  "));
}

/// The checker itself: paths in comments and strings are not references, re-exports are
/// followed, `super::` inside an inline test module is the file's own module.
#[test]
fn the_scanner_reads_paths_as_the_compiler_does() {
    let s = strip("let a = \"crate::x\"; // crate::y\n/* crate::z */ let c = 'c'; fn f<'a>() {} r#\"crate::w\"#");
    assert!(!s.contains("crate::"), "{s}");
    assert!(s.contains("fn f<'a>()"), "{s}");
    assert_eq!(
        expand_use("super::{a, b::{c, d as e}, self}"),
        vec![
            vec!["super".to_string(), "a".into()],
            vec!["super".into(), "b".into(), "c".into()],
            vec!["super".into(), "b".into(), "d".into()],
            vec!["super".into()]
        ]
    );
    let f = scan(
        "src/x/y.rs",
        "use super::z::W;\nfn g() { crate::q::r(); }\n#[cfg(test)]\nmod tests {\n use super::*;\n}\n",
    );
    let got: Vec<(Vec<String>, Vec<String>, usize)> =
        f.refs.iter().map(|r| (r.module.clone(), r.path.clone(), r.line)).collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        got,
        vec![
            (s(&["x", "y"]), s(&["super", "z", "W"]), 1),
            (s(&["x", "y"]), s(&["crate", "q", "r"]), 2),
            (s(&["x", "y", "tests"]), s(&["super", "*"]), 5),
        ]
    );
    let c = Crate::load();
    let idx = |rel: &str| c.files.iter().position(|f| f.rel == rel).unwrap();
    let lib = idx("src/lib.rs");
    let file = |p: &[&str]| c.resolve(lib, &[], &s(p), false, 0).map(|i| c.files[i].rel.clone());
    // A module's own file, an item of it, an inline module of it.
    assert_eq!(file(&["crate", "engine", "Shape4"]).as_deref(), Some("src/engine/mod.rs"));
    assert_eq!(file(&["crate", "engine", "rng", "Stream"]).as_deref(), Some("src/engine/rng.rs"));
    // Followed through `pub use` in model/mod.rs to the defining file.
    assert_eq!(file(&["crate", "model", "Encoder"]).as_deref(), Some("src/model/encoder.rs"));
}
