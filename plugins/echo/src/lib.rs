//! echo (capability `io`): the response is the request.

use bitvault_pdk::{Error, export};

/// Returns the request unchanged.
pub fn echo(request: Vec<u8>) -> Result<Vec<u8>, Error> {
    Ok(request)
}

export!(echo);

#[cfg(test)]
mod tests {
    use bitvault_pdk::testing::Host;

    #[test]
    fn echoes() {
        let out = Host::new()
            .input(b"abc")
            .run(|| bitvault_pdk::run(super::echo));
        assert_eq!((out.code, out.output), (0, b"abc".to_vec()));
    }
}
