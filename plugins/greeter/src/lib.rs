//! greeter (capabilities `io`, `log`, `config`): greets the name in the
//! request with the configured greeting.

use bitvault_pdk::{Error, config, export, log};

/// `"<greeting>, <name>!"`, where `greeting` comes from the configuration
/// key `greeting` (default `Hello`). An empty name is an error (code 10).
pub fn greet(name: String) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::new(10, "no name to greet"));
    }
    let greeting = config::get("greeting")?.unwrap_or_else(|| "Hello".into());
    log::info(&format!("greeting {} bytes of name", name.len()));
    Ok(format!("{greeting}, {name}!"))
}

export!(greet);

#[cfg(test)]
mod tests {
    use bitvault_pdk::testing::Host;

    #[test]
    fn greets_with_the_configured_greeting() {
        let out = Host::new()
            .input(b"Ada")
            .config("greeting", "Bonjour")
            .run(|| bitvault_pdk::run(super::greet));
        assert_eq!(out.output, b"Bonjour, Ada!");
        let out = Host::new()
            .input(b" ")
            .run(|| bitvault_pdk::run(super::greet));
        assert_eq!(
            (out.code, out.error.as_deref()),
            (10, Some("no name to greet"))
        );
    }
}
