//! Reviewing grants: what a grant gives beyond a request, and a package's
//! capabilities as rows an admin reads side by side.

use bitvault_abi::{Grants, HttpOrigin};

/// One capability as a row: its kind and its scope in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapabilityRow {
    /// `io`, `log`, `http`, …
    pub capability: &'static str,
    /// Its scope (`min level info`, `topics a, b`, an origin), or empty.
    pub scope: String,
}

fn origin_text(o: &HttpOrigin) -> String {
    match &o.methods {
        Some(m) => format!("{} ({})", o.url, m.join(", ")),
        None => o.url.clone(),
    }
}

/// A grant set as rows, one per capability and per HTTP origin, in a fixed
/// order.
pub fn rows(grants: &Grants) -> Vec<CapabilityRow> {
    let row = |capability, scope: String| CapabilityRow { capability, scope };
    let mut out = Vec::new();
    if grants.io {
        out.push(row("io", String::new()));
    }
    if let Some(l) = &grants.log {
        out.push(row(
            "log",
            format!("min level {:?}", l.min_level).to_lowercase(),
        ));
    }
    if grants.config {
        out.push(row("config", String::new()));
    }
    if grants.clock {
        out.push(row("clock", String::new()));
    }
    if grants.random {
        out.push(row("random", String::new()));
    }
    if grants.kv {
        out.push(row("kv", "own namespace".into()));
    }
    if let Some(e) = &grants.events {
        out.push(row("events", format!("topics {}", e.topics.join(", "))));
    }
    if grants.stdio {
        out.push(row("stdio", String::new()));
    }
    if let Some(h) = &grants.http {
        for o in &h.origins {
            out.push(row("http", origin_text(o)));
        }
        for p in &h.allow_private {
            out.push(row("http", format!("private range {p}")));
        }
        out.push(row(
            "http",
            format!("max {} requests per call", h.max_requests),
        ));
    }
    for f in &grants.host_functions {
        out.push(row("host_functions", f.clone()));
    }
    out
}

/// What `granted` gives that `requested` does not ask for, one phrase per
/// excess (`kv`, `http origin https://x/`, `events topic t`). Empty when
/// the grant is within the request. An admin may grant less than a
/// package asks for, never more.
pub fn excess(granted: &Grants, requested: &Grants) -> Vec<String> {
    let mut out = Vec::new();
    let flags = [
        ("io", granted.io, requested.io),
        ("config", granted.config, requested.config),
        ("clock", granted.clock, requested.clock),
        ("random", granted.random, requested.random),
        ("kv", granted.kv, requested.kv),
        ("stdio", granted.stdio, requested.stdio),
    ];
    for (name, g, r) in flags {
        if g && !r {
            out.push(name.to_owned());
        }
    }
    if let Some(g) = &granted.log {
        match &requested.log {
            None => out.push("log".into()),
            Some(r) if g.min_level < r.min_level => {
                out.push(format!("log below level {:?}", r.min_level).to_lowercase())
            }
            Some(_) => {}
        }
    }
    if let Some(g) = &granted.events {
        let asked = requested
            .events
            .as_ref()
            .map(|e| e.topics.as_slice())
            .unwrap_or(&[]);
        if requested.events.is_none() {
            out.push("events".into());
        }
        for t in &g.topics {
            let allowed =
                asked.contains(t) || requested.events.as_ref().is_some_and(|e| e.allows(t));
            if !allowed {
                out.push(format!("events topic {t}"));
            }
        }
    }
    if let Some(g) = &granted.http {
        match &requested.http {
            None => out.push("http".into()),
            Some(r) => {
                for o in &g.origins {
                    let covered = r.origins.iter().any(|ro| {
                        ro.url == o.url
                            && match (&ro.methods, &o.methods) {
                                (None, _) => true,
                                (Some(_), None) => false,
                                (Some(rm), Some(gm)) => gm.iter().all(|m| rm.contains(m)),
                            }
                    });
                    if !covered {
                        out.push(format!("http origin {}", origin_text(o)));
                    }
                }
                for p in &g.allow_private {
                    if !r.allow_private.contains(p) {
                        out.push(format!("http private range {p}"));
                    }
                }
                if g.max_requests > r.max_requests {
                    out.push(format!("http max_requests {}", g.max_requests));
                }
            }
        }
    }
    for f in &granted.host_functions {
        if !requested.grants_host_function(f) {
            out.push(format!("host function {f}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitvault_abi::{EventsGrant, HttpGrant};

    #[test]
    fn a_grant_within_the_request_has_no_excess() {
        let mut requested = Grants::core_with_kv();
        requested.http = Some(HttpGrant::to(["https://a.example/", "https://b.example/"]));
        let mut granted = Grants::core();
        granted.http = Some(HttpGrant::to(["https://a.example/"]));
        assert!(excess(&granted, &requested).is_empty());
        assert!(excess(&requested, &requested).is_empty());
    }

    #[test]
    fn host_functions_are_granted_by_name_within_the_request() {
        let mut requested = Grants::core();
        requested.host_functions = vec!["lookup".into(), "audit".into()];
        let mut granted = Grants::core();
        granted.host_functions = vec!["lookup".into()];
        assert!(excess(&granted, &requested).is_empty());
        granted.host_functions.push("delete_all".into());
        assert_eq!(excess(&granted, &requested), ["host function delete_all"]);
        let text: Vec<String> = rows(&granted)
            .iter()
            .map(|r| format!("{} {}", r.capability, r.scope))
            .collect();
        assert!(
            text.contains(&"host_functions lookup".to_owned()),
            "{text:?}"
        );
    }

    #[test]
    fn each_excess_is_named() {
        let requested = Grants::core();
        let mut granted = Grants::core_with_kv();
        granted.http = Some(HttpGrant::to(["https://a.example/"]));
        granted.events = Some(EventsGrant {
            topics: vec!["t".into()],
        });
        assert_eq!(
            excess(&granted, &requested),
            ["kv", "events", "events topic t", "http"]
        );
        let mut requested = granted.clone();
        requested.http = Some(HttpGrant::to(["https://b.example/"]));
        assert_eq!(
            excess(&granted, &requested),
            ["http origin https://a.example/"]
        );
    }

    #[test]
    fn rows_list_every_scope() {
        let mut g = Grants::core();
        g.http = Some(HttpGrant::to(["https://a.example/"]));
        let text: Vec<String> = rows(&g)
            .iter()
            .map(|r| format!("{} {}", r.capability, r.scope))
            .collect();
        assert!(
            text.contains(&"http https://a.example/".to_owned()),
            "{text:?}"
        );
        assert!(text.iter().any(|t| t.starts_with("io")));
    }
}
