//! Tokens of the SCIM filter / PATCH path language.
//!
//! The lexer knows nothing about keywords: `eq`, `and`, `not`, `true` and
//! attribute names are all [`Kind::Word`], because whether a word is an
//! operator or a name depends on where it stands, which only the parser knows.
//! Offsets are byte offsets into the original text, so error messages can
//! point at the exact spot.

use super::FilterError;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Kind {
    /// A run of name characters starting with a letter or `$`: an attribute
    /// path (dots and colons included, so a whole URN is one word), an
    /// operator or a keyword.
    Word,
    /// A JSON string, already decoded.
    Str(String),
    /// A JSON number.
    Num(serde_json::Number),
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A `.` standing alone: only meaningful right after `]`
    /// (`emails[type eq "work"].value`); inside a word it is part of the word.
    Dot,
    /// Always the last token, so the parser never runs off the end.
    End,
}

#[derive(Clone, Debug)]
pub(super) struct Token<'a> {
    pub kind: Kind,
    /// The source text of the token (quotes and escapes included for strings).
    pub text: &'a str,
    pub offset: usize,
}

impl Token<'_> {
    /// Whether this is the keyword `kw` (SCIM keywords are case-insensitive).
    pub fn is_word(&self, kw: &str) -> bool {
        self.kind == Kind::Word && self.text.eq_ignore_ascii_case(kw)
    }

    /// How the token is named in error messages.
    pub fn describe(&self) -> String {
        match self.kind {
            Kind::End => "end of input".to_string(),
            Kind::Str(_) => format!("string {}", shorten(self.text)),
            Kind::Num(_) => format!("number {}", shorten(self.text)),
            _ => format!("{:?}", shorten(self.text)),
        }
    }
}

/// Long tokens are cut in messages: a 4 KiB string echoed back helps nobody.
pub(super) fn shorten(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Characters of a word after its first: name characters plus `.` and `:`
/// (sub-attributes and URNs; the parser splits them).
pub(super) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$' | b'.' | b':')
}

pub(super) fn lex(text: &str) -> Result<Vec<Token<'_>>, FilterError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let b = bytes[i];
        let kind = match b {
            // Lenient: any run of ASCII whitespace separates tokens.
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'(' => {
                i += 1;
                Kind::LParen
            }
            b')' => {
                i += 1;
                Kind::RParen
            }
            b'[' => {
                i += 1;
                Kind::LBracket
            }
            b']' => {
                i += 1;
                Kind::RBracket
            }
            b'.' => {
                i += 1;
                Kind::Dot
            }
            b'"' => {
                i = string_end(bytes, start)?;
                let raw = &text[start..i];
                // serde_json does the JSON unescaping (\" \\ \n \u00e9, surrogate
                // pairs) and rejects raw control characters, as JSON requires.
                let value: String = serde_json::from_str(raw).map_err(|e| {
                    FilterError::new(format!(
                        "invalid string {} at offset {start}: {e}",
                        shorten(raw)
                    ))
                })?;
                Kind::Str(value)
            }
            b'-' | b'0'..=b'9' => {
                while i < bytes.len()
                    && matches!(bytes[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    i += 1;
                }
                let raw = &text[start..i];
                // serde_json applies the JSON number grammar (no leading zeros,
                // no bare `1.`) and keeps integers apart from decimals.
                let n: serde_json::Number = serde_json::from_str(raw).map_err(|_| {
                    FilterError::new(format!("invalid number {raw:?} at offset {start}"))
                })?;
                // serde_json's default float reading can be one unit in the
                // last place off; std's is correctly rounded, so a decimal
                // reads as the same value however it is spelt.
                let n = match n.is_f64() {
                    true => raw
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .unwrap_or(n),
                    false => n,
                };
                Kind::Num(n)
            }
            b if b.is_ascii_alphabetic() || b == b'$' => {
                while i < bytes.len() && is_word_byte(bytes[i]) {
                    i += 1;
                }
                Kind::Word
            }
            _ => {
                // `i` is on a char boundary: everything consumed so far ends
                // in an ASCII byte.
                let c = text[start..].chars().next().unwrap_or('?');
                return Err(FilterError::new(format!(
                    "unexpected character {c:?} at offset {start}"
                )));
            }
        };
        tokens.push(Token {
            kind,
            text: &text[start..i],
            offset: start,
        });
    }
    tokens.push(Token {
        kind: Kind::End,
        text: "",
        offset: text.len(),
    });
    Ok(tokens)
}

/// The offset just past the closing quote of the string opening at `start`.
fn string_end(bytes: &[u8], start: usize) -> Result<usize, FilterError> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            // Skip the escaped byte; `"` and `\` never occur inside a
            // multi-byte UTF-8 sequence, so this cannot land mid-character
            // in a way that matters.
            b'\\' => i += 2,
            b'"' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(FilterError::new(format!(
        "unterminated string starting at offset {start}"
    )))
}
