//! policy (extension point `policy_hook`; capabilities `io`, `config`): an
//! upload policy whose rules come from the install's configuration.
//!
//! Configuration (every key optional; a rule without its key is off):
//! - `actions`: the actions the rules apply to, comma-separated (default
//!   `write`); other actions get ABSTAIN.
//! - `max_size`: the largest resource, in bytes.
//! - `media_types`: allowed media types, comma-separated; `image/*` allows
//!   every `image/` type.
//! - `hours`: a UTC time window `HH-HH` (`8-18`: from 08:00 to before
//!   18:00; `22-6` wraps midnight), judged by the request context's time.
//! - `deny_paths`: path patterns, comma-separated, where `*` matches within
//!   one segment and `**` any number of segments (`tmp/**`, `*.exe`).
//!
//! Every rule that objects adds a reason and the decision is DENY; when
//! none objects the hook ABSTAINs (it never allows on its own), adding the
//! attribute `policy.rules` with the rules it checked. A configuration
//! value that does not parse is the plugin error 30, naming the key.

use bitvault_pdk::points::PolicyHook;
use bitvault_pdk::points::proto::policy_hook::v1::{Decision, EvaluateRequest, EvaluateResponse};
use bitvault_pdk::{Error, config};

/// The plugin.
pub struct Policy;

fn bad(key: &str, value: &str, why: &str) -> Error {
    Error::new(30, format!("config `{key}` = `{value}`: {why}"))
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Whether `path` matches `pattern` (`*` within a segment, `**` across
/// segments).
pub fn glob(pattern: &str, path: &str) -> bool {
    fn segs(p: &[&str], s: &[&str]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(&"**"), _) => segs(&p[1..], s) || (!s.is_empty() && segs(p, &s[1..])),
            (Some(pp), Some(ss)) => seg(pp.as_bytes(), ss.as_bytes()) && segs(&p[1..], &s[1..]),
            _ => false,
        }
    }
    fn seg(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => seg(&p[1..], s) || (!s.is_empty() && seg(p, &s[1..])),
            (Some(a), Some(b)) => a == b && seg(&p[1..], &s[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('/').collect();
    let s: Vec<&str> = path.split('/').collect();
    // A pattern without `/` matches the last segment anywhere.
    if p.len() == 1 && p[0] != "**" {
        return s
            .last()
            .is_some_and(|last| seg(p[0].as_bytes(), last.as_bytes()));
    }
    segs(&p, &s)
}

fn media_type_allowed(allowed: &str, media_type: &str) -> bool {
    list(allowed).any(|a| match a.strip_suffix("/*") {
        Some(major) => media_type
            .split_once('/')
            .is_some_and(|(m, sub)| m == major && !sub.is_empty()),
        None => a == media_type,
    })
}

fn hour_window(value: &str) -> Result<(u32, u32), Error> {
    let (a, b) = value
        .split_once('-')
        .ok_or_else(|| bad("hours", value, "expected HH-HH"))?;
    let parse = |h: &str| {
        h.trim()
            .parse::<u32>()
            .ok()
            .filter(|h| *h <= 24)
            .ok_or_else(|| bad("hours", value, "hours are 0 to 24"))
    };
    Ok((parse(a)?, parse(b)?))
}

impl PolicyHook for Policy {
    fn evaluate(req: EvaluateRequest) -> Result<EvaluateResponse, Error> {
        let get = |key: &str| config::get(key);
        let actions = get("actions")?.unwrap_or_else(|| "write".into());
        let mut response = EvaluateResponse {
            decision: Decision::Abstain as i32,
            ..Default::default()
        };
        if !list(&actions).any(|a| a == req.action) {
            return Ok(response);
        }
        let resource = req.resource.unwrap_or_default();
        let mut checked = Vec::new();
        let mut reasons = Vec::new();

        if let Some(v) = get("max_size")? {
            let max: u64 = v
                .trim()
                .parse()
                .map_err(|_| bad("max_size", &v, "not a number of bytes"))?;
            checked.push("max_size");
            if resource.size > max {
                reasons.push(format!(
                    "size {} exceeds the limit of {max} bytes",
                    resource.size
                ));
            }
        }
        if let Some(v) = get("media_types")? {
            checked.push("media_types");
            if !media_type_allowed(&v, &resource.media_type) {
                reasons.push(format!(
                    "media type `{}` is not one of {v}",
                    resource.media_type
                ));
            }
        }
        if let Some(v) = get("hours")? {
            let (from, to) = hour_window(&v)?;
            checked.push("hours");
            let now = req.context.as_ref().map_or(0, |c| c.now_unix_ms);
            let hour = (now.rem_euclid(86_400_000) / 3_600_000) as u32;
            let inside = if from <= to {
                (from..to).contains(&hour)
            } else {
                hour >= from || hour < to
            };
            if !inside {
                reasons.push(format!("{hour:02}:xx UTC is outside the window {v}"));
            }
        }
        if let Some(v) = get("deny_paths")? {
            checked.push("deny_paths");
            if let Some(p) = list(&v).find(|p| glob(p, &resource.path)) {
                reasons.push(format!(
                    "path `{}` matches the denied pattern `{p}`",
                    resource.path
                ));
            }
        }
        response
            .attributes
            .insert("policy.rules".into(), checked.join(","));
        if !reasons.is_empty() {
            response.decision = Decision::Deny as i32;
            response.reasons = reasons;
        }
        Ok(response)
    }
}

bitvault_pdk::export_policy_hook!(Policy);

#[cfg(test)]
mod tests {
    use super::*;
    use bitvault_pdk::points::call;
    use bitvault_pdk::points::proto::common::v1::Context;
    use bitvault_pdk::points::proto::policy_hook::v1::Resource;
    use bitvault_pdk::testing::Host;

    fn host() -> Host {
        Host::new()
            .config("max_size", "1000")
            .config("media_types", "image/*, text/plain")
            .config("hours", "8-18")
            .config("deny_paths", "tmp/**, *.exe")
    }

    fn request(size: u64, media_type: &str, path: &str, hour: i64) -> EvaluateRequest {
        EvaluateRequest {
            context: Some(Context {
                now_unix_ms: hour * 3_600_000,
                ..Default::default()
            }),
            action: "write".into(),
            resource: Some(Resource {
                path: path.into(),
                size,
                media_type: media_type.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn every_objecting_rule_is_a_reason_and_none_means_abstain() {
        let ok: EvaluateResponse = call(
            host(),
            Policy::evaluate,
            &request(10, "image/png", "a/b.png", 9),
        )
        .unwrap();
        assert_eq!(ok.decision, Decision::Abstain as i32);
        assert!(ok.reasons.is_empty());
        assert_eq!(
            ok.attributes["policy.rules"],
            "max_size,media_types,hours,deny_paths"
        );

        let all: EvaluateResponse = call(
            host(),
            Policy::evaluate,
            &request(5000, "application/x-msdownload", "tmp/x/setup.exe", 20),
        )
        .unwrap();
        assert_eq!(all.decision, Decision::Deny as i32);
        assert_eq!(all.reasons.len(), 4, "{:?}", all.reasons);
    }

    #[test]
    fn other_actions_abstain_and_bad_config_is_error_30() {
        let mut read = request(5000, "x/y", "tmp/a", 3);
        read.action = "read".into();
        let r: EvaluateResponse = call(host(), Policy::evaluate, &read).unwrap();
        assert_eq!(r.decision, Decision::Abstain as i32);
        let broken = Host::new().config("hours", "nine-five");
        let err = call::<_, EvaluateResponse>(broken, Policy::evaluate, &request(1, "a/b", "p", 1))
            .unwrap_err();
        assert_eq!(err.code, 30);
    }

    #[test]
    fn globs_match_segments() {
        assert!(glob("tmp/**", "tmp/a/b"));
        assert!(glob("tmp/**", "tmp"));
        assert!(!glob("tmp/**", "tmpx/a"));
        assert!(glob("*.exe", "a/b/c.exe"));
        assert!(!glob("*.exe", "a/b.exe/c"));
        assert!(glob("a/*/c", "a/b/c"));
        assert!(!glob("a/*/c", "a/b/x/c"));
    }

    #[test]
    fn time_windows_wrap_midnight() {
        let night = Host::new().config("hours", "22-6");
        for (hour, inside) in [(23, true), (2, true), (6, false), (12, false)] {
            let r: EvaluateResponse = call(
                night.clone(),
                Policy::evaluate,
                &request(1, "a/b", "p", hour),
            )
            .unwrap();
            let denied = r.decision == Decision::Deny as i32;
            assert_eq!(denied, !inside, "hour {hour}");
        }
    }
}
