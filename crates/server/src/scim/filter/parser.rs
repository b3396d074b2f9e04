//! The recursive-descent parser behind [`super::parse_filter`] and
//! [`super::parse_path`], and attribute-path validation.

use super::lexer::{self, Kind, Token};
use super::{
    AttrPath, CompareOp, Expr, FilterError, Literal, PatchPath, SubTest, Test, MAX_DEPTH,
    MAX_TERMS, MAX_TEXT_LEN,
};

pub(super) fn check_len(text: &str, what: &str) -> Result<(), FilterError> {
    if text.len() > MAX_TEXT_LEN {
        return Err(FilterError::new(format!(
            "{what} too long: {} bytes, at most {MAX_TEXT_LEN} allowed",
            text.len()
        )));
    }
    Ok(())
}

/// Splits and validates one attribute path written at `offset`.
pub(super) fn parse_attr_path_text(text: &str, offset: usize) -> Result<AttrPath, FilterError> {
    // The lexer only produces word characters, but attribute lists come here
    // straight from the query string.
    if let Some((i, c)) = text
        .char_indices()
        .find(|&(_, c)| !c.is_ascii() || !lexer::is_word_byte(c as u8))
    {
        return Err(FilterError::new(format!(
            "unexpected character {c:?} in attribute path {:?} at offset {}",
            lexer::shorten(text),
            offset + i
        )));
    }
    let is_urn = text
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
    let (urn, rest, rest_offset) = if is_urn {
        // `urn:` is in the text, so there is a last colon; it must come after
        // at least one namespace segment.
        match text.rfind(':') {
            Some(i) if i > 4 => (Some(&text[..i]), &text[i + 1..], offset + i + 1),
            _ => {
                return Err(FilterError::new(format!(
                    "{:?} at offset {offset} is not a URN-qualified attribute name",
                    lexer::shorten(text)
                )))
            }
        }
    } else {
        if let Some(i) = text.find(':') {
            return Err(FilterError::new(format!(
                "unexpected ':' in attribute path {:?} at offset {} (schema-qualified names start with \"urn:\")",
                lexer::shorten(text),
                offset + i
            )));
        }
        (None, text, offset)
    };
    let mut parts = rest.split('.');
    let attr = parts.next().unwrap_or_default();
    let sub = parts.next();
    if parts.next().is_some() {
        return Err(FilterError::new(format!(
            "attribute path {:?} at offset {offset} has more than one '.': SCIM allows only attr.subAttr",
            lexer::shorten(text)
        )));
    }
    check_name(attr, text, rest_offset)?;
    if let Some(sub) = sub {
        check_name(sub, text, rest_offset + attr.len() + 1)?;
    }
    Ok(AttrPath {
        urn: urn.map(str::to_string),
        attr: attr.to_string(),
        sub: sub.map(str::to_string),
    })
}

/// ATTRNAME = ALPHA *(nameChar), with `$` also allowed (`$ref`).
fn check_name(name: &str, path: &str, offset: usize) -> Result<(), FilterError> {
    let ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'$')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$'));
    if ok {
        return Ok(());
    }
    let what = if name.is_empty() {
        "missing attribute name".to_string()
    } else {
        format!("invalid attribute name {:?}", lexer::shorten(name))
    };
    Err(FilterError::new(format!(
        "{what} in {:?} at offset {offset}",
        lexer::shorten(path)
    )))
}

/// Recursive descent over the token list. Recursion happens only on `(` and
/// `[`, and `enter` refuses before recursing past [`MAX_DEPTH`].
pub(super) struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    pos: usize,
    depth: usize,
    terms: usize,
}

/// Inside `attr[...]`, the name of `attr` (for messages); `None` at top level.
type Scope<'s> = Option<&'s str>;

impl<'a> Parser<'a> {
    pub(super) fn new(text: &'a str, what: &str) -> Result<Self, FilterError> {
        check_len(text, what)?;
        let tokens = lexer::lex(text)?;
        if tokens.len() == 1 {
            return Err(FilterError::new(format!("empty {what}")));
        }
        Ok(Parser {
            tokens,
            pos: 0,
            depth: 0,
            terms: 0,
        })
    }

    /// The whole text as a filter.
    pub(super) fn filter(mut self) -> Result<Expr, FilterError> {
        let expr = self.parse_or(None)?;
        self.expect_end("\"and\", \"or\" or end of filter")?;
        Ok(expr)
    }

    /// The whole text as a PATCH path.
    pub(super) fn patch_path(mut self) -> Result<PatchPath, FilterError> {
        let word = self.bump();
        if word.kind != Kind::Word {
            return Err(FilterError::new(format!(
                "expected an attribute path at offset {}, found {}",
                word.offset,
                word.describe()
            )));
        }
        let attr = self.attr_path(&word, None)?;
        let (mut filter, mut sub) = (None, None);
        if self.peek().kind == Kind::LBracket {
            self.check_value_path_attr(&attr, &word)?;
            filter = Some(self.parse_value_filter(&attr)?);
            if self.peek().kind == Kind::Dot {
                self.bump();
                sub = Some(self.sub_name(&attr)?);
            }
        }
        self.expect_end("end of path")?;
        Ok(PatchPath { attr, filter, sub })
    }

    fn peek(&self) -> &Token<'a> {
        // `pos` never passes the final `End` (see `bump`).
        &self.tokens[self.pos]
    }

    fn bump(&mut self) -> Token<'a> {
        let tok = self.tokens[self.pos].clone();
        if tok.kind != Kind::End {
            self.pos += 1;
        }
        tok
    }

    fn expect_end(&self, expected: &str) -> Result<(), FilterError> {
        let tok = self.peek();
        match tok.kind {
            Kind::End => Ok(()),
            Kind::RParen | Kind::RBracket => Err(FilterError::new(format!(
                "unbalanced {} at offset {}: nothing to close",
                tok.describe(),
                tok.offset
            ))),
            _ => Err(FilterError::new(format!(
                "expected {expected} at offset {}, found {}",
                tok.offset,
                tok.describe()
            ))),
        }
    }

    fn enter(&mut self, open: &Token<'_>) -> Result<(), FilterError> {
        if self.depth >= MAX_DEPTH {
            return Err(FilterError::new(format!(
                "nested too deeply at offset {}: at most {MAX_DEPTH} levels of parentheses and brackets",
                open.offset
            )));
        }
        self.depth += 1;
        Ok(())
    }

    /// Consumes the token closing `open`, or explains what is missing.
    fn close(
        &mut self,
        open: &Token<'_>,
        close: Kind,
        close_text: &str,
    ) -> Result<(), FilterError> {
        let tok = self.peek();
        if tok.kind == close {
            self.bump();
            self.depth -= 1;
            return Ok(());
        }
        Err(FilterError::new(format!(
            "expected \"and\", \"or\" or \"{close_text}\" at offset {}, found {} (to close {} at offset {})",
            tok.offset,
            tok.describe(),
            open.describe(),
            open.offset
        )))
    }

    fn count_term(&mut self, at: usize) -> Result<(), FilterError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(FilterError::new(format!(
                "too many comparisons: more than {MAX_TERMS} (at offset {at})"
            )));
        }
        Ok(())
    }

    fn parse_or(&mut self, scope: Scope<'_>) -> Result<Expr, FilterError> {
        let mut left = self.parse_and(scope)?;
        while self.peek().is_word("or") {
            self.bump();
            let right = self.parse_and(scope)?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self, scope: Scope<'_>) -> Result<Expr, FilterError> {
        let mut left = self.parse_unary(scope)?;
        while self.peek().is_word("and") {
            self.bump();
            let right = self.parse_unary(scope)?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_unary(&mut self, scope: Scope<'_>) -> Result<Expr, FilterError> {
        let tok = self.peek().clone();
        if tok.is_word("not") {
            self.bump();
            let open = self.peek();
            if open.kind != Kind::LParen {
                return Err(FilterError::new(format!(
                    "expected \"(\" after \"not\" at offset {}, found {}",
                    open.offset,
                    open.describe()
                )));
            }
            return Ok(Expr::Not(Box::new(self.parse_group(scope)?)));
        }
        match tok.kind {
            Kind::LParen => self.parse_group(scope),
            Kind::Word => self.parse_attr_exp(scope),
            _ => Err(FilterError::new(format!(
                "expected an attribute name, \"(\" or \"not\" at offset {}, found {}",
                tok.offset,
                tok.describe()
            ))),
        }
    }

    /// `( FILTER )`, the `(` being the next token.
    fn parse_group(&mut self, scope: Scope<'_>) -> Result<Expr, FilterError> {
        let open = self.bump();
        self.enter(&open)?;
        let inner = self.parse_or(scope)?;
        self.close(&open, Kind::RParen, ")")?;
        Ok(inner)
    }

    /// `attrPath pr`, `attrPath op value` or a value path, the attribute
    /// path being the next token.
    fn parse_attr_exp(&mut self, scope: Scope<'_>) -> Result<Expr, FilterError> {
        let word = self.bump();
        let path = self.attr_path(&word, scope)?;
        if self.peek().kind == Kind::LBracket {
            if let Some(outer) = scope {
                return Err(FilterError::new(format!(
                    "nested brackets at offset {}: {:?} inside \"{outer}[...]\" cannot have its own value filter",
                    self.peek().offset,
                    word.text
                )));
            }
            self.check_value_path_attr(&path, &word)?;
            let filter = self.parse_value_filter(&path)?;
            let then = if self.peek().kind == Kind::Dot {
                self.bump();
                let sub = self.sub_name(&path)?;
                let after = format!("{path}[...].{sub}");
                let test = self.parse_test(&after)?;
                Some(SubTest { sub, test })
            } else {
                None
            };
            return Ok(Expr::ValuePath {
                attr: path,
                filter: Box::new(filter),
                then,
            });
        }
        Ok(match self.parse_test(word.text)? {
            Test::Present => Expr::Present(path),
            Test::Compare(op, value) => Expr::Compare(path, op, value),
        })
    }

    /// `pr` or `op value` after the attribute named `after` (for messages).
    fn parse_test(&mut self, after: &str) -> Result<Test, FilterError> {
        let op_tok = self.bump();
        if op_tok.is_word("pr") {
            self.count_term(op_tok.offset)?;
            return Ok(Test::Present);
        }
        let op = match op_tok.kind {
            Kind::Word => CompareOp::from_keyword(op_tok.text),
            _ => None,
        };
        let Some(op) = op else {
            return Err(FilterError::new(format!(
                "expected a comparison operator after {:?} at offset {}, found {}",
                lexer::shorten(after),
                op_tok.offset,
                op_tok.describe()
            )));
        };
        let val = self.bump();
        let value = match val.kind {
            Kind::Str(s) => Literal::Str(s),
            Kind::Num(n) => Literal::Num(n),
            Kind::Word if val.text.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Kind::Word if val.text.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Kind::Word if val.text.eq_ignore_ascii_case("null") => Literal::Null,
            Kind::Word => {
                return Err(FilterError::new(format!(
                    "unquoted value {:?} at offset {}: string values must be in double quotes",
                    lexer::shorten(val.text),
                    val.offset
                )))
            }
            _ => {
                return Err(FilterError::new(format!(
                    "expected a value (string, number, true, false or null) after {:?} at offset {}, found {}",
                    op.as_str(),
                    val.offset,
                    val.describe()
                )))
            }
        };
        self.count_term(op_tok.offset)?;
        Ok(Test::Compare(op, value))
    }

    /// The attribute path in `word`; inside brackets only a plain name.
    fn attr_path(&self, word: &Token<'_>, scope: Scope<'_>) -> Result<AttrPath, FilterError> {
        let path = parse_attr_path_text(word.text, word.offset)?;
        if let Some(outer) = scope {
            if path.urn.is_some() || path.sub.is_some() {
                return Err(FilterError::new(format!(
                    "{:?} at offset {}: inside \"{outer}[...]\" names are sub-attributes of \"{outer}\" and cannot contain '.' or a URN",
                    lexer::shorten(word.text),
                    word.offset
                )));
            }
        }
        Ok(path)
    }

    fn check_value_path_attr(&self, path: &AttrPath, word: &Token<'_>) -> Result<(), FilterError> {
        if path.sub.is_some() {
            return Err(FilterError::new(format!(
                "{:?} at offset {}: a value filter \"[...]\" applies to an attribute, not to a sub-attribute",
                lexer::shorten(word.text),
                word.offset
            )));
        }
        Ok(())
    }

    /// `[ valFilter ]`, the `[` being the next token.
    fn parse_value_filter(&mut self, path: &AttrPath) -> Result<Expr, FilterError> {
        let open = self.bump();
        self.enter(&open)?;
        let inner = self.parse_or(Some(&path.attr))?;
        self.close(&open, Kind::RBracket, "]")?;
        Ok(inner)
    }

    /// The plain sub-attribute name after `attr[...].`.
    fn sub_name(&mut self, path: &AttrPath) -> Result<String, FilterError> {
        let tok = self.bump();
        if tok.kind == Kind::Word {
            let sub = parse_attr_path_text(tok.text, tok.offset)?;
            if sub.urn.is_none() && sub.sub.is_none() {
                return Ok(sub.attr);
            }
        }
        Err(FilterError::new(format!(
            "expected a sub-attribute name after \"{path}[...].\" at offset {}, found {}",
            tok.offset,
            tok.describe()
        )))
    }
}
