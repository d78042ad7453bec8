//! Holds `include/bitvault.h` in step with the Rust definitions of the ABI:
//! the version, every error code, every log level and every host function
//! import with its C signature. Plain string parsing of the header.

use std::collections::BTreeMap;

use bitvault_abi::{ABI_VERSION, ErrorCode, HostFn, LogLevel, NAMESPACE, ValType};

fn header() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/bitvault.h");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// The header with `/* */` and `//` comments removed, so that names in prose
/// are not mistaken for declarations.
fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("/*") {
            let end = after
                .find("*/")
                .expect("unterminated comment in bitvault.h");
            out.push(' ');
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix("//") {
            rest = after.find('\n').map_or("", |end| &after[end..]);
        } else {
            let ch = rest.chars().next().expect("rest is not empty");
            out.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
    }
    out
}

/// Every object-like `#define NAME VALUE`, by name.
fn defines(src: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in src.lines() {
        let Some(rest) = line.trim().strip_prefix("#define") else {
            continue;
        };
        let rest = rest.trim();
        let (name, value) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let previous = out.insert(name.to_owned(), value.trim().to_owned());
        assert!(previous.is_none(), "`{name}` is defined twice");
    }
    out
}

/// The string literal argument of `attr("…")` inside `text`, if present.
fn attr_arg<'a>(text: &'a str, attr: &str) -> Option<&'a str> {
    let start = text.find(&format!("{attr}(\""))? + attr.len() + 2;
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

/// One imported function as the header declares it.
#[derive(Debug)]
struct Import {
    module: String,
    name: String,
    c_name: String,
    result: String,
    params: Vec<String>,
}

/// Every declaration that carries an `import_name` attribute.
fn imports(code: &str) -> Vec<Import> {
    let mut out = Vec::new();
    for decl in code.split(';') {
        let Some(at) = decl.find("import_name(") else {
            continue;
        };
        let attr_start = decl[..at]
            .rfind("__attribute__")
            .expect("import_name outside an __attribute__");
        let decl = &decl[attr_start..];
        // Skip the attribute's balanced parentheses.
        let mut depth = 0;
        let mut attr_end = None;
        for (i, ch) in decl.char_indices() {
            match ch {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        attr_end = Some(i + 1);
                        break;
                    }
                }
                _ => {}
            }
        }
        let attr_end = attr_end.expect("unbalanced __attribute__");
        let attr = &decl[..attr_end];
        let func = decl[attr_end..].trim();
        let open = func.find('(').expect("function declarator without `(`");
        let close = func.rfind(')').expect("function declarator without `)`");
        let mut head = func[..open].split_whitespace().collect::<Vec<_>>();
        let c_name = head.pop().expect("function without a name").to_owned();
        let params = match func[open + 1..close].trim() {
            "" | "void" => Vec::new(),
            list => list
                .split(',')
                .map(|p| {
                    // The type without the parameter's name.
                    let words: Vec<_> = p.split_whitespace().collect();
                    words[..words.len().saturating_sub(1).max(1)].join(" ")
                })
                .collect(),
        };
        out.push(Import {
            module: attr_arg(attr, "import_module")
                .expect("import without import_module")
                .to_owned(),
            name: attr_arg(attr, "import_name")
                .expect("malformed import_name")
                .to_owned(),
            c_name,
            result: head.join(" "),
            params,
        });
    }
    out
}

fn c_type(t: ValType) -> &'static str {
    match t {
        ValType::I32 => "int32_t",
        ValType::I64 => "int64_t",
    }
}

#[test]
fn abi_version_matches() {
    let defs = defines(&strip_comments(&header()));
    assert_eq!(
        defs.get("BITVAULT_ABI_VERSION").map(String::as_str),
        Some(ABI_VERSION.to_string().as_str())
    );
    assert_eq!(NAMESPACE, format!("bitvault_v{ABI_VERSION}"));
}

#[test]
fn every_error_code_is_defined_with_its_value_and_no_others() {
    let defs = defines(&strip_comments(&header()));
    let expected: BTreeMap<String, String> = ErrorCode::ALL
        .iter()
        .map(|c| {
            (
                format!("BITVAULT_ERR_{}", c.name().to_uppercase()),
                format!("({})", c.code()),
            )
        })
        .collect();
    let found: BTreeMap<String, String> = defs
        .into_iter()
        .filter(|(name, _)| name.starts_with("BITVAULT_ERR_"))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn every_log_level_is_defined_with_its_value_and_no_others() {
    let defs = defines(&strip_comments(&header()));
    let expected: BTreeMap<String, String> = (-16..16)
        .filter_map(LogLevel::from_i32)
        .map(|l| {
            (
                format!("BITVAULT_LOG_{}", l.name().to_uppercase()),
                (l as i32).to_string(),
            )
        })
        .collect();
    assert_eq!(expected.len(), 5, "the ABI has five log levels");
    let found: BTreeMap<String, String> = defs
        .into_iter()
        .filter(|(name, _)| name.starts_with("BITVAULT_LOG_"))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn every_host_function_is_declared_with_its_signature_and_no_others() {
    let imports = imports(&strip_comments(&header()));
    let mut names: Vec<_> = imports.iter().map(|i| i.name.as_str()).collect();
    names.sort_unstable();
    let mut expected: Vec<_> = HostFn::ALL.iter().map(|f| f.name()).collect();
    expected.sort_unstable();
    assert_eq!(names, expected, "imports declared in bitvault.h");

    for f in HostFn::ALL {
        let decl = imports
            .iter()
            .find(|i| i.name == f.name())
            .expect("checked above");
        let sig = f.signature();
        assert_eq!(decl.module, NAMESPACE, "{f}: import_module");
        assert_eq!(decl.c_name, format!("bitvault_{}", f.name()), "{f}: C name");
        assert_eq!(
            decl.params.len(),
            sig.params.len(),
            "{f}: parameter count of {decl:?}"
        );
        let params: Vec<_> = sig.params.iter().map(|t| c_type(*t)).collect();
        assert_eq!(decl.params, params, "{f}: parameter types");
        let result = match sig.results {
            [] => "void",
            [t] => c_type(*t),
            many => panic!("{f}: {} results cannot be declared in C", many.len()),
        };
        assert_eq!(decl.result, result, "{f}: result type");
    }
}

#[test]
fn the_export_helper_is_defined() {
    let defs = defines(&strip_comments(&header()));
    assert_eq!(
        defs.get("BITVAULT_EXPORT(name)").map(String::as_str),
        Some("__attribute__((export_name(#name)))")
    );
}
