//! An example plugin in Rust with the standard library and no PDK (crates.io
//! is not needed): it declares the Extism host functions it uses. The task
//! word_stats takes text (input = "text" in the manifest) and returns
//! {"words":N,"longest":"...","average_length":X} as JSON.
//!
//!   rustc --target wasm32-wasi --crate-type cdylib -O -o word_stats.wasm word_stats.rs

#[link(wasm_import_module = "extism:host/env")]
extern "C" {
    fn input_length() -> u64;
    fn input_load_u8(offset: u64) -> u8;
    fn alloc(length: u64) -> u64;
    fn store_u8(offset: u64, value: u8);
    fn output_set(offset: u64, length: u64);
    fn error_set(offset: u64);
}

fn input() -> Vec<u8> {
    let n = unsafe { input_length() };
    (0..n).map(|i| unsafe { input_load_u8(i) }).collect()
}

fn block(bytes: &[u8]) -> u64 {
    let off = unsafe { alloc(bytes.len() as u64) };
    for (i, b) in bytes.iter().enumerate() {
        unsafe { store_u8(off + i as u64, *b) };
    }
    off
}

/// json_string quotes s as a JSON string.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[no_mangle]
pub extern "C" fn word_stats() -> i32 {
    let raw = input();
    let text = match String::from_utf8(raw) {
        Ok(t) => t,
        Err(_) => {
            let msg = br#"{"taskhost_error":{"kind":"bad_input","message":"the text is not valid UTF-8","retryable":false}}"#;
            unsafe { error_set(block(msg)) };
            return 1;
        }
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    let longest = words.iter().fold("", |a, w| if w.chars().count() > a.chars().count() { w } else { a });
    let total: usize = words.iter().map(|w| w.chars().count()).sum();
    let average = if words.is_empty() { 0.0 } else { total as f64 / words.len() as f64 };
    let out = format!(
        "{{\"words\":{},\"longest\":{},\"average_length\":{}}}",
        words.len(),
        json_string(longest),
        (average * 100.0).round() / 100.0
    );
    unsafe { output_set(block(out.as_bytes()), out.len() as u64) };
    0
}
