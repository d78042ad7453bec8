//! The package manifest and its canonical bytes.
//!
//! A manifest is JSON in one canonical form: object keys in ascending
//! byte order, no whitespace outside strings, no floating-point numbers,
//! each key once, UTF-8. [`Manifest::to_canonical`] writes that form, and
//! [`Manifest::from_canonical`] accepts only bytes already in it: it never
//! re-serialises what it was given, so the bytes a signature covers are the
//! bytes that are read.

use std::fmt;

use bitvault_abi::{Grants, Limits};
use serde::{Deserialize, Serialize};

/// The manifest format version this crate writes and reads.
pub const MANIFEST_SCHEMA: u32 = 1;

/// The module a manifest describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleRef {
    /// SHA-256 of the module bytes, 64 lower-case hex digits.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What a plugin package says about itself. The signature covers its
/// canonical bytes, which bind the module by digest, so neither the code
/// nor the requested capabilities can change without breaking it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_SCHEMA`].
    pub schema: u32,
    /// The plugin's name: 1 to 64 of `a-z`, `0-9` and `-`, starting with a
    /// letter or digit.
    pub name: String,
    /// Its version, semver (`1.2.0`, `2.0.0-rc.1`).
    pub version: String,
    /// The publisher: 1 to 128 of `a-z`, `0-9`, `-` and `.`; bound to the
    /// signing key by the trust policy.
    pub publisher: String,
    /// A one-line description.
    pub description: String,
    /// The extension points implemented, by name (`search`).
    pub extension_points: Vec<String>,
    /// The event types handled, for event handlers.
    pub event_types: Vec<String>,
    /// The capabilities requested, with their scopes.
    pub capabilities: Grants,
    /// The limits requested; absent for the host's defaults.
    pub limits: Option<Limits>,
    /// The ABI version the module was built for.
    pub abi_version: u32,
    /// The module.
    pub module: ModuleRef,
}

/// Why manifest bytes are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestError {
    /// Not JSON, or not a manifest (a missing, unknown or mistyped field).
    Syntax(String),
    /// Valid JSON, but not the canonical bytes of its value.
    NotCanonical,
    /// A float, which the canonical form does not allow.
    Float,
    /// A field with a value outside its rules.
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestError::Syntax(m) => write!(f, "not a manifest: {m}"),
            ManifestError::NotCanonical => f.write_str(
                "manifest bytes are not canonical (sorted keys, no whitespace, each key once)",
            ),
            ManifestError::Float => f.write_str("manifest contains a floating-point number"),
            ManifestError::Field { field, problem } => {
                write!(f, "manifest field `{field}`: {problem}")
            }
        }
    }
}

impl std::error::Error for ManifestError {}

fn has_float(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) => n.is_f64(),
        serde_json::Value::Array(a) => a.iter().any(has_float),
        serde_json::Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}

fn field(field: &'static str, problem: impl Into<String>) -> ManifestError {
    ManifestError::Field {
        field,
        problem: problem.into(),
    }
}

/// Whether `name` is 1 to `max` bytes of `a-z`, `0-9` and `extra`, not
/// starting with one of `extra`.
fn is_name(name: &str, max: usize, extra: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || extra.contains(&b))
        && !extra.contains(&name.as_bytes()[0])
}

impl Manifest {
    /// Checks the fields' rules.
    ///
    /// # Errors
    /// [`ManifestError::Field`] for the first field that breaks its rule.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.schema != MANIFEST_SCHEMA {
            return Err(field(
                "schema",
                format!("{} is not {MANIFEST_SCHEMA}", self.schema),
            ));
        }
        if !is_name(&self.name, 64, b"-") {
            return Err(field("name", "1 to 64 of a-z, 0-9 and -"));
        }
        if semver::Version::parse(&self.version).is_err() {
            return Err(field(
                "version",
                format!("`{}` is not a semver version", self.version),
            ));
        }
        if !is_name(&self.publisher, 128, b"-.") {
            return Err(field("publisher", "1 to 128 of a-z, 0-9, - and ."));
        }
        let hex = |s: &str| {
            s.len() == 64
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !hex(&self.module.sha256) {
            return Err(field("module.sha256", "64 lower-case hex digits"));
        }
        if self.abi_version != bitvault_abi::ABI_VERSION {
            return Err(field(
                "abi_version",
                format!(
                    "{} is not this host's {}",
                    self.abi_version,
                    bitvault_abi::ABI_VERSION
                ),
            ));
        }
        Ok(())
    }

    /// The canonical bytes: what is signed and stored.
    ///
    /// # Errors
    /// [`ManifestError::Field`] when the manifest breaks a rule.
    pub fn to_canonical(&self) -> Result<Vec<u8>, ManifestError> {
        self.validate()?;
        // serde_json's map keeps keys sorted, and `to_vec` writes no
        // whitespace: a value's bytes are its canonical form.
        let value = serde_json::to_value(self).map_err(|e| ManifestError::Syntax(e.to_string()))?;
        serde_json::to_vec(&value).map_err(|e| ManifestError::Syntax(e.to_string()))
    }

    /// Reads canonical bytes, refusing any other form of the same value.
    ///
    /// # Errors
    /// [`ManifestError`]: not a manifest, not canonical, a float, or a field
    /// out of its rules.
    pub fn from_canonical(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Syntax(e.to_string()))?;
        if has_float(&value) {
            return Err(ManifestError::Float);
        }
        let again = serde_json::to_vec(&value).map_err(|e| ManifestError::Syntax(e.to_string()))?;
        if again != bytes {
            return Err(ManifestError::NotCanonical);
        }
        let manifest: Manifest =
            serde_json::from_value(value).map_err(|e| ManifestError::Syntax(e.to_string()))?;
        // A field that serialises differently from how it was read (a
        // default filled in) would not be canonical either.
        if manifest.to_canonical()? != bytes {
            return Err(ManifestError::NotCanonical);
        }
        Ok(manifest)
    }
}
