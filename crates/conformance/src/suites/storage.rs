//! The storage-provider suite: object-store semantics, mirroring what a
//! storage adapter must do (`object_store`'s own conformance tests): round
//! trips, metadata, ETags, ranges, conditional writes, deletes, listing
//! with delimiters and pages.

use std::collections::BTreeSet;

use bitvault_extpoints::StorageProvider;
use bitvault_extpoints::proto::storage_provider::v1::{
    ByteRange, DeleteRequest, GetRequest, GetResponse, HeadRequest, ListRequest, ListResponse,
    PutRequest, PutResponse, Status,
};

use super::{check, refuses_garbage, why};
use crate::{Case, Ctx};

pub(crate) const CASES: &[Case] = &[
    Case {
        name: "put_then_get_round_trips",
        run: round_trip,
    },
    Case {
        name: "get_of_a_missing_key_is_not_found",
        run: get_missing,
    },
    Case {
        name: "head_matches_put",
        run: head_matches,
    },
    Case {
        name: "head_of_a_missing_key_is_not_found",
        run: head_missing,
    },
    Case {
        name: "etags_change_with_the_content",
        run: etags,
    },
    Case {
        name: "ranges_read_exactly_their_bytes",
        run: ranges,
    },
    Case {
        name: "a_range_past_the_end_is_invalid",
        run: range_past_end,
    },
    Case {
        name: "if_none_match_any_writes_only_once",
        run: if_none_match,
    },
    Case {
        name: "if_match_writes_only_over_that_etag",
        run: if_match,
    },
    Case {
        name: "get_if_match_checks_the_etag",
        run: get_if_match,
    },
    Case {
        name: "delete_removes_and_reports_it",
        run: delete_existing,
    },
    Case {
        name: "delete_of_a_missing_key_is_ok",
        run: delete_missing,
    },
    Case {
        name: "list_returns_the_prefix_in_order",
        run: list_prefix,
    },
    Case {
        name: "list_rolls_up_by_delimiter",
        run: list_delimiter,
    },
    Case {
        name: "list_pages_cover_everything_once",
        run: list_pages,
    },
    Case {
        name: "list_after_delete",
        run: list_after_delete,
    },
    Case {
        name: "invalid_keys_are_refused",
        run: invalid_keys,
    },
    Case {
        name: "empty_objects",
        run: empty_object,
    },
    Case {
        name: "a_one_mebibyte_object",
        run: large_object,
    },
    Case {
        name: "overwrite_replaces_everything",
        run: overwrite,
    },
    Case {
        name: "refuses_malformed_requests",
        run: malformed,
    },
];

fn put(ctx: &Ctx<'_>, key: &str, data: &[u8]) -> Result<PutResponse, String> {
    put_req(
        ctx,
        PutRequest {
            key: key.into(),
            data: data.to_vec(),
            content_type: "text/plain".into(),
            ..Default::default()
        },
    )
}

fn put_req(ctx: &Ctx<'_>, req: PutRequest) -> Result<PutResponse, String> {
    ctx.plugin()
        .put(ctx.inv(), req)
        .map(|r| r.message)
        .map_err(why)
}

fn put_ok(ctx: &Ctx<'_>, key: &str, data: &[u8]) -> Result<String, String> {
    let r = put(ctx, key, data)?;
    check(r.status == Status::Ok as i32, || {
        format!("put `{key}`: status {:?}", Status::try_from(r.status))
    })?;
    Ok(r.meta.map(|m| m.etag).unwrap_or_default())
}

fn get(ctx: &Ctx<'_>, key: &str, range: Option<(u64, u64)>) -> Result<GetResponse, String> {
    let req = GetRequest {
        key: key.into(),
        range: range.map(|(start, end)| ByteRange { start, end }),
        ..Default::default()
    };
    ctx.plugin()
        .get(ctx.inv(), req)
        .map(|r| r.message)
        .map_err(why)
}

fn status(raw: i32) -> Status {
    Status::try_from(raw).unwrap_or(Status::Unspecified)
}

fn list(
    ctx: &Ctx<'_>,
    prefix: &str,
    delimiter: &str,
    token: &str,
    max: u32,
) -> Result<ListResponse, String> {
    let req = ListRequest {
        prefix: prefix.into(),
        delimiter: delimiter.into(),
        page_token: token.into(),
        max_results: max,
        ..Default::default()
    };
    ctx.plugin()
        .list(ctx.inv(), req)
        .map(|r| r.message)
        .map_err(why)
}

fn round_trip(ctx: &Ctx<'_>) -> Result<(), String> {
    let data = b"hello, conformance";
    put_ok(ctx, "docs/hello.txt", data)?;
    let r = get(ctx, "docs/hello.txt", None)?;
    check(status(r.status) == Status::Ok, || {
        format!("get: {:?}", status(r.status))
    })?;
    check(r.data == data, || "get returned other bytes".into())?;
    let meta = r.meta.unwrap_or_default();
    check(meta.content_type == "text/plain", || {
        format!("content type `{}`", meta.content_type)
    })?;
    check(
        meta.last_modified_unix_ms == crate::DEFAULT_NOW_UNIX_MS || meta.last_modified_unix_ms > 0,
        || "no last-modified time".into(),
    )
}

fn get_missing(ctx: &Ctx<'_>) -> Result<(), String> {
    let r = get(ctx, "nothing/here", None)?;
    check(status(r.status) == Status::NotFound, || {
        format!("missing key: {:?}", status(r.status))
    })
}

fn head_matches(ctx: &Ctx<'_>) -> Result<(), String> {
    let put = put(ctx, "a/b.bin", &[7; 300])?.meta.unwrap_or_default();
    let head = ctx
        .plugin()
        .head(
            ctx.inv(),
            HeadRequest {
                key: "a/b.bin".into(),
                ..Default::default()
            },
        )
        .map_err(why)?
        .message;
    check(status(head.status) == Status::Ok, || {
        format!("head: {:?}", status(head.status))
    })?;
    let meta = head.meta.unwrap_or_default();
    check(meta.size == 300 && meta.etag == put.etag, || {
        format!("head {meta:?} after put {put:?}")
    })
}

fn head_missing(ctx: &Ctx<'_>) -> Result<(), String> {
    let head = ctx
        .plugin()
        .head(
            ctx.inv(),
            HeadRequest {
                key: "none".into(),
                ..Default::default()
            },
        )
        .map_err(why)?
        .message;
    check(status(head.status) == Status::NotFound, || {
        format!("head of a missing key: {:?}", status(head.status))
    })
}

fn etags(ctx: &Ctx<'_>) -> Result<(), String> {
    let a = put_ok(ctx, "e", b"one")?;
    let b = put_ok(ctx, "e", b"two")?;
    check(a != b, || {
        format!("the ETag `{a}` did not change with the content")
    })?;
    check(
        a.starts_with('"') && a.ends_with('"') && a.len() > 2,
        || format!("ETag `{a}` is not quoted"),
    )
}

fn ranges(ctx: &Ctx<'_>) -> Result<(), String> {
    let data: Vec<u8> = (0..100u8).collect();
    put_ok(ctx, "r", &data)?;
    for (start, end, expected) in [
        (0, 10, &data[0..10]),
        (90, 0, &data[90..]),
        (95, 1000, &data[95..]),
        (99, 100, &data[99..]),
    ] {
        let r = get(ctx, "r", Some((start, end)))?;
        check(status(r.status) == Status::Ok, || {
            format!("range {start}..{end}: {:?}", status(r.status))
        })?;
        check(r.data == expected, || {
            format!("range {start}..{end} returned {} bytes", r.data.len())
        })?;
        check(r.meta.as_ref().is_some_and(|m| m.size == 100), || {
            "range metadata is not the whole object's".into()
        })?;
    }
    Ok(())
}

fn range_past_end(ctx: &Ctx<'_>) -> Result<(), String> {
    put_ok(ctx, "r", &[1; 10])?;
    let r = get(ctx, "r", Some((10, 20)))?;
    check(status(r.status) == Status::InvalidRange, || {
        format!("range 10..20 of 10 bytes: {:?}", status(r.status))
    })
}

fn if_none_match(ctx: &Ctx<'_>) -> Result<(), String> {
    let req = |data: &[u8]| PutRequest {
        key: "once".into(),
        data: data.to_vec(),
        if_none_match_any: true,
        ..Default::default()
    };
    let first = put_req(ctx, req(b"first"))?;
    check(status(first.status) == Status::Ok, || {
        format!("first create: {:?}", status(first.status))
    })?;
    let second = put_req(ctx, req(b"second"))?;
    check(status(second.status) == Status::PreconditionFailed, || {
        format!("second create: {:?}", status(second.status))
    })?;
    let r = get(ctx, "once", None)?;
    check(r.data == b"first", || {
        "a refused create changed the object".into()
    })
}

fn if_match(ctx: &Ctx<'_>) -> Result<(), String> {
    let etag = put_ok(ctx, "cas", b"v1")?;
    let wrong = put_req(
        ctx,
        PutRequest {
            key: "cas".into(),
            data: b"x".to_vec(),
            if_match: "\"not-it\"".into(),
            ..Default::default()
        },
    )?;
    check(status(wrong.status) == Status::PreconditionFailed, || {
        format!("wrong if_match: {:?}", status(wrong.status))
    })?;
    let right = put_req(
        ctx,
        PutRequest {
            key: "cas".into(),
            data: b"v2".to_vec(),
            if_match: etag,
            ..Default::default()
        },
    )?;
    check(status(right.status) == Status::Ok, || {
        format!("right if_match: {:?}", status(right.status))
    })?;
    let missing = put_req(
        ctx,
        PutRequest {
            key: "absent".into(),
            data: b"x".to_vec(),
            if_match: "\"any\"".into(),
            ..Default::default()
        },
    )?;
    check(status(missing.status) == Status::PreconditionFailed, || {
        format!("if_match on a missing key: {:?}", status(missing.status))
    })?;
    check(get(ctx, "cas", None)?.data == b"v2", || {
        "the conditional write did not land".into()
    })
}

fn get_if_match(ctx: &Ctx<'_>) -> Result<(), String> {
    let etag = put_ok(ctx, "g", b"data")?;
    let req = |m: &str| GetRequest {
        key: "g".into(),
        if_match: m.into(),
        ..Default::default()
    };
    let ok = ctx
        .plugin()
        .get(ctx.inv(), req(&etag))
        .map_err(why)?
        .message;
    check(status(ok.status) == Status::Ok, || {
        format!("matching if_match: {:?}", status(ok.status))
    })?;
    let stale = ctx
        .plugin()
        .get(ctx.inv(), req("\"stale\""))
        .map_err(why)?
        .message;
    check(status(stale.status) == Status::PreconditionFailed, || {
        format!("stale if_match: {:?}", status(stale.status))
    })
}

fn delete(ctx: &Ctx<'_>, key: &str) -> Result<(Status, bool), String> {
    let r = ctx
        .plugin()
        .delete(
            ctx.inv(),
            DeleteRequest {
                key: key.into(),
                ..Default::default()
            },
        )
        .map_err(why)?
        .message;
    Ok((status(r.status), r.existed))
}

fn delete_existing(ctx: &Ctx<'_>) -> Result<(), String> {
    put_ok(ctx, "d", b"x")?;
    check(delete(ctx, "d")? == (Status::Ok, true), || {
        "deleting an object did not report it".into()
    })?;
    let r = get(ctx, "d", None)?;
    check(status(r.status) == Status::NotFound, || {
        format!("get after delete: {:?}", status(r.status))
    })
}

fn delete_missing(ctx: &Ctx<'_>) -> Result<(), String> {
    let r = delete(ctx, "never/was")?;
    check(r == (Status::Ok, false), || {
        format!("deleting a missing key answered {r:?}")
    })
}

fn keys(r: &ListResponse) -> Vec<&str> {
    r.objects.iter().map(|o| o.key.as_str()).collect()
}

fn list_prefix(ctx: &Ctx<'_>) -> Result<(), String> {
    for k in ["b/1", "a/2", "a/1", "ab", "c"] {
        put_ok(ctx, k, k.as_bytes())?;
    }
    let r = list(ctx, "a/", "", "", 0)?;
    check(keys(&r) == ["a/1", "a/2"], || {
        format!("prefix a/: {:?}", keys(&r))
    })?;
    let all = list(ctx, "", "", "", 0)?;
    check(keys(&all) == ["a/1", "a/2", "ab", "b/1", "c"], || {
        format!("everything: {:?}", keys(&all))
    })?;
    let sizes: Vec<u64> = all.objects.iter().map(|o| o.size).collect();
    check(sizes == [3, 3, 2, 3, 1], || format!("sizes {sizes:?}"))
}

fn list_delimiter(ctx: &Ctx<'_>) -> Result<(), String> {
    for k in ["x/a", "x/b/c", "x/b/d", "x/e/f/g", "y/z"] {
        put_ok(ctx, k, b".")?;
    }
    let r = list(ctx, "x/", "/", "", 0)?;
    check(keys(&r) == ["x/a"], || format!("objects {:?}", keys(&r)))?;
    check(r.common_prefixes == ["x/b/", "x/e/"], || {
        format!("common prefixes {:?}", r.common_prefixes)
    })?;
    let top = list(ctx, "", "/", "", 0)?;
    check(
        top.objects.is_empty() && top.common_prefixes == ["x/", "y/"],
        || format!("top level: {:?} and {:?}", keys(&top), top.common_prefixes),
    )
}

fn list_pages(ctx: &Ctx<'_>) -> Result<(), String> {
    let all: Vec<String> = (0..23).map(|i| format!("p/{i:02}")).collect();
    for k in &all {
        put_ok(ctx, k, b".")?;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    for page in 0.. {
        check(page < 30, || "more pages than objects".into())?;
        let r = list(ctx, "p/", "", &token, 5)?;
        check(r.objects.len() <= 5, || {
            format!("page of {}", r.objects.len())
        })?;
        seen.extend(r.objects.iter().map(|o| o.key.clone()));
        if r.next_page_token.is_empty() {
            break;
        }
        token = r.next_page_token;
    }
    check(seen == all, || {
        format!("pages gave {} keys in this order: {seen:?}", seen.len())
    })?;
    let unique: BTreeSet<_> = seen.iter().collect();
    check(unique.len() == seen.len(), || {
        "a key appeared on two pages".into()
    })
}

fn list_after_delete(ctx: &Ctx<'_>) -> Result<(), String> {
    for k in ["l/1", "l/2", "l/3"] {
        put_ok(ctx, k, b".")?;
    }
    delete(ctx, "l/2")?;
    let r = list(ctx, "l/", "", "", 0)?;
    check(keys(&r) == ["l/1", "l/3"], || {
        format!("after deleting l/2: {:?}", keys(&r))
    })
}

fn invalid_keys(ctx: &Ctx<'_>) -> Result<(), String> {
    // The contract check requires INVALID_KEY for each of these.
    for key in [
        "",
        "/abs",
        "a//b",
        "a/./b",
        "a/../b",
        "nul\0key",
        &"k".repeat(1025),
    ] {
        put(ctx, key, b"x").map_err(|e| format!("put {key:?}: {e}"))?;
        get(ctx, key, None).map_err(|e| format!("get {key:?}: {e}"))?;
    }
    Ok(())
}

fn empty_object(ctx: &Ctx<'_>) -> Result<(), String> {
    put_ok(ctx, "empty", b"")?;
    let r = get(ctx, "empty", None)?;
    check(status(r.status) == Status::Ok && r.data.is_empty(), || {
        format!("empty object: {:?}", status(r.status))
    })?;
    let l = list(ctx, "empty", "", "", 0)?;
    check(l.objects.first().is_some_and(|o| o.size == 0), || {
        "the empty object is not listed with size 0".into()
    })
}

fn large_object(ctx: &Ctx<'_>) -> Result<(), String> {
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    put_ok(ctx, "big", &data)?;
    let r = get(ctx, "big", None)?;
    check(r.data == data, || {
        format!("a 1 MiB object came back as {} bytes", r.data.len())
    })?;
    let tail = get(ctx, "big", Some(((1 << 20) - 10, 0)))?;
    check(tail.data == data[(1 << 20) - 10..], || {
        "the last 10 bytes differ".into()
    })
}

fn overwrite(ctx: &Ctx<'_>) -> Result<(), String> {
    put_req(
        ctx,
        PutRequest {
            key: "o".into(),
            data: vec![1; 50],
            content_type: "application/a".into(),
            ..Default::default()
        },
    )?;
    put_req(
        ctx,
        PutRequest {
            key: "o".into(),
            data: vec![2; 5],
            content_type: "application/b".into(),
            ..Default::default()
        },
    )?;
    let r = get(ctx, "o", None)?;
    let meta = r.meta.unwrap_or_default();
    check(
        r.data == [2; 5] && meta.size == 5 && meta.content_type == "application/b",
        || format!("after overwrite: {} bytes, {meta:?}", r.data.len()),
    )
}

fn malformed(ctx: &Ctx<'_>) -> Result<(), String> {
    for op in ["put", "get", "head", "delete", "list"] {
        refuses_garbage(ctx, &format!("storage_provider_v1_{op}"))?;
    }
    Ok(())
}
