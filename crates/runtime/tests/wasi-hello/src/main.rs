//! A WASI command built with Rust's standard library for `wasm32-wasip1`:
//! what a plugin from a mainstream toolchain looks like to the host.
//!
//! It reads its standard input (the request, in stdio mode) and prints each
//! distinct word with its count, most frequent first, counting with a
//! `HashMap` (whose random keys come from `random_get`), then reports a
//! summary on standard error (the log). With no input it prints a greeting;
//! `exit N` ends it with `std::process::exit(N)`.

use std::collections::HashMap;
use std::io::Read;

fn main() {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .expect("standard input is readable");
    if input.is_empty() {
        println!("hello from wasm32-wasip1");
        return;
    }
    if let Some(code) = input.strip_prefix("exit ") {
        std::process::exit(code.trim().parse().unwrap_or(1));
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for word in input.split_whitespace() {
        *counts.entry(word).or_default() += 1;
    }
    let mut words: Vec<(&str, usize)> = counts.into_iter().collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (word, n) in &words {
        println!("{word} {n}");
    }
    eprintln!("{} distinct words", words.len());
}
