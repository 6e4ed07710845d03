//! `cargo xtask shape`: the size limits of the shipped code (issue 15).
//!
//! No file of the three crates' `src/` or the Node client's `src/` may be over
//! [`MAX_FILE_LINES`] lines (a Rust file counted up to its trailing `#[cfg(test)]`
//! module), and no function over [`MAX_FN_LINES`] lines. Rust is measured by parsing it
//! with `syn` (so a brace in a string cannot fool the count); TypeScript by the client's
//! own `scripts/shape.mjs`, which uses the TypeScript compiler's parser. A file or
//! function that must stay longer is named in `xtask/shape-exceptions.txt` with its
//! reason, so every exception is visible and reviewed.

use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// Longest file allowed, in lines, before its unit tests.
pub const MAX_FILE_LINES: usize = 400;
/// Longest function allowed, in lines, signature to closing brace.
pub const MAX_FN_LINES: usize = 60;

const RUST_DIRS: [&str; 4] = [
    "crates/kennel/src",
    "crates/kennel-cli/src",
    "crates/kennel-protocol/src",
    "crates/kennel-types/src",
];

/// One place over a limit.
#[derive(Debug, PartialEq, Eq)]
pub struct Over {
    /// `path` or `path:function`, relative to the repository root.
    pub what: String,
    /// Its length in lines.
    pub lines: usize,
    /// The limit it breaks.
    pub limit: usize,
}

/// Measure the Rust sources under the repository root.
pub fn rust(root: &Path) -> Result<Vec<Over>, String> {
    let mut over = Vec::new();
    for dir in RUST_DIRS {
        let mut files = Vec::new();
        collect(&root.join(dir), &mut files)?;
        for file in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("reading {}: {e}", file.display()))?;
            let rel = file
                .strip_prefix(root)
                .unwrap_or(&file)
                .display()
                .to_string();
            over.extend(measure(&rel, &text)?);
        }
    }
    Ok(over)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    Ok(())
}

/// Measure one Rust file.
pub fn measure(rel: &str, text: &str) -> Result<Vec<Over>, String> {
    let file = syn::parse_file(text).map_err(|e| format!("parsing {rel}: {e}"))?;
    let mut over = Vec::new();
    let body_end = file
        .items
        .iter()
        .find(|item| matches!(item, syn::Item::Mod(m) if is_cfg_test(&m.attrs)))
        .map(|item| line_of_item(item) - 1)
        .unwrap_or_else(|| text.lines().count());
    if body_end > MAX_FILE_LINES {
        over.push(Over {
            what: rel.to_string(),
            lines: body_end,
            limit: MAX_FILE_LINES,
        });
    }
    let mut fns = Fns {
        rel,
        over: &mut over,
    };
    fns.visit_file(&file);
    Ok(over)
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    }) || attrs.iter().any(|a| a.path().is_ident("test"))
}

fn line_of_item(item: &syn::Item) -> usize {
    use syn::spanned::Spanned;
    item.span().start().line
}

struct Fns<'a> {
    rel: &'a str,
    over: &'a mut Vec<Over>,
}

impl Fns<'_> {
    fn check(&mut self, name: &syn::Ident, sig: &syn::Signature, block: &syn::Block) {
        use syn::spanned::Spanned;
        let lines = block.span().end().line + 1 - sig.span().start().line;
        if lines > MAX_FN_LINES {
            self.over.push(Over {
                what: format!("{}:{name}", self.rel),
                lines,
                limit: MAX_FN_LINES,
            });
        }
    }
}

impl<'ast> Visit<'ast> for Fns<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_cfg_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_cfg_test(&f.attrs) {
            self.check(&f.sig.ident, &f.sig, &f.block);
            syn::visit::visit_item_fn(self, f);
        }
    }
    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_cfg_test(&f.attrs) {
            self.check(&f.sig.ident, &f.sig, &f.block);
            syn::visit::visit_impl_item_fn(self, f);
        }
    }
    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(block) = &f.default {
            self.check(&f.sig.ident, &f.sig, block);
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

/// The reviewed exceptions: lines `path[:function]  reason`; `#` starts a comment.
pub fn exceptions(root: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(root.join("xtask/shape-exceptions.txt")).unwrap_or_default();
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Check the limits: Rust here, TypeScript through the client's script. Prints every
/// place over a limit; fails if one is not a listed exception.
pub fn check(root: &Path, node: Option<&Path>) -> Result<(), String> {
    let mut over = rust(root)?;
    if let Some(node) = node {
        over.extend(typescript(root, node)?);
    }
    let allowed = exceptions(root);
    let mut failing = 0;
    for o in &over {
        let excused = allowed.iter().any(|a| a == &o.what);
        if !excused {
            failing += 1;
        }
        println!(
            "{:<9} {:>5} lines (limit {}) {}",
            if excused { "excepted" } else { "OVER" },
            o.lines,
            o.limit,
            o.what
        );
    }
    println!(
        "shape: {} place(s) over a limit, {failing} not excepted (files ≤ {MAX_FILE_LINES}, functions ≤ {MAX_FN_LINES} lines)",
        over.len()
    );
    if failing == 0 {
        Ok(())
    } else {
        Err(format!(
            "{failing} file(s)/function(s) over the size limits"
        ))
    }
}

fn typescript(root: &Path, node: &Path) -> Result<Vec<Over>, String> {
    let client = root.join("clients/node");
    if !client.join("node_modules/typescript").exists() {
        return Err(
            "clients/node/node_modules is missing: run the node stage (npm ci) first".into(),
        );
    }
    let out = std::process::Command::new(node)
        .arg("scripts/shape.mjs")
        .current_dir(&client)
        .output()
        .map_err(|e| format!("running node scripts/shape.mjs: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/shape.mjs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut over = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // "<lines> <limit> <what>"
        let mut parts = line.splitn(3, ' ');
        let (Some(lines), Some(limit), Some(what)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (Ok(lines), Ok(limit)) = (lines.parse(), limit.parse()) else {
            continue;
        };
        over.push(Over {
            what: format!("clients/node/{what}"),
            lines,
            limit,
        });
    }
    Ok(over)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_a_long_function_and_ignores_test_modules() {
        let body = "    let x = 1;\n".repeat(MAX_FN_LINES);
        let text = format!(
            "fn long() {{\n{body}}}\nfn short() {{}}\n#[cfg(test)]\nmod tests {{\n fn also_long() {{\n{body}}}\n}}\n"
        );
        let over = measure("a.rs", &text).unwrap();
        assert_eq!(
            over,
            vec![Over {
                what: "a.rs:long".into(),
                lines: MAX_FN_LINES + 2,
                limit: MAX_FN_LINES
            }]
        );
    }

    #[test]
    fn a_file_is_counted_up_to_its_test_module() {
        let items = "fn f() {}\n".repeat(MAX_FILE_LINES);
        let tests = "#[cfg(test)]\nmod tests {\n".to_string() + &"\n".repeat(500) + "}\n";
        assert!(measure("b.rs", &(items.clone() + &tests))
            .unwrap()
            .is_empty());
        let over = measure("b.rs", &(items + "fn g() {}\n" + &tests)).unwrap();
        assert_eq!(over.len(), 1);
        assert_eq!(over[0].lines, MAX_FILE_LINES + 1);
    }

    #[test]
    fn methods_and_trait_defaults_are_measured() {
        let body = "    1;\n".repeat(MAX_FN_LINES);
        let text = format!("struct S;\nimpl S {{\n    fn m() {{\n{body}    }}\n}}\ntrait T {{\n    fn d() {{\n{body}    }}\n}}\n");
        let names: Vec<_> = measure("c.rs", &text)
            .unwrap()
            .into_iter()
            .map(|o| o.what)
            .collect();
        assert_eq!(names, vec!["c.rs:m".to_string(), "c.rs:d".to_string()]);
    }
}
