//! The scoped-HTTP network policy: allowlist parsing and matching, host
//! normalisation, address classification, resolution that yields only
//! checked addresses, and redirects. Every SSRF form is asserted to fail
//! with its exact error. No test sends traffic: names are answered by a
//! `StubResolver`, and IP literals are never resolved.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::{Result, bail, ensure};
use bitvault_runtime::net::{
    AddrClass, AddrRange, Allowlist, Host, MAX_ERROR_TEXT, Method, NetError, Origin, OriginProblem,
    RangeProblem, Refusal, Resolver, StubResolver, SystemResolver, Target, UrlParseError,
    canonical, classify,
};

/// A public address (no packet is ever sent to it).
const PUBLIC: IpAddr = IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34));
/// A public IPv6 address.
const PUBLIC6: IpAddr = IpAddr::V6(Ipv6Addr::new(
    0x2606, 0x2800, 0x220, 1, 0x248, 0x1893, 0x25c8, 0x1946,
));
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn v4(s: &str) -> Result<IpAddr> {
    Ok(IpAddr::V4(s.parse()?))
}

fn ip(s: &str) -> Result<IpAddr> {
    Ok(s.parse()?)
}

/// `https://api.example.com` with any path and method.
fn api() -> Result<Allowlist> {
    Ok(Allowlist::parse(["https://api.example.com"], [])?)
}

/// The `Refusal` of a request the allowlist must refuse, with the URL the
/// error reports.
fn not_allowed(list: &Allowlist, method: &str, url: &str) -> Result<(String, Refusal)> {
    match list.check_url(method, url) {
        Err(NetError::NotAllowed { url, reason }) => Ok((url, reason)),
        other => bail!("{method} {url}: expected NotAllowed, got {other:?}"),
    }
}

/// The origin named by a `Refusal::Origin`.
fn refused_origin(list: &Allowlist, url: &str) -> Result<String> {
    match not_allowed(list, "GET", url)? {
        (_, Refusal::Origin { origin }) => Ok(origin),
        (_, other) => bail!("{url}: expected Refusal::Origin, got {other:?}"),
    }
}

/// Host, address and class of an `AddressRefused`.
fn refused_addr(
    list: &Allowlist,
    target: &Target,
    resolver: &dyn Resolver,
) -> Result<(String, IpAddr, AddrClass)> {
    match list.resolve_checked(target, resolver) {
        Err(NetError::AddressRefused { host, addr, class }) => Ok((host, addr, class)),
        other => bail!("{}: expected AddressRefused, got {other:?}", target.url()),
    }
}

/// A resolver that must never be asked: IP literals skip resolution.
struct NoLookups;

impl Resolver for NoLookups {
    fn resolve(&self, host: &str, _port: u16) -> Result<Vec<IpAddr>, NetError> {
        Err(NetError::Resolve {
            host: host.to_owned(),
            source: io::Error::other("an IP literal was resolved"),
        })
    }
}

#[test]
fn an_allowlisted_request_passes_with_its_checked_addresses() -> Result<()> {
    let list = api()?;
    let dns = StubResolver::new().answer("api.example.com", [PUBLIC, PUBLIC6]);
    let target = list.check_url("GET", "https://api.example.com/items?page=2#top")?;
    assert_eq!(
        target.url().as_str(),
        "https://api.example.com/items?page=2"
    );
    assert_eq!(target.host(), &Host::Domain("api.example.com".into()));
    assert_eq!(target.port(), 443);
    assert_eq!(target.method(), Method::Get);
    assert_eq!(target.origin().to_string(), "https://api.example.com:443");
    let addrs = list.resolve_checked(&target, &dns)?;
    assert_eq!(
        addrs,
        [SocketAddr::new(PUBLIC, 443), SocketAddr::new(PUBLIC6, 443)]
    );
    assert_eq!(dns.lookups("api.example.com"), 1);
    Ok(())
}

#[test]
fn origins_are_normalised() -> Result<()> {
    let o = Origin::parse("https://API.Example.COM.:443/")?;
    assert_eq!(o.host(), &Host::Domain("api.example.com".into()));
    assert_eq!((o.port(), o.path_prefix(), o.methods()), (443, None, None));
    assert_eq!(o.to_string(), "https://api.example.com:443");

    let o = Origin::parse("http://127.0.0.1:8080/v1/")?;
    assert_eq!(o.host(), &Host::Ip(LOOPBACK));
    assert_eq!((o.port(), o.path_prefix()), (8080, Some("/v1")));
    assert_eq!(o.to_string(), "http://127.0.0.1:8080/v1");

    let o = Origin::parse("https://[::1]:8443")?;
    assert_eq!(o.host(), &Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    assert_eq!(o.to_string(), "https://[::1]:8443");

    let o = Origin::parse("https://[::ffff:7f00:1]")?;
    assert_eq!(o.host(), &Host::Ip(LOOPBACK));

    let o = Origin::parse("https://Bücher.example")?;
    assert_eq!(o.host(), &Host::Domain("xn--bcher-kva.example".into()));

    let o = Origin::parse("http://api.example.com")?.with_methods([Method::Get, Method::Get]);
    assert_eq!(o.port(), 80);
    assert_eq!(o.methods(), Some(&[Method::Get][..]));
    Ok(())
}

#[test]
fn bad_origins_are_refused_with_their_problem() -> Result<()> {
    let cases = [
        (
            "ftp://example.com",
            OriginProblem::Scheme {
                scheme: "ftp".into(),
            },
        ),
        (
            "file:///etc/passwd",
            OriginProblem::Scheme {
                scheme: "file".into(),
            },
        ),
        ("https://user:pw@example.com", OriginProblem::UserInfo),
        ("https://user@example.com", OriginProblem::UserInfo),
        ("https://example.com/?q=1", OriginProblem::Query),
        ("https://example.com/#frag", OriginProblem::Fragment),
        ("https://*.example.com", OriginProblem::Wildcard),
        ("https://api.*", OriginProblem::Wildcard),
        ("https://", OriginProblem::EmptyHost),
        ("https://./", OriginProblem::EmptyHost),
        ("http://example.com:0", OriginProblem::PortZero),
        (
            "example.com",
            OriginProblem::Syntax {
                source: UrlParseError::RelativeUrlWithoutBase,
            },
        ),
        (
            "https://example.com:99999",
            OriginProblem::Syntax {
                source: UrlParseError::InvalidPort,
            },
        ),
    ];
    for (entry, want) in cases {
        match Origin::parse(entry) {
            Err(NetError::BadOrigin { entry: e, problem }) => {
                assert_eq!((e.as_str(), problem), (entry, want));
            }
            other => bail!("{entry}: expected BadOrigin, got {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn address_ranges_parse_strictly() -> Result<()> {
    let r = AddrRange::parse("127.0.0.0/8")?;
    assert_eq!(
        (r.network(), r.prefix_len(), r.is_single()),
        (v4("127.0.0.0")?, 8, false)
    );
    assert!(r.contains(v4("127.255.0.1")?) && !r.contains(v4("128.0.0.1")?));
    assert!(!r.contains(ip("::1")?));
    let r = AddrRange::parse("10.1.2.3")?;
    assert_eq!((r.prefix_len(), r.is_single()), (32, true));
    assert_eq!(AddrRange::parse("fd00::/8")?.to_string(), "fd00::/8");
    assert!(AddrRange::parse("0.0.0.0/0")?.contains(v4("8.8.8.8")?));
    assert!(AddrRange::parse("::/0")?.contains(PUBLIC6));

    let cases = [
        (
            "10.1.2.3/8",
            RangeProblem::HostBitsSet {
                network: "10.0.0.0/8".into(),
            },
        ),
        ("10.0.0.0/33", RangeProblem::PrefixTooLong { max: 32 }),
        ("::/129", RangeProblem::PrefixTooLong { max: 128 }),
        ("::ffff:127.0.0.0/104", RangeProblem::Ipv4Mapped),
        ("10.0.0.0/+8", RangeProblem::Syntax),
        ("10.0.0.0/", RangeProblem::Syntax),
        ("localhost", RangeProblem::Syntax),
        ("127.1/8", RangeProblem::Syntax),
    ];
    for (entry, want) in cases {
        match AddrRange::parse(entry) {
            Err(NetError::BadRange { entry: e, problem }) => {
                assert_eq!((e.as_str(), problem), (entry, want));
            }
            other => bail!("{entry}: expected BadRange, got {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn addresses_are_classified() -> Result<()> {
    use AddrClass::*;
    let cases = [
        ("8.8.8.8", Public),
        ("93.184.216.34", Public),
        ("172.15.255.255", Public),
        ("172.32.0.0", Public),
        ("0.0.0.0", Unspecified),
        ("0.1.2.3", Reserved),
        ("127.0.0.1", Loopback),
        ("127.255.255.254", Loopback),
        ("10.0.0.1", Private),
        ("172.16.0.1", Private),
        ("172.31.255.255", Private),
        ("192.168.1.1", Private),
        ("100.64.0.1", SharedCgnat),
        ("100.127.255.255", SharedCgnat),
        ("169.254.1.1", LinkLocal),
        ("169.254.169.254", Metadata),
        ("169.254.170.2", Metadata),
        ("100.100.100.200", Metadata),
        ("168.63.129.16", Metadata),
        ("192.0.0.192", Metadata),
        ("192.0.0.8", Reserved),
        ("192.0.2.1", Documentation),
        ("198.51.100.1", Documentation),
        ("203.0.113.5", Documentation),
        ("198.18.0.1", Benchmarking),
        ("192.88.99.1", Reserved),
        ("224.0.0.1", Multicast),
        ("239.255.255.250", Multicast),
        ("240.0.0.1", Reserved),
        ("255.255.255.255", Broadcast),
        // IPv6
        ("2606:2800:220:1:248:1893:25c8:1946", Public),
        ("::", Unspecified),
        ("::1", Loopback),
        ("fe80::1", LinkLocal),
        ("febf::1", LinkLocal),
        ("fec0::1", SiteLocal),
        ("fc00::1", UniqueLocal),
        ("fd12:3456::1", UniqueLocal),
        ("fd00:ec2::254", Metadata),
        ("ff02::1", Multicast),
        ("2001:db8::1", Documentation),
        ("3fff::1", Documentation),
        ("2001:2::1", Benchmarking),
        ("2001:10::1", Reserved),
        ("100::1", Reserved),
        ("5f00::1", Reserved),
        ("4000::1", Reserved),
        ("::2", Reserved),
        // IPv6 carrying IPv4: classified by the IPv4 address
        ("::ffff:127.0.0.1", Loopback),
        ("::ffff:169.254.169.254", Metadata),
        ("::ffff:8.8.8.8", Public),
        ("::127.0.0.1", Loopback),
        ("::ffff:0:10.0.0.1", Private),
        ("64:ff9b::7f00:1", Loopback),
        ("64:ff9b::a9fe:a9fe", Metadata),
        ("64:ff9b::a00:1", Private),
        ("64:ff9b::808:808", Public),
        ("64:ff9b:1::808:808", Reserved),
        ("2002:7f00:1::1", Loopback),
        ("2002:c0a8:101::1", Private),
        ("2002:5db8:d822::1", Public),
        // Teredo: server 93.184.216.34, client 127.0.0.1 / 8.8.8.8 inverted
        ("2001:0:5db8:d822::80ff:fffe", Loopback),
        ("2001:0:5db8:d822::f7f7:f7f7", Public),
        ("2001:0:a00:1::f7f7:f7f7", Private),
    ];
    for (addr, want) in cases {
        assert_eq!(classify(ip(addr)?), want, "{addr}");
    }
    assert_eq!(Metadata.to_string(), "metadata");
    assert!(Public.is_public() && !Loopback.is_public());
    Ok(())
}

#[test]
fn canonical_unwraps_only_mapped_and_compatible_forms() -> Result<()> {
    assert_eq!(canonical(ip("::ffff:1.2.3.4")?), v4("1.2.3.4")?);
    assert_eq!(canonical(ip("::7f00:1")?), LOOPBACK);
    assert_eq!(canonical(ip("::1")?), ip("::1")?);
    assert_eq!(canonical(ip("::")?), ip("::")?);
    assert_eq!(canonical(ip("64:ff9b::7f00:1")?), ip("64:ff9b::7f00:1")?);
    assert_eq!(canonical(PUBLIC6), PUBLIC6);
    Ok(())
}

/// Every spelling of 127.0.0.1 is read as 127.0.0.1: it matches an origin
/// written `http://127.0.0.1`, is refused as loopback without a private
/// grant, and never matches a DNS-name origin.
#[test]
fn ipv4_spellings_are_read_as_the_address_they_mean() -> Result<()> {
    let loopback_origin = Allowlist::parse(["http://127.0.0.1"], [])?;
    let api = api()?;
    let spellings = [
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0x7f000001/",
        "http://017700000001/",
        "http://0177.0.0.1/",
        "http://0177.0.0.01/",
        "http://127.1/",
        "http://127.0.1/",
        "http://127.0.0.1./",
        "http://%31%32%37.0.0.1/",
        "http://127\u{3002}0\u{3002}0\u{3002}1/",
        "http://\u{ff11}\u{ff12}\u{ff17}.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[0:0:0:0:0:ffff:127.0.0.1]/",
        "http://[::127.0.0.1]/",
    ];
    for url in spellings {
        let target = loopback_origin.check_url("GET", url)?;
        assert_eq!(target.host(), &Host::Ip(LOOPBACK), "{url}");
        assert_eq!(target.url().as_str(), "http://127.0.0.1/", "{url}");
        assert_eq!(
            refused_addr(&loopback_origin, &target, &NoLookups)?,
            ("127.0.0.1".into(), LOOPBACK, AddrClass::Loopback),
            "{url}"
        );
        assert_eq!(refused_origin(&api, url)?, "http://127.0.0.1:80", "{url}");
    }
    Ok(())
}

#[test]
fn malformed_urls_are_bad_urls() -> Result<()> {
    let list = api()?;
    let cases = [
        ("not a url", UrlParseError::RelativeUrlWithoutBase),
        ("http://[::1", UrlParseError::InvalidIpv6Address),
        ("http://256.0.0.1/", UrlParseError::InvalidIpv4Address),
        ("http://1.2.3.4.5/", UrlParseError::InvalidIpv4Address),
        ("http://0x100000000/", UrlParseError::InvalidIpv4Address),
        (
            "http://[fe80::1%25eth0]/",
            UrlParseError::InvalidIpv6Address,
        ),
        ("https://", UrlParseError::EmptyHost),
    ];
    for (url, want) in cases {
        match list.check_url("GET", url) {
            Err(NetError::BadUrl { url: u, source }) => {
                assert_eq!((u.as_str(), source), (url, want));
            }
            other => bail!("{url}: expected BadUrl, got {other:?}"),
        }
    }
    Ok(())
}

/// Literal addresses of every refused class, IPv4 and IPv6, each granted as
/// an origin: the origin check passes and the address check refuses.
#[test]
fn non_public_literals_are_refused_even_when_their_origin_is_listed() -> Result<()> {
    use AddrClass::*;
    let cases = [
        ("http://127.0.0.1/", "127.0.0.1", Loopback),
        ("http://10.0.0.1/", "10.0.0.1", Private),
        ("http://172.16.0.1/", "172.16.0.1", Private),
        ("http://192.168.1.1/", "192.168.1.1", Private),
        ("http://169.254.1.1/", "169.254.1.1", LinkLocal),
        ("http://169.254.169.254/", "169.254.169.254", Metadata),
        ("http://100.100.100.200/", "100.100.100.200", Metadata),
        ("http://168.63.129.16/", "168.63.129.16", Metadata),
        ("http://100.64.0.1/", "100.64.0.1", SharedCgnat),
        ("http://224.0.0.1/", "224.0.0.1", Multicast),
        ("http://0.0.0.0/", "0.0.0.0", Unspecified),
        ("http://0/", "0.0.0.0", Unspecified),
        ("http://255.255.255.255/", "255.255.255.255", Broadcast),
        ("http://[::1]/", "::1", Loopback),
        ("http://[::]/", "::", Unspecified),
        ("http://[fe80::1]/", "fe80::1", LinkLocal),
        ("http://[fc00::1]/", "fc00::1", UniqueLocal),
        ("http://[fec0::1]/", "fec0::1", SiteLocal),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254", Metadata),
        ("http://[ff02::1]/", "ff02::1", Multicast),
        ("http://[::ffff:a9fe:a9fe]/", "169.254.169.254", Metadata),
        ("http://[::ffff:10.0.0.1]/", "10.0.0.1", Private),
        (
            "http://[64:ff9b::a9fe:a9fe]/",
            "64:ff9b::a9fe:a9fe",
            Metadata,
        ),
        ("http://[64:ff9b::7f00:1]/", "64:ff9b::7f00:1", Loopback),
        ("http://[2002:7f00:1::]/", "2002:7f00:1::", Loopback),
    ];
    for (url, addr, class) in cases {
        let list = Allowlist::parse([url], [])?;
        let target = list.check_url("GET", url)?;
        let addr = ip(addr)?;
        let host = target.host().to_string();
        assert_eq!(
            refused_addr(&list, &target, &NoLookups)?,
            (host, addr, class),
            "{url}"
        );
        // And against an allowlist of DNS names they are not even an origin.
        ensure!(matches!(
            not_allowed(&api()?, "GET", url)?.1,
            Refusal::Origin { .. }
        ));
    }
    Ok(())
}

#[test]
fn userinfo_is_refused_and_judged_by_the_real_host() -> Result<()> {
    let list = api()?;
    let cases = [
        (
            "https://api.example.com@evil.com/",
            "https://evil.com/",
            "evil.com",
        ),
        (
            "https://api.example.com:443@evil.com/",
            "https://evil.com/",
            "evil.com",
        ),
        (
            "https://user:secret@api.example.com/x",
            "https://api.example.com/x",
            "api.example.com",
        ),
        (
            "https://:secret@api.example.com/",
            "https://api.example.com/",
            "api.example.com",
        ),
        (
            "https://api.example.com%40evil.com@127.0.0.1/",
            "https://127.0.0.1/",
            "127.0.0.1",
        ),
    ];
    for (input, url, host) in cases {
        match list.check_url("GET", input) {
            Err(e @ NetError::UserInfo { .. }) => {
                ensure!(!e.to_string().contains("secret"), "{e}");
                let NetError::UserInfo { url: u, host: h } = e else {
                    bail!("unreachable")
                };
                assert_eq!((u.as_str(), h.as_str()), (url, host), "{input}");
            }
            other => bail!("{input}: expected UserInfo, got {other:?}"),
        }
    }
    // `#@` and `?@` leave the real host in front of the `@`.
    assert_eq!(
        refused_origin(&list, "https://evil.com#@api.example.com/")?,
        "https://evil.com:443"
    );
    assert_eq!(
        refused_origin(&list, "https://evil.com?@api.example.com/")?,
        "https://evil.com:443"
    );
    // A backslash ends the authority (WHATWG): the host really is the
    // allowed one, and the request goes there.
    let t = list.check_url("GET", "https://api.example.com\\@evil.com/")?;
    assert_eq!(t.host(), &Host::Domain("api.example.com".into()));
    assert_eq!(t.url().as_str(), "https://api.example.com/@evil.com/");
    Ok(())
}

#[test]
fn case_trailing_dots_and_unicode_forms_are_normalised() -> Result<()> {
    let list = Allowlist::parse(["https://Api.Example.Com."], [])?;
    for url in [
        "https://api.example.com/",
        "https://API.EXAMPLE.COM/",
        "https://api.example.com./",
        "HTTPS://Api.Example.Com.:443/",
        "https://\u{ff41}\u{ff50}\u{ff49}.example.com/",
        "https://api%2Eexample.com/",
    ] {
        let t = list.check_url("GET", url)?;
        assert_eq!(t.host(), &Host::Domain("api.example.com".into()), "{url}");
    }
    for (url, origin) in [
        ("https://api.example.com../", "https://api.example.com.:443"),
        (
            "https://api.example.com.evil.com/",
            "https://api.example.com.evil.com:443",
        ),
        (
            "https://evilapi.example.com/",
            "https://evilapi.example.com:443",
        ),
        ("https://example.com/", "https://example.com:443"),
        ("https://xapi.example.com/", "https://xapi.example.com:443"),
    ] {
        assert_eq!(refused_origin(&list, url)?, origin, "{url}");
    }
    Ok(())
}

#[test]
fn scheme_and_port_must_match_exactly() -> Result<()> {
    let list = api()?;
    list.check_url("GET", "https://api.example.com:443/")?;
    assert_eq!(
        refused_origin(&list, "http://api.example.com/")?,
        "http://api.example.com:80"
    );
    assert_eq!(
        refused_origin(&list, "https://api.example.com:8443/")?,
        "https://api.example.com:8443"
    );
    assert_eq!(
        refused_origin(&list, "http://api.example.com:443/")?,
        "http://api.example.com:443"
    );
    for (url, scheme) in [
        ("ftp://api.example.com/", "ftp"),
        ("file:///etc/passwd", "file"),
        ("gopher://api.example.com:70/_x", "gopher"),
        ("ws://api.example.com/", "ws"),
        ("data:text/plain,hi", "data"),
    ] {
        assert_eq!(
            not_allowed(&list, "GET", url)?.1,
            Refusal::Scheme {
                scheme: scheme.into()
            },
            "{url}"
        );
    }
    Ok(())
}

#[test]
fn paths_must_lie_under_the_prefix_segment_wise() -> Result<()> {
    let list = Allowlist::parse(["https://api.example.com/v1/"], [])?;
    for url in [
        "https://api.example.com/v1",
        "https://api.example.com/v1/",
        "https://api.example.com/v1/items/7?x=1",
        "https://api.example.com/v1/a/../b",
    ] {
        list.check_url("GET", url)?;
    }
    let path = |p: &str| Refusal::Path { path: p.into() };
    for (url, reason) in [
        ("https://api.example.com/v10", path("/v10")),
        ("https://api.example.com/v2/x", path("/v2/x")),
        ("https://api.example.com/V1/x", path("/V1/x")),
        ("https://api.example.com/", path("/")),
        ("https://api.example.com/v1/../admin", path("/admin")),
        ("https://api.example.com/v1/%2e%2e/admin", path("/admin")),
        ("https://api.example.com/v1/.%2E/admin", path("/admin")),
        ("https://api.example.com/v1\\..\\admin", path("/admin")),
        (
            "https://api.example.com/v1%2f..%2fadmin",
            path("/v1%2f..%2fadmin"),
        ),
        (
            "https://api.example.com/v1/a%2F..%2F..%2Fadmin",
            Refusal::AmbiguousPath {
                path: "/v1/a%2F..%2F..%2Fadmin".into(),
            },
        ),
        (
            "https://api.example.com/v1/..%5c..%5cadmin",
            Refusal::AmbiguousPath {
                path: "/v1/..%5c..%5cadmin".into(),
            },
        ),
    ] {
        assert_eq!(not_allowed(&list, "GET", url)?.1, reason, "{url}");
    }
    // Without a prefix an encoded slash is the server's business.
    api()?.check_url("GET", "https://api.example.com/a%2Fb")?;
    Ok(())
}

#[test]
fn methods_are_checked_per_origin_entry() -> Result<()> {
    let list = Allowlist::new()
        .with_origin(
            Origin::parse("https://api.example.com/read")?
                .with_methods([Method::Get, Method::Head]),
        )
        .with_origin(Origin::parse("https://api.example.com/write")?.with_methods([Method::Post]))
        .with_origin(Origin::parse("https://other.example.com")?.with_methods([]));
    assert_eq!(
        list.check_url("GET", "https://api.example.com/read/1")?
            .method(),
        Method::Get
    );
    assert_eq!(
        list.check_url("HEAD", "https://api.example.com/read/1")?
            .method(),
        Method::Head
    );
    let post = list.check_url("POST", "https://api.example.com/write/1")?;
    assert_eq!(post.origin().path_prefix(), Some("/write"));
    for (method, url, refused) in [
        ("POST", "https://api.example.com/read/1", Method::Post),
        ("GET", "https://api.example.com/write/1", Method::Get),
        ("DELETE", "https://api.example.com/write/1", Method::Delete),
        ("GET", "https://other.example.com/", Method::Get),
    ] {
        assert_eq!(
            not_allowed(&list, method, url)?.1,
            Refusal::Method { method: refused },
            "{method} {url}"
        );
    }
    for method in ["get", "CONNECT", "TRACE", "", "GET "] {
        match list.check_url(method, "https://api.example.com/read/1") {
            Err(NetError::BadMethod { method: m }) => assert_eq!(m, method),
            other => bail!("{method:?}: expected BadMethod, got {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn a_name_resolving_to_a_private_address_is_refused() -> Result<()> {
    let list = Allowlist::parse(
        [
            "https://internal.example",
            "https://mapped.example",
            "http://localhost:8080",
            "https://imds.example",
        ],
        [],
    )?;
    let dns = StubResolver::new()
        .answer("internal.example", [v4("10.0.0.5")?])
        .answer("mapped.example", [ip("::ffff:192.168.0.10")?])
        .answer("localhost", [LOOPBACK, ip("::1")?])
        .answer("imds.example", [ip("fd00:ec2::254")?]);
    for (url, host, addr, class) in [
        (
            "https://internal.example/",
            "internal.example",
            v4("10.0.0.5")?,
            AddrClass::Private,
        ),
        (
            "https://mapped.example/",
            "mapped.example",
            v4("192.168.0.10")?,
            AddrClass::Private,
        ),
        (
            "http://localhost:8080/",
            "localhost",
            LOOPBACK,
            AddrClass::Loopback,
        ),
        (
            "https://imds.example/",
            "imds.example",
            ip("fd00:ec2::254")?,
            AddrClass::Metadata,
        ),
    ] {
        let target = list.check_url("GET", url)?;
        assert_eq!(
            refused_addr(&list, &target, &dns)?,
            (host.into(), addr, class),
            "{url}"
        );
    }
    Ok(())
}

/// The name answers a public address first and loopback afterwards. The
/// request resolves once and gets only the address that was checked; a
/// later lookup that answers loopback is refused.
#[test]
fn dns_rebinding_cannot_swap_the_checked_address() -> Result<()> {
    let list = Allowlist::parse(["https://rebind.example"], [])?;
    let dns = StubResolver::new()
        .answer("rebind.example", [PUBLIC])
        .answer("rebind.example", [LOOPBACK]);
    let target = list.check_url("POST", "https://rebind.example/hook")?;

    let addrs = list.resolve_checked(&target, &dns)?;
    assert_eq!(addrs, [SocketAddr::new(PUBLIC, 443)]);
    assert_eq!(dns.lookups("rebind.example"), 1, "exactly one resolution");

    // A client that looked the name up again would now get loopback: the
    // policy refuses that answer.
    assert_eq!(
        refused_addr(&list, &target, &dns)?,
        ("rebind.example".into(), LOOPBACK, AddrClass::Loopback)
    );
    assert_eq!(dns.lookups("rebind.example"), 2);
    Ok(())
}

#[test]
fn one_private_answer_among_public_ones_refuses_the_request() -> Result<()> {
    let list = Allowlist::parse(["https://mixed.example", "https://mixed6.example"], [])?;
    let dns = StubResolver::new()
        .answer("mixed.example", [PUBLIC, v4("10.0.0.1")?, PUBLIC6])
        .answer("mixed6.example", [ip("fe80::1")?, PUBLIC]);
    let t = list.check_url("GET", "https://mixed.example/")?;
    assert_eq!(
        refused_addr(&list, &t, &dns)?,
        ("mixed.example".into(), v4("10.0.0.1")?, AddrClass::Private)
    );
    let t = list.check_url("GET", "https://mixed6.example/")?;
    assert_eq!(
        refused_addr(&list, &t, &dns)?,
        (
            "mixed6.example".into(),
            ip("fe80::1")?,
            AddrClass::LinkLocal
        )
    );
    Ok(())
}

#[test]
fn resolution_results_are_canonical_and_deduplicated() -> Result<()> {
    let list = api()?;
    let mapped = IpAddr::V6(Ipv4Addr::new(93, 184, 216, 34).to_ipv6_mapped());
    let dns = StubResolver::new().answer("api.example.com", [PUBLIC, mapped, PUBLIC, PUBLIC6]);
    let t = list.check_url("GET", "https://api.example.com/")?;
    assert_eq!(
        list.resolve_checked(&t, &dns)?,
        [SocketAddr::new(PUBLIC, 443), SocketAddr::new(PUBLIC6, 443)]
    );
    Ok(())
}

#[test]
fn resolver_failures_are_typed() -> Result<()> {
    let list = Allowlist::parse(["https://nowhere.example", "https://empty.example"], [])?;
    let dns = StubResolver::new().answer("empty.example", []);
    let t = list.check_url("GET", "https://nowhere.example/")?;
    match list.resolve_checked(&t, &dns) {
        Err(NetError::Resolve { host, source }) => {
            assert_eq!(
                (host.as_str(), source.kind()),
                ("nowhere.example", io::ErrorKind::NotFound)
            );
        }
        other => bail!("expected Resolve, got {other:?}"),
    }
    let t = list.check_url("GET", "https://empty.example/")?;
    match list.resolve_checked(&t, &dns) {
        Err(NetError::NoAddresses { host }) => assert_eq!(host, "empty.example"),
        other => bail!("expected NoAddresses, got {other:?}"),
    }
    Ok(())
}

#[test]
fn ip_literals_are_checked_without_resolution() -> Result<()> {
    let list = Allowlist::parse(
        [
            "https://93.184.216.34:8443",
            "https://[2606:2800:220:1:248:1893:25c8:1946]",
        ],
        [],
    )?;
    let t = list.check_url("GET", "https://93.184.216.34:8443/x")?;
    assert_eq!(
        list.resolve_checked(&t, &NoLookups)?,
        [SocketAddr::new(PUBLIC, 8443)]
    );
    let t = list.check_url("GET", "https://[2606:2800:220:1:248:1893:25c8:1946]/")?;
    assert_eq!(
        list.resolve_checked(&t, &NoLookups)?,
        [SocketAddr::new(PUBLIC6, 443)]
    );
    // The system resolver returns a literal as it is, without a lookup.
    assert_eq!(SystemResolver.resolve("93.184.216.34", 80)?, [PUBLIC]);
    Ok(())
}

#[test]
fn redirects_are_checked_like_new_requests() -> Result<()> {
    let list = Allowlist::parse(["https://api.example.com/v1/", "http://127.0.0.1:8080"], [])?;
    let from = list.check_url("POST", "https://api.example.com/v1/a/b?x=1")?;

    let next = list.check_redirect(&from, "c")?;
    assert_eq!(next.url().as_str(), "https://api.example.com/v1/a/c");
    assert_eq!(next.method(), Method::Post);
    let next = list.check_redirect(&from, "/v1/z#frag")?;
    assert_eq!(next.url().as_str(), "https://api.example.com/v1/z");
    let next = list.check_redirect_as(&from, Method::Get, "https://API.example.com./v1/")?;
    assert_eq!(
        (next.url().as_str(), next.method()),
        ("https://api.example.com/v1/", Method::Get)
    );

    let redirect_refusal = |location: &str| match list.check_redirect(&from, location) {
        Err(NetError::NotAllowed { reason, .. }) => Ok(reason),
        other => bail!("{location}: expected NotAllowed, got {other:?}"),
    };
    let origin = |o: &str| Refusal::Origin { origin: o.into() };
    assert_eq!(
        redirect_refusal("https://evil.com/")?,
        origin("https://evil.com:443")
    );
    assert_eq!(
        redirect_refusal("//evil.com/v1/")?,
        origin("https://evil.com:443")
    );
    assert_eq!(
        redirect_refusal("http://169.254.169.254/latest/meta-data/")?,
        origin("http://169.254.169.254:80")
    );
    assert_eq!(
        redirect_refusal("http://api.example.com/v1/")?,
        origin("http://api.example.com:80")
    );
    assert_eq!(
        redirect_refusal("../../v2/x")?,
        Refusal::Path {
            path: "/v2/x".into()
        }
    );
    assert_eq!(
        redirect_refusal("file:///etc/passwd")?,
        Refusal::Scheme {
            scheme: "file".into()
        }
    );

    // A redirect to a private literal that is a listed origin: the origin
    // passes, the address does not.
    for location in [
        "http://127.0.0.1:8080/",
        "http://[::ffff:7f00:1]:8080/",
        "http://2130706433:8080/",
    ] {
        let next = list.check_redirect(&from, location)?;
        assert_eq!(
            refused_addr(&list, &next, &NoLookups)?,
            ("127.0.0.1".into(), LOOPBACK, AddrClass::Loopback),
            "{location}"
        );
    }

    match list.check_redirect(&from, "https://user:pw@api.example.com/v1/") {
        Err(NetError::UserInfo { url, host }) => {
            assert_eq!(
                (url.as_str(), host.as_str()),
                ("https://api.example.com/v1/", "api.example.com")
            );
        }
        other => bail!("expected UserInfo, got {other:?}"),
    }
    match list.check_redirect(&from, "http://[::1") {
        Err(NetError::BadRedirect { location, source }) => {
            assert_eq!(
                (location.as_str(), source),
                ("http://[::1", UrlParseError::InvalidIpv6Address)
            );
        }
        other => bail!("expected BadRedirect, got {other:?}"),
    }
    Ok(())
}

#[test]
fn allow_private_lets_the_named_range_through_and_nothing_else() -> Result<()> {
    let list = Allowlist::parse(
        [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://10.0.0.1:8080",
            "http://[::1]:8080",
        ],
        ["127.0.0.0/8"],
    )?;
    for url in [
        "http://127.0.0.1:8080/",
        "http://[::ffff:127.0.0.1]:8080/",
        "http://2130706433:8080/",
    ] {
        let t = list.check_url("GET", url)?;
        assert_eq!(
            list.resolve_checked(&t, &NoLookups)?,
            [SocketAddr::new(LOOPBACK, 8080)],
            "{url}"
        );
    }
    // Other private ranges stay closed, and so does IPv6 loopback.
    let t = list.check_url("GET", "http://10.0.0.1:8080/")?;
    assert_eq!(
        refused_addr(&list, &t, &NoLookups)?,
        ("10.0.0.1".into(), v4("10.0.0.1")?, AddrClass::Private)
    );
    let t = list.check_url("GET", "http://[::1]:8080/")?;
    assert_eq!(
        refused_addr(&list, &t, &NoLookups)?,
        ("[::1]".into(), ip("::1")?, AddrClass::Loopback)
    );

    // Every answer is checked: `localhost` answering ::1 as well is refused
    // until ::1 is granted too.
    let dns = StubResolver::new().answer("localhost", [LOOPBACK, ip("::1")?]);
    let t = list.check_url("GET", "http://localhost:8080/")?;
    assert_eq!(
        refused_addr(&list, &t, &dns)?,
        ("localhost".into(), ip("::1")?, AddrClass::Loopback)
    );
    let both = list.clone().with_private(AddrRange::parse("::1")?);
    assert_eq!(
        both.resolve_checked(&t, &dns)?,
        [
            SocketAddr::new(LOOPBACK, 8080),
            SocketAddr::new(ip("::1")?, 8080)
        ]
    );

    // A NAT64 address carrying 127.0.0.1 is not in 127.0.0.0/8.
    let nat64 = Allowlist::parse(["http://[64:ff9b::7f00:1]"], ["127.0.0.0/8"])?;
    let t = nat64.check_url("GET", "http://[64:ff9b::7f00:1]/")?;
    assert_eq!(
        refused_addr(&nat64, &t, &NoLookups)?,
        (
            "[64:ff9b::7f00:1]".into(),
            ip("64:ff9b::7f00:1")?,
            AddrClass::Loopback
        )
    );
    Ok(())
}

#[test]
fn metadata_addresses_need_a_range_of_exactly_that_address() -> Result<()> {
    let origins = [
        "http://169.254.169.254",
        "http://169.254.1.1",
        "http://168.63.129.16",
    ];
    let wide = Allowlist::parse(origins, ["169.254.0.0/16", "0.0.0.0/0"])?;
    let imds = wide.check_url("GET", "http://169.254.169.254/latest/meta-data/")?;
    assert_eq!(
        refused_addr(&wide, &imds, &NoLookups)?,
        (
            "169.254.169.254".into(),
            v4("169.254.169.254")?,
            AddrClass::Metadata
        )
    );
    let azure = wide.check_url("GET", "http://168.63.129.16/")?;
    assert_eq!(
        refused_addr(&wide, &azure, &NoLookups)?,
        (
            "168.63.129.16".into(),
            v4("168.63.129.16")?,
            AddrClass::Metadata
        )
    );
    let other = wide.check_url("GET", "http://169.254.1.1/")?;
    assert_eq!(
        wide.resolve_checked(&other, &NoLookups)?,
        [SocketAddr::new(v4("169.254.1.1")?, 80)]
    );

    let exact = Allowlist::parse(origins, ["169.254.169.254/32"])?;
    assert_eq!(
        exact.resolve_checked(&imds, &NoLookups)?,
        [SocketAddr::new(v4("169.254.169.254")?, 80)]
    );
    Ok(())
}

#[test]
fn an_empty_allowlist_allows_nothing() -> Result<()> {
    let list = Allowlist::new();
    assert_eq!(
        refused_origin(&list, "https://api.example.com/")?,
        "https://api.example.com:443"
    );
    assert_eq!(list.check_addr("x", PUBLIC)?, PUBLIC);
    match list.check_addr("x", ip("::ffff:10.1.1.1")?) {
        Err(NetError::AddressRefused { host, addr, class }) => {
            assert_eq!(
                (host.as_str(), addr, class),
                ("x", v4("10.1.1.1")?, AddrClass::Private)
            );
        }
        other => bail!("expected AddressRefused, got {other:?}"),
    }
    Ok(())
}

#[test]
fn guest_text_in_errors_is_bounded() -> Result<()> {
    let list = api()?;
    let long = format!("https://evil.com/{}", "é".repeat(10_000));
    let (url, _) = not_allowed(&list, "GET", &long)?;
    ensure!(
        url.len() <= MAX_ERROR_TEXT + '…'.len_utf8(),
        "{} bytes",
        url.len()
    );
    ensure!(url.ends_with('…'));
    let long_method = "X".repeat(100_000);
    match list.check_url(&long_method, "https://api.example.com/") {
        Err(NetError::BadMethod { method }) => ensure!(method.len() <= MAX_ERROR_TEXT + 3),
        other => bail!("expected BadMethod, got {other:?}"),
    }
    Ok(())
}
