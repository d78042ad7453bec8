//! broken (every extension point): a deliberately non-conforming plugin,
//! the fixture that shows each conformance suite failing with readable
//! reasons. Each point breaks its contract in a typical way:
//! - content transform: answers without a media type;
//! - event handler: declares no event types and asks for every event to
//!   be retried;
//! - storage provider: forgets what it stored, answers OK for a missing
//!   object, NOT_FOUND for deleting one, and lists in reverse order;
//! - auth provider: accepts any credential, and traps on an empty one;
//! - policy hook: denies without a reason;
//! - search: offsets one byte past each word, and previews pass markup
//!   through.
//!
//! Never install it.

use bitvault_pdk::Error;
use bitvault_pdk::points::proto::auth_provider::v1::{
    AuthenticateRequest, AuthenticateResponse, Identity, authenticate_response,
};
use bitvault_pdk::points::proto::content_transform::v1::{TransformRequest, TransformResponse};
use bitvault_pdk::points::proto::event_handler::v1::{
    Ack, DescribeRequest, DescribeResponse, HandleRequest, HandleResponse,
};
use bitvault_pdk::points::proto::policy_hook::v1::{Decision, EvaluateRequest, EvaluateResponse};
use bitvault_pdk::points::proto::search::v1::{
    AnalyzeRequest, AnalyzeResponse, PreviewRequest, PreviewResponse, Token,
};
use bitvault_pdk::points::proto::storage_provider::v1::{
    DeleteRequest, DeleteResponse, GetRequest, GetResponse, HeadRequest, HeadResponse, ListRequest,
    ListResponse, ObjectMeta, PutRequest, PutResponse, Status,
};
use bitvault_pdk::points::{
    AuthProvider, ContentTransform, EventHandler, PolicyHook, Search, StorageProvider,
};

/// The plugin.
pub struct Broken;

impl ContentTransform for Broken {
    fn transform(req: TransformRequest) -> Result<TransformResponse, Error> {
        Ok(TransformResponse {
            content: req.content,
            media_type: String::new(),
            ..Default::default()
        })
    }
}

impl EventHandler for Broken {
    fn describe(_: DescribeRequest) -> Result<DescribeResponse, Error> {
        Ok(DescribeResponse::default())
    }

    fn handle(_: HandleRequest) -> Result<HandleResponse, Error> {
        Ok(HandleResponse {
            ack: Ack::Retry as i32,
            detail: "later".into(),
        })
    }
}

impl StorageProvider for Broken {
    fn put(req: PutRequest) -> Result<PutResponse, Error> {
        Ok(PutResponse {
            status: Status::Ok as i32,
            meta: Some(ObjectMeta {
                key: req.key,
                size: req.data.len() as u64,
                etag: "\"same\"".into(),
                content_type: req.content_type,
                last_modified_unix_ms: 1,
            }),
        })
    }

    fn get(req: GetRequest) -> Result<GetResponse, Error> {
        Ok(GetResponse {
            status: Status::Ok as i32,
            meta: Some(ObjectMeta {
                key: req.key,
                etag: "\"same\"".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn head(_: HeadRequest) -> Result<HeadResponse, Error> {
        Ok(HeadResponse {
            status: Status::NotFound as i32,
            meta: None,
        })
    }

    fn delete(_: DeleteRequest) -> Result<DeleteResponse, Error> {
        Ok(DeleteResponse {
            status: Status::NotFound as i32,
            existed: false,
        })
    }

    fn list(req: ListRequest) -> Result<ListResponse, Error> {
        let object = |k: &str| ObjectMeta {
            key: format!("{}{k}", req.prefix),
            etag: "\"same\"".into(),
            ..Default::default()
        };
        Ok(ListResponse {
            status: Status::Ok as i32,
            objects: vec![object("z"), object("a")],
            ..Default::default()
        })
    }
}

impl AuthProvider for Broken {
    fn authenticate(req: AuthenticateRequest) -> Result<AuthenticateResponse, Error> {
        assert!(!req.token.is_empty(), "empty token");
        Ok(AuthenticateResponse {
            result: Some(authenticate_response::Result::Identity(Identity {
                subject: "anyone".into(),
                ..Default::default()
            })),
        })
    }
}

impl PolicyHook for Broken {
    fn evaluate(_: EvaluateRequest) -> Result<EvaluateResponse, Error> {
        Ok(EvaluateResponse {
            decision: Decision::Deny as i32,
            ..Default::default()
        })
    }
}

impl Search for Broken {
    fn analyze(req: AnalyzeRequest) -> Result<AnalyzeResponse, Error> {
        let mut tokens = Vec::new();
        let mut start = 0;
        for (position, word) in req.text.split(' ').enumerate() {
            if !word.is_empty() {
                tokens.push(Token {
                    term: word.to_owned(),
                    position: position as u32,
                    start: start as u32,
                    end: (start + word.len() + 1) as u32,
                });
            }
            start += word.len() + 1;
        }
        Ok(AnalyzeResponse { tokens })
    }

    fn preview(req: PreviewRequest) -> Result<PreviewResponse, Error> {
        Ok(PreviewResponse {
            media_type: "text/html".into(),
            content: req.content,
        })
    }
}

bitvault_pdk::export_content_transform!(Broken);
bitvault_pdk::export_event_handler!(Broken);
bitvault_pdk::export_storage_provider!(Broken);
bitvault_pdk::export_auth_provider!(Broken);
bitvault_pdk::export_policy_hook!(Broken);
bitvault_pdk::export_search!(Broken);
