//! The policy-hook suite: a specified decision with reasons for every kind
//! of request, deterministically.

use bitvault_extpoints::PolicyHook;
use bitvault_extpoints::proto::policy_hook::v1::{
    Decision, EvaluateRequest, EvaluateResponse, Resource, Subject,
};

use super::{answered_or_refused, check, refuses_garbage, survives_defaults, why};
use crate::{Case, Ctx};

pub(crate) const CASES: &[Case] = &[
    Case {
        name: "a_typical_write_gets_a_decision",
        run: typical,
    },
    Case {
        name: "every_action_gets_a_decision",
        run: actions,
    },
    Case {
        name: "an_unknown_action_gets_a_decision",
        run: unknown_action,
    },
    Case {
        name: "the_same_request_gets_the_same_answer",
        run: deterministic,
    },
    Case {
        name: "allow_and_deny_carry_reasons",
        run: reasons,
    },
    Case {
        name: "a_request_without_subject_or_resource",
        run: missing_parts,
    },
    Case {
        name: "a_huge_size",
        run: huge_size,
    },
    Case {
        name: "unicode_paths",
        run: unicode_path,
    },
    Case {
        name: "many_attributes_and_groups",
        run: many_attributes,
    },
    Case {
        name: "an_empty_media_type",
        run: empty_media_type,
    },
    Case {
        name: "the_decision_uses_the_context_time_only",
        run: context_time,
    },
    Case {
        name: "refuses_malformed_requests",
        run: malformed,
    },
    Case {
        name: "survives_an_empty_request",
        run: defaults,
    },
];

fn request(action: &str, path: &str, size: u64, media_type: &str) -> EvaluateRequest {
    EvaluateRequest {
        subject: Some(Subject {
            id: "conformance-user".into(),
            groups: vec!["staff".into()],
            ..Default::default()
        }),
        action: action.into(),
        resource: Some(Resource {
            path: path.into(),
            size,
            media_type: media_type.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn evaluate(ctx: &Ctx<'_>, req: EvaluateRequest) -> Result<EvaluateResponse, String> {
    ctx.plugin()
        .evaluate(ctx.inv(), req)
        .map(|r| r.message)
        .map_err(why)
}

fn typical(ctx: &Ctx<'_>) -> Result<(), String> {
    evaluate(
        ctx,
        request("write", "docs/report.pdf", 12_345, "application/pdf"),
    )
    .map(drop)
}

fn actions(ctx: &Ctx<'_>) -> Result<(), String> {
    for action in ["read", "write", "delete", "share"] {
        evaluate(ctx, request(action, "docs/a.txt", 10, "text/plain"))
            .map_err(|e| format!("{action}: {e}"))?;
    }
    Ok(())
}

fn unknown_action(ctx: &Ctx<'_>) -> Result<(), String> {
    evaluate(ctx, request("teleport", "docs/a.txt", 10, "text/plain")).map(drop)
}

fn deterministic(ctx: &Ctx<'_>) -> Result<(), String> {
    let req = request(
        "write",
        "tmp/setup.exe",
        99_999_999,
        "application/x-msdownload",
    );
    let a = evaluate(ctx, req.clone())?;
    let b = evaluate(ctx, req)?;
    check(a == b, || {
        format!("two answers to one request: {a:?} and {b:?}")
    })
}

fn reasons(ctx: &Ctx<'_>) -> Result<(), String> {
    // The contract check refuses ALLOW or DENY without a reason; try
    // requests likely to get each.
    for req in [
        request(
            "write",
            "tmp/x/evil.exe",
            u64::MAX / 2,
            "application/x-msdownload",
        ),
        request("read", "public/readme.txt", 1, "text/plain"),
    ] {
        evaluate(ctx, req)?;
    }
    Ok(())
}

fn missing_parts(ctx: &Ctx<'_>) -> Result<(), String> {
    let req = EvaluateRequest {
        action: "write".into(),
        ..Default::default()
    };
    answered_or_refused(ctx.plugin().evaluate(ctx.inv(), req))
}

fn huge_size(ctx: &Ctx<'_>) -> Result<(), String> {
    evaluate(
        ctx,
        request("write", "big.bin", u64::MAX, "application/octet-stream"),
    )
    .map(drop)
}

fn unicode_path(ctx: &Ctx<'_>) -> Result<(), String> {
    evaluate(
        ctx,
        request("write", "Bücher/日本語/😀 ñ.txt", 5, "text/plain"),
    )
    .map(drop)
}

fn many_attributes(ctx: &Ctx<'_>) -> Result<(), String> {
    let mut req = request("write", "a/b.txt", 5, "text/plain");
    if let Some(s) = req.subject.as_mut() {
        s.groups = (0..1000).map(|i| format!("group-{i}")).collect();
        s.attributes = (0..1000)
            .map(|i| (format!("k{i}"), "v".repeat(64)))
            .collect();
    }
    if let Some(r) = req.resource.as_mut() {
        r.attributes = (0..1000).map(|i| (format!("r{i}"), "w".into())).collect();
    }
    evaluate(ctx, req).map(drop)
}

fn empty_media_type(ctx: &Ctx<'_>) -> Result<(), String> {
    evaluate(ctx, request("write", "a/b", 5, "")).map(drop)
}

fn context_time(ctx: &Ctx<'_>) -> Result<(), String> {
    // At one fixed context time, repeated calls agree, whatever the wall
    // clock does between them.
    let req = request("write", "docs/a.txt", 10, "text/plain");
    let inv = ctx.inv_at(crate::DEFAULT_NOW_UNIX_MS + 11 * 3_600_000);
    let a = ctx
        .plugin()
        .evaluate(&inv, req.clone())
        .map_err(why)?
        .message;
    std::thread::sleep(std::time::Duration::from_millis(5));
    let b = ctx.plugin().evaluate(&inv, req).map_err(why)?.message;
    check(a == b, || {
        "the answer changed although the context time did not".into()
    })?;
    check(Decision::try_from(a.decision).is_ok(), || {
        "an unknown decision".into()
    })
}

fn malformed(ctx: &Ctx<'_>) -> Result<(), String> {
    refuses_garbage(ctx, "policy_hook_v1_evaluate")
}

fn defaults(ctx: &Ctx<'_>) -> Result<(), String> {
    survives_defaults::<EvaluateResponse>(ctx, "policy_hook_v1_evaluate")
}
