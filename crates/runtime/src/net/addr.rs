//! What kind of address an IP address is ([`classify`]), its canonical form
//! ([`canonical`]), and the address ranges a grant may name as allowed
//! although not public ([`AddrRange`]).
//!
//! The tables follow the IANA IPv4 and IPv6 special-purpose address
//! registries, erring towards refusal: an IPv6 address outside global
//! unicast `2000::/3` is never [`AddrClass::Public`], and an address that
//! embeds an IPv4 address (IPv4-mapped, IPv4-compatible, SIIT, NAT64, 6to4,
//! Teredo) is classified by the IPv4 address it carries.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::error::{NetError, RangeProblem};

/// What kind of destination an address is. Only [`AddrClass::Public`] is
/// reachable by default; every other class needs a range in the grant's
/// `allow_private` list, and [`AddrClass::Metadata`] needs that exact
/// address (see [`Allowlist::with_private`](super::Allowlist::with_private)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddrClass {
    /// A globally routable unicast address.
    Public,
    /// `0.0.0.0` or `::`: connecting to it reaches the local host.
    Unspecified,
    /// `127.0.0.0/8` or `::1`.
    Loopback,
    /// RFC 1918 private IPv4: `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`.
    Private,
    /// IPv6 unique-local `fc00::/7`, the IPv6 analogue of private IPv4.
    UniqueLocal,
    /// IPv6 site-local `fec0::/10` (deprecated, still routed by some stacks).
    SiteLocal,
    /// `169.254.0.0/16` or `fe80::/10`.
    LinkLocal,
    /// Shared address space for carrier-grade NAT, `100.64.0.0/10`.
    SharedCgnat,
    /// A cloud instance-metadata or platform endpoint (see
    /// [`METADATA_ADDRS`]): the classic target of SSRF, since it hands out
    /// credentials.
    Metadata,
    /// `224.0.0.0/4` or `ff00::/8`.
    Multicast,
    /// The limited broadcast address `255.255.255.255`.
    Broadcast,
    /// Documentation ranges: `192.0.2.0/24`, `198.51.100.0/24`,
    /// `203.0.113.0/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// Benchmarking ranges: `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// Anything else that is not globally routable unicast: `0.0.0.0/8`,
    /// `192.0.0.0/24`, `192.88.99.0/24`, `240.0.0.0/4`, IETF protocol
    /// assignments `2001::/23`, local-use NAT64 `64:ff9b:1::/48`,
    /// discard-only `100::/64`, SRv6 `5f00::/16`, and all IPv6 outside
    /// `2000::/3` not named above.
    Reserved,
}

impl AddrClass {
    /// A stable snake-case name.
    pub const fn name(self) -> &'static str {
        match self {
            AddrClass::Public => "public",
            AddrClass::Unspecified => "unspecified",
            AddrClass::Loopback => "loopback",
            AddrClass::Private => "private",
            AddrClass::UniqueLocal => "unique_local",
            AddrClass::SiteLocal => "site_local",
            AddrClass::LinkLocal => "link_local",
            AddrClass::SharedCgnat => "shared_cgnat",
            AddrClass::Metadata => "metadata",
            AddrClass::Multicast => "multicast",
            AddrClass::Broadcast => "broadcast",
            AddrClass::Documentation => "documentation",
            AddrClass::Benchmarking => "benchmarking",
            AddrClass::Reserved => "reserved",
        }
    }

    /// Whether the class is reachable without an explicit grant.
    pub const fn is_public(self) -> bool {
        matches!(self, AddrClass::Public)
    }
}

impl fmt::Display for AddrClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Cloud metadata and platform endpoints, classified [`AddrClass::Metadata`]
/// whatever range they sit in: AWS, GCP, Azure, OpenStack and Oracle IMDS
/// `169.254.169.254`; AWS ECS task credentials `169.254.170.2`; AWS IMDS
/// over IPv6 `fd00:ec2::254`; Alibaba Cloud `100.100.100.200`; Azure
/// WireServer `168.63.129.16` (a public address); Oracle Cloud's legacy
/// `192.0.0.192`.
pub const METADATA_ADDRS: &[IpAddr] = &[
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16)),
    IpAddr::V4(Ipv4Addr::new(192, 0, 0, 192)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
];

/// The address a connection to `addr` really reaches, for matching and
/// range checks: an IPv4-mapped (`::ffff:a.b.c.d`) or IPv4-compatible
/// (`::a.b.c.d`, deprecated) IPv6 address becomes the IPv4 address it
/// contains; `::` and `::1` stay IPv6; every other address is unchanged.
///
/// Translated forms that reach the IPv4 address through a gateway (NAT64,
/// 6to4, Teredo) are not rewritten: they are different destinations, and
/// [`classify`] looks inside them instead.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let bits = v6.to_bits();
            if bits >> 32 == 0 && bits > 1 {
                return IpAddr::V4(Ipv4Addr::from_bits(bits as u32));
            }
            addr
        }
    }
}

/// The class of `addr`, after [`canonical`]. Pure arithmetic: no lookup,
/// no system call.
pub fn classify(addr: IpAddr) -> AddrClass {
    if METADATA_ADDRS.contains(&addr) {
        return AddrClass::Metadata;
    }
    match canonical(addr) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(addr: Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    prefix_eq_v4(addr.to_bits(), u32::from_be_bytes(net), len)
}

fn prefix_eq_v4(a: u32, b: u32, len: u32) -> bool {
    len == 0 || (a ^ b) >> (32 - len) == 0
}

fn prefix_eq_v6(a: u128, b: u128, len: u32) -> bool {
    len == 0 || (a ^ b) >> (128 - len) == 0
}

fn in_v6(addr: Ipv6Addr, net: Ipv6Addr, len: u32) -> bool {
    prefix_eq_v6(addr.to_bits(), net.to_bits(), len)
}

fn classify_v4(a: Ipv4Addr) -> AddrClass {
    if METADATA_ADDRS.contains(&IpAddr::V4(a)) {
        return AddrClass::Metadata;
    }
    if a.is_unspecified() {
        return AddrClass::Unspecified;
    }
    if a.is_broadcast() {
        return AddrClass::Broadcast;
    }
    const TABLE: &[([u8; 4], u32, AddrClass)] = &[
        ([0, 0, 0, 0], 8, AddrClass::Reserved),
        ([127, 0, 0, 0], 8, AddrClass::Loopback),
        ([10, 0, 0, 0], 8, AddrClass::Private),
        ([172, 16, 0, 0], 12, AddrClass::Private),
        ([192, 168, 0, 0], 16, AddrClass::Private),
        ([100, 64, 0, 0], 10, AddrClass::SharedCgnat),
        ([169, 254, 0, 0], 16, AddrClass::LinkLocal),
        ([192, 0, 0, 0], 24, AddrClass::Reserved),
        ([192, 0, 2, 0], 24, AddrClass::Documentation),
        ([198, 51, 100, 0], 24, AddrClass::Documentation),
        ([203, 0, 113, 0], 24, AddrClass::Documentation),
        ([198, 18, 0, 0], 15, AddrClass::Benchmarking),
        ([192, 88, 99, 0], 24, AddrClass::Reserved),
        ([224, 0, 0, 0], 4, AddrClass::Multicast),
        ([240, 0, 0, 0], 4, AddrClass::Reserved),
    ];
    TABLE
        .iter()
        .find(|(net, len, _)| in_v4(a, *net, *len))
        .map_or(AddrClass::Public, |(_, _, class)| *class)
}

/// The first class that is not public among the embedded IPv4 addresses,
/// or `Public` if all are.
fn embedded(addrs: &[u32]) -> AddrClass {
    addrs
        .iter()
        .map(|&a| classify_v4(Ipv4Addr::from_bits(a)))
        .find(|c| !c.is_public())
        .unwrap_or(AddrClass::Public)
}

fn classify_v6(a: Ipv6Addr) -> AddrClass {
    const fn v6(s: [u16; 8]) -> Ipv6Addr {
        Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7])
    }
    let bits = a.to_bits();
    let low32 = bits as u32;
    if a.is_unspecified() {
        return AddrClass::Unspecified;
    }
    if a.is_loopback() {
        return AddrClass::Loopback;
    }
    if in_v6(a, v6([0xff00, 0, 0, 0, 0, 0, 0, 0]), 8) {
        return AddrClass::Multicast;
    }
    if in_v6(a, v6([0xfe80, 0, 0, 0, 0, 0, 0, 0]), 10) {
        return AddrClass::LinkLocal;
    }
    if in_v6(a, v6([0xfec0, 0, 0, 0, 0, 0, 0, 0]), 10) {
        return AddrClass::SiteLocal;
    }
    if in_v6(a, v6([0xfc00, 0, 0, 0, 0, 0, 0, 0]), 7) {
        return AddrClass::UniqueLocal;
    }
    // NAT64 well-known prefix (RFC 6052) and SIIT IPv4-translated
    // (RFC 2765): the IPv4 address is the low 32 bits.
    if in_v6(a, v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0]), 96)
        || in_v6(a, v6([0, 0, 0, 0, 0xffff, 0, 0, 0]), 96)
    {
        return embedded(&[low32]);
    }
    // Local-use NAT64 (RFC 8215): the network behind it is local.
    if in_v6(a, v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0]), 48) {
        return AddrClass::Reserved;
    }
    // 6to4 (RFC 3056): the IPv4 address is bits 16..48.
    if in_v6(a, v6([0x2002, 0, 0, 0, 0, 0, 0, 0]), 16) {
        return embedded(&[(bits >> 80) as u32]);
    }
    // Teredo (RFC 4380): the server's IPv4 address in bits 32..64, the
    // client's, inverted, in the low 32 bits.
    if in_v6(a, v6([0x2001, 0, 0, 0, 0, 0, 0, 0]), 32) {
        return embedded(&[(bits >> 64) as u32, !low32]);
    }
    if in_v6(a, v6([0x2001, 2, 0, 0, 0, 0, 0, 0]), 48) {
        return AddrClass::Benchmarking;
    }
    if in_v6(a, v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]), 32)
        || in_v6(a, v6([0x3fff, 0, 0, 0, 0, 0, 0, 0]), 20)
    {
        return AddrClass::Documentation;
    }
    if in_v6(a, v6([0x2001, 0, 0, 0, 0, 0, 0, 0]), 23)
        || in_v6(a, v6([0x5f00, 0, 0, 0, 0, 0, 0, 0]), 16)
        || !in_v6(a, v6([0x2000, 0, 0, 0, 0, 0, 0, 0]), 3)
    {
        return AddrClass::Reserved;
    }
    AddrClass::Public
}

/// An address range in CIDR notation (`127.0.0.0/8`, `fd12:3456::/32`, or a
/// single address such as `10.1.2.3`, meaning `/32` or `/128`), as a grant
/// names it in `allow_private`.
///
/// The network address has no bits set beyond the prefix, so what was
/// written is what is meant: `10.1.2.3/8` is refused, not widened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrRange {
    network: IpAddr,
    prefix_len: u8,
}

impl AddrRange {
    /// The range of `prefix_len` leading bits of `network`.
    ///
    /// # Errors
    /// [`RangeProblem::PrefixTooLong`] past 32 (IPv4) or 128 (IPv6) bits;
    /// [`RangeProblem::HostBitsSet`] if `network` has bits set beyond the
    /// prefix; [`RangeProblem::Ipv4Mapped`] for an IPv4-mapped or
    /// IPv4-compatible IPv6 network, which would never match since
    /// addresses are compared in [`canonical`] form.
    pub fn new(network: IpAddr, prefix_len: u8) -> Result<AddrRange, RangeProblem> {
        let max = match network {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        if prefix_len > max {
            return Err(RangeProblem::PrefixTooLong { max });
        }
        let range = AddrRange {
            network,
            prefix_len,
        };
        let truncated = range.truncated();
        if truncated != network {
            return Err(RangeProblem::HostBitsSet {
                network: AddrRange {
                    network: truncated,
                    prefix_len,
                }
                .to_string(),
            });
        }
        if canonical(network) != network {
            return Err(RangeProblem::Ipv4Mapped);
        }
        Ok(range)
    }

    /// Parses `a.b.c.d/n`, `x:y::/n`, or a bare address.
    ///
    /// # Errors
    /// [`NetError::BadRange`] with the entry and the [`RangeProblem`].
    pub fn parse(entry: &str) -> Result<AddrRange, NetError> {
        let bad = |problem| NetError::BadRange {
            entry: entry.to_owned(),
            problem,
        };
        let (addr, len) = match entry.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (entry, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| bad(RangeProblem::Syntax))?;
        let prefix_len = match len {
            None => match network {
                IpAddr::V4(_) => 32,
                IpAddr::V6(_) => 128,
            },
            // Digits only: `u8::from_str` would accept a leading `+`.
            Some(len) if !len.is_empty() && len.bytes().all(|b| b.is_ascii_digit()) => {
                len.parse().map_err(|_| bad(RangeProblem::Syntax))?
            }
            Some(_) => return Err(bad(RangeProblem::Syntax)),
        };
        AddrRange::new(network, prefix_len).map_err(bad)
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The number of leading bits that are fixed.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether the range is one address (`/32` or `/128`).
    pub fn is_single(&self) -> bool {
        match self.network {
            IpAddr::V4(_) => self.prefix_len == 32,
            IpAddr::V6(_) => self.prefix_len == 128,
        }
    }

    /// Whether `addr` lies in the range. Addresses of the other family never
    /// do; callers compare [`canonical`] addresses.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let len = u32::from(self.prefix_len);
        match (self.network, addr) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq_v4(a.to_bits(), n.to_bits(), len),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq_v6(a.to_bits(), n.to_bits(), len),
            _ => false,
        }
    }

    fn truncated(&self) -> IpAddr {
        let len = u32::from(self.prefix_len);
        match self.network {
            IpAddr::V4(n) => {
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from_bits(n.to_bits() & mask))
            }
            IpAddr::V6(n) => {
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from_bits(n.to_bits() & mask))
            }
        }
    }
}

impl FromStr for AddrRange {
    type Err = NetError;

    fn from_str(s: &str) -> Result<AddrRange, NetError> {
        AddrRange::parse(s)
    }
}

impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}
