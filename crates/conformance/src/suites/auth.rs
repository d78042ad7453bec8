//! The auth-provider suite: the subject's sample credentials yield their
//! identities at the right time, and nothing else does.

use bitvault_extpoints::AuthProvider;
use bitvault_extpoints::proto::auth_provider::v1::{
    AuthenticateRequest, AuthenticateResponse, authenticate_response::Result as Answer,
};

use super::{answered_or_refused, check, refuses_garbage, survives_defaults, why};
use crate::reference::base64url;
use crate::{Case, Ctx, TokenSample};

pub(crate) const CASES: &[Case] = &[
    Case {
        name: "every_sample_yields_its_identity",
        run: samples,
    },
    Case {
        name: "an_identity_is_not_already_expired",
        run: not_expired,
    },
    Case {
        name: "a_sample_is_rejected_once_expired",
        run: expired,
    },
    Case {
        name: "garbage_is_rejected",
        run: garbage,
    },
    Case {
        name: "an_empty_token_is_rejected",
        run: empty,
    },
    Case {
        name: "an_unsigned_alg_none_token_is_rejected",
        run: alg_none,
    },
    Case {
        name: "a_tampered_sample_is_rejected",
        run: tampered,
    },
    Case {
        name: "a_truncated_sample_is_rejected",
        run: truncated,
    },
    Case {
        name: "another_scheme_is_not_accepted",
        run: other_scheme,
    },
    Case {
        name: "a_huge_token_is_rejected_or_refused",
        run: huge,
    },
    Case {
        name: "the_answer_is_deterministic",
        run: deterministic,
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

fn sample<'a>(ctx: &Ctx<'a>) -> Result<&'a TokenSample, String> {
    ctx.subject()
        .token_samples
        .first()
        .ok_or_else(|| "the subject has no sample credential".to_owned())
}

fn authenticate(ctx: &Ctx<'_>, token: &str, scheme: &str) -> Result<AuthenticateResponse, String> {
    let req = AuthenticateRequest {
        token: token.into(),
        scheme: scheme.into(),
        ..Default::default()
    };
    ctx.plugin()
        .authenticate(ctx.inv(), req)
        .map(|r| r.message)
        .map_err(why)
}

fn rejected(ctx: &Ctx<'_>, token: &str, what: &str) -> Result<(), String> {
    let r = authenticate(ctx, token, "Bearer")?;
    match r.result {
        Some(Answer::Rejection(_)) => Ok(()),
        Some(Answer::Identity(id)) => Err(format!("{what} was accepted as `{}`", id.subject)),
        None => Err(format!("{what}: no answer")),
    }
}

fn samples(ctx: &Ctx<'_>) -> Result<(), String> {
    sample(ctx)?;
    for s in &ctx.subject().token_samples {
        match authenticate(ctx, &s.token, "Bearer")?.result {
            Some(Answer::Identity(id)) => check(id.subject == s.subject, || {
                format!("identity `{}`, expected `{}`", id.subject, s.subject)
            })?,
            other => return Err(format!("a valid sample for `{}` got {other:?}", s.subject)),
        }
    }
    Ok(())
}

fn not_expired(ctx: &Ctx<'_>) -> Result<(), String> {
    let s = sample(ctx)?;
    if let Some(Answer::Identity(id)) = authenticate(ctx, &s.token, "Bearer")?.result {
        check(
            id.expires_unix_ms == 0 || id.expires_unix_ms > ctx.subject().now_unix_ms,
            || {
                format!(
                    "an identity expiring at {} handed out at {}",
                    id.expires_unix_ms,
                    ctx.subject().now_unix_ms
                )
            },
        )?;
    }
    Ok(())
}

fn expired(ctx: &Ctx<'_>) -> Result<(), String> {
    let Some(s) = ctx
        .subject()
        .token_samples
        .iter()
        .find(|s| s.expired_at_unix_ms.is_some())
    else {
        return Err("no sample credential with an expiry".into());
    };
    let at = s.expired_at_unix_ms.unwrap_or_default();
    let req = AuthenticateRequest {
        token: s.token.clone(),
        scheme: "Bearer".into(),
        ..Default::default()
    };
    let r = ctx
        .plugin()
        .authenticate(&ctx.inv_at(at), req)
        .map_err(why)?
        .message;
    check(matches!(r.result, Some(Answer::Rejection(_))), || {
        format!("the sample was still accepted at {at}, after it expired")
    })
}

fn garbage(ctx: &Ctx<'_>) -> Result<(), String> {
    rejected(ctx, "definitely-not-a-credential", "garbage")
}

fn empty(ctx: &Ctx<'_>) -> Result<(), String> {
    rejected(ctx, "", "an empty token")
}

fn alg_none(ctx: &Ctx<'_>) -> Result<(), String> {
    let claims = format!(
        r#"{{"sub":"admin","exp":{}}}"#,
        ctx.subject().now_unix_ms / 1000 + 3600
    );
    for alg in ["none", "None", "NONE"] {
        let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
        let token = format!(
            "{}.{}.",
            base64url(header.as_bytes()),
            base64url(claims.as_bytes())
        );
        rejected(ctx, &token, &format!("an alg `{alg}` token"))?;
    }
    Ok(())
}

fn tampered(ctx: &Ctx<'_>) -> Result<(), String> {
    let token = &sample(ctx)?.token;
    let mut bytes = token.clone().into_bytes();
    // Change one character in the middle of the token.
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    rejected(ctx, &String::from_utf8_lossy(&bytes), "a tampered sample")
}

fn truncated(ctx: &Ctx<'_>) -> Result<(), String> {
    let token = &sample(ctx)?.token;
    rejected(
        ctx,
        &token[..token.len().saturating_sub(6)],
        "a truncated sample",
    )
}

fn other_scheme(ctx: &Ctx<'_>) -> Result<(), String> {
    let s = sample(ctx)?;
    let r = authenticate(ctx, &s.token, "Basic")?;
    check(!matches!(r.result, Some(Answer::Identity(_))), || {
        "a Bearer credential accepted under the Basic scheme".into()
    })
}

fn huge(ctx: &Ctx<'_>) -> Result<(), String> {
    let req = AuthenticateRequest {
        token: "A".repeat(1 << 20),
        scheme: "Bearer".into(),
        ..Default::default()
    };
    match ctx.plugin().authenticate(ctx.inv(), req) {
        Ok(r) if matches!(r.message.result, Some(Answer::Identity(_))) => {
            Err("a 1 MiB token was accepted".into())
        }
        other => answered_or_refused(other),
    }
}

fn deterministic(ctx: &Ctx<'_>) -> Result<(), String> {
    let s = sample(ctx)?;
    let a = authenticate(ctx, &s.token, "Bearer")?;
    let b = authenticate(ctx, &s.token, "Bearer")?;
    check(a == b, || {
        "two answers for one credential at one time".into()
    })
}

fn malformed(ctx: &Ctx<'_>) -> Result<(), String> {
    refuses_garbage(ctx, "auth_provider_v1_authenticate")
}

fn defaults(ctx: &Ctx<'_>) -> Result<(), String> {
    survives_defaults::<AuthenticateResponse>(ctx, "auth_provider_v1_authenticate")
}
