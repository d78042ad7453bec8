//! The event-handler suite: declared types, acknowledgements, and
//! resilience to odd events.

use bitvault_extpoints::EventHandler;
use bitvault_extpoints::proto::event_handler::v1::{
    Ack, DescribeResponse, DomainEvent, HandleResponse,
};

use super::{answered_or_refused, check, refuses_garbage, survives_defaults, why};
use crate::{Case, Ctx};

pub(crate) const CASES: &[Case] = &[
    Case {
        name: "describe_declares_event_types",
        run: describe,
    },
    Case {
        name: "describe_is_stable",
        run: describe_stable,
    },
    Case {
        name: "each_declared_type_is_acknowledged",
        run: declared,
    },
    Case {
        name: "an_undeclared_type_is_not_retried_forever",
        run: undeclared,
    },
    Case {
        name: "a_redelivered_event_is_acknowledged_again",
        run: redelivery,
    },
    Case {
        name: "a_large_payload",
        run: large_payload,
    },
    Case {
        name: "unicode_subjects",
        run: unicode_subject,
    },
    Case {
        name: "many_attributes",
        run: many_attributes,
    },
    Case {
        name: "an_event_without_a_subject",
        run: no_subject,
    },
    Case {
        name: "an_event_without_an_id",
        run: empty_id,
    },
    Case {
        name: "handle_refuses_malformed_requests",
        run: handle_malformed,
    },
    Case {
        name: "describe_survives_an_empty_request",
        run: describe_defaults,
    },
    Case {
        name: "handle_survives_an_empty_request",
        run: handle_defaults,
    },
];

fn types(ctx: &Ctx<'_>) -> Result<Vec<String>, String> {
    ctx.plugin()
        .describe(ctx.inv())
        .map(|r| r.message.event_types)
        .map_err(why)
}

/// A concrete type matching the first declared pattern.
fn a_type(ctx: &Ctx<'_>) -> Result<String, String> {
    let first = types(ctx)?.into_iter().next().ok_or("no event types")?;
    Ok(match first.strip_suffix(".*") {
        Some(prefix) => format!("{prefix}.conformance"),
        None => first,
    })
}

fn event(kind: &str, id: &str, subject: &str) -> DomainEvent {
    DomainEvent {
        id: id.into(),
        r#type: kind.into(),
        subject: subject.into(),
        tenant: "conformance".into(),
        time_unix_ms: crate::DEFAULT_NOW_UNIX_MS,
        ..Default::default()
    }
}

fn handle(ctx: &Ctx<'_>, e: DomainEvent) -> Result<HandleResponse, String> {
    ctx.plugin()
        .handle(ctx.inv(), e)
        .map(|r| r.message)
        .map_err(why)
}

fn describe(ctx: &Ctx<'_>) -> Result<(), String> {
    // The contract check refuses an empty or malformed list.
    types(ctx).map(drop)
}

fn describe_stable(ctx: &Ctx<'_>) -> Result<(), String> {
    let a = types(ctx)?;
    let b = ctx
        .plugin()
        .describe(&ctx.inv_at(0))
        .map_err(why)?
        .message
        .event_types;
    check(a == b, || format!("declared {a:?}, then {b:?}"))
}

fn declared(ctx: &Ctx<'_>) -> Result<(), String> {
    for pattern in types(ctx)? {
        let kind = match pattern.strip_suffix(".*") {
            Some(prefix) => format!("{prefix}.conformance"),
            None => pattern.clone(),
        };
        let r = handle(ctx, event(&kind, &format!("id-{kind}"), "docs/a.txt"))?;
        check(r.ack != Ack::Retry as i32, || {
            format!("{kind}: RETRY for an ordinary event")
        })?;
    }
    Ok(())
}

fn undeclared(ctx: &Ctx<'_>) -> Result<(), String> {
    let r = handle(
        ctx,
        event("conformance.undeclared.type", "id-u", "docs/a.txt"),
    )?;
    check(r.ack != Ack::Retry as i32, || {
        "RETRY for a type it does not handle".into()
    })
}

fn redelivery(ctx: &Ctx<'_>) -> Result<(), String> {
    let kind = a_type(ctx)?;
    let first = handle(ctx, event(&kind, "id-redelivered", "docs/r.txt"))?;
    let again = handle(ctx, event(&kind, "id-redelivered", "docs/r.txt"))?;
    check(again.ack != Ack::Retry as i32, || {
        format!("the redelivery got RETRY after {:?}", first.ack)
    })
}

fn large_payload(ctx: &Ctx<'_>) -> Result<(), String> {
    let mut e = event(&a_type(ctx)?, "id-large", "docs/big.bin");
    e.payload = vec![0xab; 1 << 20];
    handle(ctx, e).map(drop)
}

fn unicode_subject(ctx: &Ctx<'_>) -> Result<(), String> {
    handle(ctx, event(&a_type(ctx)?, "id-uni", "Bücher/日本語/😀.txt")).map(drop)
}

fn many_attributes(ctx: &Ctx<'_>) -> Result<(), String> {
    let mut e = event(&a_type(ctx)?, "id-attrs", "docs/a.txt");
    e.attributes = (0..1000)
        .map(|i| (format!("a{i}"), "x".repeat(32)))
        .collect();
    handle(ctx, e).map(drop)
}

fn no_subject(ctx: &Ctx<'_>) -> Result<(), String> {
    answered_or_refused(
        ctx.plugin()
            .handle(ctx.inv(), event(&a_type(ctx)?, "id-ns", "")),
    )
}

fn empty_id(ctx: &Ctx<'_>) -> Result<(), String> {
    // An event without an id cannot be recognised as redelivered; it must
    // still be handled.
    let kind = a_type(ctx)?;
    for _ in 0..2 {
        let r = handle(ctx, event(&kind, "", "docs/no-id.txt"))?;
        check(r.ack != Ack::Retry as i32, || {
            "RETRY for an event without an id".into()
        })?;
    }
    Ok(())
}

fn handle_malformed(ctx: &Ctx<'_>) -> Result<(), String> {
    refuses_garbage(ctx, "event_handler_v1_handle")
}

fn describe_defaults(ctx: &Ctx<'_>) -> Result<(), String> {
    survives_defaults::<DescribeResponse>(ctx, "event_handler_v1_describe")
}

fn handle_defaults(ctx: &Ctx<'_>) -> Result<(), String> {
    survives_defaults::<HandleResponse>(ctx, "event_handler_v1_handle")
}
