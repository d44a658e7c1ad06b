//! The parser, inside an action: pipelines, commands and operands.

use super::ast::{Cmd, Operand, Pipe};
use super::fail::Fail;
use super::funcs::Func;
use super::lex::{char_desc, is_ident_start};
use super::parse::{Close, Parser};

impl<'s> Parser<'s> {
    /// Commands separated by `|`, up to `}}` or (inside parentheses) `)`.
    pub(super) fn pipe(&mut self, close: Close, keyword: Option<&str>) -> Result<Pipe<'s>, Fail> {
        self.skip_space();
        let pos = self.pos;
        let mut cmds: Vec<Cmd<'s>> = Vec::new();
        loop {
            let (cmd, closed) = self.command(close)?;
            let Some(cmd) = cmd else {
                let msg = match (cmds.is_empty(), keyword) {
                    (true, Some(kw)) => format!("missing value for {kw}"),
                    (true, None) if close == Close::Paren => "missing value in parentheses".into(),
                    (true, None) => "missing value for command".into(),
                    (false, _) => "missing command after |".into(),
                };
                return Err(Fail::new(pos, msg));
            };
            if !cmds.is_empty() {
                if let Some(first) = cmd.args.first().filter(|a| a.is_literal()) {
                    return Err(Fail::new(
                        cmd.pos,
                        format!(
                            "{} cannot take the piped value (pipeline stage {})",
                            first.describe(),
                            cmds.len() + 1
                        ),
                    ));
                }
            }
            cmds.push(cmd);
            if closed {
                return Ok(Pipe { pos, cmds });
            }
        }
    }

    /// One command; `true` when the pipeline closed after it.
    fn command(&mut self, close: Close) -> Result<(Option<Cmd<'s>>, bool), Fail> {
        self.skip_space();
        let pos = self.pos;
        let mut args = Vec::new();
        loop {
            self.skip_space();
            if let Some((len, trim)) = self.at_right_delim() {
                if close == Close::Paren {
                    return Err(Fail::new(self.pos, "unclosed left parenthesis"));
                }
                self.pos += len;
                self.trim_next = trim;
                return Ok((cmd(pos, args), true));
            }
            match self.peek() {
                None => return Err(Fail::new(self.action, "unclosed action")),
                Some(b')') if close == Close::Paren => {
                    self.pos += 1;
                    return Ok((cmd(pos, args), true));
                }
                Some(b')') => return Err(Fail::new(self.pos, "unexpected right parenthesis")),
                Some(b'|') => {
                    self.pos += 1;
                    return Ok((cmd(pos, args), false));
                }
                Some(_) => {}
            }
            let operand = self.operand()?;
            self.after_operand(&operand)?;
            args.push(operand);
        }
    }

    /// Operands are separated by space; only `|`, `)` or `}}` may follow directly.
    fn after_operand(&self, operand: &Operand<'s>) -> Result<(), Fail> {
        let rest = self.rest();
        match rest.chars().next() {
            None | Some(' ' | '\t' | '\r' | '\n' | '|' | ')') => Ok(()),
            Some(_) if rest.starts_with("}}") => Ok(()),
            Some('-') if rest.starts_with("-}}") => Err(Fail::new(
                self.pos,
                "a trim marker needs a space before it: write \" -}}\"",
            )),
            Some('-') if matches!(operand, Operand::Field { .. }) => Err(Fail::new(
                self.pos,
                "bad character '-' after a field name; for keys that are not Go identifiers write index .Args \"KEY-WITH-DASH\"",
            )),
            Some(c) => Err(Fail::new(
                self.pos,
                format!("unexpected {} after an operand", char_desc(c)),
            )),
        }
    }

    fn operand(&mut self) -> Result<Operand<'s>, Fail> {
        let pos = self.pos;
        let Some(c) = self.peek_char() else {
            return Err(Fail::new(self.action, "unclosed action"));
        };
        match c {
            '"' => self.quoted(),
            '`' => self.raw(),
            '(' => self.parenthesized(),
            '.' => self.dot(),
            '$' => self.dollar(),
            '+' | '-' | '0'..='9' => self.number(),
            '\'' => Err(Fail::new(pos, "character constants are not supported")),
            c if is_ident_start(c) => self.identifier(),
            c => Err(Fail::new(
                pos,
                format!("unexpected {} in action", char_desc(c)),
            )),
        }
    }

    /// `(pipeline)`, with no field access after it.
    fn parenthesized(&mut self) -> Result<Operand<'s>, Fail> {
        self.enter(self.pos)?;
        self.pos += 1;
        let pipe = self.pipe(Close::Paren, None)?;
        self.leave();
        if self.peek() == Some(b'.') {
            return Err(Fail::new(
                self.pos,
                "field access on a parenthesized pipeline is not supported",
            ));
        }
        Ok(Operand::Pipe(Box::new(pipe)))
    }

    /// `.` alone or `.A.B…`.
    fn dot(&mut self) -> Result<Operand<'s>, Fail> {
        let pos = self.pos;
        match self.rest().chars().nth(1) {
            Some(n) if n.is_ascii_digit() => Err(Fail::new(
                pos,
                "unsupported number literal: only decimal integers are supported",
            )),
            Some(n) if is_ident_start(n) => Ok(Operand::Field {
                pos,
                root: false,
                chain: self.chain(),
            }),
            _ => {
                self.pos += 1;
                Ok(Operand::Field {
                    pos,
                    root: false,
                    chain: "",
                })
            }
        }
    }

    /// `$` alone or `$.A.B…`; no other variables.
    fn dollar(&mut self) -> Result<Operand<'s>, Fail> {
        let pos = self.pos;
        self.pos += 1;
        let name = self.word();
        if !name.is_empty() || self.peek().is_some_and(|b| b.is_ascii_digit()) {
            return Err(Fail::new(
                pos,
                "variables are not supported (only $, the root data)",
            ));
        }
        let chain = match self.rest().chars().nth(1) {
            Some(n) if self.peek() == Some(b'.') && is_ident_start(n) => self.chain(),
            _ => "",
        };
        Ok(Operand::Field {
            pos,
            root: true,
            chain,
        })
    }

    /// `.A.B…` starting at a `.`; returns `A.B…`.
    fn chain(&mut self) -> &'s str {
        let start = self.pos + 1;
        while self.peek() == Some(b'.') {
            let next = self.rest().chars().nth(1);
            if !next.is_some_and(is_ident_start) {
                break;
            }
            self.pos += 1;
            self.pos += self.word().len();
        }
        self.src.get(start..self.pos).unwrap_or("")
    }

    /// `true`, `false` or a function name.
    fn identifier(&mut self) -> Result<Operand<'s>, Fail> {
        let pos = self.pos;
        let word = self.word();
        self.pos += word.len();
        match word {
            "true" => Ok(Operand::Bool(true)),
            "false" => Ok(Operand::Bool(false)),
            "nil" => Err(Fail::new(pos, "nil is not supported")),
            "if" | "else" | "end" | "with" | "range" | "template" | "define" | "block"
            | "break" | "continue" => Err(Fail::new(
                pos,
                format!("unexpected keyword {word} in an operand"),
            )),
            "print" | "println" | "html" | "js" | "urlquery" | "slice" | "call" => Err(Fail::new(
                pos,
                format!("function {word:?} is not supported in meta-cni templates"),
            )),
            _ => match Func::lookup(word) {
                Some(f) => Ok(Operand::Func(f)),
                None => Err(Fail::new(pos, format!("function {word:?} not defined"))),
            },
        }
    }
}

fn cmd(pos: usize, args: Vec<Operand<'_>>) -> Option<Cmd<'_>> {
    (!args.is_empty()).then_some(Cmd { pos, args })
}
