//! dice (capabilities `io`, `clock`, `random`): rolls a die and says when.

use bitvault_pdk::{Error, clock, export, random};

/// `{"roll":R,"at_ms":T}` with R in 1..=6 from the host's CSPRNG and T the
/// host's wall clock. Withheld randomness or clock is an error (code 12).
pub fn roll(_: ()) -> Result<String, Error> {
    let r = random::u64().map_err(|e| Error::new(12, format!("no randomness: {e}")))?;
    let at = clock::wall_ms().map_err(|e| Error::new(12, format!("no clock: {e}")))?;
    Ok(format!("{{\"roll\":{},\"at_ms\":{at}}}", r % 6 + 1))
}

export!(roll);

#[cfg(test)]
mod tests {
    use bitvault_pdk::testing::Host;

    #[test]
    fn rolls_with_both_capabilities_and_fails_without() {
        let out = Host::new()
            .clock(1_000)
            .random()
            .run(|| bitvault_pdk::run(super::roll));
        assert_eq!(out.code, 0, "{:?}", out.error);
        assert!(
            String::from_utf8(out.output)
                .unwrap()
                .ends_with("\"at_ms\":1000}")
        );
        let out = Host::new().run(|| bitvault_pdk::run(super::roll));
        assert_eq!(out.code, 12);
    }
}
