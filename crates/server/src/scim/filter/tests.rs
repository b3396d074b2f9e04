use super::*;

fn path(attr: &str) -> AttrPath {
    AttrPath {
        urn: None,
        attr: attr.to_string(),
        sub: None,
    }
}

fn s(v: &str) -> Literal {
    Literal::Str(v.to_string())
}

fn int(v: i64) -> Literal {
    Literal::Num(v.into())
}

fn cmp(attr: &str, op: CompareOp, value: Literal) -> Expr {
    Expr::Compare(path(attr), op, value)
}

fn and(a: Expr, b: Expr) -> Expr {
    Expr::And(Box::new(a), Box::new(b))
}

fn or(a: Expr, b: Expr) -> Expr {
    Expr::Or(Box::new(a), Box::new(b))
}

fn not(a: Expr) -> Expr {
    Expr::Not(Box::new(a))
}

fn ok(text: &str) -> Expr {
    match parse_filter(text) {
        Ok(e) => e,
        Err(e) => panic!("{text:?} should parse: {e}"),
    }
}

fn err(text: &str) -> String {
    match parse_filter(text) {
        Ok(e) => panic!("{text:?} should fail, got {e:?}"),
        Err(e) => e.message,
    }
}

#[test]
fn every_operator() {
    use CompareOp::*;
    for (word, op) in [
        ("eq", Eq),
        ("ne", Ne),
        ("co", Co),
        ("sw", Sw),
        ("ew", Ew),
        ("gt", Gt),
        ("ge", Ge),
        ("lt", Lt),
        ("le", Le),
    ] {
        assert_eq!(ok(&format!("title {word} \"x\"")), cmp("title", op, s("x")));
        assert_eq!(op.as_str(), word);
    }
    assert_eq!(ok("title pr"), Expr::Present(path("title")));
}

#[test]
fn keywords_are_case_insensitive_names_keep_spelling() {
    assert_eq!(
        ok("userName Eq \"x\""),
        cmp("userName", CompareOp::Eq, s("x"))
    );
    assert_eq!(
        ok("a EQ 1 AND b eq 2 Or c PR"),
        or(
            and(
                cmp("a", CompareOp::Eq, int(1)),
                cmp("b", CompareOp::Eq, int(2))
            ),
            Expr::Present(path("c"))
        )
    );
    assert_eq!(ok("Not (a pr)"), not(Expr::Present(path("a"))));
    assert_eq!(
        ok("a eq TRUE"),
        cmp("a", CompareOp::Eq, Literal::Bool(true))
    );
    assert_eq!(ok("a eq Null"), cmp("a", CompareOp::Eq, Literal::Null));
    let Expr::Present(p) = ok("UserName pr") else {
        panic!()
    };
    assert_eq!(p.attr, "UserName");
    assert_eq!(p.attr_lower(), "username");
}

#[test]
fn precedence_and_parentheses() {
    let (a, b, c) = (
        cmp("a", CompareOp::Eq, int(1)),
        cmp("b", CompareOp::Eq, int(2)),
        cmp("c", CompareOp::Eq, int(3)),
    );
    assert_eq!(
        ok("a eq 1 or b eq 2 and c eq 3"),
        or(a.clone(), and(b.clone(), c.clone()))
    );
    assert_eq!(
        ok("a eq 1 and b eq 2 or c eq 3"),
        or(and(a.clone(), b.clone()), c.clone())
    );
    assert_eq!(
        ok("(a eq 1 or b eq 2) and c eq 3"),
        and(or(a.clone(), b.clone()), c.clone())
    );
    // Left-associative chains.
    assert_eq!(
        ok("a eq 1 or b eq 2 or c eq 3"),
        or(or(a.clone(), b.clone()), c.clone())
    );
    // `not` binds tighter than `and`.
    assert_eq!(ok("not(a eq 1) and b eq 2"), and(not(a.clone()), b.clone()));
    assert_eq!(ok("not (not (a eq 1))"), not(not(a.clone())));
    assert_eq!(ok("((a eq 1))"), a);
}

#[test]
fn value_paths() {
    assert_eq!(
        ok("members[value eq \"x\"]"),
        Expr::ValuePath {
            attr: path("members"),
            filter: Box::new(cmp("value", CompareOp::Eq, s("x"))),
            then: None,
        }
    );
    assert_eq!(
        ok("emails[type eq \"work\" and primary eq true]"),
        Expr::ValuePath {
            attr: path("emails"),
            filter: Box::new(and(
                cmp("type", CompareOp::Eq, s("work")),
                cmp("primary", CompareOp::Eq, Literal::Bool(true))
            )),
            then: None,
        }
    );
    // Entra's form: a trailing comparison on the matched element.
    assert_eq!(
        ok("emails[type eq \"work\"].value eq \"x@example.com\""),
        Expr::ValuePath {
            attr: path("emails"),
            filter: Box::new(cmp("type", CompareOp::Eq, s("work"))),
            then: Some(SubTest {
                sub: "value".into(),
                test: Test::Compare(CompareOp::Eq, s("x@example.com")),
            }),
        }
    );
    let Expr::ValuePath { then: Some(t), .. } = ok("emails[type eq \"work\"].Value pr") else {
        panic!()
    };
    assert_eq!(t.test, Test::Present);
    assert_eq!(t.sub, "Value");
    // A value path combines like any other term, and `not(` works inside.
    assert_eq!(
        ok("userType eq \"Employee\" and emails[not(type eq \"work\") or value co \"@x\"]"),
        and(
            cmp("userType", CompareOp::Eq, s("Employee")),
            Expr::ValuePath {
                attr: path("emails"),
                filter: Box::new(or(
                    not(cmp("type", CompareOp::Eq, s("work"))),
                    cmp("value", CompareOp::Co, s("@x"))
                )),
                then: None,
            }
        )
    );
}

#[test]
fn entra_group_member_lookup() {
    assert_eq!(
        ok("id eq \"g\" and members eq \"u\""),
        and(
            cmp("id", CompareOp::Eq, s("g")),
            cmp("members", CompareOp::Eq, s("u"))
        )
    );
}

#[test]
fn urn_qualified_names() {
    let Expr::Compare(p, _, _) = ok("urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"x\"")
    else {
        panic!()
    };
    assert_eq!(
        p.urn.as_deref(),
        Some("urn:ietf:params:scim:schemas:core:2.0:User")
    );
    assert_eq!(p.attr, "userName");
    assert_eq!(p.sub, None);
    let Expr::Present(p) =
        ok("URN:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr")
    else {
        panic!()
    };
    assert_eq!(
        p.urn.as_deref(),
        Some("URN:ietf:params:scim:schemas:extension:enterprise:2.0:User")
    );
    assert_eq!(
        (p.attr.as_str(), p.sub.as_deref()),
        ("manager", Some("value"))
    );
    assert_eq!(
        p.to_string(),
        "URN:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
    );
    let Expr::Present(p) = ok("name.givenName pr") else {
        panic!()
    };
    assert_eq!(p.sub_lower().as_deref(), Some("givenname"));
}

/// Found by fuzzing (scim_filter): a long decimal read one unit in the last
/// place off, so the same number spelt shortest parsed to another value.
#[test]
fn decimals_are_correctly_rounded() {
    let long = format!("1{}", "1".repeat(47));
    let Expr::Compare(_, _, Literal::Num(n)) = ok(&format!("u ew {long}")) else {
        panic!()
    };
    let exact: f64 = long.parse().unwrap();
    assert_eq!(n.as_f64(), Some(exact));
    let Expr::Compare(_, _, Literal::Num(again)) = ok(&format!("u ew {n}")) else {
        panic!()
    };
    assert_eq!(again, n);
}

#[test]
fn values() {
    assert_eq!(
        ok(r#"a eq "q\"uo\\te""#),
        cmp("a", CompareOp::Eq, s("q\"uo\\te"))
    );
    assert_eq!(
        ok(r#"a eq "caf\u00e9""#),
        cmp("a", CompareOp::Eq, s("café"))
    );
    assert_eq!(ok(r#"a eq "café""#), cmp("a", CompareOp::Eq, s("café")));
    assert_eq!(ok(r#"a eq """#), cmp("a", CompareOp::Eq, s("")));
    assert_eq!(ok("a eq -12"), cmp("a", CompareOp::Eq, int(-12)));
    let Expr::Compare(_, _, Literal::Num(n)) = ok("a gt 1.5e2") else {
        panic!()
    };
    assert_eq!(n.as_f64(), Some(150.0));
    assert!(!n.is_i64());
    assert_eq!(
        ok("a eq false"),
        cmp("a", CompareOp::Eq, Literal::Bool(false))
    );
    assert_eq!(ok("a eq null"), cmp("a", CompareOp::Eq, Literal::Null));
    assert_eq!(
        ok("meta.lastModified gt \"2011-05-13T04:42:34Z\""),
        Expr::Compare(
            AttrPath {
                urn: None,
                attr: "meta".into(),
                sub: Some("lastModified".into()),
            },
            CompareOp::Gt,
            s("2011-05-13T04:42:34Z")
        )
    );
}

#[test]
fn whitespace_is_lenient() {
    assert_eq!(
        ok("  ( a  eq\t1 )or  emails [ type eq \"w\" ]  "),
        or(
            cmp("a", CompareOp::Eq, int(1)),
            Expr::ValuePath {
                attr: path("emails"),
                filter: Box::new(cmp("type", CompareOp::Eq, s("w"))),
                then: None,
            }
        )
    );
    assert_eq!(ok("not(a pr)"), ok("not ( a pr )"));
}

#[test]
fn errors() {
    assert_eq!(err(""), "empty filter");
    assert_eq!(err("   "), "empty filter");
    assert_eq!(
        err("userName like \"x\""),
        "expected a comparison operator after \"userName\" at offset 9, found \"like\""
    );
    assert!(
        err("userName eq").contains("expected a value"),
        "{}",
        err("userName eq")
    );
    assert!(err("userName").contains("expected a comparison operator"));
    assert!(err("userName eq \"abc").contains("unterminated string"));
    assert!(err("userName eq \"a\\qb\"").contains("invalid string"));
    assert!(err("(a pr").contains("to close \"(\" at offset 0"));
    assert!(err("a pr)").contains("unbalanced \")\""));
    assert!(err("emails[type pr").contains("to close \"[\""));
    assert!(err("emails type pr]").contains("expected a comparison operator"));
    assert!(err("a pr]").contains("unbalanced \"]\""));
    assert!(err("externalId eq jyoung").contains("unquoted value \"jyoung\""));
    assert!(err("a pr b pr").contains("found \"b\""));
    assert!(err("a eq 1 garbage").contains("found \"garbage\""));
    assert!(err("a eq 1 and").contains("found end of input"));
    assert!(err("emails[x[y pr]]").contains("nested brackets"));
    assert!(err("emails[name.givenName pr]").contains("sub-attributes"));
    assert!(err("name.givenName[x pr]").contains("not to a sub-attribute"));
    assert!(err("not a pr").contains("expected \"(\" after \"not\""));
    assert!(err("a eq 01").contains("invalid number"));
    assert!(err("a eq 1.").contains("invalid number"));
    assert!(err("a.b.c pr").contains("more than one '.'"));
    assert!(err("foo:bar pr").contains("unexpected ':'"));
    assert!(err("urn:foo pr").contains("not a URN-qualified"));
    assert!(err("urn:x:y: pr").contains("missing attribute name"));
    assert!(err("a eq 1 & b eq 2").contains("unexpected character '&'"));
    assert!(err("emails[]").contains("found \"]\""));
    assert!(err("emails[type eq \"w\"].").contains("expected a sub-attribute name"));
    assert!(err("emails[type eq \"w\"].value").contains("expected a comparison operator"));
    // Error text is the Display form.
    let e = parse_filter("").unwrap_err();
    assert_eq!(e.to_string(), "empty filter");
}

#[test]
fn limits() {
    let long = format!("a eq \"{}\"", "x".repeat(MAX_TEXT_LEN));
    assert!(err(&long).contains("too long"));

    let nest = |n: usize| format!("{}a pr{}", "(".repeat(n), ")".repeat(n));
    ok(&nest(MAX_DEPTH));
    assert!(err(&nest(MAX_DEPTH + 1)).contains("nested too deeply"));
    // Under the length limit but far past the depth limit: refused before
    // recursing, and quickly.
    assert!(err(&nest(2000)).contains("nested too deeply"));
    assert!(err(&"not(".repeat(1000)).contains("nested too deeply"));
    let started = std::time::Instant::now();
    assert!(err(&nest(10_000)).contains("too long"));
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    // Brackets count towards depth.
    ok(&format!(
        "{}e[v pr]{}",
        "(".repeat(MAX_DEPTH - 1),
        ")".repeat(MAX_DEPTH - 1)
    ));
    assert!(err(&format!(
        "{}e[v pr]{}",
        "(".repeat(MAX_DEPTH),
        ")".repeat(MAX_DEPTH)
    ))
    .contains("nested too deeply"));

    let terms = |n: usize| vec!["a eq 1"; n].join(" or ");
    ok(&terms(MAX_TERMS));
    assert!(err(&terms(MAX_TERMS + 1)).contains("too many comparisons"));
}

#[test]
fn patch_paths() {
    let p = |t: &str| match parse_path(t) {
        Ok(p) => p,
        Err(e) => panic!("{t:?}: {e}"),
    };
    assert_eq!(
        p("members"),
        PatchPath {
            attr: path("members"),
            filter: None,
            sub: None,
        }
    );
    assert_eq!(p("active").attr, path("active"));
    assert_eq!(
        p("members[value eq \"2c91\"]"),
        PatchPath {
            attr: path("members"),
            filter: Some(cmp("value", CompareOp::Eq, s("2c91"))),
            sub: None,
        }
    );
    assert_eq!(
        p("emails[type eq \"work\"].value"),
        PatchPath {
            attr: path("emails"),
            filter: Some(cmp("type", CompareOp::Eq, s("work"))),
            sub: Some("value".into()),
        }
    );
    let given = p("name.givenName");
    assert_eq!(
        (given.attr.attr.as_str(), given.attr.sub.as_deref()),
        ("name", Some("givenName"))
    );
    let emp = p("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber");
    assert_eq!(
        emp.attr.urn.as_deref(),
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
    );
    assert_eq!(emp.attr.attr, "employeeNumber");
    let fam = p("urn:ietf:params:scim:schemas:core:2.0:User:name.familyName");
    assert_eq!(
        (
            fam.attr.urn.as_deref(),
            fam.attr.attr.as_str(),
            fam.attr.sub.as_deref()
        ),
        (
            Some("urn:ietf:params:scim:schemas:core:2.0:User"),
            "name",
            Some("familyName")
        )
    );

    let e = |t: &str| parse_path(t).unwrap_err().message;
    assert_eq!(e(""), "empty path");
    assert!(e("members eq \"x\"").contains("expected end of path"));
    assert!(e("members[value eq \"x\"").contains("to close \"[\""));
    assert!(e("[value eq \"x\"]").contains("expected an attribute path"));
    assert!(e("emails[type eq \"w\"].value.x").contains("expected a sub-attribute name"));
}

#[test]
fn attribute_lists() {
    let list = parse_attribute_list(
        " userName, name.givenName ,,urn:ietf:params:scim:schemas:core:2.0:User:emails,",
    )
    .unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0], path("userName"));
    assert_eq!(list[1].sub.as_deref(), Some("givenName"));
    assert_eq!(
        list[2].urn.as_deref(),
        Some("urn:ietf:params:scim:schemas:core:2.0:User")
    );
    assert_eq!(list[2].attr, "emails");
    assert_eq!(parse_attribute_list("").unwrap(), vec![]);
    let e = parse_attribute_list("userName, emails[type eq \"w\"]").unwrap_err();
    assert!(
        e.message.contains("unexpected character '[' ") && e.message.contains("offset 16"),
        "{e}"
    );
    assert!(parse_attribute_list("a.b.c").is_err());
    assert!(parse_attribute_list("é").is_err());
}

/// Deterministic fuzzing: a few thousand strings built from filter-ish
/// fragments and random bytes must give `Ok` or `Err`, never panic.
#[test]
fn random_garbage_never_panics() {
    const PIECES: &[&str] = &[
        "(", ")", "[", "]", "\"", "\\", ".", ":", " ", "\t", "eq", "pr", "and", "or", "not",
        "not(", "true", "null", "a", "emails", "value", "1", "-", "e", "1.5", "urn:", "x:y",
        "\"x\"", "\\u00", "é", "\u{0}", "\"\\\"", "$ref", ",", "]].", "0x",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..5000 {
        let len = (next() % 24) as usize;
        let mut text = String::new();
        for _ in 0..len {
            let r = next();
            if r % 8 == 0 {
                // Any char, including non-ASCII and control characters.
                text.push(char::from_u32((r >> 8) as u32 % 0x3000).unwrap_or('?'));
            } else {
                text.push_str(PIECES[(r >> 8) as usize % PIECES.len()]);
            }
        }
        let _ = parse_filter(&text);
        let _ = parse_path(&text);
        let _ = parse_attribute_list(&text);
    }
}
