//! The parser: text, comments, actions and `if`/`with` blocks. What is
//! inside an action is in `pipeline.rs`, the tokens in `lex.rs`.

use super::ast::{Cond, Node, Pipe};
use super::fail::Fail;
use super::lex::{is_space, trim_space_end, trim_space_start};
use super::MAX_NESTING;

const END: &str = "{{end}}";
const ELSE: &str = "{{else}}";

/// Parse one template string.
pub(super) fn parse(src: &str) -> Result<Vec<Node<'_>>, Fail> {
    Parser::new(src).parse()
}

/// What ended an item list.
enum Term<'s> {
    Eof,
    End,
    Else(usize),
    ElseCond {
        pos: usize,
        with: bool,
        pipe: Pipe<'s>,
    },
}

enum Action<'s> {
    Print(Pipe<'s>),
    Open { with: bool, pipe: Pipe<'s> },
    End,
    Else,
    ElseCond { with: bool, pipe: Pipe<'s> },
}

/// What closes a pipeline: the action's `}}` or a `)`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Close {
    Delim,
    Paren,
}

pub(super) struct Parser<'s> {
    pub(super) src: &'s str,
    /// Byte offset of the next character to read.
    pub(super) pos: usize,
    /// Start of the action being parsed (for "unclosed action").
    pub(super) action: usize,
    depth: usize,
    /// The previous action ended with ` -}}`: trim the next text's start.
    pub(super) trim_next: bool,
}

impl<'s> Parser<'s> {
    fn new(src: &'s str) -> Self {
        Parser {
            src,
            pos: 0,
            action: 0,
            depth: 0,
            trim_next: false,
        }
    }

    fn parse(mut self) -> Result<Vec<Node<'s>>, Fail> {
        let (nodes, term) = self.list()?;
        match term {
            Term::Eof => Ok(nodes),
            Term::End => Err(Fail::new(self.action, format!("unexpected {END}"))),
            Term::Else(pos) | Term::ElseCond { pos, .. } => {
                Err(Fail::new(pos, format!("unexpected {ELSE}")))
            }
        }
    }

    /// One level deeper of `if`/`with`/parentheses, at most [`MAX_NESTING`].
    pub(super) fn enter(&mut self, pos: usize) -> Result<(), Fail> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(Fail::new(
                pos,
                format!("nested deeper than {MAX_NESTING} levels of if/with/parentheses"),
            ));
        }
        Ok(())
    }

    pub(super) fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Text and actions up to `{{end}}`, `{{else…}}` or the end of input.
    fn list(&mut self) -> Result<(Vec<Node<'s>>, Term<'s>), Fail> {
        let mut nodes = Vec::new();
        loop {
            let Some(i) = self.rest().find("{{") else {
                let text = self.final_text();
                if !text.is_empty() {
                    nodes.push(Node::Text(text));
                }
                return Ok((nodes, Term::Eof));
            };
            let start = self.pos + i;
            let text = self.text_before_action(i);
            if !text.is_empty() {
                nodes.push(Node::Text(text));
            }
            if self.rest().starts_with("/*") {
                self.comment()?;
                continue;
            }
            match self.action()? {
                Action::Print(pipe) => nodes.push(Node::Print(pipe)),
                Action::Open { with, pipe } => {
                    let cond = self.cond(start, with, pipe)?;
                    nodes.push(Node::Cond(cond));
                }
                Action::End => return Ok((nodes, Term::End)),
                Action::Else => return Ok((nodes, Term::Else(start))),
                Action::ElseCond { with, pipe } => {
                    let pos = start;
                    return Ok((nodes, Term::ElseCond { pos, with, pipe }));
                }
            }
        }
    }

    /// The text after the last action, up to the end of input.
    fn final_text(&mut self) -> &'s str {
        let rest = self.rest();
        let text = if self.trim_next {
            trim_space_start(rest)
        } else {
            rest
        };
        self.trim_next = false;
        self.pos = self.src.len();
        text
    }

    /// The text before the `{{` at `rest()[i..]`, trimmed as the markers
    /// around it say; moves past the `{{` and a left trim marker.
    fn text_before_action(&mut self, i: usize) -> &'s str {
        let mut text = self.rest().get(..i).unwrap_or("");
        if self.trim_next {
            text = trim_space_start(text);
            self.trim_next = false;
        }
        let start = self.pos + i;
        self.action = start;
        self.pos = start + 2;
        // Go's left trim marker: "{{-" followed by one space character.
        let bytes = self.rest().as_bytes();
        if bytes.first() == Some(&b'-') && bytes.get(1).is_some_and(|b| is_space(*b)) {
            text = trim_space_end(text);
            self.pos += 2;
        }
        text
    }

    fn comment(&mut self) -> Result<(), Fail> {
        let body = self.pos + 2;
        let Some(end) = self.src.get(body..).and_then(|s| s.find("*/")) else {
            return Err(Fail::new(self.action, "unclosed comment"));
        };
        self.pos = body + end + 2;
        match self.at_right_delim_after_comment() {
            Some((len, trim)) => {
                self.pos += len;
                self.trim_next = trim;
                Ok(())
            }
            None => Err(Fail::new(self.pos, "comment ends before closing delimiter")),
        }
    }

    fn action(&mut self) -> Result<Action<'s>, Fail> {
        self.skip_space();
        let word = self.word();
        match word {
            "if" | "with" => {
                self.pos += word.len();
                let pipe = self.pipe(Close::Delim, Some(word))?;
                Ok(Action::Open {
                    with: word == "with",
                    pipe,
                })
            }
            "else" => {
                self.pos += word.len();
                self.else_action()
            }
            "end" => {
                self.pos += word.len();
                self.close_bare("end")?;
                Ok(Action::End)
            }
            "range" | "template" | "define" | "block" | "break" | "continue" => Err(Fail::new(
                self.pos,
                format!("{{{{{word}}}}} is not supported in meta-cni templates"),
            )),
            _ => Ok(Action::Print(self.pipe(Close::Delim, None)?)),
        }
    }

    /// After `else`: `{{else}}`, `{{else if …}}` or `{{else with …}}`.
    fn else_action(&mut self) -> Result<Action<'s>, Fail> {
        self.skip_space();
        let next = self.word();
        if next == "if" || next == "with" {
            self.pos += next.len();
            let pipe = self.pipe(Close::Delim, Some(next))?;
            Ok(Action::ElseCond {
                with: next == "with",
                pipe,
            })
        } else {
            self.close_bare("else")?;
            Ok(Action::Else)
        }
    }

    /// `{{else}}`/`{{end}}` must close right after the keyword.
    fn close_bare(&mut self, keyword: &str) -> Result<(), Fail> {
        self.skip_space();
        match self.at_right_delim() {
            Some((len, trim)) => {
                self.pos += len;
                self.trim_next = trim;
                Ok(())
            }
            None if self.peek().is_none() => Err(Fail::new(self.action, "unclosed action")),
            None => Err(Fail::new(
                self.pos,
                format!("unexpected operand after {keyword}"),
            )),
        }
    }

    /// The rest of an `if`/`with` block opened at `start`, up to its `{{end}}`.
    fn cond(&mut self, start: usize, with: bool, pipe: Pipe<'s>) -> Result<Cond<'s>, Fail> {
        self.enter(start)?;
        let kw = if with { "with" } else { "if" };
        let mut branches = Vec::new();
        let mut pipe = pipe;
        let els = loop {
            let (body, term) = self.list()?;
            branches.push((pipe, body));
            match term {
                Term::Eof => return Err(missing_end(start, kw)),
                Term::End => break Vec::new(),
                Term::Else(_) => break self.else_body(start, kw)?,
                Term::ElseCond {
                    pos,
                    with: w,
                    pipe: p,
                } => {
                    if w != with {
                        let other = if w { "with" } else { "if" };
                        return Err(Fail::new(
                            pos,
                            format!("{{{{else {other}}}}} cannot continue a {{{{{kw}}}}}"),
                        ));
                    }
                    pipe = p;
                }
            }
        };
        self.leave();
        Ok(Cond {
            with,
            branches,
            els,
        })
    }

    /// The body after the final `{{else}}` of the block `kw` opened at `start`.
    fn else_body(&mut self, start: usize, kw: &str) -> Result<Vec<Node<'s>>, Fail> {
        let (els, term) = self.list()?;
        match term {
            Term::End => Ok(els),
            Term::Eof => Err(missing_end(start, kw)),
            Term::Else(pos) | Term::ElseCond { pos, .. } => Err(Fail::new(
                pos,
                format!("expected {END} after {ELSE}, found another else"),
            )),
        }
    }
}

fn missing_end(start: usize, kw: &str) -> Fail {
    Fail::new(start, format!("missing {END} for this {{{{{kw}}}}}"))
}
