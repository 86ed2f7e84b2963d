//! Scrubbing secrets (storage keys, SAS tokens, passwords) out of text before it is
//! shown: results, errors and logs.

/// The replacement text for hidden secret material.
pub const REDACTED: &str = "*****";

/// Query-string parameter names whose presence makes the whole query string
/// secret (SAS tokens, pre-signed URLs, OAuth tokens).
const SECRET_QUERY_PARAMS: &[&str] = &[
    "sig",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
    "token",
    "access_token",
    "sas",
    "secret",
    "password",
    "pwd",
    "code",
    "key",
    "api_key",
    "apikey",
];

/// `key=value` names (connection strings) whose value is secret.
const SECRET_KEYS: &[&str] = &[
    "accountkey",
    "sharedaccesskey",
    "sharedaccesssignature",
    "password",
    "pwd",
    "appkey",
    "applicationkey",
    "clientsecret",
    "client_secret",
    "secret",
    "sig",
    "token",
    "access_token",
    "sastoken",
    "aws_secret_access_key",
    "secret_access_key",
];

/// Characters that end a URL embedded in free text.
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '<' | '>' | '(' | ')')
}

/// Characters allowed in a URL scheme (`https`, `abfss`, `s3`, `git+ssh`).
fn is_scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')
}

/// Scrubs well-known secrets from free text such as an error message.
///
/// For every URL-looking run (`scheme://...`, ending at whitespace, a quote,
/// `<`, `>` or a parenthesis):
/// * everything after the first `;` becomes `;*****` (Kusto appends storage
///   keys as `https://acct.blob.core.windows.net/container;KEY`),
/// * a query string containing a signature or token parameter (`sig=`,
///   `X-Amz-Signature=`, `token=`, ...) becomes `?*****`,
/// * the password of `user:password@` userinfo becomes `*****`.
///
/// Outside URLs, values of connection-string style `Key=value` pairs with
/// secret names (`AccountKey`, `SharedAccessSignature`, `Password`, `sig`,
/// ...) are replaced by `*****`.
pub fn scrub_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0usize; // bytes of `text` already handled
    let mut search = 0usize;
    while let Some(found) = text.get(search..).and_then(|s| s.find("://")) {
        let sep = search + found;
        // Walk back over scheme characters, not before `copied`.
        let before = text.get(copied..sep).unwrap_or("");
        let scheme_len: usize = before
            .chars()
            .rev()
            .take_while(|c| is_scheme_char(*c))
            .map(char::len_utf8)
            .sum();
        if scheme_len == 0 {
            search = sep + 3;
            continue;
        }
        let url_start = sep - scheme_len;
        let after = text.get(sep + 3..).unwrap_or("");
        let url_len = after.find(ends_url).unwrap_or(after.len());
        let url_end = sep + 3 + url_len;
        out.push_str(&scrub_key_values(text.get(copied..url_start).unwrap_or("")));
        out.push_str(&scrub_url(text.get(url_start..url_end).unwrap_or("")));
        copied = url_end;
        search = url_end;
    }
    out.push_str(&scrub_key_values(text.get(copied..).unwrap_or("")));
    out
}

/// Scrubs a single URL (see [`scrub_secrets`]).
fn scrub_url(url: &str) -> String {
    let (main, key_part) = match url.find(';') {
        Some(i) => (url.get(..i).unwrap_or(""), true),
        None => (url, false),
    };
    let (before_query, query) = match main.find('?') {
        Some(i) => (main.get(..i).unwrap_or(""), main.get(i + 1..)),
        None => (main, None),
    };
    let mut out = scrub_userinfo(before_query);
    if let Some(query) = query {
        out.push('?');
        if query_has_secret(query) {
            out.push_str(REDACTED);
        } else {
            out.push_str(query);
        }
    }
    if key_part {
        out.push(';');
        out.push_str(REDACTED);
    }
    out
}

/// Replaces the password in `scheme://user:password@host/...`.
fn scrub_userinfo(url: &str) -> String {
    let Some(sep) = url.find("://") else {
        return url.to_string();
    };
    let authority_start = sep + 3;
    let rest = url.get(authority_start..).unwrap_or("");
    let authority_len = rest.find(['/', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_len).unwrap_or("");
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = authority.get(..at).unwrap_or("");
    let Some(colon) = userinfo.find(':') else {
        return url.to_string();
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(url.get(..authority_start + colon + 1).unwrap_or(""));
    out.push_str(REDACTED);
    out.push_str(url.get(authority_start + at..).unwrap_or(""));
    out
}

/// Whether a URL's query string carries a secret (a SAS token, a signature, a token).
pub fn query_has_secret(query: &str) -> bool {
    query.split(['&', '#']).any(|param| {
        let name = param.split('=').next().unwrap_or("").trim();
        SECRET_QUERY_PARAMS
            .iter()
            .any(|secret| name.eq_ignore_ascii_case(secret))
    })
}

/// Replaces the values of `SecretName=value` pairs outside URLs.
fn scrub_key_values(text: &str) -> String {
    if !text.contains('=') {
        return text.to_string();
    }
    // ASCII lowercasing keeps every byte offset unchanged.
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0usize;
    let mut search = 0usize;
    while let Some(found) = lower.get(search..).and_then(|s| s.find('=')) {
        let eq = search + found;
        let name_start = lower
            .get(..eq)
            .unwrap_or("")
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
            .map(|(i, c)| i + c.len_utf8())
            .unwrap_or(0)
            .max(copied);
        let name = lower.get(name_start..eq).unwrap_or("");
        search = eq + 1;
        if !SECRET_KEYS.contains(&name) {
            continue;
        }
        let value_start = eq + 1;
        let rest = text.get(value_start..).unwrap_or("");
        let value_len = rest
            .find(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | ',' | '\'' | '"' | ')'))
            .unwrap_or(rest.len());
        if value_len == 0 {
            continue;
        }
        out.push_str(text.get(copied..value_start).unwrap_or(""));
        out.push_str(REDACTED);
        copied = value_start + value_len;
        search = copied;
    }
    out.push_str(text.get(copied..).unwrap_or(""));
    out
}
