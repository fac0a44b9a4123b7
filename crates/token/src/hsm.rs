//! CA keys in an HSM: any PKCS#11 module (a network HSM's client library, SoftHSM2 in tests),
//! named by a PKCS#11 URI (RFC 7512).
//!
//! Keys are generated **on the token** (CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE true,
//! CKA_EXTRACTABLE false; only CKA_SIGN): nothing here reads key material, and what a caller
//! keeps is an object URI (`pkcs11:token=…;object=…;id=…;type=private`), never a key.
//!
//! Signing is concurrent: a [`Hsm`] holds one logged-in session for its lifetime (PKCS#11
//! login is per application and token, so every other session of the process is logged in
//! with it) and a pool of sessions taken one per signature — `cryptoki::Session` is `Send`
//! but not `Sync`. The pool grows to the number of signatures in flight and keeps them.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use sha2::Digest;

use crate::encoding::{self, P256_EC_PARAMS};
use crate::error::detail;
use crate::{Module, TokenError};

/// A parsed PKCS#11 URI (RFC 7512): the attributes carecert uses.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token=`: the token label.
    pub token: Option<String>,
    /// `object=`: an object label.
    pub object: Option<String>,
    /// `id=`: an object's CKA_ID.
    pub id: Option<Vec<u8>>,
    /// `module-path=` (query): the PKCS#11 library.
    pub module_path: Option<PathBuf>,
    /// `pin-source=` (query): a file holding the user PIN (`file:/path` or a plain path).
    pub pin_source: Option<PathBuf>,
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

fn bad(detail: impl Into<String>) -> TokenError {
    TokenError::BadUri { detail: detail.into() }
}

fn pct_decode(s: &str) -> Result<Vec<u8>, TokenError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or_else(|| bad(format!("a '%' without two hex digits in {s:?}")))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad(format!("'%{hex}' is not a hex escape")))?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn pct_encode(b: &[u8], all: bool) -> String {
    let mut s = String::new();
    for &c in b {
        if !all && (c.is_ascii_alphanumeric() || b"-._~:/".contains(&c)) {
            s.push(c as char);
        } else {
            s.push_str(&format!("%{c:02x}"));
        }
    }
    s
}

fn text(v: &str) -> Result<String, TokenError> {
    String::from_utf8(pct_decode(v)?).map_err(|_| bad("an attribute is not UTF-8"))
}

impl Pkcs11Uri {
    /// Parses `pkcs11:path-attributes?query-attributes`. Unknown attributes are refused
    /// (a typo must not silently select another token), `pin-value` included: the PIN comes
    /// from a file.
    pub fn parse(uri: &str) -> Result<Pkcs11Uri, TokenError> {
        let rest = uri.strip_prefix("pkcs11:").ok_or_else(|| bad("it does not start with 'pkcs11:'"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut u = Pkcs11Uri { token: None, object: None, id: None, module_path: None, pin_source: None };
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (k, v) = attr.split_once('=').ok_or_else(|| bad(format!("'{attr}' has no '='")))?;
            match k {
                "token" => u.token = Some(text(v)?),
                "object" => u.object = Some(text(v)?),
                "id" => u.id = Some(pct_decode(v)?),
                "type" => {
                    if v != "private" {
                        return Err(bad(format!("type={v}: only private keys are named here")));
                    }
                }
                "manufacturer"
                | "model"
                | "serial"
                | "library-description"
                | "library-manufacturer"
                | "library-version"
                | "slot-description"
                | "slot-manufacturer"
                | "slot-id" => {
                    return Err(bad(format!("'{k}' is not supported: name the token by its label (token=…)")));
                }
                other => return Err(bad(format!("unknown attribute '{other}'"))),
            }
        }
        for attr in query.split('&').filter(|a| !a.is_empty()) {
            let (k, v) = attr.split_once('=').ok_or_else(|| bad(format!("'{attr}' has no '='")))?;
            match k {
                "module-path" => u.module_path = Some(PathBuf::from(text(v)?)),
                "pin-source" => {
                    let v = text(v)?;
                    let path = v.strip_prefix("file://").or_else(|| v.strip_prefix("file:")).unwrap_or(&v);
                    u.pin_source = Some(PathBuf::from(path));
                }
                "pin-value" => {
                    return Err(bad("pin-value puts the PIN in the URI: use pin-source=file:/path instead"));
                }
                other => return Err(bad(format!("unknown query attribute '{other}'"))),
            }
        }
        Ok(u)
    }

    /// The URI of one private key on `token`: what the database records as a key's handle.
    pub fn key(token: &str, label: &str, id: &[u8]) -> String {
        format!(
            "pkcs11:token={};object={};id={};type=private",
            pct_encode(token.as_bytes(), false),
            pct_encode(label.as_bytes(), false),
            pct_encode(id, true)
        )
    }
}

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut path = Vec::new();
        if let Some(t) = &self.token {
            path.push(format!("token={}", pct_encode(t.as_bytes(), false)));
        }
        if let Some(o) = &self.object {
            path.push(format!("object={}", pct_encode(o.as_bytes(), false)));
        }
        if let Some(i) = &self.id {
            path.push(format!("id={}", pct_encode(i, true)));
        }
        let mut query = Vec::new();
        if let Some(m) = &self.module_path {
            query.push(format!("module-path={}", pct_encode(m.to_string_lossy().as_bytes(), false)));
        }
        if let Some(p) = &self.pin_source {
            query.push(format!("pin-source=file:{}", pct_encode(p.to_string_lossy().as_bytes(), false)));
        }
        write!(f, "pkcs11:{}", path.join(";"))?;
        if !query.is_empty() {
            write!(f, "?{}", query.join("&"))?;
        }
        Ok(())
    }
}

/// One token holding CA keys, logged in as its user, with a pool of signing sessions.
pub struct Hsm {
    module: Module,
    slot: Slot,
    label: String,
    /// Keeps the login alive for every session of this process (PKCS#11 login is per
    /// application); also used for key generation and look-ups.
    main: Mutex<Session>,
    pool: Mutex<Vec<Session>>,
}

impl fmt::Debug for Hsm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hsm").field("module", &self.module.path()).field("token", &self.label).finish_non_exhaustive()
    }
}

fn hsm_err(op: &'static str) -> impl Fn(CkError) -> TokenError {
    move |e| TokenError::Hsm { op, detail: detail(&e) }
}

impl Hsm {
    /// Opens the token the URI names (`token=` and `module-path=` required) and logs in with
    /// the PIN read from `pin-source`.
    pub fn open(uri: &Pkcs11Uri) -> Result<Arc<Hsm>, TokenError> {
        let module_path = uri.module_path.as_ref().ok_or_else(|| bad("module-path is missing"))?;
        let label = uri.token.clone().ok_or_else(|| bad("token=LABEL is missing"))?;
        let pin_file = uri.pin_source.as_ref().ok_or_else(|| bad("pin-source=file:/path is missing"))?;
        let pin = std::fs::read_to_string(pin_file).map_err(|e| TokenError::Hsm {
            op: "reading the PIN file",
            detail: format!("{}: {e}", pin_file.display()),
        })?;
        let pin = pin.trim_end_matches(['\n', '\r']);
        let module = Module::open(module_path)?;
        let slots = module.ctx.get_slots_with_token().map_err(hsm_err("listing the tokens"))?;
        let mut found = None;
        for slot in slots {
            if let Ok(t) = module.ctx.get_token_info(slot)
                && t.token_initialized()
                && t.label().trim() == label
            {
                if found.is_some() {
                    return Err(TokenError::Hsm {
                        op: "finding the token",
                        detail: format!("several tokens are labelled {label:?}: give each its own label"),
                    });
                }
                found = Some(slot);
            }
        }
        let slot = found.ok_or_else(|| TokenError::Hsm {
            op: "finding the token",
            detail: format!("no initialised token labelled {label:?} in {}", module.path().display()),
        })?;
        let main = module.ctx.open_rw_session(slot).map_err(hsm_err("opening a session"))?;
        match main.login(UserType::User, Some(&AuthPin::from(pin))) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                return Err(TokenError::Hsm {
                    op: "logging in",
                    detail: format!("the token refused the PIN in {}", pin_file.display()),
                });
            }
            Err(e) => return Err(hsm_err("logging in")(e)),
        }
        tracing::info!(module = %module.path().display(), token = %label, "HSM token opened");
        Ok(Arc::new(Hsm { module, slot, label, main: Mutex::new(main), pool: Mutex::new(Vec::new()) }))
    }

    /// The token label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Generates a P-256 key pair on the token, labelled `label` with a random CKA_ID. The
    /// private key is sensitive, never extractable, private, and can only sign.
    pub fn generate_p256(self: &Arc<Self>, label: &str) -> Result<HsmKey, TokenError> {
        let main = self.main.lock().unwrap_or_else(PoisonError::into_inner);
        let id = main.generate_random_vec(16).map_err(hsm_err("drawing a key id"))?;
        let public = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(P256_EC_PARAMS.to_vec()),
            Attribute::Verify(true),
            Attribute::Id(id.clone()),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let private = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Derive(false),
            Attribute::Id(id.clone()),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let (public_h, private_h) = main
            .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
            .map_err(hsm_err("generating a key pair"))?;
        let spki = match ec_spki(&main, public_h) {
            Ok(s) => s,
            Err(e) => {
                let _ = main.destroy_object(private_h);
                let _ = main.destroy_object(public_h);
                return Err(e);
            }
        };
        drop(main);
        tracing::info!(token = %self.label, label, "key pair generated on the HSM");
        Ok(HsmKey { hsm: self.clone(), private: private_h, spki, label: label.to_string(), id })
    }

    /// The key a [`Pkcs11Uri::key`] names (by CKA_ID, and by label when given). The token
    /// must be this one.
    pub fn key(self: &Arc<Self>, key_uri: &str) -> Result<HsmKey, TokenError> {
        let uri = Pkcs11Uri::parse(key_uri)?;
        if let Some(t) = &uri.token
            && t != &self.label
        {
            return Err(TokenError::Hsm {
                op: "finding a key",
                detail: format!("the key {key_uri} is on token {t:?}, but the configured token is {:?}", self.label),
            });
        }
        let id = uri.id.clone().ok_or_else(|| bad(format!("{key_uri} has no id=")))?;
        let main = self.main.lock().unwrap_or_else(PoisonError::into_inner);
        let find = |class: ObjectClass| -> Result<Vec<ObjectHandle>, TokenError> {
            let mut t = vec![Attribute::Class(class), Attribute::Id(id.clone())];
            if let Some(l) = &uri.object {
                t.push(Attribute::Label(l.as_bytes().to_vec()));
            }
            main.find_objects(&t).map_err(hsm_err("finding a key"))
        };
        let private = match find(ObjectClass::PRIVATE_KEY)?.as_slice() {
            [one] => *one,
            [] => {
                return Err(TokenError::Hsm {
                    op: "finding a key",
                    detail: format!("no private key {key_uri} on token {:?}", self.label),
                });
            }
            _ => {
                return Err(TokenError::Hsm {
                    op: "finding a key",
                    detail: format!("several private keys match {key_uri}"),
                });
            }
        };
        let public = find(ObjectClass::PUBLIC_KEY)?.into_iter().next().ok_or_else(|| TokenError::Hsm {
            op: "finding a key",
            detail: format!("the public key of {key_uri} is missing on the token"),
        })?;
        let spki = ec_spki(&main, public)?;
        Ok(HsmKey { hsm: self.clone(), private, spki, label: uri.object.unwrap_or_default(), id })
    }

    /// Labels of the private keys on the token (for checks and status displays).
    pub fn private_key_labels(&self) -> Result<Vec<String>, TokenError> {
        let main = self.main.lock().unwrap_or_else(PoisonError::into_inner);
        let handles =
            main.find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)]).map_err(hsm_err("listing keys"))?;
        let mut out = Vec::new();
        for h in handles {
            for a in main.get_attributes(h, &[AttributeType::Label]).map_err(hsm_err("listing keys"))? {
                if let Attribute::Label(l) = a {
                    out.push(String::from_utf8_lossy(&l).into_owned());
                }
            }
        }
        Ok(out)
    }

    fn take(&self) -> Result<Session, TokenError> {
        if let Some(s) = self.pool.lock().unwrap_or_else(PoisonError::into_inner).pop() {
            return Ok(s);
        }
        self.module.ctx.open_ro_session(self.slot).map_err(hsm_err("opening a signing session"))
    }

    fn give_back(&self, s: Session) {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner).push(s);
    }

    /// Sessions in the pool now (idle).
    pub fn idle_sessions(&self) -> usize {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

fn ec_spki(session: &Session, public: ObjectHandle) -> Result<Vec<u8>, TokenError> {
    let attrs = session.get_attributes(public, &[AttributeType::EcPoint]).map_err(hsm_err("reading a public key"))?;
    match attrs.into_iter().next() {
        Some(Attribute::EcPoint(raw)) => encoding::spki_der(&encoding::public_key_from_ec_point(&raw)?),
        _ => Err(TokenError::BadPublicKey { detail: "no CKA_EC_POINT".into() }),
    }
}

/// A P-256 private key on an HSM. Cheap to share; signs from any thread.
pub struct HsmKey {
    hsm: Arc<Hsm>,
    private: ObjectHandle,
    spki: Vec<u8>,
    label: String,
    id: Vec<u8>,
}

impl fmt::Debug for HsmKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HsmKey").field("token", &self.hsm.label).field("label", &self.label).finish_non_exhaustive()
    }
}

impl HsmKey {
    /// The public key, DER SubjectPublicKeyInfo.
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// The URI recorded as this key's handle.
    pub fn uri(&self) -> String {
        Pkcs11Uri::key(&self.hsm.label, &self.label, &self.id)
    }

    /// Signs `message` with ECDSA P-256 / SHA-256 (hashed here, CKM_ECDSA on the token);
    /// returns the DER `ECDSA-Sig-Value`. A session that failed is closed, not reused.
    pub fn sign_sha256(&self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        let digest = sha2::Sha256::digest(message);
        let session = self.hsm.take()?;
        match session.sign(&Mechanism::Ecdsa, self.private, &digest) {
            Ok(raw) => {
                self.hsm.give_back(session);
                encoding::ecdsa_signature_der(&raw)
            }
            Err(e) => Err(hsm_err("signing")(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_and_print() {
        let u = Pkcs11Uri::parse(
            "pkcs11:token=carecert%20CA;object=systems?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/pin",
        )
        .unwrap();
        assert_eq!(u.token.as_deref(), Some("carecert CA"));
        assert_eq!(u.object.as_deref(), Some("systems"));
        assert_eq!(u.module_path.as_deref(), Some(std::path::Path::new("/usr/lib/softhsm/libsofthsm2.so")));
        assert_eq!(u.pin_source.as_deref(), Some(std::path::Path::new("/etc/pin")));
        assert_eq!(Pkcs11Uri::parse(&u.to_string()).unwrap(), u);
        let k = Pkcs11Uri::key("tok", "carecert systems CA", &[0, 0xff]);
        let back = Pkcs11Uri::parse(&k).unwrap();
        assert_eq!(back.id, Some(vec![0, 0xff]));
        assert_eq!(back.object.as_deref(), Some("carecert systems CA"));
    }

    #[test]
    fn pin_values_and_unknown_attributes_are_refused() {
        for bad in ["pkcs11:token=a?pin-value=1234", "pkcs11:tokn=a", "file:/x", "pkcs11:id=%zz"] {
            assert!(matches!(Pkcs11Uri::parse(bad), Err(TokenError::BadUri { .. })), "{bad}");
        }
    }
}
