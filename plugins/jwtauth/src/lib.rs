//! jwtauth (extension point `auth_provider`; capabilities `io`, `config`):
//! validates JSON Web Tokens (compact JWS, RFC 7519) signed with HS256 or
//! EdDSA (Ed25519), with keys from the install's configuration.
//!
//! Configuration (at least one key; a value that does not parse is the
//! plugin error 40, naming the key, and so is having no key):
//! - `hs256_key`: the HMAC secret, base64 (standard or URL-safe alphabet,
//!   padded or not), at least 32 bytes (RFC 7518 §3.2); enables `HS256`.
//! - `ed25519_public_key`: the Ed25519 public key, base64 of its 32 raw
//!   bytes; enables `EdDSA`.
//! - `issuer`: when set, `iss` must equal it.
//! - `audience`: when set, `aud` (a string or an array of strings) must
//!   be or contain it.
//! - `leeway_seconds`: the clock skew allowed on `exp` and `nbf`
//!   (default 0).
//!
//! The scheme must be `Bearer` (any case) or empty. A token is checked in
//! this order, and the first failure is the rejection:
//! 1. MALFORMED: not three base64url parts (unpadded), a header or payload
//!    that is not a JSON object, a header without a string `alg`, or a
//!    header with `crit` (no extension is understood).
//! 2. UNSUPPORTED_ALGORITHM: `alg` other than `HS256` and `EdDSA` (so
//!    `none`), or one whose key is not configured. Each algorithm has only
//!    its own key: an HS256 token is never checked against the Ed25519
//!    key's bytes. `kid` is ignored.
//! 3. BAD_SIGNATURE: the signature does not verify (HMAC compared in
//!    constant time; Ed25519 verified strictly, refusing malleable and
//!    small-order signatures).
//! 4. EXPIRED when `exp` <= now - leeway; NOT_YET_VALID when `nbf` > now +
//!    leeway; now is the request context's `now_unix_ms`, never a clock.
//! 5. CLAIMS: `iss` or `aud` not as configured, `sub` missing or empty, or
//!    `exp`, `nbf`, `sub` or `groups` of the wrong type.
//!
//! An accepted token gives the identity: subject `sub`, groups from a
//! `groups` claim (an array of strings), expiry `exp` in milliseconds (0
//! without `exp`), and as claims every other top-level claim whose value
//! is a string, number or boolean, as text (`sub`, `iss`, `exp` included;
//! arrays, objects and nulls left out). A rejection's detail never
//! contains the token.

use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bitvault_pdk::points::AuthProvider;
use bitvault_pdk::points::proto::auth_provider::v1::{
    AuthenticateRequest, AuthenticateResponse, Identity, Rejection, RejectionReason,
    authenticate_response,
};
use bitvault_pdk::{Error, config};
use ed25519_dalek::{Signature, VerifyingKey};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

/// The plugin.
pub struct JwtAuth;

/// The plugin error code for configuration.
pub const CONFIG_ERROR: i32 = 40;

/// The shortest HS256 secret accepted, in bytes.
pub const MIN_HS256_KEY: usize = 32;

/// The install's configuration, parsed.
struct Settings {
    hs256: Option<Vec<u8>>,
    ed25519: Option<VerifyingKey>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway_ms: i64,
}

fn bad(key: &str, why: &str) -> Error {
    Error::new(CONFIG_ERROR, format!("config `{key}`: {why}"))
}

/// Decodes base64 in either alphabet, padded or not.
fn key_bytes(key: &str, value: &str) -> Result<Vec<u8>, Error> {
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let value = value.trim();
    GeneralPurpose::new(&alphabet::STANDARD, config)
        .decode(value)
        .or_else(|_| GeneralPurpose::new(&alphabet::URL_SAFE, config).decode(value))
        .map_err(|_| bad(key, "not base64"))
}

/// A configured text value; an empty one is an error, not "unset".
fn text(key: &str) -> Result<Option<String>, Error> {
    match config::get(key)? {
        Some(v) if v.trim().is_empty() => Err(bad(key, "empty")),
        v => Ok(v.map(|v| v.trim().to_owned())),
    }
}

impl Settings {
    fn load() -> Result<Settings, Error> {
        let hs256 = match text("hs256_key")? {
            Some(v) => {
                let key = key_bytes("hs256_key", &v)?;
                if key.len() < MIN_HS256_KEY {
                    return Err(bad(
                        "hs256_key",
                        &format!("{} bytes; HS256 needs at least {MIN_HS256_KEY}", key.len()),
                    ));
                }
                Some(key)
            }
            None => None,
        };
        let ed25519 = match text("ed25519_public_key")? {
            Some(v) => {
                let raw: [u8; 32] = key_bytes("ed25519_public_key", &v)?
                    .try_into()
                    .map_err(|_| bad("ed25519_public_key", "not 32 bytes"))?;
                let key = VerifyingKey::from_bytes(&raw)
                    .ok()
                    .filter(|k| !k.is_weak())
                    .ok_or_else(|| bad("ed25519_public_key", "not an Ed25519 public key"))?;
                Some(key)
            }
            None => None,
        };
        if hs256.is_none() && ed25519.is_none() {
            return Err(Error::new(
                CONFIG_ERROR,
                "no key configured: set `hs256_key` or `ed25519_public_key`",
            ));
        }
        let leeway_ms = match text("leeway_seconds")? {
            Some(v) => {
                let s: u32 = v
                    .parse()
                    .map_err(|_| bad("leeway_seconds", "not a number of seconds"))?;
                i64::from(s) * 1000
            }
            None => 0,
        };
        Ok(Settings {
            hs256,
            ed25519,
            issuer: text("issuer")?,
            audience: text("audience")?,
            leeway_ms,
        })
    }
}

/// A rejection: its reason and detail.
type Reject = (RejectionReason, String);

fn reject<T>(reason: RejectionReason, detail: impl Into<String>) -> Result<T, Reject> {
    Err((reason, detail.into()))
}

/// Decodes one part of the token as a JSON object.
fn json_part(part: &str, name: &str) -> Result<Map<String, Value>, Reject> {
    let bytes = URL_SAFE_NO_PAD.decode(part).or_else(|_| {
        reject(
            RejectionReason::Malformed,
            format!("the {name} is not base64url"),
        )
    })?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => reject(
            RejectionReason::Malformed,
            format!("the {name} is not a JSON object"),
        ),
    }
}

/// A NumericDate claim in milliseconds; `None` when absent.
fn date_ms(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, Reject> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => match (v.as_i64(), v.as_f64()) {
            (Some(s), _) => Ok(Some(s.saturating_mul(1000))),
            // `as` saturates, and a fraction of a second is kept.
            (None, Some(s)) if s.is_finite() => Ok(Some((s * 1000.0) as i64)),
            _ => reject(
                RejectionReason::Claims,
                format!("`{name}` is not a number of seconds"),
            ),
        },
    }
}

/// An `alg` value fit to quote in a detail.
fn quoted(alg: &str) -> String {
    if alg.len() <= 16 && alg.bytes().all(|b| b.is_ascii_graphic()) {
        format!("`{alg}`")
    } else {
        "the algorithm".into()
    }
}

/// The identity for a token, or why it is rejected.
fn check(settings: &Settings, scheme: &str, token: &str, now_ms: i64) -> Result<Identity, Reject> {
    if !(scheme.is_empty() || scheme.eq_ignore_ascii_case("bearer")) {
        return reject(RejectionReason::Malformed, "the scheme is not Bearer");
    }
    let token = token.trim();
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, payload_b64, signature_b64] = parts[..] else {
        return reject(
            RejectionReason::Malformed,
            format!("{} parts, not the 3 of a JWS", parts.len()),
        );
    };
    let header = json_part(header_b64, "header")?;
    let claims = json_part(payload_b64, "payload")?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .or_else(|_| reject(RejectionReason::Malformed, "the signature is not base64url"))?;
    let Some(alg) = header.get("alg").and_then(Value::as_str) else {
        return reject(RejectionReason::Malformed, "the header has no `alg`");
    };
    if header.contains_key("crit") {
        return reject(
            RejectionReason::Malformed,
            "the header has `crit` extensions",
        );
    }

    // The key is the configured one for the algorithm, and only that.
    let signed = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    let verified = match (alg, &settings.hs256, &settings.ed25519) {
        ("HS256", Some(secret), _) => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key");
            mac.update(signed);
            mac.verify_slice(&signature).is_ok()
        }
        ("EdDSA", _, Some(key)) => <[u8; 64]>::try_from(signature.as_slice()).is_ok_and(|s| {
            key.verify_strict(signed, &Signature::from_bytes(&s))
                .is_ok()
        }),
        ("HS256" | "EdDSA", _, _) => {
            return reject(
                RejectionReason::UnsupportedAlgorithm,
                format!("no key is configured for {}", quoted(alg)),
            );
        }
        _ => {
            return reject(
                RejectionReason::UnsupportedAlgorithm,
                format!("{} is not HS256 or EdDSA", quoted(alg)),
            );
        }
    };
    if !verified {
        return reject(
            RejectionReason::BadSignature,
            "the signature does not verify",
        );
    }

    let exp = date_ms(&claims, "exp")?;
    if let Some(exp) = exp
        && exp <= now_ms.saturating_sub(settings.leeway_ms)
    {
        return reject(RejectionReason::Expired, "the token has expired");
    }
    if let Some(nbf) = date_ms(&claims, "nbf")?
        && nbf > now_ms.saturating_add(settings.leeway_ms)
    {
        return reject(RejectionReason::NotYetValid, "the token is not yet valid");
    }
    if let Some(issuer) = &settings.issuer
        && claims.get("iss").and_then(Value::as_str) != Some(issuer)
    {
        return reject(
            RejectionReason::Claims,
            "`iss` is not the configured issuer",
        );
    }
    if let Some(audience) = &settings.audience {
        let ok = match claims.get("aud") {
            Some(Value::String(a)) => a == audience,
            Some(Value::Array(all)) => all.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !ok {
            return reject(
                RejectionReason::Claims,
                "`aud` does not contain the configured audience",
            );
        }
    }
    let subject = match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return reject(RejectionReason::Claims, "`sub` is missing or empty"),
    };
    let groups = match claims.get("groups") {
        None => Vec::new(),
        Some(Value::Array(all)) if all.iter().all(Value::is_string) => all
            .iter()
            .filter_map(|g| g.as_str().map(str::to_owned))
            .collect(),
        Some(_) => {
            return reject(
                RejectionReason::Claims,
                "`groups` is not an array of strings",
            );
        }
    };
    let claims = claims
        .iter()
        .filter(|(name, _)| *name != "groups")
        .filter_map(|(name, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((name.clone(), text))
        })
        .collect();
    Ok(Identity {
        subject,
        groups,
        expires_unix_ms: exp.unwrap_or(0),
        claims,
    })
}

impl AuthProvider for JwtAuth {
    fn authenticate(req: AuthenticateRequest) -> Result<AuthenticateResponse, Error> {
        let settings = Settings::load()?;
        let now_ms = req
            .context
            .as_ref()
            .map(|c| c.now_unix_ms)
            .ok_or_else(|| Error::new(Error::BAD_INPUT, "the request has no context"))?;
        let result = match check(&settings, &req.scheme, &req.token, now_ms) {
            Ok(identity) => authenticate_response::Result::Identity(identity),
            Err((reason, mut detail)) => {
                // Details are fixed text, but never let one echo the token.
                if !req.token.is_empty() && detail.contains(req.token.as_str()) {
                    detail = "the token is rejected".into();
                }
                authenticate_response::Result::Rejection(Rejection {
                    reason: reason as i32,
                    detail,
                })
            }
        };
        Ok(AuthenticateResponse {
            result: Some(result),
        })
    }
}

bitvault_pdk::export_auth_provider!(JwtAuth);

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use bitvault_pdk::points::call;
    use bitvault_pdk::points::proto::common::v1::Context;
    use bitvault_pdk::testing::Host;
    use ed25519_dalek::{Signer, SigningKey};
    use serde_json::json;

    const SECRET: &[u8; 32] = b"a 32-byte HS256 secret for tests";
    const SEED: [u8; 32] = [7; 32];
    /// The context time of most tests: 2024-01-01T00:00:00Z.
    const NOW: i64 = 1_704_067_200;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn signing_input(header: &Value, claims: &Value) -> String {
        format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        )
    }

    fn hs256_with(key: &[u8], claims: &Value) -> String {
        let input = signing_input(&json!({"alg": "HS256", "typ": "JWT"}), claims);
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", b64(&mac.finalize().into_bytes()))
    }

    fn hs256(claims: &Value) -> String {
        hs256_with(SECRET, claims)
    }

    fn signing_key() -> SigningKey {
        SigningKey::from_bytes(&SEED)
    }

    fn public_key() -> [u8; 32] {
        signing_key().verifying_key().to_bytes()
    }

    fn eddsa(claims: &Value) -> String {
        let input = signing_input(&json!({"alg": "EdDSA", "kid": "k1"}), claims);
        let signature = signing_key().sign(input.as_bytes());
        format!("{input}.{}", b64(&signature.to_bytes()))
    }

    fn both() -> Host {
        Host::new()
            .config("hs256_key", &STANDARD.encode(SECRET))
            .config("ed25519_public_key", &STANDARD.encode(public_key()))
    }

    fn request(token: &str, now_s: i64) -> AuthenticateRequest {
        AuthenticateRequest {
            context: Some(Context {
                now_unix_ms: now_s * 1000,
                ..Default::default()
            }),
            token: token.into(),
            scheme: "Bearer".into(),
        }
    }

    fn run(host: Host, req: &AuthenticateRequest) -> authenticate_response::Result {
        let reply: AuthenticateResponse = call(host, JwtAuth::authenticate, req).unwrap();
        reply.result.expect("an identity or a rejection")
    }

    fn identity(host: Host, token: &str, now_s: i64) -> Identity {
        match run(host, &request(token, now_s)) {
            authenticate_response::Result::Identity(id) => id,
            other => panic!("expected an identity, got {other:?}"),
        }
    }

    /// The rejection's reason, after checking that its detail does not
    /// echo the token.
    fn rejection_at(host: Host, req: &AuthenticateRequest) -> RejectionReason {
        match run(host, req) {
            authenticate_response::Result::Rejection(r) => {
                assert!(!r.detail.is_empty());
                assert!(
                    req.token.len() < 8 || !r.detail.contains(&req.token),
                    "{}",
                    r.detail
                );
                RejectionReason::try_from(r.reason).unwrap()
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    fn rejection(host: Host, token: &str) -> RejectionReason {
        rejection_at(host, &request(token, NOW))
    }

    fn alice() -> Value {
        json!({"sub": "alice", "exp": NOW + 60})
    }

    #[test]
    fn a_valid_hs256_token_is_an_identity() {
        let token = hs256(&json!({
            "sub": "alice",
            "exp": NOW + 60,
            "iat": NOW - 1,
            "iss": "https://issuer.example",
            "admin": true,
            "groups": ["staff", "ops"],
            "profile": {"x": 1},
        }));
        let id = identity(both(), &token, NOW);
        assert_eq!(id.subject, "alice");
        assert_eq!(id.groups, ["staff", "ops"]);
        assert_eq!(id.expires_unix_ms, (NOW + 60) * 1000);
        assert_eq!(id.claims["iss"], "https://issuer.example");
        assert_eq!(id.claims["admin"], "true");
        assert_eq!(id.claims["iat"], (NOW - 1).to_string());
        assert_eq!(id.claims["sub"], "alice");
        assert!(!id.claims.contains_key("groups"));
        assert!(!id.claims.contains_key("profile"));
    }

    #[test]
    fn a_valid_eddsa_token_is_an_identity() {
        let only_ed = Host::new().config("ed25519_public_key", &URL_SAFE.encode(public_key()));
        let id = identity(only_ed, &eddsa(&json!({"sub": "svc-1"})), NOW);
        assert_eq!(id.subject, "svc-1");
        assert!(id.groups.is_empty());
        assert_eq!(id.expires_unix_ms, 0);
    }

    #[test]
    fn the_secret_may_be_url_safe_and_unpadded() {
        let key = [0xfb_u8; 40];
        let host = Host::new().config("hs256_key", &URL_SAFE_NO_PAD.encode(key));
        assert_eq!(
            identity(host, &hs256_with(&key, &alice()), NOW).subject,
            "alice"
        );
    }

    #[test]
    fn the_bearer_scheme_is_any_case_or_empty_and_others_are_malformed() {
        let token = hs256(&alice());
        for scheme in ["bearer", "BEARER", ""] {
            let mut req = request(&token, NOW);
            req.scheme = scheme.into();
            assert!(matches!(
                run(both(), &req),
                authenticate_response::Result::Identity(_)
            ));
        }
        let mut basic = request(&token, NOW);
        basic.scheme = "Basic".into();
        assert_eq!(rejection_at(both(), &basic), RejectionReason::Malformed);
    }

    #[test]
    fn alg_none_and_other_algorithms_are_unsupported() {
        for alg in ["none", "None", "NONE", "nOnE"] {
            let input = signing_input(&json!({"alg": alg}), &alice());
            for token in [format!("{input}."), format!("{input}.{}", b64(b"x"))] {
                assert_eq!(
                    rejection(both(), &token),
                    RejectionReason::UnsupportedAlgorithm,
                    "{alg}"
                );
            }
        }
        for alg in ["RS256", "HS512", "ES256", "hs256", "Ed25519"] {
            let input = signing_input(&json!({"alg": alg}), &alice());
            let token = format!("{input}.{}", b64(&[1; 64]));
            assert_eq!(
                rejection(both(), &token),
                RejectionReason::UnsupportedAlgorithm,
                "{alg}"
            );
        }
    }

    #[test]
    fn an_algorithm_whose_key_is_not_configured_is_unsupported() {
        let only_hs = Host::new().config("hs256_key", &STANDARD.encode(SECRET));
        assert_eq!(
            rejection(only_hs, &eddsa(&alice())),
            RejectionReason::UnsupportedAlgorithm
        );
    }

    #[test]
    fn an_hs256_token_keyed_with_the_public_key_is_refused() {
        let confused = hs256_with(&public_key(), &alice());
        let only_ed = Host::new().config("ed25519_public_key", &STANDARD.encode(public_key()));
        assert_eq!(
            rejection(only_ed, &confused),
            RejectionReason::UnsupportedAlgorithm
        );
        assert_eq!(rejection(both(), &confused), RejectionReason::BadSignature);
    }

    #[test]
    fn a_wrong_key_or_altered_token_is_a_bad_signature() {
        let other = hs256_with(&[9; 32], &alice());
        assert_eq!(rejection(both(), &other), RejectionReason::BadSignature);

        let forged_ed = {
            let input = signing_input(&json!({"alg": "EdDSA"}), &alice());
            let signature = SigningKey::from_bytes(&[8; 32]).sign(input.as_bytes());
            format!("{input}.{}", b64(&signature.to_bytes()))
        };
        assert_eq!(rejection(both(), &forged_ed), RejectionReason::BadSignature);

        // Claims swapped under a valid signature.
        let good = eddsa(&alice());
        let mallory = b64(json!({"sub": "mallory", "exp": NOW + 60})
            .to_string()
            .as_bytes());
        let parts: Vec<&str> = good.split('.').collect();
        let swapped = format!("{}.{mallory}.{}", parts[0], parts[2]);
        assert_eq!(rejection(both(), &swapped), RejectionReason::BadSignature);

        // A signature of the wrong length, and an empty one.
        let short = format!("{}.{}.{}", parts[0], parts[1], b64(&[0; 63]));
        assert_eq!(rejection(both(), &short), RejectionReason::BadSignature);
        let hs = hs256(&alice());
        let unsigned = format!("{}.", hs.rsplit_once('.').unwrap().0);
        assert_eq!(rejection(both(), &unsigned), RejectionReason::BadSignature);
    }

    #[test]
    fn expiry_and_not_before_are_judged_at_the_context_time() {
        let token = hs256(&json!({"sub": "alice", "nbf": NOW, "exp": NOW + 60}));
        assert_eq!(identity(both(), &token, NOW).subject, "alice");
        assert_eq!(identity(both(), &token, NOW + 59).subject, "alice");
        let at = |s| rejection_at(both(), &request(&token, s));
        assert_eq!(at(NOW + 60), RejectionReason::Expired);
        assert_eq!(at(NOW + 3600), RejectionReason::Expired);
        assert_eq!(at(NOW - 1), RejectionReason::NotYetValid);

        // Still valid a millisecond before `exp`.
        let mut req = request(&token, NOW + 60);
        req.context.as_mut().unwrap().now_unix_ms -= 1;
        assert!(matches!(
            run(both(), &req),
            authenticate_response::Result::Identity(_)
        ));
    }

    #[test]
    fn leeway_widens_both_ends() {
        let token = hs256(&json!({"sub": "alice", "nbf": NOW, "exp": NOW + 60}));
        let lenient = || both().config("leeway_seconds", "30");
        assert_eq!(identity(lenient(), &token, NOW - 30).subject, "alice");
        assert_eq!(identity(lenient(), &token, NOW + 89).subject, "alice");
        let at = |s| rejection_at(lenient(), &request(&token, s));
        assert_eq!(at(NOW + 90), RejectionReason::Expired);
        assert_eq!(at(NOW - 31), RejectionReason::NotYetValid);
    }

    #[test]
    fn malformed_tokens_are_malformed() {
        let good = hs256(&alice());
        let parts: Vec<&str> = good.split('.').collect();
        let header = parts[0];
        let not_json = b64(b"not json");
        let array = b64(b"[1,2]");
        let no_alg = b64(json!({"typ": "JWT"}).to_string().as_bytes());
        let alg_number = b64(json!({"alg": 256}).to_string().as_bytes());
        let crit = b64(json!({"alg": "HS256", "crit": ["b64"]})
            .to_string()
            .as_bytes());
        let cases = [
            String::new(),
            "not-a-jwt".into(),
            format!("{}.{}", parts[0], parts[1]),
            format!("{good}.extra"),
            format!("{header}!.{}.{}", parts[1], parts[2]),
            format!("{header}==.{}.{}", parts[1], parts[2]),
            format!("{header}.{}.{}+", parts[1], parts[2]),
            format!("{not_json}.{}.{}", parts[1], parts[2]),
            format!("{header}.{not_json}.{}", parts[2]),
            format!("{header}.{array}.{}", parts[2]),
            format!("{no_alg}.{}.{}", parts[1], parts[2]),
            format!("{alg_number}.{}.{}", parts[1], parts[2]),
            format!("{crit}.{}.{}", parts[1], parts[2]),
        ];
        for token in cases {
            assert_eq!(
                rejection(both(), &token),
                RejectionReason::Malformed,
                "{token}"
            );
        }
    }

    #[test]
    fn issuer_audience_and_subject_are_claims() {
        let host = || {
            both()
                .config("issuer", "https://issuer.example")
                .config("audience", "vault")
        };
        let claims = |iss: &str, aud: Value| json!({"sub": "alice", "iss": iss, "aud": aud});
        let ok = [
            claims("https://issuer.example", json!("vault")),
            claims("https://issuer.example", json!(["other", "vault"])),
        ];
        for c in ok {
            assert_eq!(identity(host(), &hs256(&c), NOW).subject, "alice");
        }
        let bad = [
            claims("https://evil.example", json!("vault")),
            claims("https://issuer.example", json!("other")),
            claims("https://issuer.example", json!(["other"])),
            json!({"sub": "alice", "aud": "vault"}),
            json!({"sub": "alice", "iss": "https://issuer.example"}),
            json!({"sub": "", "iss": "https://issuer.example", "aud": "vault"}),
            json!({"iss": "https://issuer.example", "aud": "vault"}),
            json!({"sub": 7, "iss": "https://issuer.example", "aud": "vault"}),
        ];
        for c in bad {
            assert_eq!(
                rejection(host(), &hs256(&c)),
                RejectionReason::Claims,
                "{c}"
            );
        }
        for c in [
            json!({"sub": "alice", "groups": "staff"}),
            json!({"sub": "alice", "groups": ["staff", 1]}),
            json!({"sub": "alice", "exp": "tomorrow"}),
        ] {
            assert_eq!(
                rejection(both(), &hs256(&c)),
                RejectionReason::Claims,
                "{c}"
            );
        }
    }

    #[test]
    fn no_rejection_detail_echoes_the_token() {
        let alg_is_long = {
            let input = signing_input(&json!({"alg": "x".repeat(200)}), &alice());
            format!("{input}.{}", b64(&[0; 32]))
        };
        let tokens = [
            hs256_with(&[9; 32], &alice()),
            hs256(&json!({"sub": "alice", "exp": NOW - 1})),
            format!("{}.x", hs256(&alice())),
            alg_is_long,
        ];
        for token in tokens {
            match run(both(), &request(&token, NOW)) {
                authenticate_response::Result::Rejection(r) => {
                    assert!(!r.detail.contains(&token), "{}", r.detail);
                    for part in token.split('.').filter(|p| p.len() >= 8) {
                        assert!(!r.detail.contains(part), "{}", r.detail);
                    }
                    assert!(r.detail.len() < 80, "{}", r.detail);
                }
                other => panic!("expected a rejection, got {other:?}"),
            }
        }
    }

    #[test]
    fn no_key_or_a_bad_value_is_plugin_error_40() {
        let req = request(&hs256(&alice()), NOW);
        let err = |host: Host| {
            call::<_, AuthenticateResponse>(host, JwtAuth::authenticate, &req).unwrap_err()
        };
        let none = err(Host::new().config("issuer", "x"));
        assert_eq!(none.code, CONFIG_ERROR);
        let cases = [
            ("hs256_key", "not base64!"),
            ("hs256_key", "c2hvcnQ="),
            ("ed25519_public_key", "AAAA"),
            ("leeway_seconds", "-5"),
            ("issuer", " "),
        ];
        for (key, value) in cases {
            let out = err(both().config(key, value));
            assert_eq!(out.code, CONFIG_ERROR, "{key}");
            let message = out.error.unwrap_or_default();
            assert!(message.contains(key), "{message}");
        }
        // The identity point (small order) is no public key.
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        let out = err(Host::new().config("ed25519_public_key", &STANDARD.encode(identity_point)));
        assert_eq!(out.code, CONFIG_ERROR);
    }

    #[test]
    fn a_request_without_context_is_bad_input() {
        let mut req = request(&hs256(&alice()), NOW);
        req.context = None;
        let out = call::<_, AuthenticateResponse>(both(), JwtAuth::authenticate, &req).unwrap_err();
        assert_eq!(out.code, Error::BAD_INPUT);
    }
}
