//! counter (capabilities `io`, `kv`, `events`): counts hits per path in the
//! plugin's KV namespace and publishes `counter.updated` with the new
//! count.

use bitvault_pdk::{Error, events, export, kv};

/// Increments the counter of the path in the request and returns the new
/// count as decimal text.
pub fn hit(path: String) -> Result<String, Error> {
    let key = format!("hits:{path}");
    let count = match kv::get(key.as_bytes())? {
        Some(v) => String::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| Error::new(11, "stored count is corrupt"))?,
        None => 0,
    } + 1;
    kv::put(key.as_bytes(), count.to_string().as_bytes())?;
    events::emit("counter.updated", format!("{path}={count}").as_bytes())?;
    Ok(count.to_string())
}

/// Lists every counted path as `path=count` lines.
pub fn report(_: ()) -> Result<String, Error> {
    let mut out = String::new();
    for key in kv::keys(b"hits:")? {
        let value = kv::get(&key)?.unwrap_or_default();
        out.push_str(&String::from_utf8_lossy(&key[5..]));
        out.push('=');
        out.push_str(&String::from_utf8_lossy(&value));
        out.push('\n');
    }
    Ok(out)
}

export!(hit);
export!(report);

#[cfg(test)]
mod tests {
    use bitvault_pdk::testing::Host;

    #[test]
    fn counts_and_publishes() {
        let out = Host::new()
            .input(b"/a")
            .kv_entry(b"hits:/a", b"41")
            .topic("counter.*")
            .run(|| bitvault_pdk::run(super::hit));
        assert_eq!(out.output, b"42");
        assert_eq!(
            out.events,
            [("counter.updated".to_string(), b"/a=42".to_vec())]
        );
    }
}
