//! `keygen`, `sign` and `verify`: Ed25519 publisher keys, signed packages,
//! and their verification against a trust policy (`docs/registry.md`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bitvault_abi::{ABI_VERSION, Grants, Limits};
use bitvault_registry::{
    MANIFEST_SCHEMA, Manifest, ModuleRef, PackageBytes, TrustPolicy, fingerprint, generate_key,
    private_key_pem, public_key_pem, read_private_key, sha256_hex, sign, verify,
};
use serde::Deserialize;
use serde_json::json;

use crate::exit;

/// `keygen`: a new publisher key pair.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Write the private key to PREFIX.key (PKCS#8 PEM, mode 0600) and the
    /// public key to PREFIX.pub (SPKI PEM); existing files are not replaced
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// `sign`: a signed package from a manifest source and a module.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The manifest source (TOML: name, version, publisher, description,
    /// extension_points, event_types, and the tables capabilities and limits)
    manifest: PathBuf,
    /// The module the package carries
    module: PathBuf,
    /// The publisher's private key (PKCS#8 PEM)
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Where to write NAME-VERSION.manifest.json and NAME-VERSION.sig.json
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// `verify`: check a package against a trust policy.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The canonical manifest (NAME-VERSION.manifest.json)
    manifest: PathBuf,
    /// The module
    module: PathBuf,
    /// The trust policy (TOML)
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// The signature file [default: the manifest's path with
    /// `.manifest.json` replaced by `.sig.json`, if it exists]
    #[arg(long, value_name = "FILE")]
    signature: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// What `sign` reads: a manifest without the fields the tool fills in.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManifestSource {
    pub(crate) name: String,
    pub(crate) version: String,
    publisher: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    pub(crate) extension_points: Vec<String>,
    #[serde(default)]
    event_types: Vec<String>,
    pub(crate) capabilities: Grants,
    #[serde(default)]
    pub(crate) limits: Option<Limits>,
}

fn write_new(path: &Path, contents: &[u8], private: bool) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create `{}` (it must not exist yet)", path.display()))?;
    file.write_all(contents)
        .with_context(|| format!("cannot write `{}`", path.display()))
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Runs `keygen`.
///
/// # Errors
/// Host errors: no randomness, a file that exists or cannot be written.
pub fn keygen(args: &KeygenArgs) -> Result<u8> {
    let key = generate_key()?;
    let (private, public) = (
        with_suffix(&args.out, ".key"),
        with_suffix(&args.out, ".pub"),
    );
    write_new(&private, private_key_pem(&key)?.as_bytes(), true)?;
    write_new(
        &public,
        public_key_pem(&key.verifying_key())?.as_bytes(),
        false,
    )?;
    let fp = fingerprint(&key.verifying_key());
    if args.json {
        crate::host::print_json(&json!({
            "ok": true,
            "fingerprint": fp,
            "private_key": private.display().to_string(),
            "public_key": public.display().to_string(),
        }))?;
    } else {
        println!(
            "{fp}\nprivate key: {}\npublic key: {}",
            private.display(),
            public.display()
        );
    }
    Ok(exit::SUCCESS)
}

/// Runs `sign`.
///
/// # Errors
/// Host errors: unreadable files, a manifest source or key that does not
/// parse, a manifest field out of its rules, files that cannot be written.
pub fn sign_package(args: &SignArgs) -> Result<u8> {
    let source = read_source(&args.manifest)?;
    let module = std::fs::read(&args.module)
        .with_context(|| format!("cannot read `{}`", args.module.display()))?;
    let signed = sign_into(source, &module, &args.key, &args.out)?;
    if args.json {
        crate::host::print_json(&json!({
            "ok": true,
            "manifest": signed.manifest_path.display().to_string(),
            "signature": signed.signature_path.display().to_string(),
            "key": signed.key,
            "module_sha256": signed.manifest.module.sha256,
        }))?;
    } else {
        println!(
            "signed {}-{} as {} with {}\n{}\n{}",
            signed.manifest.name,
            signed.manifest.version,
            signed.manifest.publisher,
            signed.key,
            signed.manifest_path.display(),
            signed.signature_path.display()
        );
    }
    Ok(exit::SUCCESS)
}

/// Reads a manifest source (`manifest.toml`).
///
/// # Errors
/// A file that cannot be read or is not a manifest source.
pub(crate) fn read_source(path: &Path) -> Result<ManifestSource> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))
}

/// A package `sign` wrote.
pub(crate) struct Signed {
    pub(crate) manifest: Manifest,
    pub(crate) manifest_path: PathBuf,
    pub(crate) signature_path: PathBuf,
    /// The signing key's fingerprint.
    pub(crate) key: String,
}

/// Signs `module` with the manifest made from `source` and the key in
/// `key_path`, writing NAME-VERSION.manifest.json and NAME-VERSION.sig.json
/// into `out` (neither may exist yet).
///
/// # Errors
/// An unreadable key, a manifest that breaks its rules, files that exist
/// or cannot be written.
pub(crate) fn sign_into(
    source: ManifestSource,
    module: &[u8],
    key_path: &Path,
    out: &Path,
) -> Result<Signed> {
    let key_text = std::fs::read_to_string(key_path)
        .with_context(|| format!("cannot read `{}`", key_path.display()))?;
    let key = read_private_key(&key_text).with_context(|| format!("`{}`", key_path.display()))?;
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA,
        name: source.name,
        version: source.version,
        publisher: source.publisher,
        description: source.description,
        extension_points: source.extension_points,
        event_types: source.event_types,
        capabilities: source.capabilities,
        limits: source.limits,
        abi_version: ABI_VERSION,
        module: ModuleRef {
            sha256: sha256_hex(module),
            size: module.len() as u64,
        },
    };
    let (bytes, signature) = sign(&manifest, &key)?;
    let stem = format!("{}-{}", manifest.name, manifest.version);
    let manifest_path = out.join(format!("{stem}.manifest.json"));
    let signature_path = out.join(format!("{stem}.sig.json"));
    write_new(&manifest_path, &bytes, false)?;
    write_new(&signature_path, &signature.to_canonical(), false)?;
    Ok(Signed {
        manifest,
        manifest_path,
        signature_path,
        key: signature.key,
    })
}

/// Runs `verify`: exit 0 for a verified package, [`exit::PACKAGE_REFUSED`]
/// for a refused one.
///
/// # Errors
/// Host errors: unreadable files, a trust policy that does not parse.
pub fn verify_package(args: &VerifyArgs) -> Result<u8> {
    let read =
        |p: &Path| std::fs::read(p).with_context(|| format!("cannot read `{}`", p.display()));
    let manifest = read(&args.manifest)?;
    let module = read(&args.module)?;
    let policy_text = std::fs::read_to_string(&args.policy)
        .with_context(|| format!("cannot read `{}`", args.policy.display()))?;
    let policy = TrustPolicy::from_toml(&policy_text)
        .with_context(|| format!("`{}`", args.policy.display()))?;
    let signature_path = args.signature.clone().or_else(|| {
        let name = args.manifest.file_name()?.to_str()?;
        let stem = name.strip_suffix(".manifest.json")?;
        let path = args.manifest.with_file_name(format!("{stem}.sig.json"));
        path.exists().then_some(path)
    });
    let signature = signature_path.as_deref().map(read).transpose()?;
    let result = verify(
        PackageBytes {
            manifest: &manifest,
            signature: signature.as_deref(),
            module: &module,
        },
        &policy,
    );
    match result {
        Ok(v) => {
            let m = &v.manifest;
            if args.json {
                crate::host::print_json(&json!({
                    "ok": true,
                    "package": {
                        "name": m.name,
                        "version": m.version,
                        "publisher": m.publisher,
                        "key": v.key,
                        "key_status": format!("{:?}", v.key_status).to_lowercase(),
                        "module_sha256": m.module.sha256,
                    },
                }))?;
            } else {
                println!(
                    "verified {} {} by {} (key {}, {:?})",
                    m.name, m.version, m.publisher, v.key, v.key_status
                );
            }
            Ok(exit::SUCCESS)
        }
        Err(e) => {
            if args.json {
                crate::host::print_json(&json!({
                    "ok": false,
                    "error": {
                        "kind": "package_refused",
                        "reason": e.reason(),
                        "message": e.to_string(),
                    },
                }))?;
            } else {
                crate::host::warn_error(&format!("package_refused: {e}"));
            }
            Ok(exit::PACKAGE_REFUSED)
        }
    }
}
