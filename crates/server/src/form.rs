//! `application/x-www-form-urlencoded` decoding (bodies and query strings),
//! shared by the faces. Unlike the lossy decoders, it refuses invalid UTF-8
//! instead of replacing it, so bad bytes never reach the directory.

/// The bytes after percent-decoding were not UTF-8.
#[derive(Debug)]
pub struct InvalidUtf8;

pub fn decode(raw: &[u8]) -> Result<Vec<(String, String)>, InvalidUtf8> {
    let mut out = Vec::new();
    for pair in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        out.push((component(name)?, component(value)?));
    }
    Ok(out)
}

fn component(raw: &[u8]) -> Result<String, InvalidUtf8> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    let bytes: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
    String::from_utf8(bytes).map_err(|_| InvalidUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_refuses_invalid_utf8() {
        assert_eq!(
            decode(b"name=a+b%21&x").unwrap(),
            vec![("name".into(), "a b!".into()), ("x".into(), "".into())]
        );
        assert!(decode(b"name=%ff").is_err());
    }
}
