//! The suites themselves: every reference plugin passes every case of its
//! points, and the deliberately broken fixture fails each point's suite
//! with reasons a plugin author can act on, so no suite passes everything.

use anyhow::{Result, bail};
use bitvault_conformance::{Report, Subject, reference, run, suite, table};
use bitvault_extpoints::Point;
use bitvault_runtime::{Runtime, RuntimeConfig};

fn plugins() -> Result<std::path::PathBuf> {
    reference::plugins_dir().map_err(anyhow::Error::msg)
}

#[test]
fn every_suite_has_at_least_twelve_distinct_cases() {
    for &point in Point::ALL {
        let cases = suite(point);
        assert!(cases.len() >= 12, "{point}: {} cases", cases.len());
        let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), cases.len(), "{point}: duplicate case names");
    }
}

#[test]
fn every_reference_plugin_passes_its_suites() -> Result<()> {
    let runtime = Runtime::new(RuntimeConfig::new())?;
    let subjects = reference::subjects(&plugins()?)?;
    let covered: std::collections::BTreeSet<Point> = subjects
        .iter()
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    assert_eq!(
        covered.len(),
        Point::ALL.len(),
        "a point without a reference plugin"
    );
    for (subject, points) in subjects {
        let report = run(&runtime, &subject, &points)?;
        assert!(report.passed(), "{}", table(&report));
        let expected: usize = points.iter().map(|p| suite(*p).len()).sum();
        assert_eq!(report.results.len(), expected);
    }
    Ok(())
}

fn broken_report() -> Result<Report> {
    let runtime = Runtime::new(RuntimeConfig::new())?;
    let wasm = std::fs::read(plugins()?.join("broken.wasm"))?;
    let mut subject = Subject::new("broken", wasm);
    subject
        .transform_samples
        .push(bitvault_conformance::TransformSample {
            media_type: "image/png".into(),
            content: reference::png_gradient(4, 4),
            parameters: Vec::new(),
        });
    Ok(run(&runtime, &subject, Point::ALL)?)
}

/// The reason the broken fixture fails `case` of `point`.
fn reason<'r>(report: &'r Report, point: Point, case: &str) -> Result<&'r str> {
    let Some(r) = report
        .results
        .iter()
        .find(|r| r.point == point && r.case == case)
    else {
        bail!("no case {point}/{case}");
    };
    match &r.outcome {
        Err(reason) => Ok(reason),
        Ok(()) => bail!("{point}/{case} passed for the broken fixture"),
    }
}

#[test]
fn the_broken_fixture_fails_every_suite_with_readable_reasons() -> Result<()> {
    let report = broken_report()?;
    for &point in Point::ALL {
        let failed = report.failures().filter(|r| r.point == point).count();
        assert!(
            failed >= 3,
            "{point}: only {failed} failures\n{}",
            table(&report)
        );
    }
    let expect = [
        (
            Point::ContentTransform,
            "every_sample_transforms",
            "is not a media type",
        ),
        (
            Point::EventHandler,
            "describe_declares_event_types",
            "no event types declared",
        ),
        (
            Point::EventHandler,
            "an_undeclared_type_is_not_retried_forever",
            "RETRY",
        ),
        (
            Point::StorageProvider,
            "get_of_a_missing_key_is_not_found",
            "missing key: Ok",
        ),
        (
            Point::StorageProvider,
            "delete_of_a_missing_key_is_ok",
            "existed = false",
        ),
        (
            Point::StorageProvider,
            "list_returns_the_prefix_in_order",
            "out of order",
        ),
        (
            Point::StorageProvider,
            "etags_change_with_the_content",
            "did not change",
        ),
        (
            Point::AuthProvider,
            "garbage_is_rejected",
            "was accepted as `anyone`",
        ),
        (
            Point::AuthProvider,
            "an_unsigned_alg_none_token_is_rejected",
            "alg `none`",
        ),
        (Point::AuthProvider, "an_empty_token_is_rejected", "trap"),
        (
            Point::PolicyHook,
            "a_typical_write_gets_a_decision",
            "without a reason",
        ),
        (
            Point::Search,
            "analyze_offsets_point_at_the_words",
            "outside a 18-byte text",
        ),
        (
            Point::Search,
            "preview_plain_text_is_escaped",
            "script element",
        ),
        (
            Point::Search,
            "preview_respects_max_bytes",
            "for max_bytes 1024",
        ),
    ];
    for (point, case, needle) in expect {
        let why = reason(&report, point, case)?;
        assert!(
            why.contains(needle),
            "{point}/{case}: `{why}` lacks `{needle}`"
        );
    }
    let text = table(&report);
    assert!(text.contains("FAIL") && text.contains("cases,"), "{text}");
    Ok(())
}

#[test]
fn docs_list_every_case() -> Result<()> {
    let doc =
        std::fs::read_to_string(reference::repository_root().join("docs/extension-points.md"))?;
    for &point in Point::ALL {
        for case in suite(point) {
            assert!(
                doc.contains(&format!("`{}`", case.name)),
                "docs/extension-points.md does not list {point}/{}",
                case.name
            );
        }
    }
    Ok(())
}
