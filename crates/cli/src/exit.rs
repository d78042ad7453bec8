//! Exit statuses of `bitvault-plugin`: one table for every command, the
//! same with and without `--json`, documented in `docs/cli.md`.

use bitvault_runtime::ErrorKind;

/// The plugin ran (or the module was inspected) successfully.
pub const SUCCESS: u8 = 0;

/// A host error: a file could not be read, stdout could not be written, the
/// runtime could not start. No plugin outcome is reported.
pub const HOST_ERROR: u8 = 1;

// Exit status 2 is clap's, for bad arguments; nothing here returns it.

/// `verify` refused a package (its reason is in the message, and in the
/// `--json` object's `error.reason`).
pub const PACKAGE_REFUSED: u8 = 30;

/// The plugin host refused an admin command (`install`, `upgrade`,
/// `rollback`, `grant`, `revoke`, `trust`, `show`): the admission pipeline
/// or the install rules said no. Its `AdmissionError::reason` is in the
/// message and in the `--json` object's `error.reason`.
pub const ADMISSION_REFUSED: u8 = 31;

/// A registry failed: a reference that does not parse or is not there, a
/// blob whose digest or size is not the one that named it, a registry that
/// cannot be opened or reached. Its `RegistryError::reason` is in the
/// message and in the `--json` object's `error.reason`.
pub const REGISTRY_ERROR: u8 = 32;

/// `release` ran the conformance suites of the manifest's extension
/// points and a case failed: nothing was signed or pushed. The failed
/// cases are in the message and in the `--json` object's `error.failed`.
pub const CONFORMANCE_FAILED: u8 = 33;

/// The exit status of a failure of `kind`. Codes 10 to 21, in
/// [`ErrorKind::ALL`] order.
pub const fn code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::FuelExhausted => 10,
        ErrorKind::MemoryLimit => 11,
        ErrorKind::LimitExceeded => 12,
        ErrorKind::Deadline => 13,
        ErrorKind::Trap => 14,
        ErrorKind::StackExhausted => 15,
        ErrorKind::OutputLimit => 16,
        ErrorKind::CapabilityDenied => 17,
        ErrorKind::InvalidModule => 18,
        ErrorKind::MissingExport => 19,
        ErrorKind::PluginError => 20,
        ErrorKind::HostPanic => 21,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_follow_the_kind_order() {
        let codes: Vec<u8> = ErrorKind::ALL.iter().map(|k| code(*k)).collect();
        let expected: Vec<u8> = (10..10 + ErrorKind::ALL.len() as u8).collect();
        assert_eq!(codes, expected);
        let others = [
            SUCCESS,
            HOST_ERROR,
            2,
            PACKAGE_REFUSED,
            ADMISSION_REFUSED,
            REGISTRY_ERROR,
            CONFORMANCE_FAILED,
        ];
        for c in codes {
            assert!(!others.contains(&c));
        }
        for (i, a) in others.iter().enumerate() {
            assert!(!others[i + 1..].contains(a), "{a} is used twice");
        }
    }
}
