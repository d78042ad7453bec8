//! pathcount (extension point `event_handler`; capabilities `io`, `kv`,
//! `events`): counts `object.*` events per subject path in the plugin's KV
//! namespace and publishes `pathcount.updated` with `<path>=<count>`.
//!
//! The count of a path lives under the key `count:<path>`, so counts
//! survive upgrades of the plugin. An event whose id was already counted
//! (a redelivery) is acknowledged without counting again: the last 64 ids
//! per path are kept under `seen:<path>`.

use bitvault_pdk::points::EventHandler;
use bitvault_pdk::points::proto::event_handler::v1::{
    Ack, DescribeRequest, DescribeResponse, HandleRequest, HandleResponse,
};
use bitvault_pdk::{Error, events, kv};

/// The plugin.
pub struct PathCount;

/// Ids remembered per path for redelivery.
const SEEN: usize = 64;

impl EventHandler for PathCount {
    fn describe(_: DescribeRequest) -> Result<DescribeResponse, Error> {
        Ok(DescribeResponse {
            event_types: vec!["object.*".into()],
        })
    }

    fn handle(req: HandleRequest) -> Result<HandleResponse, Error> {
        let event = req
            .event
            .ok_or_else(|| Error::new(Error::BAD_INPUT, "a HandleRequest without an event"))?;
        if !event.r#type.starts_with("object.") {
            return Ok(HandleResponse {
                ack: Ack::Ignored as i32,
                detail: format!("not an object event: {}", event.r#type),
            });
        }
        if event.subject.is_empty() {
            return Err(Error::new(
                Error::BAD_INPUT,
                "an object event without a subject",
            ));
        }
        let seen_key = format!("seen:{}", event.subject);
        let mut seen: Vec<String> = kv::get(seen_key.as_bytes())?
            .map(|v| {
                String::from_utf8_lossy(&v)
                    .lines()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if !event.id.is_empty() && seen.contains(&event.id) {
            return Ok(HandleResponse {
                ack: Ack::Done as i32,
                detail: format!("event {} already counted", event.id),
            });
        }
        let count_key = format!("count:{}", event.subject);
        let count = match kv::get(count_key.as_bytes())? {
            Some(v) => String::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
                    Error::new(
                        31,
                        format!("the stored count of {} is corrupt", event.subject),
                    )
                })?,
            None => 0,
        } + 1;
        kv::put(count_key.as_bytes(), count.to_string().as_bytes())?;
        if !event.id.is_empty() {
            seen.push(event.id.clone());
            let start = seen.len().saturating_sub(SEEN);
            kv::put(seen_key.as_bytes(), seen[start..].join("\n").as_bytes())?;
        }
        events::emit(
            "pathcount.updated",
            format!("{}={count}", event.subject).as_bytes(),
        )?;
        Ok(HandleResponse {
            ack: Ack::Done as i32,
            detail: format!("{} now {count}", event.subject),
        })
    }
}

bitvault_pdk::export_event_handler!(PathCount);

#[cfg(test)]
mod tests {
    use super::*;
    use bitvault_pdk::points::call;
    use bitvault_pdk::points::proto::event_handler::v1::DomainEvent;
    use bitvault_pdk::testing::Host;

    fn event(id: &str, kind: &str, subject: &str) -> HandleRequest {
        HandleRequest {
            event: Some(DomainEvent {
                id: id.into(),
                r#type: kind.into(),
                subject: subject.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn counts_per_path_publishes_and_ignores_redeliveries() {
        let host = Host::new()
            .topic("pathcount.*")
            .kv_entry(b"count:a/b", b"41");
        let out = host
            .clone()
            .input(&bitvault_pdk::points::Message::encode_to_vec(&event(
                "e1",
                "object.created",
                "a/b",
            )))
            .run(|| bitvault_pdk::points::serve(PathCount::handle));
        assert_eq!(out.code, 0);
        assert_eq!(out.kv[&b"count:a/b".to_vec()], b"42");
        assert_eq!(
            out.events,
            [("pathcount.updated".to_string(), b"a/b=42".to_vec())]
        );

        let again = Host::new()
            .topic("pathcount.*")
            .kv_entry(b"count:a/b", b"42")
            .kv_entry(b"seen:a/b", b"e1");
        let r: HandleResponse = call(
            again,
            PathCount::handle,
            &event("e1", "object.created", "a/b"),
        )
        .unwrap();
        assert_eq!(r.ack, Ack::Done as i32);
        assert!(r.detail.contains("already counted"));
    }

    #[test]
    fn other_events_are_ignored() {
        let r: HandleResponse = call(
            Host::new(),
            PathCount::handle,
            &event("e2", "share.created", "a"),
        )
        .unwrap();
        assert_eq!(r.ack, Ack::Ignored as i32);
    }
}
