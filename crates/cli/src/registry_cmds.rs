//! `push`, `pull` and `search`: packages in an OCI registry. A registry is
//! either an image-layout directory (`HOME/registry` unless `--registry`
//! names another) or a remote OCI distribution registry named by an
//! `http://` or `https://` URL (`docs/registry.md`).
//!
//! Transfers report their progress on stderr through [`StderrProgress`];
//! a registry failure is [`exit::REGISTRY_ERROR`] with the
//! [`RegistryError::reason`].

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use bitvault_registry::cosign;
use bitvault_registry::oci::{Digest, Progress, Registry, RegistryError};
use bitvault_registry::remote::{BasicAuth, RemoteOptions, RemoteRegistry};
use bitvault_registry::{
    CatalogEntry, LayoutRegistry, Manifest, Reference, catalog, fetch_package, publish,
};
use serde_json::{Value, json};

use crate::admin::{HomeArg, outln, table};
use crate::exit;
use crate::host::{print_json, warn, warn_error, write_stdout};

/// The environment variable holding the user name for a remote registry.
pub const USERNAME_ENV: &str = "BITVAULT_REGISTRY_USERNAME";
/// The environment variable holding the password or token for a remote
/// registry.
pub const PASSWORD_ENV: &str = "BITVAULT_REGISTRY_PASSWORD";

/// Which registry a command uses.
#[derive(Debug, clap::Args)]
pub struct RegistryArgs {
    /// The registry: an OCI image-layout directory (created if missing) or
    /// an `http://` / `https://` URL of an OCI distribution registry, with
    /// an optional namespace path [default: HOME/registry]
    #[arg(long, value_name = "DIR|URL")]
    registry: Option<String>,
    #[command(flatten)]
    home: HomeArg,
}

impl RegistryArgs {
    /// The registry named by `--registry`, or the home's layout directory.
    ///
    /// # Errors
    /// The outer error is a host error (no home directory can be found);
    /// the inner one is the registry's refusal to open.
    pub fn open(&self) -> Result<Result<Arc<dyn Registry>, RegistryError>> {
        Ok(match &self.registry {
            Some(spec) => open_registry(spec),
            None => open_registry_dir(&self.home.dir()?.join("registry")),
        })
    }

    /// The home directory arguments.
    pub fn home(&self) -> &HomeArg {
        &self.home
    }
}

/// Opens a registry by its specification: an `http://` or `https://` URL
/// is a remote OCI distribution registry (with HTTP basic credentials from
/// [`USERNAME_ENV`] and [`PASSWORD_ENV`] when both are set); anything else
/// is the path of an image-layout directory, created if missing.
///
/// # Errors
/// [`RegistryError`]: a URL that does not parse, another URL scheme, a
/// directory that cannot be created or holds something else.
pub fn open_registry(spec: &str) -> Result<Arc<dyn Registry>, RegistryError> {
    if spec.starts_with("http://") || spec.starts_with("https://") {
        let options = RemoteOptions {
            basic_auth: basic_auth_from_env(),
            ..RemoteOptions::default()
        };
        return Ok(Arc::new(RemoteRegistry::new(spec, options)?));
    }
    if let Some((scheme, _)) = spec.split_once("://") {
        return Err(RegistryError::Transport(format!(
            "unsupported registry URL scheme `{scheme}`: use http://, https:// or a directory"
        )));
    }
    open_registry_dir(Path::new(spec))
}

/// Opens the image-layout directory `dir` as a registry, creating it if
/// missing.
///
/// # Errors
/// [`RegistryError::Storage`] when it cannot be created or holds something
/// else.
pub fn open_registry_dir(dir: &Path) -> Result<Arc<dyn Registry>, RegistryError> {
    Ok(Arc::new(LayoutRegistry::open(dir)?))
}

fn basic_auth_from_env() -> Option<BasicAuth> {
    let username = std::env::var(USERNAME_ENV).ok()?;
    let password = std::env::var(PASSWORD_ENV).ok()?;
    Some(BasicAuth { username, password })
}

/// A [`Progress`] printing transfers on stderr, one line at the start, at
/// most one per tenth of the way, and one at the end:
/// `pushing module sha256:0123456789ab… 65536/131072 bytes`.
#[derive(Debug)]
pub struct StderrProgress {
    verb: &'static str,
    /// The last line printed per transfer (`what digest`): its tenth and
    /// its byte count.
    printed: Mutex<HashMap<String, (u64, u64)>>,
}

impl StderrProgress {
    /// Progress lines starting with `verb` (`pushing`, `pulling`,
    /// `fetching`).
    pub fn new(verb: &'static str) -> StderrProgress {
        StderrProgress {
            verb,
            printed: Mutex::new(HashMap::new()),
        }
    }
}

/// `sha256:` and the first 12 hex digits, then an ellipsis.
pub fn short_digest(digest: &str) -> String {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() > 12 => format!("sha256:{}…", &hex[..12]),
        _ => digest.to_owned(),
    }
}

impl Progress for StderrProgress {
    fn transfer(&self, what: &str, digest: &Digest, done: u64, total: u64) {
        let tenth = if total == 0 {
            10
        } else {
            (u128::from(done) * 10 / u128::from(total)).min(10) as u64
        };
        let key = format!("{what} {digest}");
        // A poisoned map only loses progress lines.
        let mut printed = self.printed.lock().unwrap_or_else(|p| p.into_inner());
        let print = match printed.get(&key) {
            None => true,
            // The same blob moved again: a new transfer.
            Some(&(_, last)) if done < last => true,
            Some(&(last_tenth, last)) => done != last && (done == total || tenth > last_tenth),
        };
        if print {
            printed.insert(key, (tenth, done));
            let _ = writeln!(
                std::io::stderr().lock(),
                "{} {what} {} {done}/{total} bytes",
                self.verb,
                short_digest(digest.as_str())
            );
        }
    }
}

/// Reports a registry failure and returns [`exit::REGISTRY_ERROR`]: with
/// `json`, `{"ok": false, "error": {"kind": "registry_error", "reason",
/// "message"}}` on stdout; otherwise `error: registry_error: REASON:
/// MESSAGE` on stderr.
///
/// # Errors
/// When stdout cannot be written.
pub fn registry_error(e: &RegistryError, json: bool) -> Result<u8> {
    if json {
        print_json(&json!({
            "ok": false,
            "error": {
                "kind": "registry_error",
                "reason": e.reason(),
                "message": e.to_string(),
            },
        }))?;
    } else {
        warn_error(&format!("registry_error: {}: {e}", e.reason()));
    }
    Ok(exit::REGISTRY_ERROR)
}

/// Evaluates a `Result<T, RegistryError>`, returning from the command with
/// the registry error's report when it failed.
macro_rules! try_registry {
    ($result:expr, $json:expr) => {
        match $result {
            Ok(value) => value,
            Err(e) => return $crate::registry_cmds::registry_error(&e, $json),
        }
    };
}
pub(crate) use try_registry;

/// `push`: publish a signed package.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The canonical manifest (NAME-VERSION.manifest.json, from `sign`)
    manifest: PathBuf,
    /// The module the manifest binds
    module: PathBuf,
    /// The signature file [default: the manifest's path with
    /// `.manifest.json` replaced by `.sig.json`, if it exists]
    #[arg(long, value_name = "FILE")]
    signature: Option<PathBuf>,
    /// Also attach a cosign-style signature of the pushed OCI manifest with
    /// this private key (PKCS#8 PEM), under the `sha256-<hex>.sig` tag
    #[arg(long, value_name = "FILE")]
    cosign_key: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// `pull`: fetch a package, every digest checked, into a directory.
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// The package: NAME (the highest version), NAME@VERSION, NAME:VERSION
    /// or NAME@sha256:DIGEST
    reference: String,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Where to write NAME-VERSION.manifest.json, NAME-VERSION.sig.json and
    /// NAME-VERSION.wasm
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// `search`: a registry's catalog.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Only plugins whose name contains QUERY [default: every plugin]
    query: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))
}

/// The signature beside a manifest: `X.manifest.json` → `X.sig.json`, if
/// that file exists.
pub fn default_signature(manifest: &Path) -> Option<PathBuf> {
    let name = manifest.file_name()?.to_str()?;
    let stem = name.strip_suffix(".manifest.json")?;
    let path = manifest.with_file_name(format!("{stem}.sig.json"));
    path.exists().then_some(path)
}

/// Runs `push`.
///
/// # Errors
/// Host errors: unreadable files, stdout closed.
pub fn push(args: &PushArgs) -> Result<u8> {
    let manifest = read(&args.manifest)?;
    let module = read(&args.module)?;
    let signature_path = args
        .signature
        .clone()
        .or_else(|| default_signature(&args.manifest));
    let signature = signature_path.as_deref().map(read).transpose()?;
    if signature.is_none() {
        warn("pushing an unsigned package: no tenant will admit it");
    }
    let registry = try_registry!(args.registry.open()?, args.json);
    let progress = StderrProgress::new("pushing");
    let published = try_registry!(
        publish(
            &*registry,
            &manifest,
            signature.as_deref(),
            &module,
            &progress
        ),
        args.json
    );
    let cosign = match &args.cosign_key {
        Some(path) => {
            let key = bitvault_registry::read_private_key(&String::from_utf8_lossy(&read(path)?))
                .with_context(|| format!("cannot use the cosign key `{}`", path.display()))?;
            let reference = cosign::docker_reference(&*registry, &published.name);
            let attached = cosign::attach(
                &*registry,
                &published.name,
                &reference,
                &published.digest,
                &key,
            )
            .map_err(|e| anyhow::anyhow!("cannot attach the cosign signature: {e}"))?;
            Some((cosign::signature_tag(&published.digest), attached))
        }
        None => None,
    };
    if args.json {
        print_json(&json!({
            "ok": true,
            "registry": registry.location(),
            "name": published.name,
            "version": published.version,
            "tag": published.tag,
            "digest": published.digest,
            "signed": signature.is_some(),
            "cosign": cosign.as_ref().map(|(tag, digest)| json!({"tag": tag, "digest": digest})),
        }))?;
    } else {
        let mut out = String::new();
        outln!(
            out,
            "pushed {} {} to {}\ntag:    {}\ndigest: {}",
            published.name,
            published.version,
            registry.location(),
            published.tag,
            published.digest
        );
        if let Some((tag, _)) = &cosign {
            outln!(out, "cosign: {tag}");
        }
        write_stdout(out.as_bytes())?;
    }
    Ok(exit::SUCCESS)
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create `{}` (it must not exist yet)", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write `{}`", path.display()))
}

/// Runs `pull`.
///
/// # Errors
/// Host errors: the output directory or a file in it cannot be written
/// (an existing file is not replaced), stdout closed.
pub fn pull(args: &PullArgs) -> Result<u8> {
    let reference: Reference = try_registry!(args.reference.parse(), args.json);
    let registry = try_registry!(args.registry.open()?, args.json);
    let progress = StderrProgress::new("pulling");
    let fetched = try_registry!(fetch_package(&*registry, &reference, &progress), args.json);
    let manifest = try_registry!(
        Manifest::from_canonical(&fetched.manifest)
            .map_err(|e| RegistryError::BadManifest(e.to_string())),
        args.json
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create `{}`", args.out.display()))?;
    let stem = format!("{}-{}", manifest.name, manifest.version);
    let manifest_path = args.out.join(format!("{stem}.manifest.json"));
    let module_path = args.out.join(format!("{stem}.wasm"));
    let signature_path = fetched
        .signature
        .as_ref()
        .map(|_| args.out.join(format!("{stem}.sig.json")));
    write_new(&manifest_path, &fetched.manifest)?;
    if let (Some(path), Some(bytes)) = (&signature_path, &fetched.signature) {
        write_new(path, bytes)?;
    }
    write_new(&module_path, &fetched.module)?;
    let path_text = |p: &Path| p.display().to_string();
    if args.json {
        print_json(&json!({
            "ok": true,
            "registry": registry.location(),
            "name": manifest.name,
            "version": manifest.version,
            "digest": fetched.digest,
            "manifest": path_text(&manifest_path),
            "signature": signature_path.as_deref().map(path_text),
            "module": path_text(&module_path),
        }))?;
    } else {
        let mut out = String::new();
        outln!(
            out,
            "pulled {} {} ({}) from {}",
            manifest.name,
            manifest.version,
            fetched.digest,
            registry.location()
        );
        outln!(out, "{}", manifest_path.display());
        match &signature_path {
            Some(p) => outln!(out, "{}", p.display()),
            None => outln!(out, "(unsigned: no signature file)"),
        }
        outln!(out, "{}", module_path.display());
        write_stdout(out.as_bytes())?;
    }
    Ok(exit::SUCCESS)
}

/// A catalog entry's capabilities in words: `io, log, http(https://a/),
/// events(t1, t2)`.
fn capabilities_text(e: &CatalogEntry) -> String {
    let parts: Vec<String> = e
        .capabilities
        .iter()
        .map(|c| match c.as_str() {
            "http" if !e.http_origins.is_empty() => format!("http({})", e.http_origins.join(", ")),
            "events" if !e.event_topics.is_empty() => {
                format!("events({})", e.event_topics.join(", "))
            }
            _ => c.clone(),
        })
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

fn entry_json(e: &CatalogEntry) -> Value {
    json!({
        "name": e.name,
        "version": e.version,
        "digest": e.digest,
        "publisher": e.publisher,
        "description": e.description,
        "extension_points": e.extension_points,
        "capabilities": e.capabilities,
        "http_origins": e.http_origins,
        "event_topics": e.event_topics,
        "signed_by": e.signed_by.as_ref().map(|(publisher, key)| json!({
            "publisher": publisher,
            "key": key,
        })),
    })
}

/// Runs `search`.
///
/// # Errors
/// Host errors: stdout closed.
pub fn search(args: &SearchArgs) -> Result<u8> {
    let registry = try_registry!(args.registry.open()?, args.json);
    let entries = try_registry!(catalog(&*registry, args.query.as_deref()), args.json);
    if args.json {
        print_json(&json!({
            "ok": true,
            "registry": registry.location(),
            "packages": entries.iter().map(entry_json).collect::<Vec<_>>(),
        }))?;
        return Ok(exit::SUCCESS);
    }
    if entries.is_empty() {
        write_stdout(format!("no packages in {}\n", registry.location()).as_bytes())?;
        return Ok(exit::SUCCESS);
    }
    let mut out = String::new();
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.name.clone(),
                e.version.clone(),
                e.publisher.clone(),
                if e.extension_points.is_empty() {
                    "-".into()
                } else {
                    e.extension_points.join(", ")
                },
                capabilities_text(e),
                match &e.signed_by {
                    Some((publisher, key)) => format!("{publisher} {}", short_digest(key)),
                    None => "unsigned".into(),
                },
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "NAME",
            "VERSION",
            "PUBLISHER",
            "POINTS",
            "CAPABILITIES",
            "SIGNED BY",
        ],
        &rows,
    ));
    write_stdout(out.as_bytes())?;
    Ok(exit::SUCCESS)
}
