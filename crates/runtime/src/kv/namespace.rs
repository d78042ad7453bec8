//! [`Namespace`]: the (tenant, plugin[, path]) scope of a plugin's keys and
//! its self-delimiting storage encoding.

use super::KvError;

/// The longest tenant, in bytes.
pub const MAX_TENANT_BYTES: usize = 255;
/// The longest plugin name, in bytes.
pub const MAX_PLUGIN_BYTES: usize = 255;
/// The longest path a namespace may be narrowed to, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;

/// Presence byte: the namespace is not narrowed to a path.
const NO_PATH: u8 = 0x00;
/// Presence byte: a length-prefixed path follows.
const PATH: u8 = 0x01;

/// The scope of a plugin's keys: a tenant and a plugin name (not its
/// version, so data survives upgrades), optionally narrowed to a path.
///
/// Only the host builds namespaces; a guest names keys inside one. Two
/// namespaces that differ in any component never share a key: see the
/// [module docs](super) for the encoding and why it cannot be escaped.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Namespace {
    tenant: String,
    plugin: String,
    path: Option<String>,
    /// The encoded prefix of every storage key of this namespace.
    prefix: Vec<u8>,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("tenant", &self.tenant)
            .field("plugin", &self.plugin)
            .field("path", &self.path)
            .finish()
    }
}

impl Namespace {
    /// The namespace of `plugin` (its name, not its version) installed for
    /// `tenant`.
    ///
    /// # Errors
    /// [`KvError::EmptyNamespacePart`] if either is empty;
    /// [`KvError::NamespacePartTooLong`] if the tenant is over
    /// [`MAX_TENANT_BYTES`] or the plugin name over [`MAX_PLUGIN_BYTES`].
    pub fn new(tenant: impl Into<String>, plugin: impl Into<String>) -> Result<Namespace, KvError> {
        let tenant = tenant.into();
        let plugin = plugin.into();
        check_part("tenant", &tenant, MAX_TENANT_BYTES)?;
        check_part("plugin", &plugin, MAX_PLUGIN_BYTES)?;
        let mut prefix = Vec::with_capacity(2 + tenant.len() + 2 + plugin.len() + 1);
        push_component(&mut prefix, &tenant);
        push_component(&mut prefix, &plugin);
        prefix.push(NO_PATH);
        Ok(Namespace {
            tenant,
            plugin,
            path: None,
            prefix,
        })
    }

    /// This namespace narrowed to `path` (the triggering object's path):
    /// a separate namespace that shares no key with this one or with any
    /// other path. An empty path is a path too, distinct from none.
    ///
    /// # Errors
    /// [`KvError::NamespacePartTooLong`] if `path` is over
    /// [`MAX_PATH_BYTES`]; [`KvError::AlreadyNarrowed`] if this namespace
    /// already has a path.
    pub fn narrowed(&self, path: impl Into<String>) -> Result<Namespace, KvError> {
        if self.path.is_some() {
            return Err(KvError::AlreadyNarrowed);
        }
        let path = path.into();
        if path.len() > MAX_PATH_BYTES {
            return Err(KvError::NamespacePartTooLong {
                part: "path",
                len: path.len(),
                max: MAX_PATH_BYTES,
            });
        }
        let mut prefix = self.prefix.clone();
        let presence = prefix.len() - 1;
        prefix[presence] = PATH;
        push_component(&mut prefix, &path);
        Ok(Namespace {
            tenant: self.tenant.clone(),
            plugin: self.plugin.clone(),
            path: Some(path),
            prefix,
        })
    }

    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The plugin name.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// The path this namespace is narrowed to, if any.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The self-delimiting encoding of this namespace that begins every one
    /// of its storage keys: `u16 BE len ‖ tenant ‖ u16 BE len ‖ plugin`,
    /// then `0x00`, or `0x01 ‖ u16 BE len ‖ path`. No namespace's prefix is
    /// a proper prefix of another's.
    pub fn storage_prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// The storage key of the guest key `key`: [`Namespace::storage_prefix`]
    /// followed by `key`.
    pub fn storage_key(&self, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + key.len());
        k.extend_from_slice(&self.prefix);
        k.extend_from_slice(key);
        k
    }

    /// The guest key of a storage key of this namespace, if it is one.
    pub(crate) fn guest_key<'k>(&self, storage_key: &'k [u8]) -> Option<&'k [u8]> {
        storage_key.strip_prefix(self.prefix.as_slice())
    }
}

fn check_part(part: &'static str, value: &str, max: usize) -> Result<(), KvError> {
    if value.is_empty() {
        return Err(KvError::EmptyNamespacePart { part });
    }
    if value.len() > max {
        return Err(KvError::NamespacePartTooLong {
            part,
            len: value.len(),
            max,
        });
    }
    Ok(())
}

/// Appends `u16 BE len ‖ bytes`. Callers have checked `len <= u16::MAX`.
fn push_component(out: &mut Vec<u8>, value: &str) {
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_self_delimiting() -> anyhow::Result<()> {
        let a_bc = Namespace::new("a", "bc")?;
        let ab_c = Namespace::new("ab", "c")?;
        assert_eq!(a_bc.storage_prefix(), b"\0\x01a\0\x02bc\0");
        assert_eq!(ab_c.storage_prefix(), b"\0\x02ab\0\x01c\0");
        let narrowed = a_bc.narrowed("p")?;
        assert_eq!(narrowed.storage_prefix(), b"\0\x01a\0\x02bc\x01\0\x01p");
        let all = [&a_bc, &ab_c, &narrowed, &a_bc.narrowed("")?];
        for x in all {
            for y in all {
                if x != y {
                    assert!(!y.storage_prefix().starts_with(x.storage_prefix()));
                }
            }
        }
        Ok(())
    }
}
