//! SCIM 2.0 filter, PATCH path and attribute-list parsing (RFC 7644
//! §3.4.2.2, §3.5.2, §3.10, §3.4.2.5).
//!
//! This module owns the text → AST step only: it evaluates nothing and knows
//! no schema. Whether `userName` exists, or whether `gt` makes sense on a
//! boolean, is for whoever compiles the [`Expr`] into the core's filter
//! algebra.
//!
//! Grammar accepted (RFC 7644 ABNF, plus one widely used extension):
//!
//! ```text
//! FILTER    = attrExp / logExp / valuePath / ["not"] "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]" ["." subAttr (SP "pr" / SP compareOp SP compValue)]
//! valFilter = attrExp / logExp / ["not"] "(" valFilter ")"
//! attrExp   = attrPath SP "pr" / attrPath SP compareOp SP compValue
//! logExp    = FILTER SP ("and" / "or") SP FILTER
//! compValue = false / null / true / number / string   ; JSON number / JSON string
//! attrPath  = [URN ":"] ATTRNAME ["." subAttrName]
//! ```
//!
//! Decisions worth knowing:
//! - The trailing `.sub op value` after a value path is not in RFC 7644 but
//!   Microsoft Entra sends it (`emails[type eq "work"].value eq "x"`): it
//!   tests `sub` of the *same* element the bracket filter matched.
//! - Precedence is `not` > `and` > `or`; `and`/`or` associate to the left.
//!   `not` must be followed by `(` (`not(` and `not (` both work), so `not` is
//!   never taken as an attribute name.
//! - Keywords, operators and `true`/`false`/`null` are case-insensitive.
//!   Attribute names keep their spelling; [`AttrPath::attr_lower`] and friends
//!   give the lowercase form for case-insensitive matching.
//! - Unquoted values (`externalId eq jyoung`) are rejected: the RFC requires
//!   JSON strings, and guessing would make `eq true` vs `eq "true"` ambiguous.
//! - Inside `attr[...]`, names are sub-attributes of `attr` and must be plain
//!   names (no `.`, no URN); nested brackets are rejected.
//! - A URN-qualified path (starts with `urn:`, any case) splits at its last
//!   `:`: the attribute is what follows (then split at `.`), the URN what
//!   precedes. So a bare schema URN such as
//!   `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User` parses as
//!   attribute `User` of URN `urn:…:2.0`; callers that accept a bare schema URN
//!   as a PATCH path must recognise it themselves.
//! - Limits against hostile input: [`MAX_TEXT_LEN`] bytes, [`MAX_DEPTH`] levels
//!   of parentheses/brackets (checked before recursing, so the stack stays
//!   small), [`MAX_TERMS`] comparisons.
//! - Error offsets are byte offsets into the text.

mod lexer;
mod parser;
#[cfg(test)]
mod tests;

use parser::Parser;
use std::fmt;

/// Longest filter, path or attribute list accepted, in bytes.
pub const MAX_TEXT_LEN: usize = 4096;
/// Deepest nesting of parentheses and value-path brackets.
pub const MAX_DEPTH: usize = 32;
/// Most comparisons (`pr` included) in one filter.
pub const MAX_TERMS: usize = 100;

/// Why a filter, path or attribute list was refused; the message names the
/// offending token and its byte offset (SCIM's `invalidFilter` / `invalidPath`
/// detail).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    pub message: String,
}

impl FilterError {
    fn new(message: impl Into<String>) -> Self {
        FilterError {
            message: message.into(),
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FilterError {}

/// `[urn ":"] attr ["." sub]`, spelled as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrPath {
    /// Schema URN, e.g. `urn:ietf:params:scim:schemas:core:2.0:User`.
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// `attr` lowercased: SCIM attribute names are case-insensitive.
    pub fn attr_lower(&self) -> String {
        self.attr.to_ascii_lowercase()
    }

    pub fn sub_lower(&self) -> Option<String> {
        self.sub.as_deref().map(str::to_ascii_lowercase)
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    /// contains
    Co,
    /// starts with
    Sw,
    /// ends with
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    /// The operator named by `word`, any case.
    pub fn from_keyword(word: &str) -> Option<CompareOp> {
        const ALL: [CompareOp; 9] = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ];
        ALL.into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

/// A comparison value. Numbers stay `serde_json::Number` so integers and
/// decimals remain distinguishable.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Str(String),
    Num(serde_json::Number),
    Bool(bool),
    Null,
}

/// What is asserted of an attribute: presence or a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    Present,
    Compare(CompareOp, Literal),
}

/// The trailing `.sub op value` of `emails[type eq "work"].value eq "x"`.
#[derive(Clone, Debug, PartialEq)]
pub struct SubTest {
    /// Sub-attribute of the value path's attribute, as written.
    pub sub: String,
    pub test: Test,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `attr pr`
    Present(AttrPath),
    /// `attr op value`
    Compare(AttrPath, CompareOp, Literal),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// `attr[filter]`: some element of the multi-valued (or complex) `attr`
    /// matches `filter`. Paths inside `filter` are relative to `attr`: their
    /// `attr` field holds the sub-attribute name (`urn` and `sub` are `None`).
    /// `then`, when present, must hold for that same element.
    ValuePath {
        attr: AttrPath,
        filter: Box<Expr>,
        then: Option<SubTest>,
    },
}

/// A PATCH operation's `path` (RFC 7644 §3.5.2: `attrPath / valuePath [subAttr]`).
///
/// Without a filter, a sub-attribute lives in `attr.sub` (`name.givenName`);
/// with one, `attr.sub` is `None` and the sub-attribute after `]` is in `sub`
/// (`emails[type eq "work"].value`).
#[derive(Clone, Debug, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Expr>,
    pub sub: Option<String>,
}

/// Parses a `filter=` query parameter (already percent-decoded).
pub fn parse_filter(text: &str) -> Result<Expr, FilterError> {
    Parser::new(text, "filter")?.filter()
}

/// Parses a PATCH operation's `path`.
pub fn parse_path(text: &str) -> Result<PatchPath, FilterError> {
    Parser::new(text, "path")?.patch_path()
}

/// Parses an `attributes=` / `excludedAttributes=` list: comma separated,
/// items trimmed, empty items ignored.
pub fn parse_attribute_list(text: &str) -> Result<Vec<AttrPath>, FilterError> {
    parser::check_len(text, "attribute list")?;
    let mut paths = Vec::new();
    let mut offset = 0;
    for item in text.split(',') {
        let trimmed = item.trim();
        if !trimmed.is_empty() {
            let start = offset + (item.len() - item.trim_start().len());
            paths.push(parser::parse_attr_path_text(trimmed, start)?);
        }
        offset += item.len() + 1;
    }
    Ok(paths)
}
