//! Extension points: one trait per point, so a plugin implements
//! `ContentTransform` (or several points) on a type of its own and exports
//! it with the point's macro, and never sees the ABI or the protobuf
//! framing. The messages are [`proto`], the contracts of
//! `bitvault-extpoints`.
//!
//! ```
//! use bitvault_pdk::Error;
//! use bitvault_pdk::points::{ContentTransform, proto::content_transform::v1::*};
//!
//! struct Upper;
//!
//! impl ContentTransform for Upper {
//!     fn transform(req: TransformRequest) -> Result<TransformResponse, Error> {
//!         if req.media_type != "text/plain" {
//!             return Err(Error::new(20, format!("cannot transform {}", req.media_type)));
//!         }
//!         Ok(TransformResponse {
//!             content: req.content.to_ascii_uppercase(),
//!             media_type: "text/plain".into(),
//!             ..Default::default()
//!         })
//!     }
//! }
//!
//! // Exports `content_transform_v1_transform` on wasm targets.
//! bitvault_pdk::export_content_transform!(Upper);
//!
//! // Natively, through the test host, with the host's framing:
//! let request = TransformRequest {
//!     content: b"hi".to_vec(),
//!     media_type: "text/plain".into(),
//!     ..Default::default()
//! };
//! let reply: TransformResponse =
//!     bitvault_pdk::points::call(bitvault_pdk::testing::Host::new(), Upper::transform, &request)
//!         .unwrap();
//! assert_eq!(reply.content, b"HI");
//! ```
//!
//! A request that does not decode ends the call with
//! [`Error::BAD_INPUT`]; an `Err` from a handler is the plugin error the
//! host reports (code and message).

pub use bitvault_extpoints::proto;
pub use bitvault_extpoints::{Operation, Point, contract};
pub use prost::Message;

use crate::Error;
use proto::auth_provider::v1 as auth;
use proto::content_transform::v1 as transform;
use proto::event_handler::v1 as events;
use proto::policy_hook::v1 as policy;
use proto::search::v1 as search;
use proto::storage_provider::v1 as storage;

/// Runs an operation's handler: decodes the request message from the
/// invocation's input, calls `f`, and writes the encoded response. The
/// export macros call this.
pub fn serve<Q: Message + Default, R: Message>(f: impl FnOnce(Q) -> Result<R, Error>) -> i32 {
    crate::run(|bytes: Vec<u8>| {
        let request = Q::decode(bytes.as_slice()).map_err(|e| {
            Error::new(
                Error::BAD_INPUT,
                format!("the request is not a {}: {e}", short_name::<Q>()),
            )
        })?;
        f(request).map(|r| r.encode_to_vec())
    })
}

fn short_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

/// Runs `f` on the test `host` as the host would call an operation:
/// encodes `request` as the input, serves it, and decodes the response.
///
/// # Errors
/// The outcome of the call, when it did not return a response message.
#[cfg(not(target_family = "wasm"))]
pub fn call<Q: Message + Default, R: Message + Default>(
    host: crate::testing::Host,
    f: impl FnOnce(Q) -> Result<R, Error>,
    request: &Q,
) -> Result<R, Box<crate::testing::Outcome>> {
    let out = host.input(&request.encode_to_vec()).run(|| serve(f));
    match (out.code, R::decode(out.output.as_slice())) {
        (0, Ok(r)) => Ok(r),
        _ => Err(Box::new(out)),
    }
}

/// Content transform (`bitvault.plugins.content_transform.v1`); export
/// with [`export_content_transform!`](crate::export_content_transform).
pub trait ContentTransform {
    /// Derives content from `req.content`.
    ///
    /// # Errors
    /// The plugin's error, reported to the host.
    fn transform(req: transform::TransformRequest) -> Result<transform::TransformResponse, Error>;
}

/// Event handler (`bitvault.plugins.event_handler.v1`); export with
/// [`export_event_handler!`](crate::export_event_handler).
///
/// ```
/// use bitvault_pdk::Error;
/// use bitvault_pdk::points::{EventHandler, call, proto::event_handler::v1::*};
///
/// struct Audit;
///
/// impl EventHandler for Audit {
///     fn describe(_: DescribeRequest) -> Result<DescribeResponse, Error> {
///         Ok(DescribeResponse { event_types: vec!["share.*".into()] })
///     }
///     fn handle(req: HandleRequest) -> Result<HandleResponse, Error> {
///         let event = req.event.unwrap_or_default();
///         bitvault_pdk::log::info(&format!("{} on {}", event.r#type, event.subject));
///         Ok(HandleResponse { ack: Ack::Done as i32, detail: String::new() })
///     }
/// }
/// bitvault_pdk::export_event_handler!(Audit);
///
/// let req = HandleRequest {
///     event: Some(DomainEvent { r#type: "share.created".into(), ..Default::default() }),
///     ..Default::default()
/// };
/// let reply: HandleResponse = call(bitvault_pdk::testing::Host::new(), Audit::handle, &req).unwrap();
/// assert_eq!(reply.ack, Ack::Done as i32);
/// ```
pub trait EventHandler {
    /// The event types handled: exact types or prefixes ending in `.*`.
    ///
    /// # Errors
    /// The plugin's error, reported to the host.
    fn describe(req: events::DescribeRequest) -> Result<events::DescribeResponse, Error>;
    /// Handles one event.
    ///
    /// # Errors
    /// The plugin's error, reported to the host.
    fn handle(req: events::HandleRequest) -> Result<events::HandleResponse, Error>;
}

/// Storage provider (`bitvault.plugins.storage_provider.v1`); export with
/// [`export_storage_provider!`](crate::export_storage_provider). A status
/// the contract defines (`NOT_FOUND`, `PRECONDITION_FAILED`, …) is a
/// response; an `Err` is a failure of the provider itself.
/// `plugins/kvstore` implements the whole contract over the KV namespace.
///
/// ```
/// use bitvault_pdk::Error;
/// use bitvault_pdk::points::{StorageProvider, proto::storage_provider::v1::*};
///
/// /// A read-only store with nothing in it.
/// struct Empty;
///
/// impl StorageProvider for Empty {
///     fn put(_: PutRequest) -> Result<PutResponse, Error> {
///         Err(Error::new(70, "read-only"))
///     }
///     fn get(_: GetRequest) -> Result<GetResponse, Error> {
///         Ok(GetResponse { status: Status::NotFound as i32, ..Default::default() })
///     }
///     fn head(_: HeadRequest) -> Result<HeadResponse, Error> {
///         Ok(HeadResponse { status: Status::NotFound as i32, meta: None })
///     }
///     fn delete(_: DeleteRequest) -> Result<DeleteResponse, Error> {
///         Ok(DeleteResponse { status: Status::Ok as i32, existed: false })
///     }
///     fn list(_: ListRequest) -> Result<ListResponse, Error> {
///         Ok(ListResponse { status: Status::Ok as i32, ..Default::default() })
///     }
/// }
/// bitvault_pdk::export_storage_provider!(Empty);
/// ```
pub trait StorageProvider {
    /// Stores an object.
    ///
    /// # Errors
    /// A failure of the provider itself (not a status), reported to the host.
    fn put(req: storage::PutRequest) -> Result<storage::PutResponse, Error>;
    /// Reads an object or a range of it.
    ///
    /// # Errors
    /// As [`StorageProvider::put`].
    fn get(req: storage::GetRequest) -> Result<storage::GetResponse, Error>;
    /// Reads an object's metadata.
    ///
    /// # Errors
    /// As [`StorageProvider::put`].
    fn head(req: storage::HeadRequest) -> Result<storage::HeadResponse, Error>;
    /// Deletes an object.
    ///
    /// # Errors
    /// As [`StorageProvider::put`].
    fn delete(req: storage::DeleteRequest) -> Result<storage::DeleteResponse, Error>;
    /// Lists one page of objects.
    ///
    /// # Errors
    /// As [`StorageProvider::put`].
    fn list(req: storage::ListRequest) -> Result<storage::ListResponse, Error>;
}

/// Auth provider (`bitvault.plugins.auth_provider.v1`); export with
/// [`export_auth_provider!`](crate::export_auth_provider).
///
/// ```
/// use bitvault_pdk::{Error, config};
/// use bitvault_pdk::points::{AuthProvider, proto::auth_provider::v1::*};
/// use authenticate_response::Result as Answer;
///
/// /// One static API key from the configuration (compare in constant time
/// /// in real code).
/// struct ApiKey;
///
/// impl AuthProvider for ApiKey {
///     fn authenticate(req: AuthenticateRequest) -> Result<AuthenticateResponse, Error> {
///         let key = config::get("api_key")?.ok_or_else(|| Error::new(40, "no api_key"))?;
///         let result = if !key.is_empty() && req.token == key {
///             Answer::Identity(Identity { subject: "service".into(), ..Default::default() })
///         } else {
///             Answer::Rejection(Rejection {
///                 reason: RejectionReason::UnknownKey as i32,
///                 detail: "not a known key".into(),
///             })
///         };
///         Ok(AuthenticateResponse { result: Some(result) })
///     }
/// }
/// bitvault_pdk::export_auth_provider!(ApiKey);
/// ```
pub trait AuthProvider {
    /// An identity or a reasoned rejection for a credential.
    ///
    /// # Errors
    /// A failure of the provider itself (a rejection is a response).
    fn authenticate(req: auth::AuthenticateRequest) -> Result<auth::AuthenticateResponse, Error>;
}

/// Policy hook (`bitvault.plugins.policy_hook.v1`); export with
/// [`export_policy_hook!`](crate::export_policy_hook). Judge time by the
/// request's context, never by a clock.
///
/// ```
/// use bitvault_pdk::Error;
/// use bitvault_pdk::points::{PolicyHook, call, proto::policy_hook::v1::*};
///
/// struct NoDeletes;
///
/// impl PolicyHook for NoDeletes {
///     fn evaluate(req: EvaluateRequest) -> Result<EvaluateResponse, Error> {
///         let mut r = EvaluateResponse { decision: Decision::Abstain as i32, ..Default::default() };
///         if req.action == "delete" {
///             r.decision = Decision::Deny as i32;
///             r.reasons.push("deletes are disabled".into());
///         }
///         Ok(r)
///     }
/// }
/// bitvault_pdk::export_policy_hook!(NoDeletes);
///
/// let req = EvaluateRequest { action: "delete".into(), ..Default::default() };
/// let r: EvaluateResponse = call(bitvault_pdk::testing::Host::new(), NoDeletes::evaluate, &req).unwrap();
/// assert_eq!(r.decision, Decision::Deny as i32);
/// ```
pub trait PolicyHook {
    /// A decision (allow, deny or abstain) with reasons and attributes.
    ///
    /// # Errors
    /// A failure of the hook itself (a denial is a response).
    fn evaluate(req: policy::EvaluateRequest) -> Result<policy::EvaluateResponse, Error>;
}

/// Search analyzer and preview (`bitvault.plugins.search.v1`); export with
/// [`export_search!`](crate::export_search).
///
/// ```
/// use bitvault_pdk::Error;
/// use bitvault_pdk::points::{Search, call, proto::search::v1::*};
///
/// /// Splits on ASCII spaces; previews plain text only.
/// struct Simple;
///
/// impl Search for Simple {
///     fn analyze(req: AnalyzeRequest) -> Result<AnalyzeResponse, Error> {
///         let mut tokens = Vec::new();
///         let mut at = 0;
///         for (position, word) in req.text.split(' ').enumerate() {
///             if !word.is_empty() {
///                 let (start, end) = (at as u32, (at + word.len()) as u32);
///                 tokens.push(Token { term: word.to_lowercase(), position: position as u32, start, end });
///             }
///             at += word.len() + 1;
///         }
///         Ok(AnalyzeResponse { tokens })
///     }
///     fn preview(req: PreviewRequest) -> Result<PreviewResponse, Error> {
///         if req.media_type != "text/plain" {
///             return Err(Error::new(22, "text/plain only"));
///         }
///         let text = String::from_utf8_lossy(&req.content).replace('&', "&amp;").replace('<', "&lt;");
///         Ok(PreviewResponse { media_type: "text/html".into(), content: format!("<pre>{text}</pre>").into_bytes() })
///     }
/// }
/// bitvault_pdk::export_search!(Simple);
///
/// let req = AnalyzeRequest { text: "Hello  World".into(), ..Default::default() };
/// let r: AnalyzeResponse = call(bitvault_pdk::testing::Host::new(), Simple::analyze, &req).unwrap();
/// assert_eq!(r.tokens.iter().map(|t| t.term.as_str()).collect::<Vec<_>>(), ["hello", "world"]);
/// ```
pub trait Search {
    /// Tokens of a text.
    ///
    /// # Errors
    /// The plugin's error, reported to the host.
    fn analyze(req: search::AnalyzeRequest) -> Result<search::AnalyzeResponse, Error>;
    /// A preview of a document.
    ///
    /// # Errors
    /// The plugin's error, reported to the host.
    fn preview(req: search::PreviewRequest) -> Result<search::PreviewResponse, Error>;
}

/// Exports one operation: on wasm targets a `() -> i32` function named
/// `$export` serving `$handler`; elsewhere a check that it fits.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_operation {
    ($export:ident, $handler:expr) => {
        #[cfg(target_family = "wasm")]
        const _: () = {
            #[unsafe(export_name = stringify!($export))]
            extern "C" fn __bitvault_operation() -> i32 {
                $crate::points::serve($handler)
            }
        };
        #[cfg(not(target_family = "wasm"))]
        const _: fn() -> i32 = || $crate::points::serve($handler);
    };
}

/// Exports a type's [`ContentTransform`](crate::points::ContentTransform)
/// as `content_transform_v1_transform`.
#[macro_export]
macro_rules! export_content_transform {
    ($ty:ty) => {
        $crate::__export_operation!(
            content_transform_v1_transform,
            <$ty as $crate::points::ContentTransform>::transform
        );
    };
}

/// Exports a type's [`EventHandler`](crate::points::EventHandler) as
/// `event_handler_v1_describe` and `event_handler_v1_handle`.
#[macro_export]
macro_rules! export_event_handler {
    ($ty:ty) => {
        $crate::__export_operation!(
            event_handler_v1_describe,
            <$ty as $crate::points::EventHandler>::describe
        );
        $crate::__export_operation!(
            event_handler_v1_handle,
            <$ty as $crate::points::EventHandler>::handle
        );
    };
}

/// Exports a type's [`StorageProvider`](crate::points::StorageProvider) as
/// `storage_provider_v1_put`, `_get`, `_head`, `_delete` and `_list`.
#[macro_export]
macro_rules! export_storage_provider {
    ($ty:ty) => {
        $crate::__export_operation!(
            storage_provider_v1_put,
            <$ty as $crate::points::StorageProvider>::put
        );
        $crate::__export_operation!(
            storage_provider_v1_get,
            <$ty as $crate::points::StorageProvider>::get
        );
        $crate::__export_operation!(
            storage_provider_v1_head,
            <$ty as $crate::points::StorageProvider>::head
        );
        $crate::__export_operation!(
            storage_provider_v1_delete,
            <$ty as $crate::points::StorageProvider>::delete
        );
        $crate::__export_operation!(
            storage_provider_v1_list,
            <$ty as $crate::points::StorageProvider>::list
        );
    };
}

/// Exports a type's [`AuthProvider`](crate::points::AuthProvider) as
/// `auth_provider_v1_authenticate`.
#[macro_export]
macro_rules! export_auth_provider {
    ($ty:ty) => {
        $crate::__export_operation!(
            auth_provider_v1_authenticate,
            <$ty as $crate::points::AuthProvider>::authenticate
        );
    };
}

/// Exports a type's [`PolicyHook`](crate::points::PolicyHook) as
/// `policy_hook_v1_evaluate`.
#[macro_export]
macro_rules! export_policy_hook {
    ($ty:ty) => {
        $crate::__export_operation!(
            policy_hook_v1_evaluate,
            <$ty as $crate::points::PolicyHook>::evaluate
        );
    };
}

/// Exports a type's [`Search`](crate::points::Search) as
/// `search_v1_analyze` and `search_v1_preview`.
#[macro_export]
macro_rules! export_search {
    ($ty:ty) => {
        $crate::__export_operation!(search_v1_analyze, <$ty as $crate::points::Search>::analyze);
        $crate::__export_operation!(search_v1_preview, <$ty as $crate::points::Search>::preview);
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Host;

    struct Echo;

    impl ContentTransform for Echo {
        fn transform(
            req: transform::TransformRequest,
        ) -> Result<transform::TransformResponse, Error> {
            Ok(transform::TransformResponse {
                content: req.content,
                media_type: req.media_type,
                metadata: Default::default(),
            })
        }
    }

    crate::export_content_transform!(Echo);

    #[test]
    fn a_request_that_does_not_decode_is_bad_input() {
        let out = Host::new()
            .input(&[0xff, 0xff, 0xff])
            .run(|| serve(Echo::transform));
        assert_eq!(out.code, Error::BAD_INPUT);
        let message = out.error.unwrap_or_default();
        assert!(message.contains("TransformRequest"), "{message}");
    }

    #[test]
    fn a_handler_sees_the_decoded_request_and_its_reply_is_encoded() {
        let req = transform::TransformRequest {
            content: b"abc".to_vec(),
            media_type: "text/plain".into(),
            ..Default::default()
        };
        let reply: transform::TransformResponse =
            call(Host::new(), Echo::transform, &req).expect("a response");
        assert_eq!(
            (reply.content.as_slice(), reply.media_type.as_str()),
            (&b"abc"[..], "text/plain")
        );
    }
}
