//! Checks of a crate's source layout that its tests run: the module import graph (from `use`
//! statements and paths in code) and a cycle in it. Used by infer-core, host-trainer and the
//! int8 compiler, whose modules import in one direction only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, sorted.
pub fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a source file: `kernels/x86/mod.rs` → `kernels::x86`, `lib.rs` → ``.
pub fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    parts.join("::")
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() { b.to_string() } else { std::format!("{a}::{b}") }
}

fn parent(m: &str) -> String {
    m.rsplit_once("::").map(|(p, _)| p.to_string()).unwrap_or_default()
}

/// The code of a file without comments, string literals (so doc links and messages are not
/// read as paths) and its inline `#[cfg(test)] mod tests` (whose `super` is the file itself).
pub fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or("");
    let mut out = String::new();
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("");
        let mut in_str = false;
        for ch in line.chars() {
            if ch == '"' {
                in_str = !in_str;
            } else if !in_str {
                out.push(ch);
            }
        }
        out.push('\n');
    }
    out
}

/// Expands a `use` tree (`a::{b, c::{d, e}}`) into full paths.
fn expand(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim().trim_end_matches("::");
        let inner = &tree[open + 1..tree.rfind('}').unwrap()];
        let base = if prefix.is_empty() { head.to_string() } else { std::format!("{prefix}::{head}") };
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&inner[start..i], &base, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&inner[start..], &base, out);
    } else if !tree.is_empty() {
        let t = tree.split(" as ").next().unwrap().trim();
        out.push(if prefix.is_empty() { t.to_string() } else { std::format!("{prefix}::{t}") });
    }
}

/// The module a path written in module `m` refers to: the longest known module it names.
fn resolve(m: &str, path: &str, children: &BTreeSet<String>, modules: &BTreeSet<String>) -> Option<String> {
    let mut segs: Vec<&str> = path.split("::").map(str::trim).filter(|s| !s.is_empty()).collect();
    let mut base = match segs.first().copied() {
        Some("crate") => String::new(),
        Some("super") => parent(m),
        Some("self") => m.to_string(),
        Some(s) if children.contains(s) => {
            segs.insert(0, "self");
            m.to_string()
        }
        _ => return None,
    };
    segs.remove(0);
    while segs.first() == Some(&"super") {
        base = parent(&base);
        segs.remove(0);
    }
    let mut best = base.clone();
    for s in segs {
        let next = join(&base, s);
        if modules.contains(&next) {
            best = next.clone();
            base = next;
        } else {
            break;
        }
    }
    Some(best)
}

/// Module → the modules it refers to (through `use` and through paths in code), for the crate
/// whose sources are in `src`.
pub fn import_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let src = src.to_path_buf();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph = BTreeMap::new();
    for f in &files {
        let m = module_of(&src, f);
        let text = code(&std::fs::read_to_string(f).unwrap());
        let children: BTreeSet<String> = modules
            .iter()
            .filter(|c| parent(c) == m && !c.is_empty())
            .map(|c| c.rsplit("::").next().unwrap().to_string())
            .collect();
        let mut paths = Vec::new();
        // `use` statements (they may span lines; attributes and visibility before them).
        let flat = text.replace('\n', " ");
        for stmt in flat.split(';') {
            let mut s = stmt.rsplit(['{', '}']).next().unwrap_or("").trim();
            if stmt.contains("use ") && stmt.contains('{') {
                // A braced use tree: `use a::{b, c}` (split at its own braces above).
                if let Some(at) = stmt.rfind("use ") {
                    s = stmt[at..].trim();
                }
            }
            while let Some(rest) = s.strip_prefix("#[") {
                s = rest.split_once(']').map_or("", |(_, r)| r).trim();
            }
            let s = s.strip_prefix("pub(crate) ").or_else(|| s.strip_prefix("pub ")).unwrap_or(s);
            if let Some(tree) = s.strip_prefix("use ") {
                expand(tree, "", &mut paths);
            }
        }
        // Paths in code: `crate::a::b`, `super::x`, `child::f`.
        let bytes: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_alphabetic() || bytes[i] == '_' {
                let start = i;
                while i < bytes.len() && (bytes[i].is_alphanumeric() || bytes[i] == '_' || bytes[i] == ':') {
                    i += 1;
                }
                let word: String = bytes[start..i].iter().collect();
                let before = if start > 0 { bytes[start - 1] } else { ' ' };
                // A word ending in `::` is a use tree's prefix (`a::{b, c}`), read with the `use`.
                if word.contains("::") && before != ':' && !word.ends_with("::") {
                    paths.push(word);
                }
            } else {
                i += 1;
            }
        }
        let deps: BTreeSet<String> =
            paths.iter().filter_map(|p| resolve(&m, p, &children, &modules)).filter(|d| *d != m).collect();
        graph.insert(m, deps);
    }
    graph
}

/// A cycle through the graph, if any (depth-first search).
pub fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            match state.get(d.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == d).unwrap();
                    let mut c = stack[at..].to_vec();
                    c.push(d.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(d, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, graph, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

/// Panics with the cycle, if the crate in `src` has one; returns the graph otherwise.
pub fn assert_no_cycle(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let graph = import_graph(src);
    if let Some(c) = find_cycle(&graph) {
        panic!("import cycle in {}: {}", src.display(), c.join(" -> "));
    }
    graph
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cycle_finder_finds_a_cycle() {
        let mut g = BTreeMap::new();
        g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
        g.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
        g.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
        assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
        g.insert("c".to_string(), BTreeSet::new());
        assert!(find_cycle(&g).is_none());
    }

    /// A crate on disk with a cycle through `use` and through a path in code.
    #[test]
    fn a_cycle_in_real_sources_is_found() {
        let dir = std::env::temp_dir().join(format!("layout-check-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("k")).unwrap();
        std::fs::write(dir.join("lib.rs"), "mod a;\nmod k;\n").unwrap();
        std::fs::write(dir.join("a.rs"), "use crate::k::{b, c::D};\n").unwrap();
        std::fs::write(dir.join("k/mod.rs"), "pub mod b;\npub mod c;\n").unwrap();
        std::fs::write(dir.join("k/b.rs"), "// use crate::a; (a comment)\npub fn f() {}\n").unwrap();
        std::fs::write(dir.join("k/c.rs"), "pub struct D;\nfn g() { crate::a::h(); }\n").unwrap();
        let graph = import_graph(&dir);
        assert_eq!(graph["a"], BTreeSet::from(["k::b".to_string(), "k::c".to_string()]));
        assert!(graph["k::b"].is_empty(), "comments are not imports: {graph:?}");
        assert_eq!(find_cycle(&graph).unwrap(), ["a", "k::c", "a"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
