//! The messages of every contract, generated from `proto/` by `cargo xtask
//! protos` (a test fails when they are out of date). The module path
//! follows the protobuf package: `bitvault.plugins.search.v1` is
//! [`search::v1`]. Field documentation is the `.proto` files' comments.
#![allow(missing_docs)]

/// `bitvault.plugins.common.v1`: the request context.
pub mod common {
    /// Version 1.
    pub mod v1 {
        include!("bitvault.plugins.common.v1.rs");
    }
}

/// `bitvault.plugins.content_transform.v1`.
pub mod content_transform {
    /// Version 1.
    pub mod v1 {
        include!("bitvault.plugins.content_transform.v1.rs");
    }
}

/// `bitvault.plugins.event_handler.v1`.
pub mod event_handler {
    /// Version 1.
    pub mod v1 {
        include!("bitvault.plugins.event_handler.v1.rs");
    }
}

/// `bitvault.plugins.storage_provider.v1`.
pub mod storage_provider {
    /// Version 1.
    pub mod v1 {
        include!("bitvault.plugins.storage_provider.v1.rs");
    }
}

/// `bitvault.plugins.auth_provider.v1`.
pub mod auth_provider {
    /// Version 1.
    pub mod v1 {
        include!("bitvault.plugins.auth_provider.v1.rs");
    }
}

/// `bitvault.plugins.policy_hook.v1`.
pub mod policy_hook {
    /// Version 1.
    pub mod v1 {
        include!("bitvault.plugins.policy_hook.v1.rs");
    }
}

/// `bitvault.plugins.search.v1`.
pub mod search {
    /// Version 1.
    pub mod v1 {
        include!("bitvault.plugins.search.v1.rs");
    }
}
