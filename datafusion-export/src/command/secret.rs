//! [`SecretString`]: string literals that may carry credentials, never printed
//! in clear, sealed (encrypted) before they are stored; and the re-exported
//! [`scrub_secrets`] / [`REDACTED`] that remove secrets from text.

use std::fmt;

pub use datafusion_export_tables::{scrub_secrets, REDACTED};

/// A string literal that may carry a secret.
///
/// Kusto obfuscated literals (`h'..'`, `h"..."`, `h@'..'`, `H@"..."`) are
/// marked as obfuscated: their value is never shown by [`fmt::Debug`] or
/// [`fmt::Display`], which print `h'*****'` instead. Plain literals are shown
/// with well-known secrets scrubbed (see [`scrub_secrets`]). Use
/// [`SecretString::expose`] to get the real value.
///
/// A stored definition holds its secrets sealed (encrypted, see
/// [`datafusion_export_tables::secrets`]): [`SecretString::seal`] makes a sealed copy
/// whose value is only the redacted form and [`SecretString::unseal`] restores it.
#[derive(Clone, PartialEq)]
pub struct SecretString {
    /// The value; for a sealed string, its redacted form only.
    value: String,
    obfuscated: bool,
    /// `v1:<key id>:<ciphertext>` when sealed.
    sealed: Option<String>,
}

impl SecretString {
    /// Wraps `value`; `obfuscated` marks it as secret.
    pub fn new(value: impl Into<String>, obfuscated: bool) -> Self {
        Self {
            value: value.into(),
            obfuscated,
            sealed: None,
        }
    }

    /// Whether the value holds a secret: an obfuscated literal, or text from which
    /// [`scrub_secrets`] removes something (a `;KEY`, a SAS token, a password).
    pub fn has_secret(&self) -> bool {
        self.sealed.is_some() || self.obfuscated || scrub_secrets(&self.value) != self.value
    }

    /// Whether this is a sealed (encrypted) value that has not been unsealed: its
    /// [`SecretString::expose`] is the redacted form, not usable.
    pub fn is_sealed(&self) -> bool {
        self.sealed.is_some()
    }

    /// The id of the key a sealed value was sealed with.
    pub fn sealed_key_id(&self) -> Option<&str> {
        self.sealed
            .as_deref()
            .and_then(|s| datafusion_export_tables::secrets::sealed_key_id(s).ok())
    }

    /// A copy to store: a value with a secret is encrypted under `keys`' first key
    /// (only its redacted form stays readable); one without a secret is kept as is.
    /// A secret and no key is refused, with how to configure one.
    pub fn seal(
        &self,
        keys: Option<&datafusion_export_tables::SecretKeys>,
    ) -> Result<Self, datafusion_export_tables::SecretError> {
        if self.sealed.is_some() || !self.has_secret() {
            return Ok(self.clone());
        }
        let keys = keys.ok_or_else(|| {
            datafusion_export_tables::SecretError(format!(
                "'{}' holds a secret, and secrets are stored only encrypted: no secret key \
                 is configured ({}); or leave the secret out of the URL and give the \
                 credentials in the environment (AZURE_*, AWS_*, GOOGLE_*) or as \
                 --storage-option",
                self.redacted(),
                datafusion_export_tables::secrets::SECRET_KEY_HOWTO
            ))
        })?;
        Ok(Self {
            value: self.redacted(),
            obfuscated: self.obfuscated,
            sealed: Some(keys.seal(&self.value)),
        })
    }

    /// The usable value of a sealed string (a copy of an unsealed one).
    pub fn unseal(
        &self,
        keys: Option<&datafusion_export_tables::SecretKeys>,
    ) -> Result<Self, datafusion_export_tables::SecretError> {
        let Some(sealed) = &self.sealed else {
            return Ok(self.clone());
        };
        let keys = keys.ok_or_else(|| {
            datafusion_export_tables::SecretError(format!(
                "'{}' holds a secret encrypted with secret key {}, and no secret key is \
                 configured ({})",
                self.value,
                self.sealed_key_id().unwrap_or("?"),
                datafusion_export_tables::secrets::SECRET_KEY_HOWTO
            ))
        })?;
        let value = keys
            .open(sealed)
            .map_err(|e| datafusion_export_tables::SecretError(format!("'{}': {e}", self.value)))?;
        Ok(Self {
            value,
            obfuscated: self.obfuscated,
            sealed: None,
        })
    }

    /// The real value. Do not log it.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Whether the literal was written as an obfuscated (`h'...'`) literal.
    pub fn is_obfuscated(&self) -> bool {
        self.obfuscated
    }

    /// A form that is safe to show: `h'*****'` for obfuscated values,
    /// otherwise the value with URL credentials, SAS signatures and
    /// connection-string keys replaced by `*****`.
    pub fn redacted(&self) -> String {
        if self.sealed.is_some() {
            self.value.clone()
        } else if self.obfuscated {
            format!("h'{REDACTED}'")
        } else {
            scrub_secrets(&self.value)
        }
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sealed.is_some() {
            fmt::Debug::fmt(&self.value, f)
        } else if self.obfuscated {
            write!(f, "h'{REDACTED}'")
        } else {
            fmt::Debug::fmt(&scrub_secrets(&self.value), f)
        }
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The serialized form of a [`SecretString`]: `{"value": ..., "obfuscated": ...}`, or
/// `{"value": <redacted>, "obfuscated": ..., "encrypted": "v1:<key id>:<ciphertext>"}`
/// once sealed.
///
/// Serializing an unsealed string exposes the real value: definitions are sealed
/// ([`SecretString::seal`]) before they are stored, and this is never used for output.
#[derive(serde::Serialize)]
#[serde(rename = "SecretString")]
struct SecretStringRef<'a> {
    value: &'a str,
    obfuscated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    encrypted: Option<&'a str>,
}

#[derive(serde::Deserialize)]
#[serde(rename = "SecretString")]
struct SecretStringOwned {
    value: String,
    #[serde(default)]
    obfuscated: bool,
    #[serde(default)]
    encrypted: Option<String>,
}

impl serde::Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SecretStringRef {
            value: &self.value,
            obfuscated: self.obfuscated,
            encrypted: self.sealed.as_deref(),
        }
        .serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let SecretStringOwned {
            value,
            obfuscated,
            encrypted,
        } = SecretStringOwned::deserialize(deserializer)?;
        Ok(SecretString {
            value,
            obfuscated,
            sealed: encrypted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_string_plain_values_are_scrubbed() {
        let s = SecretString::new(
            "https://a.blob.core.windows.net/c/f.csv?sv=2020&se=x&sp=r&sig=ABC%2Fdef",
            false,
        );
        assert_eq!(
            s.redacted(),
            "https://a.blob.core.windows.net/c/f.csv?*****"
        );
        assert_eq!(s.to_string(), s.redacted());
        assert_eq!(
            format!("{s:?}"),
            "\"https://a.blob.core.windows.net/c/f.csv?*****\""
        );
        let s = SecretString::new(
            "https://acct.blob.core.windows.net/container;SECRETKEY==",
            false,
        );
        assert_eq!(
            s.redacted(),
            "https://acct.blob.core.windows.net/container;*****"
        );
        let s = SecretString::new("/data/file.csv", false);
        assert_eq!(s.redacted(), "/data/file.csv");
        assert_eq!(format!("{s:?}"), "\"/data/file.csv\"");
        assert!(!s.is_obfuscated());
    }

    #[test]
    fn scrub_urls() {
        let cases = [
            (
                "https://user:hunter2@example.com/path?x=1",
                "https://user:*****@example.com/path?x=1",
            ),
            (
                "abfss://container@account.dfs.core.windows.net/dir/file.parquet",
                "abfss://container@account.dfs.core.windows.net/dir/file.parquet",
            ),
            (
                "s3://bucket/key.csv?X-Amz-Signature=abc&X-Amz-Date=1",
                "s3://bucket/key.csv?*****",
            ),
            (
                "https://example.com/a?page=2&q=x",
                "https://example.com/a?page=2&q=x",
            ),
            (
                "https://example.com/a?SIG=abc",
                "https://example.com/a?*****",
            ),
            ("file:///tmp/x.csv", "file:///tmp/x.csv"),
        ];
        for (input, expected) in cases {
            assert_eq!(scrub_secrets(input), expected, "{input}");
        }
    }

    #[test]
    fn scrub_free_text() {
        let text = "failed to read 'https://a.blob.core.windows.net/c/f.csv?sv=1&sig=S3CR3T' \
                    and (https://b.blob.core.windows.net/c;K3Y) and ftp://u:p4ss@h/x, \
                    also DefaultEndpointsProtocol=https;AccountName=a;AccountKey=K3Y2==;EndpointSuffix=x \
                    and Password=pw1 and key=value";
        let scrubbed = scrub_secrets(text);
        for secret in ["S3CR3T", "K3Y", "p4ss", "K3Y2", "pw1"] {
            assert!(!scrubbed.contains(secret), "{secret} in {scrubbed}");
        }
        assert!(scrubbed.contains("https://a.blob.core.windows.net/c/f.csv?*****'"));
        assert!(scrubbed.contains("(https://b.blob.core.windows.net/c;*****)"));
        assert!(scrubbed.contains("AccountName=a;AccountKey=*****;EndpointSuffix=x"));
        assert!(
            scrubbed.contains("key=value"),
            "non-secret key kept: {scrubbed}"
        );
        assert_eq!(
            scrub_secrets("no secrets here: a://"),
            "no secrets here: a://"
        );
        assert_eq!(scrub_secrets("://x"), "://x");
        assert_eq!(scrub_secrets("é://ü é"), "é://ü é");
        assert_eq!(scrub_secrets(""), "");
    }

    #[test]
    fn secret_string_serde_is_value_and_flag() {
        let s = SecretString::new("https://a/b;KEY", true);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"value":"https://a/b;KEY","obfuscated":true}"#);
        let back: SecretString = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert!(back.is_obfuscated());
        assert_eq!(format!("{back:?}"), "h'*****'");
        let plain: SecretString = serde_json::from_str(r#"{"value":"/x"}"#).unwrap();
        assert_eq!(plain, SecretString::new("/x", false));
        assert!(serde_json::from_str::<SecretString>(r#""/x""#).is_err());
        assert!(serde_json::from_str::<SecretString>(r#"{"obfuscated":true}"#).is_err());
    }
}
