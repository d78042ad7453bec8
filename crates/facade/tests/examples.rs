//! The example plugins under `examples/` run through the public API.

use anyhow::Result;
use bitvault_plugins::{CallContext, Grants, LimitPolicy, Runtime, RuntimeConfig};

#[test]
fn wordcount_counts_like_wc() -> Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/wordcount.wat");
    let wasm = wat::parse_file(path)?;
    let runtime = Runtime::new(RuntimeConfig::new())?;
    let plugin = runtime.load(&wasm, &Grants::core())?;
    let ctx = CallContext::new(LimitPolicy::standard().default);

    let out = plugin.invoke("count", b"hello world\n  foo\tbar\n\nbaz".to_vec(), &ctx);
    assert_eq!(
        String::from_utf8(out.result?)?,
        "{\"lines\":3,\"words\":5,\"bytes\":26}\n"
    );

    // Larger than one 4 KiB chunk, with a word spanning the boundary.
    let text = "ab ".repeat(2000) + "x";
    let out = plugin.invoke("count", text.clone().into_bytes(), &ctx);
    assert_eq!(
        String::from_utf8(out.result?)?,
        format!("{{\"lines\":0,\"words\":2001,\"bytes\":{}}}\n", text.len())
    );

    let out = plugin.invoke("count", Vec::new(), &ctx);
    assert_eq!(
        String::from_utf8(out.result?)?,
        "{\"lines\":0,\"words\":0,\"bytes\":0}\n"
    );
    Ok(())
}
