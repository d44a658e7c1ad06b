//! Lexing, done on the fly by the [`Parser`]: character classes, delimiters,
//! identifiers and literals.

use std::borrow::Cow;

use super::ast::Operand;
use super::fail::Fail;
use super::parse::Parser;

pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

pub(super) fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

pub(super) fn trim_space_start(s: &str) -> &str {
    s.trim_start_matches([' ', '\t', '\r', '\n'])
}

pub(super) fn trim_space_end(s: &str) -> &str {
    s.trim_end_matches([' ', '\t', '\r', '\n'])
}

/// A character as errors name it: `character U+002F '/'`.
pub(super) fn char_desc(c: char) -> String {
    format!("character U+{:04X} {c:?}", u32::from(c))
}

impl<'s> Parser<'s> {
    pub(super) fn rest(&self) -> &'s str {
        self.src.get(self.pos..).unwrap_or("")
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    pub(super) fn peek_char(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(super) fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
    }

    /// At `}}`, or at `-}}` right after a space (Go's ` -}}`): (length, trim).
    pub(super) fn at_right_delim(&self) -> Option<(usize, bool)> {
        let rest = self.rest();
        if rest.starts_with("}}") {
            return Some((2, false));
        }
        let after_space = self
            .pos
            .checked_sub(1)
            .and_then(|i| self.src.as_bytes().get(i))
            .is_some_and(|b| is_space(*b));
        if after_space && rest.starts_with("-}}") {
            return Some((3, true));
        }
        None
    }

    /// After `*/` only `}}` or ` -}}` (one space character, then `-}}`) may follow.
    pub(super) fn at_right_delim_after_comment(&self) -> Option<(usize, bool)> {
        let bytes = self.rest().as_bytes();
        if bytes.starts_with(b"}}") {
            return Some((2, false));
        }
        if bytes.first().is_some_and(|b| is_space(*b)) && bytes.get(1..4) == Some(b"-}}") {
            return Some((4, true));
        }
        None
    }

    /// The identifier at the current position (empty if none).
    pub(super) fn word(&self) -> &'s str {
        let rest = self.rest();
        match rest.chars().next() {
            Some(c) if is_ident_start(c) => {
                let end = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
                rest.get(..end).unwrap_or("")
            }
            _ => "",
        }
    }

    /// A number literal: only decimal integers that fit an `i64`.
    pub(super) fn number(&mut self) -> Result<Operand<'s>, Fail> {
        let pos = self.pos;
        let bytes = self.src.as_bytes();
        let mut end = pos;
        if matches!(bytes.get(end), Some(b'+' | b'-')) {
            end += 1;
        }
        let digits = end;
        while bytes
            .get(end)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
        {
            end += 1;
        }
        self.pos = end;
        let text = self.src.get(pos..end).unwrap_or("");
        let body = self.src.get(digits..end).unwrap_or("");
        let decimal = !body.is_empty()
            && body.bytes().all(|b| b.is_ascii_digit())
            && (body == "0" || !body.starts_with('0'));
        match text.parse::<i64>() {
            Ok(n) if decimal => Ok(Operand::Int(n)),
            _ => Err(Fail::new(
                pos,
                "bad or unsupported number literal: only decimal integers are supported",
            )),
        }
    }

    /// A `"…"` literal, with Go's escapes.
    pub(super) fn quoted(&mut self) -> Result<Operand<'s>, Fail> {
        let start = self.pos;
        let bytes = self.src.as_bytes();
        let mut i = start + 1;
        loop {
            match bytes.get(i) {
                None | Some(b'\n') => return Err(Fail::new(start, "unterminated quoted string")),
                Some(b'\\') => match bytes.get(i + 1) {
                    None | Some(b'\n') => {
                        return Err(Fail::new(start, "unterminated quoted string"))
                    }
                    Some(_) => i += 2,
                },
                Some(b'"') => break,
                Some(_) => i += 1,
            }
        }
        let body = self.src.get(start + 1..i).unwrap_or("");
        self.pos = i + 1;
        unquote(body)
            .map(Operand::Str)
            .map_err(|msg| Fail::new(start, msg))
    }

    /// A `` `…` `` raw literal.
    pub(super) fn raw(&mut self) -> Result<Operand<'s>, Fail> {
        let start = self.pos;
        let Some(len) = self.src.get(start + 1..).and_then(|s| s.find('`')) else {
            return Err(Fail::new(start, "unterminated raw quoted string"));
        };
        let body = self.src.get(start + 1..start + 1 + len).unwrap_or("");
        self.pos = start + len + 2;
        // Go's strconv.Unquote drops carriage returns from raw strings.
        Ok(Operand::Str(if body.contains('\r') {
            Cow::Owned(body.replace('\r', ""))
        } else {
            Cow::Borrowed(body)
        }))
    }
}

const INVALID_ESCAPE: &str = "invalid escape in string literal";

/// Go's `strconv.Unquote` for the inside of a `"…"` literal (which has no
/// raw newline and no unescaped `"`). Byte escapes above 0x7F would make
/// invalid UTF-8 in Go; they are rejected.
fn unquote(body: &str) -> Result<Cow<'_, str>, &'static str> {
    if !body.contains('\\') {
        return Ok(Cow::Borrowed(body));
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(escape(&mut chars)?);
        } else {
            out.push(c);
        }
    }
    Ok(Cow::Owned(out))
}

/// The character of the escape after a `\`, taken from `chars`.
fn escape(chars: &mut std::str::Chars) -> Result<char, &'static str> {
    let esc = chars.next().ok_or(INVALID_ESCAPE)?;
    if let Some(c) = simple_escape(esc) {
        return Ok(c);
    }
    let (radix, len) = match esc {
        'x' => (16, 2),
        'u' => (16, 4),
        'U' => (16, 8),
        '0'..='7' => (8, 2),
        _ => return Err(INVALID_ESCAPE),
    };
    let mut value: u32 = if radix == 8 {
        u32::from(esc) - u32::from('0')
    } else {
        0
    };
    for _ in 0..len {
        let d = chars
            .next()
            .and_then(|d| d.to_digit(radix))
            .ok_or(INVALID_ESCAPE)?;
        value = value * radix + d;
    }
    if matches!(esc, 'x' | '0'..='7') && value > 0x7f {
        return Err("byte escapes above \\x7f are not supported: use \\u");
    }
    char::from_u32(value).ok_or("invalid code point in string literal")
}

/// The one-letter escapes (`\n`, `\"`, …).
fn simple_escape(esc: char) -> Option<char> {
    Some(match esc {
        'a' => '\x07',
        'b' => '\x08',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        '\\' => '\\',
        '"' => '"',
        _ => return None,
    })
}
