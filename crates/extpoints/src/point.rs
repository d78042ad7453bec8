//! The extension points, their operations and the export names that carry
//! them.

use std::fmt;

/// One extension point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Point {
    /// Derive bytes from bytes (`bitvault.plugins.content_transform.v1`).
    ContentTransform,
    /// React to domain events (`bitvault.plugins.event_handler.v1`).
    EventHandler,
    /// An object store (`bitvault.plugins.storage_provider.v1`).
    StorageProvider,
    /// Credentials to identities (`bitvault.plugins.auth_provider.v1`).
    AuthProvider,
    /// Contributions to access decisions (`bitvault.plugins.policy_hook.v1`).
    PolicyHook,
    /// Text analysis and previews (`bitvault.plugins.search.v1`).
    Search,
}

/// One operation of an extension point: an RPC of its protobuf service,
/// carried by one export of the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operation {
    /// The point it belongs to.
    pub point: Point,
    /// The RPC's name in the service (`Transform`).
    pub rpc: &'static str,
    /// The export that carries it (`content_transform_v1_transform`): a
    /// `() -> i32` function reading the request message as the invocation's
    /// input and writing the response message as its output.
    pub export: &'static str,
}

const fn op(point: Point, rpc: &'static str, export: &'static str) -> Operation {
    Operation { point, rpc, export }
}

use Point::*;

const CONTENT_TRANSFORM: &[Operation] = &[op(
    ContentTransform,
    "Transform",
    "content_transform_v1_transform",
)];
const EVENT_HANDLER: &[Operation] = &[
    op(EventHandler, "Describe", "event_handler_v1_describe"),
    op(EventHandler, "Handle", "event_handler_v1_handle"),
];
const STORAGE_PROVIDER: &[Operation] = &[
    op(StorageProvider, "Put", "storage_provider_v1_put"),
    op(StorageProvider, "Get", "storage_provider_v1_get"),
    op(StorageProvider, "Head", "storage_provider_v1_head"),
    op(StorageProvider, "Delete", "storage_provider_v1_delete"),
    op(StorageProvider, "List", "storage_provider_v1_list"),
];
const AUTH_PROVIDER: &[Operation] = &[op(
    AuthProvider,
    "Authenticate",
    "auth_provider_v1_authenticate",
)];
const POLICY_HOOK: &[Operation] = &[op(PolicyHook, "Evaluate", "policy_hook_v1_evaluate")];
const SEARCH: &[Operation] = &[
    op(Search, "Analyze", "search_v1_analyze"),
    op(Search, "Preview", "search_v1_preview"),
];

impl Point {
    /// Every point, in a fixed order.
    pub const ALL: &'static [Point] = &[
        ContentTransform,
        EventHandler,
        StorageProvider,
        AuthProvider,
        PolicyHook,
        Search,
    ];

    /// The stable snake-case name (`content_transform`), used in export
    /// names, manifests and `cargo xtask conformance --point`.
    pub const fn name(self) -> &'static str {
        match self {
            ContentTransform => "content_transform",
            EventHandler => "event_handler",
            StorageProvider => "storage_provider",
            AuthProvider => "auth_provider",
            PolicyHook => "policy_hook",
            Search => "search",
        }
    }

    /// The protobuf package of its contract.
    pub const fn package(self) -> &'static str {
        match self {
            ContentTransform => "bitvault.plugins.content_transform.v1",
            EventHandler => "bitvault.plugins.event_handler.v1",
            StorageProvider => "bitvault.plugins.storage_provider.v1",
            AuthProvider => "bitvault.plugins.auth_provider.v1",
            PolicyHook => "bitvault.plugins.policy_hook.v1",
            Search => "bitvault.plugins.search.v1",
        }
    }

    /// Its operations, in the order of the service's RPCs. A plugin that
    /// implements the point exports every one of them.
    pub const fn operations(self) -> &'static [Operation] {
        match self {
            ContentTransform => CONTENT_TRANSFORM,
            EventHandler => EVENT_HANDLER,
            StorageProvider => STORAGE_PROVIDER,
            AuthProvider => AUTH_PROVIDER,
            PolicyHook => POLICY_HOOK,
            Search => SEARCH,
        }
    }

    /// The point named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Point> {
        Point::ALL.iter().copied().find(|p| p.name() == name)
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A point a module claims but does not fully implement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingExports {
    /// The point.
    pub point: Point,
    /// The exports of its operations that the module lacks, in operation
    /// order.
    pub missing: Vec<&'static str>,
}

impl fmt::Display for MissingExports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "extension point {} needs the export(s) {}",
            self.point,
            self.missing.join(", ")
        )
    }
}

impl std::error::Error for MissingExports {}

/// Checks that a module exporting the functions `exports` implements every
/// point of `points`.
///
/// # Errors
/// The first point with missing exports, naming each of them.
pub fn check_exports<'a>(
    exports: impl IntoIterator<Item = &'a str> + Clone,
    points: &[Point],
) -> Result<(), MissingExports> {
    for &point in points {
        let missing: Vec<_> = point
            .operations()
            .iter()
            .filter(|o| !exports.clone().into_iter().any(|e| e == o.export))
            .map(|o| o.export)
            .collect();
        if !missing.is_empty() {
            return Err(MissingExports { point, missing });
        }
    }
    Ok(())
}

/// The points whose every operation is among `exports`: what a module
/// implements, judged by its exports alone.
pub fn implemented<'a>(exports: impl IntoIterator<Item = &'a str> + Clone) -> Vec<Point> {
    Point::ALL
        .iter()
        .copied()
        .filter(|p| check_exports(exports.clone(), &[*p]).is_ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_names_follow_the_point_version_rpc_rule() {
        let mut seen = std::collections::BTreeSet::new();
        for p in Point::ALL {
            assert_eq!(Point::from_name(p.name()), Some(*p));
            assert!(p.package().ends_with(&format!(".{}.v1", p.name())));
            for o in p.operations() {
                assert_eq!(o.point, *p);
                let expected = format!("{}_v1_{}", p.name(), o.rpc.to_ascii_lowercase());
                assert_eq!(o.export, expected);
                assert!(seen.insert(o.export), "{} twice", o.export);
            }
        }
    }

    #[test]
    fn a_point_is_implemented_only_with_all_its_exports() {
        let exports = [
            "search_v1_analyze",
            "storage_provider_v1_put",
            "storage_provider_v1_get",
        ];
        assert_eq!(implemented(exports), []);
        let e = check_exports(exports, &[StorageProvider]).unwrap_err();
        assert_eq!(
            e.missing,
            [
                "storage_provider_v1_head",
                "storage_provider_v1_delete",
                "storage_provider_v1_list"
            ]
        );
        assert!(e.to_string().contains("storage_provider_v1_head"));
        let full = [
            "search_v1_analyze",
            "search_v1_preview",
            "policy_hook_v1_evaluate",
        ];
        assert_eq!(implemented(full), [PolicyHook, Search]);
        assert_eq!(check_exports(full, &[Search, PolicyHook]), Ok(()));
    }
}
