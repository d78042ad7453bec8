//! The content-transform suite: the subject's sample inputs transform to
//! well-formed, deterministic results, and odd inputs are refused, never
//! trapped on.

use bitvault_extpoints::proto::content_transform::v1::{TransformRequest, TransformResponse};
use bitvault_extpoints::{ContentTransform, ExtError};

use super::{answered_or_refused, check, refuses_garbage, survives_defaults, why};
use crate::{Case, Ctx, TransformSample};

pub(crate) const CASES: &[Case] = &[
    Case {
        name: "every_sample_transforms",
        run: samples,
    },
    Case {
        name: "the_result_is_deterministic",
        run: deterministic,
    },
    Case {
        name: "metadata_keys_are_named",
        run: metadata,
    },
    Case {
        name: "empty_content_is_refused_or_handled",
        run: empty_content,
    },
    Case {
        name: "corrupt_content_is_refused_or_handled",
        run: corrupt,
    },
    Case {
        name: "truncated_content_is_refused_or_handled",
        run: truncated,
    },
    Case {
        name: "an_unknown_media_type_is_refused_or_handled",
        run: unknown_type,
    },
    Case {
        name: "media_type_parameters_are_refused_or_handled",
        run: type_parameters,
    },
    Case {
        name: "unknown_parameters_are_refused_or_ignored",
        run: unknown_parameters,
    },
    Case {
        name: "absurd_parameter_values_are_refused_or_handled",
        run: absurd_parameters,
    },
    Case {
        name: "large_content_stays_within_limits",
        run: large,
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

fn sample<'a>(ctx: &Ctx<'a>) -> Result<&'a TransformSample, String> {
    ctx.subject().transform_samples.first().ok_or_else(|| {
        "the subject has no sample input (give one with --sample TYPE=FILE)".to_owned()
    })
}

fn request(s: &TransformSample) -> TransformRequest {
    TransformRequest {
        content: s.content.clone(),
        media_type: s.media_type.clone(),
        parameters: s.parameters.iter().cloned().collect(),
        ..Default::default()
    }
}

fn transform(ctx: &Ctx<'_>, req: TransformRequest) -> Result<TransformResponse, ExtError> {
    ctx.plugin().transform(ctx.inv(), req).map(|r| r.message)
}

fn samples(ctx: &Ctx<'_>) -> Result<(), String> {
    sample(ctx)?;
    for s in &ctx.subject().transform_samples {
        let r = transform(ctx, request(s)).map_err(|e| format!("{}: {}", s.media_type, why(e)))?;
        check(!r.content.is_empty(), || {
            format!("{}: an empty result", s.media_type)
        })?;
    }
    Ok(())
}

fn deterministic(ctx: &Ctx<'_>) -> Result<(), String> {
    let s = sample(ctx)?;
    let a = transform(ctx, request(s)).map_err(why)?;
    let b = transform(ctx, request(s)).map_err(why)?;
    check(a == b, || "the same input gave two results".into())
}

fn metadata(ctx: &Ctx<'_>) -> Result<(), String> {
    let r = transform(ctx, request(sample(ctx)?)).map_err(why)?;
    check(r.metadata.keys().all(|k| !k.is_empty()), || {
        "a metadata entry without a name".into()
    })
}

fn empty_content(ctx: &Ctx<'_>) -> Result<(), String> {
    let mut req = request(sample(ctx)?);
    req.content.clear();
    answered_or_refused(transform(ctx, req))
}

fn corrupt(ctx: &Ctx<'_>) -> Result<(), String> {
    let mut req = request(sample(ctx)?);
    for (i, b) in req.content.iter_mut().enumerate().skip(8) {
        *b = (i as u8).wrapping_mul(151) ^ 0x5a;
    }
    answered_or_refused(transform(ctx, req))
}

fn truncated(ctx: &Ctx<'_>) -> Result<(), String> {
    let mut req = request(sample(ctx)?);
    let half = req.content.len() / 2;
    req.content.truncate(half);
    answered_or_refused(transform(ctx, req))
}

fn unknown_type(ctx: &Ctx<'_>) -> Result<(), String> {
    let mut req = request(sample(ctx)?);
    req.media_type = "application/x-bitvault-unknown".into();
    answered_or_refused(transform(ctx, req))
}

fn type_parameters(ctx: &Ctx<'_>) -> Result<(), String> {
    let mut req = request(sample(ctx)?);
    req.media_type.push_str("; charset=binary");
    answered_or_refused(transform(ctx, req))
}

fn unknown_parameters(ctx: &Ctx<'_>) -> Result<(), String> {
    let mut req = request(sample(ctx)?);
    req.parameters
        .insert("conformance-unknown".into(), "1".into());
    answered_or_refused(transform(ctx, req))
}

fn absurd_parameters(ctx: &Ctx<'_>) -> Result<(), String> {
    let s = sample(ctx)?;
    for value in ["-1", "0", "99999999999999999999", "", "NaN", "∞"] {
        let mut req = request(s);
        for v in req.parameters.values_mut() {
            *v = value.into();
        }
        answered_or_refused(transform(ctx, req))
            .map_err(|e| format!("parameters = {value:?}: {e}"))?;
    }
    Ok(())
}

fn large(ctx: &Ctx<'_>) -> Result<(), String> {
    let mut req = request(sample(ctx)?);
    req.content.resize(8 << 20, 0);
    answered_or_refused(transform(ctx, req))
}

fn malformed(ctx: &Ctx<'_>) -> Result<(), String> {
    refuses_garbage(ctx, "content_transform_v1_transform")
}

fn defaults(ctx: &Ctx<'_>) -> Result<(), String> {
    survives_defaults::<TransformResponse>(ctx, "content_transform_v1_transform")
}
